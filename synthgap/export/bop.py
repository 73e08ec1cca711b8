"""BOP export: the scene format of the BOP 6D-pose benchmark and BlenderProc's BOP writer.

Layout (BOP "scenewise"; one scene `000000` per split, image id = source index)::

    OUT/export.json                              what was exported (obj ids, classes, split)
    OUT/models/obj_000001.ply                    each part's mesh in millimetres (object frame)
    OUT/models/models_info.json                  {"1": {"diameter", "min_x", .., "size_z"}} mm
    OUT/train/000000/rgb/000042.png              the (adapted) image of source index 42
    OUT/train/000000/depth/000042.png            uint16 depth; mm = value * depth_scale
    OUT/train/000000/mask_visib/000042_000000.png  visible mask of scene_gt entry 0 (0/255)
    OUT/train/000000/scene_camera.json           {"42": {"cam_K", "depth_scale", "cam_R_w2c",
                                                 "cam_t_w2c"}}
    OUT/train/000000/scene_gt.json               {"42": [{"cam_R_m2c", "cam_t_m2c", "obj_id"}]}
    OUT/train/000000/scene_gt_info.json          {"42": [{"bbox_obj", "bbox_visib",
                                                 "px_count_all", "px_count_visib",
                                                 "visib_fract"}]}
    (val/000000/..., test/000000/... likewise)

Conventions (as the BOP toolkit defines them, `docs/bop_datasets_format.md`):

* Poses map model coordinates (mm) into the OpenCV camera frame (+x right, +y down, +z
  forward): `cam_R_m2c` is row-major 3x3, `cam_t_m2c` millimetres. `cam_R_w2c`/`cam_t_w2c` is
  the world-to-camera transform of the image (mm).
* Boxes are `[x, y, w, h]` with `w = x_max - x_min` (`bop_toolkit_lib.misc.calc_2d_bbox`): a
  one-pixel object has `w = 0`. (synthgap's own boxes count pixels, `w = x_max - x_min + 1`;
  `read` converts back.) `bbox_obj` is the box of the whole projected model, also the part
  outside the image; `bbox_visib` the box of the visible mask.
* `px_count_visib` counts the visible mask; `px_count_all` the pixels the part would cover
  with nothing in front of it, **inside the image** (synthgap's renderer counts no pixels
  outside it; BOP's `calc_gt_info.py` also counts the part cut off by the image border);
  `visib_fract` = the record's visible fraction = `px_count_visib / px_count_all`.
* `depth_scale` is 1.0: synthgap's depth PNGs are already uint16 millimetres.
* Object ids start at 1, one per part (mesh), parts sorted by name; like COCO category ids
  they never change once written into a folder. Which class each object id is stays in
  `export.json` (`extra.obj_classes`); BOP has no class names.

Not written: `mask/` (full silhouettes with occluders removed): a raw dataset holds visible
instance masks only, and rendering them again is the renderer's job, not an exporter's.
Defects have no BOP representation and are left out. A dataset without `scene.yaml` (made by
hand) exports without `models/` and without `bbox_obj` (`extra.models` says why).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.data import Record, read_image, read_label_png
from synthgap.data.layout import DatasetFileError
from synthgap.export.base import (
    ExportedSample,
    ExportError,
    ExportOptions,
    ExportSummary,
    LazySamples,
    copy_file,
    empty_counts,
    prepare_output,
    read_manifest,
    stable_ids,
)
from synthgap.export.objects import image_objects
from synthgap.export.source import DatasetSource
from synthgap.export.splits import SPLITS, SplitRatios

__all__ = ["NAME", "SCENE_ID", "bop_box", "models_info", "read", "write"]

NAME = "bop"
#: Every split is one BOP scene with this id.
SCENE_ID = 0
#: Depth PNGs are uint16 millimetres: depth in mm = value * DEPTH_SCALE.
DEPTH_SCALE = 1.0


def bop_box(box: list[int] | tuple[int, ...]) -> list[int]:
    """synthgap `[x, y, w, h]` (w counts pixels) -> BOP `[x, y, x_max - x_min, y_max - y_min]`;
    `[-1, -1, -1, -1]` for an empty box, as BOP writes it."""
    if not box:
        return [-1, -1, -1, -1]
    x, y, w, h = (int(v) for v in box)
    return [x, y, w - 1, h - 1]


def models_info(vertices_mm: np.ndarray) -> dict[str, float]:
    """The `models_info.json` entry of one model.

    Args:
        vertices_mm: `(n, 3) float` model vertices, millimetres.

    Returns:
        `diameter` (largest distance between two vertices), `min_x/y/z` and `size_x/y/z` of
        the axis-aligned box, all mm.
    """
    from scipy.spatial import ConvexHull, QhullError

    v = np.asarray(vertices_mm, dtype=np.float64).reshape(-1, 3)
    lo, hi = v.min(axis=0), v.max(axis=0)
    try:  # the farthest pair of vertices lies on the convex hull
        pts = v[ConvexHull(v).vertices]
    except (QhullError, ValueError):  # flat or degenerate: use every vertex
        pts = v
    diameter = 0.0
    for start in range(0, len(pts), 2048):
        chunk = pts[start:start + 2048]
        d = ((chunk[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        diameter = max(diameter, float(np.sqrt(d.max())))
    info = {"diameter": diameter}
    for k, axis in enumerate("xyz"):
        info[f"min_{axis}"] = float(lo[k])
        info[f"size_{axis}"] = float(hi[k] - lo[k])
    return info


def _scene_yaml(source: DatasetSource) -> Path | None:
    for base in source.label_roots:
        if (base / "scene.yaml").is_file():
            return base / "scene.yaml"
    return None


def _part_meshes(source: DatasetSource) -> tuple[dict[str, Any] | None, str]:
    """Part name -> `PartAsset` (meshes in metres) from the dataset's `scene.yaml`, or None
    and why not.

    The meshes are read where `scene.yaml` names them, so they are checked against the
    render's `run.json`: the scene text (`scene_sha256`) and the bytes of every file it reads
    (`inputs_sha256`) must be the ones rendered.

    Raises:
        ExportError: `scene.yaml` was edited, a mesh is missing (moved) or changed since the
            render; the message says what to do.
    """
    path = _scene_yaml(source)
    if path is None:
        return None, (f"not written: {source.root} has no scene.yaml, so the part meshes are "
                      "unknown")
    from synthgap.generators.parts.assets import load_parts
    from synthgap.generators.run.writer import RunIdentity
    from synthgap.scenes import SceneError
    from synthgap.scenes.io import load_scene

    run = _run_json(path.parent / "run.json")
    text = path.read_bytes()
    if "scene_sha256" in run and hashlib.sha256(text).hexdigest() != run["scene_sha256"]:
        raise ExportError(f"{path}: does not match the scene_sha256 its run.json recorded (it "
                          "was edited after rendering); restore it, or export another format "
                          "(only bop reads the meshes)")
    try:
        scene = load_scene(path)
        if "inputs_sha256" in run and \
                RunIdentity.for_scene(scene).inputs_sha256 != run["inputs_sha256"]:
            raise ExportError(f"{path}: a mesh (or another file the scene reads) changed since "
                              "the render (its bytes differ from run.json's inputs_sha256), so "
                              "models/ would not be the rendered parts; restore the rendered "
                              "files, or render again")
        return load_parts(scene), f"from {path}"
    except SceneError as exc:
        raise ExportError(f"{path}: the part meshes cannot be read ({exc}); a BOP export "
                          "writes the rendered meshes as models/: put the mesh back at the "
                          "path scene.yaml names (e.g. copy it from the machine that "
                          "rendered), or export another format") from None


def _run_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _rigid(pose: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(pose, dtype=np.float64)
    return m[:3, :3], m[:3, 3]


def _bbox_obj(mesh_m: np.ndarray, pose: list[list[float]], record: Record) -> list[int]:
    """Box of the whole projected model (pixels whose centre it covers; may leave the image)."""
    import cv2

    R, t = _rigid(pose)
    cam = mesh_m @ R.T + t
    cam = cam[cam[:, 2] > 1e-9]
    if not len(cam):
        return [-1, -1, -1, -1]
    K = np.asarray(record.K, dtype=np.float64)
    dist = np.asarray(record.distortion, dtype=np.float64)
    if np.any(dist):
        uv, _ = cv2.projectPoints(cam, np.zeros(3), np.zeros(3), K, dist)
        uv = uv.reshape(-1, 2)
    else:
        uv = (cam @ K.T)[:, :2] / cam[:, 2:3]
    x0, y0 = (math.ceil(float(v)) for v in uv.min(axis=0))
    x1, y1 = (math.floor(float(v)) for v in uv.max(axis=0))
    return [x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)]


def _write_png_mask(path: Path, mask: np.ndarray) -> None:
    import cv2

    from synthgap.data.layout import PNG_LABEL_FLAGS

    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255, list(PNG_LABEL_FLAGS))
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    path.write_bytes(buf.tobytes())


def _dump(path: Path, data: dict[str, Any]) -> None:
    """JSON with one line per top-level key (image or object id), as the BOP toolkit writes."""
    lines = [_line(k, v) for k, v in data.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def _line(key: object, value: Any) -> str:
    return f"  {json.dumps(str(key))}: {json.dumps(value, separators=(', ', ': '))}"


class _SceneFiles:
    """The three JSON files of one BOP scene, written one image at a time in `_dump`'s format
    (through temporary names, renamed by `finish`)."""

    NAMES = ("scene_camera", "scene_gt", "scene_gt_info")

    def __init__(self, scene: Path) -> None:
        for sub in ("rgb", "depth", "mask_visib"):
            (scene / sub).mkdir(parents=True, exist_ok=True)
        self.scene = scene
        self._tmp = {n: scene / f".{n}.json.tmp" for n in self.NAMES}
        self._files = {n: open(p, "w", encoding="utf-8") for n, p in self._tmp.items()}
        self._first = True

    def add(self, key: str, values: tuple[Any, Any, Any]) -> None:
        """Append image `key`'s camera, ground truth and ground-truth info."""
        for name, value in zip(self.NAMES, values, strict=True):
            self._files[name].write(("{\n" if self._first else ",\n") + _line(key, value))
        self._first = False

    def finish(self) -> None:
        for name, f in self._files.items():
            f.write("\n}\n")
            f.close()
            os.replace(self._tmp[name], self.scene / f"{name}.json")

    def close(self) -> None:
        for name, f in self._files.items():
            f.close()
            self._tmp[name].unlink(missing_ok=True)


def _objects(source: DatasetSource, out: Path, previous: dict[str, Any] | None
             ) -> tuple[dict[str, int], dict[str, str], dict[str, np.ndarray], str]:
    """Object ids, part -> class, part -> mesh vertices (metres) and the note on `models/`;
    writes `models/` when the meshes are known (one pass over the records)."""
    library, models_note = _part_meshes(source)
    classes: dict[str, str] = {}
    for r in source.records:
        for i in r.instances:
            classes.setdefault(i.part, i.category)
    used = sorted(classes)
    names = sorted(library) if library is not None else used
    if library is not None:
        unknown = [p for p in used if p not in library]
        if unknown:
            raise ExportError(f"{source.root}: records name part(s) {unknown} that its "
                              f"scene.yaml does not define (parts: {sorted(library)}); was the "
                              "scene file replaced after rendering?")
    ids = stable_ids(names, (previous or {}).get("categories"), start=1)
    meshes_m: dict[str, np.ndarray] = {}
    if library is not None:
        for name, asset in library.items():
            classes.setdefault(name, asset.category)
        models = out / "models"
        models.mkdir(parents=True, exist_ok=True)
        info: dict[str, Any] = {}
        for name in names:
            mesh = library[name].mesh.copy()
            mesh.apply_scale(1000.0)  # metres -> millimetres, the BOP unit
            meshes_m[name] = np.asarray(library[name].mesh.vertices, dtype=np.float64)
            # binary PLY with vertex normals, as BOP models have them (the BOP toolkit's
            # `inout.load_ply` reads float/double/int/uchar properties and `vertex_indices`)
            mesh.export(models / f"obj_{ids[name]:06d}.ply", file_type="ply", vertex_normal=True)
            info[str(ids[name])] = models_info(mesh.vertices)
        _dump(models / "models_info.json", dict(sorted(info.items(), key=lambda kv: int(kv[0]))))
    return ids, classes, meshes_m, models_note


def _camera(record: Record) -> dict[str, Any]:
    """The `scene_camera.json` entry of one image."""
    w2c = np.linalg.inv(np.asarray(record.camera_pose, dtype=np.float64))
    cam: dict[str, Any] = {
        "cam_K": [float(v) for row in record.K for v in row], "depth_scale": DEPTH_SCALE,
        "cam_R_w2c": [float(v) for v in w2c[:3, :3].ravel()],
        "cam_t_w2c": [float(v) * 1000.0 for v in w2c[:3, 3]]}
    if any(record.distortion):  # not BOP: its images are undistorted; kept for the user
        cam["synthgap_distortion"] = [float(v) for v in record.distortion]
    return cam


def _write_image(source: DatasetSource, record: Record, scene: Path, ids: dict[str, int],
                 meshes_m: dict[str, np.ndarray], options: ExportOptions
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Copy one image and its depth into `scene`, write its visible masks; returns its
    `scene_gt` and `scene_gt_info` entries."""
    stem = f"{record.index:06d}"
    src = source.image_path(record)
    copy_file(src, scene / "rgb" / f"{stem}{src.suffix.lower() or '.png'}")
    copy_file(source.depth_path(record), scene / "depth" / f"{stem}.png")
    by_id = {i.id: i for i in record.instances}
    gts, infos = [], []
    parts = image_objects(source, record, replace(options, defects=False))
    for gt_id, obj in enumerate(parts):
        inst = by_id[obj.instance_id]
        R, t = _rigid(inst.pose)
        gts.append({"cam_R_m2c": [float(v) for v in R.ravel()],
                    "cam_t_m2c": [float(v) * 1000.0 for v in t], "obj_id": ids[inst.part]})
        visib = int(obj.mask.sum())
        frac = float(inst.visible_fraction)
        entry: dict[str, Any] = {}
        if inst.part in meshes_m:
            entry["bbox_obj"] = _bbox_obj(meshes_m[inst.part], inst.pose, record)
        entry.update(bbox_visib=bop_box(obj.bbox),
                     px_count_all=max(visib, round(visib / frac)) if frac > 0 else visib,
                     px_count_visib=visib, visib_fract=frac)
        infos.append(entry)
        _write_png_mask(scene / "mask_visib" / f"{stem}_{gt_id:06d}.png", obj.mask)
    return gts, infos


def write(source: DatasetSource, out: Path, *, splits: Mapping[int, str], ratios: SplitRatios,
          seed: int, options: ExportOptions) -> ExportSummary:
    """Write `source` in the BOP scene format (see the module docstring), one image at a time.

    Raises:
        ExportError: a record names a part that the dataset's `scene.yaml` does not define.
        DatasetFileError: an image's depth or mask file is missing.
    """
    out = Path(out)
    previous = prepare_output(out, NAME, [*SPLITS, "models", "export.json"])
    ids, classes, meshes_m, models_note = _objects(source, out, previous)
    images, objects = empty_counts(), empty_counts()
    scenes: dict[str, _SceneFiles] = {}
    try:
        for record in source.iter_records():
            split = splits[record.index]
            if split not in scenes:
                scenes[split] = _SceneFiles(out / split / f"{SCENE_ID:06d}")
            gts, infos = _write_image(source, record, scenes[split].scene, ids, meshes_m,
                                      options)
            scenes[split].add(str(record.index), (_camera(record), gts, infos))
            images[split] += 1
            objects[split] += len(gts)
        for files in scenes.values():
            files.finish()
    finally:
        for files in scenes.values():
            files.close()
    return ExportSummary(
        format=NAME, out=str(out), images=images, objects=objects, categories=ids, seed=seed,
        split=ratios.as_tuple(),
        extra={"obj_classes": {str(v): classes.get(k, k) for k, v in ids.items()},
               "classes": sorted(set(classes.get(k, k) for k in ids)),
               "models": models_note, "depth_scale": DEPTH_SCALE,
               "scene_id": SCENE_ID})


def read(out: Path) -> LazySamples:
    """Read a BOP export back, one `ExportedSample` per image.

    Boxes come back in synthgap's convention (`w` counts pixels), masks from `mask_visib/`,
    names are the class of each object id (`export.json`); instance ids are not kept (-1).
    """
    out = Path(out)
    manifest = read_manifest(out, NAME)
    obj_classes = {int(k): str(v) for k, v in
                   manifest.get("extra", {}).get("obj_classes", {}).items()}
    entries = []
    for split in SPLITS:
        scene = out / split / f"{SCENE_ID:06d}"
        if not (scene / "scene_gt.json").is_file():
            continue
        docs = {}
        for name in ("scene_gt", "scene_gt_info"):
            path = scene / f"{name}.json"
            try:
                docs[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ExportError(f"{path}: not readable JSON ({exc})") from exc
        for key in sorted(docs["scene_gt"], key=int):
            entries.append((split, scene, int(key), docs["scene_gt"][key],
                            docs["scene_gt_info"].get(key, [])))

    def load(entry: tuple[str, Path, int, list[dict[str, Any]], list[dict[str, Any]]]
             ) -> ExportedSample:
        split, scene, im_id, gts, infos = entry
        stem = f"{im_id:06d}"
        rgb = sorted((scene / "rgb").glob(f"{stem}.*"))
        if not rgb:
            raise DatasetFileError(f"{scene / 'rgb'}: no image {stem}.*")
        image = read_image(rgb[0])
        h, w = image.shape[:2]
        masks = [read_label_png(scene / "mask_visib" / f"{stem}_{k:06d}.png") > 0
                 for k in range(len(gts))]
        boxes = []
        for info in infos:
            x, y, bw, bh = info["bbox_visib"]
            boxes.append([x, y, bw + 1, bh + 1] if bw >= 0 else [0, 0, 0, 0])
        return ExportedSample(
            key=stem, index=im_id, split=split, image=image,
            names=tuple(obj_classes.get(int(g["obj_id"]), f"obj_{int(g['obj_id']):06d}")
                        for g in gts),
            boxes=np.array(boxes, np.float64).reshape(-1, 4),
            masks=np.stack(masks) if masks else np.zeros((0, h, w), bool),
            instance_ids=np.full(len(gts), -1, np.int64))

    return LazySamples(entries, load)
