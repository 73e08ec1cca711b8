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
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from synthgap.scenes.distributions import Bounded, ColorDist, FloatDist, IntDist

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
    "MaterialConfig",
    "PartConfig",
    "RealViewConfig",
    "RealViewPartConfig",
    "Scene",
    "SensorConfig",
    "rigid_matrix",
]

#: Mesh file suffixes `load_parts` reads (STEP needs the `[step]` extra, cascadio).
MESH_SUFFIXES = (".stl", ".obj", ".ply", ".glb", ".gltf", ".off", ".step", ".stp")
#: Names accepted by `parts[].procedural`.
PROCEDURAL_PARTS = ("l_bracket", "flanged_washer", "hex_nut")


Unit = Annotated[FloatDist, AfterValidator(Bounded(0.0, 1.0))]
NonNeg = Annotated[FloatDist, AfterValidator(Bounded(0.0))]
Positive = Annotated[FloatDist, AfterValidator(Bounded(0.0, open_low=True))]
Elevation = Annotated[FloatDist, AfterValidator(Bounded(-90.0, 90.0))]
Angle = Annotated[FloatDist, AfterValidator(Bounded())]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Vec3 = tuple[float, float, float]


def _dist(raw: object) -> FloatDist:
    return FloatDist.model_validate(raw)


def _color(raw: object) -> ColorDist:
    return ColorDist.model_validate(raw)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True,
                              populate_by_name=True, use_attribute_docstrings=True,
                              allow_inf_nan=False)


class ImageConfig(_Model):
    """Output image size."""

    width: int = Field(640, ge=8, le=16384)
    """Image width in pixels."""
    height: int = Field(480, ge=8, le=16384)
    """Image height in pixels."""


class Intrinsics(_Model):
    """Pinhole intrinsics in pixels (OpenCV convention: pixel centres at integer coordinates)."""

    fx: float = Field(gt=0)
    """Focal length along x, pixels."""
    fy: float = Field(gt=0)
    """Focal length along y, pixels."""
    cx: float
    """Principal point x, pixels."""
    cy: float
    """Principal point y, pixels."""


class CameraPoseConfig(_Model):
    """Camera position on a sphere around `look_at`, looking at it."""

    look_at: Vec3 = (0.0, 0.0, 0.0)
    """World point the camera aims at, metres."""
    look_at_jitter: FloatDist = Field(default_factory=lambda: _dist(0.0))
    """Offset added to each of x, y, z of the aim point, metres (e.g. `[-0.01, 0.01]`)."""
    distance: Positive = Field(default_factory=lambda: _dist([0.3, 0.4]))
    """Camera distance from `look_at`, metres."""
    elevation: Elevation = Field(default_factory=lambda: _dist([45.0, 90.0]))
    """Angle above the support plane, degrees (90 = straight down, 0 = level)."""
    azimuth: Angle = Field(default_factory=lambda: _dist([0.0, 360.0]))
    """Angle around the world +z axis, degrees, 0 = camera on the +x side."""
    roll: Angle = Field(default_factory=lambda: _dist(0.0))
    """Rotation about the optical axis, degrees (0 = world up is image up)."""


class CameraConfig(_Model):
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


#: `metallic` and `roughness` of `appearance: material` when the scene leaves them out.
MATERIAL_METALLIC = 1.0
MATERIAL_ROUGHNESS = 0.4


class MaterialConfig(_Model):
    """Physically based metallic-roughness material, or the mesh's own appearance, jittered."""

    appearance: Literal["auto", "mesh", "material"] = "material"
    """`material`: draw the part in `base_color`/`metallic`/`roughness`, ignoring the mesh
    file's colours and textures; `mesh`: draw the mesh's own vertex colours or UV texture (an
    error when the file has none), with `metallic`/`roughness` overriding the file's when
    given; `auto`: `mesh` when the file has colours or a texture, else `material`. A part
    without a `material:` key is `auto`; a `material:` block without `appearance` is
    `material`."""
    base_color: ColorDist = Field(default_factory=lambda: _color([0.7, 0.7, 0.72]))
    """Linear RGB in [0, 1] (`appearance: material` only)."""
    metallic: Unit | None = None
    """Metalness in [0, 1]. Default: 1 for `appearance: material`; the file's own for `mesh`
    (glTF `metallicFactor`, else 0)."""
    roughness: Unit | None = None
    """Roughness in [0, 1]. Default: 0.4 for `appearance: material`; the file's own for `mesh`
    (glTF `roughnessFactor`, else from the MTL `Ns`, else 0.7); multiplies a glTF
    metallic-roughness texture."""
    brightness: NonNeg = Field(default_factory=lambda: _dist(1.0))
    """Multiplier of the colour (linear): the base colour, or the mesh's colours/texture."""
    hue_shift: Annotated[FloatDist, AfterValidator(Bounded(-0.5, 0.5))] = Field(
        default_factory=lambda: _dist(0.0))
    """Hue rotation as a fraction of the colour circle (e.g. `[-0.02, 0.02]`), in [-0.5, 0.5]."""
    saturation: NonNeg = Field(default_factory=lambda: _dist(1.0))
    """Multiplier of the colour saturation (HSV; 0 = grey, 1 = unchanged)."""
    texture: Literal["none", "brushed", "machined", "cast", "painted"] = "none"
    """Procedural surface finish (`appearance: material` only): colour and roughness maps that
    modulate `base_color` and `roughness`, box-projected onto the part (one of 8 variants
    drawn per instance)."""
    texture_scale: float = Field(0.03, gt=0.0)
    """Metres of part surface one repeat of the `texture` covers."""


_DEFECT_SIZES = {
    "scratch": {"length_mm": [2.0, 10.0], "width_mm": [0.1, 0.4]},
    "dent": {"radius_mm": [1.0, 3.0], "depth_mm": [0.2, 0.8]},
    "stain": {"radius_mm": [1.0, 4.0]},
    "crack": {"length_mm": [2.0, 8.0], "width_mm": [0.05, 0.15]},
}
_DEFECT_COLORS = {"scratch": [0.9, 0.9, 0.9], "dent": [0.3, 0.3, 0.3],
                  "stain": [0.28, 0.09, 0.03], "crack": [0.02, 0.02, 0.02]}


class DefectConfig(_Model):
    """A kind of surface defect a part instance may carry (an instance with one is NG)."""

    type: Literal["scratch", "dent", "stain", "crack"]
    """`scratch` (a thin bright line), `dent` (a small round depression), `stain` (an
    irregular matt blob: rust, oil, paint) or `crack` (a thin dark branching line)."""
    probability: Probability = 0.5
    """Chance that an instance carries defects of this entry, in [0, 1]."""
    count: Annotated[IntDist, AfterValidator(Bounded(1, 50))] = Field(
        default_factory=lambda: IntDist.model_validate(1))
    """How many defects of this entry an affected instance carries."""
    length_mm: Positive | None = None
    """Scratch or crack length, millimetres (default [2, 10] scratch, [2, 8] crack)."""
    width_mm: Positive | None = None
    """Scratch or crack width, millimetres (default [0.1, 0.4] scratch, [0.05, 0.15] crack)."""
    radius_mm: Positive | None = None
    """Dent or stain radius, millimetres (default [1, 3] dent, [1, 4] stain)."""
    depth_mm: Positive | None = None
    """Dent depth, millimetres (dent only; default [0.2, 0.8])."""
    color: ColorDist | None = None
    """Colour of the defect's surface (default: scratch bright metal, dent dark grey, stain
    rust brown, crack near black)."""

    @model_validator(mode="before")
    @classmethod
    def _type_defaults(cls, data: object) -> object:
        if not isinstance(data, dict) or data.get("type") not in _DEFECT_SIZES:
            return data
        own = _DEFECT_SIZES[data["type"]]
        for other, sizes in _DEFECT_SIZES.items():
            if other == data["type"]:
                continue
            for key in sizes:
                if data.get(key) is not None and key not in own:
                    raise ValueError(f"{key} applies to {other} defects, not {data['type']} "
                                     f"(a {data['type']} takes {', '.join(own)})")
        out = {**{k: v for k, v in own.items()}, **{k: v for k, v in data.items() if v is not None}}
        out.setdefault("color", _DEFECT_COLORS[data["type"]])
        return out

    def sizes(self) -> dict[str, FloatDist]:
        """The size distributions of this defect type, by key (`length_mm`, ...)."""
        return {k: getattr(self, k) for k in _DEFECT_SIZES[self.type]}


class PartConfig(_Model):
    """One part entry: a mesh file or a procedural part, how many, where, and what it looks like."""

    mesh: Path | None = None
    """Mesh file (STL, OBJ, PLY, GLB/glTF, OFF; STEP with the `[step]` extra)."""
    procedural: Literal["l_bracket", "flanged_washer", "hex_nut"] | None = None
    """Built-in procedural part instead of a mesh file."""
    name: str | None = None
    """Part name (key in the part library); default: file stem or procedural name."""
    category: str | None = Field(None, alias="class")
    """Class label (`class:` in YAML); default: the part name."""
    units: Literal["mm", "cm", "m", "in"] | None = None
    """Units of the mesh file (default mm); not allowed for STEP (the file states its units)
    and procedural parts (built in metres)."""
    scale: float = Field(1.0, gt=0)
    """Extra scale factor applied after unit conversion."""
    select: tuple[str, ...] | None = None
    """STEP assemblies: glob patterns of the body names to keep (default: all bodies)."""
    assembly: Literal["split", "merge"] = "split"
    """STEP assemblies: `split` makes every body its own part `NAME/BODY`; `merge` keeps the
    assembly as one rigid part."""
    count: Annotated[IntDist, AfterValidator(Bounded(0, 1000))] = Field(
        default_factory=lambda: IntDist.model_validate(1))
    """Number of instances of this entry per image (drawn once per image; an instance with no
    free room on the plane is left out). A STEP entry split into B bodies shares it: the
    count is drawn once for the whole entry and each instance is a body picked uniformly at
    random (with replacement), so the bodies together get `count` instances and one body
    anywhere from 0 to all of them (on average count/B); `synthgap validate` therefore
    counts such bodies from 0 (not `count`'s low end) in its per-class range."""
    placement: Literal["stable", "random", "fixed"] = "stable"
    """`stable`: a resting pose from trimesh stable poses on z = 0, random yaw and position;
    `random`: uniformly random orientation resting on z = 0; `fixed`: `position`/`rotation_deg`."""
    position: Vec3 = (0.0, 0.0, 0.0)
    """`fixed` placement: object origin in world, metres."""
    rotation_deg: Vec3 = (0.0, 0.0, 0.0)
    """`fixed` placement: extrinsic x, y, z Euler angles, degrees."""
    material: MaterialConfig = Field(default_factory=lambda: MaterialConfig(appearance="auto"))
    """Material distribution; without this key the part is drawn in the mesh file's own
    colours or texture when it has them (`appearance: auto`), else in the default material."""
    defects: tuple[DefectConfig, ...] = ()
    """Defect kinds instances may carry."""

    @model_validator(mode="after")
    def _check(self) -> PartConfig:
        if (self.mesh is None) == (self.procedural is None):
            raise ValueError("give exactly one of mesh (a file) or procedural "
                             f"(one of {', '.join(PROCEDURAL_PARTS)})")
        if self.units is not None and self.procedural is not None:
            raise ValueError("units applies to mesh files; procedural parts are built in metres")
        if self.mesh is not None and self.mesh.suffix.lower() in (".step", ".stp"):
            if self.units is not None:
                raise ValueError("units is not used for STEP files (they state their own units; "
                                 "cascadio converts to metres); remove it")
        is_step = self.mesh is not None and self.mesh.suffix.lower() in (".step", ".stp")
        fields = self.model_fields_set
        if not is_step and fields & {"select", "assembly"}:
            raise ValueError("select and assembly apply to STEP files only")
        if self.placement != "fixed" and fields & {"position", "rotation_deg"}:
            raise ValueError(f"position and rotation_deg apply to placement: fixed, not "
                             f"{self.placement}")
        if self.placement == "fixed" and self.count.support()[1] > 1:
            raise ValueError("placement: fixed puts every instance at the same pose; "
                             "use count: 1")
        return self

    @property
    def unit_scale(self) -> float:
        """Factor from file units to metres times `scale`."""
        factor = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "in": 0.0254}[self.units or "mm"]
        if self.procedural is not None or (
                self.mesh is not None and self.mesh.suffix.lower() in (".step", ".stp")):
            factor = 1.0
        return factor * self.scale

    def default_name(self) -> str:
        """`name`, else the mesh file stem, else the procedural name."""
        if self.name:
            return self.name
        return self.mesh.stem if self.mesh is not None else str(self.procedural)


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
}
_LIGHT_KEYS = {
    kind: ("type", "intensity", "temperature_k", "color",
           *(k for k, kinds in _LIGHT_ONLY.items() if kind in kinds))
    for kind in ("directional", "point", "spot", "ring", "dome", "area", "environment")
}


class LightConfig(_Model):
    """A light, placed on a sphere around the camera's `look_at` (or on the camera: `ring`)."""

    type: Literal["directional", "point", "spot", "ring", "dome", "area",
                  "environment"] = "directional"
    """`directional` (sun-like), `point`, `spot` (cone aimed at look_at), `ring` (point lights on
    a circle around the lens, moving with the camera), `dome` (`count` directional lights
    spread evenly over the upper hemisphere: soft, shadow-free light from all around), `area`
    (a `size` rectangle of `count` spot lights aimed at look_at: a panel or bar light; with
    `shadows: true` it casts soft shadows), `environment` (a studio surrounding, bright above
    the horizon and dark below, that every surface reflects, metal most: `intensity` is its
    radiance, ~0.3-1). Every light is shaded (up to 16 per type in one colour pass, 4 with
    shadows; more take more passes)."""
    intensity: NonNeg = Field(default_factory=lambda: _dist([2.0, 5.0]))
    """W/m² for directional, candela for point/spot (pyrender units); for `ring`, `dome` and
    `area`, the whole light's, shared by its `count` lights."""
    temperature_k: Annotated[FloatDist, AfterValidator(Bounded(1000.0, 40000.0))] = Field(
        default_factory=lambda: _dist(6500.0))
    """Colour temperature in kelvin; the colour is a blackbody approximation."""
    color: ColorDist | None = None
    """Explicit light colour; overrides `temperature_k` when given."""
    distance: Positive = Field(default_factory=lambda: _dist([0.5, 1.0]))
    """Distance from look_at, metres (point/spot)."""
    elevation: Elevation = Field(default_factory=lambda: _dist([30.0, 90.0]))
    """Degrees above the support plane (not used for ring and dome)."""
    azimuth: Angle = Field(default_factory=lambda: _dist([0.0, 360.0]))
    """Degrees around world +z (not used for ring; for dome, the turn of its light pattern)."""
    radius: Positive = Field(default_factory=lambda: _dist(0.05))
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
        if not all(math.isfinite(v) and v > 0 for v in self.size):
            raise ValueError(f"size must be two positive lengths in metres, got "
                             f"{list(self.size)}")
        if self.inner_cone_deg >= self.outer_cone_deg:
            raise ValueError(f"inner_cone_deg ({self.inner_cone_deg}) must be < outer_cone_deg "
                             f"({self.outer_cone_deg})")
        return self


class BackgroundConfig(_Model):
    """What is behind the parts: a coloured support plane, and optionally photos behind it."""

    color: ColorDist = Field(default_factory=lambda: _color([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]]))
    """Support plane colour (or clear colour when `plane: false`)."""
    plane: bool = True
    """Draw the support plane at z = 0."""
    plane_size: float = Field(2.0, gt=0)
    """Edge of the square support plane, metres."""
    images: Path | None = None
    """Folder of background photos (.png/.jpg/.jpeg/.bmp/.tif/.tiff) composited behind the
    scene (with `plane: false` they show wherever no part is)."""
    crop: Annotated[FloatDist, AfterValidator(Bounded(0.05, 1.0))] = Field(
        default_factory=lambda: _dist([0.5, 1.0]))
    """Side of the random crop of a background photo, relative to the photo (1 = whole)."""
    ambient: ColorDist = Field(default_factory=lambda: _color([0.05, 0.05, 0.05]))
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


class DistractorsConfig(_Model):
    """Unlabelled clutter objects resting on the support plane."""

    count: Annotated[IntDist, AfterValidator(Bounded(0, 1000))] = Field(
        default_factory=lambda: IntDist.model_validate(0))
    """Number of distractors per image."""
    primitives: tuple[Literal["box", "cylinder", "sphere", "capsule"], ...] = (
        "box", "cylinder", "sphere")
    """Shapes to pick from, equally likely."""
    size: Positive = Field(default_factory=lambda: _dist([0.01, 0.04]))
    """Characteristic size, metres: box edges (each drawn), cylinder/capsule/sphere diameter
    and height."""
    material: MaterialConfig = Field(default_factory=lambda: MaterialConfig(
        base_color=_color([[0.1, 0.1, 0.1], [0.9, 0.9, 0.9]]), metallic=_dist([0.0, 0.5]),
        roughness=_dist([0.3, 0.9])))
    """Material distribution."""

    @model_validator(mode="after")
    def _some_primitive(self) -> DistractorsConfig:
        if not self.primitives:
            raise ValueError("primitives must list at least one of box, cylinder, sphere, capsule")
        return self


class SensorConfig(_Model):
    """Sensor and lens effects applied after rendering."""

    noise: Unit = Field(default_factory=lambda: _dist(0.0))
    """Std of additive Gaussian noise as a fraction of full scale (0 = none)."""
    blur_sigma: NonNeg = Field(default_factory=lambda: _dist(0.0))
    """Gaussian blur sigma in pixels (0 = none)."""
    jpeg_quality: Annotated[IntDist, AfterValidator(Bounded(1, 100))] | None = None
    """JPEG quality 1-100 of the compression artefacts (none when omitted)."""
    vignetting: Unit = Field(default_factory=lambda: _dist(0.0))
    """Corner darkening in [0, 1] (0 = none)."""


# --------------------------------------------------------------------------- real views

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


class LookAtConfig(_Model):
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


class RealViewPartConfig(_Model):
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


class RealViewConfig(_Model):
    """A real photo with the camera pose and part poses it was taken at (pinned view).

    `synthgap.generators.views.render_aligned_views` renders each pinned view with the
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

    @property
    def unit_scale(self) -> float:
        """Metres per unit of this entry's translations."""
        return _UNIT_SCALE[self.units]


class Scene(_Model):
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
