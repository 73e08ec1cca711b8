"""Environment maps from a photo, pre-filtered by roughness. Pure NumPy/OpenCV.

An `environment` light with an `image` surrounds the scene with that photo. The renderer's
shader (`pyrender_compat.ENV_MAP_PATCH`) looks it up as an equirectangular map in world
directions (+z up):

* u = 0.5 - atan2(y, x) / 2 pi: the centre column faces +x, a quarter to its left +y (as
  seen from inside the sphere, z up);
* v = 0.5 - asin(z) / pi: the top row is the zenith, the bottom row the nadir.

`environment_layers` makes the layers the shader reads: `ROUGHNESS_LEVELS` specular levels
(layer k is the map convolved with the reflection lobe of roughness `ROUGHNESS_LEVELS[k]`;
layer 0 the map itself) and one irradiance layer (`IRRADIANCE_LAYER`, the cosine-weighted
mean around each direction, for diffuse light). The convolution is exact on the sphere:
for every pair of rows the lobe is a function of the azimuth difference only, so each row
pair is one circular convolution (FFT along the rows).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from synthgap.generators.look.appearance import srgb_to_linear

__all__ = [
    "ENV_HEIGHT",
    "ENV_WIDTH",
    "IRRADIANCE_LAYER",
    "ROUGHNESS_LEVELS",
    "direction_uv",
    "environment_layers",
    "environment_projection",
    "load_environment",
    "prefilter",
]

#: Size of the equirectangular layers, texels (1.4 degrees per texel).
ENV_WIDTH, ENV_HEIGHT = 256, 128
#: Roughness of each specular layer; the shader interpolates between them (and clamps above).
ROUGHNESS_LEVELS = (0.0, 0.15, 0.3, 0.45, 0.6)
#: Index of the irradiance (cosine lobe) layer, after the specular ones.
IRRADIANCE_LAYER = len(ROUGHNESS_LEVELS)


def environment_projection(path: str | Path, projection: str = "auto"
                           ) -> Literal["equirectangular", "hemisphere"]:
    """`projection` with `auto` resolved: `equirectangular` when the image at `path` is twice
    as wide as high (within 2 %), else `hemisphere` (reads the image header only).

    Raises:
        ValueError: `projection` unknown, or `path` is not a readable image.
    """
    if projection == "equirectangular":
        return "equirectangular"
    if projection == "hemisphere":
        return "hemisphere"
    if projection != "auto":
        raise ValueError(f"projection: expected auto, equirectangular or hemisphere, got "
                         f"{projection!r}")
    return _auto_projection(str(path))


@functools.lru_cache(maxsize=64)
def _auto_projection(path: str) -> Literal["equirectangular", "hemisphere"]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"lights[].image {path!r}: not a readable image ({exc})") from None
    return "equirectangular" if abs(w / h - 2.0) <= 0.04 else "hemisphere"


def direction_uv(d: np.ndarray) -> np.ndarray:
    """Equirectangular `(..., 2)` uv in [0, 1] of world directions `d` `(..., 3)` (unit)."""
    d = np.asarray(d, dtype=np.float64)
    u = 0.5 - np.arctan2(d[..., 1], d[..., 0]) / (2 * np.pi)
    v = 0.5 - np.arcsin(np.clip(d[..., 2], -1.0, 1.0)) / np.pi
    return np.stack([np.mod(u, 1.0), v], axis=-1)


def _read_linear(path: Path) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if img is None:
        raise ValueError(f"lights[].image {str(path)!r}: missing or not a readable image; "
                         "replace the file")
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"lights[].image {str(path)!r}: {img.dtype} pixels; an environment "
                         "photo must be an 8- or 16-bit image (save it as an 8/16-bit PNG "
                         "or TIFF)")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    rgb = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_BGR2RGB)
    return srgb_to_linear(rgb.astype(np.float32) / scale).astype(np.float32)


def load_environment(path: str | Path, projection: str = "auto") -> np.ndarray:
    """The photo at `path` as an equirectangular radiance map.

    Args:
        path: PNG/JPEG/... image, sRGB (8 or 16 bit).
        projection: `equirectangular`, `hemisphere` or `auto` (`environment_projection`).
            `hemisphere`: the photo spans the front half of the upper hemisphere (its
            centre facing +x) and, mirrored, the back half (so its sides meet without a
            seam), its top row at the zenith and bottom row at the horizon; below the
            horizon is the mean colour of its bottom tenth.

    Returns:
        `(ENV_HEIGHT, ENV_WIDTH, 3) float32` linear RGB (sRGB decoded, 0-1 for 8-bit white).

    Raises:
        ValueError: not a readable image, or an unknown projection.
    """
    path = Path(path)
    kind = environment_projection(path, projection)
    lin = _read_linear(path)
    if kind == "equirectangular":
        return cv2.resize(lin, (ENV_WIDTH, ENV_HEIGHT), interpolation=cv2.INTER_AREA)
    h, w = lin.shape[:2]
    small = cv2.resize(lin, (min(w, ENV_WIDTH), min(h, ENV_HEIGHT)),
                       interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    out = np.empty((ENV_HEIGHT, ENV_WIDTH, 3), np.float32)
    top = ENV_HEIGHT // 2
    u = (np.arange(ENV_WIDTH, dtype=np.float32) + 0.5) / ENV_WIDTH
    t = np.mod(u - 0.25, 1.0)  # the photo's centre at u = 0.5 (facing +x), mirrored behind
    x = (1.0 - np.abs(2.0 * t - 1.0)) * sw - 0.5
    y = (np.arange(top, dtype=np.float32) + 0.5) / top * sh - 0.5  # zenith -> horizon
    map_x = np.broadcast_to(x[None, :], (top, ENV_WIDTH)).astype(np.float32)
    map_y = np.broadcast_to(y[:, None], (top, ENV_WIDTH)).astype(np.float32)
    out[:top] = cv2.remap(small, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out[top:] = lin[h - max(1, h // 10):].reshape(-1, 3).mean(axis=0)
    return out


def _phong_exponent(roughness: float) -> float:
    """Exponent of the cos^n reflection lobe of GGX roughness `roughness` (alpha = r^2),
    through Blinn-Phong (n_h = 2 / alpha^2 - 2; the reflected lobe is ~4x wider); >= 1."""
    alpha = max(roughness, 0.02) ** 2
    return max(1.0, (2.0 / alpha ** 2 - 2.0) / 4.0)


def prefilter(equirect: np.ndarray, exponent: float) -> np.ndarray:
    """`equirect` convolved on the sphere with the lobe max(cos angle, 0)^`exponent`,
    normalised (a weighted mean of radiance around each direction).

    Args:
        equirect: `(H, W, 3) float32` equirectangular radiance (`direction_uv` layout).
        exponent: lobe exponent >= 1 (1 = the cosine lobe: irradiance / pi).

    Returns:
        `(H, W, 3) float32`.
    """
    h, w = equirect.shape[:2]
    elev = np.pi / 2 - (np.arange(h) + 0.5) * np.pi / h  # (H,) row elevations
    dphi = np.arange(w) * 2 * np.pi / w  # (W,) azimuth differences
    s, c = np.sin(elev), np.cos(elev)
    cos_angle = (s[:, None, None] * s[None, :, None]
                 + c[:, None, None] * c[None, :, None] * np.cos(dphi)[None, None, :])
    lobe = np.maximum(cos_angle, 0.0) ** exponent * c[None, :, None]  # x solid angle (H,H,W)
    norm = lobe.sum(axis=(1, 2))  # (H,)
    k_hat = np.fft.rfft(lobe, axis=2).astype(np.complex64)  # (H, H, W/2+1)
    l_hat = np.fft.rfft(equirect.astype(np.float32), axis=1).astype(np.complex64)  # (H, W/2+1, 3)
    out_hat = np.einsum("ijk,jkc->ikc", k_hat, l_hat)
    out = np.fft.irfft(out_hat, n=w, axis=1) / norm[:, None, None]
    result: np.ndarray = np.maximum(out, 0.0).astype(np.float32)
    return result


def environment_layers(equirect: np.ndarray) -> np.ndarray:
    """The layers the shader samples: `(len(ROUGHNESS_LEVELS) + 1, H, W, 3) float32`.

    Layer k < `IRRADIANCE_LAYER` is `equirect` pre-filtered with the reflection lobe of
    roughness `ROUGHNESS_LEVELS[k]` (layer 0 unfiltered); the last is the cosine lobe.
    """
    equirect = np.asarray(equirect, np.float32)
    layers = [equirect] + [prefilter(equirect, _phong_exponent(r))
                           for r in ROUGHNESS_LEVELS[1:]]
    layers.append(prefilter(equirect, 1.0))
    return np.ascontiguousarray(np.stack(layers))
