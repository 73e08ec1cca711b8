"""COCO instance segmentation export.

Layout::

    OUT/export.json                       what was exported, from where, with which split
    OUT/annotations/instances_train.json  (and _val, _test: one file per split with ratio > 0)
    OUT/images/train/000042.png           the (adapted) image of source index 42

Conventions:

* `images[].id` = source index + 1 (ids from 1; the file name keeps the source index).
* Categories: part classes first, sorted by name, ids from 1 (0 is never used, so no tool
  mistakes a class for background); then defects, as **their own categories** named
  `defect/<type>` with `supercategory: "defect"`. Ids never change once written: exporting again
  into the same folder (e.g. after rendering more images) keeps every earlier id and gives new
  names the next ones.
* Annotations: `segmentation` is an uncompressed-to-string RLE (pycocotools `encode`, `counts`
  as str) of the visible mask, `area` its pixel count, `bbox` `[x, y, w, h]` of the mask (pixel
  edges), `iscrowd` 0, ids unique across all splits (from 1). Each part annotation carries
  `attributes`: `instance_id`, `part`, `visible_fraction`, `ng` (has a defect), `defect_types`,
  `pose` (4x4 camera-from-object, metres, OpenCV camera frame); each defect annotation carries
  `attributes.instance_id` (the part it lies on, same image) and the sampled `params`.
* `info` holds the synthgap version, the render seed and the split seed and ratios.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from synthgap.data import Record
from synthgap.export.base import (
    DEFECT_PREFIX,
    ExportedSample,
    ExportError,
    ExportOptions,
    ExportSummary,
    LazySamples,
    copy_file,
    empty_counts,
    object_names,
    prepare_output,
    read_manifest,
    stable_ids,
)
from synthgap.export.objects import image_objects
from synthgap.export.source import DatasetSource
from synthgap.export.splits import SPLITS, SplitRatios

NAME = "coco"


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO RLE of an `(H, W) bool` mask, `counts` as a str (JSON-able)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """`(H, W) bool` mask of a COCO RLE (counts as str or bytes)."""
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    rle = {"size": rle["size"], "counts": counts.encode("ascii") if isinstance(counts, str)
           else counts}
    with warnings.catch_warnings():
        # pycocotools 2.0.x's Cython decode trips NumPy 2's `__array__(copy=...)` deprecation;
        # the decoded mask is correct, so keep that noise away from users.
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        mask: np.ndarray = mask_utils.decode(rle).astype(bool)
        return mask


class _StreamedDoc:
    """One `instances_<split>.json`, written as the export goes: its `images` and
    `annotations` arrays are appended to two temporary files, joined into the JSON file by
    `finish` (the bytes `json.dumps(doc, separators=(",", ":"))` of the whole dict gives)."""

    KEYS = ("images", "annotations")

    def __init__(self, path: Path, head: dict[str, Any], categories: list[dict[str, Any]]) -> None:
        self.path = path
        self._head = json.dumps(head, separators=(",", ":"))[:-1]  # without its closing "}"
        self._tail = json.dumps(categories, separators=(",", ":"))
        self._parts = {k: path.with_name(f".{path.name}.{k}.tmp") for k in self.KEYS}
        self._files: dict[str, IO[str]] = {}
        self._count = dict.fromkeys(self.KEYS, 0)
        for key, part in self._parts.items():
            self._files[key] = open(part, "w", encoding="utf-8")

    def add(self, key: str, item: dict[str, Any]) -> None:
        """Append one entry to the `key` array."""
        sep = "," if self._count[key] else ""
        self._files[key].write(sep + json.dumps(item, separators=(",", ":")))
        self._count[key] += 1

    def finish(self) -> None:
        """Write the JSON file (through a temporary name) and drop the parts."""
        for f in self._files.values():
            f.close()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(self._head)
            for key in self.KEYS:
                out.write(f',"{key}":[')
                with open(self._parts[key], encoding="utf-8") as part:
                    shutil.copyfileobj(part, out)
                out.write("]")
            out.write(f',"categories":{self._tail}}}')
        os.replace(tmp, self.path)
        self.close()

    def close(self) -> None:
        """Close and remove the temporary parts (after `finish`, or on a failure)."""
        for f in self._files.values():
            f.close()
        for part in self._parts.values():
            part.unlink(missing_ok=True)


def _image_entries(source: DatasetSource, record: Record, options: ExportOptions,
                   ids: dict[str, int], first_id: int) -> list[dict[str, Any]]:
    """The annotations of one image, ids from `first_id` (parts, then defects)."""
    anns: list[dict[str, Any]] = []
    part_ann: dict[int, int] = {}
    image_id = record.index + 1
    for k, obj in enumerate(image_objects(source, record, options)):
        attributes = dict(obj.attributes)
        if obj.kind == "part":
            part_ann[obj.instance_id] = first_id + k
        else:
            attributes["part_annotation_id"] = part_ann.get(obj.instance_id)
        anns.append({
            "id": first_id + k, "image_id": image_id, "category_id": ids[obj.name],
            "segmentation": encode_rle(obj.mask), "area": int(obj.mask.sum()),
            "bbox": [float(v) for v in obj.bbox], "iscrowd": 0, "attributes": attributes})
    return anns


def write(source: DatasetSource, out: Path, *, splits: Mapping[int, str], ratios: SplitRatios,
          seed: int, options: ExportOptions) -> ExportSummary:
    """Write `source` as COCO (see the module docstring); returns what was written.

    One image at a time: the annotation files are streamed (`_StreamedDoc`), so memory does
    not grow with the number of images.
    """
    from synthgap import __version__

    out = Path(out)
    previous = prepare_output(out, NAME, ["annotations", "images", "export.json"])
    prev_ids = (previous or {}).get("categories")
    ids = stable_ids(object_names(source, options), prev_ids, start=1)
    categories = [{"id": cid, "name": name,
                   "supercategory": "defect" if name.startswith(DEFECT_PREFIX) else "part"}
                  for name, cid in ids.items()]
    info = {"description": "synthgap export", "version": __version__,
            "synthgap_version": __version__, "render_seed": source.seed, "split_seed": seed,
            "split": list(ratios.as_tuple()), "adapted": source.adapted,
            "source": source.root.name}
    active = [s for s, r in zip(SPLITS, ratios.as_tuple(), strict=True) if r > 0]
    images, objects = empty_counts(), empty_counts()
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    docs = {s: _StreamedDoc(out / "annotations" / f"instances_{s}.json",
                            {"info": info, "licenses": []}, categories) for s in active}
    try:
        next_ann = 1
        for record in source.iter_records():
            split = splits[record.index]
            folder = out / "images" / split
            folder.mkdir(parents=True, exist_ok=True)
            src = source.image_path(record)
            name = f"{record.index:06d}{src.suffix.lower() or '.png'}"  # keep its own format
            copy_file(src, folder / name)
            docs[split].add("images", {
                "id": record.index + 1, "file_name": name, "width": record.width,
                "height": record.height, "synthgap_index": record.index, "K": record.K,
                "distortion": record.distortion})
            images[split] += 1
            for ann in _image_entries(source, record, options, ids, next_ann):
                docs[split].add("annotations", ann)
                next_ann += 1
                objects[split] += 1
        for doc in docs.values():
            doc.finish()
    finally:
        for doc in docs.values():
            doc.close()
    return ExportSummary(format=NAME, out=str(out), images=images, objects=objects,
                         categories=ids, seed=seed, split=ratios.as_tuple())


def read(out: Path) -> LazySamples:
    """Read a COCO export back, one `ExportedSample` per image (masks decoded from RLE)."""
    from synthgap.data import read_image

    out = Path(out)
    read_manifest(out, NAME)
    entries = []
    for split in SPLITS:
        path = out / "annotations" / f"instances_{split}.json"
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path}: not valid JSON ({exc})") from exc
        names = {c["id"]: c["name"] for c in doc["categories"]}
        anns: dict[int, list[dict[str, Any]]] = {}
        for a in doc["annotations"]:
            anns.setdefault(a["image_id"], []).append(a)
        for img in doc["images"]:
            entries.append((split, img, anns.get(img["id"], []), names))

    def load(entry: tuple[str, dict[str, Any], list[dict[str, Any]], dict[int, str]]
             ) -> ExportedSample:
        split, img, anns, names = entry
        image = read_image(out / "images" / split / img["file_name"])
        h, w = image.shape[:2]
        masks = np.stack([decode_rle(a["segmentation"]) for a in anns]) if anns else \
            np.zeros((0, h, w), bool)
        return ExportedSample(
            key=Path(img["file_name"]).stem, index=int(img.get("synthgap_index", img["id"] - 1)),
            split=split, image=image, names=tuple(names[a["category_id"]] for a in anns),
            boxes=np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4), masks=masks,
            instance_ids=np.array([a.get("attributes", {}).get("instance_id", -1) for a in anns],
                                  np.int64))

    return LazySamples(entries, load)
