"""`SceneError`: bad scene files, reported by file and field path with a fix where possible."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["SceneError", "format_loc", "suggest", "yaml_problem"]


class SceneError(ValueError):
    """A scene file (or scene dict) is invalid.

    Attributes:
        file: the scene file (or a description such as `<dict>`).
        problems: `(field path, message)` pairs, e.g.
            `("parts[0].material.metallic", "expected a number, ..., got 'abc'")`.
    """

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path}: {msg}" if path else f"{file}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


def format_loc(loc: tuple[Any, ...]) -> str:
    """`('parts', 0, 'material', 'metallic')` -> `'parts[0].material.metallic'`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def suggest(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    """The option closest to `word` (difflib), or None when nothing is close."""
    hits = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return hits[0] if hits else None


def yaml_problem(exc: Exception) -> str:
    """The message of a `yaml.YAMLError` as scene and job errors show it:
    `not valid YAML: line L, column C: PROBLEM` (1-based; no position when YAML gives none)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"not valid YAML: {where}{problem}"


def _unwrap(tp: Any) -> list[Any]:
    """Candidate concrete types behind Annotated / Optional / Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [tp]


def _keys_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Valid keys of the model found at `loc` under `root` (None if it is not a model)."""
    candidates: list[Any] = [root]
    for part in loc:
        nxt: list[Any] = []
        for tp in candidates:
            for t in _unwrap(tp):
                if isinstance(part, int):
                    if typing.get_origin(t) in (tuple, list):
                        nxt.extend(a for a in typing.get_args(t) if a is not Ellipsis)
                elif isinstance(t, type) and issubclass(t, BaseModel):
                    for name, info in t.model_fields.items():
                        if part in (name, info.alias):
                            nxt.append(info.annotation)
        candidates = nxt
    for tp in candidates:
        for t in _unwrap(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                return [info.alias or name for name, info in t.model_fields.items()]
    return None


def _show(x: Any) -> str:
    from synthgap.scenes.limits import short_repr

    return short_repr(x)  # never the repr of a huge (alias-expanded) value


def problems_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """Turn pydantic's errors into `(field path, message)` pairs a person can act on."""
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    errors = exc.errors(include_url=False)
    for err in errors:
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "too_short" and any(
                tuple(e["loc"])[:len(loc)] == loc and len(e["loc"]) > len(loc) for e in errors):
            continue  # pydantic's echo of a failing item: the item's own error says more
        msg = err["msg"]
        if kind == "extra_forbidden":
            key = loc[-1]
            loc_parent = loc[:-1]
            keys = _keys_at(root, loc_parent) or []
            hint = suggest(str(key), keys)
            msg = f"unknown key {key!r}"
            msg += f"; did you mean {hint!r}?" if hint else ""
            if keys:
                msg += f" (valid keys: {', '.join(keys)})"
        elif kind == "missing":
            msg = "missing required key"
        elif kind == "too_short":
            need = err.get("ctx", {}).get("min_length", 1)
            msg = f"needs at least {need} item{'' if need == 1 else 's'}, got {_show(err['input'])}"
        elif kind == "literal_error":
            options = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            msg = f"expected one of {', '.join(options)}, got {_show(err['input'])}"
            hint = suggest(str(err["input"]), options)
            if hint:
                msg += f"; did you mean {hint!r}?"
        elif kind in ("distribution", "out_of_range"):
            pass  # our own messages already say what was expected and what was found
        elif kind == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif kind in ("tuple_type", "list_type"):
            msg = f"expected a list (YAML items starting with '- '), got {_show(err['input'])}"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected a mapping of keys, got {_show(err['input'])}"
        else:
            msg = msg[:1].lower() + msg[1:]
            if "input" in err and not isinstance(err["input"], dict):
                msg += f", got {_show(err['input'])}"
        item = (format_loc(loc), msg)
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
