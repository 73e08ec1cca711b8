"""Intervals over photos and the verdict of a gap measurement.

Every interval is a percentile bootstrap **over images**: each resample draws the synthetic
images and the real photos with replacement (each set on its own) and recomputes the number
from what was already measured (the classifier's out-of-fold scores of the drawn images'
patches; the drawn images' structure aspects). It shows how much the number moves with *which*
photos were taken; it does not refit the classifier, so it is a lower bound on the full
uncertainty. With 2 photos every resample holds at most 2 distinct ones: the interval is wide,
and the verdict says so.

The verdict, for a set against real photos (`verdict`):

* `cannot tell with N photos` — fewer than `min_photos` photos, or the intervals are too wide
  to say either of the two below;
* `told apart` — the domain classifier's AUC interval lies above `0.5 + AUC_MARGIN`, or the
  structure distance's interval lies above `STRUCTURE_FAR` (real spreads);
* `close` — the AUC interval lies below `0.5 + AUC_CLOSE` and the structure distance's below
  `STRUCTURE_FAR`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgap.gap.structure import ASPECTS, aspect_distances, image_structure, real_spread

__all__ = ["AUC_CLOSE", "AUC_MARGIN", "STRUCTURE_FAR", "auc", "bootstrap_classifier",
           "bootstrap_structure", "intervals_and_verdict", "verdict"]

#: The AUC interval must lie above 0.5 + this for "told apart".
AUC_MARGIN = 0.1
#: ... and below 0.5 + this (with the structure interval below STRUCTURE_FAR) for "close".
AUC_CLOSE = 0.2
#: Structure distance (real standard deviations) beyond which a set is visibly different.
STRUCTURE_FAR = 4.0


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for `labels` (1 = positive), ties counted half.

    Args:
        scores: `(N,)` scores, higher = more positive.
        labels: `(N,)` 0/1, both present.
    """
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("auc: expected both labels among the scores")
    both = np.concatenate([pos, neg])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    # average ranks of ties
    sorted_vals = both[order]
    _, start, count = np.unique(sorted_vals, return_index=True, return_counts=True)
    for s, c in zip(start, count, strict=True):
        if c > 1:
            ranks[order[s:s + c]] = s + (c + 1) / 2.0
    r = ranks[:len(pos)].sum()
    return float((r - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def _members(groups: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(groups == g) for g in np.unique(groups)]


def bootstrap_classifier(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                         n: int, rng: np.random.Generator
                         ) -> tuple[list[float], list[float]]:
    """95 % bootstrap intervals over images of the balanced accuracy and the AUC.

    Args:
        scores: `(P,)` out-of-fold probabilities of "real" per patch.
        labels: `(P,)` 1 = real, 0 = synthetic.
        groups: `(P,)` image ids, unique across both sets.
        n: resamples (>= 1).
        rng: source of the resamples.

    Returns:
        `([lo, hi] balanced accuracy, [lo, hi] AUC)`.
    """
    syn = _members(groups[labels == 0])
    real = _members(groups[labels == 1])
    idx_s, idx_r = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    accs, aucs = np.empty(n), np.empty(n)
    for b in range(n):
        ps = np.concatenate([idx_s[syn[i]] for i in rng.integers(0, len(syn), len(syn))])
        pr = np.concatenate([idx_r[real[i]] for i in rng.integers(0, len(real), len(real))])
        s, r = scores[ps], scores[pr]
        accs[b] = 0.5 * (np.mean(s <= 0.5) + np.mean(r > 0.5))
        aucs[b] = auc(np.concatenate([s, r]),
                      np.concatenate([np.zeros(len(s), np.int64), np.ones(len(r), np.int64)]))
    return _interval(accs), _interval(aucs)


def bootstrap_structure(synthetic: np.ndarray, real: np.ndarray, *, n: int,
                        rng: np.random.Generator) -> list[float]:
    """95 % bootstrap interval over images of the structure distance (largest aspect distance).

    The unit (the real photos' spread) stays the one of all photos: resampling repeats photos,
    which would shrink a resampled spread and inflate the distance.

    Args:
        synthetic: `(M, A)` aspects of the synthetic images.
        real: `(N, A)` aspects of the real photos, N >= 2.
        n: resamples (>= 1).
        rng: source of the resamples.
    """
    unit = real_spread(real)
    out = np.empty(n)
    for b in range(n):
        s = synthetic[rng.integers(0, len(synthetic), len(synthetic))]
        r = real[rng.integers(0, len(real), len(real))]
        out[b] = aspect_distances(s, r, spread=unit).max()
    return _interval(out)


def _interval(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def verdict(*, n_real: int, min_photos: int, auc_ci95: list[float],
            structure_ci95: list[float]) -> str:
    """`told apart`, `close` or `cannot tell with N photos` (see the module docstring)."""
    if n_real >= min_photos:
        if auc_ci95[0] > 0.5 + AUC_MARGIN or structure_ci95[0] > STRUCTURE_FAR:
            return "told apart"
        if auc_ci95[1] < 0.5 + AUC_CLOSE and structure_ci95[1] < STRUCTURE_FAR:
            return "close"
    return f"cannot tell with {n_real} photos"


def intervals_and_verdict(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray],
                          scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                          rng: np.random.Generator, bootstrap: int, min_photos: int
                          ) -> dict[str, Any]:
    """The `GapReport` fields from `domain_accuracy_ci95` to `verdict_reason`.

    Args:
        synthetic, real: the images measured (`(H, W, 3) uint8`).
        scores, labels, groups: the domain classifier's out-of-fold "real" probabilities per
            patch, 1 = real, and image ids (see `bootstrap_classifier`).
        rng: source of the resamples.
        bootstrap: resamples.
        min_photos: fewer real photos give "cannot tell".
    """
    acc_ci, auc_ci = bootstrap_classifier(scores, labels, groups, n=bootstrap, rng=rng)
    ss, sr = image_structure(synthetic), image_structure(real)
    dist = aspect_distances(ss, sr)
    worst = int(dist.argmax())
    st_ci = bootstrap_structure(ss, sr, n=bootstrap, rng=rng)
    n_real = len(real)
    said = verdict(n_real=n_real, min_photos=min_photos, auc_ci95=auc_ci,
                   structure_ci95=st_ci)
    if said == "told apart":
        why = (f"domain AUC {auc_ci[0]:.2f}-{auc_ci[1]:.2f}, structure distance "
               f"{st_ci[0]:.1f}-{st_ci[1]:.1f} real std. (worst aspect: {ASPECTS[worst]})")
    elif said == "close":
        why = (f"domain AUC {auc_ci[0]:.2f}-{auc_ci[1]:.2f} and structure distance "
               f"{st_ci[0]:.1f}-{st_ci[1]:.1f} real std. are both near the photos' own spread")
    elif n_real < min_photos:
        why = (f"{n_real} real photos: the verdict needs at least {min_photos}; the "
               f"intervals (AUC {auc_ci[0]:.2f}-{auc_ci[1]:.2f}) show how little they pin down")
    else:
        why = (f"the intervals are too wide to call it (AUC {auc_ci[0]:.2f}-{auc_ci[1]:.2f}, "
               f"structure {st_ci[0]:.1f}-{st_ci[1]:.1f}): add photos")
    return {"domain_accuracy_ci95": acc_ci, "domain_auc": auc(scores, labels),
            "domain_auc_ci95": auc_ci, "structure_distance": float(dist[worst]),
            "structure_distance_ci95": st_ci,
            "structure_aspects": {a: float(d) for a, d in zip(ASPECTS, dist, strict=True)},
            "structure_worst": ASPECTS[worst], "verdict": said, "verdict_reason": why}
