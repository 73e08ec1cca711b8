"""The scene-file reference as Markdown tables, generated from the schema's field docstrings.

`python -m synthgap.scenes.reference` prints it (docs/scenes.md embeds it, and
tests/scenes/test_reference.py checks that page lists every field).
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from synthgap.scenes import schema
from synthgap.scenes.distributions import ColorDist, FloatDist, IntDist

__all__ = ["SECTIONS", "field_rows", "reference_markdown"]

#: (YAML path of the section, model) in reading order.
SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("(top level)", schema.Scene),
    ("image", schema.ImageConfig),
    ("camera", schema.CameraConfig),
    ("camera.intrinsics", schema.Intrinsics),
    ("camera.pose", schema.CameraPoseConfig),
    ("parts[]", schema.PartConfig),
    ("parts[].material, distractors.material", schema.MaterialConfig),
    ("parts[].defects[]", schema.DefectConfig),
    ("parts[].rest_poses[]", schema.RestPoseConfig),
    ("lights[]", schema.LightConfig),
    ("background", schema.BackgroundConfig),
    ("distractors", schema.DistractorsConfig),
    ("sensor", schema.SensorConfig),
    ("real_views[]", schema.RealViewConfig),
    ("real_views[].camera_look_at", schema.LookAtConfig),
    ("real_views[].parts[]", schema.RealViewPartConfig),
)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " (optional)"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(tp))
    if tp == schema.Matrix4:
        return "4x4 matrix"
    if origin is tuple:
        items = typing.get_args(tp)
        if len(items) == 2 and items[1] is Ellipsis:
            return f"list of {_type_name(items[0])}"
        return f"[{', '.join(_type_name(a) for a in items)}]"
    if tp is Path:
        return "path"
    names = {FloatDist: "number dist.", IntDist: "integer dist.", ColorDist: "colour dist.",
             float: "number", int: "integer", str: "text", bool: "bool"}
    if tp in names:
        return names[tp]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _default(info: Any) -> str:
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(value, dict):
            return "see below" if len(json.dumps(value)) > 40 else f"`{json.dumps(value)}`"
    if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
        return "see below"
    if value is None:
        return "—"
    return f"`{json.dumps(value if not isinstance(value, tuple) else list(value))}`"


def field_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    """`(key, type, default, description)` for every field of `model`."""
    rows = []
    for name, info in model.model_fields.items():
        desc = " ".join((info.description or "").split()).replace("|", "\\|")
        rows.append((info.alias or name, _type_name(info.annotation), _default(info), desc))
    return rows


def reference_markdown() -> str:
    """All sections as Markdown tables."""
    out = []
    for title, model in SECTIONS:
        out.append(f"**`{title}`**\n\n| key | type | default | meaning |\n|---|---|---|---|")
        out.extend(f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in field_rows(model))
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(reference_markdown())
