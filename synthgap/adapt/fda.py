"""Fourier domain adaptation (FDA; Yang & Soatto, CVPR 2020), fitted once from the real photos.

FDA keeps a render's phase (its geometry) and replaces the amplitude of its lowest spatial
frequencies (global colour, illumination, vignetting) with the real photos' amplitude.
`fit` stores, per channel, the mean low-frequency amplitude of the real photos, measured in
*cycles per image* on photos resized to 128×128 and normalised by pixel count, for every
frequency `(ky, kx)` with `|ky|, |kx| <= band`, `band = max(1, round(beta * 128))`.
`transform` swaps those amplitudes into the render's spectrum (scaled to its pixel count) and
inverts the FFT. albumentations' `FDA` draws a random reference photo per call; this version is
deterministic and saves 3×(2·band+1)² numbers. Grey cameras give grey output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import cv2
import numpy as np

from synthgap.adapt.image_base import (
    ImageAdapter,
    fit_images,
    grey_rgb,
    register,
    require_tensors,
)

__all__ = ["FourierDomainAdaptation"]

_REF = 128


def _band_indices(h: int, w: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    """FFT row/column indices of the frequencies -band..band (cycles/image) of an h×w image."""
    k = np.arange(-band, band + 1)
    return k % h, k % w


@register
class FourierDomainAdaptation(ImageAdapter):
    """Swap the low-frequency amplitude spectrum of renders for the real photos' mean.

    Args:
        beta: half-width of the swapped frequency band as a fraction of 128 cycles/image
            (0 < beta <= 0.25); 0.05 swaps frequencies up to 6 cycles per image.
    """

    method: ClassVar[str] = "fda"

    def __init__(self, beta: float = 0.05) -> None:
        if not 0.0 < beta <= 0.25:
            raise ValueError(f"beta: expected 0 < beta <= 0.25, got {beta}")
        self.beta = float(beta)
        self.amplitude: np.ndarray | None = None  # (3, 2b+1, 2b+1), per pixel
        self.grey = False

    @property
    def band(self) -> int:
        return max(1, round(self.beta * _REF))

    @property
    def fitted(self) -> bool:
        return self.amplitude is not None

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator) -> Self:
        _, real, self.grey = fit_images(synthetic, real)
        rows, cols = _band_indices(_REF, _REF, self.band)
        acc = np.zeros((3, len(rows), len(cols)))
        for img in real:
            small = cv2.resize(img, (_REF, _REF), interpolation=cv2.INTER_AREA).astype(np.float64)
            spec = np.abs(np.fft.fft2(small, axes=(0, 1))) / (_REF * _REF)
            acc += spec[np.ix_(rows, cols)].transpose(2, 0, 1)
        self.amplitude = (acc / len(real)).astype(np.float32)
        return self

    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        if self.grey:
            image = grey_rgb(image)
        h, w = image.shape[:2]
        band = min(self.band, (h - 1) // 2, (w - 1) // 2)
        b0 = self.band - band
        amp = self._fitted_value(self.amplitude)[:, b0:b0 + 2 * band + 1, b0:b0 + 2 * band + 1]
        rows, cols = _band_indices(h, w, band)
        spec = np.fft.fft2(image.astype(np.float64), axes=(0, 1))
        block = spec[np.ix_(rows, cols)]
        phase = np.exp(1j * np.angle(block))
        spec[np.ix_(rows, cols)] = amp.transpose(1, 2, 0) * (h * w) * phase
        out = np.fft.ifft2(spec, axes=(0, 1)).real
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return grey_rgb(out) if self.grey else out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        amplitude = self._fitted_value(self.amplitude)
        return {"amplitude": amplitude}, {"beta": self.beta, "grey": self.grey,
                                               "reference_size": _REF}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        require_tensors(tensors, ["amplitude"], cls.method)
        self = cls(beta=float(config["beta"]))
        amp = np.asarray(tensors["amplitude"], np.float32)
        n = 2 * self.band + 1
        if amp.shape != (3, n, n):
            raise ValueError(f"amplitude: expected shape (3, {n}, {n}) for beta={self.beta}, got "
                             f"{amp.shape}")
        self.amplitude, self.grey = amp, bool(config.get("grey", False))
        return self
