"""Aggregation and intervals: seeds (mean, std with ddof 1), a paired bootstrap over test
photos for differences between rows, and Spearman rank correlations over chosen rows.

Accuracies are pooled over crops: a row's accuracy under one seed is (correct crops) / (crops)
over every tested photo. Per-photo counts (`correct[seed, photo]`, `total[photo]`) are kept so
that two rows tested on the same photos can be compared photo by photo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Difference", "SeedSummary", "iou_per_class", "mean_iou", "paired_bootstrap",
           "paired_miou_bootstrap", "seed_summary", "spearman", "spearman_rows"]


@dataclass(frozen=True)
class SeedSummary:
    """Mean and spread of one row over training seeds.

    Attributes:
        mean: mean accuracy over seeds.
        std: sample standard deviation over seeds (ddof 1; NaN with one seed).
        seeds: the per-seed accuracies.
    """

    mean: float
    std: float
    seeds: tuple[float, ...]


def seed_summary(correct: np.ndarray, total: np.ndarray) -> SeedSummary:
    """Pooled accuracy per seed, then mean and std (ddof 1) over seeds.

    Args:
        correct: `(S, P)` correct crops per seed and test photo.
        total: `(P,)` crops per test photo.

    Returns:
        The summary.

    Raises:
        ValueError: no crop at all, or a non-finite accuracy.
    """
    n = float(np.sum(total))
    if n <= 0:
        raise ValueError("no test crops: nothing to score")
    accs = np.asarray(correct, float).sum(axis=1) / n
    if not np.all(np.isfinite(accs)):
        raise ValueError("non-finite accuracy")
    std = float(np.std(accs, ddof=1)) if len(accs) > 1 else math.nan
    return SeedSummary(mean=float(accs.mean()), std=std, seeds=tuple(float(a) for a in accs))


@dataclass(frozen=True)
class Difference:
    """A paired difference of two rows (a − b) with its bootstrap interval.

    Attributes:
        diff: difference of the seed-mean pooled accuracies.
        lo, hi: 95 % percentile interval of the bootstrap.
        significant: the interval excludes 0.
    """

    diff: float
    lo: float
    hi: float

    @property
    def significant(self) -> bool:
        """True when the 95 % interval does not contain 0."""
        return self.lo > 0 or self.hi < 0


def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, total: np.ndarray, *,
                     rng: np.random.Generator, n_boot: int = 2000) -> Difference:
    """Paired bootstrap of accuracy(a) − accuracy(b) over test photos and seeds.

    Each draw resamples the test photos with replacement (the same photos for both rows:
    paired) and, independently per row, the seeds, so both the photo sample and the training
    (and adapter) randomness are in the interval.

    Args:
        correct_a: `(Sa, P)` correct crops of row a per seed and photo.
        correct_b: `(Sb, P)` the same for row b, on the same photos.
        total: `(P,)` crops per photo.
        rng: random source.
        n_boot: bootstrap draws.

    Returns:
        The difference and its 95 % interval.
    """
    a = np.asarray(correct_a, float)
    b = np.asarray(correct_b, float)
    t = np.asarray(total, float)
    if a.shape[1] != len(t) or b.shape[1] != len(t):
        raise ValueError(f"photo counts differ: {a.shape}, {b.shape}, {t.shape}")
    diff = float(a.mean(0).sum() / t.sum() - b.mean(0).sum() / t.sum())
    p = len(t)
    photos = rng.integers(0, p, size=(n_boot, p))
    sa = rng.integers(0, len(a), size=(n_boot, len(a)))
    sb = rng.integers(0, len(b), size=(n_boot, len(b)))
    draws = np.empty(n_boot)
    for i in range(n_boot):
        tt = t[photos[i]].sum()
        if tt <= 0:
            draws[i] = 0.0
            continue
        ma = a[sa[i]][:, photos[i]].mean(0).sum() / tt
        mb = b[sb[i]][:, photos[i]].mean(0).sum() / tt
        draws[i] = ma - mb
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return Difference(diff=diff, lo=float(lo), hi=float(hi))


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """IoU of each class from a `(K, K)` confusion matrix (NaN for a class absent from both)."""
    inter = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def mean_iou(conf: np.ndarray) -> float:
    """Mean IoU over the classes present (in the truth or the prediction) of a `(K, K)`
    confusion matrix (rows truth, columns prediction); NaN when no pixel was scored."""
    iou = iou_per_class(np.asarray(conf))
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan


def paired_miou_bootstrap(conf_a: np.ndarray, conf_b: np.ndarray, *,
                          rng: np.random.Generator, n_boot: int = 2000) -> Difference:
    """Paired bootstrap of mIoU(a) − mIoU(b) over test photos (segmentation rows).

    Each draw resamples the photos with replacement (the same photos for both rows), sums
    their confusion matrices and takes the difference of the two mean IoUs. Only the photo
    sample is in the interval: one U-Net per row (its training seed's spread is not).

    Args:
        conf_a: `(P, K, K)` confusion matrices of row a, one per test photo.
        conf_b: `(P, K, K)` the same for row b, on the same photos.
        rng: random source.
        n_boot: bootstrap draws.

    Returns:
        The difference and its 95 % interval.

    Raises:
        ValueError: shapes differ, or no pixel was scored.
    """
    a = np.asarray(conf_a, np.int64)
    b = np.asarray(conf_b, np.int64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"confusion matrices differ in shape or are not (P, K, K): "
                         f"{a.shape}, {b.shape}")
    diff = mean_iou(a.sum(0)) - mean_iou(b.sum(0))
    if not math.isfinite(diff):
        raise ValueError("no scored pixel: nothing to compare")
    photos = rng.integers(0, len(a), size=(n_boot, len(a)))
    draws = np.array([mean_iou(a[i].sum(0)) - mean_iou(b[i].sum(0)) for i in photos])
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return Difference(diff=float(diff), lo=float(lo), hi=float(hi))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (NaN with fewer than 3)."""
    if len(x) < 3 or len(x) != len(y):
        return math.nan
    from scipy.stats import spearmanr

    with np.errstate(invalid="ignore", divide="ignore"):
        rho = float(spearmanr(x, y).statistic)
    return rho


def spearman_rows(gap: Mapping[str, float], accuracy: Mapping[str, float],
                  synthetic: Sequence[str], real: Sequence[str]) -> dict[str, float]:
    """Rank correlation of (−gap) with accuracy, lower gap = higher accuracy is +1.

    Args:
        gap: gap value per row (e.g. domain-classifier accuracy; lower = closer to real).
        accuracy: accuracy per row.
        synthetic: the synthetic-only rows (renders and every adapted set, chains included).
        real: rows that use real photos (real-only, `+real`, upper).

    Returns:
        `{"synthetic": rho over the synthetic rows, "with_real": rho over both}`.
    """
    def rho(rows: Sequence[str]) -> float:
        rows = [r for r in rows if r in gap and r in accuracy]
        return spearman([-gap[r] for r in rows], [accuracy[r] for r in rows])

    return {"synthetic": rho(list(synthetic)), "with_real": rho([*synthetic, *real])}
