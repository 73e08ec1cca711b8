"""Read a BOP folder (any number of scene folders) as `RealData`, with ground truth from poses.

Layout: `ROOT/SPLIT/SCENE/{rgb,scene_camera.json,scene_gt.json[,scene_gt_info.json]}` and
`ROOT/models/obj_XXXXXX.{ply,obj,stl,...}` (or ROOT is one scene folder). Each photo keeps its
own `cam_K`. Class names come from, in order: the `names` mapping given, a names file
(JSON or YAML `{obj_id: name}`), a `name` field of every `models_info.json` entry, or
`obj_XXXXXX`.

Ground truth from poses: every photo is rendered at its recorded poses
(`synthgap.generators.real.ground_truth`), giving per-pixel class maps (the segmentation labels)
and visible fractions. Where `scene_gt_info.json` records a visible fraction, the rendered one
is compared with it: unmodelled occluders (a hand, clutter that is not among the models) make
the render see more than the photo does, so instances that disagree by more than 0.2 are
marked `ignore` (their pixels are left out of segmentation training and scoring).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from synthgap.evaluate.models import IGNORE
from synthgap.evaluate.real import LabelError, RealData, RealInstance, RealPhoto, VisibilityCheck
from synthgap.scenes.bop import BopScene, read_bop_scene

__all__ = ["VISIB_TOLERANCE", "find_scene_dirs", "read_bop", "read_names"]

#: Rendered vs recorded visible fraction beyond which an instance is ignored in segmentation.
VISIB_TOLERANCE = 0.2

Progress = Callable[[int], None]


def find_scene_dirs(root: Path) -> list[Path]:
    """BOP scene folders (holding `scene_gt.json`) at or up to two levels under `root`."""
    if (root / "scene_gt.json").is_file():
        return [root]
    found = sorted({p.parent for pattern in ("*/scene_gt.json", "*/*/scene_gt.json")
                    for p in root.glob(pattern)})
    return [p for p in found if p.resolve().is_relative_to(root.resolve())]


def _models_dir(root: Path, scene_dir: Path) -> Path | None:
    for cand in (root / "models", scene_dir / "models", scene_dir.parent / "models",
                 scene_dir.parent.parent / "models"):
        if cand.is_dir() and cand.resolve().is_relative_to(root.resolve().parent):
            return cand
    return None


def read_names(root: Path, models_dir: Path | None, names_file: Path | None
               ) -> dict[int, str]:
    """Class name per object id: the names file, else `models_info.json` names, else none.

    Raises:
        LabelError: an unreadable names file or a key that is not an object id.
    """
    if names_file is not None:
        try:
            data = yaml.safe_load(names_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise LabelError(names_file, "", f"not readable JSON/YAML ({exc})") from None
        if not isinstance(data, dict):
            raise LabelError(names_file, "", "expected a mapping {obj_id: name}, e.g. "
                                             '{"1": "ape", "5": "can"}')
        out = {}
        for k, v in data.items():
            try:
                out[int(k)] = str(v)
            except (TypeError, ValueError):
                raise LabelError(names_file, str(k), "keys must be integer object ids") from None
        return out
    info = models_dir / "models_info.json" if models_dir is not None else None
    if info is not None and info.is_file():
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LabelError(info, "", f"not readable JSON ({exc})") from None
        if isinstance(data, dict) and data and all(
                isinstance(v, dict) and isinstance(v.get("name"), str) for v in data.values()):
            return {int(k): v["name"] for k, v in data.items()}
    return {}


def read_bop(root: str | Path, *, names: Mapping[int, str] | None = None,
             names_file: Path | None = None, mesh_units: str = "mm",
             seg_size: tuple[int, int] | None = (320, 240),
             image_ids: Mapping[str, list[int]] | None = None,
             progress: Progress | None = None) -> RealData:
    """Read every scene folder of a BOP data set, labels rendered from the poses.

    Args:
        root: the data set folder (or one scene folder).
        names: class name per object id (wins over `names_file` and `models_info.json`).
        names_file: JSON/YAML `{obj_id: name}`.
        mesh_units: units of the model files (BOP: `mm`).
        seg_size: `(w, h)` of the segmentation maps; None skips them (boxes still come from
            the render where `scene_gt_info.json` is missing).
        image_ids: only these image ids per scene folder name (default all).
        progress: called with 1 per photo labelled.

    Returns:
        The photos (keys `SCENE/ID`, groups = scene folder names) with their instances.

    Raises:
        LabelError: no scene folder, or a malformed BOP file (file and field named).
    """
    root = Path(root).expanduser().resolve()
    scene_dirs = find_scene_dirs(root)
    if not scene_dirs:
        raise LabelError(root, "", "no BOP scene folder (SPLIT/SCENE/scene_gt.json) here; "
                                   "give the data set folder or one scene folder")
    models_dir = _models_dir(root, scene_dirs[0])
    id_names = dict(read_names(root, models_dir, names_file))
    id_names.update(names or {})
    bops: list[BopScene] = []
    from synthgap.scenes.bop import BopFormatError

    for sd in scene_dirs:
        try:
            ids = image_ids.get(sd.name) if image_ids is not None else None
            bops.append(read_bop_scene(sd, models_dir=_models_dir(root, sd), image_ids=ids))
        except BopFormatError as exc:
            raise LabelError(exc.file, "", "; ".join(f"{f}: {m}" for f, m in exc.problems)
                             + " (see docs/evaluate.md for the BOP layout)") from None
    obj_ids = sorted({i for b in bops for i in b.obj_ids})
    label = {i: id_names.get(i, f"obj_{i:06d}") for i in obj_ids}
    classes = sorted(set(label.values()))
    cls_of = {i: classes.index(label[i]) for i in obj_ids}
    photos: list[RealPhoto] = []
    seg_x: list[np.ndarray] = []
    seg_y: list[np.ndarray] = []
    diffs: list[float] = []
    for bop in bops:
        for im, inst, sx, sy, d in _label_scene(bop, label, cls_of, mesh_units, seg_size,
                                                progress):
            photos.append(RealPhoto(key=f"{bop.scene_dir.name}/{im.image_id}", path=im.rgb,
                                    group=bop.scene_dir.name, order=im.image_id,
                                    instances=inst))
            diffs += d
            if sx is not None and sy is not None:
                seg_x.append(sx)
                seg_y.append(sy)
    check = VisibilityCheck(checked=len(diffs), mean_diff=float(np.mean(diffs)) if diffs else 0.0,
                            ignored=int(np.sum(np.abs(diffs) > VISIB_TOLERANCE)),
                            tolerance=VISIB_TOLERANCE)
    return RealData(classes=classes, photos=photos, source="bop",
                    seg_x=np.stack(seg_x) if seg_x else None,
                    seg_y=np.stack(seg_y) if seg_y else None, visibility=check)


def _label_scene(bop: BopScene, label: dict[int, str], cls_of: dict[int, int], units: str,
                 seg_size: tuple[int, int] | None, progress: Progress | None
                 ) -> Any:
    """Yield `(image, instances, seg_x, seg_y, visib diffs)` per labelled photo of one scene
    folder; photos are rendered in groups sharing one `cam_K` (one renderer, parts loaded
    once)."""
    from synthgap.data.layout import read_image
    from synthgap.generators.gl.renderer import Renderer
    from synthgap.generators.parts.assets import PartAsset, load_parts
    from synthgap.generators.real.ground_truth import iter_view_labels
    from synthgap.scenes.bop import bop_scene_to_scene

    labelled = [im for im in bop.images if im.objects]
    groups: dict[bytes, list[int]] = {}
    for im in labelled:
        groups.setdefault(np.round(im.K, 6).tobytes(), []).append(im.image_id)
    library: dict[str, PartAsset] = {}
    with Renderer(bop.width, bop.height) as renderer:
        for ids in groups.values():
            scene = bop_scene_to_scene(bop, image_ids=ids, names=label, mesh_units=units)
            if not all(p.name in library for p in scene.parts):
                library.update(load_parts(scene))
            for lab in iter_view_labels(scene, renderer=renderer, parts=library):
                im = bop.image(ids[lab.view_index])
                rendered = lab.visib_fract
                inst, diffs = [], []
                for k, o in enumerate(im.objects):
                    box = o.bbox_visib if o.bbox_visib is not None else tuple(
                        int(v) for v in lab.boxes_visib[k])
                    visib = o.visib_fract if o.visib_fract is not None else float(rendered[k])
                    ignore = False
                    if o.visib_fract is not None:
                        diffs.append(float(rendered[k]) - o.visib_fract)
                        ignore = abs(diffs[-1]) > VISIB_TOLERANCE
                    inst.append(RealInstance(cls=cls_of[o.obj_id],
                                             box=tuple(float(v) for v in box),  # type: ignore[arg-type]
                                             visib=float(visib), ignore=ignore))
                sx = sy = None
                if seg_size is not None:
                    sx, sy = _seg_pair(read_image(im.rgb), lab.instance_mask, inst, seg_size)
                if progress is not None:
                    progress(1)
                yield im, tuple(inst), sx, sy, diffs


def _seg_pair(photo: np.ndarray, instance_mask: np.ndarray, inst: list[RealInstance],
              size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Photo and class map at `size` (`IGNORE` on ignored instances' pixels)."""
    lut = np.zeros(max(int(instance_mask.max()), len(inst)) + 1, np.uint8)
    for k, r in enumerate(inst):
        lut[k + 1] = IGNORE if r.ignore else r.cls + 1
    y = cv2.resize(lut[instance_mask], size, interpolation=cv2.INTER_NEAREST)
    x = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return x, y
