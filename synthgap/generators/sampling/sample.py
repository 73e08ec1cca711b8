"""Draw the parameters of one image: `sample(scene, parts, index=i, seed=s) -> SampleParams`.

Pure: the only randomness is `np.random.default_rng([seed, index])`, consumed in a fixed order
(camera, parts with their materials and defects, distractors, lights, background, sensor), so
image *i* is the same whatever order images are drawn in, and every drawn value is in the
returned `SampleParams`. Frames and units are those of `synthgap.generators.params`: world
+z up with the support plane at z = 0, metres, OpenCV camera frame (+x right, +y down,
+z forward), camera pose world-from-camera, light poses world-from-light with the light
shining along its -z axis (OpenGL convention).
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from synthgap.generators.defects.features import chip_site, find_holes
from synthgap.generators.look.appearance import MeshAppearance, jitter_colors
from synthgap.generators.look.colour import temperature_to_rgb
from synthgap.generators.look.environment import environment_projection
from synthgap.generators.look.textures import TEXTURE_VARIANTS
from synthgap.generators.params import (
    BackgroundParams,
    CameraParams,
    DefectParams,
    DistractorParams,
    LightParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    SensorParams,
    as_matrix4,
    vec3,
    vec5,
)
from synthgap.generators.parts.assets import PartAsset
from synthgap.scenes.distributions import FloatDist, sample_color, sample_float, sample_int
from synthgap.scenes.schema import (
    MATERIAL_METALLIC,
    MATERIAL_ROUGHNESS,
    DefectConfig,
    MaterialConfig,
    PartConfig,
    Scene,
)

__all__ = [
    "PLACEMENT_TRIES",
    "look_at_pose",
    "placement_area",
    "sample",
    "sample_background",
    "sample_lights",
    "sample_material",
    "sample_sensor",
    "spherical_direction",
]

#: Positions tried per instance before it is left out (it would overlap the others).
PLACEMENT_TRIES = 50

# OpenCV camera axes -> OpenGL camera/light axes (y up, looking along -z).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def spherical_direction(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """`(3,)` unit vector at `elevation_deg` above the xy plane and `azimuth_deg` around +z
    (0 = +x, 90 = +y)."""
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def look_at_pose(eye: np.ndarray, target: np.ndarray, up: np.ndarray,
                 roll_deg: float = 0.0) -> np.ndarray:
    """World-from-camera `(4, 4)` pose, OpenCV frame, at `eye` looking at `target`.

    Args:
        eye: `(3,)` camera position, metres.
        target: `(3,)` point on the optical axis (+z), metres.
        up: `(3,)` world direction that should point up in the image (-y); must not be
            parallel to the viewing direction.
        roll_deg: rotation of the camera about its optical axis, degrees (positive turns the
            camera's +x axis towards its +y axis).

    Raises:
        ValueError: `eye == target` or `up` parallel to the viewing direction.
    """
    z = np.asarray(target, float) - np.asarray(eye, float)
    n = np.linalg.norm(z)
    if n < 1e-12:
        raise ValueError("camera eye and target coincide; the view direction is undefined")
    z /= n
    u = np.asarray(up, float)
    u = u - np.dot(u, z) * z
    nu = np.linalg.norm(u)
    if nu < 1e-9:
        raise ValueError(f"up vector {list(up)} is parallel to the view direction")
    y = -u / nu
    x = np.cross(y, z)
    R = np.stack([x, y, z], axis=1)
    if roll_deg:
        c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
        R = R @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = eye
    return T


def _up_hint(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """World +z projected onto the image plane of a camera at (elevation, azimuth) looking at
    the centre: continuous through elevation = ±90 degrees (where it becomes horizontal)."""
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array([-math.sin(e) * math.cos(a), -math.sin(e) * math.sin(a), math.cos(e)])


def _reference_value(dist: FloatDist) -> float:
    lo, _ = dist.support()
    return lo if math.isfinite(lo) and lo > 0 else float(dist.values[0])


def placement_area(scene: Scene) -> tuple[float, float]:
    """Size `(x, y)` in metres of the placement rectangle (centred under `look_at`).

    `scene.area` when given; otherwise half the footprint the camera sees on the plane at its
    nearest distance looking straight down.
    """
    if scene.area is not None:
        return (float(scene.area[0]), float(scene.area[1]))
    k = scene.intrinsics()
    d = _reference_value(scene.camera.pose.distance)
    return (0.5 * d * scene.image.width / k.fx, 0.5 * d * scene.image.height / k.fy)


def sample_material(cfg: MaterialConfig, rng: np.random.Generator,
              appearance: MeshAppearance | None = None, *, where: str = "material"
              ) -> MaterialParams:
    """Draw a material; `appearance` is the mesh file's own (None: it has none).

    Draw order (fixed distributions draw nothing): base colour, metallic, roughness,
    brightness, hue shift, saturation, then with a `texture` its variant and normal strength.
    """
    use_mesh = cfg.appearance == "mesh" or (cfg.appearance == "auto" and appearance is not None)
    if use_mesh and appearance is None:
        raise ValueError(f"{where}.appearance: mesh needs a mesh file with its own vertex "
                         "colours or texture; this one has none (use appearance: material)")
    base = sample_color(cfg.base_color, rng=rng)
    own = appearance if use_mesh else None
    metallic = (sample_float(cfg.metallic, rng=rng) if cfg.metallic is not None
                else own.metallic if own is not None else MATERIAL_METALLIC)
    roughness = (sample_float(cfg.roughness, rng=rng) if cfg.roughness is not None
                 else own.roughness if own is not None else MATERIAL_ROUGHNESS)
    brightness = sample_float(cfg.brightness, rng=rng)
    hue_shift = sample_float(cfg.hue_shift, rng=rng)
    saturation = sample_float(cfg.saturation, rng=rng)
    if use_mesh:
        return MaterialParams(base_color=(1.0, 1.0, 1.0), metallic=metallic, roughness=roughness,
                              source="mesh", brightness=brightness, hue_shift=hue_shift,
                              saturation=saturation)
    texture: _Texture = {}
    if cfg.texture != "none":
        texture = {"texture": cfg.texture,
                   "texture_scale": float(cfg.texture_scale),
                   "texture_seed": int(rng.integers(TEXTURE_VARIANTS)),
                   "uv": cfg.uv,
                   "normal_strength": sample_float(cfg.normal_strength, rng=rng)}
    if (brightness, hue_shift, saturation) != (1.0, 0.0, 1.0):
        rgb = jitter_colors(np.asarray(base, np.float32), hue_shift=hue_shift,
                            saturation=saturation) * brightness
        base = vec3(np.clip(rgb, 0.0, 1.0))
    return MaterialParams(base_color=base, metallic=metallic, roughness=roughness,
                          brightness=brightness, hue_shift=hue_shift, saturation=saturation,
                          **texture)


class _Texture(TypedDict, total=False):
    """The texture fields of `MaterialParams`, when a finish is drawn."""

    texture: str
    texture_scale: float
    texture_seed: int
    uv: Literal["box", "xatlas"]
    normal_strength: float


class _EnvironmentImage(TypedDict, total=False):
    """The photo fields of an environment `LightParams`."""

    image: str
    projection: Literal["equirectangular", "hemisphere"]


class _PlaneTexture(TypedDict, total=False):
    """The texture fields of `BackgroundParams`."""

    texture: str
    texture_size: float
    texture_seed: int


def _translation(x: float, y: float, z: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, y, z)
    return T


def _rot_z(angle: float) -> np.ndarray:
    T = np.eye(4)
    c, s = math.cos(angle), math.sin(angle)
    T[:2, :2] = [[c, -s], [s, c]]
    return T


class _Placer:
    """Draws xy positions in the area, rejecting overlap of xy bounding circles."""

    def __init__(self, centre: np.ndarray, area: tuple[float, float], overlap: float = 0.0):
        self.centre = centre
        self.half = np.array(area) / 2
        self.keep = 1.0 - overlap  # centres stay at least keep * (r1 + r2) apart
        self.circles: list[tuple[float, float, float]] = []

    def place(self, radius: float, rng: np.random.Generator) -> tuple[float, float] | None:
        for _ in range(PLACEMENT_TRIES):
            x, y = self.centre + rng.uniform(-self.half, self.half)
            if all(math.hypot(x - cx, y - cy) >= self.keep * (radius + r)
                   for cx, cy, r in self.circles):
                self.circles.append((float(x), float(y), radius))
                return float(x), float(y)
        return None


def _hull_xy(mesh: trimesh.Trimesh, T: np.ndarray) -> tuple[np.ndarray, float]:
    """xy centre of the bounding box of `mesh` posed by `T`, and the radius around it."""
    v = trimesh.transform_points(mesh.convex_hull.vertices, T)[:, :2]
    c = 0.5 * (v.min(axis=0) + v.max(axis=0))
    return c, float(np.linalg.norm(v - c, axis=1).max())


def _sample_camera(scene: Scene, rng: np.random.Generator) -> CameraParams:
    cam = scene.camera
    pc = cam.pose
    look_at = np.asarray(pc.look_at, float)
    jitter = np.array([sample_float(pc.look_at_jitter, rng=rng) for _ in range(3)])
    distance = sample_float(pc.distance, rng=rng)
    elevation = sample_float(pc.elevation, rng=rng)
    azimuth = sample_float(pc.azimuth, rng=rng)
    roll = sample_float(pc.roll, rng=rng)
    eye = look_at + distance * spherical_direction(elevation, azimuth)
    pose = look_at_pose(eye, look_at + jitter, _up_hint(elevation, azimuth), roll)
    k = scene.intrinsics()
    return CameraParams(width=scene.image.width, height=scene.image.height, fx=k.fx, fy=k.fy,
                        cx=k.cx, cy=k.cy, distortion=vec5(cam.distortion),
                        pose=as_matrix4(pose), znear=cam.znear, zfar=cam.zfar)


def _sample_defects(asset: PartAsset, scene: Scene, rng: np.random.Generator
                    ) -> tuple[DefectParams, ...]:
    out: list[DefectParams] = []
    for d in scene.parts[asset.entry].defects:
        hit = rng.random() < d.probability
        if not hit:
            continue
        n = sample_int(d.count, rng=rng)
        if d.type in ("chip", "missing_hole"):
            out.extend(_geometry_sites(asset, d, n, rng))
            continue
        points, faces = trimesh.sample.sample_surface(asset.mesh, n,
                                                      seed=int(rng.integers(2**31 - 1)))
        for p, f in zip(points, faces, strict=True):
            normal = np.asarray(asset.mesh.face_normals[f], float)
            out.append(_defect_at(d, p, normal, rng))
    return tuple(out)


def _defect_at(d: DefectConfig, p: np.ndarray, normal: np.ndarray, rng: np.random.Generator,
               sizes: dict[str, float] | None = None) -> DefectParams:
    """A defect of entry `d` at surface point `p`: a random tangent direction, its sizes and
    colour drawn (geometry defects without `color` are drawn in the part's material)."""
    a = rng.normal(size=3)
    t = a - np.dot(a, normal) * normal
    t /= max(np.linalg.norm(t), 1e-12)
    if sizes is None:
        sizes = {k: sample_float(dist, rng=rng) for k, dist in d.sizes().items()}
    color = sample_color(d.color, rng=rng) if d.color is not None else None
    return DefectParams(type=d.type, position=vec3(p), normal=vec3(normal), direction=vec3(t),
                        size=sizes, color=color)


def _geometry_sites(asset: PartAsset, d: DefectConfig, n: int, rng: np.random.Generator
                    ) -> list[DefectParams]:
    """`n` chips on sharp edges, or `n` distinct holes to fill (at most as many as the part
    has)."""
    if d.type == "chip":
        out = []
        for _ in range(n):
            p, normal = chip_site(asset.mesh, rng=rng)
            out.append(_defect_at(d, p, normal, rng))
        return out
    holes = find_holes(asset.mesh)
    if not holes:
        raise ValueError(f"part {asset.name!r} ({asset.source}): missing_hole needs a round "
                         "hole to fill and the part has none; remove the defect or use "
                         "extra_hole")
    picks = rng.choice(len(holes), size=min(n, len(holes)), replace=False)
    return [_defect_at(d, np.asarray(holes[k].centre), np.asarray(holes[k].axis), rng,
                       sizes={"radius_mm": holes[k].radius * 1e3,
                              "length_mm": holes[k].length * 1e3}) for k in picks]


def _rest_pose(entry: PartConfig, asset: PartAsset, rng: np.random.Generator) -> np.ndarray:
    """`(4, 4)` resting pose of one instance (before yaw and position), lowest point at z = 0."""
    if entry.placement == "stable":
        k = int(rng.choice(len(asset.stable_probs), p=asset.stable_probs))
        return np.array(asset.stable_poses[k])
    rest = np.eye(4)
    if entry.placement == "observed":
        w = np.array([r.weight for r in entry.rest_poses])
        k = int(rng.choice(len(w), p=w / w.sum()))
        rest[:3, :3] = Rotation.from_euler("xyz", entry.rest_poses[k].rotation_deg,
                                           degrees=True).as_matrix()
    else:  # random orientation
        rest[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    zmin = trimesh.transform_points(asset.mesh.convex_hull.vertices, rest)[:, 2]
    rest[2, 3] -= zmin.min()
    return rest


def _sample_parts(scene: Scene, parts: dict[str, PartAsset], placer: _Placer,
                  rng: np.random.Generator) -> tuple[PartInstanceParams, ...]:
    out: list[PartInstanceParams] = []
    for i, entry in enumerate(scene.parts):
        assets = [a for a in parts.values() if a.entry == i]
        if not assets:
            raise ValueError(f"the part library has no part for parts[{i}] "
                             f"({entry.default_name()}); build it with load_parts(scene)")
        count = sample_int(entry.count, rng=rng)
        for _ in range(count):
            asset = assets[int(rng.integers(len(assets)))] if len(assets) > 1 else assets[0]
            if entry.placement == "fixed":
                T = np.eye(4)
                T[:3, :3] = Rotation.from_euler("xyz", entry.rotation_deg, degrees=True).as_matrix()
                T[:3, 3] = entry.position
                c, r = _hull_xy(asset.mesh, T)
                placer.circles.append((float(c[0]), float(c[1]), r))
            else:
                rest = _rest_pose(entry, asset, rng)
                yaw = (rng.uniform(0.0, 2 * math.pi) if "yaw_deg" not in entry.model_fields_set
                       else math.radians(sample_float(entry.yaw_deg, rng=rng)))
                c, r = _hull_xy(asset.mesh, rest)
                xy = placer.place(r, rng)
                if xy is None:
                    continue  # no room left without overlapping: leave this instance out
                T = _translation(xy[0], xy[1], 0.0) @ _rot_z(yaw) @ _translation(-c[0], -c[1], 0.0)
                T = T @ rest
            material = sample_material(entry.material, rng, asset.appearance,
                                 where=f"parts[{i}].material")
            defects = _sample_defects(asset, scene, rng)
            out.append(PartInstanceParams(part=asset.name, category=asset.category,
                                          pose=as_matrix4(T), material=material, defects=defects))
    return tuple(out)


def _sample_distractors(scene: Scene, placer: _Placer, rng: np.random.Generator
                        ) -> tuple[DistractorParams, ...]:
    cfg = scene.distractors
    out: list[DistractorParams] = []
    for _ in range(sample_int(cfg.count, rng=rng)):
        prim = cfg.primitives[int(rng.integers(len(cfg.primitives)))]
        a, b, c = (sample_float(cfg.size, rng=rng) for _ in range(3))
        if prim == "box":
            size, z, radius = (a, b, c), c / 2, math.hypot(a, b) / 2
        elif prim == "cylinder":
            size, z, radius = (a / 2, a / 2, b), b / 2, a / 2
        elif prim == "capsule":  # size[2] is the overall height (two hemispheres included)
            size, z, radius = (a / 2, a / 2, a + b), (a + b) / 2, a / 2
        else:
            size, z, radius = (a / 2, a / 2, a / 2), a / 2, a / 2
        yaw = rng.uniform(0.0, 2 * math.pi)
        material = sample_material(cfg.material, rng, where="distractors.material")
        xy = placer.place(radius, rng)
        if xy is None:
            continue
        pose = _translation(xy[0], xy[1], z) @ _rot_z(yaw)
        out.append(DistractorParams(primitive=prim, size=vec3(size),
                                    pose=as_matrix4(pose), material=material))
    return tuple(out)


def sample_lights(scene: Scene, camera: CameraParams, rng: np.random.Generator
                   ) -> tuple[LightParams, ...]:
    """Draw the scene's lights (their positions relative to `camera` where the scene says
    so); also used for the pinned real views (`synthgap.generators.real.views`)."""
    target = np.asarray(scene.camera.pose.look_at, float)
    out: list[LightParams] = []
    for cfg in scene.lights:
        intensity = sample_float(cfg.intensity, rng=rng)
        if cfg.color is not None:
            color, kelvin = sample_color(cfg.color, rng=rng), None
        else:
            kelvin = sample_float(cfg.temperature_k, rng=rng)
            color = temperature_to_rgb(kelvin)
        extra: dict[str, float] = {}
        if cfg.type == "ring":
            pose = np.asarray(camera.pose) @ _CV_TO_GL
            extra = {"radius": sample_float(cfg.radius, rng=rng), "count": float(cfg.ring_count)}
        elif cfg.type == "environment":
            pose = np.eye(4)
        elif cfg.type == "dome":
            pose = _rot_z(math.radians(sample_float(cfg.azimuth, rng=rng)))
            pose[:3, 3] = target
            extra = {"count": float(cfg.count)}
        else:
            elevation = sample_float(cfg.elevation, rng=rng)
            azimuth = sample_float(cfg.azimuth, rng=rng)
            distance = sample_float(cfg.distance, rng=rng) if cfg.type != "directional" else 1.0
            eye = target + distance * spherical_direction(elevation, azimuth)
            pose = look_at_pose(eye, target, _up_hint(elevation, azimuth)) @ _CV_TO_GL
            if cfg.type in ("spot", "area"):
                extra = {"inner_cone": math.radians(cfg.inner_cone_deg),
                         "outer_cone": math.radians(cfg.outer_cone_deg)}
            if cfg.type == "area":
                w, h = cfg.size
                ny = max(1, min(cfg.count, round(math.sqrt(cfg.count * h / w))))
                nx = max(1, round(cfg.count / ny))  # nx * ny is the closest grid to count
                extra.update(width=float(w), height=float(h), nx=float(nx), ny=float(ny))
        image: _EnvironmentImage = {}
        if cfg.image is not None:
            image = {"image": str(cfg.image), "projection": environment_projection(
                cfg.image, cfg.projection)}
        out.append(LightParams(type=cfg.type, color=color, intensity=intensity,
                               pose=as_matrix4(pose), temperature_k=kelvin, extra=extra,
                               shadows=cfg.shadows, **image))
    return tuple(out)


def sample_background(scene: Scene, rng: np.random.Generator) -> BackgroundParams:
    """Draw the background (colour, plane, texture or image crop) of one image."""
    bg = scene.background
    color = sample_color(bg.color, rng=rng)
    image, crop = None, None
    if bg.image_files:
        image = str(bg.image_files[int(rng.integers(len(bg.image_files)))])
        side = sample_float(bg.crop, rng=rng)
        x0, y0 = rng.uniform(0.0, 1.0 - side, size=2)
        crop = (float(x0), float(y0), float(x0 + side), float(y0 + side))
    ambient = sample_color(bg.ambient, rng=rng)
    texture: _PlaneTexture = {}
    if bg.texture != "none" or bg.texture_image is not None:
        texture = {"texture": bg.texture if bg.texture != "none" else str(bg.texture_image),
                   "texture_size": float(bg.texture_size),
                   "texture_seed": int(rng.integers(TEXTURE_VARIANTS))
                   if bg.texture != "none" else 0}
    return BackgroundParams(color=color, plane=bg.plane, plane_size=bg.plane_size, image=image,
                            image_crop=crop, ambient=ambient, **texture)


def sample_sensor(scene: Scene, rng: np.random.Generator) -> SensorParams:
    """Draw the sensor and lens effects of one image."""
    s = scene.sensor
    return SensorParams(
        vignetting=sample_float(s.vignetting, rng=rng),
        blur_sigma=sample_float(s.blur_sigma, rng=rng),
        noise=sample_float(s.noise, rng=rng),
        jpeg_quality=None if s.jpeg_quality is None else sample_int(s.jpeg_quality, rng=rng),
        seed=int(rng.integers(0, 2**31 - 1)))


def sample(scene: Scene, parts: dict[str, PartAsset], *, index: int, seed: int) -> SampleParams:
    """Draw everything that makes image `index` of a run with seed `seed`.

    Args:
        scene: the validated scene.
        parts: its part library (`load_parts(scene)`).
        index: image number, >= 0.
        seed: run seed, >= 0. The image's stream is `np.random.default_rng([seed, index])`.

    Returns:
        The frozen `SampleParams`. Instances that find no room in the placement area after
        `PLACEMENT_TRIES` positions (their xy bounding circles would overlap) are left out,
        so `len(params.parts)` may be below the drawn count.

    Raises:
        ValueError: negative `index`/`seed`, or `parts` lacks an entry of `scene.parts`.
    """
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index={index}, seed={seed}")
    rng = np.random.default_rng([seed, index])
    camera = _sample_camera(scene, rng)
    centre = np.asarray(scene.camera.pose.look_at[:2], float)
    placer = _Placer(centre, placement_area(scene), scene.overlap)
    instances = _sample_parts(scene, parts, placer, rng)
    distractors = _sample_distractors(scene, placer, rng)
    lights = sample_lights(scene, camera, rng)
    background = sample_background(scene, rng)
    sensor = sample_sensor(scene, rng)
    return SampleParams(index=index, seed=seed, camera=camera, parts=instances, lights=lights,
                        background=background, distractors=distractors, sensor=sensor)
