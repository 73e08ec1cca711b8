"""The search space of `synthgap tune`: which scene knobs to search, and how.

A search file is YAML with one top-level key `search:`, a mapping from a **field path** of the
scene file to a **knob**:

```yaml
search:
  lights[*].intensity: {scale: [0.25, 4.0]}       # multiply every number in the field
  background.ambient: {scale: [0.25, 4.0], clip: [0, 1]}
  lights[0].elevation: {value: [10, 90]}          # a fixed number in [lo, hi]
  camera.pose.distance: {range: [0.4, 1.6]}       # a uniform range [a, b] inside [lo, hi]
  sensor: {choice: [null, {noise: [0.005, 0.02], blur_sigma: [0.3, 1.0]}]}
  lights[+]: {choice: [null, {type: environment, intensity: 0.5}]}   # add a light, or not
```

Paths: keys joined by dots, `[i]` a list item, `[*]` every item, `[+]` (last only) a new item
appended to the list. Every key but the last must exist in the scene. Knobs apply in file
order; a knob below a value that an earlier `choice` removed (`null`) is inactive in that
trial. Knobs: `value: [lo, hi]` (optional `log: true`, `integer: true`), `range: [lo, hi]`
(searched as centre and width; `integer: true` rounds the ends), `scale: [lo, hi]` (a factor,
log-uniform; optional `clip: [lo, hi]` bounds the scaled numbers) and `choice: [...]` (any
YAML values; `null` removes the field). Mesh geometry (`parts[].mesh`, `units`,
`procedural`, `scale`) cannot be searched: the part library is loaded once.

`default_search(data)` is the space used without a search file; `load_search` reads and
checks a file (each knob is tried at its extremes on the scene: a value the scene file would
refuse is an error naming the file, the knob and the fix).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthgap.scenes import parse_scene
from synthgap.scenes.errors import SceneError
from synthgap.scenes.yamlio import YamlProblem, read_yaml_file

__all__ = [
    "KINDS",
    "Knob",
    "SearchSpaceError",
    "apply_values",
    "check_search",
    "default_search",
    "knob_extremes",
    "load_search",
    "parse_search",
    "start_values",
]

#: Knob kinds and the options each accepts besides its bounds.
KINDS: dict[str, tuple[str, ...]] = {"value": ("log", "integer"), "range": ("integer",),
                                     "scale": ("clip",), "choice": ()}
_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*|\+)\]")
_FROZEN = ("mesh", "units", "procedural", "scale")
_REMOVE = object()


class SearchSpaceError(ValueError):
    """A search file or knob is invalid; the message names the file, the field and the fix."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file, self.field = file, field
        super().__init__(f"{file}: {field}: {message}")


@dataclass(frozen=True)
class Knob:
    """One searched field.

    Attributes:
        path: the field path (see the module docstring).
        kind: `value`, `range`, `scale` or `choice`.
        bounds: `(lo, hi)` for value/range/scale; the options for choice.
        log: value knobs: search log-uniformly.
        integer: value/range knobs: round to integers.
        clip: scale knobs: bounds of the scaled numbers, or None.
    """

    path: str
    kind: str
    bounds: tuple[Any, ...]
    log: bool = False
    integer: bool = False
    clip: tuple[float, float] | None = None
    tokens: tuple[str | int, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The knob as its search-file entry."""
        d: dict[str, Any] = {self.kind: list(self.bounds)}
        if self.log:
            d["log"] = True
        if self.integer:
            d["integer"] = True
        if self.clip is not None:
            d["clip"] = list(self.clip)
        return d


def _tokens(path: str, file: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    pos = 0
    while pos < len(path):
        if out and path[pos] == ".":
            pos += 1
        m = _TOKEN.match(path, pos)
        if m is None:
            raise SearchSpaceError(file, f"search.{path}", "not a field path; write keys joined "
                                   "by dots with [i], [*] or [+] for list items, e.g. "
                                   "lights[0].intensity")
        name, idx = m.groups()
        out.append(name if name is not None else (int(idx) if idx.isdigit() else idx))
        pos = m.end()
    if "+" in out[:-1]:
        raise SearchSpaceError(file, f"search.{path}", "[+] (append) may only end a path")
    if out and out[0] == "parts" and any(t in _FROZEN for t in out[1:]):
        raise SearchSpaceError(file, f"search.{path}", "part geometry cannot be searched (the "
                               "part library is loaded once); search materials instead")
    return tuple(out)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _knob(path: str, spec: Any, file: str) -> Knob:
    where = f"search.{path}"
    if not isinstance(spec, dict):
        raise SearchSpaceError(file, where, f"expected a mapping such as {{scale: [0.5, 2]}}, "
                               f"got {spec!r}")
    kinds = [k for k in spec if k in KINDS]
    if len(kinds) != 1:
        raise SearchSpaceError(file, where, f"give exactly one of {', '.join(KINDS)}, got "
                               f"{sorted(spec)}")
    kind = kinds[0]
    unknown = sorted(set(spec) - {kind, *KINDS[kind]})
    if unknown:
        raise SearchSpaceError(file, f"{where}.{unknown[0]}", f"not an option of a {kind} knob "
                               f"(options: {', '.join(KINDS[kind]) or 'none'})")
    bounds = spec[kind]
    if kind == "choice":
        if not isinstance(bounds, list) or len(bounds) < 2:
            raise SearchSpaceError(file, f"{where}.choice", "expected a list of at least two "
                                   "options (null removes the field)")
    elif not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_number, bounds))
              and bounds[0] < bounds[1]):
        raise SearchSpaceError(file, f"{where}.{kind}", f"expected [lo, hi] with lo < hi, "
                               f"got {bounds!r}")
    elif kind == "scale" and bounds[0] <= 0:
        raise SearchSpaceError(file, f"{where}.scale", "factors must be > 0, e.g. [0.25, 4]")
    elif spec.get("log") and bounds[0] <= 0:
        raise SearchSpaceError(file, f"{where}.value", "a log knob needs lo > 0")
    clip = spec.get("clip")
    if clip is not None and not (isinstance(clip, list) and len(clip) == 2
                                 and all(map(_number, clip)) and clip[0] < clip[1]):
        raise SearchSpaceError(file, f"{where}.clip", f"expected [lo, hi], got {clip!r}")
    for flag in ("log", "integer"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise SearchSpaceError(file, f"{where}.{flag}", "expected true or false")
    tokens = _tokens(path, file)
    if tokens[-1] == "+" and kind != "choice":
        raise SearchSpaceError(file, where, "[+] appends a list item: use a choice knob, e.g. "
                               "{choice: [null, {type: environment, intensity: 0.5}]}")
    return Knob(path=path, kind=kind, bounds=tuple(bounds), log=bool(spec.get("log", False)),
                integer=bool(spec.get("integer", False)),
                clip=None if clip is None else (float(clip[0]), float(clip[1])), tokens=tokens)


def _walk(node: Any, tokens: tuple[str | int, ...], fn: Callable[[Any], Any],
          where: str) -> None:
    """Replace the value(s) at `tokens` below `node` by `fn(old)` (`_REMOVE` deletes;
    `old` is `_REMOVE` when absent). KeyError/IndexError when an inner key is missing."""
    head, rest = tokens[0], tokens[1:]
    if head == "+":
        if not isinstance(node, list):
            raise KeyError(f"{where} is not a list")
        new = fn(_REMOVE)
        if new is not _REMOVE:
            node.append(new)
        return
    if head == "*" or isinstance(head, int):
        if not isinstance(node, list):
            raise KeyError(f"{where} is not a list")
        idx: list[int] = list(range(len(node))) if isinstance(head, str) else [head]
        for i in idx:
            if i >= len(node):
                raise IndexError(f"{where}[{i}]: the list has {len(node)} items")
            if rest:
                _walk(node[i], rest, fn, f"{where}[{i}]")
            else:
                node[i] = fn(node[i])
        return
    if not isinstance(node, dict):
        raise KeyError(f"{where} is not a mapping")
    if rest:
        if head not in node or node[head] is None:
            raise KeyError(f"{where}.{head}".lstrip(".") + " is not in the scene")
        _walk(node[head], rest, fn, f"{where}.{head}".lstrip("."))
        return
    new = fn(node.get(head, _REMOVE))
    if new is _REMOVE or new is None:
        node.pop(head, None)
    else:
        node[head] = new


def _scaled(value: Any, factor: float, clip: tuple[float, float] | None) -> Any:
    if _number(value):
        out = value * factor
        return out if clip is None else min(max(out, clip[0]), clip[1])
    if isinstance(value, list):
        return [_scaled(v, factor, clip) for v in value]
    if isinstance(value, dict):
        return {k: _scaled(v, factor, clip) for k, v in value.items()}
    return value


def _setter(knob: Knob, value: Any) -> Callable[[Any], Any]:
    def fn(old: Any) -> Any:
        if knob.kind == "choice":
            return _REMOVE if value is None else copy.deepcopy(value)
        if knob.kind == "scale":
            if old is _REMOVE:
                raise KeyError(f"{knob.path} is not in the scene (a scale knob needs a value)")
            return _scaled(old, float(value), knob.clip)
        return value
    return fn


def apply_values(data: Mapping[str, Any], knobs: list[Knob], values: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], list[str]]:
    """The scene data with each knob set to `values[knob.path]`.

    Args:
        data: the scene file's data (what `yaml.safe_load` gives); not modified.
        knobs: the search space.
        values: knob path -> value (value/range: the number / `[a, b]`; scale: the factor;
            choice: the option itself).

    Returns:
        `(new data, paths of the inactive knobs)`.
    """
    out = copy.deepcopy(dict(data))
    inactive = []
    for knob in knobs:
        try:
            _walk(out, knob.tokens, _setter(knob, values[knob.path]), "")
        except (KeyError, IndexError):
            inactive.append(knob.path)
    return out, inactive


def knob_extremes(knob: Knob) -> list[Any]:
    """The values a knob is checked at: both ends, or every option."""
    if knob.kind == "choice":
        return list(knob.bounds)
    lo, hi = knob.bounds
    if knob.kind == "range":
        return [[lo, hi]]
    return [lo, hi]


def start_values(knob: Knob, data: Mapping[str, Any]) -> tuple[bool, Any]:
    """`(True, value)` with the knob's value that leaves the scene as it is, or
    `(False, None)` when the knob cannot express the scene's own value."""
    if knob.kind == "scale":
        return (True, 1.0) if knob.bounds[0] <= 1.0 <= knob.bounds[1] else (False, None)
    if knob.tokens[-1] == "+":
        return (True, None) if None in knob.bounds else (False, None)
    current: list[Any] = []

    def grab(v: Any) -> Any:
        current.append(None if v is _REMOVE else v)
        return v

    try:
        _walk(copy.deepcopy(dict(data)), knob.tokens, grab, "")
    except (KeyError, IndexError):
        return False, None
    if not current:
        return False, None
    v = current[0]
    if knob.kind == "choice":
        return (True, v) if v in knob.bounds else (False, None)
    lo, hi = knob.bounds
    if knob.kind == "value" and _number(v) and lo <= v <= hi:
        return True, v
    if (knob.kind == "range" and isinstance(v, list) and len(v) == 2 and all(map(_number, v))
            and lo <= v[0] <= v[1] <= hi):
        return True, v
    return False, None


def parse_search(raw: Any, file: str) -> list[Knob]:
    """Knobs from a search file's data (`{"search": {path: knob, ...}}`)."""
    if not isinstance(raw, dict) or set(raw) != {"search"}:
        raise SearchSpaceError(file, "(top level)", "expected one key, search: {FIELD.PATH: "
                               "{scale: [0.5, 2]}, ...} (see docs/tune.md)")
    body = raw["search"]
    if not isinstance(body, dict) or not body:
        raise SearchSpaceError(file, "search", "expected a mapping of field paths to knobs")
    return [_knob(str(path), spec, file) for path, spec in body.items()]


def check_search(knobs: list[Knob], data: Mapping[str, Any], *, base_dir: Path,
                 file: str) -> None:
    """Each knob at each extreme (others unchanged) must give a valid scene.

    Raises:
        SearchSpaceError: naming the knob, the value and the scene's complaint.
    """
    for knob in knobs:
        for value in knob_extremes(knob):
            trial = copy.deepcopy(dict(data))
            try:
                _walk(trial, knob.tokens, _setter(knob, value), "")
            except (KeyError, IndexError) as exc:
                raise SearchSpaceError(file, f"search.{knob.path}", f"{exc.args[0]}; use a "
                                       "path the scene file has (only the last key may be "
                                       "new)") from None
            try:
                parse_scene(trial, base_dir=base_dir, source="scene")
            except SceneError as exc:
                raise SearchSpaceError(file, f"search.{knob.path}", f"at {value!r} the scene is "
                                       f"invalid ({exc}); narrow the bounds") from None


def load_search(path: Path, data: Mapping[str, Any], *, base_dir: Path) -> list[Knob]:
    """Read, parse and check a search file against the scene data.

    Raises:
        SearchSpaceError: unreadable file, bad YAML, a bad knob, or a knob that makes the
            scene invalid (names the file, the knob and the fix).
    """
    file = str(path)
    try:
        raw = read_yaml_file(path, what="search file")
    except YamlProblem as exc:
        raise SearchSpaceError(file, "(file)", str(exc)) from None
    knobs = parse_search(raw, file)
    check_search(knobs, data, base_dir=base_dir, file=file)
    return knobs


def _max_number(value: Any) -> float:
    if _number(value):
        return float(value)
    if isinstance(value, list):
        return max((_max_number(v) for v in value), default=0.0)
    if isinstance(value, dict):
        return max((_max_number(v) for v in value.values()), default=0.0)
    return 0.0


def default_search(data: Mapping[str, Any]) -> dict[str, Any]:
    """The search file used when none is given, for this scene's data (module docstring):
    light intensities x0.25-4, ambient x0.25-4 (colours kept in [0, 1]), an environment light
    on/off, the sensor block on/off, camera distance x0.7-1.4 and, for parts with a
    `material`, brightness 0.6-1.4."""
    search: dict[str, Any] = {}
    if data.get("lights"):
        search["lights[*].intensity"] = {"scale": [0.25, 4.0]}
    ambient = (data.get("background") or {}).get("ambient")
    if ambient is not None and _max_number(ambient) > 0:
        search["background.ambient"] = {"scale": [0.25, min(4.0, 1.0 / _max_number(ambient))]}
    search["lights[+]"] = {"choice": [None, {"type": "environment", "intensity": 0.5}]}
    sensor = data.get("sensor")
    search["sensor"] = {"choice": [sensor, None] if sensor else
                        [None, {"noise": [0.005, 0.02], "blur_sigma": [0.3, 1.0],
                                "jpeg_quality": [80, 95]}]}
    if "distance" in ((data.get("camera") or {}).get("pose") or {}):
        search["camera.pose.distance"] = {"scale": [0.7, 1.4]}
    parts = data.get("parts") or []
    if parts and all(isinstance(p, dict) and isinstance(p.get("material"), dict)
                     for p in parts):
        search["parts[*].material.brightness"] = {"range": [0.6, 1.4]}
    return {"search": search}
