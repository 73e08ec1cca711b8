"""Shared fixtures. `make_dataset` writes a tiny dataset directory without rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthgap.data import (
    DatasetLayout,
    DefectRecord,
    InstanceRecord,
    Record,
    append_record,
    write_depth_atomic,
    write_image_atomic,
    write_label_png_atomic,
)


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return []
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def write_fake_dataset(root: Path, n: int = 6, *, width: int = 64, height: int = 48,
                       seed: int = 0, classes: tuple[str, ...] = ("bracket", "washer"),
                       defects: bool = True) -> Path:
    """Write `n` images of 1-3 rectangles/discs each, in the raw dataset format.

    Every third instance carries a scratch defect (a thin line inside it).
    """
    layout = DatasetLayout(root)
    layout.make_dirs(defects=defects)
    K = [[80.0, 0.0, width / 2], [0.0, 80.0, height / 2], [0.0, 0.0, 1.0]]
    yy, xx = np.mgrid[0:height, 0:width]
    for index in range(n):
        rng = np.random.default_rng([seed, index])
        rgb = np.full((height, width, 3), 40, np.uint8)
        mask = np.zeros((height, width), np.uint16)
        dmask = np.zeros((height, width), np.uint16)
        depth = np.full((height, width), np.nan, np.float32)
        instances, defect_recs = [], []
        for k in range(int(rng.integers(1, 4))):
            iid = k + 1
            cx, cy = rng.integers(8, width - 8), rng.integers(8, height - 8)
            r = int(rng.integers(4, 9))
            if k % 2 == 0:
                shape = (abs(xx - cx) <= r) & (abs(yy - cy) <= r // 2 + 1)
            else:
                shape = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            full = int(shape.sum())
            mask[shape] = iid
            rgb[shape] = rng.integers(90, 250, 3).astype(np.uint8)
            depth[shape] = 0.3 - 0.01 * k
            pose = np.eye(4)
            pose[:3, 3] = [0.0, 0.0, 0.3 - 0.01 * k]
            instances.append(dict(id=iid, category=classes[k % len(classes)], part=classes[k % len(classes)],
                                  full=full, pose=pose.tolist(), defects=[]))
        for inst in instances:
            vis = mask == inst["id"]
            inst["visible_pixels"] = int(vis.sum())
            inst["visible_fraction"] = float(vis.sum() / max(inst.pop("full"), 1))
            inst["bbox"] = _bbox(vis)
            if defects and (index + inst["id"]) % 3 == 0 and vis.sum() > 6:
                did = len(defect_recs) + 1
                ys, _ = np.nonzero(vis)
                line = vis & (yy == int(np.median(ys)))
                dmask[line] = did
                rgb[line] = 255
                inst["defects"].append(did)
                defect_recs.append(DefectRecord(id=did, type="scratch", instance=inst["id"],
                                                bbox=_bbox(line), pixels=int(line.sum()),
                                                params={"length_mm": 3.0}))
        files = {"image": f"images/{index:06d}.png", "depth": f"depth/{index:06d}.png",
                 "mask": f"masks/{index:06d}.png"}
        write_image_atomic(layout.image(index), rgb)
        write_depth_atomic(layout.depth(index), depth)
        write_label_png_atomic(layout.mask(index), mask)
        if defects:
            write_label_png_atomic(layout.defects(index), dmask)
            files["defects"] = f"defects/{index:06d}.png"
        append_record(root, Record(index=index, seed=seed, width=width, height=height, K=K,
                                   distortion=[0.0] * 5, camera_pose=np.eye(4).tolist(),
                                   instances=[InstanceRecord(**i) for i in instances],
                                   defects=defect_recs, params={"fake": True}, files=files))
    layout.run_json.write_text(json.dumps({"seed": seed, "count": n, "fake": True}))
    return Path(root)


def write_adapted_copy(dataset: Path, adapted: Path, *, invert: bool = False,
                       source: Path | None = None) -> Path:
    """An "adapted" directory made from `dataset` as `adapt apply` lays it out: its records,
    each image copied (or inverted, `255 - image`) and `adapt.json` naming `source` (default:
    `dataset`) as the source."""
    import shutil

    from synthgap.data import read_image, read_records

    (adapted / "images").mkdir(parents=True)
    shutil.copy(dataset / "records.jsonl", adapted)
    for r in read_records(dataset):
        image = read_image(DatasetLayout(dataset).image(r.index))
        write_image_atomic(DatasetLayout(adapted).image(r.index), 255 - image if invert else image)
    if source is None:
        source = dataset.resolve()
    (adapted / "adapt.json").write_text(json.dumps({"source": str(source)}))
    return adapted


@pytest.fixture
def fake_dataset(tmp_path: Path) -> Path:
    """A 6-image raw dataset directory with masks, depth and defects (no rendering involved)."""
    return write_fake_dataset(tmp_path / "raw")


def tamper_model(path: Path, **tensors: np.ndarray) -> None:
    """Overwrite tensors of a model file in place, as a user (or an attacker) could:
    `save_model` itself refuses NaN tensors, a file on disk cannot."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    save_file({**load_file(str(path)), **tensors}, str(path), metadata=meta)
