"""The scene file schema: frozen, validated pydantic models, one docstring per field.

Units and frames: metres, degrees, linear RGB in [0, 1]; world +z up, the support plane is
z = 0; camera frame OpenCV (+x right, +y down, +z forward). Every field typed `FloatDist`,
`IntDist` or `ColorDist` accepts the variation forms of `synthgap.scenes.distributions`.
Paths are absolute once a scene is loaded (`load_scene` resolves them against the scene file).
`real_views` pin poses instead: camera poses world-from-camera (or OpenCV `rvec`/`tvec`,
camera-from-world), part poses world-from-object.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator, model_validator

from synthgap.scenes.camera import CameraConfig, CameraPoseConfig, ImageConfig, Intrinsics
from synthgap.scenes.fields import SceneModel
from synthgap.scenes.lights import LightConfig
from synthgap.scenes.parts import (
    MATERIAL_METALLIC,
    MATERIAL_ROUGHNESS,
    MESH_SUFFIXES,
    PROCEDURAL_PARTS,
    DefectConfig,
    MaterialConfig,
    PartConfig,
    RestPoseConfig,
)
from synthgap.scenes.real_views import (
    LookAtConfig,
    Mat4Field,
    Matrix4,
    RealViewConfig,
    RealViewPartConfig,
    rigid_matrix,
)
from synthgap.scenes.surroundings import BackgroundConfig, DistractorsConfig, SensorConfig

__all__ = [
    "MATERIAL_METALLIC",
    "MATERIAL_ROUGHNESS",
    "MESH_SUFFIXES",
    "PROCEDURAL_PARTS",
    "BackgroundConfig",
    "CameraConfig",
    "CameraPoseConfig",
    "DefectConfig",
    "DistractorsConfig",
    "ImageConfig",
    "Intrinsics",
    "LightConfig",
    "LookAtConfig",
    "Mat4Field",
    "MaterialConfig",
    "Matrix4",
    "PartConfig",
    "RealViewConfig",
    "RealViewPartConfig",
    "RestPoseConfig",
    "Scene",
    "SensorConfig",
    "rigid_matrix",
]


class Scene(SceneModel):
    """A scene file: what to render and how it varies from image to image."""

    seed: int = Field(0, ge=0)
    """Default run seed, >= 0 (the CLI's `--seed` overrides it)."""
    image: ImageConfig = Field(default_factory=ImageConfig)
    """Output image size."""
    camera: CameraConfig = Field(default_factory=CameraConfig)
    """The camera."""
    parts: tuple[PartConfig, ...] = Field(min_length=1)
    """Part entries (at least one)."""
    area: tuple[float, float] | None = None
    """Size (x, y) in metres of the rectangle on the support plane, centred under
    `camera.pose.look_at`, where parts and distractors are placed. Default: half the view
    footprint at the nearest camera distance looking straight down."""
    overlap: float = Field(0.0, ge=0.0, lt=1.0)
    """How far the xy bounding circles of placed parts and distractors may overlap, as a
    fraction of the sum of their radii, in [0, 1): 0 = circles never overlap; 0.3 = centres
    may come as close as 0.7 x (r1 + r2) (parts then often hide each other; long parts'
    circles are loose, so they need not touch). `synthgap scene fit` sets it from the photos."""
    lights: tuple[LightConfig, ...] = Field(default_factory=lambda: (LightConfig(),))
    """Light sources."""
    background: BackgroundConfig = Field(default_factory=BackgroundConfig)
    """Background and support plane."""
    distractors: DistractorsConfig = Field(default_factory=DistractorsConfig)
    """Unlabelled clutter."""
    sensor: SensorConfig = Field(default_factory=SensorConfig)
    """Post-render sensor effects."""
    real_views: tuple[RealViewConfig, ...] = ()
    """Real photos with the camera and part poses they were taken at (e.g. an inspection cell
    with a fixture), for pixel-aligned (render, photo) pairs; not used by `render`."""

    @model_validator(mode="after")
    def _check(self) -> Scene:
        cam = self.camera
        if cam.intrinsics is None and cam.fov_deg is None and cam.calibration is None:
            raise ValueError("camera needs intrinsics {fx, fy, cx, cy}, a calibration file or "
                             "fov_deg")
        envs = [i for i, light in enumerate(self.lights) if light.type == "environment"]
        pictured = [i for i in envs if self.lights[i].image is not None]
        if pictured and len(envs) > 1:
            raise ValueError(f"lights[{pictured[0]}]: an environment light with an image cannot "
                             f"be combined with other environment lights (lights {envs}); keep "
                             "one")
        return self

    @field_validator("area")
    @classmethod
    def _positive_area(cls, area: tuple[float, float] | None) -> tuple[float, float] | None:
        if area is not None and not all(math.isfinite(a) and a > 0 for a in area):
            raise ValueError(f"area must be two positive sizes in metres, got {list(area)}")
        return area

    def intrinsics(self) -> Intrinsics:
        """The pinhole intrinsics at `image` size (computed from `fov_deg` if given that way)."""
        cam = self.camera
        if cam.intrinsics is not None:
            return cam.intrinsics
        if cam.fov_deg is None:
            raise ValueError("camera.calibration has not been read; load scenes with load_scene")
        f = 0.5 * self.image.height / math.tan(math.radians(cam.fov_deg) / 2)
        return Intrinsics(fx=f, fy=f, cx=(self.image.width - 1) / 2, cy=(self.image.height - 1) / 2)

    def with_image_size(self, width: int, height: int) -> Scene:
        """A copy rendering at `width` x `height`, with explicit intrinsics scaled to match.

        Same aspect ratio (the height within one pixel of `width * image.height / image.width`):
        focal lengths and principal point scale by `width / image.width` (x) and
        `height / image.height` (y), using the pixel-centre convention
        `c' = (c + 0.5) * s - 0.5`. Another aspect ratio: the pixels stay square (fx and fy
        both scale by `height / image.height`, so the vertical field of view is kept and the
        horizontal one widens or narrows, as with `fov_deg`); the principal point keeps its
        relative position. `fov_deg` intrinsics need no scaling.

        Raises:
            SceneError (a ValueError): a size under 8x8.
        """
        from synthgap.scenes.errors import SceneError

        if width < 8 or height < 8:
            raise SceneError(f"requested size {width}x{height}",
                             [("image", f"image size must be at least 8x8, got "
                                        f"{width}x{height}")])
        cam = self.camera
        w0, h0 = self.image.width, self.image.height
        if cam.intrinsics is not None:
            sx, sy = width / w0, height / h0
            fsx = sx if abs(height - width * h0 / w0) <= 1.0 else sy  # square pixels stay square
            k = cam.intrinsics
            k2 = Intrinsics(fx=k.fx * fsx, fy=k.fy * sy, cx=(k.cx + 0.5) * sx - 0.5,
                            cy=(k.cy + 0.5) * sy - 0.5)
            cam = cam.model_copy(update={"intrinsics": k2})
        return self.model_copy(update={"image": ImageConfig(width=width, height=height),
                                       "camera": cam})
