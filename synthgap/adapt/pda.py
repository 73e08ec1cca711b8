"""Pixel-distribution adaptation: match the mean and covariance of pixel colours.

`fit` samples pixels of the renders and of the real photos and fits a Gaussian (mean μ,
covariance Σ, RGB in [0, 1]) to each; `transform` applies the linear optimal-transport map
between the two Gaussians, `x -> μ_r + A (x − μ_s)` with
`A = Σ_s^{-1/2} (Σ_s^{1/2} Σ_r Σ_s^{1/2})^{1/2} Σ_s^{-1/2}`, to every pixel. This is what
albumentations' `PixelDistributionAdaptation` does per image with a random reference (it fits
a PCA/scaler to each); here the transform is fitted once from all photos, deterministic, and
free of PCA sign flips. Grey cameras give grey output.
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

__all__ = ["PixelDistributionAdaptation", "gaussian_transport"]


def _sqrtm(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    root: np.ndarray = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    return root


def gaussian_transport(cov_s: np.ndarray, cov_r: np.ndarray, *, eps: float = 1e-6) -> np.ndarray:
    """The matrix A of the optimal-transport map between N(·, Σ_s) and N(·, Σ_r).

    Args:
        cov_s, cov_r: `(d, d)` covariances; `eps·I` is added to Σ_s so flat renders work.

    Returns:
        `(d, d)` symmetric A with `A Σ_s A = Σ_r` (up to eps).
    """
    cs = cov_s + eps * np.eye(len(cov_s))
    s_half = _sqrtm(cs)
    vals, vecs = np.linalg.eigh(cs)
    s_inv_half = (vecs / np.sqrt(vals)) @ vecs.T
    a: np.ndarray = s_inv_half @ _sqrtm(s_half @ cov_r @ s_half) @ s_inv_half
    return a


def _pixels(images: Sequence[np.ndarray], per_image: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    for img in images:
        flat = img.reshape(-1, 3)
        idx = rng.choice(len(flat), min(per_image, len(flat)), replace=False)
        out.append(flat[idx])
    return np.concatenate(out).astype(np.float64) / 255.0


@register
class PixelDistributionAdaptation(ImageAdapter):
    """Linear colour transfer: renders' pixel mean/covariance -> the real photos'.

    Args:
        pixels_per_image: pixels sampled from each image to estimate the Gaussians.
    """

    method: ClassVar[str] = "pda"

    def __init__(self, pixels_per_image: int = 20000) -> None:
        if pixels_per_image < 10:
            raise ValueError(f"pixels_per_image: expected >= 10, got {pixels_per_image}")
        self.pixels_per_image = int(pixels_per_image)
        self.matrix: np.ndarray | None = None
        self.mean_synthetic: np.ndarray | None = None
        self.mean_real: np.ndarray | None = None
        self.grey = False

    @property
    def fitted(self) -> bool:
        return self.matrix is not None

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator) -> Self:
        synthetic, real, self.grey = fit_images(synthetic, real)
        xs = _pixels(synthetic, self.pixels_per_image, rng)
        xr = _pixels(real, self.pixels_per_image, rng)
        self.mean_synthetic, self.mean_real = xs.mean(0), xr.mean(0)
        self.matrix = gaussian_transport(np.cov(xs.T), np.cov(xr.T))
        return self

    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        if self.grey:
            image = grey_rgb(image)
        x = image.reshape(-1, 3).astype(np.float32) / 255.0
        mean_s, mean_r = self._fitted_value(self.mean_synthetic), self._fitted_value(self.mean_real)
        y = (x - mean_s.astype(np.float32)) @ self._fitted_value(self.matrix).T.astype(np.float32)
        y += mean_r.astype(np.float32)
        out = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8).reshape(image.shape)
        return grey_rgb(out) if self.grey else out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({"matrix": self._fitted_value(self.matrix),
                 "mean_synthetic": self._fitted_value(self.mean_synthetic),
                 "mean_real": self._fitted_value(self.mean_real)},
                {"grey": self.grey, "pixels_per_image": self.pixels_per_image})

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        require_tensors(tensors, ["matrix", "mean_synthetic", "mean_real"], cls.method)
        self = cls(pixels_per_image=int(config.get("pixels_per_image", 20000)))
        m = np.asarray(tensors["matrix"], np.float64)
        if m.shape != (3, 3):
            raise ValueError(f"matrix: expected (3, 3), got {m.shape}")
        self.matrix = m
        self.mean_synthetic = np.asarray(tensors["mean_synthetic"], np.float64).reshape(3)
        self.mean_real = np.asarray(tensors["mean_real"], np.float64).reshape(3)
        self.grey = bool(config.get("grey", False))
        return self
