"""A dataset directory opened for export: its records, class names and layer files.

Raw directories (written by `synthgap render`) and adapted ones (written by
`synthgap adapt apply`, marked by `adapt.json`) look the same to an exporter: the images come
from the directory itself, the labels (instance and defect masks) from the directory too or,
when an adapted directory holds only images, from the source directory that `adapt.json` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.data import DatasetLayout, Record, read_image, read_label_png
from synthgap.data.layout import DatasetFileError
from synthgap.data.paths import contained
from synthgap.data.records import RecordIndex, scan_records

#: Keys of `adapt.json` that may name the directory the adapted images were made from.
_ADAPT_SOURCE_KEYS = ("source", "source_dir", "input", "input_dir", "synthetic")


@dataclass(frozen=True)
class DatasetSource:
    """A dataset directory ready to export.

    Attributes:
        root: the directory (raw or adapted).
        records: its finished records, sorted by index: a `RecordIndex` that reads them from
            disk one at a time (any sequence of records, e.g. a tuple, also works).
        categories: part class names, sorted (from `scene.yaml` and the records).
        defect_types: defect type names, sorted (from `scene.yaml` and the records).
        adapted: True when `root/adapt.json` exists (images are adapted renders).
        label_roots: directories searched, in order, for masks and defect masks.
        seed: the render seed from `run.json` (None when unknown).
        adapt: the content of `adapt.json` (empty for a raw directory).
    """

    root: Path
    records: Sequence[Record]
    categories: tuple[str, ...]
    defect_types: tuple[str, ...]
    adapted: bool = False
    label_roots: tuple[Path, ...] = ()
    seed: int | None = None
    adapt: dict[str, Any] | None = None
    progress: Callable[[int], None] | None = field(default=None, compare=False, repr=False)
    """Called with 1 after each image an exporter has written (e.g. a progress bar's update)."""

    def iter_records(self) -> Iterator[Record]:
        """The records in index order, reporting each finished one to `progress`."""
        for record in self.records:
            yield record
            if self.progress is not None:
                self.progress(1)

    def subset(self, indices: list[int] | set[int]) -> DatasetSource:
        """The same source limited to the given image indices (class names unchanged)."""
        keep = set(int(i) for i in indices)
        if isinstance(self.records, RecordIndex):
            wanted = np.fromiter(keep, dtype=np.int64, count=len(keep))
            return replace(self, records=self.records.subset(np.isin(self.records.indices,
                                                                     wanted)))
        return replace(self, records=tuple(r for r in self.records if r.index in keep))

    @property
    def indices(self) -> Iterator[int]:
        """The image indices, ascending (without reading the records again)."""
        if isinstance(self.records, RecordIndex):
            return (int(i) for i in self.records.indices)
        return (r.index for r in self.records)

    def image_path(self, record: Record) -> Path:
        """Path of the image of `record` (the adapted image in an adapted directory)."""
        rel = record.files.get("image")
        path = (contained(self.root, rel, what=self._where(record, "image")) if rel
                else DatasetLayout(self.root).image(record.index))
        if not path.is_file():
            path = DatasetLayout(self.root).image(record.index)
        return path

    def image(self, record: Record) -> np.ndarray:
        """`(H, W, 3) uint8` RGB image of `record`."""
        img = read_image(self.image_path(record))
        if img.shape[:2] != (record.height, record.width):
            raise DatasetFileError(f"{self.image_path(record)}: image is {img.shape[1]}x"
                                   f"{img.shape[0]}, its record says {record.width}x"
                                   f"{record.height}")
        return img

    def _where(self, record: Record, key: str) -> str:
        return f"{DatasetLayout(self.root).records}: record {record.index} files.{key}"

    def _layer(self, record: Record, key: str) -> Path | None:
        rel = record.files.get(key)
        default = {"mask": DatasetLayout(self.root).mask, "depth": DatasetLayout(self.root).depth,
                   "defects": DatasetLayout(self.root).defects}[key]
        names = [rel] if rel else []
        names.append(str(default(record.index).relative_to(self.root)))
        for base in self.label_roots:
            for name in names:
                # a record names files inside its directory (never /etc/..., ../x)
                path = contained(base, name, what=self._where(record, key))
                if path.is_file():
                    return path
        return None

    def instance_mask(self, record: Record) -> np.ndarray:
        """`(H, W) uint16` instance ids of `record` (0 = background)."""
        path = self._layer(record, "mask")
        if path is None:
            raise DatasetFileError(f"{self.root}: no instance mask for image {record.index} "
                                   f"(looked in {', '.join(map(str, self.label_roots))})")
        return read_label_png(path)

    def depth_path(self, record: Record) -> Path:
        """Path of the `(H, W) uint16` millimetre depth PNG of `record` (0 = no surface).

        Raises:
            DatasetFileError: the dataset holds no depth file for this image.
        """
        path = self._layer(record, "depth")
        if path is None:
            raise DatasetFileError(f"{self.root}: no depth image for image {record.index} "
                                   f"(looked in {', '.join(map(str, self.label_roots))})")
        return path

    def defect_mask(self, record: Record) -> np.ndarray | None:
        """`(H, W) uint16` defect ids of `record`, or None when the dataset has no defect layer."""
        path = self._layer(record, "defects")
        if path is None:
            if record.defects:
                raise DatasetFileError(f"{self.root}: image {record.index} has defects in its "
                                       "record but no defect mask file")
            return None
        return read_label_png(path)


def _scene_names(scene_yaml: Path) -> tuple[set[str], set[str]]:
    """Class and defect type names declared by a scene file (best effort, plain YAML)."""
    try:
        data = yaml.safe_load(scene_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return set(), set()
    classes, defects = set(), set()
    parts = data.get("parts") if isinstance(data, dict) else None
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        name = part.get("class", part.get("category"))
        if isinstance(name, str):
            classes.add(name)
        for d in part.get("defects") or []:
            if isinstance(d, dict) and isinstance(d.get("type"), str):
                defects.add(d["type"])
    return classes, defects


def open_dataset(root: Path | str) -> DatasetSource:
    """Open a raw or adapted dataset directory for export.

    Raises:
        DatasetFileError: `root` is not a dataset directory or holds no finished image (the
            message names the directory and what is missing).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetFileError(f"{root}: no such directory; pass a dataset directory written by "
                               "`synthgap render` or `synthgap adapt apply`")
    layout = DatasetLayout(root)
    if not layout.records.is_file():
        raise DatasetFileError(f"{root}: not a synthgap dataset directory (no records.jsonl); "
                               "pass the folder `synthgap render` or `synthgap adapt apply` wrote")
    classes, defects = _scene_names(layout.scene_yaml)
    seen: tuple[set[str], set[str]] = (set(), set())

    def visit(r: Record) -> None:  # names met in the records, one record at a time
        seen[0].update(i.category for i in r.instances)
        seen[1].update(d.type for d in r.defects)

    records = scan_records(root, visit)
    if not records:
        raise DatasetFileError(f"{layout.records}: no finished image yet; render some first")
    adapt: dict[str, Any] = {}
    label_roots = [root]
    if layout.adapt_json.is_file():
        try:
            adapt = json.loads(layout.adapt_json.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetFileError(f"{layout.adapt_json}: not valid JSON ({exc})") from exc
        for key in _ADAPT_SOURCE_KEYS:
            value = adapt.get(key) if isinstance(adapt, dict) else None
            if isinstance(value, str) and value:
                src = Path(value)
                src = src if src.is_absolute() else (root / src)
                label_roots.append(src)
                if not classes and (src / "scene.yaml").is_file():
                    classes, defects = _scene_names(src / "scene.yaml")
    classes |= seen[0]
    defects |= seen[1]
    seed = None
    if layout.run_json.is_file():
        try:
            run = json.loads(layout.run_json.read_text(encoding="utf-8"))
            seed = int(run["seed"]) if isinstance(run, dict) and "seed" in run else None
        except (json.JSONDecodeError, TypeError, ValueError):
            seed = None
    return DatasetSource(root=root, records=records, categories=tuple(sorted(classes)),
                         defect_types=tuple(sorted(defects)), adapted=layout.adapt_json.is_file(),
                         label_roots=tuple(label_roots), seed=seed, adapt=adapt or None)
