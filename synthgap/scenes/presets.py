"""Built-in scene presets (packaged YAML in `synthgap/scenes/presets/`), all file-free.

* `turntable`: one procedural L-bracket on a turntable, camera on a hemisphere above, ring
  light; the built-in default (`default_scene()`).
* `bin`: brackets, flanged washers and hex nuts in stable resting poses, seen from above,
  with clutter.
* `conveyor`: washers and nuts lying flat on a dark belt, camera nearly straight down.

Load one with `load_preset("bin")` or `load_scene("preset:bin")` (the CLI accepts
`preset:NAME` wherever it takes a scene file).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from synthgap.scenes.errors import SceneError, suggest
from synthgap.scenes.io import parse_scene
from synthgap.scenes.schema import Scene

__all__ = ["PRESETS", "default_scene", "load_preset", "preset_path"]

#: Names of the built-in presets.
PRESETS = ("turntable", "bin", "conveyor")


def preset_path(name: str) -> Path:
    """Path of the packaged YAML of preset `name`.

    Raises:
        SceneError: unknown name (with the nearest preset name).
    """
    if name not in PRESETS:
        hint = suggest(name, PRESETS)
        msg = f"unknown preset {name!r}; presets: {', '.join(PRESETS)}"
        if hint:
            msg += f"; did you mean {hint!r}?"
        raise SceneError(f"preset:{name}", [("", msg)])
    return Path(str(files("synthgap.scenes") / "presets" / f"{name}.yaml"))


def load_preset(name: str) -> Scene:
    """The validated preset scene `name` (one of `PRESETS`)."""
    path = preset_path(name)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_scene(data, base_dir=path.parent, source=f"preset:{name}")


def default_scene() -> Scene:
    """The built-in default scene (the `turntable` preset: a procedural metal bracket)."""
    return load_preset("turntable")
