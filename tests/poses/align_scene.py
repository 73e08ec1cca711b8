"""Shared set-up of the `synthgap align` tests: a small camera, a fast `AlignConfig`, the true
pose of the test part, and one render of it (the "photo" the tests align to)."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from synthgap.generators.params import (
    BackgroundParams,
    CameraParams,
    LightParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
)
from synthgap.poses.aligner import AlignConfig

W, H = 160, 120
K = np.array([[260.0, 0.0, 79.5], [0.0, 260.0, 59.5], [0.0, 0.0, 1.0]])
FAST = AlignConfig(roi_size=64, views=80, inplane_steps=16, top_k=2, rescore=6,
                   refine_evals=60, local_samples=12)


def true_pose() -> np.ndarray:
    """Camera-from-object pose of the test part, `(4, 4)`, metres."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", (-50.0, 20.0, 35.0), degrees=True).as_matrix()
    T[:3, 3] = (0.01, -0.005, 0.30)
    return T


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    return float((a & b).sum() / max((a | b).sum(), 1))


def render_part(mesh: trimesh.Trimesh, material: MaterialParams,
                background: tuple[float, float, float], *, pose: np.ndarray | None = None,
                intensity: float = 4.0):
    """`(renderer, result)`: `mesh` at `pose` (default `true_pose()`) under one directional
    light of `intensity`, W×H, identity camera.

    The caller closes the renderer (it also renders the tests' candidate poses)."""
    from synthgap.generators.gl.renderer import Renderer

    cam = CameraParams(width=W, height=H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                       distortion=(0.0,) * 5, pose=as_matrix4(np.eye(4)))
    params = SampleParams(
        index=0, seed=0, camera=cam,
        parts=(PartInstanceParams("part", "part", as_matrix4(
            true_pose() if pose is None else pose), material),),
        lights=(LightParams("directional", (1.0, 1.0, 1.0), intensity, as_matrix4(np.eye(4))),),
        background=BackgroundParams(background, plane=False))
    renderer = Renderer(W, H)
    return renderer, renderer.render(params, {"part": mesh})
