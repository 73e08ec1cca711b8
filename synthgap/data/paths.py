"""Paths that come from data (records, scene files, class names): kept inside their folder.

A dataset directory's `records.jsonl`, a scene's `class:` and a record's `category` are written
by whoever made the folder, not by the person running a command on it. Every path built from
them goes through `contained` (a file named by a record) or `safe_name` (one folder or file name
made from a label), so a crafted record can never make a command read or overwrite a file
outside the folders it was given (`/etc/hostname`, `../../x`, a symbolic link pointing out).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from synthgap.data.layout import DatasetFileError

__all__ = ["FolderBusyError", "contained", "folder_lock", "resolve_folder", "safe_name"]

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
def folder_lock(root: Path, *, command: str) -> Iterator[IO[str]]:
    """Hold an exclusive lock on `root/.lock` (the lock `synthgap render` takes too).

    Raises:
        FolderBusyError: another process holds it (names the folder and `command`).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".lock", "w")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise FolderBusyError(f"{root}: another synthgap process (`{command}` or "
                                  "`synthgap render`) is writing to it; wait for it to finish "
                                  "or choose another output folder") from exc
        yield handle
        (root / ".lock").unlink(missing_ok=True)  # as render does: a finished folder has none
    finally:
        handle.close()


def _short(value: object) -> str:
    """A repr of at most 80 characters (never the repr of a huge value: it is cut first)."""
    if isinstance(value, str):
        return repr(value[:77] + "...") if len(value) > 80 else repr(value)
    if isinstance(value, int | float | bool) or value is None:
        return repr(value)
    return f"a {type(value).__name__}"

