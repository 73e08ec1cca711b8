"""Pairs of (render patch, real patch) for training an image SMCAE.

SMCAE's synthetic channel learns to output a *paired* real sample for each synthetic input.
For images, samples are small square patches, and three strategies say which real patch a
render patch is paired with:

* `aligned` — render i and photo i show the same view, pixel-aligned (same size): a render patch
  is paired with the photo patch at the same position. (Producing such renders — the scene file
  pinning camera and part pose per photo — is up to the user here.)
* `nearest` — unpaired photos (the default): each render patch is paired with the real patch
  nearest to it in a *tone-normalised structure descriptor*: the grey patch with every intensity
  replaced by its quantile in its own set's pooled grey histogram (so a global brightness,
  contrast or tone-curve difference between the sets does not change the descriptor), averaged
  over a 4×4 grid of cells (16 numbers, each in [0, 1]). Distance: Euclidean.
* `class` — labelled crops: each render patch is paired with a patch from a random real image
  of the same class label.

All functions are pure given `rng` and return a `PatchPairs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthgap.adapt.gap import channel_histograms, sample_patches
from synthgap.adapt.photos import as_images

__all__ = ["PAIRINGS", "PatchPairs", "descriptor", "make_pairs", "pair_aligned", "pair_class",
           "pair_nearest"]

#: The pairing strategies `make_pairs` knows.
PAIRINGS: tuple[str, ...] = ("nearest", "aligned", "class")


@dataclass(frozen=True)
class PatchPairs:
    """Training patches of an image SMCAE.

    Attributes:
        synthetic: `(N, p, p, 3) uint8` render patches (synthetic channel input).
        target: `(N, p, p, 3) uint8` the real patch paired with each (synthetic channel target).
        real: `(M, p, p, 3) uint8` real patches (the real channel's input and target).
        strategy: the pairing that made them.
    """

    synthetic: np.ndarray
    target: np.ndarray
    real: np.ndarray
    strategy: str


def _grey(patches: np.ndarray) -> np.ndarray:
    return np.rint(patches.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
                   ).clip(0, 255).astype(np.uint8)


def quantile_table(images: Sequence[np.ndarray]) -> np.ndarray:
    """`(256,) float32`: each grey level's mid-rank quantile in the pooled grey histogram."""
    grey = [_grey(im) for im in images]
    hist = channel_histograms([np.repeat(g[:, :, None], 3, 2) for g in grey])[0]
    cdf = np.cumsum(hist)
    return (cdf - hist / 2).astype(np.float32)


def descriptor(patches: np.ndarray, table: np.ndarray, cells: int = 4) -> np.ndarray:
    """Tone-normalised structure descriptor of patches (see the module docstring).

    Args:
        patches: `(N, p, p, 3) uint8`, p divisible by `cells`.
        table: `(256,)` quantile table of the set the patches come from (`quantile_table`).
        cells: grid cells per side.

    Returns:
        `(N, cells * cells) float32` in [0, 1].
    """
    n, p = patches.shape[:2]
    if p % cells:
        raise ValueError(f"descriptor: patch size {p} is not divisible by {cells} cells")
    q = table[_grey(patches)]
    c = p // cells
    return q.reshape(n, cells, c, cells, c).mean(axis=(2, 4)).reshape(n, -1)


def _nearest(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index into `b` of the nearest row (Euclidean) for each row of `a`."""
    bb = (b * b).sum(1)
    out = np.empty(len(a), np.int64)
    for s in range(0, len(a), chunk):
        d = bb[None, :] - 2.0 * a[s:s + chunk] @ b.T
        out[s:s + chunk] = d.argmin(1)
    return out


def pair_nearest(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *, patch_size: int,
                 n_pairs: int, n_real: int, rng: np.random.Generator) -> PatchPairs:
    """Pair random render patches with their nearest real patches (tone-normalised descriptor).

    Args:
        synthetic: renders `(H, W, 3) uint8`.
        real: photos `(H, W, 3) uint8`.
        patch_size: patch side p, pixels (divisible by 4).
        n_pairs: render patches to draw (spread evenly over the renders).
        n_real: real patches to draw (the pool to pair from, and the real channel's data).
        rng: patch positions.
    """
    synthetic, real = as_images(synthetic, name="synthetic"), as_images(real, name="real")
    ps, _ = sample_patches(synthetic, patch_size=patch_size,
                           per_image=max(1, -(-n_pairs // len(synthetic))), rng=rng)
    pr, _ = sample_patches(real, patch_size=patch_size,
                           per_image=max(1, -(-n_real // len(real))), rng=rng)
    ps = ps[rng.permutation(len(ps))[:n_pairs]]
    pr = pr[rng.permutation(len(pr))[:n_real]]
    ds = descriptor(ps, quantile_table(synthetic))
    dr = descriptor(pr, quantile_table(real))
    idx = _nearest(ds, dr)
    return PatchPairs(synthetic=ps, target=pr[idx], real=pr, strategy="nearest")


def pair_aligned(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *, patch_size: int,
                 n_pairs: int, rng: np.random.Generator) -> PatchPairs:
    """Patches at the same positions of pixel-aligned (render i, photo i) pairs.

    Raises:
        ValueError: different numbers of renders and photos, or a pair of different sizes.
    """
    synthetic, real = as_images(synthetic, name="synthetic"), as_images(real, name="real")
    if len(synthetic) != len(real):
        raise ValueError(f"aligned pairing: {len(synthetic)} renders but {len(real)} photos; "
                         "render i must show the same view as photo i")
    for i, (s, r) in enumerate(zip(synthetic, real, strict=True)):
        if s.shape != r.shape:
            raise ValueError(f"aligned pairing: render {i} is {s.shape[1]}x{s.shape[0]} but "
                             f"photo {i} is {r.shape[1]}x{r.shape[0]}; aligned pairs must be "
                             "the same size")
    per = max(1, -(-n_pairs // len(synthetic)))
    # one seed drawn, used twice -> the same positions in render i and photo i
    seed = int(rng.integers(2**63 - 1))
    ps, _ = sample_patches(synthetic, patch_size=patch_size, per_image=per,
                           rng=np.random.default_rng(seed))
    pr, _ = sample_patches(real, patch_size=patch_size, per_image=per,
                           rng=np.random.default_rng(seed))
    keep = rng.permutation(len(ps))[:n_pairs]
    return PatchPairs(synthetic=ps[keep], target=pr[keep], real=pr[keep], strategy="aligned")


def pair_class(synthetic: Sequence[np.ndarray], synthetic_labels: Sequence[str],
               real: Sequence[np.ndarray], real_labels: Sequence[str], *, patch_size: int,
               n_pairs: int, rng: np.random.Generator) -> PatchPairs:
    """Pair each render patch with a patch of a random real image of the same class.

    Raises:
        ValueError: label lists of the wrong length, or a render class with no real image.
    """
    synthetic, real = as_images(synthetic, name="synthetic"), as_images(real, name="real")
    if len(synthetic_labels) != len(synthetic) or len(real_labels) != len(real):
        raise ValueError("class pairing: need one label per image "
                         f"({len(synthetic_labels)} labels for {len(synthetic)} renders, "
                         f"{len(real_labels)} for {len(real)} photos)")
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(real_labels):
        by_class.setdefault(lab, []).append(i)
    missing = sorted(set(synthetic_labels) - set(by_class))
    if missing:
        raise ValueError(f"class pairing: no real image of class(es) {missing}; real classes "
                         f"are {sorted(by_class)}")
    per = max(1, -(-n_pairs // len(synthetic)))
    ps, groups = sample_patches(synthetic, patch_size=patch_size, per_image=per, rng=rng)
    partner = [int(rng.choice(by_class[synthetic_labels[g]])) for g in groups]
    targets = np.stack([sample_patches([real[j]], patch_size=patch_size, per_image=1, rng=rng)[0][0]
                        for j in partner])
    pr, _ = sample_patches(real, patch_size=patch_size, per_image=per, rng=rng)
    keep = rng.permutation(len(ps))[:n_pairs]
    return PatchPairs(synthetic=ps[keep], target=targets[keep], real=pr, strategy="class")


def make_pairs(strategy: str, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
               patch_size: int, n_pairs: int, rng: np.random.Generator,
               synthetic_labels: Sequence[str] | None = None,
               real_labels: Sequence[str] | None = None) -> PatchPairs:
    """Dispatch to `pair_nearest`, `pair_aligned` or `pair_class` by name."""
    if strategy == "nearest":
        return pair_nearest(synthetic, real, patch_size=patch_size, n_pairs=n_pairs,
                            n_real=n_pairs, rng=rng)
    if strategy == "aligned":
        return pair_aligned(synthetic, real, patch_size=patch_size, n_pairs=n_pairs, rng=rng)
    if strategy == "class":
        if synthetic_labels is None or real_labels is None:
            raise ValueError("class pairing needs synthetic_labels and real_labels")
        return pair_class(synthetic, synthetic_labels, real, real_labels, patch_size=patch_size,
                          n_pairs=n_pairs, rng=rng)
    raise ValueError(f"pairing: expected one of {PAIRINGS}, got {strategy!r}")
