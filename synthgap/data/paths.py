"""Paths that come from data (records, scene files, class names): kept inside their folder.

A dataset directory's `records.jsonl`, a scene's `class:` and a record's `category` are written
by whoever made the folder, not by the person running a command on it. Every path built from
them goes through `contained` (a file named by a record) or `safe_name` (one folder or file name
made from a label), so a crafted record can never make a command read or overwrite a file
outside the folders it was given (`/etc/hostname`, `../../x`, a symbolic link pointing out).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from synthgap.data.layout import DatasetFileError

__all__ = ["LAYER_DIRS", "FolderBusyError", "check_output_folder", "contained", "folder_lock",
           "foreign_dataset_files", "remove_dataset_files", "remove_stale_temporaries",
           "resolve_folder", "safe_name"]

#: Longest label accepted as a folder or file name (bytes, UTF-8): the common filesystem limit.
MAX_NAME_BYTES = 255


class FolderBusyError(DatasetFileError):
    """Another synthgap process holds the folder's lock."""


def resolve_folder(path: Path | str, *, what: str) -> Path:
    """`path` made absolute with symbolic links resolved.

    Raises:
        DatasetFileError: the path holds a symbolic link loop (or cannot be resolved); the
            message names the path and says what to do.
    """
    path = Path(path)
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # Python 3.11 raises RuntimeError on a link loop
        raise DatasetFileError(f"{path}: cannot resolve the {what} ({exc}); a symbolic link "
                               "in it points back to itself: remove the link or choose "
                               "another path") from None


def contained(root: Path | str, rel: object, *, what: str) -> Path:
    """`root / rel`, refusing a `rel` that would lead outside `root`.

    Args:
        root: the folder the file must lie in (a dataset directory).
        rel: a relative path as written in a record (`images/000042.png`), `/`-separated.
        what: what names the path, for the message (`records.jsonl record 42 files.image`).

    Returns:
        `root / rel` (not resolved, so messages show the path the user knows).

    Raises:
        DatasetFileError: `rel` is not a non-empty string, is absolute, holds `..`, a
            backslash or a NUL byte, or resolves (through a symbolic link) outside `root`.
    """
    root = Path(root)
    if not isinstance(rel, str) or not rel.strip():
        raise DatasetFileError(f"{what}: expected a relative file path, got {_short(rel)}")
    pure = PurePosixPath(rel)
    if "\x00" in rel or "\\" in rel or pure.is_absolute() or ".." in pure.parts \
            or rel.startswith("~"):
        raise DatasetFileError(f"{what}: {_short(rel)} is not a plain relative path inside "
                               f"{root}; records may only name files inside their own "
                               "directory (fix or re-create records.jsonl)")
    path = root / rel
    base = resolve_folder(root, what="dataset directory")
    full = resolve_folder(path, what=f"file of {what}")
    if full != base and base not in full.parents:
        raise DatasetFileError(f"{what}: {path} leads outside {root} (through a symbolic "
                               "link); records may only name files inside their own directory")
    return path


def safe_name(name: object, *, what: str) -> str:
    """`name` if it can be one folder or file name that reads back as itself, else an error.

    Refused: non-strings, the empty string, `.` and `..`, names starting with `.` (hidden:
    the readers skip them), names holding `/`, `\\`, a NUL byte or another control character,
    and names over 255 bytes.

    Raises:
        ValueError: naming `what`, the value and the rule.
    """
    if not isinstance(name, str):
        raise ValueError(f"{what}: expected a name (text), got {_short(name)}")
    bad = None
    if not name.strip():
        bad = "it is empty"
    elif name.startswith("."):
        bad = "it starts with '.' (a hidden or relative folder name)"
    elif any(c in name for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        bad = "it holds a path separator or a control character"
    elif len(name.encode("utf-8", errors="replace")) > MAX_NAME_BYTES:
        bad = f"it is longer than {MAX_NAME_BYTES} bytes"
    if bad:
        raise ValueError(f"{what}: {_short(name)} cannot be a folder name ({bad}); use letters, "
                         "digits, '-' and '_'")
    return name


@contextmanager
def folder_lock(root: Path, *, command: str, lock_name: str = ".lock",
                shown: Path | None = None) -> Iterator[IO[str]]:
    """Hold an exclusive lock on `root/lock_name` (`.lock`: the lock `synthgap render` takes).

    Every command that writes an output folder takes it (`render`, `adapt apply`, `export`
    on a sibling `.OUT.synthgap-lock`, `run`), so a second run into the same folder stops at
    once instead of interleaving files. The lock file is removed when the lock is released;
    a lock taken on a file another process just removed is retried on the new file.

    Args:
        root: the folder the lock file is in (created when missing).
        command: the command taking it, for the message.
        lock_name: the lock file's name.
        shown: the folder the message names (default `root`).

    Raises:
        FolderBusyError: another process holds it (names the folder and `command`).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / lock_name
    for _ in range(20):
        handle = open(path, "w")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise FolderBusyError(_busy(shown or root, command)) from exc
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # the holder released and removed it between our open and our lock
    else:  # pragma: no cover - only under a storm of lock holders
        raise FolderBusyError(f"{root}: its lock keeps changing hands; try again")
    try:
        yield handle
    finally:
        path.unlink(missing_ok=True)  # as render does: a finished folder has none
        handle.close()


def _raise_if_busy(lock: Path, *, shown: Path, command: str) -> None:
    """FolderBusyError when another process holds the lock file `lock` (which is only read)."""
    try:
        handle = open(lock)
    except OSError:
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise FolderBusyError(_busy(shown, command)) from exc


def _busy(folder: Path, command: str) -> str:
    return (f"{folder}: another synthgap process (`{command}` or `synthgap render`) is writing "
            "to it; wait for it to finish or choose another output folder")


def check_output_folder(out: Path, *, inputs: dict[str, Path], own: Callable[[Path], bool],
                        kind: str, command: str, locked: bool = False) -> Path:
    """Refuse an output folder that a command must not write into; return it resolved.

    An output folder may be new, empty, or one `own(folder)` recognises as made by `command`
    (to resume or replace it). It may not be (or lie inside, or hold) one of `inputs`.

    Args:
        out: the output folder as given.
        inputs: what the command reads, by role (`{"input": IN}`).
        own: True for a folder this command made earlier.
        kind: what the command writes, for the message (`an adapted dataset`).
        command: the command, for the message.
        locked: the caller holds the folder's lock (else a held lock is a `FolderBusyError`).

    Raises:
        FolderBusyError: another process holds the folder's lock.
        DatasetFileError: naming the folder, why, and what to do.
    """
    real = resolve_folder(out, what="output folder")
    for role, path in inputs.items():
        other = resolve_folder(path, what=f"{role} folder")
        if real == other or other in real.parents or real in other.parents:
            where = "must differ from" if real == other else (
                "lies inside" if other in real.parents else "holds")
            raise DatasetFileError(f"{out}: the output folder {where} the {role} folder {path}; "
                                   "choose an output folder beside it")
    if real.exists() and not real.is_dir():
        raise DatasetFileError(f"{out}: exists and is not a folder; choose another output")
    if not locked:
        _raise_if_busy(real / ".lock", shown=out, command=command)
    if real.is_dir() and any(p.name != ".lock" for p in real.iterdir()) and not own(real):
        raise DatasetFileError(f"{out}: the folder is not empty and is not {kind} made by "
                               f"`{command}`; choose a new or empty output folder (nothing "
                               "was written)")
    return real


#: Layer folders of a dataset directory and the names of the files render and apply write
#: there: `000042.png` and their temporaries (`.000042.png.PID.tmp.png`).
LAYER_DIRS = ("images", "depth", "masks", "defects")
OWN_LAYER_FILE = re.compile(r"\d{6,}\.png|\.\d{6,}\.png\.\d+\.tmp(\.png)?")
#: Top-level files of a dataset directory that render and apply write.
OWN_DATASET_FILES = ("records.jsonl", "run.json", "scene.yaml", "adapt.json", ".lock",
                     ".run.json.tmp", ".records.jsonl.tmp")


def foreign_dataset_files(root: Path) -> list[str]:
    """Files in dataset directory `root` that neither render nor apply write (relative)."""
    theirs = []
    for path in sorted(Path(root).iterdir()):
        if path.name in LAYER_DIRS and path.is_dir() and not path.is_symlink():
            theirs += [f"{path.name}/{p.name}" for p in sorted(path.iterdir())
                       if not (p.is_file() and OWN_LAYER_FILE.fullmatch(p.name))]
        elif not (path.is_file() and (path.name in OWN_DATASET_FILES
                                      or re.fullmatch(r"\..+\.\d+\.tmp", path.name))):
            theirs.append(path.name)
    return theirs


def remove_stale_temporaries(root: Path) -> None:
    """Delete the temporaries a killed render or apply left in dataset directory `root`
    (`.000042.png.PID.tmp.png` in the layer folders, `.run.json.PID.tmp` beside them).
    Call it holding the folder's lock: then no running process owns them."""
    root = Path(root)
    for name in LAYER_DIRS:
        folder = root / name
        if folder.is_dir() and not folder.is_symlink():
            for path in folder.iterdir():
                if path.name.startswith(".") and path.is_file() \
                        and OWN_LAYER_FILE.fullmatch(path.name):
                    path.unlink(missing_ok=True)
    if root.is_dir():
        for path in root.iterdir():
            if path.is_file() and re.fullmatch(r"\.(records\.jsonl|run\.json|scene\.yaml|"
                                               r"adapt\.json)(\.\d+)?\.tmp", path.name):
                path.unlink(missing_ok=True)


def remove_dataset_files(root: Path) -> None:
    """Delete what render and apply write in `root` (layer PNGs, temporaries, records,
    run.json, scene.yaml, adapt.json); a user's own files, also inside `images/`, stay, and so
    do folders holding them."""
    root = Path(root)
    for name in LAYER_DIRS:
        folder = root / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in folder.iterdir():
            if path.is_file() and OWN_LAYER_FILE.fullmatch(path.name):
                path.unlink(missing_ok=True)
        if not any(folder.iterdir()):
            folder.rmdir()
    for name in OWN_DATASET_FILES:
        if name != ".lock":
            (root / name).unlink(missing_ok=True)


def _short(value: object) -> str:
    """A repr of at most 80 characters (never the repr of a huge value: it is cut first)."""
    if isinstance(value, str):
        return repr(value[:77] + "...") if len(value) > 80 else repr(value)
    if isinstance(value, int | float | bool) or value is None:
        return repr(value)
    return f"a {type(value).__name__}"

