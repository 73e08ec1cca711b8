"""Scene schema: background and support plane, distractors, sensor effects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from synthgap.scenes.distributions import Bounded, ColorDist, FloatDist, IntDist
from synthgap.scenes.fields import (
    NonNeg,
    Positive,
    SceneModel,
    Unit,
    as_color,
    as_dist,
)
from synthgap.scenes.parts import MaterialConfig

__all__ = ["BackgroundConfig", "DistractorsConfig", "SensorConfig"]


class BackgroundConfig(SceneModel):
    """What is behind the parts: a coloured support plane, and optionally photos behind it."""

    color: ColorDist = Field(default_factory=lambda: as_color([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]]))
    """Support plane colour (or clear colour when `plane: false`)."""
    plane: bool = True
    """Draw the support plane at z = 0."""
    plane_size: float = Field(2.0, gt=0)
    """Edge of the square support plane, metres."""
    images: Path | None = None
    """Folder of background photos (.png/.jpg/.jpeg/.bmp/.tif/.tiff) composited behind the
    scene (with `plane: false` they show wherever no part is)."""
    crop: Annotated[FloatDist, AfterValidator(Bounded(0.05, 1.0))] = Field(
        default_factory=lambda: as_dist([0.5, 1.0]))
    """Side of the random crop of a background photo, relative to the photo (1 = whole)."""
    ambient: ColorDist = Field(default_factory=lambda: as_color([0.05, 0.05, 0.05]))
    """Ambient light RGB in [0, 1]."""
    texture: Literal["none", "wood", "belt", "steel"] = "none"
    """Procedural support-plane texture (one of 8 variants drawn per image), instead of
    `color`."""
    texture_image: Path | None = None
    """A photo of the cell's surface tiled over the support plane instead of `color`
    (relative to the scene file)."""
    texture_size: float = Field(0.3, gt=0.0)
    """Metres of support plane one repeat of `texture`/`texture_image` covers."""
    image_files: tuple[Path, ...] = ()
    """Background photo files. `load_scene` fills it from `images` (sorted); alternatively list
    files here instead of giving `images`."""


class DistractorsConfig(SceneModel):
    """Unlabelled clutter objects resting on the support plane."""

    count: Annotated[IntDist, AfterValidator(Bounded(0, 1000))] = Field(
        default_factory=lambda: IntDist.model_validate(0))
    """Number of distractors per image."""
    primitives: tuple[Literal["box", "cylinder", "sphere", "capsule"], ...] = (
        "box", "cylinder", "sphere")
    """Shapes to pick from, equally likely."""
    size: Positive = Field(default_factory=lambda: as_dist([0.01, 0.04]))
    """Characteristic size, metres: box edges (each drawn), cylinder/capsule/sphere diameter
    and height."""
    material: MaterialConfig = Field(default_factory=lambda: MaterialConfig(
        base_color=as_color([[0.1, 0.1, 0.1], [0.9, 0.9, 0.9]]), metallic=as_dist([0.0, 0.5]),
        roughness=as_dist([0.3, 0.9])))
    """Material distribution."""

    @model_validator(mode="after")
    def _some_primitive(self) -> DistractorsConfig:
        if not self.primitives:
            raise ValueError("primitives must list at least one of box, cylinder, sphere, capsule")
        return self


class SensorConfig(SceneModel):
    """Sensor and lens effects applied after rendering."""

    noise: Unit = Field(default_factory=lambda: as_dist(0.0))
    """Std of additive Gaussian noise as a fraction of full scale (0 = none)."""
    blur_sigma: NonNeg = Field(default_factory=lambda: as_dist(0.0))
    """Gaussian blur sigma in pixels (0 = none)."""
    jpeg_quality: Annotated[IntDist, AfterValidator(Bounded(1, 100))] | None = None
    """JPEG quality 1-100 of the compression artefacts (none when omitted)."""
    vignetting: Unit = Field(default_factory=lambda: as_dist(0.0))
    """Corner darkening in [0, 1] (0 = none)."""
