"""WebDataset tar shards: for sets too large for one folder of files.

Layout::

    OUT/export.json
    OUT/train-000000.tar   samples 0..shard_size-1 of the train split, then train-000001.tar ...
    OUT/val-000000.tar

Each sample is a group of tar members sharing a key (the six-digit source index), as the
`webdataset` package expects (key = file name up to the first dot):

* `000042.png` — the (adapted) image, the source file's bytes;
* `000042.json` — `index`, `split`, `width`, `height`, `K`, `distortion`, `categories`
  (name -> id, ids from 1 as in COCO) and `objects`: one entry per visible part, then per
  visible defect, with `name`, `category_id`, `kind`, `bbox` `[x, y, w, h]` pixels,
  `instance_id`, `defect_id` and `attributes`;
* `000042.mask.png` — `(H, W) uint16` instance ids (object k with `kind: part` is
  `mask == instance_id`);
* `000042.defects.png` — `(H, W) uint16` defect ids (only when the dataset has defects).

Members are written in a fixed order with zeroed times and owners, so the same input gives
byte-identical shards.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.export.base import (
    ExportedSample,
    ExportError,
    ExportOptions,
    ExportSummary,
    LazySamples,
    empty_counts,
    object_names,
    prepare_output,
    read_manifest,
    stable_ids,
)
from synthgap.export.objects import image_objects
from synthgap.export.source import DatasetSource
from synthgap.export.splits import SPLITS, SplitRatios

NAME = "webdataset"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _png_bytes(labels: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", labels)
    if not ok:
        raise OSError("OpenCV could not encode a label PNG")
    return buf.tobytes()


def write(source: DatasetSource, out: Path, *, splits: Mapping[int, str], ratios: SplitRatios,
          seed: int, options: ExportOptions) -> ExportSummary:
    """Write `source` as WebDataset shards (see the module docstring)."""
    out = Path(out)
    previous = prepare_output(out, NAME, ["*.tar", "export.json"])
    ids = stable_ids(object_names(source, options), (previous or {}).get("categories"), start=1)
    images, objects = empty_counts(), empty_counts()
    open_tars: dict[str, tarfile.TarFile] = {}
    try:
        for record in source.iter_records():
            split = splits[record.index]
            n = images[split]
            if n % options.shard_size == 0:
                if split in open_tars:
                    open_tars[split].close()
                path = out / f"{split}-{n // options.shard_size:06d}.tar"
                open_tars[split] = tarfile.open(path, "w", format=tarfile.GNU_FORMAT)
            tar = open_tars[split]
            key = f"{record.index:06d}"
            inst = source.instance_mask(record)
            dmask = source.defect_mask(record)
            objs = image_objects(source, record, options, instance_mask=inst,
                                 defect_mask=dmask)
            meta = {"key": key, "index": record.index, "split": split, "width": record.width,
                    "height": record.height, "K": record.K, "distortion": record.distortion,
                    "categories": ids,
                    "objects": [{"name": o.name, "category_id": ids[o.name], "kind": o.kind,
                                 "bbox": o.bbox, "instance_id": o.instance_id,
                                 "defect_id": o.defect_id, "attributes": o.attributes}
                                for o in objs]}
            image_path = source.image_path(record)
            ext = image_path.suffix.lstrip(".").lower() or "png"
            _add(tar, f"{key}.{ext}", image_path.read_bytes())
            _add(tar, f"{key}.json", json.dumps(meta, separators=(",", ":")).encode())
            _add(tar, f"{key}.mask.png", _png_bytes(inst))
            if dmask is not None:
                _add(tar, f"{key}.defects.png", _png_bytes(dmask))
            images[split] += 1
            objects[split] += len(objs)
    finally:
        for tar in open_tars.values():
            tar.close()
    return ExportSummary(format=NAME, out=str(out), images=images, objects=objects,
                         categories=ids, seed=seed, split=ratios.as_tuple(),
                         extra={"shard_size": options.shard_size,
                                "shards": sorted(p.name for p in out.glob("*.tar"))})


def _decode(data: bytes, flags: int) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise ExportError("a shard member is not a readable image")
    return img


def read(out: Path) -> LazySamples:
    """Read shards back (with the standard library's `tarfile`), one sample per key."""
    import cv2

    out = Path(out)
    read_manifest(out, NAME)
    entries: list[tuple[str, Path, dict[str, tarfile.TarInfo]]] = []
    for split in SPLITS:
        for shard in sorted(out.glob(f"{split}-*.tar")):
            groups: dict[str, dict[str, tarfile.TarInfo]] = {}
            with tarfile.open(shard) as tar:
                for m in tar.getmembers():
                    key, _, ext = m.name.partition(".")
                    groups.setdefault(key, {})[ext] = m
            entries += [(split, shard, groups[k]) for k in groups]

    def load(entry: tuple[str, Path, dict[str, tarfile.TarInfo]]) -> ExportedSample:
        split, shard, members = entry
        with tarfile.open(shard) as tar:
            def get(ext: str) -> bytes:
                f = tar.extractfile(members[ext])
                assert f is not None  # members are regular files, written by `write`
                return f.read()

            meta: dict[str, Any] = json.loads(get("json"))
            img_ext = next(e for e in members if e not in ("json", "mask.png", "defects.png"))
            bgr = _decode(get(img_ext), cv2.IMREAD_COLOR)
            inst = _decode(get("mask.png"), cv2.IMREAD_UNCHANGED)
            dmask = _decode(get("defects.png"), cv2.IMREAD_UNCHANGED) \
                if "defects.png" in members else None
        objs = meta["objects"]
        masks = [inst == o["instance_id"] if o["kind"] == "part" else dmask == o["defect_id"]
                 for o in objs]
        H, W = inst.shape
        return ExportedSample(
            key=meta["key"], index=int(meta["index"]), split=split,
            image=np.ascontiguousarray(bgr[:, :, ::-1]), names=tuple(o["name"] for o in objs),
            boxes=np.array([o["bbox"] for o in objs], np.float64).reshape(-1, 4),
            masks=np.stack(masks) if masks else np.zeros((0, H, W), bool),
            instance_ids=np.array([o["instance_id"] for o in objs], np.int64))

    return LazySamples(entries, load)
