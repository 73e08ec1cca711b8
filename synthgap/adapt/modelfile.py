"""Model files: weights as `.safetensors`, configuration as JSON (embedded and beside it).

A model file `model.safetensors` holds float tensors and, in its safetensors metadata under the
key `synthgap`, a JSON object with at least `kind` (which adapter made it), `format` (this
module's version) and `synthgap_version`. `model.json` beside it is the same JSON, indented, for
people to read; loading trusts only the embedded copy. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
_META_KEY = "synthgap"


class ModelFileError(ValueError):
    """A model file is missing, truncated, foreign or of another kind than expected."""


def sidecar_path(path: Path) -> Path:
    """`model.safetensors` -> `model.json`."""
    return Path(path).with_suffix(".json")


def save_model(path: Path, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Path:
    """Write `tensors` and `config` to `path` (atomically) and `config` to its `.json` sidecar.

    Args:
        path: destination, conventionally ending in `.safetensors`.
        tensors: name -> array (any numeric dtype; made contiguous).
        config: JSON-serialisable configuration; must contain `kind`.

    Returns:
        The path written.
    """
    from safetensors.numpy import save_file

    from synthgap import __version__

    if "kind" not in config:
        raise ValueError("save_model: config must name the adapter `kind`")
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"save_model: {path}: a model file must end in .safetensors (its "
                         "configuration goes beside it as .json)")
    _check_finite(tensors, f"save_model: {path}", fix=(
        "the fit diverged (e.g. a learning_rate far too high): lower learning_rate or "
        "iterations and fit again; nothing was written"))
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {**config, "format": FORMAT_VERSION, "synthgap_version": __version__}
    text = json.dumps(full, sort_keys=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(arrays, str(tmp), metadata={_META_KEY: text})
        # safetensors writes through a private temporary file (mode 0600); give the model the
        # permissions any new file of this user gets, so a cluster or a colleague can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sidecar_path(path).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    return path


def load_model(path: Path, *, kind: str | None = None
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model file written by `save_model`.

    Args:
        path: the `.safetensors` file.
        kind: when given, the `kind` the file must have.

    Returns:
        `(tensors, config)`.

    Raises:
        ModelFileError: missing, truncated or corrupt file, a safetensors file that synthgap did
            not write, a newer format, or another kind than asked for. The message names the file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable .safetensors model file ({exc}); it may be "
                             "truncated or in another format: re-run `synthgap adapt fit`") from exc
    if _META_KEY not in meta:
        raise ModelFileError(f"{path}: a safetensors file without synthgap metadata; it was not "
                             "written by `synthgap adapt fit`")
    try:
        config = json.loads(meta[_META_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: corrupt synthgap metadata ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: corrupt synthgap metadata (a JSON {type(config).__name__},"
                             " not an object); re-run `synthgap adapt fit`")
    fmt = config.get("format", 0)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 0:
        raise ModelFileError(f"{path}: corrupt synthgap metadata (format {fmt!r} is not a "
                             "version number); re-run `synthgap adapt fit`")
    _check_finite(tensors, str(path), fix="the model is broken (a diverged fit or an edited "
                  "file): fit it again with `synthgap adapt fit`", error=ModelFileError)
    if config.get("format", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format {config.get('format')} is newer than this "
                             f"synthgap understands ({FORMAT_VERSION}); upgrade synthgap")
    if kind is not None and config.get("kind") != kind:
        raise ModelFileError(f"{path}: is a {config.get('kind')!r} model, expected {kind!r}")
    return tensors, config


def _check_finite(tensors: dict[str, np.ndarray], what: str, *, fix: str,
                  error: type[ValueError] = ValueError) -> None:
    """Raise `error` naming the first floating tensor holding NaN or infinity."""
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise error(f"{what}: tensor {name!r} holds {bad} NaN or infinite value(s); {fix}")
