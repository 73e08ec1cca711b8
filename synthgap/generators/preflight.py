"""Checks of a loaded scene that need the generators (not OpenGL): run by `validate`, before
`render` starts and before a job renders, so a scene that passes never crashes a render."""

from __future__ import annotations

from typing import Any

from synthgap.scenes.errors import SceneError
from synthgap.scenes.limits import image_size_problem

__all__ = ["check_renderable"]


def check_renderable(scene: Any, *, source: str = "scene") -> None:
    """Raise `SceneError` (naming the field) for what the renderer could not honour.

    Checks the image size against `synthgap.scenes.limits` (a CLI or job size override
    bypasses the scene file's own check) and that the camera distortion can be inverted over
    the whole image (`synthgap.generators.distortion.render_view`).
    """
    from synthgap.generators.distortion import _render_view, has_distortion

    problems = []
    width, height = scene.image.width, scene.image.height
    if bad := image_size_problem(width, height):
        problems.append(("image", bad))
    elif has_distortion(scene.camera.distortion):
        k = scene.intrinsics()
        try:
            _render_view(width, height, float(k.fx), float(k.fy), float(k.cx), float(k.cy),
                         tuple(float(c) for c in scene.camera.distortion))
        except ValueError as exc:
            problems.append(("camera.distortion", str(exc).removeprefix("camera.distortion ")))
    if problems:
        raise SceneError(source, problems)
