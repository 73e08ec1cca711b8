"""Folds over photos: leave-photos-out, never two neighbouring frames on both sides.

Photos of a video-like sequence (consecutive image ids of one scene) are near-duplicates of
their neighbours; a fold that interleaves them (every other frame) tests on frames it has
practically trained on. `photo_folds` splits each sequence into contiguous blocks instead and
leaves `buffer` frames next to a test block out of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "photo_folds"]


@dataclass(frozen=True)
class Fold:
    """One fold: indices (into the photo list) to train on and to test on."""

    train: tuple[int, ...]
    test: tuple[int, ...]


def photo_folds(groups: Sequence[str], orders: Sequence[int], k: int, *,
                buffer: int = 1) -> list[Fold]:
    """`k` leave-photos-out folds of contiguous blocks in (group, order) order.

    Args:
        groups: scene / sequence name per photo.
        orders: frame number (image id) per photo within its group.
        k: number of folds (2 <= k <= number of photos).
        buffer: photos of the same group on either side of a test block that no training
            set of that fold may use (0 = none).

    Returns:
        `k` folds; every photo is tested in exactly one; a fold's training photos never
        include its test photos or their `buffer` neighbours in the same group.

    Raises:
        ValueError: k out of range or lengths differ.
    """
    n = len(groups)
    if len(orders) != n:
        raise ValueError("groups and orders differ in length")
    if not 2 <= k <= n:
        raise ValueError(f"folds must be between 2 and the number of photos ({n}), got {k}")
    sequence = sorted(range(n), key=lambda i: (groups[i], orders[i]))
    blocks = np.array_split(np.arange(n), k)
    folds = []
    for block in blocks:
        test = {sequence[j] for j in block}
        banned = set(test)
        for j in block:
            for d in range(1, buffer + 1):
                for jj in (j - d, j + d):
                    if 0 <= jj < n and groups[sequence[jj]] == groups[sequence[j]]:
                        banned.add(sequence[jj])
        train = tuple(i for i in range(n) if i not in banned)
        folds.append(Fold(train=train, test=tuple(sorted(test))))
    return folds
