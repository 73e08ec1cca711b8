"""Object crops (the recognition task's inputs) of real photos and of synthetic datasets.

A crop is the square around an object's visible box (side 1.15 × the longer edge + 2 px, edge
pixels replicated outside the image) resized to `size`² pixels. Real crops keep the photo they
came from (folds and the bootstrap work per photo). Synthetic datasets are `synthgap render` /
`synthgap adapt apply` output folders (`records.jsonl`, `images/`, `masks/`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from synthgap.evaluate.real import LabelError, RealData

__all__ = ["CropSet", "Derived", "RenderLabels", "derive", "read_render_labels", "real_crops",
           "square_crop"]

Progress = Callable[[int], None]


def square_crop(image: np.ndarray, box: tuple[float, float, float, float],
                size: int = 64) -> np.ndarray:
    """Square crop around an `(x, y, w, h)` box, `(size, size, 3) uint8`."""
    x, y, w, h = box
    side = max(w, h) * 1.15 + 2
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = round(side)
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - width, y0 + s - height)
    src = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    patch = src[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


@dataclass
class CropSet:
    """Crops with labels and the image each came from.

    Attributes:
        x: `(N, S, S, 3) uint8` crops.
        y: `(N,) int64` class indices.
        image: `(N,) int64` index of the source image (real: into `RealData.photos`).
    """

    x: np.ndarray
    y: np.ndarray
    image: np.ndarray

    def subset(self, images: Iterable[int]) -> CropSet:
        """The crops of these images."""
        keep = np.isin(self.image, np.fromiter(images, np.int64))
        return CropSet(self.x[keep], self.y[keep], self.image[keep])

    def __len__(self) -> int:
        return len(self.y)


def _usable(box: tuple[float, float, float, float], visib: float, min_visib: float,
            min_box: float) -> bool:
    return visib >= min_visib and min(box[2], box[3]) >= min_box


def real_crops(real: RealData, *, size: int = 64, min_visib: float = 0.3, min_box: float = 6,
               progress: Progress | None = None) -> CropSet:
    """Crops of every labelled instance with visible fraction ≥ `min_visib` and a visible box
    of at least `min_box` px a side.

    Raises:
        LabelError: an unreadable photo, or no usable instance.
    """
    from synthgap.data.layout import DatasetFileError, read_image

    xs, ys, ims = [], [], []
    for i, photo in enumerate(real.photos):
        keep = [r for r in photo.instances if _usable(r.box, r.visib, min_visib, min_box)]
        if keep:
            try:
                img = read_image(photo.path)
            except (DatasetFileError, OSError, ValueError) as exc:
                raise LabelError(photo.path, "", f"unreadable image ({exc})") from None
            for r in keep:
                xs.append(square_crop(img, r.box, size))
                ys.append(r.cls)
                ims.append(i)
        if progress is not None:
            progress(1)
    if not xs:
        raise LabelError(real.photos[0].path.parent, "", "no labelled object is large and "
                         f"visible enough (visible fraction ≥ {min_visib}, box ≥ {min_box} px)")
    return CropSet(np.stack(xs), np.array(ys, np.int64), np.array(ims, np.int64))


@dataclass
class RenderLabels:
    """What a synthetic dataset labels, per image: crop boxes and class maps.

    Attributes:
        root: the dataset folder.
        images: image file per render.
        boxes: per render, `(box, class index)` of its usable instances.
        seg_y: `(N, h, w) uint8` class maps at the segmentation size, or None.
        backgrounds: per render, the background photo path and crop `(x0, y0, x1, y1)` (in
            [0, 1]) it was composited over, or None.
        masks: per render, the instance-mask file.
        seconds: compute the dataset cost (from its `run.json`), or None.
    """

    root: Path
    images: list[Path]
    boxes: list[list[tuple[tuple[float, float, float, float], int]]]
    seg_y: np.ndarray | None
    backgrounds: list[tuple[str, tuple[float, float, float, float]] | None]
    masks: list[Path]
    seconds: float | None


def read_render_labels(root: str | Path, classes: list[str], *, min_visib: float = 0.3,
                       min_box: float = 6, seg_size: tuple[int, int] | None = None,
                       progress: Progress | None = None) -> RenderLabels:
    """Read a synthgap dataset folder's labels, classes mapped onto `classes` by name.

    Raises:
        LabelError: no `records.jsonl`, or a category that is not among `classes`.
    """
    import json

    from synthgap.data.layout import read_label_png
    from synthgap.data.records import read_records

    root = Path(root).expanduser().resolve()
    if not (root / "records.jsonl").is_file():
        raise LabelError(root, "records.jsonl", "not found; give a `synthgap render` or "
                                                "`synthgap adapt apply` output folder")
    records = sorted(read_records(root), key=lambda r: r.index)
    cls_index = {c: i for i, c in enumerate(classes)}
    images, boxes, seg, backs, masks = [], [], [], [], []
    for rec in records:
        keep: list[tuple[tuple[float, float, float, float], int]] = []
        lut = np.zeros(max([i.id for i in rec.instances], default=0) + 1, np.uint8)
        for inst in rec.instances:
            if inst.category not in cls_index:
                raise LabelError(root / "records.jsonl", f"record {rec.index} category",
                                 f"{inst.category!r} is not a class of the real photos "
                                 f"{classes}; name the scene's parts (`class:`) as the labels")
            lut[inst.id] = cls_index[inst.category] + 1
            if len(inst.bbox) == 4:
                bx, by, bw, bh = (float(v) for v in inst.bbox)
                if _usable((bx, by, bw, bh), inst.visible_fraction, min_visib, min_box):
                    keep.append(((bx, by, bw, bh), cls_index[inst.category]))
        images.append(_inside(root, rec.files.get("image", "")))
        masks.append(_inside(root, rec.files.get("mask", "")))
        boxes.append(keep)
        bg = rec.params.get("background", {}) if isinstance(rec.params, dict) else {}
        backs.append((str(bg["image"]), tuple(bg["image_crop"]))
                     if bg.get("image") and bg.get("image_crop") else None)
        if seg_size is not None:
            seg.append(cv2.resize(lut[read_label_png(masks[-1])], seg_size,
                                  interpolation=cv2.INTER_NEAREST))
        if progress is not None:
            progress(1)
    seconds = None
    run_json = root / "run.json"
    if run_json.is_file():
        try:
            seconds = float(json.loads(run_json.read_text()).get("seconds"))
        except (ValueError, TypeError, json.JSONDecodeError, AttributeError):
            seconds = None
    return RenderLabels(root=root, images=images, boxes=boxes,
                        seg_y=np.stack(seg) if seg else None, backgrounds=backs, masks=masks,
                        seconds=seconds)


def _inside(root: Path, rel: str) -> Path:
    p = (root / rel).resolve()
    if not rel or not p.is_relative_to(root):
        raise LabelError(root / "records.jsonl", "files", f"{rel!r} is not a file inside {root}")
    return p


@dataclass
class Derived:
    """What the tasks train on from one synthetic set: crops and segmentation images."""

    crops: CropSet
    seg_x: np.ndarray | None


def derive(images: Iterable[np.ndarray], labels: RenderLabels, *, size: int = 64,
           seg_size: tuple[int, int] | None = None) -> Derived:
    """Crops (and segmentation-size images) of renders given in `labels` order — the
    dataset's own images or the same renders adapted by a method."""
    xs, ys, ims, seg = [], [], [], []
    for i, img in enumerate(images):
        for box, c in labels.boxes[i]:
            xs.append(square_crop(img, box, size))
            ys.append(c)
            ims.append(i)
        if seg_size is not None:
            seg.append(cv2.resize(img, seg_size, interpolation=cv2.INTER_AREA))
    if not xs:
        raise LabelError(labels.root, "records.jsonl", "no usable labelled instance in the "
                                                       "renders")
    return Derived(CropSet(np.stack(xs), np.array(ys, np.int64), np.array(ims, np.int64)),
                   np.stack(seg) if seg else None)
