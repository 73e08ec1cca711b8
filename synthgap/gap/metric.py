"""Measure the synthetic gap between a set of renders and a set of real photos.

Four numbers, each computed from the same random patches of the two image sets:

* **domain-classifier accuracy** (a classifier two-sample test): a logistic regression learns to
  tell synthetic from real patches from hand-made features (below); its cross-validated balanced
  accuracy is 0.5 when the sets are indistinguishable to it and 1.0 when they are trivially
  separable. Folds are grouped by image, so patches of one image are never on both sides of a
  split.
  The same test is also run on the *look* features alone (all but HOG: colour, spectrum,
  gradient energy), `domain_accuracy_look`: it ignores what the patches show (a bracket or a
  coin) and asks only whether the camera look differs — what an adapter that never moves
  geometry can change.
* **MMD²** (unbiased estimate, RBF kernel, bandwidth = median pairwise distance) on the same
  standardised features, with a permutation p-value.
* **histogram distance**: per colour channel, the 1-Wasserstein distance between the pixel
  intensity distributions (intensities scaled to [0, 1], each image weighted equally); the
  reported value is the mean over R, G, B.
* **spectrum distance**: the root-mean-square difference, in decades (log10), between the mean
  radial power spectra of the grey patches (Hann-windowed, mean removed, each normalised to unit
  total power so only the *shape* counts: noise lifts high frequencies, blur lowers them).

Beside the four numbers, what they cannot say alone:

* **structure distance** (`synthgap.gap.structure`): how intensity and colour vary across whole
  images (blotches, colour noise, edges, local contrast, edge sparsity, fine detail), per
  aspect in units of the photos' own spread; the set's value is its *worst* aspect.
* **intervals over photos** (`synthgap.gap.intervals`): a bootstrap over images of the domain
  accuracy, the domain classifier's AUC (`domain_auc`: threshold-free, so a classifier that
  calls everything a render reads as what it is) and the structure distance;
* a **verdict**: `told apart`, `close` or `cannot tell with N photos` (too few photos, or
  intervals too wide), with its reason.

Patch features (`patch_features`), `(N, D) float32`:
HOG of the grey patch (scikit-image, 9 orientations, cells of `patch_size // 4` px, 2×2 blocks,
L2-Hys), per-channel mean and standard deviation, the normalised log radial power spectrum
(`spectrum_bins` values) and the log mean gradient energy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.data.colour import GREY_WEIGHTS
from synthgap.data.images import as_images, channel_histograms, sample_patches
from synthgap.gap.intervals import intervals_and_verdict

__all__ = ["GapConfig", "GapReport", "look_features", "measure_gap", "patch_features",
           "real_null", "write_report"]


@dataclass(frozen=True)
class GapConfig:
    """How the gap is measured.

    Attributes:
        patch_size: side of the square patches, pixels (≥ 16, divisible by 4). Images smaller
            than this are scaled up to it first.
        patches_per_image: random patches cut from each image.
        max_images: at most this many images per set are used (a random subset).
        folds: cross-validation folds of the domain classifier (fewer when a set has fewer
            images).
        classifier_c: inverse L2 regularisation strength of the logistic regression.
        mmd_max_samples: at most this many patches per set enter the MMD (random subset).
        mmd_permutations: permutations for the MMD p-value (0 = no p-value).
        spectrum_bins: radial frequency bins between 0 and 0.5 cycles/pixel.
        bootstrap: resamples of the intervals over images (>= 20).
        min_photos: fewer real photos than this always give the verdict "cannot tell".
    """

    patch_size: int = 64
    patches_per_image: int = 8
    max_images: int = 300
    folds: int = 5
    classifier_c: float = 0.1
    mmd_max_samples: int = 800
    mmd_permutations: int = 200
    spectrum_bins: int = 16
    bootstrap: int = 500
    min_photos: int = 6

    def __post_init__(self) -> None:
        if self.patch_size < 16 or self.patch_size % 4:
            raise ValueError(f"patch_size: expected a multiple of 4 that is >= 16, got "
                             f"{self.patch_size}")
        for name in ("patches_per_image", "max_images", "mmd_max_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.folds < 2:
            raise ValueError(f"folds: expected >= 2, got {self.folds}")
        if self.spectrum_bins < 2 or self.spectrum_bins > self.patch_size // 2:
            raise ValueError(f"spectrum_bins: expected 2..{self.patch_size // 2}, got "
                             f"{self.spectrum_bins}")
        if self.mmd_permutations < 0:
            raise ValueError(f"mmd_permutations: expected >= 0, got {self.mmd_permutations}")
        if self.bootstrap < 20:
            raise ValueError(f"bootstrap: expected >= 20 resamples, got {self.bootstrap}")
        if self.min_photos < 2:
            raise ValueError(f"min_photos: expected >= 2, got {self.min_photos}")
        if not self.classifier_c > 0:
            raise ValueError(f"classifier_c: expected > 0, got {self.classifier_c}")


@dataclass(frozen=True)
class GapReport:
    """The gap between one synthetic and one real image set (see the module docstring).

    Attributes:
        domain_accuracy: mean cross-validated balanced accuracy, 0.5 = indistinguishable.
        domain_accuracy_std: its standard deviation over folds.
        domain_accuracy_look: the same test on the look features only (no HOG).
        domain_accuracy_look_std: its standard deviation over folds.
        mmd2: unbiased MMD² estimate (can be slightly negative when the sets agree).
        mmd2_p_value: permutation p-value of `mmd2` (NaN without permutations).
        histogram_distance: mean over channels of the per-channel 1-Wasserstein distance,
            intensities in [0, 1].
        histogram_distance_per_channel: R, G, B values of the above.
        spectrum_distance: RMS difference of mean log10 radial power spectra, decades.
        n_synthetic, n_real: images used from each set.
        n_patches_synthetic, n_patches_real: patches used from each set.
        folds: cross-validation folds actually used.
        domain_accuracy_ci95: `[lo, hi]` bootstrap interval over images of the pooled
            out-of-fold balanced accuracy.
        domain_auc: out-of-fold AUC of the domain classifier's "real" probability (0.5 =
            indistinguishable, 1.0 = separable; does not depend on a threshold).
        domain_auc_ci95: its bootstrap interval over images.
        structure_distance: the largest structure-aspect distance, in real standard
            deviations (`synthgap.gap.structure`; about 1 between two sets of photos).
        structure_distance_ci95: its bootstrap interval over images.
        structure_aspects: aspect name -> distance.
        structure_worst: the aspect of `structure_distance`.
        verdict: `told apart`, `close` or `cannot tell with N photos`
            (`synthgap.gap.intervals`).
        verdict_reason: why, in one sentence.
        curves: data for plots: `histogram` (256 bins per channel and set), `spectrum`
            (frequencies in cycles/pixel and log10 power per set), `scores` (out-of-fold
            probability of "real" for every patch of each set).
        config: the `GapConfig` used, and the seed.
    """

    domain_accuracy: float
    domain_accuracy_std: float
    domain_accuracy_look: float
    domain_accuracy_look_std: float
    mmd2: float
    mmd2_p_value: float
    histogram_distance: float
    histogram_distance_per_channel: list[float]
    spectrum_distance: float
    n_synthetic: int
    n_real: int
    n_patches_synthetic: int
    n_patches_real: int
    folds: int
    domain_accuracy_ci95: list[float] = field(default_factory=list)
    domain_auc: float = float("nan")
    domain_auc_ci95: list[float] = field(default_factory=list)
    structure_distance: float = float("nan")
    structure_distance_ci95: list[float] = field(default_factory=list)
    structure_aspects: dict[str, float] = field(default_factory=dict)
    structure_worst: str = ""
    verdict: str = ""
    verdict_reason: str = ""
    curves: dict[str, Any] = field(default_factory=dict, repr=False)
    config: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The scalar metrics only (no curves), JSON-ready."""
        d = asdict(self)
        d.pop("curves")
        safe: dict[str, Any] = _json_safe(d)
        return safe

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (NaN becomes null)."""
        safe: dict[str, Any] = _json_safe(asdict(self))
        return safe


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if not np.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _radial_index(size: int, bins: int) -> np.ndarray:
    f = np.fft.fftfreq(size)
    r = np.hypot(f[:, None], f[None, :])
    # bin b holds radii in (b, b + 1] * 0.5 / bins; an annulus at least one lattice step wide
    # always holds frequencies, so no bin is empty. bins == "DC or beyond Nyquist", dropped.
    idx = np.ceil(r / 0.5 * bins - 1e-9).astype(np.int64) - 1
    idx[(idx < 0) | (idx >= bins)] = bins
    out: np.ndarray = idx
    return out


def radial_spectra(grey: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised radial power spectra of square grey patches.

    Args:
        grey: `(N, S, S) float32` patches, any range.
        bins: radial bins over (0, 0.5] cycles/pixel.

    Returns:
        `freqs` `(bins,)` bin centres in cycles/pixel, and `power` `(N, bins) float64`: mean
        power per bin of the Hann-windowed, mean-removed patch, divided by the patch's total
        power (so each row sums to about 1; all zeros for a flat patch).
    """
    n, s, _ = grey.shape
    win = np.outer(np.hanning(s), np.hanning(s))
    x = grey - grey.mean(axis=(1, 2), keepdims=True)
    p = np.abs(np.fft.fft2(x * win)) ** 2
    idx = _radial_index(s, bins).ravel()
    counts = np.bincount(idx, minlength=bins + 1)[:bins].astype(np.float64)
    power = np.zeros((n, bins))
    flat = p.reshape(n, -1)
    for b in range(bins):
        power[:, b] = flat[:, idx == b].sum(axis=1) / counts[b]
    total = power.sum(axis=1, keepdims=True)
    power = np.divide(power, total, out=np.zeros_like(power), where=total > 0)
    freqs = (np.arange(bins) + 0.5) * 0.5 / bins  # bin centres
    return freqs, power


def patch_features(patches: np.ndarray, *, spectrum_bins: int = 16) -> np.ndarray:
    """Hand-made appearance features of square patches (see the module docstring).

    Args:
        patches: `(N, S, S, 3) uint8` RGB patches, S divisible by 4.
        spectrum_bins: radial spectrum bins.

    Returns:
        `(N, D) float32` features; D = HOG length + 6 + spectrum_bins + 1; the last
        `6 + spectrum_bins + 1` columns are the look features.
    """
    from skimage.feature import hog

    s = patches.shape[1]
    grey = (patches.astype(np.float32) / 255.0) @ GREY_WEIGHTS
    cell = s // 4
    hogs = np.stack([hog(g, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
                         block_norm="L2-Hys", feature_vector=True) for g in grey])
    return np.concatenate([hogs, look_features(patches, spectrum_bins=spectrum_bins)],
                          axis=1).astype(np.float32)


def look_features(patches: np.ndarray, *, spectrum_bins: int = 16) -> np.ndarray:
    """The look features of `patch_features` alone (no HOG): what a camera changes.

    Args:
        patches: `(N, S, S, 3) uint8` RGB patches.
        spectrum_bins: radial spectrum bins.

    Returns:
        `(N, 6 + spectrum_bins + 1) float32`: per-channel mean and standard deviation, the
        normalised log radial power spectrum and the log mean gradient energy.
    """
    x = patches.astype(np.float32) / 255.0
    grey = x @ GREY_WEIGHTS
    moments = np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=1)
    _, power = radial_spectra(grey, spectrum_bins)
    logp = np.log10(power + 1e-8)
    gy, gx = np.gradient(grey, axis=(1, 2))
    grad = np.log10((gx ** 2 + gy ** 2).mean(axis=(1, 2)) + 1e-8)[:, None]
    return np.concatenate([moments, logp, grad], axis=1).astype(np.float32)


def wasserstein_1d(p: np.ndarray, q: np.ndarray) -> float:
    """1-Wasserstein distance between two histograms on the same equally spaced bins over [0, 1].

    Args:
        p, q: `(B,)` non-negative, each summing to 1.
    """
    return float(np.abs(np.cumsum(p) - np.cumsum(q)).sum() / (len(p) - 1))


def mmd2_rbf(x: np.ndarray, y: np.ndarray, *, permutations: int,
             rng: np.random.Generator, sigma: float | None = None) -> tuple[float, float, float]:
    """Unbiased MMD² between samples `x (m, D)` and `y (n, D)` with an RBF kernel.

    The bandwidth σ is `sigma` if given (to compare several `x` with one yardstick), else the
    median pairwise Euclidean distance of the pooled sample (`k(a, b) = exp(-|a - b|² / (2σ²))`).

    Returns:
        `(mmd2, p_value, sigma)`; `p_value` is the fraction of label permutations whose MMD² is
        at least the observed one (with the usual +1 correction), NaN when `permutations == 0`.
    """
    z = np.concatenate([x, y]).astype(np.float64)
    m, n = len(x), len(y)
    sq = (z * z).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    iu = np.triu_indices(len(z), 1)
    if sigma is not None:
        if not (np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: expected a finite bandwidth > 0, got {sigma}")
        sigma2 = float(sigma) ** 2
    else:
        med = float(np.median(d2[iu]))
        sigma2 = med if med > 0 else 1.0
    k = np.exp(-d2 / (2.0 * sigma2))
    np.fill_diagonal(k, 0.0)

    def stat(labels: np.ndarray) -> np.ndarray:
        u = labels.astype(np.float64)            # (N, P) 1 for "x"
        v = 1.0 - u
        ku, kv = k @ u, k @ v
        xx = (u * ku).sum(0) / (m * (m - 1))
        yy = (v * kv).sum(0) / (n * (n - 1))
        xy = (u * kv).sum(0) / (m * n)
        mmd2: np.ndarray = xx + yy - 2.0 * xy
        return mmd2

    base = np.zeros((m + n, 1))
    base[:m] = 1
    observed = float(stat(base)[0])
    if permutations == 0:
        return observed, float("nan"), float(np.sqrt(sigma2))
    perms = np.zeros((m + n, permutations))
    for j in range(permutations):
        perms[rng.permutation(m + n)[:m], j] = 1
    null = stat(perms)
    p = float((1 + np.sum(null >= observed)) / (1 + permutations))
    return observed, p, float(np.sqrt(sigma2))


def domain_classifier(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                      folds: int, c: float, rng: np.random.Generator
                      ) -> tuple[list[float], np.ndarray, int]:
    """Cross-validated logistic-regression domain classifier.

    Args:
        features: `(N, D)` patch features.
        labels: `(N,)` 1 = real, 0 = synthetic.
        groups: `(N,)` image ids, unique across both sets; a group never spans train and test.
        folds: requested folds (capped by the smaller set's image count).
        c: inverse L2 regularisation strength.
        rng: source of the fold shuffling.

    Returns:
        Per-fold balanced accuracies, out-of-fold probabilities of "real" `(N,)`, and the
        number of folds used.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_groups = min(len(np.unique(groups[labels == 0])), len(np.unique(groups[labels == 1])))
    k = min(folds, n_groups)
    if k < 2:
        raise ValueError("domain classifier: each set needs at least 2 images for "
                         f"cross-validation, got {n_groups}")
    split = StratifiedGroupKFold(n_splits=k, shuffle=True,
                                 random_state=int(rng.integers(2**31 - 1)))
    scores = np.zeros(len(labels))
    accs = []
    for train, test in split.split(features, labels, groups):
        clf = make_pipeline(StandardScaler(),
                            LogisticRegression(C=c, max_iter=5000, class_weight="balanced"))
        clf.fit(features[train], labels[train])
        scores[test] = clf.predict_proba(features[test])[:, 1]
        accs.append(float(balanced_accuracy_score(labels[test], scores[test] > 0.5)))
    return accs, scores, k


def measure_gap(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
                rng: np.random.Generator, config: GapConfig | None = None) -> GapReport:
    """Measure the gap between synthetic and real images (see the module docstring).

    Args:
        synthetic: `(H, W, 3) uint8` RGB renders (sizes may differ), at least 2.
        real: `(H, W, 3) uint8` RGB photos (sizes may differ), at least 2.
        rng: source of every random choice (image subsets, patch positions, folds,
            permutations); equal seeds give equal reports.
        config: measurement settings (defaults: `GapConfig()`).

    Returns:
        The report.
    """
    config = config or GapConfig()
    synthetic = as_images(synthetic, name="synthetic")
    real = as_images(real, name="real")
    for name, imgs in (("synthetic", synthetic), ("real", real)):
        if len(imgs) < 2:
            raise ValueError(f"{name}: the gap needs at least 2 images per set, got {len(imgs)}")
    synthetic = _at_most(synthetic, config.max_images, rng)
    real = _at_most(real, config.max_images, rng)

    ps, gs = sample_patches(synthetic, patch_size=config.patch_size,
                            per_image=config.patches_per_image, rng=rng)
    pr, gr = sample_patches(real, patch_size=config.patch_size,
                            per_image=config.patches_per_image, rng=rng)
    fs = patch_features(ps, spectrum_bins=config.spectrum_bins)
    fr = patch_features(pr, spectrum_bins=config.spectrum_bins)
    feats = np.concatenate([fs, fr])
    labels = np.concatenate([np.zeros(len(fs), np.int64), np.ones(len(fr), np.int64)])
    groups = np.concatenate([gs, gr + len(synthetic)])
    fold_seed = int(rng.integers(2**63 - 1))
    accs, scores, k = domain_classifier(feats, labels, groups, folds=config.folds,
                                        c=config.classifier_c,
                                        rng=np.random.default_rng(fold_seed))
    n_look = 6 + config.spectrum_bins + 1
    accs_look, _, _ = domain_classifier(feats[:, -n_look:], labels, groups, folds=config.folds,
                                        c=config.classifier_c,
                                        rng=np.random.default_rng(fold_seed))

    mmd2, p_value, sigma = _standardised_mmd(fs, fr, config, rng)

    hs, hr = channel_histograms(synthetic), channel_histograms(real)
    per_channel = [wasserstein_1d(hs[c], hr[c]) for c in range(3)]

    freqs, ls, lr = _mean_log_spectra(ps, pr, config.spectrum_bins)
    spectrum_distance = float(np.sqrt(np.mean((ls - lr) ** 2)))

    curves = {
        "histogram": {"synthetic": hs.tolist(), "real": hr.tolist()},
        "spectrum": {"frequency": freqs.tolist(), "synthetic": ls.tolist(), "real": lr.tolist()},
        "scores": {"synthetic": scores[labels == 0].tolist(),
                   "real": scores[labels == 1].tolist()},
    }
    cfg = asdict(config)
    cfg["mmd_sigma"] = sigma
    extra = intervals_and_verdict(synthetic, real, scores, labels, groups, rng=rng,
                                  bootstrap=config.bootstrap, min_photos=config.min_photos)
    return GapReport(
        domain_accuracy=float(np.mean(accs)), domain_accuracy_std=float(np.std(accs)),
        domain_accuracy_look=float(np.mean(accs_look)),
        domain_accuracy_look_std=float(np.std(accs_look)),
        mmd2=mmd2, mmd2_p_value=p_value,
        histogram_distance=float(np.mean(per_channel)),
        histogram_distance_per_channel=per_channel,
        spectrum_distance=spectrum_distance,
        n_synthetic=len(synthetic), n_real=len(real),
        n_patches_synthetic=len(fs), n_patches_real=len(fr), folds=k,
        curves=curves, config=cfg, **extra)


def _at_most(images: list[np.ndarray], n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`images`, or `n` of them drawn without replacement (kept in order) when there are more."""
    if len(images) <= n:
        return images
    return [images[i] for i in np.sort(rng.choice(len(images), n, replace=False))]


def _standardised_mmd(fs: np.ndarray, fr: np.ndarray, config: GapConfig,
                      rng: np.random.Generator) -> tuple[float, float, float]:
    """`mmd2_rbf` of the `(n, d)` synthetic and real patch features, standardised with their
    pooled mean and standard deviation, each set subsampled to `config.mmd_max_samples`."""
    feats = np.concatenate([fs, fr])
    mu, sd = feats.mean(0), feats.std(0)
    sd[sd == 0] = 1.0
    zs, zr = (fs - mu) / sd, (fr - mu) / sd
    if len(zs) > config.mmd_max_samples:
        zs = zs[rng.choice(len(zs), config.mmd_max_samples, replace=False)]
    if len(zr) > config.mmd_max_samples:
        zr = zr[rng.choice(len(zr), config.mmd_max_samples, replace=False)]
    return mmd2_rbf(zs, zr, permutations=config.mmd_permutations, rng=rng)


def _mean_log_spectra(ps: np.ndarray, pr: np.ndarray,
                      bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(bins,)` frequencies (cycles/pixel) and the log10 mean radial power spectra of the
    `(n, p, p, 3) uint8` synthetic and real patches (grey)."""
    freqs, pws = radial_spectra(ps.astype(np.float32) @ GREY_WEIGHTS, bins)
    _, pwr = radial_spectra(pr.astype(np.float32) @ GREY_WEIGHTS, bins)
    return freqs, np.log10(pws.mean(0) + 1e-12), np.log10(pwr.mean(0) + 1e-12)


def real_null(real: Sequence[np.ndarray], *, rng: np.random.Generator,
              config: GapConfig | None = None) -> GapReport:
    """The real-vs-real reference: the gap between two disjoint halves of the real photos
    (alternating in the given order), measured exactly like `measure_gap`.

    A domain accuracy near 0.5 says the metric cannot tell photos of this camera apart, so a
    synthetic set's distance above this null is the synthetic gap; a null well above 0.5 says
    the photos differ among themselves (content, lighting) and the metric's other numbers must
    be read against it.

    Raises:
        ValueError: fewer than 4 photos (2 per half).
    """
    real = as_images(real, name="real")
    if len(real) < 4:
        raise ValueError(f"real: the real-vs-real null needs at least 4 photos (2 per half), "
                         f"got {len(real)}")
    return measure_gap(real[0::2], real[1::2], rng=rng, config=config)


def write_report(path: Path, reports: dict[str, GapReport], *, real: str,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write `{"real": ..., "synthetic": {name: full report}, ...extra}` as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"real": real, "synthetic": {k: v.to_dict() for k, v in reports.items()},
            **(extra or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
    return path
