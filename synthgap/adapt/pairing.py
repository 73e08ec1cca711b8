"""Pairing strategies: which real sample is the target of each synthetic sample.

SMCAE's synthetic channel learns synthetic → *paired* real. These pure functions return index
pairs; `take_pairs` turns them into the row-aligned `(synthetic, real)` arrays that
`Smcae.fit` expects.

- `aligned_pairs`: row i ↔ row i (e.g. a render and a photo of the same part at the same pose,
  or a sketch and a photo of the same person).
- `class_pairs`: each synthetic sample ↔ a uniformly random real sample of the same label.
- `nearest_pairs`: each synthetic sample ↔ one of its k nearest real samples by Euclidean
  distance in a descriptor space the caller chooses (raw features, CORAL-aligned features,
  grey thumbnails, ...): unpaired data.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Pairs", "aligned_pairs", "class_pairs", "nearest_pairs", "take_pairs"]


class Pairs(NamedTuple):
    """Index pairs: synthetic row `syn_index[j]` is paired with real row `real_index[j]`.

    Both are `(m,)` int64 arrays.
    """

    syn_index: np.ndarray
    real_index: np.ndarray


def aligned_pairs(n_syn: int, n_real: int) -> Pairs:
    """Row i ↔ row i. Deterministic (no randomness needed).

    Raises:
        ValueError: the counts differ or are not positive.
    """
    if n_syn != n_real or n_syn < 1:
        raise ValueError(f"aligned_pairs: needs as many synthetic as real rows (≥ 1), got "
                         f"{n_syn} synthetic and {n_real} real; use class or nearest pairing "
                         "for data that is not row-aligned")
    idx = np.arange(n_syn, dtype=np.int64)
    return Pairs(idx, idx.copy())


def class_pairs(syn_labels: Any, real_labels: Any, *, rng: np.random.Generator) -> Pairs:
    """Each synthetic sample ↔ a uniformly random real sample with the same label.

    Args:
        syn_labels: `(n_syn,)` labels (any hashable dtype: ints or strings).
        real_labels: `(n_real,)` labels.
        rng: draws the real partner of each synthetic sample.

    Returns:
        `Pairs` with `syn_index = arange(n_syn)`.

    Raises:
        ValueError: not 1-D, or a synthetic label that no real sample has (named).
    """
    s, r = np.asarray(syn_labels), np.asarray(real_labels)
    if s.ndim != 1 or r.ndim != 1 or len(s) == 0 or len(r) == 0:
        raise ValueError(f"class_pairs: labels must be non-empty 1-D arrays, got shapes "
                         f"{s.shape} and {r.shape}")
    real_idx = np.empty(len(s), dtype=np.int64)
    for label in np.unique(s):
        pool = np.flatnonzero(r == label)
        if len(pool) == 0:
            raise ValueError(f"class_pairs: synthetic label {label.item()!r} has no real "
                             "sample; add real samples of that class or drop those synthetic "
                             "samples")
        where = np.flatnonzero(s == label)
        real_idx[where] = pool[rng.integers(0, len(pool), size=len(where))]
    return Pairs(np.arange(len(s), dtype=np.int64), real_idx)


def nearest_pairs(syn_desc: Any, real_desc: Any, *, k: int = 1, rng: np.random.Generator,
                  chunk: int = 1024) -> Pairs:
    """Each synthetic sample ↔ one of its `k` nearest real samples (uniformly at random).

    Args:
        syn_desc: `(n_syn, f)` descriptors of the synthetic samples.
        real_desc: `(n_real, f)` descriptors of the real samples, same space.
        k: candidates per synthetic sample (1 = the nearest; ties go to the lower index).
        rng: picks among the k candidates.
        chunk: synthetic rows per distance block (memory: chunk × n_real floats).

    Returns:
        `Pairs` with `syn_index = arange(n_syn)`.
    """
    s = np.asarray(syn_desc, dtype=np.float64)
    r = np.asarray(real_desc, dtype=np.float64)
    if s.ndim != 2 or r.ndim != 2 or s.shape[1] != r.shape[1] or not len(s) or not len(r):
        raise ValueError(f"nearest_pairs: descriptors must be non-empty (n, f) arrays with the "
                         f"same f, got {s.shape} and {r.shape}")
    if not 1 <= k <= len(r):
        raise ValueError(f"nearest_pairs: k must be in [1, n_real={len(r)}], got {k}")
    rr = (r ** 2).sum(axis=1)
    out = np.empty(len(s), dtype=np.int64)
    for start in range(0, len(s), chunk):
        block = s[start:start + chunk]
        dist = rr[None, :] - 2.0 * block @ r.T  # + |s|², constant per row
        cand = np.argsort(dist, axis=1, kind="stable")[:, :k]
        pick = rng.integers(0, k, size=len(block)) if k > 1 else np.zeros(len(block), int)
        out[start:start + len(block)] = cand[np.arange(len(block)), pick]
    return Pairs(np.arange(len(s), dtype=np.int64), out)


def take_pairs(pairs: Pairs, synthetic: Any, real: Any) -> tuple[np.ndarray, np.ndarray]:
    """`(synthetic[syn_index], real[real_index])`: row-aligned arrays for `Smcae.fit`."""
    s, r = np.asarray(synthetic), np.asarray(real)
    if len(pairs.syn_index) and (pairs.syn_index.max() >= len(s)
                                 or pairs.real_index.max() >= len(r)):
        raise ValueError(f"take_pairs: pair indices exceed the data ({len(s)} synthetic, "
                         f"{len(r)} real rows)")
    return s[pairs.syn_index], r[pairs.real_index]
