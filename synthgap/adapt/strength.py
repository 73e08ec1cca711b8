"""Choose how much of an adapter's learned change to apply (`strength: auto`).

An adapter whose fit went wrong (pairs that collapse onto a mean colour, too few photos) can move
renders *away* from the photos. With a strength `s` in [0, 1] the adapted image is
`input + s·(adapted − input)` (for the residual conv SMCAE: `s` times its correction), so
`s = 0` is the input unchanged. `choose_strength` tries each strength of a grid on held-out
renders and keeps the one whose output looks closest to held-out photos:

* the same random patches (`patch_size`, `per_image` each) are cut from the renders and photos
  once, and the renders' patches are adapted at every strength;
* closeness is the unbiased MMD² (`synthgap.gap.metric.mmd2_rbf`) between the *look* features
  of `synthgap.gap.metric.patch_features` (per-channel mean and spread, radial power spectrum,
  gradient energy: what an adapter that never moves geometry can change; HOG is left out since
  held-out renders and photos show different things), standardised and with a kernel
  bandwidth fixed from the unadapted renders and the photos, so every strength is scored
  with the same yardstick;
* ties (within `tie` of the spread of the scores) go to the weaker strength.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from synthgap.data.images import sample_patches
from synthgap.gap.metric import mmd2_rbf, patch_features

__all__ = ["STRENGTH_GRID", "choose_strength"]

#: Strengths `strength: auto` chooses among (0 = the input unchanged).
STRENGTH_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
_SPECTRUM_BINS = 8


def _look(patches: np.ndarray) -> np.ndarray:
    n_look = 6 + _SPECTRUM_BINS + 1
    return patch_features(patches, spectrum_bins=_SPECTRUM_BINS)[:, -n_look:].astype(np.float64)


def choose_strength(adapt: Callable[[np.ndarray, float], np.ndarray],
                    synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
                    rng: np.random.Generator, grid: Sequence[float] = STRENGTH_GRID,
                    patch_size: int = 32, per_image: int = 32,
                    tie: float = 0.02) -> tuple[float, dict[str, float]]:
    """The strength of `grid` whose adapted renders look closest to the photos.

    Args:
        adapt: `adapt(patch, strength)` -> the adapted `(S, S, 3) uint8` patch.
        synthetic: held-out renders, `(H, W, 3) uint8`, at least 2.
        real: held-out photos, `(H, W, 3) uint8`, at least 2.
        rng: source of the patch positions.
        grid: strengths to try, each in [0, 1].
        patch_size: side of the compared patches, pixels (divisible by 4).
        per_image: patches cut from each image.
        tie: scores within `tie·(max − min)` of the best count as equal.

    Returns:
        `(strength, scores)`: the chosen strength and the look-MMD² of every tried one
        (keys `f"{s:g}"`; lower is closer).

    Raises:
        ValueError: fewer than 2 images in a set, a strength outside [0, 1], or a score that
            is not finite (the adapter output NaNs).
    """
    if len(synthetic) < 2 or len(real) < 2:
        raise ValueError(f"choose_strength needs at least 2 renders and 2 photos, got "
                         f"{len(synthetic)} and {len(real)}")
    if not grid or any(not 0.0 <= s <= 1.0 for s in grid):
        raise ValueError(f"strength grid: expected values in [0, 1], got {list(grid)}")
    ps, _ = sample_patches(synthetic, patch_size=patch_size, per_image=per_image, rng=rng)
    pr, _ = sample_patches(real, patch_size=patch_size, per_image=per_image, rng=rng)
    fr, f0 = _look(pr), _look(ps)
    pooled = np.concatenate([f0, fr])
    mu, sd = pooled.mean(0), pooled.std(0)
    sd[sd == 0] = 1.0
    zr = (fr - mu) / sd
    z0 = (f0 - mu) / sd
    d = np.concatenate([z0, zr])
    sq = (d * d).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * d @ d.T, 0.0)
    sigma = float(np.sqrt(np.median(d2[np.triu_indices(len(d), 1)]))) or 1.0
    scores: dict[str, float] = {}
    for s in grid:
        fa = z0 if s == 0.0 else (_look(np.stack([adapt(p, float(s)) for p in ps])) - mu) / sd
        value, _, _ = mmd2_rbf(fa, zr, permutations=0, rng=rng, sigma=sigma)
        if not np.isfinite(value):
            raise ValueError(f"strength {s:g}: the adapted patches give a non-finite distance "
                             "(the adapter outputs NaN); refit it")
        scores[f"{float(s):g}"] = round(float(value), 6)
    lo, hi = min(scores.values()), max(scores.values())
    chosen = min(float(k) for k, v in scores.items() if v <= lo + tie * (hi - lo))
    return chosen, scores
