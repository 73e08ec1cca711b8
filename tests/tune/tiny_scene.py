"""A tiny scene with pinned views (a bracket seen from four sides, 64 x 48) whose "photos"
are renders under known lights: the light fit must find those lights again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthgap.scenes import parse_scene
from synthgap.scenes.schema import Scene

W, H = 64, 48
TRUE_LIGHT = {"type": "directional", "intensity": 2.0, "temperature_k": 4500.0,
              "elevation": 50.0, "azimuth": 120.0}
TRUE_AMBIENT = [0.08, 0.08, 0.08]


def scene_data(photos: list[Path]) -> dict[str, Any]:
    views = []
    for k, photo in enumerate(photos):
        az = np.radians(35.0 + 90.0 * k)
        eye = [float(0.13 * np.cos(az)), float(0.13 * np.sin(az)), 0.09 + 0.02 * (k % 2)]
        views.append({"photo": str(photo), "camera_look_at": {"eye": eye,
                                                              "look_at": [0.0, 0.0, 0.01]},
                      "parts": [{"part": "l_bracket", "position": [0.0, 0.0, 0.0],
                                 "rotation_deg": [0.0, 0.0, 25.0 * k]}]})
    return {"image": {"width": W, "height": H},
            "camera": {"fov_deg": 40.0, "znear": 0.01, "zfar": 2.0},
            "parts": [{"procedural": "l_bracket",
                       "material": {"base_color": [0.6, 0.55, 0.5], "metallic": 0.0,
                                    "roughness": 0.9}}],
            "lights": [TRUE_LIGHT], "background": {"plane": False, "color": [0.0, 0.0, 0.0],
                                                   "ambient": TRUE_AMBIENT},
            "real_views": views}


def write_views(root: Path, n: int = 4) -> Scene:
    """Write `n` photos rendered under TRUE_LIGHT/TRUE_AMBIENT; return the scene (whose own
    lights are then a deliberately wrong guess)."""
    from PIL import Image

    from synthgap.generators.real.views import iter_pinned_renders

    photos = [root / f"view{k}.png" for k in range(n)]
    for p in photos:
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(p)
    truth = parse_scene(scene_data(photos), base_dir=root)
    for i, _, res in iter_pinned_renders(truth):
        Image.fromarray(res.rgb).save(photos[i])
    wrong = scene_data(photos)
    wrong["lights"] = [{"type": "directional", "intensity": 0.7, "elevation": 80.0,
                        "azimuth": 300.0}]
    wrong["background"]["ambient"] = [0.3, 0.3, 0.3]
    return parse_scene(wrong, base_dir=root)
