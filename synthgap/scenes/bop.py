"""BOP-format scenes (real photos with intrinsics and 6D poses) read as synthgap scenes.

The BOP benchmark format (Hodaň et al.; used by LM-O, T-LESS, YCB-V and BlenderProc's BOP
writer) stores one scene as a folder:

```
SCENE/rgb/000003.png            the photos (png or jpg), named by image id
SCENE/scene_camera.json         {"3": {"cam_K": [9 numbers, row-major, pixels], "depth_scale": ..}}
SCENE/scene_gt.json             {"3": [{"obj_id": 1, "cam_R_m2c": [9], "cam_t_m2c": [3, mm]}, ..]}
SCENE/scene_gt_info.json        optional: {"3": [{"bbox_visib": [x, y, w, h], "px_count_visib":
                                ..., "visib_fract": ...}, ..]} in the order of scene_gt
MODELS/obj_000001.ply           the object meshes, millimetres
```

`read_bop_scene` reads and checks such a folder into a `BopScene` (plain data; every file it
opens is inside the folders it was given). `bop_scene_to_scene` turns chosen images into a
synthgap `Scene` whose `real_views` pin each photo's exact camera and object poses: world frame
= the camera frame of the photo (identity camera pose), object poses model-to-camera, units mm.
Rendering those views (`synthgap.generators.real.ground_truth`) gives each photo's instance masks,
visible boxes and visible fractions, and pixel-aligned (render, photo) pairs for adaptation.

Frames: BOP poses map model coordinates (mm) into the OpenCV camera frame (+x right, +y down,
+z forward), as synthgap's do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.scenes.errors import SceneError
from synthgap.scenes.schema import Scene

__all__ = [
    "BopFormatError",
    "BopImage",
    "BopObject",
    "BopScene",
    "bop_scene_to_scene",
    "read_bop_scene",
]

_PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif")


class BopFormatError(SceneError):
    """A BOP scene folder is missing a file or holds a malformed field (names both)."""

    def __init__(self, file: str | Path, field: str, message: str) -> None:
        super().__init__(str(file), [(field, message)])


@dataclass(frozen=True, eq=False)
class BopObject:
    """One annotated object instance in one photo.

    Attributes:
        obj_id: BOP object id (the model is `obj_{obj_id:06d}.ply`).
        pose: `(4, 4) float64` model-to-camera transform, translation in millimetres, OpenCV
            camera frame.
        bbox_visib: visible box `(x, y, w, h)` in pixels as BOP writes it (x_max - x_min), or
            None when the folder has no `scene_gt_info.json`.
        px_count_visib: visible pixel count from `scene_gt_info.json` (None without it).
        visib_fract: visible fraction from `scene_gt_info.json` (None without it).
    """

    obj_id: int
    pose: np.ndarray
    bbox_visib: tuple[int, int, int, int] | None = None
    px_count_visib: int | None = None
    visib_fract: float | None = None


@dataclass(frozen=True, eq=False)
class BopImage:
    """One photo of a BOP scene.

    Attributes:
        image_id: the BOP image id (key in the json files).
        rgb: absolute path of the photo.
        K: `(3, 3) float64` intrinsics in pixels (OpenCV convention).
        objects: the annotated instances, in `scene_gt.json` order.
    """

    image_id: int
    rgb: Path
    K: np.ndarray
    objects: tuple[BopObject, ...]


@dataclass(frozen=True, eq=False)
class BopScene:
    """A BOP scene folder, read and checked.

    Attributes:
        scene_dir: the scene folder (absolute).
        models_dir: the folder of `obj_XXXXXX.ply` models (absolute).
        images: the photos, sorted by image id.
        models: obj_id -> model file (absolute), for every object that appears.
        width, height: photo size in pixels (all photos share it).
    """

    scene_dir: Path
    models_dir: Path
    images: tuple[BopImage, ...]
    models: dict[int, Path]
    width: int
    height: int

    def image(self, image_id: int) -> BopImage:
        """The photo with BOP id `image_id` (KeyError naming the ids there are otherwise)."""
        for im in self.images:
            if im.image_id == image_id:
                return im
        raise KeyError(f"image id {image_id} is not in {self.scene_dir} "
                       f"({len(self.images)} images, ids {self.images[0].image_id}.."
                       f"{self.images[-1].image_id})")

    @property
    def obj_ids(self) -> tuple[int, ...]:
        """Object ids that appear in the scene, sorted."""
        return tuple(sorted(self.models))


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise BopFormatError(path, "", "file not found; a BOP scene folder holds rgb/, "
                                       "scene_camera.json and scene_gt.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BopFormatError(path, "", f"not readable JSON ({exc})") from None


def _numbers(value: Any, n: int, path: Path, field: str) -> np.ndarray:
    arr = None
    if isinstance(value, list) and len(value) == n and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        arr = np.asarray(value, dtype=float)
    if arr is None or not np.all(np.isfinite(arr)):
        shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
        raise BopFormatError(path, field, f"expected a list of {n} finite numbers, got {shown}")
    return arr


def _image_key(key: str, path: Path) -> int:
    try:
        image_id = int(key)
    except ValueError:
        raise BopFormatError(path, key, "image ids (the keys) must be integers") from None
    if image_id < 0:
        raise BopFormatError(path, key, "image ids must be >= 0")
    return image_id


def _photo(scene_dir: Path, image_id: int, gt_path: Path) -> Path:
    rgb_dir = scene_dir / "rgb"
    for suffix in _PHOTO_SUFFIXES:
        p = rgb_dir / f"{image_id:06d}{suffix}"
        if p.is_file():
            return p
    raise BopFormatError(gt_path, str(image_id),
                         f"no photo {rgb_dir / f'{image_id:06d}'}.png (or .jpg) for this image id")


def _model_file(models_dir: Path, obj_id: int, gt_path: Path, field: str) -> Path:
    """`obj_XXXXXX` in any mesh format the scene format reads (PLY first, as BOP ships)."""
    from synthgap.scenes.parts import MESH_SUFFIXES

    for suffix in (".ply", *[s for s in MESH_SUFFIXES if s != ".ply"]):
        model = models_dir / f"obj_{obj_id:06d}{suffix}"
        if model.is_file():
            return model
    raise BopFormatError(gt_path, field, f"no model {models_dir / f'obj_{obj_id:06d}'}.ply "
                                         f"(or {', '.join(MESH_SUFFIXES[:3])}, ...) for object "
                                         f"{obj_id}")


def read_bop_scene(scene_dir: str | Path, *, models_dir: str | Path | None = None,
                   image_ids: Iterable[int] | None = None) -> BopScene:
    """Read a BOP scene folder.

    Args:
        scene_dir: the folder holding `rgb/`, `scene_camera.json`, `scene_gt.json` (and
            optionally `scene_gt_info.json`), e.g. `lmo/test/000002`.
        models_dir: folder of the `obj_XXXXXX.ply` models in millimetres; default: the first
            `models/` found beside the scene folder or up to two levels above it
            (BOP layout `DATASET/models`, `DATASET/test/SCENE`).
        image_ids: read only these image ids (default: every id in `scene_gt.json`).

    Returns:
        The `BopScene`, images sorted by id.

    Raises:
        BopFormatError: a missing file, a malformed field (names the file and the image id /
            field), an id asked for that is not there, photos of different sizes, or a
            model file that is missing.
    """
    scene_dir = Path(scene_dir).expanduser().resolve()
    if not scene_dir.is_dir():
        raise BopFormatError(scene_dir, "", "not a folder; give a BOP scene folder such as "
                                            "lmo/test/000002")
    models_path = _find_models_dir(scene_dir, models_dir)
    files = _SceneFiles.load(scene_dir)
    wanted = {_image_key(k, files.gt_path): k for k in files.gts}
    if image_ids is not None:
        ids = [int(i) for i in image_ids]
        missing = [i for i in ids if i not in wanted]
        if missing:
            raise BopFormatError(files.gt_path, "",
                                 f"image ids {missing[:10]} are not in this scene")
        wanted = {i: wanted[i] for i in ids}

    models: dict[int, Path] = {}
    images = [_read_image(files, image_id, wanted[image_id], models_path, models)
              for image_id in sorted(wanted)]
    if not images:
        raise BopFormatError(files.gt_path, "", "no images")
    from synthgap.scenes.io import photo_size

    sizes = {photo_size(im.rgb) for im in (images[0], images[-1])}
    if len(sizes) != 1:
        raise BopFormatError(scene_dir / "rgb", "", f"photos of different sizes {sorted(sizes)}; "
                                                    "read one size at a time")
    width, height = sizes.pop()
    return BopScene(scene_dir=scene_dir, models_dir=models_path, images=tuple(images),
                    models=models, width=width, height=height)


def _find_models_dir(scene_dir: Path, models_dir: str | Path | None) -> Path:
    """`models_dir` (absolute), or the first `models/` beside the scene or up to two levels
    above it."""
    if models_dir is None:
        for cand in (scene_dir / "models", scene_dir.parent / "models",
                     scene_dir.parent.parent / "models"):
            if cand.is_dir():
                models_dir = cand
                break
        else:
            raise BopFormatError(scene_dir, "", "no models/ folder beside the scene or up to two "
                                                "levels above it; pass models_dir")
    return Path(models_dir).expanduser().resolve()


@dataclass(frozen=True)
class _SceneFiles:
    """The three json files of a scene folder, their paths and their contents (checked to be
    objects keyed by image id; `infos` None without `scene_gt_info.json`)."""

    scene_dir: Path
    cam_path: Path
    gt_path: Path
    info_path: Path
    cams: dict[str, Any]
    gts: dict[str, Any]
    infos: dict[str, Any] | None

    @classmethod
    def load(cls, scene_dir: Path) -> _SceneFiles:
        cam_path = scene_dir / "scene_camera.json"
        gt_path = scene_dir / "scene_gt.json"
        info_path = scene_dir / "scene_gt_info.json"
        cams, gts = _load_json(cam_path), _load_json(gt_path)
        infos = _load_json(info_path) if info_path.is_file() else None
        for data, path in ((cams, cam_path), (gts, gt_path), (infos, info_path)):
            if data is not None and not isinstance(data, dict):
                raise BopFormatError(path, "", "expected an object keyed by image id")
        return cls(scene_dir, cam_path, gt_path, info_path, cams, gts, infos)


def _read_image(files: _SceneFiles, image_id: int, key: str, models_dir: Path,
                models: dict[int, Path]) -> BopImage:
    """One photo's intrinsics and annotated objects (`key`: its id as the files spell it);
    adds the model file of every object id not yet in `models`."""
    cam = files.cams.get(key)
    if not isinstance(cam, dict) or "cam_K" not in cam:
        raise BopFormatError(files.cam_path, key, "missing this image's cam_K")
    K = _numbers(cam["cam_K"], 9, files.cam_path, f"{key}.cam_K").reshape(3, 3)
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise BopFormatError(files.cam_path, f"{key}.cam_K", "focal lengths must be > 0")
    entries = files.gts[key]
    if not isinstance(entries, list):
        raise BopFormatError(files.gt_path, key, "expected a list of object poses")
    info = files.infos.get(key) if files.infos is not None else None
    if info is not None and (not isinstance(info, list) or len(info) != len(entries)):
        raise BopFormatError(files.info_path, key, f"expected a list of {len(entries)} entries "
                                                   "(one per scene_gt.json entry)")
    objects = []
    for j, entry in enumerate(entries):
        obj = _read_object(files, entry, None if info is None else info[j], f"{key}[{j}]")
        if obj.obj_id not in models:
            models[obj.obj_id] = _model_file(models_dir, obj.obj_id, files.gt_path,
                                             f"{key}[{j}].obj_id")
        objects.append(obj)
    return BopImage(image_id=image_id, rgb=_photo(files.scene_dir, image_id, files.gt_path),
                    K=K, objects=tuple(objects))


def _read_object(files: _SceneFiles, entry: Any, info: Any, where: str) -> BopObject:
    """One `scene_gt.json` entry (and its `scene_gt_info.json` entry, None without that file)
    at `where` (`"KEY[j]"`), checked."""
    if not isinstance(entry, dict):
        raise BopFormatError(files.gt_path, where, "expected an object")
    obj_id = entry.get("obj_id")
    if not isinstance(obj_id, int) or isinstance(obj_id, bool) or obj_id < 0:
        raise BopFormatError(files.gt_path, f"{where}.obj_id",
                             f"expected an integer >= 0, got {obj_id!r}")
    R = _numbers(entry.get("cam_R_m2c"), 9, files.gt_path, f"{where}.cam_R_m2c").reshape(3, 3)
    # Published BOP poses are rotations to about 1e-2 (rounded, re-estimated); they are
    # re-orthonormalised when pinned. Anything further off is not a rotation.
    if abs(np.linalg.det(R) - 1.0) > 0.05 or not np.allclose(R @ R.T, np.eye(3), atol=0.05):
        raise BopFormatError(files.gt_path, f"{where}.cam_R_m2c", "not a rotation matrix "
                             "(R Rᵀ must be the identity and det R = 1)")
    t = _numbers(entry.get("cam_t_m2c"), 3, files.gt_path, f"{where}.cam_t_m2c")
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = R, t
    extra: dict[str, Any] = {}
    if info is not None:
        if not isinstance(info, dict):
            raise BopFormatError(files.info_path, where, "expected an object")
        if "bbox_visib" in info:
            bb = _numbers(info["bbox_visib"], 4, files.info_path, f"{where}.bbox_visib")
            extra["bbox_visib"] = tuple(int(v) for v in bb)
        if "px_count_visib" in info:
            extra["px_count_visib"] = int(info["px_count_visib"])
        if "visib_fract" in info:
            extra["visib_fract"] = float(info["visib_fract"])
    return BopObject(obj_id=obj_id, pose=pose, **extra)


def bop_scene_to_scene(bop: BopScene, *, image_ids: Sequence[int] | None = None,
                       names: Mapping[int, str] | None = None,
                       extra: Mapping[str, Any] | None = None,
                       photo_background: bool = False, mesh_units: str = "mm") -> Scene:
    """A synthgap `Scene` whose `real_views` are the chosen photos of a BOP scene.

    The scene's parts are the BOP models (units mm, one entry per object id, named by
    `names` or `obj_XXXXXX`), its camera the photos' intrinsics, its world frame the camera
    frame (camera pose = identity) and its background has no support plane: each pinned view
    renders exactly the annotated objects at their true poses. Lights, background and sensor
    can be given in `extra` (keys of a scene file); `parts[i].material` entries are kept from
    `extra["parts"]` when given as a list of `{name: ..., material: ...}` overrides.

    Args:
        bop: from `read_bop_scene`.
        image_ids: the photos to pin (default: all of `bop.images`).
        names: class name per object id (default `obj_000001` ...).
        extra: more scene keys (e.g. `lights`, `background`, `sensor`, `seed`).
        photo_background: draw each view over its own photo (the view's background is that
            photo, uncropped): the render then differs from the photo only on the parts, as
            renders composited over real background photos do.
        mesh_units: units of the model files (`mm` as BOP ships them, `cm`, `m`, `in`); the
            poses' translations stay in millimetres (BOP's `cam_t_m2c`).

    Returns:
        A validated `Scene` with one `real_views` entry per photo, in `image_ids` order;
        `real_views[i].parts[j]` is the photo's `objects[j]`.

    Raises:
        BopFormatError: the chosen photos do not share one intrinsics matrix (a synthgap scene
            has one camera), or an unknown image id.
        SceneError: `extra` holds an invalid scene field.
    """
    from synthgap.scenes.io import parse_scene

    chosen = [bop.image(i) for i in image_ids] if image_ids is not None else list(bop.images)
    if not chosen:
        raise BopFormatError(bop.scene_dir, "", "no images chosen")
    K = chosen[0].K
    for im in chosen[1:]:
        if not np.allclose(im.K, K, rtol=0, atol=1e-6):
            raise BopFormatError(bop.scene_dir / "scene_camera.json", f"{im.image_id}.cam_K",
                                 f"differs from image {chosen[0].image_id}'s; a synthgap scene "
                                 "has one camera: convert photos with the same cam_K together")
    names = dict(names or {})
    used = sorted({o.obj_id for im in chosen for o in im.objects})
    label = {i: names.get(i, f"obj_{i:06d}") for i in used}
    data: dict[str, Any] = dict(extra or {})
    overrides = {p.get("name"): p for p in data.pop("parts", []) if isinstance(p, dict)}
    parts = []
    for i in used:
        entry: dict[str, Any] = {"mesh": str(bop.models[i]), "units": mesh_units, "name": label[i],
                                 "class": label[i]}
        over = overrides.get(label[i], {})
        entry.update({k: v for k, v in over.items() if k != "name"})
        parts.append(entry)
    data["parts"] = parts
    data.setdefault("image", {"width": bop.width, "height": bop.height})
    data["camera"] = {**data.get("camera", {}), "intrinsics": {
        "fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])},
        "znear": 0.01, "zfar": 20.0}
    bg = dict(data.get("background", {}))
    bg.setdefault("plane", False)
    data["background"] = bg
    views = []
    for im in chosen:
        if not im.objects:
            continue
        view: dict[str, Any] = {}
        if photo_background:
            view["background"] = {**bg, "image_files": [str(im.rgb)], "crop": 1.0}
            view["background"].pop("images", None)
        views.append({**view,
            "photo": str(im.rgb), "units": "mm",
            "camera_pose": np.eye(4).tolist(),
            "parts": [{"part": label[o.obj_id], "pose": _clean_rigid(o.pose).tolist()}
                      for o in im.objects],
        })
    data["real_views"] = views
    return parse_scene(data, base_dir=bop.scene_dir, source=f"BOP scene {bop.scene_dir}")


def _clean_rigid(pose: np.ndarray) -> np.ndarray:
    """Re-orthonormalise the rotation (BOP stores 8 decimals; the schema checks rigidity)."""
    u, _, vt = np.linalg.svd(pose[:3, :3])
    out = pose.copy()
    out[:3, :3] = u @ vt
    if math.isclose(np.linalg.det(out[:3, :3]), -1.0, abs_tol=1e-3):
        raise ValueError("pose rotation is a reflection")
    return out
