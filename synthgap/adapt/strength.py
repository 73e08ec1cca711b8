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
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgap.data.images import sample_patches
from synthgap.gap.metric import mmd2_rbf, patch_features

__all__ = ["STRENGTH_GRID", "HoldOut", "blend", "check_strength", "choose_strength",
           "hold_out", "stored_strength", "strength_report"]

#: Strengths `strength: auto` chooses among (0 = the input unchanged).
STRENGTH_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
_SPECTRUM_BINS = 8


def check_strength(value: Any) -> float | str:
    """A config's `strength`: `"auto"`, or a number in [0, 1] (as float).

    Raises:
        ValueError: anything else (names the field).
    """
    if value == "auto":
        return "auto"
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0.0 <= float(value) <= 1.0):
        raise ValueError(f"strength: expected a number in [0, 1] or 'auto', got {value!r}")
    return float(value)


def stored_strength(state_config: dict[str, Any], config_strength: float | str) -> float:
    """The strength a model file records (`state_config["strength"]`; files written before
    the field existed applied the full change: 1, or their fixed config value).

    Raises:
        ValueError: not a number in [0, 1].
    """
    value = check_strength(state_config.get(
        "strength", 1.0 if config_strength == "auto" else config_strength))
    if value == "auto":
        raise ValueError("strength: a fitted model file holds a number, got 'auto'")
    return float(value)


def blend(image: np.ndarray, adapted: np.ndarray, strength: float) -> np.ndarray:
    """`image + strength·(adapted − image)`, rounded, `uint8` (strength 1: `adapted` itself)."""
    if strength == 1.0:
        return adapted
    out = image.astype(np.float32) + np.float32(strength) * (adapted.astype(np.float32)
                                                             - image.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class HoldOut:
    """A fit's training images and the held-out ones `choose_strength` judges on.

    `per_image` holds the per-image fit arguments (labels, masks) of the training images.
    `held_out` is False when there were too few images to hold any out (then the held-out
    lists are the training images themselves).
    """

    synthetic: list[np.ndarray]
    real: list[np.ndarray]
    per_image: dict[str, Any]
    held_synthetic: list[np.ndarray]
    held_real: list[np.ndarray]
    held_out: bool


def hold_out(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray],
             per_image: dict[str, Sequence[Any] | None], *, aligned: bool,
             active: bool = True) -> HoldOut:
    """Hold every 4th photo and render out of a fit (with `aligned` pairs: the renders of the
    held-out photos) when `active` and both sets have at least 8 images.

    Args:
        per_image: fit arguments with one entry per image, keyed `synthetic_*` (per render)
            or `real_*` (per photo); None values pass through.
    """
    n_syn, n_real = len(synthetic), len(real)
    ok = active and n_real >= 8 and n_syn >= 8
    hold_real = set(range(3, n_real, 4)) if ok else set()
    hold_syn = hold_real if aligned else set(range(3, n_syn, 4)) if ok else set()

    def keep(seq: Sequence[Any], held: set[int]) -> list[Any]:
        return [x for i, x in enumerate(seq) if i not in held]

    args = {k: None if v is None else keep(v, hold_syn if k.startswith("synthetic")
                                          else hold_real) for k, v in per_image.items()}
    train_syn, train_real = keep(synthetic, hold_syn), keep(real, hold_real)
    return HoldOut(train_syn, train_real, args,
                   [synthetic[i] for i in sorted(hold_syn)] or train_syn,
                   [real[i] for i in sorted(hold_real)] or train_real, ok)


def strength_report(adapt: Callable[[np.ndarray], np.ndarray], split: HoldOut, *,
                    rng: np.random.Generator) -> tuple[float, dict[str, Any]]:
    """Choose the strength on `split`'s held-out images; `(strength, report entry)`."""
    if min(len(split.held_synthetic), len(split.held_real)) < 2:
        return 1.0, {"chosen": 1.0, "held_out": False, "mmd2": {},
                     "why": "choosing needs 2 images per set; strength 1"}
    chosen, scores = choose_strength(adapt, split.held_synthetic, split.held_real, rng=rng)
    return chosen, {"chosen": chosen, "held_out": split.held_out,
                    "n_renders": len(split.held_synthetic), "n_photos": len(split.held_real),
                    "mmd2": scores}


def _look(patches: np.ndarray) -> np.ndarray:
    n_look = 6 + _SPECTRUM_BINS + 1
    return patch_features(patches, spectrum_bins=_SPECTRUM_BINS)[:, -n_look:].astype(np.float64)


def choose_strength(adapt: Callable[[np.ndarray], np.ndarray],
                    synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
                    rng: np.random.Generator, grid: Sequence[float] = STRENGTH_GRID,
                    patch_size: int = 32, per_image: int = 32,
                    tie: float = 0.02) -> tuple[float, dict[str, float]]:
    """The strength of `grid` whose adapted renders look closest to the photos.

    Args:
        adapt: `adapt(patch)` -> the patch adapted at full strength, `(S, S, 3) uint8`;
            strength s is `blend(patch, adapt(patch), s)`.
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
    full = np.stack([adapt(p) for p in ps])
    scores: dict[str, float] = {}
    for s in grid:
        fa = z0 if s == 0.0 else (_look(np.stack([blend(p, a, float(s)) for p, a in
                                                  zip(ps, full, strict=True)])) - mu) / sd
        value, _, _ = mmd2_rbf(fa, zr, permutations=0, rng=rng, sigma=sigma)
        if not np.isfinite(value):
            raise ValueError(f"strength {s:g}: the adapted patches give a non-finite distance "
                             "(the adapter outputs NaN); refit it")
        scores[f"{float(s):g}"] = round(float(value), 6)
    lo, hi = min(scores.values()), max(scores.values())
    chosen = min(float(k) for k, v in scores.items() if v <= lo + tie * (hi - lo))
    return chosen, scores
