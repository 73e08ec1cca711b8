"""The raw dataset directory on disk: claiming it, resuming into it, writing samples, closing it.

Safety rules (DESIGN.md "Raw dataset directory"):

* Each layer PNG is written under a temporary name and renamed into place; the image's record
  is appended to `records.jsonl` only after all its layers exist. The record is the commit
  marker: a run that is killed redoes any image without one, and never writes a record twice.
* `run.json` ties the folder to one (scene, seed, size). Rendering into a folder made with
  another scene or seed is an error unless `overwrite=True`, which deletes only the files
  `synthgap render` makes (never anything else in the folder).
* At the end, `records.jsonl` is rewritten sorted by index, so the same scene and seed give the
  same bytes whatever the order images were finished in. `run.json` holds timings and worker
  counts, so it is the one file that differs between runs.

Durability is against a killed process (data reaches the OS before the record is appended),
not against power loss: records are flushed, not fsynced, per image.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from synthgap import __version__
from synthgap.data import DatasetLayout, Record
from synthgap.data.layout import PNG_LABEL_FLAGS, PNG_RGB_FLAGS, depth_to_mm, write_png_atomic
from synthgap.data.paths import LAYER_DIRS, remove_dataset_files
from synthgap.data.records import drop_torn_tail

__all__ = [
    "DatasetConflictError",
    "DatasetWriter",
    "RunIdentity",
    "depth_to_mm",
    "write_sample_files",
]

FORMAT = "synthgap-raw-1"
_LAYER_DIRS = LAYER_DIRS


class DatasetConflictError(ValueError):
    """The output folder holds something this run must not write into."""


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs write the same dataset.

    Attributes:
        scene_yaml: the validated scene as YAML text (written to `OUT/scene.yaml`).
        seed: the run seed.
        width, height: image size.
        defects_layer: whether `defects/` PNGs are written.
    """

    scene_yaml: str
    seed: int
    width: int
    height: int
    defects_layer: bool
    inputs_sha256: str | None = None
    """SHA-256 over the bytes of every file the scene reads (meshes, background images): the
    scene text names them, this catches an edited mesh or a photo added to a folder."""
    lod: bool = True
    """Dense meshes drawn with the triangles their size on screen can show
    (`synthgap.generators.parts.lod`); False draws every triangle (recorded in run.json only
    then)."""

    @property
    def scene_sha256(self) -> str:
        return hashlib.sha256(self.scene_yaml.encode("utf-8")).hexdigest()

    @classmethod
    def for_scene(cls, scene: Any) -> RunIdentity:
        """The identity of rendering `scene` (a validated `Scene`) with its own seed."""
        from synthgap.scenes import scene_to_yaml

        return cls(scene_yaml=scene_to_yaml(scene), seed=scene.seed, width=scene.image.width,
                   height=scene.image.height, defects_layer=any(p.defects for p in scene.parts),
                   inputs_sha256=scene_inputs_sha256(scene))

    def as_json(self) -> dict[str, Any]:
        data = {"format": FORMAT, "seed": self.seed, "scene_sha256": self.scene_sha256,
                "width": self.width, "height": self.height, "defects_layer": self.defects_layer}
        if self.inputs_sha256 is not None:
            data["inputs_sha256"] = self.inputs_sha256
        if not self.lod:  # absent = the default (and what runs before level of detail did)
            data["lod"] = False
        return data


def scene_inputs_sha256(scene: Any) -> str:
    """SHA-256 over the names and bytes of the files `scene` reads: meshes, background
    images and texture, environment images and the camera calibration file."""
    files = [p.mesh for p in scene.parts if p.mesh is not None]
    files += list(scene.background.image_files)
    files += [t for t in [getattr(scene.background, "texture_image", None)] if t is not None]
    lights = list(getattr(scene, "lights", []))
    for view in getattr(scene, "real_views", None) or []:
        lights += list(getattr(view, "lights", None) or [])
    files += [lt.image for lt in lights if getattr(lt, "image", None) is not None]
    calibration = getattr(getattr(scene, "camera", None), "calibration", None)
    files += [calibration] if calibration is not None else []
    h = hashlib.sha256()
    for path in files:
        h.update(str(path).encode("utf-8", errors="replace") + b"\0")
        try:
            with open(path, "rb") as f:
                for block in iter(functools.partial(f.read, 1 << 20), b""):
                    h.update(block)
        except OSError:
            h.update(b"<unreadable>")
        h.update(b"\0")
    return h.hexdigest()


def write_sample_files(layout: DatasetLayout, index: int, rgb: np.ndarray, depth: np.ndarray,
                       instance_mask: np.ndarray, defect_mask: np.ndarray | None) -> None:
    """Write the layers of image `index` atomically (thread-safe; cv2 releases the GIL).

    Files are readable with `synthgap.data.read_image` / `read_depth` / `read_label_png`.

    Args:
        layout: the dataset directory.
        index: image number.
        rgb: `(H, W, 3) uint8`.
        depth: `(H, W) float32` metres, 0/NaN = no surface (stored as uint16 mm).
        instance_mask: `(H, W) uint16`.
        defect_mask: `(H, W) uint16`, or None when the run has no defects layer.

    Raises:
        ValueError: wrong dtype or shape of a layer.
        OSError: a file cannot be written.
    """
    h, w = instance_mask.shape
    if rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected ({h}, {w}, 3) uint8, got {rgb.shape} {rgb.dtype}")
    for name, layer in (("instance_mask", instance_mask), ("defect_mask", defect_mask)):
        if layer is not None and (layer.dtype != np.uint16 or layer.shape != (h, w)):
            raise ValueError(f"{name}: expected ({h}, {w}) uint16, got {layer.shape} "
                             f"{layer.dtype}")
    write_png_atomic(layout.image(index), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), PNG_RGB_FLAGS)
    write_png_atomic(layout.depth(index), depth_to_mm(depth), PNG_LABEL_FLAGS)
    write_png_atomic(layout.mask(index), instance_mask, PNG_LABEL_FLAGS)
    if defect_mask is not None:
        write_png_atomic(layout.defects(index), defect_mask, PNG_LABEL_FLAGS)


def _claim(path: Path) -> IO[str]:
    """Open and exclusively lock `path` (an advisory `flock`, released when the process ends,
    also when it is killed); the open file holds the lock.

    Two drivers, on one machine or on two machines sharing the folder over NFS (Linux maps
    `flock` to NFS byte-range locks), cannot both hold it. A lock taken on a `.lock` file that
    its previous holder unlinked in between (see `DatasetWriter.close`) is dropped and taken
    again on the new file.

    Raises:
        DatasetConflictError: another process holds the lock.
    """
    for _ in range(10):
        f = open(path, "a")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.close()
            raise DatasetConflictError(f"{path.parent}: another `synthgap render` is writing "
                                       "to it; wait for it or choose another -o") from exc
        try:
            same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return f
        f.close()  # we locked a file its holder had already unlinked: try the new one
    raise DatasetConflictError(f"{path}: could not be locked (it keeps being replaced); is "
                               "another run starting and stopping there?")


@dataclass
class DatasetWriter:
    """Owns an output folder for one run: `open()`, `append()` per image, `close()`.

    Args:
        root: output folder (created if missing).
        identity: scene, seed and size of the run.
        overwrite: delete a previous dataset in `root` first (only synthgap's own files).
    """

    root: Path
    identity: RunIdentity
    overwrite: bool = False
    done: set[int] = field(default_factory=set)
    _records: IO[str] | None = None
    _lock: IO[str] | None = None
    _started: float = 0.0
    _previous_status: str | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.layout = DatasetLayout(self.root)

    # -- opening
    def open(self) -> set[int]:
        """Claim the folder and return the indices already finished (empty for a new run).

        Raises:
            DatasetConflictError: `root` is a file, holds a dataset of another scene/seed/size,
                or holds files that are not a synthgap dataset, or another run is writing it.
        """
        root = self.root
        if root.exists() and not root.is_dir():
            raise DatasetConflictError(f"{root}: exists and is not a folder; choose another -o")
        root.mkdir(parents=True, exist_ok=True)
        self._lock = _claim(root / ".lock")  # held until close()
        try:
            if self.overwrite:
                self._remove_own_files()
            else:
                self._check_compatible()
            self.layout.make_dirs(defects=self.identity.defects_layer)
            if self._previous_status != "complete":  # a finished run left no temporaries:
                self._remove_stale_temporaries()  # no listing of its 100k-file folders
            self.done = self._finished_indices()
        except BaseException:
            self.close()
            raise
        self.layout.scene_yaml.write_text(self.identity.scene_yaml, encoding="utf-8")
        self._started = time.time()
        self.write_run_json({"status": "running"})
        self._records = open(self.layout.records, "a", encoding="utf-8")
        return set(self.done)

    def _check_compatible(self) -> None:
        if self.layout.adapt_json.is_file():
            raise DatasetConflictError(
                f"{self.root} is an adapted dataset (it has adapt.json): new renders there would "
                "not be adapted. Render into its source folder, then run `synthgap adapt apply` "
                "again (or pass --overwrite to turn it into a plain render folder)")
        run = self.layout.run_json
        if run.is_file():
            try:
                old = json.loads(run.read_text(encoding="utf-8"))
                self._previous_status = old.get("status") if isinstance(old, dict) else None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DatasetConflictError(f"{run}: unreadable ({exc}); pass --overwrite to "
                                           "start the dataset again") from exc
            want = self.identity.as_json()
            if "inputs_sha256" not in old:  # written before input files were hashed
                want.pop("inputs_sha256", None)
            want.pop("lod", None)  # absent means True: compared below
            diffs = [f"{k}: folder has {old.get(k)!r}, this run {v!r}" for k, v in want.items()
                     if old.get(k) != v]
            if old.get("lod", True) != self.identity.lod:
                diffs.append(f"lod: folder has {old.get('lod', True)!r}, this run "
                             f"{self.identity.lod!r}")
            if any(k == "inputs_sha256" for k, v in want.items() if old.get(k) != v):
                diffs = ["a mesh, background, texture or environment image file changed "
                         "since (or a background photo was added or removed)"] + [
                    d for d in diffs if not d.startswith("inputs_sha256")]
            if diffs and old.get("status") != "complete" and not self._finished_indices() \
                    and not any(
                    (self.root / name).is_dir() and any((self.root / name).iterdir())
                    for name in _LAYER_DIRS):
                # a run that stopped before its first image (e.g. on a scene error): nothing
                # of it is worth keeping; its own run.json/scene.yaml/records are replaced
                self._remove_own_files()
                return
            if diffs:
                raise DatasetConflictError(
                    f"{self.root} holds a dataset made with another scene, seed or size ("
                    + "; ".join(diffs) + "); pass --overwrite to replace it or choose another -o")
            return
        leftovers = [p.name for p in self.root.iterdir() if p.name != ".lock"]
        if leftovers:
            raise DatasetConflictError(
                f"{self.root} is not empty and has no run.json, so it is not a dataset made by "
                f"`synthgap render` (found {sorted(leftovers)[:5]}); choose an empty or new "
                "folder (or --overwrite to delete synthgap's own files there)")

    def _remove_own_files(self) -> None:
        """Delete what `synthgap render` writes: its layer PNGs (`NNNNNN.png`, temporaries),
        records, run.json, scene.yaml; a user's own files, also inside `images/`, stay."""
        remove_dataset_files(self.root)

    def _remove_stale_temporaries(self) -> None:
        for name in _LAYER_DIRS:
            folder = self.root / name
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp.png"):
                    tmp.unlink(missing_ok=True)

    def _finished_indices(self) -> set[int]:
        path = self.layout.records
        if not path.is_file():
            return set()
        drop_torn_tail(path)  # a run killed mid-append: its last image is simply redone
        done = set()
        with open(path, encoding="utf-8", errors="replace") as f:  # streamed: no file in memory
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        done.add(int(json.loads(line)["index"]))
                    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                        raise DatasetConflictError(
                            f"{path}:{lineno}: not a valid record ({exc}); delete that line (its "
                            "image is rendered again) or pass --overwrite to start over") from exc
        return done

    # -- writing
    def append(self, record: Record) -> None:
        """Append a finished image's record (call after its layer files are written)."""
        if self._records is None:
            raise RuntimeError("DatasetWriter.append before open()")
        if record.index in self.done:
            return  # never two records for one image
        self._records.write(record.to_json() + "\n")
        self._records.flush()
        self.done.add(record.index)

    def write_run_json(self, info: dict[str, Any]) -> None:
        """(Re)write `run.json`: the run identity plus `info` (status, counts, timings)."""
        data = {**self.identity.as_json(), "synthgap_version": __version__,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started)),
                **info}
        tmp = self.layout.run_json.with_name(".run.json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.layout.run_json)

    def close(self, info: dict[str, Any] | None = None) -> None:
        """Sort `records.jsonl` by index, write the final `run.json` and release the folder."""
        if self._records is not None:
            self._records.close()
            self._records = None
            self._sort_records()
        if info is not None:
            self.write_run_json(info)
        if self._lock is not None:
            # unlinked while still held: a run that opens `.lock` after this sees a new file
            # (`_claim` checks that the file it locked is still the one at the path)
            (self.root / ".lock").unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def _sort_records(self) -> None:
        """Rewrite `records.jsonl` sorted by index, first record of an index only.

        Holds `(index, offset, length)` per line, not the records (a 100k-image dataset's
        records are ~100 MB); a file already in order (one worker) is left as it is.
        """
        path = self.layout.records
        lines: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        in_order, pos = True, 0
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    index = int(json.loads(line)["index"])
                    if index in seen:
                        in_order = False
                    else:
                        in_order = in_order and (not lines or index > lines[-1][0]) \
                            and line.endswith(b"\n")
                        seen.add(index)
                        lines.append((index, pos, len(line)))
                else:
                    in_order = False
                pos += len(line)
        if in_order:
            return
        lines.sort()
        tmp = path.with_name(".records.jsonl.tmp")
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            for _, offset, length in lines:
                src.seek(offset)
                line = src.read(length).rstrip(b"\r\n")
                dst.write(line + b"\n")
        os.replace(tmp, path)
