"""Scene schema: real photos pinned to the camera and part poses they were taken at.

Camera poses are world-from-camera (or OpenCV `rvec`/`tvec`, camera-from-world), part poses
world-from-object; rigid 4x4 matrices are checked here and re-orthonormalised when used.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from synthgap.scenes.fields import (
    SceneModel,
    Vec3,
)
from synthgap.scenes.lights import LightConfig
from synthgap.scenes.parts import MaterialConfig
from synthgap.scenes.surroundings import BackgroundConfig

__all__ = ["LookAtConfig", "Mat4Field", "Matrix4", "RealViewConfig", "RealViewPartConfig", "Vec4",
           "rigid_matrix"]


Vec4 = tuple[float, float, float, float]
Matrix4 = tuple[Vec4, Vec4, Vec4, Vec4]


def _check_matrix4(raw: object) -> object:
    """Before-validator: a 4x4 nested list of finite numbers, with a readable error."""
    ok = (isinstance(raw, list | tuple) and len(raw) == 4
          and all(isinstance(r, list | tuple) and len(r) == 4 for r in raw)
          and all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                  for r in raw for x in r))
    if not ok:
        text = repr(raw)
        raise ValueError("expected a 4x4 matrix (4 rows of 4 finite numbers), got "
                         f"{text if len(text) <= 60 else text[:57] + '...'}")
    return raw


def _check_rigid(m: Matrix4, what: str) -> Matrix4:
    """After-validator: `m` is a rigid transform (orthonormal rotation, det +1, last row 0 0 0 1).

    A tolerance of 1e-3 on RᵀR - I absorbs values printed with few decimals; the pose is
    re-orthonormalised when used (`rigid_matrix`).
    """
    a = np.asarray(m, dtype=float)
    if np.abs(a[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-6:
        raise ValueError(f"last row must be [0, 0, 0, 1] ({what}), got {[float(x) for x in a[3]]}")
    R = a[:3, :3]
    err = float(np.abs(R.T @ R - np.eye(3)).max())
    if err > 1e-3:
        raise ValueError(f"the rotation part (upper-left 3x3) is not orthonormal "
                         f"(max |RᵀR - I| = {err:.3g}); expected a rigid transform {what} "
                         "without scale")
    if np.linalg.det(R) < 0:
        raise ValueError(f"the rotation part has determinant -1 (a reflection); expected a "
                         f"rigid transform {what} (right-handed frames)")
    return m


def rigid_matrix(m: Matrix4, *, translation_scale: float = 1.0) -> np.ndarray:
    """`(4, 4) float64` copy of a validated rigid `m`: rotation made exactly orthonormal (SVD),
    translation multiplied by `translation_scale` (e.g. 1e-3 for millimetres)."""
    a = np.asarray(m, dtype=float).copy()
    u, _, vt = np.linalg.svd(a[:3, :3])
    a[:3, :3] = u @ vt
    a[:3, 3] *= translation_scale
    a[3] = (0.0, 0.0, 0.0, 1.0)
    return a


Mat4Field = Annotated[Matrix4, BeforeValidator(_check_matrix4)]
_UNIT_SCALE = {"m": 1.0, "mm": 1e-3}


class LookAtConfig(SceneModel):
    """A camera position and aim point (world frame, lengths in the view's `units`)."""

    eye: Vec3
    """Camera centre in world coordinates."""
    look_at: Vec3
    """World point on the optical axis (seen at the principal point cx, cy)."""
    up: Vec3 = (0.0, 0.0, 1.0)
    """World direction that appears as image up (-y); must not be parallel to the viewing
    direction (e.g. give `[0, 1, 0]` for a camera looking straight down)."""

    @model_validator(mode="after")
    def _not_degenerate(self) -> LookAtConfig:
        d = np.subtract(self.look_at, self.eye)
        if np.linalg.norm(d) < 1e-12:
            raise ValueError(f"eye and look_at coincide ({list(self.eye)}); the viewing "
                             "direction is undefined")
        d = d / np.linalg.norm(d)
        u = np.asarray(self.up, float)
        if np.linalg.norm(u) < 1e-12 or np.linalg.norm(np.cross(d, u)) < 1e-6 * np.linalg.norm(u):
            raise ValueError(f"up {list(self.up)} is parallel to the viewing direction "
                             f"{[round(float(x), 4) for x in d]}; give an up that the image's "
                             "top should face, e.g. [0, 1, 0] for a camera looking straight down")
        return self


class RealViewPartConfig(SceneModel):
    """A part in a real photo, at the pose the fixture holds it (world frame)."""

    part: str
    """Name of the part in the part library: a `parts[]` entry's name (`name`, else the mesh
    file stem or procedural name), or `NAME/BODY` for a body of a split STEP assembly."""
    pose: Mat4Field | None = None
    """World-from-object 4x4 (object frame = the mesh's own frame after unit conversion;
    translation in the view's `units`). Alternatively give `position`/`rotation_deg`."""
    position: Vec3 | None = None
    """Object origin in world coordinates, in the view's `units` (with `rotation_deg`)."""
    rotation_deg: Vec3 | None = None
    """Extrinsic x, y, z Euler angles in degrees, as `parts[].rotation_deg` (default 0 0 0)."""
    material: MaterialConfig | None = None
    """Material of this part in the render (default: its `parts[]` entry's material). Any
    distribution form; resolved by the view's `appearance`."""

    @field_validator("pose")
    @classmethod
    def _rigid(cls, m: Matrix4 | None) -> Matrix4 | None:
        return None if m is None else _check_rigid(m, "world-from-object")

    @model_validator(mode="after")
    def _one_pose(self) -> RealViewPartConfig:
        if self.pose is not None and (self.position is not None or self.rotation_deg is not None):
            raise ValueError("give the pose either as pose (a 4x4 world-from-object matrix) or "
                             "as position/rotation_deg, not both")
        if self.pose is None and self.position is None:
            raise ValueError("missing the part's pose: give pose (a 4x4 world-from-object "
                             "matrix) or position (and rotation_deg)")
        return self


class RealViewConfig(SceneModel):
    """A real photo with the camera pose and part poses it was taken at (pinned view).

    `synthgap.generators.real.views.render_aligned_views` renders each pinned view with the
    scene's camera intrinsics and distortion, so render and photo are pixel-aligned.
    Give the camera pose in exactly one of three forms: `camera_pose`, `rvec`/`tvec` or
    `camera_look_at`.
    """

    photo: Path
    """The real photo (PNG, JPEG, BMP or TIFF; as taken, not undistorted), relative to the
    scene file. Its size must equal `image` (the size the camera was calibrated at)."""
    units: Literal["m", "mm"] = "m"
    """Length unit of every translation in this entry: `camera_pose` and `tvec` translations,
    `camera_look_at` points, part `pose` translations and `position`."""
    camera_pose: Mat4Field | None = None
    """World-from-camera 4x4, OpenCV camera frame (+x right, +y down, +z forward): its columns
    are the camera axes and centre in world coordinates."""
    rvec: Vec3 | None = None
    """OpenCV extrinsics (with `tvec`), camera-from-world as returned by `cv2.solvePnP` or
    `cv2.calibrateCamera`: Rodrigues rotation vector, radians; x_cam = R(rvec)·x_world + tvec."""
    tvec: Vec3 | None = None
    """OpenCV extrinsics translation (with `rvec`), camera-from-world, in `units`."""
    camera_look_at: LookAtConfig | None = None
    """Camera pose as `{eye, look_at, up}` (world frame, in `units`)."""
    parts: tuple[RealViewPartConfig, ...] = Field(min_length=1)
    """The labelled parts in the photo and their poses (at least one). Nothing else is
    drawn: no distractors, no defects."""
    appearance: Literal["midpoint", "sample"] = "midpoint"
    """How materials, lights, background and sensor effects are chosen: `midpoint` takes the
    middle of each distribution (range: its centre; normal: mu; choice: the first option),
    `sample` draws them from the scene's distributions (seeded per view)."""
    lights: tuple[LightConfig, ...] | None = None
    """Lights for this view instead of the scene's `lights` (e.g. the cell's fixed lighting)."""
    background: BackgroundConfig | None = None
    """Background for this view instead of the scene's `background` (e.g. `plane: false` when
    the fixture is not a table at z = 0)."""

    @field_validator("camera_pose")
    @classmethod
    def _rigid(cls, m: Matrix4 | None) -> Matrix4 | None:
        return None if m is None else _check_rigid(m, "world-from-camera")

    @model_validator(mode="after")
    def _one_camera_form(self) -> RealViewConfig:
        if (self.rvec is None) != (self.tvec is None):
            given, missing = ("rvec", "tvec") if self.tvec is None else ("tvec", "rvec")
            raise ValueError(f"{given} needs {missing} too (OpenCV extrinsics come as a pair)")
        forms = [k for k, v in (("camera_pose", self.camera_pose), ("rvec/tvec", self.rvec),
                                ("camera_look_at", self.camera_look_at)) if v is not None]
        if not forms:
            raise ValueError("missing the camera pose: give one of camera_pose (4x4 "
                             "world-from-camera), rvec/tvec (OpenCV camera-from-world) or "
                             "camera_look_at {eye, look_at, up}")
        if len(forms) > 1:
            raise ValueError(f"give the camera pose in one form only, got {' and '.join(forms)}")
        return self

    @model_validator(mode="after")
    def _bounded(self) -> RealViewConfig:
        """Every translation within `MAX_WORLD_M` of the origin (a 1e300 would render an
        empty view or overflow float32)."""
        from synthgap.scenes.limits import MAX_WORLD_M

        scale = _UNIT_SCALE[self.units]
        points: list[tuple[str, Any]] = []
        if self.camera_pose is not None:
            points.append(("camera_pose", [row[3] for row in self.camera_pose[:3]]))
        if self.tvec is not None:
            points.append(("tvec", self.tvec))
        if self.camera_look_at is not None:
            points += [("camera_look_at.eye", self.camera_look_at.eye),
                       ("camera_look_at.look_at", self.camera_look_at.look_at)]
        for i, p in enumerate(self.parts):
            if p.pose is not None:
                points.append((f"parts[{i}].pose", [row[3] for row in p.pose[:3]]))
            if p.position is not None:
                points.append((f"parts[{i}].position", p.position))
        for name, xyz in points:
            if not all(np.isfinite(x) and abs(x) * scale <= MAX_WORLD_M for x in xyz):
                raise ValueError(f"{name}: translation {[float(f'{x:.4g}') for x in xyz]} "
                                 f"{self.units} is beyond +-{MAX_WORLD_M:g} m; check the units")
        return self

    @property
    def unit_scale(self) -> float:
        """Metres per unit of this entry's translations."""
        return _UNIT_SCALE[self.units]
