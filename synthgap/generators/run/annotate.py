"""Labels of one rendered image: a `synthgap.data.Record` from `SampleParams` + `RenderResult`.

Per instance: tight `[x, y, w, h]` box of the visible mask (COCO order, whole pixels), visible
pixel count, visible fraction (visible pixels / pixels it would cover with nothing in front of
it, both inside the image), camera-from-object pose (OpenCV camera frame: +x right, +y down,
+z forward; metres) and the ids of its defects. Per defect: its visible box and pixel count.
Pure NumPy: no OpenGL here.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np

from synthgap.data import DatasetLayout, DefectRecord, InstanceRecord, Record
from synthgap.generators.defects.surface import iter_defects
from synthgap.generators.params import SampleParams

__all__ = ["annotate", "label_boxes", "layer_files"]


def label_boxes(labels: np.ndarray, n: int) -> tuple[np.ndarray, list[list[int]]]:
    """Pixel counts and tight boxes of labels 1..n.

    Args:
        labels: `(H, W)` integer label image.
        n: largest label of interest.

    Returns:
        `(counts, boxes)`: `(n,) int64` pixel count of each label, and per label its box
        `[x, y, w, h]` (`[]` for a label with no pixels).
    """
    if n == 0:  # e.g. the defect layer of an image without defects: no full-image pass
        return np.zeros(0, np.int64), []
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:n + 1].astype(np.int64)
    boxes: list[list[int]] = []
    for i in range(1, n + 1):
        if counts[i - 1] == 0:
            boxes.append([])
            continue
        m = labels == i
        ys = np.flatnonzero(m.any(axis=1))
        xs = np.flatnonzero(m.any(axis=0))
        boxes.append([int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)])
    return counts, boxes


def layer_files(index: int, *, defects: bool) -> dict[str, str]:
    """Relative paths of image `index`'s layers (as stored in `Record.files`)."""
    stem = DatasetLayout.stem(index)
    files = {"image": f"images/{stem}.png", "depth": f"depth/{stem}.png",
             "mask": f"masks/{stem}.png"}
    if defects:
        files["defects"] = f"defects/{stem}.png"
    return files


def annotate(params: SampleParams, instance_mask: np.ndarray, defect_mask: np.ndarray,
             unoccluded_pixels: np.ndarray, *, defects_layer: bool = True) -> Record:
    """The record of one image.

    Args:
        params: what was sampled for the image.
        instance_mask: `(H, W) uint16` instance ids (`RenderResult.instance_mask`).
        defect_mask: `(H, W) uint16` defect ids (`RenderResult.defect_mask`).
        unoccluded_pixels: `(n_instances,)` pixel count of each instance with nothing in front
            (`RenderResult.unoccluded_pixels`).
        defects_layer: whether a `defects/` PNG is written for this image (goes in `files`).

    Returns:
        The `Record` (K, distortion and camera pose of the written image; `params` is
        `params.to_dict()`).

    Raises:
        ValueError: layer shapes differ from the camera's or counts do not match the instances.
    """
    cam = params.camera
    shape = (cam.height, cam.width)
    for name, layer in (("instance_mask", instance_mask), ("defect_mask", defect_mask)):
        if layer.shape != shape:
            raise ValueError(f"annotate: {name} has shape {layer.shape}, the camera is "
                             f"{cam.width}x{cam.height}")
    n = len(params.parts)
    unoccluded = np.asarray(unoccluded_pixels)
    if unoccluded.shape != (n,):
        raise ValueError(f"annotate: unoccluded_pixels has shape {unoccluded.shape}, expected "
                         f"({n},) for {n} instances")
    counts, boxes = label_boxes(instance_mask, n)
    all_defects = list(iter_defects(params))
    d_counts, d_boxes = label_boxes(defect_mask, len(all_defects))
    cam_from_world = np.linalg.inv(np.asarray(cam.pose, dtype=float))

    defect_ids: dict[int, list[int]] = {}
    defect_recs = []
    for did, iid, d in all_defects:
        defect_ids.setdefault(iid, []).append(did)
        defect_recs.append(DefectRecord(id=did, type=d.type, instance=iid, bbox=d_boxes[did - 1],
                                        pixels=int(d_counts[did - 1]), params=_plain(d)))
    instances = []
    for k, inst in enumerate(params.parts):
        vis = int(counts[k])
        full = max(int(unoccluded[k]), vis)
        pose = cam_from_world @ np.asarray(inst.pose, dtype=float)
        instances.append(InstanceRecord(
            id=k + 1, category=inst.category, part=inst.part, bbox=boxes[k],
            visible_pixels=vis, visible_fraction=round(vis / full, 6) if full else 0.0,
            pose=pose.tolist(), defects=defect_ids.get(k + 1, [])))
    return Record(index=int(params.index), seed=int(params.seed), width=int(cam.width),
                  height=int(cam.height),
                  K=cam.K.tolist(), distortion=[float(c) for c in cam.distortion],
                  camera_pose=[list(r) for r in np.asarray(cam.pose, dtype=float).tolist()],
                  instances=instances, defects=defect_recs, params=_plain(params),
                  files=layer_files(int(params.index), defects=defects_layer))


def _plain(value: Any) -> Any:
    """JSON-able copy: dataclasses become dicts (as `dataclasses.asdict`, so `_plain(params)`
    equals `_plain(params.to_dict())`, without asdict's deep copies: ~4x faster, and this runs
    in writer threads holding the GIL), tuples become lists, NumPy scalars and arrays become
    Python values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
