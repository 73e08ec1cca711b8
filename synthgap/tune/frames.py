"""A support-plane world frame for each photo, from the poses of the parts it shows.

BOP scenes (`synthgap.scenes.bop.bop_scene_to_scene`) pin every photo in its own camera frame
(camera pose = identity, part poses model-to-camera), where a light's elevation means
nothing. The parts rest on a support plane (a desk): `plane_world_scene` rewrites each view in
the frame of that plane, estimated from the view's own part poses by the same estimate
`synthgap scene fit` uses (`synthgap.scenefit.plane.fit_support_plane`: the plane most parts
rest on, candidate normals from their flat hull faces, refined on the contact points): +z is
its normal (towards the camera), z = 0 lies on it, and +x is the camera's viewing direction
projected onto the plane. So a light's elevation is measured from
the plane and its azimuth **relative to the camera** (0°: the light shines from behind the
parts, as seen by the camera; 180°: from behind the camera). The LM-O parts move between
photos (their relative poses differ by 10-20 cm), so no frame shared by all photos exists
there; in a scene whose photos do share a world frame, use its own `real_views`.

Every photo's camera-from-part transforms are kept exactly: renders stay pixel-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthgap.generators.parts.assets import PartAsset
from synthgap.generators.real.views import pinned_camera_pose, pinned_part_pose
from synthgap.scenefit.geometry import PartShape, part_shape
from synthgap.scenefit.plane import fit_support_plane
from synthgap.scenes.real_views import Matrix4, RealViewConfig
from synthgap.scenes.schema import Scene

__all__ = ["PlaneWorld", "plane_world_scene"]


@dataclass(frozen=True)
class PlaneWorld:
    """Views rewritten in their support-plane frames.

    Attributes:
        scene: the scene with `real_views` in the plane frames (units m).
        plane_rms_mm: per view, the RMS distance of the lowest points of the parts that touch
            the plane (within 1 cm) from it, mm (a few mm when they stand on one plane).
        camera_elevation_deg: per view, the camera's elevation above the plane, degrees.
    """

    scene: Scene
    plane_rms_mm: tuple[float, ...]
    camera_elevation_deg: tuple[float, ...]


def _matrix4(T: np.ndarray) -> Matrix4:
    r = [(float(a), float(b), float(c), float(d)) for a, b, c, d in T]
    return (r[0], r[1], r[2], r[3])


def _plane(view: RealViewConfig, parts: dict[str, PartAsset], shapes: dict[str, PartShape],
           index: int) -> tuple[np.ndarray, list[np.ndarray], float]:
    """(plane-from-camera 4x4, camera-from-part poses, RMS of the touching parts' lowest
    points in m), the plane by `fit_support_plane` on the view's parts."""
    cam = pinned_camera_pose(view)
    in_cam = [np.linalg.inv(cam) @ pinned_part_pose(p, view.unit_scale) for p in view.parts]
    for j, p in enumerate(view.parts):
        if p.part not in parts:
            raise ValueError(f"real_views[{index}].parts[{j}].part: {p.part!r} is not in the "
                             "part library")
        if p.part not in shapes:
            shapes[p.part] = part_shape(parts[p.part].mesh)
    hulls = [shapes[p.part].hull @ T[:3, :3].T + T[:3, 3] for p, T in zip(view.parts, in_cam,
                                                                         strict=True)]
    normals = [n for p, T in zip(view.parts, in_cam, strict=True)
               for n in shapes[p.part].up_candidates @ T[:3, :3].T]
    try:
        plane = fit_support_plane(hulls, normals)
    except ValueError as exc:
        raise ValueError(f"real_views[{index}]: {exc}") from None
    up = plane.normal
    centre = np.mean([T[:3, 3] for T in in_cam], axis=0)
    origin = centre - float(plane.height(centre[None])[0]) * up
    x = np.array([0.0, 0.0, 1.0]) - up[2] * up  # the viewing direction along the plane
    if np.linalg.norm(x) < 1e-6:  # looking straight down: image right
        x = np.array([1.0, 0.0, 0.0]) - up[0] * up
    x /= np.linalg.norm(x)
    cam_from_plane = np.eye(4)
    cam_from_plane[:3, 0], cam_from_plane[:3, 1] = x, np.cross(up, x)
    cam_from_plane[:3, 2], cam_from_plane[:3, 3] = up, origin
    return np.linalg.inv(cam_from_plane), in_cam, plane.rms


def plane_world_scene(scene: Scene, parts: dict[str, PartAsset]) -> PlaneWorld:
    """Rewrite every view of `scene.real_views` in its support-plane frame (module docstring).

    Args:
        scene: a scene with `real_views` (any world frame per view, e.g. BOP's camera frame).
        parts: its part library (`load_parts(scene)`), for the parts' lowest points.

    Returns:
        The `PlaneWorld`.

    Raises:
        ValueError: no views, a view part missing from `parts`, or a view whose parts
            fit no support plane with the camera above it.
    """
    if not scene.real_views:
        raise ValueError("the scene has no real_views")
    views, rms, elevations = [], [], []
    shapes: dict[str, PartShape] = {}
    for i, view in enumerate(scene.real_views):
        plane_from_cam, in_cam, r = _plane(view, parts, shapes, i)
        new_parts = tuple(vp.model_copy(update={
            "pose": _matrix4(plane_from_cam @ T), "position": None, "rotation_deg": None})
            for vp, T in zip(view.parts, in_cam, strict=True))
        views.append(view.model_copy(update={
            "units": "m", "camera_pose": _matrix4(plane_from_cam), "rvec": None, "tvec": None,
            "camera_look_at": None, "parts": new_parts}))
        rms.append(r * 1000.0)
        eye = plane_from_cam[:3, 3]
        elevations.append(float(np.degrees(np.arcsin(eye[2] / max(np.linalg.norm(eye), 1e-9)))))
    return PlaneWorld(scene=scene.model_copy(update={"real_views": tuple(views)}),
                      plane_rms_mm=tuple(rms), camera_elevation_deg=tuple(elevations))
