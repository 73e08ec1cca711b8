"""Observed values -> scene distributions: widened ranges, circular ranges, clusters.

Few photos show a few values; the fitted ranges cover every observed value and a little more
(`widen` of the observed span on each side, at least `pad`), so a render may show what the
next photo will, not only what these photos did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["circular_range", "cluster_directions", "count_dist", "widened_range"]


def widened_range(values: Sequence[float], *, widen: float = 0.1, pad: float = 0.0,
                  low: float = -math.inf, high: float = math.inf) -> tuple[float, float]:
    """`[min - w, max + w]` with `w = max(widen * (max - min), pad)`, clipped to
    `[low, high]`.

    Raises:
        ValueError: no values, or a non-finite value.
    """
    v = np.asarray(values, float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"expected finite observed values, got {list(values)[:5]}")
    lo, hi = float(v.min()), float(v.max())
    w = max(widen * (hi - lo), pad)
    return max(lo - w, low), min(hi + w, high)


def circular_range(degrees: Sequence[float], *, widen: float = 0.1, pad: float = 5.0,
                   full: float = 330.0) -> tuple[float, float]:
    """The shortest arc `[lo, hi]` (degrees, `lo` in [-180, 360), `hi > lo`) that holds
    every angle, widened as `widened_range`; `(0, 360)` when it would span `full` or more.

    Raises:
        ValueError: no angles, or a non-finite one.
    """
    a = np.sort(np.mod(np.asarray(degrees, float), 360.0))
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"expected finite observed angles, got {list(degrees)[:5]}")
    gaps = np.diff(np.concatenate([a, a[:1] + 360.0]))
    k = int(np.argmax(gaps))  # the arc starts after the largest empty gap
    start = float(a[(k + 1) % a.size])
    span = 360.0 - float(gaps[k]) if a.size > 1 else 0.0
    w = max(widen * span, pad)
    if span + 2 * w >= full:
        return 0.0, 360.0
    lo = start - w
    if lo >= 180.0:
        lo -= 360.0
    return lo, lo + span + 2 * w


def cluster_directions(units: np.ndarray, *, tol_deg: float = 15.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clustering of unit vectors: each joins the first cluster whose mean is within
    `tol_deg`, else starts one; means are updated as members join.

    Args:
        units: `(n, 3)` unit vectors.

    Returns:
        `(k, 3)` unit cluster means (largest cluster first) and `(n,)` labels into them.
    """
    u = np.asarray(units, float)
    cos_tol = math.cos(math.radians(tol_deg))
    sums: list[np.ndarray] = []
    labels = np.zeros(len(u), np.int64)
    for i, v in enumerate(u):
        for k, s in enumerate(sums):
            if v @ (s / np.linalg.norm(s)) >= cos_tol:
                sums[k] = s + v
                labels[i] = k
                break
        else:
            sums.append(v.copy())
            labels[i] = len(sums) - 1
    means = np.array([s / np.linalg.norm(s) for s in sums]).reshape(-1, 3)
    order = np.argsort(-np.bincount(labels, minlength=len(sums)), kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return means[order], relabel[labels]


def count_dist(counts: Sequence[int]) -> int | dict[str, list[int]]:
    """A scene `count:` from per-photo counts: the value when all agree, else an empirical
    `{choice: [...]}` (one entry per photo, so values are drawn as often as seen)."""
    c = sorted(int(v) for v in counts)
    if not c:
        raise ValueError("no photos to count parts in")
    return c[0] if c[0] == c[-1] else {"choice": c}
