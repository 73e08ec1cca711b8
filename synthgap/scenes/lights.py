"""Scene schema: light sources and which keys apply to which light type."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from synthgap.scenes.distributions import Bounded, ColorDist, FloatDist
from synthgap.scenes.fields import (
    Angle,
    Elevation,
    NonNeg,
    Positive,
    SceneModel,
    as_dist,
)

__all__ = ["LightConfig"]


# key -> light types it applies to (keys not listed apply to every type)
_LIGHT_ONLY = {
    "distance": ("point", "spot", "area"),
    "elevation": ("directional", "point", "spot", "area"),
    "azimuth": ("directional", "point", "spot", "area", "dome"),
    "radius": ("ring",),
    "ring_count": ("ring",),
    "inner_cone_deg": ("spot", "area"),
    "outer_cone_deg": ("spot", "area"),
    "count": ("dome", "area"),
    "size": ("area",),
    "shadows": ("directional", "spot", "dome", "area"),
    "image": ("environment",),
    "projection": ("environment",),
}
_LIGHT_KEYS = {
    kind: ("type", "intensity", "temperature_k", "color",
           *(k for k, kinds in _LIGHT_ONLY.items() if kind in kinds))
    for kind in ("directional", "point", "spot", "ring", "dome", "area", "environment")
}


class LightConfig(SceneModel):
    """A light, placed on a sphere around the camera's `look_at` (or on the camera: `ring`)."""

    type: Literal["directional", "point", "spot", "ring", "dome", "area",
                  "environment"] = "directional"
    """`directional` (sun-like), `point`, `spot` (cone aimed at look_at), `ring` (point lights on
    a circle around the lens, moving with the camera), `dome` (`count` directional lights
    spread evenly over the upper hemisphere: soft, shadow-free light from all around), `area`
    (a `size` rectangle of `count` spot lights aimed at look_at: a panel or bar light; with
    `shadows: true` it casts soft shadows), `environment` (a studio surrounding, bright above
    the horizon and dark below, or the photo `image`, that every surface reflects, metal
    most: `intensity` is its radiance, ~0.3-1). Every light is shaded (up to 16 per type in
    one colour pass, 4 with shadows; more take more passes)."""
    intensity: NonNeg = Field(default_factory=lambda: as_dist([2.0, 5.0]))
    """W/m² for directional, candela for point/spot (pyrender units); for `ring`, `dome` and
    `area`, the whole light's, shared by its `count` lights."""
    temperature_k: Annotated[FloatDist, AfterValidator(Bounded(1000.0, 40000.0))] = Field(
        default_factory=lambda: as_dist(6500.0))
    """Colour temperature in kelvin; the colour is a blackbody approximation."""
    color: ColorDist | None = None
    """Explicit light colour; overrides `temperature_k` when given."""
    distance: Positive = Field(default_factory=lambda: as_dist([0.5, 1.0]))
    """Distance from look_at, metres (point/spot)."""
    elevation: Elevation = Field(default_factory=lambda: as_dist([30.0, 90.0]))
    """Degrees above the support plane (not used for ring and dome)."""
    azimuth: Angle = Field(default_factory=lambda: as_dist([0.0, 360.0]))
    """Degrees around world +z (not used for ring; for dome, the turn of its light pattern)."""
    radius: Positive = Field(default_factory=lambda: as_dist(0.05))
    """Ring radius around the lens, metres (ring only)."""
    ring_count: int = Field(8, ge=1, le=64)
    """Number of point lights on the ring (ring only)."""
    inner_cone_deg: float = Field(15.0, ge=0.0, lt=90.0)
    """Spot inner cone half angle, degrees (spot and the lights of an area)."""
    outer_cone_deg: float = Field(35.0, gt=0.0, le=90.0)
    """Spot outer cone half angle, degrees (spot and the lights of an area)."""
    count: int = Field(16, ge=1, le=256)
    """Number of lights of a `dome` or an `area` (an area arranges them in a grid that
    follows its `size`'s aspect ratio, e.g. 16 x 1 for a bar)."""
    size: tuple[float, float] = (0.1, 0.1)
    """`area` only: width and height of the light's rectangle, metres (width horizontal)."""
    shadows: bool = False
    """Cast shadows (shadow maps; directional, spot, dome and area lights). Each shadowed
    light costs one extra depth pass per image."""
    image: Path | None = None
    """`environment` only: a photo of the cell or its surroundings (PNG/JPEG/..., relative to
    the scene file) that surrounds the scene instead of the studio gradient; its sRGB colours
    (linear 0-1) times `intensity` are the radiance. Metal reflects it, blurred with
    roughness; it lights diffuse surfaces too. At most one environment light per scene may
    have an image."""
    projection: Literal["auto", "equirectangular", "hemisphere"] = "auto"
    """How `image` wraps around the scene: `equirectangular` (a 360 x 180 degree panorama,
    its centre column facing world +x, top row the zenith), `hemisphere` (an ordinary photo
    spread over the upper hemisphere, its top at the zenith, its bottom at the horizon, mirrored
    once around; below the horizon a floor of the photo's bottom rows' mean colour) or `auto`
    (equirectangular when the image is twice as wide as high, within 2 %)."""

    @model_validator(mode="before")
    @classmethod
    def _only_relevant_keys(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("type", "directional") in _LIGHT_KEYS:
            kind = data.get("type", "directional")
            for key in data:
                if key in _LIGHT_ONLY and kind not in _LIGHT_ONLY[key]:
                    raise ValueError(f"{key} applies to {' and '.join(_LIGHT_ONLY[key])} lights, "
                                     f"not {kind}")
        return data

    def relevant_keys(self) -> tuple[str, ...]:
        """The keys that matter for this light's type (what `scene_to_yaml` writes)."""
        return _LIGHT_KEYS[self.type]

    @model_validator(mode="after")
    def _cones(self) -> LightConfig:
        if self.projection != "auto" and self.image is None:
            raise ValueError("projection applies to an environment light with an image")
        if not all(math.isfinite(v) and v > 0 for v in self.size):
            raise ValueError(f"size must be two positive lengths in metres, got "
                             f"{list(self.size)}")
        if self.inner_cone_deg >= self.outer_cone_deg:
            raise ValueError(f"inner_cone_deg ({self.inner_cone_deg}) must be < outer_cone_deg "
                             f"({self.outer_cone_deg})")
        return self
