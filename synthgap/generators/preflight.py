"""Checks of a loaded scene that need the generators (not OpenGL): run by `validate`, before
`render` starts and before a job renders, so a scene that passes never crashes a render."""

from __future__ import annotations

from typing import Any

from synthgap.scenes.errors import SceneError
from synthgap.scenes.limits import image_size_problem

__all__ = ["MAX_XATLAS_FACES", "check_parts_renderable", "check_renderable"]


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


#: Most faces `material.uv: xatlas` unwraps: xatlas takes tens of seconds and then often fails
#: on bigger meshes (327k faces: 22 s, then an error); `uv: box` is instant at any size.
MAX_XATLAS_FACES = 100_000


def check_parts_renderable(scene: Any, parts: dict[str, Any], *, source: str = "scene") -> None:
    """Raise `SceneError` for a loaded part the renderer could not honour: `uv: xatlas` on a
    mesh of more than `MAX_XATLAS_FACES` faces."""
    problems = []
    for asset in parts.values():
        material = scene.parts[asset.entry].material
        faces = len(asset.mesh.faces)
        if getattr(material, "uv", "box") == "xatlas" and faces > MAX_XATLAS_FACES:
            problems.append((f"parts[{asset.entry}].material.uv", (
                f"xatlas cannot unwrap part {asset.name!r} of {faces} faces in useful time "
                f"(at most {MAX_XATLAS_FACES}); use uv: box, or simplify the mesh")))
    if problems:
        raise SceneError(source, problems)
