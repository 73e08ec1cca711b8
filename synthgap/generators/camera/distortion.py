"""OpenCV lens distortion applied to rendered layers.

A rasteriser draws a pinhole image. To get the image a real camera with OpenCV distortion
`(k1, k2, p1, p2, k3)` would see, the renderer draws an undistorted *render view* (same focal
lengths, grown on each side by however much the distortion pulls in from outside the frame)
and resamples it: output pixel `(u, v)` takes the render-view pixel at
`K_r · undistort(K⁻¹ · (u, v))`. Colour is resampled bilinearly; depth and label layers with
nearest neighbour, so ids are never blended and depth is never averaged across an edge.

Pixel coordinates follow OpenCV: pixel centres at integers, x right, y down. A vertex that
`cv2.projectPoints(..., K, dist)` sends to `(u, v)` lands on output pixel `round(u, v)`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from synthgap.generators.params import CameraParams

__all__ = ["RenderView", "distort_linear", "distort_nearest", "has_distortion", "render_view",
           "view_of_intrinsics"]

#: Extra render-view pixels around the sampled region on sides where the view grows.
MARGIN_PX = 2
#: A render view may be at most this many times the output size along each axis.
MAX_GROWTH = 3.0


@dataclass(frozen=True, eq=False)
class RenderView:
    """The undistorted view the rasteriser draws, and how to resample it into the output.

    Attributes:
        width, height: render-view size in pixels (>= the output size when distorted).
        fx, fy, cx, cy: render-view intrinsics (OpenCV convention, pixels).
        out_width, out_height: output image size.
        map_x, map_y: `(out_height, out_width) float32` render-view coordinates sampled by each
            output pixel, or None when there is no distortion (the render view is the output).
        map_nn: `(out_height, out_width, 2) int16` the same maps rounded to whole pixels (for
            nearest-neighbour resampling), or None.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    out_width: int
    out_height: int
    map_x: np.ndarray | None = None
    map_y: np.ndarray | None = None
    map_nn: np.ndarray | None = None

    @property
    def distorted(self) -> bool:
        return self.map_x is not None

    @property
    def K(self) -> np.ndarray:
        """`(3, 3) float64` intrinsics of the render view."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def has_distortion(distortion: tuple[float, ...] | list[float]) -> bool:
    """True when any OpenCV distortion coefficient is non-zero."""
    return any(float(c) != 0.0 for c in distortion)


def render_view(camera: CameraParams) -> RenderView:
    """The render view for a camera (cached: cameras of a run usually share intrinsics).

    Raises:
        ValueError: the distortion is so strong that the output would need a render view more
            than `MAX_GROWTH` times larger, or it cannot be inverted (names the coefficients).
    """
    return view_of_intrinsics(camera.width, camera.height, float(camera.fx), float(camera.fy),
                        float(camera.cx), float(camera.cy),
                        tuple(float(c) for c in camera.distortion))


@functools.lru_cache(maxsize=8)
def view_of_intrinsics(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                       dist: tuple[float, ...]) -> RenderView:
    """`render_view` from a size (pixels), intrinsics (pixels) and the 5 OpenCV distortion
    coefficients (k1, k2, p1, p2, k3); cached. Raises as `render_view`, and for not 5
    coefficients."""
    if len(dist) != 5:
        raise ValueError(f"camera.distortion: expected 5 OpenCV coefficients (k1, k2, p1, p2, "
                         f"k3), got {len(dist)}: {list(dist)}")
    if not has_distortion(dist):
        return RenderView(width, height, fx, fy, cx, cy, width, height)
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    vs, us = np.mgrid[0:height, 0:width].astype(np.float64)
    pts = np.stack([us.ravel(), vs.ravel()], axis=1)[:, None, :]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
    und = cv2.undistortPoints(pts, K, np.asarray(dist), None, np.eye(3), np.eye(3),
                              criteria)[:, 0, :]
    # Check the inversion: distorting the undistorted points must give the pixels back.
    back, _ = cv2.projectPoints(np.concatenate([und, np.ones((und.shape[0], 1))], axis=1),
                                np.zeros(3), np.zeros(3), K, np.asarray(dist))
    err = np.abs(back[:, 0, :] - pts[:, 0, :]).max() if np.isfinite(und).all() else np.inf
    if not np.isfinite(err) or err > 0.01:
        raise ValueError(f"camera.distortion {list(dist)}: cannot be inverted over the "
                         f"{width}x{height} image (round-trip error {err:.3g} px); the "
                         "coefficients are probably too strong or from another camera model")
    ux = fx * und[:, 0] + cx
    uy = fy * und[:, 1] + cy
    # Integer shifts keep the render view's pixel grid aligned with the output's; it only grows
    # (with a margin) on the sides where the output samples outside the pinhole frame.
    ox = math.ceil(MARGIN_PX - ux.min()) if ux.min() < 0 else 0
    oy = math.ceil(MARGIN_PX - uy.min()) if uy.min() < 0 else 0
    rw = width + ox
    rh = height + oy
    if ux.max() > width - 1:
        rw = math.ceil(ux.max() + ox + MARGIN_PX + 1)
    if uy.max() > height - 1:
        rh = math.ceil(uy.max() + oy + MARGIN_PX + 1)
    if rw > MAX_GROWTH * width or rh > MAX_GROWTH * height:
        raise ValueError(f"camera.distortion {list(dist)}: the {width}x{height} output would "
                         f"need a {rw}x{rh} undistorted render (more than {MAX_GROWTH:g}x); "
                         "use weaker coefficients or check their units")
    map_x = (ux + ox).reshape(height, width).astype(np.float32)
    map_y = (uy + oy).reshape(height, width).astype(np.float32)
    map_nn = np.stack([np.rint(map_x), np.rint(map_y)], axis=2).astype(np.int16)
    for a in (map_x, map_y, map_nn):
        a.setflags(write=False)
    return RenderView(rw, rh, fx, fy, cx + ox, cy + oy, width, height, map_x, map_y, map_nn)


def distort_linear(image: np.ndarray, view: RenderView) -> np.ndarray:
    """Resample a render-view colour image into the distorted output (bilinear).

    Args:
        image: `(view.height, view.width[, C])` uint8 or float32.
        view: from `render_view`.

    Returns:
        `(view.out_height, view.out_width[, C])`, same dtype; `image` itself when undistorted.
    """
    if not view.distorted:
        return image
    _check_shape(image, view)
    assert view.map_x is not None and view.map_y is not None  # `distorted`
    return cv2.remap(image, view.map_x, view.map_y, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def distort_nearest(layer: np.ndarray, view: RenderView) -> np.ndarray:
    """Resample a depth or label layer into the distorted output (nearest neighbour).

    Args:
        layer: `(view.height, view.width)` any dtype cv2 supports (uint16 ids, float32 depth).
        view: from `render_view`.

    Returns:
        `(view.out_height, view.out_width)`, same dtype; `layer` itself when undistorted.
    """
    if not view.distorted:
        return layer
    _check_shape(layer, view)
    assert view.map_nn is not None  # `distorted` views carry both maps
    return cv2.remap(layer, view.map_nn, None, cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _check_shape(image: np.ndarray, view: RenderView) -> None:
    if image.shape[:2] != (view.height, view.width):
        raise ValueError(f"expected a {view.width}x{view.height} render-view layer, got shape "
                         f"{image.shape}")
