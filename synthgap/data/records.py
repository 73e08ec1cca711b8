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
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, overload

import numpy as np

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


def _records_path(root: Path) -> Path:
    path = DatasetLayout(root).records
    if not path.is_file():
        raise DatasetFileError(f"{path}: missing; is {root} a synthgap dataset directory "
                               "(made by `synthgap render`)?")
    return path


def _parse_line(path: Path, lineno: int, line: bytes) -> Record:
    """The record of one line of `path` (a bad line is an error naming file and line)."""
    try:
        return Record.from_dict(json.loads(line))
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise DatasetFileError(f"{path}:{lineno}: not a valid record "
                               f"({str(exc)[:200]})") from None
    except RecursionError:
        raise DatasetFileError(f"{path}:{lineno}: not a valid record (nested too "
                               "deeply)") from None


def _scan(f: BinaryIO, path: Path) -> Iterator[tuple[int, int, int, Record]]:
    """`(line number, byte offset, offset after the line, record)` of each finished line of the
    open file `f` (named `path` in errors), in file order, reading one line at a time."""
    offset = 0
    for lineno, line in enumerate(f, start=1):
        start, offset = offset, offset + len(line)
        if not line.endswith(b"\n"):
            break  # torn final append
        if not line.strip():
            continue
        yield lineno, start, offset, _parse_line(path, lineno, line)


def iter_records(root: Path) -> Iterator[Record]:
    """Yield the records of `root/records.jsonl` in file order, one line read at a time.

    A last line without its newline (a run killed while appending) is ignored: that image is
    simply not finished. Any other malformed line is an error naming file and line.
    """
    path = _records_path(root)
    with open(path, "rb") as f:
        for *_where, record in _scan(f, path):
            yield record


class RecordIndex(Sequence[Record]):
    """The finished records of a dataset directory in index order, read from disk on demand.

    Holds three integers per record (index, byte offset, line number: 24 bytes), never the
    records themselves: iterating reads and checks one line at a time, so a dataset of 100k
    images costs a few MB here however large its records are. Made by `scan_records`.

    Args:
        path: the `records.jsonl` file.
        table: `(n, 3) int64` rows `(index, byte offset, line number)`, sorted by index.
    """

    def __init__(self, path: Path, table: np.ndarray, identity: tuple[int, int, int]) -> None:
        self.path = path
        self._table = table
        self._table.flags.writeable = False
        self._identity = identity  # (device, inode, bytes scanned) of the file

    @property
    def indices(self) -> np.ndarray:
        """`(n,) int64` image indices, ascending (read-only)."""
        return self._table[:, 0]

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> RecordIndex: ...

    def __getitem__(self, i: int | slice) -> Record | RecordIndex:
        if isinstance(i, slice):
            return RecordIndex(self.path, self._table[i], self._identity)
        with self._open() as f:
            return self._read(f, self._table[i])

    def __iter__(self) -> Iterator[Record]:
        with self._open() as f:
            for row in self._table:
                yield self._read(f, row)

    def subset(self, keep: np.ndarray) -> RecordIndex:
        """The records whose `(n,) bool` entry of `keep` is True (order kept)."""
        return RecordIndex(self.path, self._table[np.asarray(keep, dtype=bool)], self._identity)

    def _open(self) -> BinaryIO:
        """The scanned file, checked to be the same file (appends are fine: offsets hold)."""
        f = open(self.path, "rb")
        st = os.fstat(f.fileno())
        if (st.st_dev, st.st_ino) != self._identity[:2] or st.st_size < self._identity[2]:
            f.close()
            raise DatasetFileError(f"{self.path}: replaced or cut since it was read (e.g. a "
                                   "render finished and sorted it); another process writes "
                                   "this dataset: let it finish, then run again")
        return f

    def _read(self, f: BinaryIO, row: np.ndarray) -> Record:
        index, offset, lineno = (int(v) for v in row)
        f.seek(offset)
        record = _parse_line(self.path, lineno, f.readline())
        if record.index != index:
            raise DatasetFileError(f"{self.path}:{lineno}: changed while it was being read "
                                   f"(index {record.index}, was {index}); another process "
                                   "writes this dataset: let it finish, then run again")
        return record


def scan_records(root: Path, visit: Callable[[Record], None] | None = None) -> RecordIndex:
    """Check every line of `root/records.jsonl` and index its records by image index.

    Reads one line at a time; each record is parsed and checked (`Record.from_dict`), passed
    to `visit` (e.g. to collect class names) and dropped. A bad line or a repeated index is
    an error before the caller has written anything.

    Raises:
        DatasetFileError: no `records.jsonl`, a malformed line, or two records of one index
            (names both lines).
    """
    path = _records_path(root)
    flat = array("q")
    end = 0
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        for lineno, offset, after, record in _scan(f, path):
            flat.extend((record.index, offset, lineno))
            end = after
            if visit is not None:
                visit(record)
    table = np.frombuffer(flat, dtype=np.int64).reshape(-1, 3).copy()
    del flat
    table = table[np.argsort(table[:, 0], kind="stable")]
    again = np.flatnonzero(np.diff(table[:, 0]) == 0)
    if again.size:  # report the first repeat in file order, with the line it repeats
        k = int(again[np.argmin(table[again + 1, 2])])
        raise DatasetFileError(f"{path}:{table[k + 1, 2]}: index {table[k, 0]} again (the "
                               f"record at line {table[k, 2]} has it too); one record per "
                               "image: remove one of them")
    return RecordIndex(path, table, (st.st_dev, st.st_ino, end))


def read_records(root: Path) -> list[Record]:
    """All finished records of a dataset directory, sorted by index, in memory (use
    `scan_records` to read them one at a time).

    Raises:
        DatasetFileError: a malformed line, or two records of one index (names both lines).
    """
    return list(scan_records(root))
