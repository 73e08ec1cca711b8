"""Renders of one part for pose estimation: its silhouette and depth at a pose, its own
colours unlit, and the contour of a mask drawn over a photo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import trimesh

from synthgap.generators.params import (
    BackgroundParams,
    CameraParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
    vec5,
)

if TYPE_CHECKING:
    from synthgap.generators.gl.renderer import Renderer

__all__ = ["NO_DISTORTION", "colour_params", "contour_overlay", "project_mask",
           "silhouette_params", "zfar_for"]

#: OpenCV `(k1, k2, p1, p2, k3)` of an ideal pinhole camera.
NO_DISTORTION = (0.0, 0.0, 0.0, 0.0, 0.0)
_GREY = MaterialParams((0.6, 0.6, 0.6), 0.0, 0.5)
_ALBEDO = MaterialParams((1.0, 1.0, 1.0), 0.0, 1.0, source="mesh")


def zfar_for(mesh: trimesh.Trimesh, pose: np.ndarray) -> float:
    """A far plane, metres, well behind the part at camera-from-object `pose`."""
    return max(10.0, float(pose[2, 3]) + 2.0 * float(np.ptp(mesh.bounds, axis=0).max()) + 1.0)


def silhouette_params(K: np.ndarray, size: tuple[int, int], distortion: Sequence[float],
                      pose: np.ndarray, part: str, zfar: float) -> SampleParams:
    """`SampleParams` of one part at `pose` (camera frame) and nothing else (no plane, no
    lights: only the silhouette and depth are used)."""
    cam = CameraParams(width=size[0], height=size[1], fx=float(K[0, 0]), fy=float(K[1, 1]),
                       cx=float(K[0, 2]), cy=float(K[1, 2]),
                       distortion=vec5(distortion),
                       pose=as_matrix4(np.eye(4)), znear=0.01, zfar=float(zfar))
    inst = PartInstanceParams(part=part, category=part, pose=as_matrix4(pose), material=_GREY)
    return SampleParams(index=0, seed=0, camera=cam, parts=(inst,), lights=(),
                        background=BackgroundParams(color=(0.0, 0.0, 0.0), plane=False))


def colour_params(K: np.ndarray, size: tuple[int, int], distortion: Sequence[float],
                  pose: np.ndarray, part: str, zfar: float) -> SampleParams:
    """`silhouette_params` with the part drawn unlit in its own colours (ambient light 1, no
    lights)."""
    p = silhouette_params(K, size, distortion, pose, part, zfar)
    inst = replace(p.parts[0], material=_ALBEDO)
    return replace(p, parts=(inst,), background=BackgroundParams(
        color=(0.0, 0.0, 0.0), plane=False, ambient=(1.0, 1.0, 1.0)))


def project_mask(renderer: Renderer, K: np.ndarray, distortion: Sequence[float],
                 mesh: trimesh.Trimesh, pose: np.ndarray, *, part: str = "part"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Render the silhouette of `mesh` at camera-from-object `pose` with intrinsics `K`.

    Args:
        renderer: a `Renderer`; its size is the image size.
        K: `(3, 3)` intrinsics, pixels. distortion: OpenCV `(k1, k2, p1, p2, k3)`.
        mesh: object frame, metres. pose: `(4, 4)` camera-from-object, metres.

    Returns:
        `(mask (H, W) bool, depth (H, W) float32 metres, 0 = none)`.
    """
    params = silhouette_params(K, (renderer.width, renderer.height), distortion, pose, part,
                               zfar_for(mesh, pose))
    res = renderer.render(params, {part: mesh})
    return res.instance_mask == 1, res.depth


def contour_overlay(photo: np.ndarray, mask: np.ndarray, *,
                    color: tuple[int, int, int] = (0, 255, 0), thickness: int = 2
                    ) -> np.ndarray:
    """The photo with the contour of `mask` drawn over it.

    Args:
        photo: `(H, W, 3) uint8` RGB. mask: `(H, W) bool`.

    Returns:
        `(H, W, 3) uint8` RGB copy with the outline (RGB `color`).
    """
    out = np.ascontiguousarray(photo.copy())
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), thickness)
    return out

