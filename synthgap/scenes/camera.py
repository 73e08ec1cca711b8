"""Scene schema: the output image size and the camera (intrinsics, distortion, pose)."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from synthgap.scenes.distributions import FloatDist
from synthgap.scenes.fields import (
    Angle,
    Elevation,
    Positive,
    SceneModel,
    Vec3,
    as_dist,
)

__all__ = ["CameraConfig", "CameraPoseConfig", "ImageConfig", "Intrinsics"]


class ImageConfig(SceneModel):
    """Output image size."""

    width: int = Field(640, ge=8, le=16384)
    """Image width in pixels."""
    height: int = Field(480, ge=8, le=16384)
    """Image height in pixels."""


class Intrinsics(SceneModel):
    """Pinhole intrinsics in pixels (OpenCV convention: pixel centres at integer coordinates)."""

    fx: float = Field(gt=0)
    """Focal length along x, pixels."""
    fy: float = Field(gt=0)
    """Focal length along y, pixels."""
    cx: float
    """Principal point x, pixels."""
    cy: float
    """Principal point y, pixels."""


class CameraPoseConfig(SceneModel):
    """Camera position on a sphere around `look_at`, looking at it."""

    look_at: Vec3 = (0.0, 0.0, 0.0)
    """World point the camera aims at, metres."""
    look_at_jitter: FloatDist = Field(default_factory=lambda: as_dist(0.0))
    """Offset added to each of x, y, z of the aim point, metres (e.g. `[-0.01, 0.01]`)."""
    distance: Positive = Field(default_factory=lambda: as_dist([0.3, 0.4]))
    """Camera distance from `look_at`, metres."""
    elevation: Elevation = Field(default_factory=lambda: as_dist([45.0, 90.0]))
    """Angle above the support plane, degrees (90 = straight down, 0 = level)."""
    azimuth: Angle = Field(default_factory=lambda: as_dist([0.0, 360.0]))
    """Angle around the world +z axis, degrees, 0 = camera on the +x side."""
    roll: Angle = Field(default_factory=lambda: as_dist(0.0))
    """Rotation about the optical axis, degrees (0 = world up is image up)."""


class CameraConfig(SceneModel):
    """The camera: intrinsics (or a calibration file or a field of view), distortion, pose."""

    intrinsics: Intrinsics | None = None
    """Pinhole intrinsics in pixels for the `image` size."""
    calibration: Path | None = None
    """OpenCV calibration file (YAML/JSON as written by `cv2.FileStorage`, keys `camera_matrix`,
    `distortion_coefficients`, optional `image_width`/`image_height`). Consumed by `load_scene`:
    its values become `intrinsics` and `distortion` (scaled to `image` when the size differs)
    and this field is left empty."""
    fov_deg: float | None = Field(None, gt=1.0, lt=179.0)
    """Vertical field of view in degrees: square pixels, principal point at the image centre.
    Used when neither `intrinsics` nor `calibration` is given."""
    distortion: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    """OpenCV `[k1, k2, p1, p2, k3]` (4 values are accepted; k3 = 0)."""
    pose: CameraPoseConfig = Field(default_factory=CameraPoseConfig)
    """How the camera pose varies."""
    znear: float = Field(0.01, gt=0)
    """Near clipping distance, metres."""
    zfar: float = Field(10.0, gt=0)
    """Far clipping distance, metres."""

    @field_validator("distortion", mode="before")
    @classmethod
    def _pad_distortion(cls, d: object) -> object:
        if not isinstance(d, list | tuple) or len(d) not in (4, 5):
            raise ValueError(f"expected 4 or 5 numbers [k1, k2, p1, p2, k3] (OpenCV), got {d!r}")
        return (*d, 0.0) if len(d) == 4 else d

    @model_validator(mode="after")
    def _one_intrinsics_source(self) -> CameraConfig:
        given = [k for k in ("intrinsics", "calibration", "fov_deg")
                 if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of intrinsics, calibration or fov_deg, not {given}")
        if self.znear >= self.zfar:
            raise ValueError(f"znear ({self.znear}) must be < zfar ({self.zfar})")
        return self
