"""Write an export into a temporary sibling folder and swap it in only when it is complete.

A failed export (a missing source image, a full disk, Ctrl-C) leaves the previous export
exactly as it was. A re-export deletes only files the previous export wrote (listed in its
`export.json` under `files`); any other file in the folder, also inside `images/` or
`annotations/`, is moved into the new export unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthgap.data.paths import folder_lock, resolve_folder
from synthgap.export.base import MANIFEST, ExportError

__all__ = ["TEMP_PREFIX", "export_lock_path", "swap_export"]

#: Temporary folders are siblings named `.<out name>.synthgap-tmp-<pid>` (and `-old-<pid>`).
TEMP_PREFIX = ".synthgap-tmp-"


def export_lock_path(out: Path | str) -> Path:
    """The lock file of export folder `out`: a sibling `.<out name>.synthgap-lock` (the export
    folder itself is swapped out, so its lock cannot live inside it)."""
    out = Path(out)
    return out.parent / f".{out.name}.synthgap-lock"


def _clean_stale(out: Path) -> None:
    """Remove temporary siblings of `out` left by killed exports (call under the lock: then no
    other export of `out` runs). A killed swap that left only the earlier export under its
    `-old-` name gets it back."""
    pattern = re.compile(re.escape(f".{out.name}{TEMP_PREFIX}") + r"(old-)?\d+")
    for path in sorted(out.parent.iterdir()):
        match = pattern.fullmatch(path.name)
        if not match or path.is_symlink() or not path.is_dir():
            continue
        if match.group(1) and not out.exists():
            os.rename(path, out)  # killed between the two renames: the earlier export
        else:
            shutil.rmtree(path, ignore_errors=True)


def _files(root: Path) -> list[str]:
    """Relative `/`-separated paths of every file under `root` (links counted as files)."""
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def _previous(out: Path, fmt: str) -> dict[str, Any] | None:
    """The manifest of an earlier `fmt` export in `out` (None for a new or empty folder)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder; choose a folder for the export")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    try:
        previous = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        previous = None
    if not isinstance(previous, dict) or previous.get("format") != fmt:
        found = previous.get("format") if isinstance(previous, dict) else None
        what = f"a {found} export" if found else "not a synthgap export"
        raise ExportError(f"{out}: folder is not empty and is {what}; export {fmt} into an "
                          "empty or new folder")
    return previous


def swap_export(out: Path | str, fmt: str, write: Callable[[Path], Any],
                finish: Callable[[Path, list[str]], None]) -> Path:
    """Run `write(tmp)` into a fresh temporary sibling of `out`, then put it in place of `out`.

    Args:
        out: the export folder (new, empty, or an earlier `fmt` export).
        fmt: the export format (an earlier export of another format is refused).
        write: writes the export into the folder it is given. When `out` holds an earlier
            export, that folder starts with a copy of its `export.json` (so category ids stay).
        finish: called with the temporary folder and the files `write` made (relative
            paths), before the swap: writes the manifest.

    Returns:
        The export folder (symbolic links resolved).

    Raises:
        ExportError: `out` holds something else, or a file of the user's has the name of a
            file the export writes (nothing is changed then).
        Whatever `write` raises: `out` is left as it was.
    """
    out = resolve_folder(out, what="export folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"{parent}: exists and is not a folder; choose another "
                                  "export folder")
            break
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = export_lock_path(out)
    with folder_lock(lock.parent, command="synthgap export", lock_name=lock.name, shown=out):
        _clean_stale(out)
        _swap_locked(out, fmt, write, finish)
    return out


def _swap_locked(out: Path, fmt: str, write: Callable[[Path], Any],
                 finish: Callable[[Path, list[str]], None]) -> None:
    previous = _previous(out, fmt)
    tmp = out.parent / f".{out.name}{TEMP_PREFIX}{os.getpid()}"
    old = out.parent / f".{out.name}{TEMP_PREFIX}old-{os.getpid()}"
    tmp.mkdir()
    try:
        if previous is not None:
            shutil.copyfile(out / MANIFEST, tmp / MANIFEST)
        write(tmp)
        written = [f for f in _files(tmp) if f != MANIFEST]
        theirs = _user_files(out, previous, set(written)) if previous is not None else []
        finish(tmp, written)
        _move(out, tmp, theirs)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except BaseException:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)  # only files the earlier export wrote are left
    else:
        os.rename(tmp, out)


def _user_files(out: Path, previous: dict[str, Any], written: set[str]) -> list[str]:
    """Files of `out` that the earlier export did not write (relative paths)."""
    listed = previous.get("files")
    if isinstance(listed, list):
        ours = {str(f) for f in listed} | {MANIFEST}
    else:
        # an export made before manifests listed their files: what this export writes again
        # under the same top-level folders was the earlier export's too
        tops = {f.split("/", 1)[0] for f in written} | {MANIFEST}
        ours = {f for f in _files(out) if f.split("/", 1)[0] in tops}
    theirs = [f for f in _files(out) if f not in ours]
    clash = [f for f in theirs if f in written]
    if clash:
        raise ExportError(f"{out / clash[0]}: a file the export did not write has the name of "
                          f"one it writes now ({len(clash)} such file(s)); move it away and "
                          "export again (the earlier export is unchanged)")
    return theirs


def _move(out: Path, tmp: Path, theirs: list[str]) -> None:
    """Move the user's files from `out` into `tmp` (all or none: a failure moves them back)."""
    moved: list[str] = []
    try:
        for rel in theirs:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(out / rel, tmp / rel)
            moved.append(rel)
    except BaseException:
        for rel in moved:
            os.rename(tmp / rel, out / rel)
        raise
