"""Sampled parameters of one image: the contract between sampling and rendering.

`sample(scene, parts, index=i, seed=s)` draws a `SampleParams`; the renderer turns it into
pixels with no randomness of its own. Everything is plain, frozen data, JSON-able with
`to_dict()`, and stored in the image's record so any image can be regenerated exactly.

Frames and units (used throughout):

* World frame: metres, +z up; the support plane (table, conveyor, bin floor) is z = 0.
* Object frame: the part mesh's own frame after unit conversion (metres).
* Camera frame: OpenCV, +x right, +y down, +z forward. `CameraParams.pose` is world-from-camera.
  (The renderer converts to OpenGL's -z forward internally.)
* Colours: linear RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Vec3 = tuple[float, float, float]
Vec4 = tuple[float, float, float, float]
Vec5 = tuple[float, float, float, float, float]
Matrix4 = tuple[Vec4, ...]


def _floats(values: Iterable[Any], n: int) -> list[float]:
    out = [float(v) for v in values]
    if len(out) != n:
        raise ValueError(f"expected {n} numbers, got {len(out)}: {out}")
    return out


def vec3(values: Iterable[Any]) -> Vec3:
    """Three numbers (a sequence or array) as a tuple of floats; ValueError for another count."""
    x, y, z = _floats(values, 3)
    return x, y, z


def vec4(values: Iterable[Any]) -> Vec4:
    """Four numbers as a tuple of floats (`vec3`)."""
    a, b, c, d = _floats(values, 4)
    return a, b, c, d


def vec5(values: Iterable[Any]) -> Vec5:
    """Five numbers as a tuple of floats (`vec3`), e.g. OpenCV distortion k1, k2, p1, p2, k3."""
    a, b, c, d, e = _floats(values, 5)
    return a, b, c, d, e


def as_matrix4(m: np.ndarray | Matrix4) -> Matrix4:
    """A 4x4 array as a nested tuple of floats (hashable, JSON-able)."""
    a = np.asarray(m, dtype=float)
    if a.shape != (4, 4):
        raise ValueError(f"expected a 4x4 matrix, got shape {a.shape}")
    return tuple(vec4(row) for row in a)


@dataclass(frozen=True)
class MaterialParams:
    """Physically based (metallic-roughness) material, or the mesh's own appearance.

    Attributes:
        base_color: linear RGB in [0, 1] (`source == "material"`: brightness, hue and
            saturation already applied; `"mesh"`: unused, (1, 1, 1)).
        metallic: [0, 1].
        roughness: [0, 1].
        source: `material` (drawn in `base_color`) or `mesh` (drawn in the mesh file's vertex
            colours or texture, jittered by `brightness`, `hue_shift`, `saturation`).
        brightness: linear colour multiplier that was sampled (>= 0).
        hue_shift: hue rotation that was sampled, a fraction of the colour circle.
        saturation: HSV saturation multiplier that was sampled (>= 0).
        texture: procedural finish (`none`, `brushed`, `machined`, `cast`, `painted`) whose
            maps modulate `base_color` and `roughness` (`source == "material"` only).
        texture_scale: metres of surface per texture repeat.
        texture_seed: which variant of the finish (0 <= seed < `textures.TEXTURE_VARIANTS`).
        uv: how a `texture` is mapped onto the mesh: `box` (box projection) or `xatlas`
            (an xatlas UV atlas).
        normal_strength: multiplier of the tilt of the finish's normal map (0 = no normal
            map; 1 = the finish's own relief).
    """

    base_color: tuple[float, float, float]
    metallic: float
    roughness: float
    source: Literal["material", "mesh"] = "material"
    brightness: float = 1.0
    hue_shift: float = 0.0
    saturation: float = 1.0
    texture: str = "none"
    texture_scale: float = 0.03
    texture_seed: int = 0
    uv: Literal["box", "xatlas"] = "box"
    normal_strength: float = 0.0


@dataclass(frozen=True)
class DefectParams:
    """One defect on a part instance, in the part's object frame.

    Attributes:
        type: `scratch`, `dent`, `stain`, `crack` (surface patches) or `chip`,
            `missing_hole`, `extra_hole` (geometry, `synthgap.generators.defects.geometry`),
            as in the scene file.
        position: (3,) metres, a point on the part surface (object frame); for a chip a
            point on a sharp edge, for a missing hole the centre of the hole (on its axis,
            halfway along it).
        normal: (3,) unit outward surface normal at `position` (a chip: the bisector of the
            edge's faces; a missing hole: the hole's axis).
        direction: (3,) unit tangent along which a scratch or crack runs; it also seeds the
            irregular outline of a stain, crack or chip.
        size: type-specific sizes in millimetres, e.g. `{"length_mm": 8, "width_mm": 0.3}` or
            `{"radius_mm": 2, "depth_mm": 0.5}`; a missing hole records the hole's
            `radius_mm` and `length_mm`.
        color: linear RGB of the defect's surface in [0, 1] (a scratch shows bare metal);
            None for a geometry defect drawn in the part's own material.
    """

    type: str
    position: tuple[float, float, float]
    normal: tuple[float, float, float]
    direction: tuple[float, float, float]
    size: dict[str, float]
    color: tuple[float, float, float] | None


@dataclass(frozen=True)
class PartInstanceParams:
    """One labelled part in the image.

    Attributes:
        part: key of the part in the part library (`load_parts(scene)`).
        category: class name for labels.
        pose: world-from-object 4x4 (metres).
        material: its material.
        defects: defects on this instance (empty = OK part).
    """

    part: str
    category: str
    pose: Matrix4
    material: MaterialParams
    defects: tuple[DefectParams, ...] = ()


@dataclass(frozen=True)
class DistractorParams:
    """An unlabelled clutter object: it occludes parts but is never an instance.

    Attributes:
        primitive: `box`, `cylinder`, `sphere` or `capsule`.
        size: (3,) metres: box extents; cylinder/capsule (radius, radius, height); sphere
            (radius, radius, radius).
        pose: world-from-object 4x4.
        material: its material.
    """

    primitive: str
    size: tuple[float, float, float]
    pose: Matrix4
    material: MaterialParams


@dataclass(frozen=True)
class LightParams:
    """A light source.

    Attributes:
        type: `directional`, `point`, `spot`, `ring` (a ring light around the lens: the
            renderer places `count` point lights on a circle of `radius` m around the camera),
            `dome` (`count` directional lights over the upper hemisphere, turned about +z by
            the pose) or `area` (an `nx` x `ny` grid of spot lights filling a `width` x
            `height` m rectangle centred on the pose, aimed along its -z axis) or
            `environment` (a surrounding of radiance `intensity` x `color` that surfaces
            reflect: a studio gradient, or the photo `image`; pose unused).
        color: linear RGB in [0, 1] (from the sampled colour temperature).
        intensity: pyrender units: W/m² for directional/dome, candela for
            point/spot/ring/area; for ring, dome and area the whole light's, shared equally.
        pose: world-from-light 4x4; the light shines along its -z axis (OpenGL convention, as
            pyrender expects). For `ring`, the camera pose.
        temperature_k: the colour temperature that `color` was derived from (for the record).
        extra: type-specific values, e.g. `{"radius": 0.05, "count": 8}` for a ring,
            `{"inner_cone": 0.2, "outer_cone": 0.6}` (radians) for a spot, `{"count": 16}`
            for a dome, `{"width": .., "height": .., "nx": .., "ny": .., "inner_cone": ..,
            "outer_cone": ..}` for an area.
        shadows: cast shadow-mapped shadows (directional, spot, dome, area).
        image: `environment` only: absolute path of the photo it surrounds the scene with
            (None: the studio gradient).
        projection: `environment` with `image`: `equirectangular` (a 360 x 180 degree
            panorama) or `hemisphere` (an ordinary photo spread over the upper hemisphere).
    """

    type: Literal["directional", "point", "spot", "ring", "dome", "area", "environment"]
    color: tuple[float, float, float]
    intensity: float
    pose: Matrix4
    temperature_k: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    shadows: bool = False
    image: str | None = None
    projection: Literal["equirectangular", "hemisphere"] | None = None


@dataclass(frozen=True)
class BackgroundParams:
    """What is behind the parts.

    Attributes:
        color: linear RGB of the support plane (or of the clear colour when there is no plane).
        plane: draw a support plane at z = 0 (`True`) or only a clear colour (`False`).
        plane_size: edge length of the square plane in metres.
        image: absolute path of a background image to composite behind everything (or None).
        image_crop: `(x0, y0, x1, y1)` in [0, 1] relative coordinates of the crop of `image`.
        ambient: ambient light RGB in [0, 1].
        texture: procedural plane texture (`wood`, `belt`, `steel`), an image file's absolute
            path, or None (the plane is `color`).
        texture_size: metres of plane per texture repeat.
        texture_seed: variant of a procedural texture.
    """

    color: tuple[float, float, float]
    plane: bool = True
    plane_size: float = 2.0
    image: str | None = None
    image_crop: tuple[float, float, float, float] | None = None
    ambient: tuple[float, float, float] = (0.05, 0.05, 0.05)
    texture: str | None = None
    texture_size: float = 0.3
    texture_seed: int = 0


@dataclass(frozen=True)
class SensorParams:
    """Camera sensor/lens effects applied after rendering, in this order:
    vignetting, blur, noise, JPEG.

    Attributes:
        vignetting: darkening at the image corners in [0, 1] (0 = none).
        blur_sigma: Gaussian blur sigma in pixels (0 = none).
        noise: std of additive Gaussian noise, as a fraction of 255 (0 = none).
        jpeg_quality: JPEG quality 1-100, or None for no compression artefacts.
        seed: integer seed for the noise pattern (drawn by sampling, so effects are pure).
    """

    vignetting: float = 0.0
    blur_sigma: float = 0.0
    noise: float = 0.0
    jpeg_quality: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class CameraParams:
    """A real pinhole camera with optional OpenCV distortion.

    Attributes:
        width, height: image size in pixels.
        fx, fy, cx, cy: intrinsics in pixels (OpenCV convention: pixel centres at integers).
        distortion: OpenCV `(k1, k2, p1, p2, k3)`; all zeros for none.
        pose: world-from-camera 4x4, OpenCV camera frame (+z forward, +y down).
        znear, zfar: clipping distances in metres.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, float, float, float, float]
    pose: Matrix4
    znear: float = 0.01
    zfar: float = 10.0

    @property
    def K(self) -> np.ndarray:
        """`(3, 3) float64` intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class SampleParams:
    """Everything that makes image `index` of a run with seed `seed`.

    Attributes:
        index: image number.
        seed: run seed; the image's random stream was `np.random.default_rng([seed, index])`.
        camera: the camera.
        parts: labelled part instances; instance id k+1 in the masks is `parts[k]`.
        lights: light sources.
        background: background and support plane.
        distractors: unlabelled clutter.
        sensor: post-render sensor effects.
    """

    index: int
    seed: int
    camera: CameraParams
    parts: tuple[PartInstanceParams, ...]
    lights: tuple[LightParams, ...]
    background: BackgroundParams
    distractors: tuple[DistractorParams, ...] = ()
    sensor: SensorParams = field(default_factory=SensorParams)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able nested dict (tuples become lists)."""
        return asdict(self)
