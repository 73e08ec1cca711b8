"""Apply a fitted image adapter to a dataset directory, writing an adapted dataset directory.

The adapted directory has the same `records.jsonl` lines, the same depth, instance-mask and
defect-mask files (copied), `scene.yaml` and `run.json` (copied), adapted images under the same
names, and `adapt.json` naming the adapter, the model file (and its SHA-256) and the source.
Each image and layer is written atomically and its record appended last, so an interrupted run
resumes where it stopped; re-running a finished job does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from synthgap.adapt.image_base import ImageAdapter
from synthgap.adapt.strength import strength_steps
from synthgap.data import DatasetLayout, Record, append_record, read_image, write_image_atomic
from synthgap.data.layout import DatasetFileError
from synthgap.data.paths import (
    FolderBusyError,
    check_output_folder,
    contained,
    folder_lock,
    remove_stale_temporaries,
)
from synthgap.data.records import drop_torn_tail, scan_records

__all__ = ["AdaptedDatasetError", "ApplySummary", "apply_adapter", "changes_nothing",
           "file_sha256"]


class AdaptedDatasetError(DatasetFileError):
    """The output directory holds another adaptation, or the input is not a dataset directory."""


@dataclass(frozen=True)
class ApplySummary:
    """What `apply_adapter` did.

    Attributes:
        out: the adapted dataset directory.
        total: images in the source dataset.
        written: images adapted in this run.
        already_done: images found finished from an earlier run (resumed).
        seconds: wall time of this run.
        images_per_second: `written / seconds` (0 when nothing was written).
        unchanged: the adapter changes nothing (every step applies strength 0, as an SMCAE's
            `strength: auto` may choose): the images were copied, not re-encoded.
    """

    out: str
    total: int
    written: int
    already_done: int
    seconds: float
    images_per_second: float
    unchanged: bool = False


def changes_nothing(adapter: ImageAdapter) -> bool:
    """True when every step of `adapter` (the adapter itself, or a chain's steps) applies
    strength 0 to colour images, i.e. returns its input unchanged (a grey-camera step still
    turns colour renders grey at strength 0)."""
    steps = list(getattr(adapter, "steps", [adapter]))
    with_strength = strength_steps(adapter)
    return len(with_strength) == len(steps) and all(
        float(step.strength) == 0.0 and getattr(step, "channels", 3) != 1
        for step in with_strength)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def apply_adapter(adapter: ImageAdapter, src: Path, dst: Path, *, model_path: Path | None = None,
                  progress: bool = True) -> ApplySummary:
    """Adapt every image of dataset directory `src` into dataset directory `dst`.

    Args:
        adapter: a fitted image adapter.
        src: a dataset directory (`records.jsonl`, `images/`, `depth/`, `masks/`, ...).
        dst: the adapted dataset directory (created; resumed when it holds a partial run of the
            same adapter on the same source).
        model_path: the model file the adapter came from (recorded with its SHA-256 in
            `adapt.json`); None records the adapter's state hash instead.
        progress: show a progress bar on stderr.

    Returns:
        The summary.

    Raises:
        AdaptedDatasetError: `src` is not a dataset directory, `src` and `dst` are the same, or
            `dst` was adapted with another model or from another source.
        DatasetFileError: a source file is missing or unreadable, or a record names a file
            outside its directory (names it).
        FolderBusyError: another process is writing to `dst`.
    """
    src, dst = Path(src), Path(dst)
    if not DatasetLayout(src).records.is_file():
        raise AdaptedDatasetError(f"{src}: not a dataset directory (no records.jsonl); "
                                  "`synthgap adapt apply` adapts a directory made by "
                                  "`synthgap render`")
    _check_output(src, dst)
    # one writer at a time: two runs would both append every record (render takes this lock too)
    with folder_lock(dst, command="synthgap adapt apply"):
        _check_output(src, dst, locked=True)  # again under the lock: nothing changed since
        return _apply_locked(adapter, src, dst, model_path=model_path, progress=progress)


def _check_output(src: Path, dst: Path, *, locked: bool = False) -> None:
    """Refuse an output that is not new, empty or an adapted dataset (before writing)."""
    layout = DatasetLayout(dst)
    try:  # a dataset directory is refused below, with a message of its own
        check_output_folder(dst, inputs={"input": src}, command="synthgap adapt apply",
                            kind="an adapted dataset", locked=locked,
                            own=lambda d: DatasetLayout(d).records.is_file()
                            or DatasetLayout(d).adapt_json.is_file())
    except FolderBusyError:
        raise
    except DatasetFileError as exc:
        raise AdaptedDatasetError(str(exc)) from None
    if layout.records.is_file() and not layout.adapt_json.is_file():
        raise AdaptedDatasetError(
            f"{dst}: is a raw render (records.jsonl without adapt.json), not an adapted dataset; "
            f"were IN and OUT swapped? `synthgap adapt apply MODEL IN OUT` reads IN ({src}) and "
            "writes a new or empty OUT (nothing was written)")


def _apply_locked(adapter: ImageAdapter, src: Path, dst: Path, *, model_path: Path | None,
                  progress: bool) -> ApplySummary:
    from tqdm import tqdm

    has_defects = [False]

    def visit(r: Record) -> None:
        has_defects[0] = has_defects[0] or "defects" in r.files

    records = scan_records(src, visit)  # checks every line; holds no record
    identity = _identity(adapter, model_path)
    info = {"method": adapter.method, **identity, "source": str(src.resolve()),
            "source_run_sha256": _source_run_sha256(src)}
    layout = DatasetLayout(dst)
    remove_stale_temporaries(dst)  # of a killed earlier run (we hold the lock)
    layout.make_dirs(defects=has_defects[0])
    _start_output(adapter, src, dst, info)
    todo = records
    if layout.records.is_file():
        drop_torn_tail(layout.records)
        todo = records.subset(~np.isin(records.indices, scan_records(dst).indices))
    unchanged = changes_nothing(adapter)
    t0 = time.perf_counter()
    for rec in tqdm(todo, desc=f"adapt ({adapter.method})", unit="img", file=sys.stderr,
                    disable=not progress, total=len(todo)):
        _apply_one(adapter, src, dst, rec, unchanged=unchanged)
    seconds = time.perf_counter() - t0
    return ApplySummary(out=str(dst), total=len(records), written=len(todo),
                        already_done=len(records) - len(todo), seconds=round(seconds, 3),
                        images_per_second=round(len(todo) / seconds, 3) if len(todo) else 0.0,
                        unchanged=unchanged)


def _start_output(adapter: ImageAdapter, src: Path, dst: Path, info: dict[str, Any]) -> None:
    """Write `adapt.json`, or check the one there is this adaptation's; copy `scene.yaml` and
    `run.json`."""
    layout = DatasetLayout(dst)
    if layout.adapt_json.is_file():
        old = json.loads(layout.adapt_json.read_text())
        for key in ("method", "model_sha256", "source"):
            if old.get(key) != info.get(key):
                raise AdaptedDatasetError(
                    f"{dst}: already holds images adapted with {key}={old.get(key)!r}, not "
                    f"{info.get(key)!r}; choose a new output directory or delete it")
        if "source_run_sha256" in old and old["source_run_sha256"] != info["source_run_sha256"]:
            raise AdaptedDatasetError(
                f"{dst}: was adapted from an earlier render of {src} (its run.json scene, seed "
                "or size changed since, e.g. re-rendered with --overwrite); the images here are "
                "stale: delete the output directory or choose a new one")
    else:
        from synthgap import __version__

        _write_json_atomic(layout.adapt_json, {**info, "synthgap_version": __version__,
                                               "config": adapter.state()[1]})
    for name in ("scene.yaml", "run.json"):
        if (src / name).is_file() and not (dst / name).is_file():
            _copy_atomic(src / name, dst / name)


def _apply_one(adapter: ImageAdapter, src: Path, dst: Path, rec: Record, *,
               unchanged: bool) -> None:
    """Adapt one image, copy its other layers, then append its record (the commit marker)."""
    files = rec.files or {"image": f"images/{DatasetLayout.stem(rec.index)}.png"}
    if "image" not in files:
        raise DatasetFileError(f"{src / 'records.jsonl'}: record {rec.index} names no image")
    # a record names files relative to its directory; never read or write outside it
    where = {layer: f"{src / 'records.jsonl'}: record {rec.index} files.{layer}"
             for layer in files}
    pairs = {layer: (contained(src, rel, what=where[layer]),
                     contained(dst, rel, what=where[layer])) for layer, rel in files.items()}
    out: np.ndarray | None = None
    if not unchanged:
        image = read_image(pairs["image"][0])
        out = cast(np.ndarray, adapter.transform(image))  # one image in: one image out
        if out.shape != image.shape or out.dtype != image.dtype:
            raise RuntimeError(f"{adapter.method}: changed image {rec.index} from "
                               f"{image.shape} {image.dtype} to {out.shape} {out.dtype}")
    for layer, (s_path, d_path) in pairs.items():
        if layer == "image":
            continue
        if not s_path.is_file():
            raise DatasetFileError(f"{s_path}: missing {layer} file of image {rec.index}")
        d_path.parent.mkdir(parents=True, exist_ok=True)
        _copy_atomic(s_path, d_path)
    pairs["image"][1].parent.mkdir(parents=True, exist_ok=True)
    if out is None:  # strength 0 everywhere: the same pixels, without a re-encode
        if not pairs["image"][0].is_file():
            raise DatasetFileError(f"{pairs['image'][0]}: missing image {rec.index}")
        _copy_atomic(pairs["image"][0], pairs["image"][1])
    else:
        write_image_atomic(pairs["image"][1], out)
    append_record(dst, rec)


def _source_run_sha256(src: Path) -> str | None:
    """SHA-256 of the render identity in `src/run.json` (scene hash, seed, size), or None.

    Timings and counts are left out, so a resumed render keeps the same value; a re-render with
    another scene, seed or size (`synthgap render --overwrite`) changes it.
    """
    run = DatasetLayout(src).run_json
    if not run.is_file():
        return None
    try:
        data = json.loads(run.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetFileError(f"{run}: unreadable ({e}); re-render the source") from None
    keys = ("format", "seed", "scene_sha256", "width", "height", "defects_layer",
            "inputs_sha256")
    ident = {k: data.get(k) for k in keys} if isinstance(data, dict) else {}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _identity(adapter: ImageAdapter, model_path: Path | None) -> dict[str, str]:
    if model_path is not None:
        return {"model": str(Path(model_path).resolve()), "model_sha256": file_sha256(model_path)}
    tensors, config = adapter.state()
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].tobytes())
    return {"model": "(in memory)", "model_sha256": h.hexdigest()}
