"""The colour passes of one frame, combined: summed in linear light, composited over the
background, and the region shadow maps must cover. Pure NumPy/OpenCV (no GL).

pyrender's shader writes display-encoded colour (`pow(c, 1/2.2)`, not sRGB), premultiplied by
coverage when drawn over transparent black; these functions keep that encoding.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

from synthgap.generators.gl.occlusion import Bounds
from synthgap.generators.look.lighting import Emitter
from synthgap.generators.params import SampleParams

__all__ = ["DECODE", "BackgroundImages", "environment", "passes_flat", "shadow_focus",
           "sum_passes"]


def environment(params: SampleParams) -> np.ndarray | None:
    """Summed radiance `(3,)` of the `environment` lights (linear RGB x intensity), or None."""
    env = [np.asarray(light.color, float) * light.intensity for light in params.lights
           if light.type == "environment"]
    return np.sum(env, axis=0) if env else None


def passes_flat(passes: list[list[Emitter]]) -> list[Emitter]:
    """Every emitter of every pass, in order."""
    return [e for group in passes for e in group]


#: decode table of the shader's output encoding (pow 1/2.2, not sRGB)
DECODE = ((np.arange(256, dtype=np.float64) / 255.0) ** 2.2).astype(np.float32)


def sum_passes(layers: list[np.ndarray]) -> np.ndarray:
    """Sum premultiplied, display-encoded RGBA colour passes of one geometry in linear light.

    Every pass has the same coverage (alpha); each pass's colour is un-premultiplied,
    decoded (the shader wrote `pow(c, 1/2.2)`), summed, re-encoded and premultiplied again.

    Args:
        layers: `(H, W, 4) uint8` passes, at least two.

    Returns:
        `(H, W, 4) uint8`, alpha of the first pass.
    """
    alpha = layers[0][:, :, 3]
    if alpha.min() == 255:  # opaque everywhere (the plane fills the view): table lookups
        lin = DECODE[layers[0][:, :, :3]]
        for layer in layers[1:]:
            lin += DECODE[layer[:, :, :3]]
        a = None
    else:
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        safe = np.maximum(a, 1.0 / 255.0)
        lin = np.zeros((*layers[0].shape[:2], 3), np.float32)
        for layer in layers:
            lin += np.clip(layer[:, :, :3].astype(np.float32) / 255.0 / safe, 0.0, 1.0) ** 2.2
    out = np.minimum(lin, 1.0) ** (1 / 2.2)
    if a is not None:
        out *= a
    rgba = np.empty_like(layers[0])
    rgba[:, :, :3] = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    rgba[:, :, 3] = alpha
    return rgba


def shadow_focus(objects: list[Bounds], view: Any, cam_pose: np.ndarray, cam: Any,
                  plane_size: float | None) -> tuple[np.ndarray, float]:
    """`(centroid (3,), scale)` of the region shadows must cover: every object and the part
    of the support plane the camera sees (clipped to the plane)."""
    pts = [o.all_points() for o in objects]
    if plane_size is not None:
        half = plane_size / 2
        u = np.array([0.0, view.width - 1.0, view.width - 1.0, 0.0])
        v = np.array([0.0, 0.0, view.height - 1.0, view.height - 1.0])
        rays = np.stack([(u - view.cx) / view.fx, (v - view.cy) / view.fy, np.ones(4)], axis=1)
        d = rays @ cam_pose[:3, :3].T
        o = cam_pose[:3, 3]
        hits = []
        for di in d:
            if di[2] < -1e-9:
                t = min(-o[2] / di[2], cam.zfar)
                hits.append(o + t * di)
            else:  # looking above the horizon: the plane reaches its edge
                hits.append(o + cam.zfar * di)
        h = np.asarray(hits)
        h[:, :2] = np.clip(h[:, :2], -half, half)
        h[:, 2] = 0.0
        pts.append(h)
    if not pts:
        return np.zeros(3), 1.0
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    return 0.5 * (lo + hi), max(float(np.linalg.norm(hi - lo)), 1e-3)


class BackgroundImages:
    """Background images composited behind a frame, decoded once (the last 32 kept)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def composite(self, rgba: np.ndarray, path: str | None,
                  crop: tuple[float, float, float, float] | None,
                  color: tuple[float, float, float]) -> np.ndarray:
        """Composite the premultiplied colour pass over a background image crop, or over the
        clear colour (linear RGB, display-encoded like the shader's output)."""
        alpha = rgba[:, :, 3]
        if path is None and alpha.min() == 255:  # e.g. the support plane fills the view
            return np.ascontiguousarray(rgba[:, :, :3])
        if path is None:
            back = np.array([float(c) ** (1 / 2.2) * 255.0 for c in color], np.float32)
        else:
            back = self._crop(path, crop, rgba.shape[1], rgba.shape[0])
            back = back.astype(np.float32)
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        out = rgba[:, :, :3].astype(np.float32) + back * (1.0 - a)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _crop(self, path: str, crop: tuple[float, float, float, float] | None,
              width: int, height: int) -> np.ndarray:
        img = self._cache.get(path)
        if img is None:
            data = np.fromfile(path, dtype=np.uint8) if os.path.isfile(path) else None
            img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
            if img is None:
                raise ValueError(f"background.image {path!r}: missing or not a readable image")
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            self._cache[path] = img
            if len(self._cache) > 32:
                self._cache.popitem(last=False)
        h, w = img.shape[:2]
        x0, y0, x1, y1 = crop if crop is not None else (0.0, 0.0, 1.0, 1.0)
        c = img[int(y0 * h):max(int(y1 * h), int(y0 * h) + 1),
                int(x0 * w):max(int(x1 * w), int(x0 * w) + 1)]
        interp = cv2.INTER_AREA if c.shape[1] > width else cv2.INTER_LINEAR
        return cv2.resize(c, (width, height), interpolation=interp)
