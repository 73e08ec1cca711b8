"""Model files: weights as `.safetensors`, configuration as JSON (embedded and beside it).

A model file `model.safetensors` holds float tensors and, in its safetensors metadata under the
key `synthgap`, a JSON object with at least `kind` (which adapter made it), `format` (this
module's version) and `synthgap_version`. `model.json` beside it is the same JSON, indented, for
people to read; loading trusts only the embedded copy. Nothing is ever unpickled.
"""

from __future__ import annotations

import itertools
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
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    tensors, meta = read_safetensors(path)
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


#: Largest model file synthgap reads (bytes): its models are a few MB; a file that declares
#: more is refused before any tensor is read.
MAX_MODEL_BYTES = 1 << 30
#: Largest safetensors JSON header (bytes).
MAX_HEADER_BYTES = 16 << 20
#: safetensors dtypes synthgap reads, with their numpy dtype (BF16: widened to float32).
_DTYPES: dict[str, str] = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
                           "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
                           "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?"}


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a `.safetensors` file, validating its header before any tensor is read.

    The 8-byte header length, the JSON header, each tensor's dtype, shape and byte range
    (`shape` x item size must equal the range, ranges must lie in the file and not overlap)
    and the file size (at most `MAX_MODEL_BYTES`) are checked first; then each tensor is read
    from its own byte range. BF16 tensors are returned as float32.

    Returns:
        `(tensors, metadata)`.

    Raises:
        ModelFileError: naming the file, the tensor and what is wrong.
    """
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: the file is {size / 1e6:.1f} MB, larger than the "
                             f"{MAX_MODEL_BYTES >> 20} MB a synthgap model may have; it is not a "
                             "model written by `synthgap adapt fit`")
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
            raise ModelFileError(f"{path}: not a readable .safetensors model file (its header "
                                 f"length {n} does not fit the {size}-byte file); it may be "
                                 "truncated or in another format: re-run `synthgap adapt fit`")
        try:
            header = json.loads(f.read(n))
        except (ValueError, RecursionError) as exc:
            raise ModelFileError(f"{path}: corrupt .safetensors header ({str(exc)[:80]}); "
                                 "re-run `synthgap adapt fit`") from None
        if not isinstance(header, dict):
            raise ModelFileError(f"{path}: corrupt .safetensors header (not a JSON object)")
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ModelFileError(f"{path}: corrupt .safetensors metadata (not a map of text)")
        ranges = [_tensor_range(path, name, spec, size - 8 - n)
                  for name, spec in header.items()]
        ranges.sort(key=lambda r: r[2])
        for a, b in itertools.pairwise(ranges):
            if b[2] < a[3]:
                raise ModelFileError(f"{path}: tensors {a[0]!r} and {b[0]!r} overlap in the "
                                     "file; it is corrupt: re-run `synthgap adapt fit`")
        tensors = {}
        for name, dtype, start, end, shape in ranges:
            f.seek(8 + n + start)
            arr = np.frombuffer(f.read(end - start), dtype=_DTYPES[dtype]).reshape(shape)
            if dtype == "BF16":  # bfloat16 is the upper half of a float32
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = arr.copy()
    return tensors, meta


def _tensor_range(path: Path, name: str, spec: Any, data_bytes: int
                  ) -> tuple[str, str, int, int, tuple[int, ...]]:
    """`(name, dtype, start, end, shape)` of one header entry, checked."""
    if not isinstance(spec, dict):
        raise ModelFileError(f"{path}: tensor {name[:40]!r}: corrupt header entry")
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if dtype not in _DTYPES:
        raise ModelFileError(f"{path}: tensor {name[:40]!r} has dtype {str(dtype)[:20]!r}, "
                             f"which synthgap does not read ({', '.join(_DTYPES)})")

    def ints(v: Any) -> list[int] | None:
        ok = isinstance(v, list) and all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
        return v if ok else None

    shape, offsets = ints(shape), ints(offsets)
    if shape is None or len(shape) > 8 or offsets is None or len(offsets) != 2:
        raise ModelFileError(f"{path}: tensor {name[:40]!r}: corrupt shape or data_offsets")
    count = 1
    for d in shape:
        count *= d
    need = count * np.dtype(_DTYPES[dtype]).itemsize
    start, end = offsets
    if need > MAX_MODEL_BYTES or not start <= end <= data_bytes or end - start != need:
        raise ModelFileError(f"{path}: tensor {name[:40]!r} declares shape {shape[:8]} of "
                             f"{dtype} ({need} bytes) at bytes {start}..{end}, but the file "
                             f"holds {data_bytes} bytes of data; it is corrupt or crafted: "
                             "re-run `synthgap adapt fit`")
    return name, dtype, start, end, tuple(shape)


def model_flag(value: Any, name: str) -> bool:
    """`value` if it is a JSON boolean (`grey: "no"` is not), else ValueError naming `name`."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {str(value)[:40]!r}")
    return value


def model_array(value: Any, name: str, *, shape: tuple[int, ...] | None = None,
                lo: float, hi: float) -> np.ndarray:
    """`value` as a float64 array whose entries all lie in `[lo, hi]` (finite), else
    ValueError naming `name`: a tampered model cannot ask for a white or black dataset or a
    huge blur kernel."""
    arr = np.asarray(value, np.float64) if not isinstance(value, bool) else np.array(np.nan)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not (np.isfinite(arr).all() and (arr >= lo).all() and (arr <= hi).all()):
        raise ValueError(f"{name}: expected numbers in [{lo:g}, {hi:g}], got "
                         f"{np.nanmin(arr) if arr.size else '-'}..."
                         f"{np.nanmax(arr) if arr.size else '-'}; the model file was edited "
                         "or is corrupt: fit it again")
    return arr


def _check_finite(tensors: dict[str, np.ndarray], what: str, *, fix: str,
                  error: type[ValueError] = ValueError) -> None:
    """Raise `error` naming the first floating tensor holding NaN or infinity."""
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise error(f"{what}: tensor {name!r} holds {bad} NaN or infinite value(s); {fix}")
