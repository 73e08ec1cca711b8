"""Colour temperature to linear RGB (blackbody approximation).

Planck's law is integrated against the CIE 1931 2° colour matching functions (the analytic
multi-lobe Gaussian fit of Wyman, Sloan and Shirley, JCGT 2013), converted from XYZ to linear
sRGB (D65 primaries) and scaled so the largest channel is 1. 6500 K comes out near white,
lower temperatures are orange-red, higher ones blue.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["temperature_to_rgb"]

_NM = np.arange(380.0, 781.0, 5.0)
_XYZ_TO_RGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                        [-0.9692660, 1.8760108, 0.0415560],
                        [0.0556434, -0.2040259, 1.0572252]])


def _g(x: np.ndarray, mu: float, s1: float, s2: float) -> np.ndarray:
    s = np.where(x < mu, s1, s2)
    return np.exp(-0.5 * ((x - mu) / s) ** 2)


def _cmf(nm: np.ndarray) -> np.ndarray:
    """`(n, 3)` CIE 1931 x̄, ȳ, z̄ (Wyman et al. 2013 multi-lobe fit)."""
    x = (1.056 * _g(nm, 599.8, 37.9, 31.0) + 0.362 * _g(nm, 442.0, 16.0, 26.7)
         - 0.065 * _g(nm, 501.1, 20.4, 26.2))
    y = 0.821 * _g(nm, 568.8, 46.9, 40.5) + 0.286 * _g(nm, 530.9, 16.3, 31.1)
    z = 1.217 * _g(nm, 437.0, 11.8, 36.0) + 0.681 * _g(nm, 459.0, 26.0, 13.8)
    return np.stack([x, y, z], axis=1)


_CMF = _cmf(_NM)


@functools.lru_cache(maxsize=4096)
def _rgb(kelvin: float) -> tuple[float, float, float]:
    lam = _NM * 1e-9
    c1, c2 = 3.741771852e-16, 1.438776877e-2
    spectrum = c1 / (lam**5 * np.expm1(c2 / (lam * kelvin)))
    xyz = spectrum @ _CMF
    rgb = np.clip(_XYZ_TO_RGB @ (xyz / xyz[1]), 0.0, None)
    rgb = rgb / rgb.max()
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def temperature_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear RGB in [0, 1] (largest channel 1) of a blackbody at `kelvin`.

    Args:
        kelvin: colour temperature, 1000-40000 K.

    Raises:
        ValueError: temperature outside 1000-40000 K.
    """
    if not (1000.0 <= kelvin <= 40000.0):
        raise ValueError(f"colour temperature must be in [1000, 40000] K, got {kelvin}")
    return _rgb(float(kelvin))
