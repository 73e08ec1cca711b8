"""Scene schema: part entries (mesh or procedural), their materials and defects."""

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
    Angle,
    NonNeg,
    Positive,
    Probability,
    SceneModel,
    Unit,
    Vec3,
    as_color,
    as_dist,
)

__all__ = ["MATERIAL_METALLIC", "MATERIAL_ROUGHNESS", "MESH_SUFFIXES", "PROCEDURAL_PARTS",
           "DefectConfig", "MaterialConfig", "PartConfig", "RestPoseConfig"]


#: Mesh file suffixes `load_parts` reads (STEP needs the `[step]` extra, cascadio).
MESH_SUFFIXES = (".stl", ".obj", ".ply", ".glb", ".gltf", ".off", ".step", ".stp")
#: Names accepted by `parts[].procedural`.
PROCEDURAL_PARTS = ("l_bracket", "flanged_washer", "hex_nut")


#: `metallic` and `roughness` of `appearance: material` when the scene leaves them out.
MATERIAL_METALLIC = 1.0
MATERIAL_ROUGHNESS = 0.4


class MaterialConfig(SceneModel):
    """Physically based metallic-roughness material, or the mesh's own appearance, jittered."""

    appearance: Literal["auto", "mesh", "material"] = "material"
    """`material`: draw the part in `base_color`/`metallic`/`roughness`, ignoring the mesh
    file's colours and textures; `mesh`: draw the mesh's own vertex colours or UV texture (an
    error when the file has none), with `metallic`/`roughness` overriding the file's when
    given; `auto`: `mesh` when the file has colours or a texture, else `material`. A part
    without a `material:` key is `auto`; a `material:` block without `appearance` is
    `material`."""
    base_color: ColorDist = Field(default_factory=lambda: as_color([0.7, 0.7, 0.72]))
    """Linear RGB in [0, 1] (`appearance: material` only)."""
    metallic: Unit | None = None
    """Metalness in [0, 1]. Default: 1 for `appearance: material`; the file's own for `mesh`
    (glTF `metallicFactor`, else 0)."""
    roughness: Unit | None = None
    """Roughness in [0, 1]. Default: 0.4 for `appearance: material`; the file's own for `mesh`
    (glTF `roughnessFactor`, else from the MTL `Ns`, else 0.7); multiplies a glTF
    metallic-roughness texture."""
    brightness: NonNeg = Field(default_factory=lambda: as_dist(1.0))
    """Multiplier of the colour (linear): the base colour, or the mesh's colours/texture."""
    hue_shift: Annotated[FloatDist, AfterValidator(Bounded(-0.5, 0.5))] = Field(
        default_factory=lambda: as_dist(0.0))
    """Hue rotation as a fraction of the colour circle (e.g. `[-0.02, 0.02]`), in [-0.5, 0.5]."""
    saturation: NonNeg = Field(default_factory=lambda: as_dist(1.0))
    """Multiplier of the colour saturation (HSV; 0 = grey, 1 = unchanged)."""
    texture: Literal["none", "brushed", "machined", "cast", "painted"] = "none"
    """Procedural surface finish (`appearance: material` only): colour and roughness maps that
    modulate `base_color` and `roughness`, box-projected onto the part (one of 8 variants
    drawn per instance)."""
    texture_scale: float = Field(0.03, gt=0.0)
    """Metres of part surface one repeat of the `texture` covers."""
    uv: Literal["box", "xatlas"] = "box"
    """How a `texture` is mapped onto the mesh: `box` (each face projected onto the plane of
    its dominant axis; instant) or `xatlas` (a UV atlas unwrapped by xatlas: less stretch,
    seams only where the charts meet; computed once per mesh and process: ~0.2 s for 4,000
    triangles, 1-10 s for 12k-46k on 2 loaded cores)."""
    normal_strength: Annotated[FloatDist, AfterValidator(Bounded(0.0, 4.0))] = Field(
        default_factory=lambda: as_dist(1.0))
    """Relief of the `texture`'s normal map (grooves, tool marks, bumps, orange peel), in
    [0, 4]: 0 = flat (no normal map), 1 = the finish's own relief, 2 = twice as steep."""

    @model_validator(mode="after")
    def _texture_keys(self) -> MaterialConfig:
        # (defaults pass: `scene_to_yaml` writes every field of every material)
        default_strength = (self.normal_strength.kind, tuple(self.normal_strength.values)) \
            == ("fixed", (1.0,))
        given = {k for k, changed in (("uv", self.uv != "box"),
                                      ("normal_strength", not default_strength)) if changed}
        if given and self.texture == "none":
            raise ValueError(f"{' and '.join(sorted(given))} apply to a procedural finish; "
                             "set texture (brushed, machined, cast or painted) or remove them")
        return self


_DEFECT_SIZES = {
    "scratch": {"length_mm": [2.0, 10.0], "width_mm": [0.1, 0.4]},
    "dent": {"radius_mm": [1.0, 3.0], "depth_mm": [0.2, 0.8]},
    "stain": {"radius_mm": [1.0, 4.0]},
    "crack": {"length_mm": [2.0, 8.0], "width_mm": [0.05, 0.15]},
    "chip": {"radius_mm": [0.8, 2.0]},
    "extra_hole": {"radius_mm": [0.5, 1.5], "depth_mm": [1.0, 4.0]},
    "missing_hole": {},  # the plug takes the size of the hole it fills
}
_DEFECT_COLORS = {"scratch": [0.9, 0.9, 0.9], "dent": [0.3, 0.3, 0.3],
                  "stain": [0.28, 0.09, 0.03], "crack": [0.02, 0.02, 0.02]}


class DefectConfig(SceneModel):
    """A kind of defect a part instance may carry (an instance with one is NG)."""

    type: Literal["scratch", "dent", "stain", "crack", "chip", "missing_hole", "extra_hole"]
    """Surface patches: `scratch` (a thin bright line), `dent` (a small round depression),
    `stain` (an irregular matt blob: rust, oil, paint) or `crack` (a thin dark branching
    line). Geometry (boolean edits of the mesh, which must be a closed volume): `chip` (a
    piece knocked off a sharp edge), `missing_hole` (one of the part's round holes filled)
    or `extra_hole` (a hole drilled where none should be)."""
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
    """Dent, stain, chip or extra_hole radius, millimetres (default [1, 3] dent, [1, 4]
    stain, [0.8, 2] chip: the size of the blob knocked off, [0.5, 1.5] extra_hole)."""
    depth_mm: Positive | None = None
    """Dent or extra_hole depth, millimetres (default [0.2, 0.8] dent, [1, 4] extra_hole: a
    hole deeper than the part is thick goes through)."""
    color: ColorDist | None = None
    """Colour of the defect's surface (default: scratch bright metal, dent dark grey, stain
    rust brown, crack near black; chip, missing_hole and extra_hole: the part's own material,
    else this colour on the faces the defect made)."""

    @model_validator(mode="before")
    @classmethod
    def _type_defaults(cls, data: object) -> object:
        if not isinstance(data, dict) or data.get("type") not in _DEFECT_SIZES:
            return data
        own = _DEFECT_SIZES[data["type"]]
        takes = (f"a {data['type']} takes {', '.join(own)}" if own else
                 "a missing_hole takes no size: its plug is the size of the hole it fills")
        for key in sorted({k for sizes in _DEFECT_SIZES.values() for k in sizes}):
            if data.get(key) is not None and key not in own:
                users = [t for t, sizes in _DEFECT_SIZES.items() if key in sizes]
                raise ValueError(f"{key} applies to {', '.join(users)} defects, not "
                                 f"{data['type']} ({takes})")
        out = {**{k: v for k, v in own.items()}, **{k: v for k, v in data.items() if v is not None}}
        if data["type"] in _DEFECT_COLORS:
            out.setdefault("color", _DEFECT_COLORS[data["type"]])
        return out

    def sizes(self) -> dict[str, FloatDist]:
        """The size distributions of this defect type, by key (`length_mm`, ...)."""
        return {k: getattr(self, k) for k in _DEFECT_SIZES[self.type]}


class RestPoseConfig(SceneModel):
    """One resting orientation of a part on the support plane (`placement: observed`)."""

    rotation_deg: Vec3
    """Orientation of the part relative to the plane, extrinsic x, y, z Euler angles in
    degrees (yaw about the plane normal is drawn separately from `yaw_deg`); the part is
    lowered until its lowest point touches z = 0."""
    weight: float = Field(1.0, gt=0.0)
    """Relative frequency (e.g. how many photos showed the part resting this way)."""


class PartConfig(SceneModel):
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
    placement: Literal["stable", "random", "fixed", "observed"] = "stable"
    """`stable`: a resting pose from trimesh stable poses on z = 0, random yaw and position;
    `random`: uniformly random orientation resting on z = 0; `fixed`: `position`/`rotation_deg`;
    `observed`: one of `rest_poses` (e.g. written by `synthgap scene fit` from photos), yaw
    from `yaw_deg`, random position."""
    rest_poses: tuple[RestPoseConfig, ...] = ()
    """`observed` placement: the resting orientations to draw from, by `weight`."""
    yaw_deg: Angle = Field(default_factory=lambda: as_dist([0.0, 360.0]))
    """`stable` and `observed` placement: rotation about the plane normal, degrees (0 = the
    resting orientation as given; a range such as `[-20, 40]` may cross 0 or 360)."""
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
        if self.placement == "observed" and not self.rest_poses:
            raise ValueError("placement: observed draws from rest_poses; list at least one "
                             "{rotation_deg: [x, y, z]} (or use placement: stable)")
        if self.placement != "observed" and self.rest_poses:
            raise ValueError(f"rest_poses apply to placement: observed, not {self.placement}")
        if self.placement in ("fixed", "random") and "yaw_deg" in fields:
            raise ValueError(f"yaw_deg applies to placement: stable or observed, not "
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
