"""YOLO export (Ultralytics layout): detection (`yolo`) and segmentation (`yolo-seg`).

Layout::

    OUT/data.yaml                 names (class index -> name), train/val/test list files
    OUT/train.txt                 one image per line: ./images/train/000042.png
    OUT/images/train/000042.png   the (adapted) image of source index 42
    OUT/labels/train/000042.txt   one object per line (empty file: no object)

Label lines, all coordinates normalised by the image width (x) and height (y) to [0, 1], with
the origin at the top-left corner of the top-left pixel:

* detection: `class cx cy w h` (box centre and size; a box covering columns x..x+w-1 spans
  x..x+w in these continuous coordinates),
* segmentation: `class x1 y1 x2 y2 ...`, the outline of the visible mask through its boundary
  pixel centres (`cv2.findContours`). A YOLO polygon has no holes and is one ring: holes are
  filled, and a part split into several visible pieces by an occluder is joined into one ring
  by zero-width bridges between the pieces.

Class indices start at 0: part classes sorted by name, then `defect/<type>` classes when
defects are exported. Like COCO ids, indices never change once written into a folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.data import Record
from synthgap.export.base import (
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

_DIGITS = 6


def mask_polygon(mask: np.ndarray) -> np.ndarray:
    """One ring outlining an `(H, W) bool` mask, as `(K, 2) float64` pixel (x, y) centres.

    Several pieces are joined in order of decreasing area: each is entered from its point
    nearest the first piece's ring and left the same way (a zero-width bridge).
    """
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    rings = [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c)]
    if not rings:
        return np.zeros((0, 2))
    rings.sort(key=lambda r: (-cv2.contourArea(r.astype(np.float32)), -len(r), r[0, 1],
                              r[0, 0]))
    path = [rings[0]]
    base = rings[0]
    for ring in rings[1:]:
        d = ((base[:, None, :] - ring[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        # base point i -> ring from j all the way round back to j -> base point i
        loop = np.concatenate([np.roll(ring, -j, axis=0), ring[j:j + 1]])
        path.append(np.concatenate([base[i:i + 1], loop, base[i:i + 1]]))
    poly = np.concatenate(path)
    if len(poly) < 3:  # a one- or two-pixel piece: repeat points to make a valid ring
        poly = np.concatenate([poly, poly[::-1], poly])[:3]
    return poly


def polygon_mask(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise a `(K, 2)` pixel-centre ring back to an `(H, W) bool` mask (edges included)."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    if len(poly):
        cv2.fillPoly(mask, [np.rint(poly).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def _fmt(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.{_DIGITS}f}"


def _write_image(source: DatasetSource, record: Record, out: Path, split: str,
                 ids: dict[str, int], options: ExportOptions, task: str) -> tuple[str, int]:
    """Copy one image into `out/images/<split>/` and write its label file; returns the
    image's file name and its number of objects."""
    stem = f"{record.index:06d}"
    for sub in ("images", "labels"):
        (out / sub / split).mkdir(parents=True, exist_ok=True)
    src = source.image_path(record)
    fname = f"{stem}{src.suffix.lower() or '.png'}"  # keep the file's own format
    copy_file(src, out / "images" / split / fname)
    lines = []
    W, H = record.width, record.height
    for obj in image_objects(source, record, options):
        x, y, w, h = obj.bbox
        if task == "detect":
            coords = [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H]
        else:
            poly = mask_polygon(obj.mask)
            coords = [float(v) for p in poly for v in ((p[0] + 0.5) / W, (p[1] + 0.5) / H)]
        lines.append(" ".join([str(ids[obj.name])] + [_fmt(v) for v in coords]))
    (out / "labels" / split / f"{stem}.txt").write_text(
        "".join(line + "\n" for line in lines), encoding="utf-8")
    return fname, len(lines)


def _write(source: DatasetSource, out: Path, *, splits: Mapping[int, str], ratios: SplitRatios,
           seed: int, options: ExportOptions, task: str) -> ExportSummary:
    name = "yolo" if task == "detect" else "yolo-seg"
    out = Path(out)
    previous = prepare_output(out, name, ["images", "labels", "*.txt", "data.yaml",
                                          "export.json"])
    ids = stable_ids(object_names(source, options), (previous or {}).get("categories"),
                     start=0)
    images, objects = empty_counts(), empty_counts()
    active = [s for s, r in zip(SPLITS, ratios.as_tuple(), strict=True) if r > 0]
    # the list files are written as the export goes, one line per image
    lists = {s: open(out / f"{s}.txt", "w", encoding="utf-8") for s in active}
    try:
        for record in source.iter_records():
            split = splits[record.index]
            fname, n = _write_image(source, record, out, split, ids, options, task)
            lists[split].write(f"./images/{split}/{fname}\n")
            images[split] += 1
            objects[split] += n
    finally:
        for f in lists.values():
            f.close()
    data: dict[str, object] = {s: f"{s}.txt" for s in active}
    data["nc"] = len(ids)
    data["names"] = {v: k for k, v in ids.items()}
    header = (f"# synthgap YOLO {task} export. No `path:` key, so Ultralytics resolves the list\n"
              "# files relative to this file; each list names images, labels sit under labels/.\n")
    (out / "data.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False),
                                   encoding="utf-8")
    return ExportSummary(format=name, out=str(out), images=images, objects=objects,
                         categories=ids, seed=seed, split=ratios.as_tuple(),
                         extra={"task": task})


def write_detect(source: DatasetSource, out: Path, **kw: object) -> ExportSummary:
    """Write `source` as YOLO detection labels (see the module docstring)."""
    return _write(source, out, task="detect", **kw)  # type: ignore[arg-type]


def write_segment(source: DatasetSource, out: Path, **kw: object) -> ExportSummary:
    """Write `source` as YOLO segmentation labels (see the module docstring)."""
    return _write(source, out, task="segment", **kw)  # type: ignore[arg-type]


def read_data_yaml(out: Path) -> dict[str, Any]:
    """`OUT/data.yaml` as a dict, with a clear error when missing or malformed."""
    path = Path(out) / "data.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{out}: no data.yaml; not a YOLO export") from None
    except yaml.YAMLError as exc:
        raise ExportError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("names"), dict):
        raise ExportError(f"{path}: expected a mapping with `names: {{0: name, ...}}`")
    return data


def _read(out: Path, task: str) -> LazySamples:
    from synthgap.data import read_image

    out = Path(out)
    read_manifest(out, "yolo" if task == "detect" else "yolo-seg")
    data = read_data_yaml(out)
    names = {int(k): str(v) for k, v in data["names"].items()}
    entries = []
    for split in SPLITS:
        if split not in data:
            continue
        for line in (out / data[split]).read_text(encoding="utf-8").splitlines():
            if line.strip():
                entries.append((split, out / line.strip()))

    def load(entry: tuple[str, Path]) -> ExportedSample:
        split, img_path = entry
        image = read_image(img_path)
        H, W = image.shape[:2]
        label = out / "labels" / split / f"{img_path.stem}.txt"
        cls, boxes, masks = [], [], []
        for lineno, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            values = line.split()
            try:
                c, nums = int(values[0]), np.array([float(v) for v in values[1:]])
            except ValueError:
                raise ExportError(f"{label}:{lineno}: not a YOLO label line") from None
            cls.append(names[c])
            if task == "detect":
                cx, cy, w, h = nums * [W, H, W, H]
                boxes.append([cx - w / 2, cy - h / 2, w, h])
            else:
                poly = nums.reshape(-1, 2) * [W, H] - 0.5
                m = polygon_mask(poly, H, W)
                masks.append(m)
                ys, xs = np.nonzero(m)
                boxes.append([xs.min(), ys.min(), xs.max() - xs.min() + 1,
                              ys.max() - ys.min() + 1] if xs.size else [0, 0, 0, 0])
        return ExportedSample(
            key=img_path.stem, index=int(img_path.stem), split=split, image=image,
            names=tuple(cls), boxes=np.array(boxes, np.float64).reshape(-1, 4),
            masks=(np.stack(masks) if masks else np.zeros((0, H, W), bool))
            if task == "segment" else None,
            instance_ids=np.full(len(cls), -1, np.int64))

    return LazySamples(entries, load)


def read_detect(out: Path) -> LazySamples:
    """Read a YOLO detection export back (boxes in pixels, no masks)."""
    return _read(out, "detect")


def read_segment(out: Path) -> LazySamples:
    """Read a YOLO segmentation export back (masks rasterised from the polygons)."""
    return _read(out, "segment")
