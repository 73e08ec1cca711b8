"""The labelled objects of one image, as every exporter sees them: parts, then defects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthgap.data import Record
from synthgap.export.base import (
    DEFECT_PREFIX,
    ExportedSample,
    ExportOptions,
    LazySamples,
    mask_bbox,
)
from synthgap.export.source import DatasetSource


@dataclass(frozen=True)
class ImageObject:
    """One part or defect visible in an image.

    Attributes:
        name: category name (part class, or `defect/<type>`).
        kind: `part` or `defect`.
        instance_id: the part's id in the instance mask (for a defect: the part it lies on).
        defect_id: the defect's id in the defect mask (0 for a part).
        mask: `(H, W) bool` visible pixels.
        bbox: `[x, y, w, h]` pixels of `mask`.
        attributes: extra facts (visible fraction, OK/NG, defect types, pose, defect params).
    """

    name: str
    kind: str
    instance_id: int
    defect_id: int
    mask: np.ndarray
    bbox: list[int]
    attributes: dict[str, Any] = field(default_factory=dict)


def image_objects(source: DatasetSource, record: Record, options: ExportOptions,
                  *, instance_mask: np.ndarray | None = None,
                  defect_mask: np.ndarray | None = None) -> list[ImageObject]:
    """Visible parts (in instance-id order), then visible defects (in defect-id order).

    Parts with fewer than `options.min_visible_pixels` visible pixels are left out, and so are
    their defects.
    """
    inst = source.instance_mask(record) if instance_mask is None else instance_mask
    types = {d.id: d.type for d in record.defects}
    out: list[ImageObject] = []
    kept: set[int] = set()
    for rec in sorted(record.instances, key=lambda i: i.id):
        mask = inst == rec.id
        if int(mask.sum()) < options.min_visible_pixels:
            continue
        kept.add(rec.id)
        dtypes = sorted({types[d] for d in rec.defects if d in types})
        out.append(ImageObject(
            name=rec.category, kind="part", instance_id=rec.id, defect_id=0, mask=mask,
            bbox=mask_bbox(mask),
            attributes={"instance_id": rec.id, "part": rec.part,
                        "visible_fraction": round(float(rec.visible_fraction), 6),
                        "ng": bool(rec.defects), "defect_types": dtypes, "pose": rec.pose}))
    if options.defects and record.defects:
        dmask = source.defect_mask(record) if defect_mask is None else defect_mask
        if dmask is not None:
            for d in sorted(record.defects, key=lambda d: d.id):
                mask = dmask == d.id
                if d.instance not in kept or not mask.any():
                    continue
                out.append(ImageObject(
                    name=DEFECT_PREFIX + d.type, kind="defect", instance_id=d.instance,
                    defect_id=d.id, mask=mask, bbox=mask_bbox(mask),
                    attributes={"instance_id": d.instance, "defect_id": d.id,
                                "params": d.params}))
    return out


def source_samples(source: DatasetSource, options: ExportOptions | None = None,
                   *, splits: dict[int, str] | None = None) -> LazySamples:
    """A raw or adapted directory seen as read-back samples (the same type exports give).

    Args:
        source: the opened directory.
        options: which objects to include (defects on by default).
        splits: optional index -> split name, stored in each sample (`""` when None).
    """
    opts = options or ExportOptions()
    # positions, not records: each sample's record is read from disk when it is loaded
    entries = [((splits or {}).get(i, ""), k) for k, i in enumerate(source.indices)]

    def load(entry: tuple[str, int]) -> ExportedSample:
        split, k = entry
        record = source.records[k]
        image = source.image(record)
        objs = image_objects(source, record, opts)
        h, w = image.shape[:2]
        return ExportedSample(
            key=f"{record.index:06d}", index=record.index, split=split, image=image,
            names=tuple(o.name for o in objs),
            boxes=np.array([o.bbox for o in objs], np.float64).reshape(-1, 4),
            masks=np.stack([o.mask for o in objs]) if objs else np.zeros((0, h, w), bool),
            instance_ids=np.array([o.instance_id for o in objs], np.int64))

    return LazySamples(entries, load)
