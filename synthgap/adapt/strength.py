"""Choose how much of an adapter's learned change to apply (`strength: auto`).

An adapter whose fit went wrong (pairs that collapse onto a mean colour, too few photos) can move
renders *away* from the photos. With a strength `s` in [0, 1] the adapted image is
`base + s·(adapted − base)`, where `base` is the input (for a grey camera: the input in grey),
so `s = 0` is the input as the camera would show it. `choose_strength` tries each strength of
a grid on held-out renders and keeps one only if it brings them measurably closer to held-out
photos:

* random patches (`patch_size`; at most `max_patches` per set) are cut from the renders and
  the photos, `draws` times at fresh positions; in each draw the render patches are adapted
  and blended at every strength;
* closeness is the unbiased MMD² (`synthgap.gap.metric.mmd2_rbf`) between the *look*
  features (`synthgap.gap.metric.look_features`: per-channel mean and spread, radial power
  spectrum, gradient energy — what an adapter that never moves geometry can change),
  standardised and with a kernel bandwidth fixed per draw from the unadapted renders and the
  photos, so every strength is scored with the same yardstick;
* a strength s > 0 is *measurably better* than the input when its score minus the input's,
  paired per draw, is below zero by more than twice its standard error over the draws; among
  those and 0 the lowest mean score wins, ties (within `tie` of the spread of the means)
  going to the weaker strength. An adapter that does not help thus ends at 0.

Held-out renders and photos show different things when the pairs are not aligned, so the
colour statistics measure content too; the draws and the significance rule keep that noise
from being taken for an improvement, at the price of sometimes keeping 0 where a weak
improvement was real.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgap.data.images import sample_patches
from synthgap.gap.metric import look_features, mmd2_rbf

__all__ = ["STRENGTH_GRID", "HoldOut", "applied_strengths", "blend", "check_strength",
           "choose_strength", "fit_with_strength", "hold_out", "initial_strength",
           "stored_strength", "strength_report", "strength_steps"]

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


def initial_strength(config_strength: float | str) -> float:
    """The strength an adapter applies before `strength: auto` has chosen one: the config's
    number, or 1 (the full learned change) for `"auto"`."""
    return 1.0 if config_strength == "auto" else float(config_strength)


def strength_steps(adapter: Any) -> list[Any]:
    """The steps of an adapter (the adapter itself, or a chain's `steps`) that apply a
    strength (have a `strength` attribute), in order."""
    return [step for step in getattr(adapter, "steps", [adapter]) if hasattr(step, "strength")]


def applied_strengths(adapter: Any) -> list[float]:
    """The strength each step of `adapter` applies (`strength_steps`; empty when none does),
    e.g. what `strength: auto` chose, for a report."""
    return [float(step.strength) for step in strength_steps(adapter)]


def stored_strength(state_config: dict[str, Any], config_strength: float | str) -> float:
    """The strength a model file records (`state_config["strength"]`; files written before
    the field existed applied the full change: 1, or their fixed config value).

    Raises:
        ValueError: not a number in [0, 1].
    """
    try:
        value = check_strength(state_config.get("strength", initial_strength(config_strength)))
    except ValueError as exc:
        raise ValueError(f"{exc}: the model file was edited; refit the model") from None
    if value == "auto":
        raise ValueError("strength: a fitted model file holds a number, got 'auto'")
    if config_strength != "auto" and value != config_strength:
        raise ValueError(f"strength: the file applies {value} but its config fixes "
                         f"{config_strength}; the file was edited: refit the model")
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

    Nothing is held out (`held_out` False; the held-out lists are the training images) when
    aligned sets differ in length (the pairing reports that), or when with class labels
    (`synthetic_labels`/`real_labels`) a class of the kept renders would have no kept photo.

    Args:
        per_image: fit arguments with one entry per image, keyed `synthetic_*` (per render)
            or `real_*` (per photo); None values pass through.
    """
    n_syn, n_real = len(synthetic), len(real)
    ok = active and n_real >= 8 and n_syn >= 8 and not (aligned and n_syn != n_real)
    hold_real = set(range(3, n_real, 4)) if ok else set()
    hold_syn = hold_real if aligned else set(range(3, n_syn, 4)) if ok else set()

    def keep(seq: Sequence[Any], held: set[int]) -> list[Any]:
        return [x for i, x in enumerate(seq) if i not in held]

    syn_labels, real_labels = per_image.get("synthetic_labels"), per_image.get("real_labels")
    if ok and syn_labels is not None and real_labels is not None and \
            not set(keep(syn_labels, hold_syn)) <= set(keep(real_labels, hold_real)):
        ok, hold_real, hold_syn = False, set(), set()
    args = {k: None if v is None else keep(v, hold_syn if k.startswith("synthetic")
                                          else hold_real) for k, v in per_image.items()}
    train_syn, train_real = keep(synthetic, hold_syn), keep(real, hold_real)
    return HoldOut(train_syn, train_real, args,
                   [synthetic[i] for i in sorted(hold_syn)] or train_syn,
                   [real[i] for i in sorted(hold_real)] or train_real, ok)


def strength_report(adapt: Callable[[np.ndarray], np.ndarray], split: HoldOut, *,
                    rng: np.random.Generator,
                    base: Callable[[np.ndarray], np.ndarray] | None = None
                    ) -> tuple[float, dict[str, Any]]:
    """Choose the strength on `split`'s held-out images; `(strength, report entry)`.

    Without held-out images (fewer than 8 of a set) the choice is made on the training
    images, which favours the full change (the adapter was fitted to them); the report says
    `held_out: false`.
    """
    if min(len(split.held_synthetic), len(split.held_real)) < 2:
        return 1.0, {"chosen": 1.0, "held_out": False, "mmd2": {},
                     "why": "choosing needs 2 images per set; strength 1"}
    chosen, scores = choose_strength(adapt, split.held_synthetic, split.held_real, rng=rng,
                                     base=base)
    return chosen, {"chosen": chosen, "held_out": split.held_out,
                    "n_renders": len(split.held_synthetic), "n_photos": len(split.held_real),
                    "mmd2": scores}


def fit_with_strength(adapter: Any, synthetic: Sequence[np.ndarray],
                      real: Sequence[np.ndarray], per_image: dict[str, Sequence[Any] | None], *,
                      rng: np.random.Generator) -> None:
    """The fit of an SMCAE image adapter (`conv-smcae`, `patch-smcae`): check the images, set
    `adapter.channels` (1 when every photo is grey, else 3), hold images out (`strength: auto`
    only), pair patches (`adapter.config.pairing`), `adapter.fit_pairs`, then choose
    `adapter.strength` on the held-out images (into `adapter.report`).

    Args:
        adapter: has `config` (`pairing`, `patch_size`, `n_pairs`, `strength`), `channels`,
            `fit_pairs(pairs, rng=)`, `transform(image)`, `strength`, `report`.
        synthetic, real: the renders and photos, `(H, W, 3) uint8` each (checked by
            `synthgap.adapt.photos.as_images`).
        per_image: the per-image fit arguments (`synthetic_labels`, `real_labels`,
            `synthetic_masks`, `real_masks`; None when not given).
    """
    from synthgap.adapt.image_base import grey_rgb
    from synthgap.adapt.image_pairing import make_pairs
    from synthgap.adapt.photos import as_images, is_grey

    synthetic = as_images(synthetic, name="synthetic")
    real = as_images(real, name="real")
    adapter.channels = 1 if all(is_grey(r) for r in real) else 3
    cfg = adapter.config
    auto = cfg.strength == "auto"
    split = hold_out(synthetic, real, per_image, aligned=cfg.pairing == "aligned", active=auto)
    pairs = make_pairs(cfg.pairing, split.synthetic, split.real, patch_size=cfg.patch_size,
                       n_pairs=cfg.n_pairs, rng=rng, **split.per_image)
    adapter.fit_pairs(pairs, rng=rng)
    if auto:
        adapter.strength, adapter.report["strength"] = strength_report(
            adapter.transform, split, rng=rng,
            base=grey_rgb if adapter.channels == 1 else None)


def _patches(images: Sequence[np.ndarray], *, patch_size: int, max_patches: int,
             rng: np.random.Generator) -> np.ndarray:
    """At most `max_patches` random patches spread over the images (a random image subset
    when there are more images than that)."""
    if len(images) > max_patches:
        images = [images[i] for i in np.sort(rng.choice(len(images), max_patches,
                                                        replace=False))]
    per_image = max(1, min(32, max_patches // len(images)))
    patches, _ = sample_patches(images, patch_size=patch_size, per_image=per_image, rng=rng)
    return patches


def choose_strength(adapt: Callable[[np.ndarray], np.ndarray],
                    synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
                    rng: np.random.Generator, grid: Sequence[float] = STRENGTH_GRID,
                    base: Callable[[np.ndarray], np.ndarray] | None = None,
                    patch_size: int = 32, max_patches: int = 256, draws: int = 4,
                    tie: float = 0.02) -> tuple[float, dict[str, float]]:
    """The strength of `grid` that brings the renders measurably closest to the photos.

    Args:
        adapt: `adapt(patch)` -> the patch adapted at full strength, `(S, S, 3) uint8`;
            strength s is `blend(base(patch), adapt(patch), s)`.
        synthetic: held-out renders, `(H, W, 3) uint8`, at least 2.
        real: held-out photos, `(H, W, 3) uint8`, at least 2.
        rng: source of the patch positions.
        grid: strengths to try, each in [0, 1]; 0 is always tried.
        base: what strength 0 shows (default: the patch itself; `grey_rgb` for a grey
            camera).
        patch_size: side of the compared patches, pixels (divisible by 4).
        max_patches: patches per set and draw (bounds time and memory).
        draws: independent patch draws (at least 2) the significance rule needs.
        tie: mean scores within `tie·(max − min)` of the best count as equal.

    Returns:
        `(strength, scores)`: the chosen strength and the mean look-MMD² over the draws of
        every tried one (keys `f"{s:g}"`; lower is closer).

    Raises:
        ValueError: fewer than 2 images in a set, a strength outside [0, 1], fewer than 2
            draws, an adapter output that is not `uint8` of the patch's shape, or a score
            that is not finite.
    """
    if len(synthetic) < 2 or len(real) < 2:
        raise ValueError(f"choose_strength needs at least 2 renders and 2 photos, got "
                         f"{len(synthetic)} and {len(real)}")
    if not grid or any(not 0.0 <= s <= 1.0 for s in grid):
        raise ValueError(f"strength grid: expected values in [0, 1], got {list(grid)}")
    if draws < 2:
        raise ValueError(f"draws: expected >= 2 (the rule compares draws), got {draws}")
    strengths = sorted({0.0, *(float(s) for s in grid)})
    per_draw = np.zeros((draws, len(strengths)))
    for r in range(draws):
        ps = _patches(synthetic, patch_size=patch_size, max_patches=max_patches, rng=rng)
        pr = _patches(real, patch_size=patch_size, max_patches=max_patches, rng=rng)
        p0 = ps if base is None else np.stack([base(p) for p in ps])
        full = np.stack([adapt(p) for p in ps])
        if full.dtype != np.uint8 or full.shape != ps.shape:
            raise ValueError(f"adapt must return uint8 patches of the input's shape "
                             f"{ps.shape[1:]}, got {full.dtype} {full.shape[1:]}")
        f0 = look_features(p0, spectrum_bins=_SPECTRUM_BINS).astype(np.float64)
        fr = look_features(pr, spectrum_bins=_SPECTRUM_BINS).astype(np.float64)
        pooled = np.concatenate([f0, fr])
        mu, sd = pooled.mean(0), pooled.std(0)
        sd[sd == 0] = 1.0
        z0, zr = (f0 - mu) / sd, (fr - mu) / sd
        d = np.concatenate([z0, zr])
        sq = (d * d).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * d @ d.T, 0.0)
        sigma = float(np.sqrt(np.median(d2[np.triu_indices(len(d), 1)]))) or 1.0
        for j, s in enumerate(strengths):
            if s == 0.0:
                za = z0
            else:
                mixed = np.stack([blend(b, a, s) for b, a in zip(p0, full, strict=True)])
                za = (look_features(mixed, spectrum_bins=_SPECTRUM_BINS) - mu) / sd
            value, _, _ = mmd2_rbf(za, zr, permutations=0, rng=rng, sigma=sigma)
            if not np.isfinite(value):
                raise ValueError(f"strength {s:g}: the adapted patches give a non-finite "
                                 "distance (the adapter outputs NaN); refit it")
            per_draw[r, j] = value
    means = per_draw.mean(0)
    diff = per_draw - per_draw[:, :1]  # paired with strength 0, draw by draw
    se = diff.std(0, ddof=1) / np.sqrt(draws)
    better = [j for j in range(1, len(strengths)) if diff[:, j].mean() + 2.0 * se[j] < 0]
    candidates = [0, *better]
    lo = min(means[j] for j in candidates)
    spread = float(means.max() - means.min())
    chosen = min(strengths[j] for j in candidates if means[j] <= lo + tie * spread)
    return chosen, {f"{s:g}": round(float(m), 6) for s, m in zip(strengths, means, strict=True)}
