"""Shadow maps fitted to the visible region: a focused `Scene` and spot-light shadow cameras
(part of `pyrender_compat`)."""

from __future__ import annotations

import types
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from synthgap.generators.gl.pyrender_compat.core import get_pyrender

__all__ = ["focused_scene_class", "set_spot_shadow_camera", "spot_shadow_camera"]

# --------------------------------------------------------------------------- shadows


def focused_scene_class(pr: ModuleType) -> type:
    """pyrender's Scene whose `centroid`/`scale` (which size the shadow maps' cameras) can be
    pinned to the region that matters (`focus`), instead of every node's bounds: a 2 m
    support plane would spread a shadow map's 2048 texels over 5.7 m (2.8 mm each)."""

    class FocusedScene(pr.Scene):  # type: ignore[name-defined]  # pr: a module object
        focus: tuple[np.ndarray, float] | None = None

        @property
        def centroid(self) -> np.ndarray:
            return self.focus[0] if self.focus is not None else super().centroid

        @property
        def scale(self) -> float:
            return self.focus[1] if self.focus is not None else super().scale

    return FocusedScene


def spot_shadow_camera(pr: ModuleType, pose: np.ndarray,
                        focus: tuple[np.ndarray, float] | None) -> Callable[[Any, float], Any]:
    """A spot light's shadow camera whose depth range hugs the focus region.

    pyrender's spans 0.01-10 x the scene scale; its perspective depth is then so coarse at
    the parts' distance that the shader's depth bias (~0.0002-0.002 of the range) exceeds
    the parts' height and every shadow vanishes.
    """
    def camera(light: Any, scene_scale: float) -> Any:
        if focus is None:
            near, far = 0.01 * scene_scale, 10 * scene_scale
        else:
            dist = float(np.linalg.norm(np.asarray(pose)[:3, 3] - focus[0]))
            near = max(dist - focus[1], 0.02 * dist, 1e-3)
            far = dist + focus[1]
        return pr.PerspectiveCamera(znear=near, zfar=far, aspectRatio=1.0,
                                    yfov=float(np.clip(2 * light.outerConeAngle + np.pi / 16,
                                                       0.0, np.pi - 1e-3)))

    return camera


def set_spot_shadow_camera(light: Any, pose: np.ndarray,
                           focus: tuple[np.ndarray, float] | None) -> None:
    """Give the pyrender `SpotLight` `light` the shadow camera of `spot_shadow_camera`."""
    pyrender = get_pyrender()

    light._get_shadow_camera = types.MethodType(spot_shadow_camera(pyrender, pose, focus),
                                                light)
