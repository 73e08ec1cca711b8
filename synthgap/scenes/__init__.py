"""Scene files: the validated, frozen description of what to render and how it varies.

Public API::

    load_scene(path | "preset:NAME") -> Scene     # YAML file -> validated Scene (SceneError)
    parse_scene(data, base_dir=..., source=...)   # same from plain data
    scene_to_yaml(scene) -> str                   # round-trips through load_scene
    default_scene() -> Scene                      # built-in default (procedural bracket)
    presets.PRESETS, presets.load_preset(name)    # turntable, bin, conveyor

Pinned real views (`Scene.real_views`: photos with the camera and part poses they were taken
at) are rendered pixel-aligned by `synthgap.generators.real.views.render_aligned_views`.

Distribution sampling lives in `synthgap.scenes.distributions` (`sample_float`,
`sample_int`, `sample_color`, all pure with an `rng` keyword).
"""

from synthgap.scenes import presets
from synthgap.scenes.distributions import ColorDist, FloatDist, IntDist
from synthgap.scenes.errors import SceneError
from synthgap.scenes.io import load_scene, parse_scene, scene_to_yaml
from synthgap.scenes.presets import PRESETS, default_scene, load_preset
from synthgap.scenes.schema import (
    BackgroundConfig,
    CameraConfig,
    CameraPoseConfig,
    DefectConfig,
    DistractorsConfig,
    ImageConfig,
    Intrinsics,
    LightConfig,
    LookAtConfig,
    MaterialConfig,
    PartConfig,
    RealViewConfig,
    RealViewPartConfig,
    Scene,
    SensorConfig,
)

__all__ = [
    "PRESETS",
    "BackgroundConfig",
    "CameraConfig",
    "CameraPoseConfig",
    "ColorDist",
    "DefectConfig",
    "DistractorsConfig",
    "FloatDist",
    "ImageConfig",
    "IntDist",
    "Intrinsics",
    "LightConfig",
    "LookAtConfig",
    "MaterialConfig",
    "PartConfig",
    "RealViewConfig",
    "RealViewPartConfig",
    "Scene",
    "SceneError",
    "SensorConfig",
    "default_scene",
    "load_preset",
    "load_scene",
    "parse_scene",
    "presets",
    "scene_to_yaml",
]
