"""Per-image records of a dataset directory (`records.jsonl`, one JSON object per line).

Conventions used by every field below:

* Pixel coordinates: x right, y down, origin at the top-left corner of the top-left pixel.
* `bbox` is `[x, y, w, h]` in whole pixels (COCO order): the tight box of the visible mask,
  `x = min column`, `w = max column - min column + 1`.
* Camera frame: OpenCV, +x right, +y down, +z forward (into the scene).
* `camera_pose` is the 4x4 world-from-camera transform; an instance's `pose` is the 4x4
  camera-from-object transform (object frame = the part's mesh frame, metres).
* `K` is the 3x3 pinhole intrinsic matrix of the written image; `distortion` the OpenCV
  `[k1, k2, p1, p2, k3]` coefficients that were applied (all zeros when none).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthgap.data.layout import DatasetFileError, DatasetLayout

#: Largest image index and side a record may give (render's own limits are far below).
MAX_INDEX = 10**12
MAX_RECORD_SIDE = 65_535


@dataclass(frozen=True)
class DefectRecord:
    """One defect visible in an image.

    Attributes:
        id: the defect's value in `defects/NNNNNN.png` (1-based, unique in the image).
        type: `scratch`, `dent`, ... as named in the scene file.
        instance: id of the instance it lies on.
        bbox: `[x, y, w, h]` pixels of its visible mask (empty `[]` when fully hidden).
        pixels: visible pixel count.
        params: the sampled parameters (size in mm, position on the part, ...).
    """

    id: int
    type: str
    instance: int
    bbox: list[int]
    pixels: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceRecord:
    """One labelled part instance in an image.

    Attributes:
        id: the instance's value in `masks/NNNNNN.png` (1-based, unique in the image).
        category: class name from the scene file (`class:`).
        part: name of the part entry (mesh name) it was made from.
        bbox: `[x, y, w, h]` pixels of the visible mask (`[]` when fully occluded).
        visible_pixels: pixel count of the visible mask.
        visible_fraction: visible pixels / pixels the instance would cover if nothing occluded
            it, in [0, 1].
        pose: 4x4 camera-from-object transform, metres, OpenCV camera frame.
        defects: ids of the defects on this instance (empty = OK part).
    """

    id: int
    category: str
    part: str
    bbox: list[int]
    visible_pixels: int
    visible_fraction: float
    pose: list[list[float]]
    defects: list[int] = field(default_factory=list)

    @property
    def ng(self) -> bool:
        """True when the part carries at least one defect (not OK)."""
        return bool(self.defects)


@dataclass(frozen=True)
class Record:
    """Everything known about one image; image `index` is a pure function of (scene, seed, index).

    Attributes:
        index: image number; file stem is `f"{index:06d}"`.
        seed: the run seed; the image's own random stream is `default_rng([seed, index])`.
        width, height: image size in pixels.
        K: 3x3 intrinsics of the written image.
        distortion: OpenCV `[k1, k2, p1, p2, k3]` applied to the image (zeros when none).
        camera_pose: 4x4 world-from-camera, OpenCV camera frame.
        instances: labelled parts, by instance id.
        defects: defects, by defect id.
        params: every sampled parameter that made the image (lights, materials, background,
            sensor, ...), enough to regenerate it.
        files: relative paths of the image's layers: `image`, `depth`, `mask`, optional `defects`.
    """

    index: int
    seed: int
    width: int
    height: int
    K: list[list[float]]
    distortion: list[float]
    camera_pose: list[list[float]]
    instances: list[InstanceRecord]
    defects: list[DefectRecord] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of JSON (no trailing newline), keys in a stable order."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record from its JSON object; its numbers are checked (a crafted or damaged line
        is a `ValueError` naming the field, never a wrong export)."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got a JSON {type(data).__name__}")
        for key, lo, hi in (("index", 0, MAX_INDEX), ("seed", 0, 2**63 - 1),
                            ("width", 1, MAX_RECORD_SIDE), ("height", 1, MAX_RECORD_SIDE)):
            v = data.get(key)
            if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
                raise ValueError(f"{key}: expected a whole number {lo}..{hi}, got "
                                 f"{str(v)[:40]!r}")
        data = dict(data)
        data["instances"] = [InstanceRecord(**i) for i in data.get("instances", [])]
        data["defects"] = [DefectRecord(**d) for d in data.get("defects", [])]
        return cls(**data)


def append_record(root: Path, record: Record) -> None:
    """Append one record to `root/records.jsonl` and flush it to disk.

    Call this only after every layer file of the image has been written: the record is the
    commit marker of a sample, so a run that stops between the two redoes the image.
    """
    path = DatasetLayout(root).records
    line = record.to_json() + "\n"
    drop_torn_tail(path)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def drop_torn_tail(path: Path) -> None:
    """Cut a last line that lacks its newline (a run killed mid-append) so appends stay valid."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


def iter_records(root: Path) -> Iterator[Record]:
    """Yield the records of `root/records.jsonl` in file order.

    A last line without its newline (a run killed while appending) is ignored: that image is
    simply not finished. Any other malformed line is an error naming file and line.
    """
    path = DatasetLayout(root).records
    if not path.is_file():
        raise DatasetFileError(f"{path}: missing; is {root} a synthgap dataset directory "
                               "(made by `synthgap render`)?")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.endswith("\n"):
            break  # torn final append
        if not line.strip():
            continue
        try:
            yield Record.from_dict(json.loads(line))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise DatasetFileError(f"{path}:{lineno}: not a valid record "
                                   f"({str(exc)[:200]})") from None
        except RecursionError:
            raise DatasetFileError(f"{path}:{lineno}: not a valid record (nested too "
                                   "deeply)") from None


def read_records(root: Path) -> list[Record]:
    """All finished records of a dataset directory, sorted by index.

    Raises:
        DatasetFileError: a malformed line, or two records of one index (names both lines).
    """
    by_index: dict[int, Record] = {}
    line_of: dict[int, int] = {}
    for n, r in enumerate(iter_records(root), start=1):
        if r.index in by_index:
            path = DatasetLayout(root).records
            raise DatasetFileError(f"{path}:{n}: index {r.index} again (the record at line "
                                   f"{line_of[r.index]} has it too); one record per image: "
                                   "remove one of them")
        by_index[r.index], line_of[r.index] = r, n
    return [by_index[i] for i in sorted(by_index)]
