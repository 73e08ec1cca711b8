"""Histogram matching, fitted once: a per-channel lookup table from renders to real photos.

`fit` pools the per-channel intensity histograms of all renders and of all real photos (each
image weighted equally) and builds, per channel, the monotone table that maps the render CDF
onto the real CDF (classic histogram specification). `transform` is one table lookup per pixel.
Unlike albumentations' `HistogramMatching`, which matches each image to a randomly drawn
reference at augmentation time, this is deterministic and its state is 3×256 bytes.
When every real photo is grey, renders are turned grey first and matched to the grey CDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np

from synthgap.adapt.image_base import (
    ImageAdapter,
    fit_images,
    grey_rgb,
    register,
    require_tensors,
)
from synthgap.data.images import channel_histograms

__all__ = ["HistogramMatch", "match_lut"]


def match_lut(source_hist: np.ndarray, target_hist: np.ndarray) -> np.ndarray:
    """The lookup table that maps a source intensity distribution onto a target one.

    Args:
        source_hist, target_hist: `(256,)` non-negative histograms (any scale).

    Returns:
        `(256,) uint8`: for each source level v, the smallest target level whose CDF reaches
        the source's *mid-rank* CDF at v, `(CDF(v-1) + CDF(v)) / 2` (monotone non-decreasing;
        the mid-rank keeps a level that holds much of the mass, e.g. a flat render background,
        at the middle of its target range instead of its top).
    """
    src = np.asarray(source_hist, np.float64) / max(float(np.sum(source_hist)), 1e-12)
    cs = np.cumsum(src) - src / 2
    ct = np.cumsum(target_hist) / max(float(np.sum(target_hist)), 1e-12)
    lut = np.searchsorted(ct, cs - 1e-9, side="left")
    return np.clip(lut, 0, 255).astype(np.uint8)


@register
class HistogramMatch(ImageAdapter):
    """Per-channel histogram specification from pooled render histograms to pooled real ones."""

    method: ClassVar[str] = "histogram"

    def __init__(self) -> None:
        self.lut: np.ndarray | None = None
        self.grey = False

    @property
    def fitted(self) -> bool:
        return self.lut is not None

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator) -> Self:
        synthetic, real, self.grey = fit_images(synthetic, real)
        hs, hr = channel_histograms(synthetic), channel_histograms(real)
        self.lut = np.stack([match_lut(hs[c], hr[c]) for c in range(3)])
        return self

    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        if self.grey:
            image = grey_rgb(image)
        out = np.empty_like(image)
        lut = self._fitted_value(self.lut)
        for c in range(3):
            out[..., c] = lut[c][image[..., c]]
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"lut": self._fitted_value(self.lut)}, {"grey": self.grey}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        require_tensors(tensors, ["lut"], cls.method)
        lut = np.asarray(tensors["lut"])
        if lut.shape != (3, 256) or lut.dtype != np.uint8:
            raise ValueError(f"lut: expected (3, 256) uint8, got {lut.shape} {lut.dtype}")
        self = cls()
        self.lut, self.grey = lut, bool(config.get("grey", False))
        return self
