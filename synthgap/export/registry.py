"""The registry of export formats: a plain dict, name -> `Exporter`."""

from __future__ import annotations

from synthgap.export import bop, coco, folders, webdataset, yolo
from synthgap.export.base import Exporter

EXPORTERS: dict[str, Exporter] = {
    "bop": Exporter("bop", "BOP 6D-pose scenes: poses, K, depth, visible masks, models in mm",
                    bop.write, bop.read, masks="exact", defects=False),
    "coco": Exporter("coco", "COCO instances: RLE masks, boxes, defects as categories",
                     coco.write, coco.read, masks="exact"),
    "yolo": Exporter("yolo", "YOLO detection: normalised boxes, data.yaml, split lists",
                     yolo.write_detect, yolo.read_detect, masks=None),
    "yolo-seg": Exporter("yolo-seg", "YOLO segmentation: normalised polygons from the masks",
                         yolo.write_segment, yolo.read_segment, masks="polygon"),
    "folders": Exporter("folders", "class folders (OK/NG, defect type or class; whole images "
                        "or part crops)", folders.write, folders.read, masks=None,
                        per_image=False),
    "webdataset": Exporter("webdataset", "WebDataset tar shards: image + json + masks per "
                           "sample", webdataset.write, webdataset.read, masks="exact"),
}
