"""Types and bounds of every adapter option (`--set KEY=VALUE`, a job's `adapt.options`).

Checked before an adapter is built (`make_image_adapter`), so a typo'd number is a one-line
error naming the option, and no option can ask for terabytes (`n_pairs: 1e10`, a
`hidden: [1e8]` layer) or hours of work. The bounds are far beyond every useful setting.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["OPTION_BOUNDS", "check_option"]

#: option -> (kind, low, high); kind `int`, `float`, `ints` (a list of ints), `bool`. Options
#: that share their bounds share a row.
OPTION_BOUNDS: dict[str, tuple[str, float, float]] = {
    **dict.fromkeys(("n_pairs", "iterations", "pretrain_iterations"), ("int", 1, 1_000_000)),
    "batch_size": ("int", 1, 65_536),
    "kernel": ("int", 1, 31),
    "patch_size": ("int", 8, 512),
    "stride": ("int", 1, 512),
    "pixels_per_image": ("int", 1, 10_000_000),
    "seed": ("int", 0, 2**32 - 1),
    "hidden": ("ints", 1, 1024),
    "hidden_sizes": ("ints", 1, 4096),
    "learning_rate": ("float", 1e-12, 1e30),  # too high: NaN weights, refused at save
    **dict.fromkeys(("rho", "residual_scale", "fine_tune_lr_scale"), ("float", 0.0, 1.0)),
    **dict.fromkeys(("beta", "lam", "gamma", "moment_weight"), ("float", 0.0, 1e6)),
    **dict.fromkeys(("residual", "blur", "jpeg", "noise", "tone", "vignetting",
                     "white_balance"), ("bool", 0, 1)),
}
_MAX_LAYERS = 8


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_option(key: str, value: Any) -> None:
    """Raise ValueError (`options.KEY: expected ..., got ...`) for a value of the wrong type
    or out of bounds; options without an entry in `OPTION_BOUNDS` are left to the method."""
    if key not in OPTION_BOUNDS or (key == "pretrain_iterations" and value is None):
        return
    kind, lo, hi = OPTION_BOUNDS[key]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        ok, want = isinstance(value, bool), "true or false"
    elif kind == "int":
        ok, want = is_int and lo <= value <= hi, f"a whole number {lo:g}..{hi:g}"
    elif kind == "float":
        ok = (is_int or isinstance(value, float)) and math.isfinite(value) and lo <= value <= hi
        want = f"a number {lo:g}..{hi:g}"
    else:
        ok = isinstance(value, list | tuple) and 1 <= len(value) <= _MAX_LAYERS and all(
            isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in value)
        want = f"a list of 1..{_MAX_LAYERS} whole numbers {lo:g}..{hi:g}"
    if not ok:
        raise ValueError(f"options.{key}: expected {want}, got {_short(value)}")
