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
* `region` — unpaired photos with a label map per image (0 = background, k > 0 = a part or a
  part class; for renders the dataset's instance or class masks, for photos a mask from
  `real_views`, `align` or a simple segmentation): a render patch whose centre pixel has label
  k is paired with a real patch whose centre has the same label (part with part, background
  with background), chosen at random among the `top_k` (256) nearest in the tone-normalised
  descriptor. The random choice among several near ones keeps the targets diverse, so the
  regression does not collapse onto the mean of a few real patches.

With label maps (`synthetic_masks`), `aligned` pairing draws half of its patch centres on part
pixels and half on background, so a part that fills 5 % of the image still gets half the
training signal; render i and photo i share the positions, so masks never move.

Every `PatchPairs` reports `n_distinct_targets`, how many different real patches serve as
targets (a collapsing pairing shows a small number).

All functions are pure given `rng` and return a `PatchPairs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthgap.adapt.photos import as_images
from synthgap.data.colour import GREY_WEIGHTS
from synthgap.data.images import channel_histograms, sample_patches

__all__ = ["PAIRINGS", "PatchPairs", "check_masks", "descriptor", "make_pairs", "pair_aligned",
           "pair_class", "pair_nearest", "pair_region", "sample_positions"]

#: The pairing strategies `make_pairs` knows.
PAIRINGS: tuple[str, ...] = ("nearest", "aligned", "class", "region")


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

    @property
    def n_distinct_targets(self) -> int:
        """How many different real patches serve as synthetic-channel targets."""
        flat = np.ascontiguousarray(self.target.reshape(len(self.target), -1))
        return len({row.tobytes() for row in flat})


def _grey(patches: np.ndarray) -> npt.NDArray[np.uint8]:
    grey: npt.NDArray[np.float32] = patches.astype(np.float32) @ GREY_WEIGHTS
    return np.rint(grey).clip(0, 255).astype(np.uint8)


def quantile_table(images: Sequence[np.ndarray]) -> np.ndarray:
    """`(256,) float32`: each grey level's mid-rank quantile in the pooled grey histogram."""
    grey = [_grey(im) for im in images]
    hist = channel_histograms([np.repeat(g[:, :, None], 3, 2) for g in grey])[0]
    cdf = np.cumsum(hist)
    table: npt.NDArray[np.float32] = (cdf - hist / 2).astype(np.float32)
    return table


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
    out: np.ndarray = q.reshape(n, cells, c, cells, c).mean(axis=(2, 4)).reshape(n, -1)
    return out


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


def check_masks(masks: Sequence[np.ndarray], images: Sequence[np.ndarray], name: str
                ) -> list[np.ndarray]:
    """Check one `(H, W)` integer label map per image (same size); returns them as arrays.

    Raises:
        ValueError: a count or shape mismatch, or a non-integer map (names `name[i]`).
    """
    if len(masks) != len(images):
        raise ValueError(f"{name}: {len(masks)} label maps for {len(images)} images; give one "
                         "per image")
    out = []
    for i, (m, im) in enumerate(zip(masks, images, strict=True)):
        m = np.asarray(m)
        if m.shape != im.shape[:2] or m.dtype.kind not in "iub":
            raise ValueError(f"{name}[{i}]: expected an integer ({im.shape[0]}, {im.shape[1]}) "
                             f"label map (0 = background), got {m.shape} {m.dtype}")
        out.append(m)
    return out


def sample_positions(mask: np.ndarray, n: int, patch_size: int, *, rng: np.random.Generator,
                     part_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of `n` patches, a `part_share` of them centred on labelled pixels.

    Args:
        mask: `(H, W)` integer label map (0 = background), `H, W >= patch_size`.
        n: patches.
        patch_size: patch side p.
        rng: positions.
        part_share: share of the patches centred on pixels with a label > 0 (when there are
            any; otherwise all on background, and vice versa).

    Returns:
        `(ys, xs)`, each `(n,) int64`.
    """
    h, w = mask.shape
    c = patch_size // 2
    inner = mask[c:h - patch_size + c + 1, c:w - patch_size + c + 1]  # valid centres
    part = np.flatnonzero(inner.ravel() > 0)
    back = np.flatnonzero(inner.ravel() == 0)
    n_part = round(n * part_share) if len(part) and len(back) else (n if len(part) else 0)
    pick = np.concatenate([part[rng.integers(0, len(part), n_part)] if n_part else
                           np.zeros(0, np.int64),
                           back[rng.integers(0, len(back), n - n_part)] if n - n_part else
                           np.zeros(0, np.int64)])
    ys, xs = np.divmod(pick, inner.shape[1])
    return ys.astype(np.int64), xs.astype(np.int64)


def _crop(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, p: int) -> np.ndarray:
    return np.stack([image[y:y + p, x:x + p] for y, x in zip(ys, xs, strict=True)])


def pair_aligned(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *, patch_size: int,
                 n_pairs: int, rng: np.random.Generator,
                 masks: Sequence[np.ndarray] | None = None) -> PatchPairs:
    """Patches at the same positions of pixel-aligned (render i, photo i) pairs.

    Args:
        masks: optional `(H, W)` label map of each render (0 = background): half of the patch
            centres are then drawn on labelled (part) pixels, half on background.

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
    if masks is not None:
        masks = check_masks(masks, synthetic, "masks")
        if min(min(s.shape[:2]) for s in synthetic) < patch_size:
            raise ValueError(f"aligned pairing: images must be at least {patch_size} px a side")
        ps_list, pr_list = [], []
        for s, r, m in zip(synthetic, real, masks, strict=True):
            ys, xs = sample_positions(m, per, patch_size, rng=rng)
            ps_list.append(_crop(s, ys, xs, patch_size))
            pr_list.append(_crop(r, ys, xs, patch_size))
        ps, pr = np.concatenate(ps_list), np.concatenate(pr_list)
    else:
        # one seed drawn, used twice -> the same positions in render i and photo i
        seed = int(rng.integers(2**63 - 1))
        ps, _ = sample_patches(synthetic, patch_size=patch_size, per_image=per,
                               rng=np.random.default_rng(seed))
        pr, _ = sample_patches(real, patch_size=patch_size, per_image=per,
                               rng=np.random.default_rng(seed))
    keep = rng.permutation(len(ps))[:n_pairs]
    return PatchPairs(synthetic=ps[keep], target=pr[keep], real=pr[keep], strategy="aligned")


def pair_region(synthetic: Sequence[np.ndarray], synthetic_masks: Sequence[np.ndarray],
                real: Sequence[np.ndarray], real_masks: Sequence[np.ndarray], *,
                patch_size: int, n_pairs: int, n_real: int, rng: np.random.Generator,
                top_k: int = 256) -> PatchPairs:
    """Pair render patches with real patches of the same region label (see the module docs).

    Args:
        synthetic, real: images `(H, W, 3) uint8` (at least `patch_size` a side).
        synthetic_masks, real_masks: `(H, W)` integer label maps, one per image (0 =
            background). A render label that no real patch has is paired with any real part
            patch (label > 0).
        patch_size: patch side p (divisible by 4).
        n_pairs: render patches (half centred on parts, half on background).
        n_real: real patches drawn (same split), the pool and the real channel's data.
        rng: positions and the choice among the `top_k` nearest.
        top_k: candidates (nearest by descriptor, same label) drawn from at random.

    Raises:
        ValueError: mask count or shape mismatches, or images smaller than a patch.
    """
    synthetic, real = as_images(synthetic, name="synthetic"), as_images(real, name="real")
    synthetic_masks = check_masks(synthetic_masks, synthetic, "synthetic_masks")
    real_masks = check_masks(real_masks, real, "real_masks")
    if min(min(im.shape[:2]) for im in [*synthetic, *real]) < patch_size:
        raise ValueError(f"region pairing: images must be at least {patch_size} px a side")

    def draw(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
             n: int) -> tuple[np.ndarray, npt.NDArray[np.int64]]:
        """`n` patches `(n, p, p, 3)` half on parts, half on background, and their labels."""
        per = max(1, -(-n // len(images)))
        patch_list, label_list = [], []
        for im, m in zip(images, masks, strict=True):
            ys, xs = sample_positions(m, per, patch_size, rng=rng)
            patch_list.append(_crop(im, ys, xs, patch_size))
            label_list.append(m[ys + patch_size // 2, xs + patch_size // 2])
        patches, labels = np.concatenate(patch_list), np.concatenate(label_list)
        keep = rng.permutation(len(patches))[:n]
        return patches[keep], labels[keep].astype(np.int64)

    ps, ls = draw(synthetic, synthetic_masks, n_pairs)
    pr, lr = draw(real, real_masks, n_real)
    ds = descriptor(ps, quantile_table(synthetic))
    dr = descriptor(pr, quantile_table(real))
    target = np.empty(len(ps), np.int64)
    for lab in np.unique(ls):
        rows = np.flatnonzero(ls == lab)
        pool = np.flatnonzero(lr == lab)
        if len(pool) == 0:
            pool = np.flatnonzero(lr > 0) if lab > 0 else np.flatnonzero(lr == 0)
        if len(pool) == 0:
            pool = np.arange(len(pr))
        k = min(top_k, len(pool))
        b = dr[pool]
        bb = (b * b).sum(1)
        for s in range(0, len(rows), 1024):
            chunk = rows[s:s + 1024]
            d = bb[None, :] - 2.0 * ds[chunk] @ b.T  # squared distance up to a per-row constant
            near = np.argpartition(d, k - 1, axis=1)[:, :k]
            choice = near[np.arange(len(chunk)), rng.integers(0, k, len(chunk))]
            target[chunk] = pool[choice]
    return PatchPairs(synthetic=ps, target=pr[target], real=pr, strategy="region")


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
               real_labels: Sequence[str] | None = None,
               synthetic_masks: Sequence[np.ndarray] | None = None,
               real_masks: Sequence[np.ndarray] | None = None) -> PatchPairs:
    """Dispatch to `pair_nearest`, `pair_aligned`, `pair_class` or `pair_region` by name.

    `synthetic_masks` (label maps of the renders) are used by `aligned` (part/background
    stratified positions) and, with `real_masks`, by `region`.
    """
    if strategy == "nearest":
        return pair_nearest(synthetic, real, patch_size=patch_size, n_pairs=n_pairs,
                            n_real=n_pairs, rng=rng)
    if strategy == "aligned":
        return pair_aligned(synthetic, real, patch_size=patch_size, n_pairs=n_pairs, rng=rng,
                            masks=synthetic_masks)
    if strategy == "region":
        if synthetic_masks is None or real_masks is None:
            raise ValueError("region pairing needs a label map per image: synthetic_masks (the "
                             "renders' masks/) and real_masks (0 = background, > 0 = part)")
        return pair_region(synthetic, synthetic_masks, real, real_masks, patch_size=patch_size,
                           n_pairs=n_pairs, n_real=n_pairs, rng=rng)
    if strategy == "class":
        if synthetic_labels is None or real_labels is None:
            raise ValueError("class pairing needs synthetic_labels and real_labels")
        return pair_class(synthetic, synthetic_labels, real, real_labels, patch_size=patch_size,
                          n_pairs=n_pairs, rng=rng)
    raise ValueError(f"pairing: expected one of {PAIRINGS}, got {strategy!r}")
