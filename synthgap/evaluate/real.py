"""Labelled real photos: the data every evaluation row is tested on.

`RealData` holds the photos (path, scene, frame number), their labelled instances (class,
visible box, visible fraction, an `ignore` flag) and, for BOP data, per-pixel class maps
rendered from the poses. Readers: `synthgap.evaluate.bop_reader` (BOP folders) and
`synthgap.evaluate.labels` (COCO json, YOLO txt, class folders of crops);
`read_real` picks one by the folder's content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["LabelError", "RealData", "RealInstance", "RealPhoto", "VisibilityCheck"]


class LabelError(ValueError):
    """Bad labels: names the file, the field and how to fix it (the CLI exits 2)."""

    def __init__(self, file: str | Path, field: str, message: str) -> None:
        self.file, self.field = str(file), field
        where = f"{file}: {field}: " if field else f"{file}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class RealInstance:
    """One labelled object in a photo.

    Attributes:
        cls: class index into `RealData.classes`.
        box: visible box `(x, y, w, h)` in pixels.
        visib: visible fraction in [0, 1] (1.0 when the labels do not say).
        ignore: the instance's pixels are left out of segmentation scoring and training (its
            rendered visibility disagrees with the recorded one).
    """

    cls: int
    box: tuple[float, float, float, float]
    visib: float = 1.0
    ignore: bool = False


@dataclass(frozen=True)
class RealPhoto:
    """One labelled photo (or, for class folders, one crop).

    Attributes:
        key: unique name (`SCENE/ID` for BOP, the file name otherwise).
        path: the image file.
        group: scene / sequence the photo belongs to (folds keep neighbours apart per group).
        order: frame number within the group (image id; file order otherwise).
        instances: the labelled objects.
    """

    key: str
    path: Path
    group: str
    order: int
    instances: tuple[RealInstance, ...]


@dataclass(frozen=True)
class VisibilityCheck:
    """Rendered visibility of BOP instances against `scene_gt_info.json`'s `visib_fract`.

    Attributes:
        checked: instances with both values.
        mean_diff: mean (rendered − recorded) visible fraction.
        ignored: instances off by more than the tolerance (marked `ignore`).
        tolerance: the tolerance (0.2).
    """

    checked: int
    mean_diff: float
    ignored: int
    tolerance: float


@dataclass
class RealData:
    """Labelled real photos.

    Attributes:
        classes: class names; `RealInstance.cls` indexes them.
        photos: the photos, in reading order.
        source: `bop`, `coco`, `yolo` or `folders`.
        seg_x: `(P, h, w, 3) uint8` photos at the segmentation size (BOP only) or None.
        seg_y: `(P, h, w) uint8` class maps (0 background, class index + 1, 255 ignore) or
            None.
        visibility: the BOP visibility check, when done.
    """

    classes: list[str]
    photos: list[RealPhoto]
    source: str
    seg_x: np.ndarray | None = None
    seg_y: np.ndarray | None = None
    visibility: VisibilityCheck | None = None
    files: list[Path] = field(default_factory=list)

    def index_of(self, keys: list[str]) -> list[int]:
        """Positions of the photos with these keys (KeyError naming the first unknown)."""
        pos = {p.key: i for i, p in enumerate(self.photos)}
        missing = [k for k in keys if k not in pos]
        if missing:
            raise KeyError(f"photos {missing[:5]} are not in the labelled set")
        return [pos[k] for k in keys]
