"""An albumentations pipeline applied to one labelled sample: image, masks and boxes together.

Example::

    import os; os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no update check
    import albumentations as A
    aug = A.Compose([A.HorizontalFlip(), A.RandomCrop(48, 48), A.ColorJitter()],
                    bbox_params=A.BboxParams(format="coco"), seed=7)
    out = apply_transform(aug, image, masks, boxes, rng=np.random.default_rng([7, 0, 42]))

What comes back agrees with itself by construction: every geometric transform moves the image
and the masks with the same sampled parameters (one albumentations call), and each box is the
tight box of its transformed mask. An object whose mask leaves the image (a crop) is dropped,
and so is one that the pipeline's own `BboxParams` filter (`min_visibility`, `min_area`)
drops. Without masks (a YOLO detection export) the boxes albumentations returns are used.

albumentations (2.0.x, MIT; `pip install 'synthgap[train]'`) is imported by the caller, never
here: this module only calls the pipeline it is given.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Augmented", "apply_transform", "mask_boxes"]


@dataclass(frozen=True)
class Augmented:
    """One transformed sample.

    Attributes:
        image: `(H', W', 3) uint8` RGB.
        masks: `(N', H', W') bool`, or None when the sample had no masks.
        boxes: `(N', 4) float64` `[x, y, w, h]` pixels, pixel edges (w counts pixels).
        kept: `(N',) int64` index of each object in the input (to carry labels and ids).
    """

    image: np.ndarray
    masks: np.ndarray | None
    boxes: np.ndarray
    kept: np.ndarray


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """`(N, 4) float64` tight `[x, y, w, h]` of `(N, H, W)` masks (zeros for an empty one)."""
    out = np.zeros((len(masks), 4), np.float64)
    for k, m in enumerate(masks):
        ys = np.flatnonzero(m.any(axis=1))
        xs = np.flatnonzero(m.any(axis=0))
        if xs.size:
            out[k] = [xs[0], ys[0], xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1]
    return out


def _to_format(xywh: np.ndarray, fmt: str, w: int, h: int) -> np.ndarray:
    x, y, bw, bh = xywh.T
    if fmt == "coco":
        return np.stack([x, y, bw, bh], axis=1)
    if fmt == "pascal_voc":
        return np.stack([x, y, x + bw, y + bh], axis=1)
    if fmt == "albumentations":
        return np.stack([x / w, y / h, (x + bw) / w, (y + bh) / h], axis=1)
    if fmt == "yolo":
        return np.stack([(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h], axis=1)
    raise ValueError(f"transform: bbox_params.format {fmt!r} is not one of coco, pascal_voc, "
                     "albumentations, yolo")


def _from_format(boxes: np.ndarray, fmt: str, w: int, h: int) -> np.ndarray:
    a, b, c, d = boxes.T
    if fmt == "coco":
        return np.stack([a, b, c, d], axis=1)
    if fmt == "pascal_voc":
        return np.stack([a, b, c - a, d - b], axis=1)
    if fmt == "albumentations":
        return np.stack([a * w, b * h, (c - a) * w, (d - b) * h], axis=1)
    return np.stack([(a - c / 2) * w, (b - d / 2) * h, c * w, d * h], axis=1)  # yolo


def _bbox_params(transform: Any) -> Any | None:
    processor = getattr(transform, "processors", {}).get("bboxes")
    return getattr(processor, "params", None)


def apply_transform(transform: Callable[..., dict[str, Any]], image: np.ndarray,
                    masks: np.ndarray | None, boxes: np.ndarray, *,
                    rng: np.random.Generator | None = None) -> Augmented:
    """Apply an albumentations `Compose` to one sample.

    Args:
        transform: an `albumentations.Compose`. With boxes to keep and no masks it needs
            `bbox_params`; any `label_fields` it declares are filled with object indices.
        image: `(H, W, 3) uint8` RGB.
        masks: `(N, H, W) bool` visible masks, or None.
        boxes: `(N, 4)` `[x, y, w, h]` pixels (w counts pixels).
        rng: the sample's own random stream: the pipeline's random state is drawn from it, so
            the result depends only on it (not on call order or DataLoader workers). None:
            the pipeline's own state is used and advanced.

    Returns:
        The transformed sample (`Augmented`).

    Raises:
        ValueError: boxes without masks and a pipeline without `bbox_params`, or a bbox
            format albumentations does not have.
    """
    n = len(boxes)
    params = _bbox_params(transform)
    if masks is None and n and params is None:
        raise ValueError("transform: this dataset has boxes but no masks (a YOLO detection "
                         "export); give the Compose bbox_params, e.g. "
                         "A.Compose([...], bbox_params=A.BboxParams(format='coco'))")
    if rng is not None and hasattr(transform, "set_random_state"):
        transform.set_random_state(np.random.default_rng(rng.integers(2**63)),
                                   random.Random(int(rng.integers(2**63))))
    h, w = image.shape[:2]
    data: dict[str, Any] = {"image": image}
    if masks is not None:
        data["masks"] = [m.astype(np.uint8) for m in masks]
    index = np.arange(n, dtype=np.float64)
    if params is not None:
        fmt = str(params.format)
        # boxes read back from normalised labels can stick out by rounding (-5e-7):
        # albumentations refuses those, so clip them to the image first
        xyxy = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
        xyxy[:, 2:] += xyxy[:, :2]
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        xyxy[:, 2:] -= xyxy[:, :2]
        given = _to_format(xyxy, fmt, w, h)
        data["bboxes"] = np.concatenate([given, index[:, None]], axis=1)  # index rides along
        for field in params.label_fields or ():
            data[field] = index.astype(np.int64).tolist()
    out = transform(**data)
    if not isinstance(out, dict) or "image" not in out:
        raise TypeError(f"transform returned {type(out).__name__}; it must return a dict with "
                        "'image' (as an albumentations Compose does)")
    new_image = np.asarray(out["image"])
    nh, nw = new_image.shape[:2]
    kept = np.arange(n, dtype=np.int64)
    new_boxes = None
    if params is not None:
        got = np.asarray(out["bboxes"], np.float64).reshape(-1, given.shape[1] + 1)
        kept = np.rint(got[:, -1]).astype(np.int64)
        new_boxes = _from_format(got[:, :4], fmt, nw, nh)
    if masks is None:
        return Augmented(image=new_image, masks=None,
                         boxes=(new_boxes if new_boxes is not None
                                else np.zeros((0, 4))).reshape(-1, 4), kept=kept)
    new_masks = np.stack([np.asarray(m) > 0 for m in out["masks"]]) if n else \
        np.zeros((0, nh, nw), bool)
    new_masks = new_masks[kept]
    alive = new_masks.reshape(len(kept), nh * nw).any(axis=1)
    new_masks, kept = new_masks[alive], kept[alive]
    return Augmented(image=new_image, masks=new_masks, boxes=mask_boxes(new_masks), kept=kept)
