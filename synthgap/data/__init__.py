"""The dataset directory: its layout, records and atomic I/O (shared by render, adapt, export).

A raw or adapted dataset directory looks like this (DESIGN.md, "Raw dataset directory")::

    OUT/scene.yaml            the validated scene, as rendered
    OUT/run.json              seed, version, counts, timings
    OUT/records.jsonl         one JSON object per image (see `Record`)
    OUT/images/000000.png     (H, W, 3) uint8 RGB
    OUT/depth/000000.png      (H, W) uint16 depth in millimetres, 0 = no surface
    OUT/masks/000000.png      (H, W) uint16 instance ids, 0 = background/distractor
    OUT/defects/000000.png    (H, W) uint16 defect ids, 0 = none (only when defects exist)
    OUT/adapt.json            only in an adapted directory: the adapter that made its images
"""

from synthgap.data.layout import (
    DatasetLayout,
    read_depth,
    read_image,
    read_label_png,
    write_depth_atomic,
    write_image_atomic,
    write_label_png_atomic,
)
from synthgap.data.records import DefectRecord, InstanceRecord, Record, append_record, read_records

__all__ = [
    "DatasetLayout",
    "DefectRecord",
    "InstanceRecord",
    "Record",
    "append_record",
    "read_depth",
    "read_image",
    "read_label_png",
    "read_records",
    "write_depth_atomic",
    "write_image_atomic",
    "write_label_png_atomic",
]


def __getattr__(name: str) -> object:
    # `SynthgapDataset` needs torch: load it only when asked for, so `import synthgap.data`
    # stays light.
    if name == "SynthgapDataset":
        from synthgap.data.torch_dataset import SynthgapDataset

        return SynthgapDataset
    raise AttributeError(f"module 'synthgap.data' has no attribute {name!r}")
