"""Train/val/test splits: parsed from `0.8,0.1,0.1`, assigned per image from (seed, index).

Each image draws one number `u = default_rng([seed, index]).random()` and lands in `train` when
`u < train`, in `val` when `u < train + val`, else in `test`. The split of an image therefore
depends only on the seed, the ratios and its own index: rendering more images into a dataset
(an append) never moves an existing image to another split, so a model trained on an earlier
export never sees its validation images in a later training set. The price: per-split counts
follow the ratios only on average (binomially), not exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

#: Split names, in order.
SPLITS: tuple[str, str, str] = ("train", "val", "test")


@dataclass(frozen=True)
class SplitRatios:
    """Fractions of images per split; non-negative and summing to 1.

    Attributes:
        train: fraction for training.
        val: fraction for validation.
        test: fraction for testing.
    """

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        values = (self.train, self.val, self.test)
        for name, v in zip(SPLITS, values, strict=True):
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"split ratio {name}: expected a number >= 0, got {v!r}")
        total = sum(values)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1, got {self.train:g} + {self.val:g} + "
                             f"{self.test:g} = {total:g}; e.g. 0.8,0.1,0.1")

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.train, self.val, self.test)


def parse_split(text: str) -> SplitRatios:
    """Parse `"0.8,0.1,0.1"` (train,val,test) or `"0.9,0.1"` (train,val; no test).

    Raises:
        ValueError: not 2 or 3 comma-separated numbers >= 0 summing to 1 (the message says which).
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (2, 3):
        raise ValueError(f"split {text!r}: expected 2 or 3 comma-separated fractions "
                         "(train,val[,test]), e.g. 0.8,0.1,0.1")
    values = []
    for name, p in zip(SPLITS, parts, strict=False):
        try:
            values.append(float(p))
        except ValueError:
            raise ValueError(f"split {text!r}: {name} fraction {p!r} is not a number; "
                             "e.g. 0.8,0.1,0.1") from None
    if len(values) == 2:
        values.append(0.0)
    return SplitRatios(*values)


def split_of(index: int, ratios: SplitRatios, *, seed: int) -> str:
    """The split (`train`, `val` or `test`) of image `index` under `ratios` and `seed`."""
    u = np.random.default_rng([int(seed), int(index)]).random()
    if u < ratios.train:
        return "train"
    if u < ratios.train + ratios.val:
        return "val"
    return "test" if ratios.test > 0 else ("val" if ratios.val > 0 else "train")


def assign_splits(indices: Iterable[int], ratios: SplitRatios, *, seed: int) -> dict[int, str]:
    """Split of every image index: disjoint, covering all of `indices`, a pure function of
    (index, ratios, seed)."""
    return {int(i): split_of(int(i), ratios, seed=seed) for i in indices}


class SplitMap(Mapping[int, str]):
    """`assign_splits` without the dict: the split of an image is computed when asked for
    (`split_of`), so a 100k-image export holds no 100k-entry mapping.

    Args:
        indices: the image indices (iteration order; kept by reference, not copied).
        ratios: the split ratios.
        seed: the split seed.
    """

    def __init__(self, indices: np.ndarray, ratios: SplitRatios, *, seed: int) -> None:
        self._indices = indices
        self._ratios = ratios
        self._seed = int(seed)

    def __getitem__(self, index: int) -> str:
        return split_of(int(index), self._ratios, seed=self._seed)

    def __iter__(self) -> Iterator[int]:
        return (int(i) for i in self._indices)

    def __len__(self) -> int:
        return len(self._indices)
