"""A support-plane world frame for each photo, from the poses of the parts it shows.

BOP scenes (`synthgap.scenes.bop.bop_scene_to_scene`) pin every photo in its own camera frame
(camera pose = identity, part poses model-to-camera), where a light's elevation means
nothing. The parts rest on a support plane (a desk): `plane_world_scene` rewrites each view in
the frame of that plane, estimated from the view's own part poses: +z is the normal of the
least-squares plane through the parts' centres (towards the camera; with fewer than three
parts, image up), z = 0 lies at the median of the parts' lowest points, and +x is the
camera's viewing direction projected onto the plane. So a light's elevation is measured from
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
from synthgap.scenes.real_views import Matrix4, RealViewConfig
from synthgap.scenes.schema import Scene

__all__ = ["PlaneWorld", "plane_world_scene"]


@dataclass(frozen=True)
class PlaneWorld:
    """Views rewritten in their support-plane frames.

    Attributes:
        scene: the scene with `real_views` in the plane frames (units m).
        plane_rms_mm: per view, the RMS distance of the parts' lowest points from the plane,
            mm (a few mm when the parts stand on one plane).
        camera_elevation_deg: per view, the camera's elevation above the plane, degrees.
    """

    scene: Scene
    plane_rms_mm: tuple[float, ...]
    camera_elevation_deg: tuple[float, ...]


def _matrix4(T: np.ndarray) -> Matrix4:
    r = [(float(a), float(b), float(c), float(d)) for a, b, c, d in T]
    return (r[0], r[1], r[2], r[3])


def _plane(view: RealViewConfig, parts: dict[str, PartAsset], index: int
           ) -> tuple[np.ndarray, list[np.ndarray], float]:
    """(plane-from-camera 4x4, camera-from-part poses, RMS of the lowest points in m)."""
    cam = pinned_camera_pose(view)
    in_cam = [np.linalg.inv(cam) @ pinned_part_pose(p, view.unit_scale) for p in view.parts]
    for j, p in enumerate(view.parts):
        if p.part not in parts:
            raise ValueError(f"real_views[{index}].parts[{j}].part: {p.part!r} is not in the "
                             "part library")
    centres = np.stack([T[:3, 3] for T in in_cam])
    if len(centres) >= 3:
        _, _, vt = np.linalg.svd(centres - centres.mean(0))
        up = vt[2]
    else:
        up = np.array([0.0, -1.0, 0.0])  # image up
    if float(-centres.mean(0) @ up) < 0:  # the camera (origin) is above the plane
        up = -up
    up = up / np.linalg.norm(up)
    lows = np.array([float(np.min((np.asarray(parts[p.part].mesh.vertices) @ T[:3, :3].T
                                   + T[:3, 3]) @ up)) for p, T in zip(view.parts, in_cam,
                                                                      strict=True)])
    level = float(np.median(lows))
    origin = centres.mean(0) - (centres.mean(0) @ up - level) * up
    x = np.array([0.0, 0.0, 1.0]) - up[2] * up  # the viewing direction along the plane
    if np.linalg.norm(x) < 1e-6:  # looking straight down: image right
        x = np.array([1.0, 0.0, 0.0]) - up[0] * up
    x /= np.linalg.norm(x)
    cam_from_plane = np.eye(4)
    cam_from_plane[:3, 0], cam_from_plane[:3, 1] = x, np.cross(up, x)
    cam_from_plane[:3, 2], cam_from_plane[:3, 3] = up, origin
    rms = float(np.sqrt(np.mean((lows - level) ** 2)))
    return np.linalg.inv(cam_from_plane), in_cam, rms


def plane_world_scene(scene: Scene, parts: dict[str, PartAsset]) -> PlaneWorld:
    """Rewrite every view of `scene.real_views` in its support-plane frame (module docstring).

    Args:
        scene: a scene with `real_views` (any world frame per view, e.g. BOP's camera frame).
        parts: its part library (`load_parts(scene)`), for the parts' lowest points.

    Returns:
        The `PlaneWorld`.

    Raises:
        ValueError: no views, or a view part missing from `parts`.
    """
    if not scene.real_views:
        raise ValueError("the scene has no real_views")
    views, rms, elevations = [], [], []
    for i, view in enumerate(scene.real_views):
        plane_from_cam, in_cam, r = _plane(view, parts, i)
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
