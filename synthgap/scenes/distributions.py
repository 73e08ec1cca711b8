"""Value distributions of scene files: what a variable parameter may be written as.

Every variable parameter of a scene file accepts one of these forms:

=====================  ==========================  =========================================
form                   example                     meaning
=====================  ==========================  =========================================
fixed                  ``0.8``                     always this value
uniform                ``[0.2, 0.6]``              uniform on ``[lo, hi]`` (integers: both
                                                   ends included)
normal                 ``{normal: [0.5, 0.1]}``    Gaussian ``(mu, sigma)``, clipped to the
                                                   field's allowed range
choice                 ``{choice: [0.2, 0.9]}``    one of the listed values, equally likely
=====================  ==========================  =========================================

Colours (linear RGB in [0, 1]) accept:

* a fixed RGB ``[0.7, 0.7, 0.72]``;
* a box ``[[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]]`` (two RGBs: each channel uniform between them);
* ``{choice: [[0.7, 0.7, 0.72], [0.5, 0.5, 0.55]]}``;
* a grey level ``{gray: X}`` where ``X`` is any scalar form above (r = g = b = X).

The models here are frozen pydantic models that keep the parsed form and serialise back to
the short form the user wrote. Sampling is a pure function of the distribution and an
``rng: np.random.Generator`` keyword (`sample_float`, `sample_int`, `sample_color`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from synthgap.scenes.errors import suggest

__all__ = [
    "Bounded",
    "ColorDist",
    "FloatDist",
    "IntDist",
    "midpoint_color",
    "midpoint_float",
    "sample_color",
    "sample_float",
    "sample_int",
]

_FORMS = "a number, a range [lo, hi], {normal: [mu, sigma]} or {choice: [...]}"
_COLOR_FORMS = ("an RGB [r, g, b], a box [[r, g, b], [r, g, b]], {choice: [[r, g, b], ...]} "
                "or {gray: X}")


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _bad(expected: str, got: Any) -> PydanticCustomError:
    hint = ""
    if isinstance(got, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", got.strip()):
        mant, _, exp = got.strip().lower().partition("e")
        fixed = f"{mant if '.' in mant else mant + '.0'}e{exp if exp[0] in '+-' else '+' + exp}"
        hint = f" (YAML reads {got} as text: write {fixed}, with a dot and a sign)"
    return PydanticCustomError("distribution", "expected {expected}, got {got}{hint}",
                               {"expected": expected, "got": _show(got), "hint": hint})


def _show(x: Any) -> str:
    from synthgap.scenes.limits import short_repr

    return short_repr(x)  # never the repr of a huge (alias-expanded) value


class _Dist(BaseModel):
    """Base: `kind` and its `values`; `low`/`high` are the field's allowed range (clipping)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fixed", "uniform", "normal", "choice"]
    values: tuple[float, ...]
    low: float | None = None
    high: float | None = None

    @model_serializer
    def _short_form(self) -> Any:
        v = [self._out(x) for x in self.values]
        if self.kind == "fixed":
            return v[0]
        if self.kind == "uniform":
            return v
        return {self.kind: v}

    @staticmethod
    def _out(x: float) -> float | int:
        return x

    @classmethod
    def _parse(cls, raw: Any, integer: bool) -> dict[str, Any]:
        if isinstance(raw, cls):
            return raw.model_dump_full()
        what, plural = ("an integer", "integers") if integer else ("a number", "numbers")
        forms = _FORMS.replace("a number", what)
        if _is_number(raw):
            if integer and float(raw) != int(raw):
                raise _bad(forms, raw)
            return {"kind": "fixed", "values": (raw,)}
        if isinstance(raw, list | tuple):
            if len(raw) != 2 or not all(_is_number(x) for x in raw):
                raise _bad(forms, raw)
            lo, hi = raw
            if integer and (float(lo) != int(lo) or float(hi) != int(hi)):
                raise _bad(forms, raw)
            if lo > hi:
                raise PydanticCustomError(
                    "distribution", "range [lo, hi] needs lo <= hi, got {got}", {"got": _show(raw)})
            return {"kind": "uniform", "values": (lo, hi)}
        if isinstance(raw, dict) and len(raw) == 1:
            ((key, val),) = raw.items()
            if key == "normal":
                if (not isinstance(val, list | tuple) or len(val) != 2
                        or not all(_is_number(x) for x in val)):
                    raise _bad("{normal: [mu, sigma]} with two numbers", raw)
                if val[1] < 0:
                    raise PydanticCustomError(
                        "distribution", "normal sigma must be >= 0, got {got}", {"got": val[1]})
                return {"kind": "normal", "values": tuple(val)}
            if key == "choice":
                if (not isinstance(val, list | tuple) or not val
                        or not all(_is_number(x) for x in val)):
                    raise _bad(f"{{choice: [...]}} with a non-empty list of {plural}", raw)
                if integer and any(float(x) != int(x) for x in val):
                    raise _bad(f"{{choice: [...]}} with a non-empty list of {plural}", raw)
                return {"kind": "choice", "values": tuple(val)}
            hint = {"uniform": "; write a uniform range as [lo, hi]",
                    "range": "; write a uniform range as [lo, hi]"}.get(str(key), "")
            close = suggest(str(key), ("normal", "choice"))
            if close and not hint:
                hint = f"; did you mean {close!r}?"
            raise PydanticCustomError(
                "distribution", "unknown distribution {spec}; expected {forms}{hint}",
                {"spec": f"{{{key}: ...}}", "forms": forms, "hint": hint})
        raise _bad(forms, raw)

    def model_dump_full(self) -> dict[str, Any]:
        return {"kind": self.kind, "values": self.values, "low": self.low, "high": self.high}

    def support(self) -> tuple[float, float]:
        """The smallest interval that holds every value this distribution can draw."""
        if self.kind == "normal":
            lo = -math.inf if self.low is None else self.low
            hi = math.inf if self.high is None else self.high
            return lo, hi
        return min(self.values), max(self.values)


class FloatDist(_Dist):
    """A real-valued distribution (see the module docstring for the forms)."""

    @model_validator(mode="before")
    @classmethod
    def _parse_raw(cls, raw: Any) -> Any:
        return cls._parse(raw, integer=False)

    @staticmethod
    def _out(x: float) -> float | int:
        return float(x)


class IntDist(_Dist):
    """An integer distribution: uniform `[lo, hi]` includes both ends; normal draws are rounded."""

    @model_validator(mode="before")
    @classmethod
    def _parse_raw(cls, raw: Any) -> Any:
        return cls._parse(raw, integer=True)

    @staticmethod
    def _out(x: float) -> float | int:
        return int(x)


class Bounded:
    """Annotation that checks a distribution stays in `[low, high]` and records it for clipping.

    Used as ``Annotated[FloatDist, AfterValidator(Bounded(0, 1))]``. A fixed value, both ends
    of a range and every choice must lie inside; a normal's mean must lie inside and its draws
    are clipped (to `low + 1e-6` when the lower end is open).
    """

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 open_low: bool = False):
        self.low, self.high, self.open_low = low, high, open_low

    def __call__(self, dist: _Dist) -> _Dist:
        vals = dist.values[:1] if dist.kind == "normal" else dist.values
        for v in vals:
            too_low = self.low is not None and (v <= self.low if self.open_low else v < self.low)
            too_high = self.high is not None and v > self.high
            if too_low or too_high:
                raise PydanticCustomError(
                    "out_of_range", "value {value} is outside the allowed range {rng}",
                    {"value": v, "rng": self.describe()})
        # normal draws are clipped to [low, high]; an open lower end (a positive quantity such
        # as a distance or a size) clips to a millionth of a unit above it instead
        low = self.low + 1e-6 if self.open_low and self.low is not None else self.low
        return dist.model_copy(update={"low": low, "high": self.high})

    def describe(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{'(' if self.open_low or self.low is None else '['}{lo}, {hi}]"


def sample_float(dist: FloatDist, *, rng: np.random.Generator) -> float:
    """One draw of `dist`, a Python float (clipped to the field's range for `normal`)."""
    v = dist.values
    if dist.kind == "fixed":
        return float(v[0])
    if dist.kind == "uniform":
        return float(rng.uniform(v[0], v[1]))
    if dist.kind == "choice":
        return float(v[int(rng.integers(len(v)))])
    x = float(rng.normal(v[0], v[1]))
    lo = -math.inf if dist.low is None else dist.low
    hi = math.inf if dist.high is None else dist.high
    return float(min(max(x, lo), hi))


def sample_int(dist: IntDist, *, rng: np.random.Generator) -> int:
    """One draw of `dist`, a Python int (uniform includes both ends; normal is rounded)."""
    v = dist.values
    if dist.kind == "fixed":
        return int(v[0])
    if dist.kind == "uniform":
        return int(rng.integers(int(v[0]), int(v[1]) + 1))
    if dist.kind == "choice":
        return int(v[int(rng.integers(len(v)))])
    x = round(float(rng.normal(v[0], v[1])))
    if dist.low is not None:
        x = max(x, math.ceil(dist.low))
    if dist.high is not None:
        x = min(x, math.floor(dist.high))
    return int(x)


class ColorDist(BaseModel):
    """A colour distribution over linear RGB in [0, 1] (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fixed", "box", "choice", "gray"]
    colors: tuple[tuple[float, float, float], ...] = ()
    gray: FloatDist | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse_raw(cls, raw: Any) -> Any:
        if isinstance(raw, cls):
            return {"kind": raw.kind, "colors": raw.colors, "gray": raw.gray}

        def rgb(x: Any) -> tuple[float, float, float]:
            if (not isinstance(x, list | tuple) or len(x) != 3
                    or not all(_is_number(c) for c in x)):
                raise _bad(_COLOR_FORMS, raw)
            if not all(0.0 <= c <= 1.0 for c in x):
                raise PydanticCustomError(
                    "out_of_range", "colour channels must be in [0, 1] (linear RGB), got {got}",
                    {"got": _show(x)})
            return (float(x[0]), float(x[1]), float(x[2]))

        if isinstance(raw, list | tuple):
            if len(raw) == 3 and all(_is_number(c) for c in raw):
                return {"kind": "fixed", "colors": (rgb(raw),)}
            if len(raw) == 2 and all(isinstance(c, list | tuple) for c in raw):
                lo, hi = rgb(raw[0]), rgb(raw[1])
                if any(a > b for a, b in zip(lo, hi, strict=True)):
                    raise PydanticCustomError(
                        "distribution", "colour box [[lo], [hi]] needs lo <= hi per channel, "
                        "got {got}", {"got": _show(raw)})
                return {"kind": "box", "colors": (lo, hi)}
            raise _bad(_COLOR_FORMS, raw)
        if isinstance(raw, dict) and len(raw) == 1:
            ((key, val),) = raw.items()
            if key == "choice":
                if not isinstance(val, list | tuple) or not val:
                    raise _bad(_COLOR_FORMS, raw)
                return {"kind": "choice", "colors": tuple(rgb(c) for c in val)}
            if key in ("gray", "grey"):
                dist = Bounded(0.0, 1.0)(FloatDist.model_validate(val))
                return {"kind": "gray", "gray": dist}
        raise _bad(_COLOR_FORMS, raw)

    @model_serializer
    def _short_form(self) -> Any:
        cols = [list(c) for c in self.colors]
        if self.kind == "fixed":
            return cols[0]
        if self.kind == "box":
            return cols
        if self.kind == "choice":
            return {"choice": cols}
        assert self.gray is not None  # guaranteed by parsing
        return {"gray": self.gray.model_dump()}


def sample_color(dist: ColorDist, *, rng: np.random.Generator) -> tuple[float, float, float]:
    """One RGB draw of `dist`: a tuple of three floats in [0, 1]."""
    if dist.kind == "fixed":
        c = dist.colors[0]
    elif dist.kind == "box":
        lo, hi = np.asarray(dist.colors[0]), np.asarray(dist.colors[1])
        c = tuple(rng.uniform(lo, hi))
    elif dist.kind == "choice":
        c = dist.colors[int(rng.integers(len(dist.colors)))]
    else:
        assert dist.gray is not None
        g = sample_float(dist.gray, rng=rng)
        c = (g, g, g)
    return (float(c[0]), float(c[1]), float(c[2]))


def midpoint_float(dist: FloatDist | IntDist) -> float:
    """The middle of `dist`, no randomness: fixed: the value; range: its centre; normal: mu
    (clipped to the field's range); choice: the first option."""
    v = dist.values
    if dist.kind == "uniform":
        return 0.5 * (float(v[0]) + float(v[1]))
    if dist.kind == "normal":
        lo = -math.inf if dist.low is None else dist.low
        hi = math.inf if dist.high is None else dist.high
        return float(min(max(float(v[0]), lo), hi))
    return float(v[0])  # fixed, or the first option of a choice


def midpoint_color(dist: ColorDist) -> tuple[float, float, float]:
    """The middle of a colour distribution: a box's centre, a choice's first colour, the
    midpoint grey of `{gray: X}` (see `midpoint_float`)."""
    if dist.kind == "box":
        lo, hi = dist.colors
        return (0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2]))
    if dist.kind == "gray":
        assert dist.gray is not None  # guaranteed by parsing
        g = midpoint_float(dist.gray)
        return (g, g, g)
    c = dist.colors[0]
    return (float(c[0]), float(c[1]), float(c[2]))
