"""Checks of a loaded scene that need the generators (not OpenGL): run by `validate`, before
`render` starts and before a job renders, so a scene that passes never crashes a render."""

from __future__ import annotations

from typing import Any

from synthgap.generators.look import uvs
from synthgap.scenes.errors import SceneError
from synthgap.scenes.limits import image_size_problem

__all__ = ["check_parts_renderable", "check_renderable"]


def check_renderable(scene: Any, *, source: str = "scene") -> None:
    """Raise `SceneError` (naming the field) for what the renderer could not honour.

    Checks the image size against `synthgap.scenes.limits` (a CLI or job size override
    bypasses the scene file's own check) and that the camera distortion can be inverted over
    the whole image (`synthgap.generators.camera.distortion.render_view`).
    """
    from synthgap.generators.camera.distortion import has_distortion, view_of_intrinsics

    problems = []
    width, height = scene.image.width, scene.image.height
    if bad := image_size_problem(width, height):
        problems.append(("image", bad))
    elif has_distortion(scene.camera.distortion):
        k = scene.intrinsics()
        try:
            view_of_intrinsics(width, height, float(k.fx), float(k.fy), float(k.cx), float(k.cy),
                         tuple(float(c) for c in scene.camera.distortion))
        except ValueError as exc:
            problems.append(("camera.distortion", str(exc).removeprefix("camera.distortion ")))
    problems += _real_view_problems(scene)
    if problems:
        raise SceneError(source, problems)


def _real_view_problems(scene: Any) -> list[tuple[str, str]]:
    """Pinned views whose parts cannot be seen: each part's origin must lie in front of the
    camera between `znear` and `zfar` and project near the image (within one image size),
    or its render has no part pixels to fit on."""
    import numpy as np

    from synthgap.generators.real.views import pinned_camera_pose, pinned_part_pose

    views = getattr(scene, "real_views", None) or ()
    if not views:
        return []
    k = scene.intrinsics()
    w, h = scene.image.width, scene.image.height
    near, far = scene.camera.znear, scene.camera.zfar
    problems = []
    for i, view in enumerate(views):
        try:
            cam_from_world = np.linalg.inv(pinned_camera_pose(view))
        except (ValueError, np.linalg.LinAlgError) as exc:
            problems.append((f"real_views[{i}]", f"the camera pose cannot be used ({exc})"))
            continue
        for j, part in enumerate(view.parts):
            x, y, z = (cam_from_world @ pinned_part_pose(part, view.unit_scale))[:3, 3]
            where = f"real_views[{i}].parts[{j}]"
            if not near < z < far:
                side = "behind the camera" if z <= 0 else (
                    "nearer than camera.znear" if z <= near else "beyond camera.zfar")
                problems.append((where, f"{part.part} is {z:.3g} m along the view axis, "
                                        f"{side} (znear {near:g}, zfar {far:g}): its render "
                                        "would hold no part pixels; check the poses and units"))
                continue
            u, v = k.fx * x / z + k.cx, k.fy * y / z + k.cy
            if not (-w <= u <= 2 * w and -h <= v <= 2 * h):
                problems.append((where, f"{part.part} projects to pixel ({u:.0f}, {v:.0f}), far "
                                        f"outside the {w}x{h} image: its render would hold "
                                        "no part pixels; check the poses and units"))
    return problems


def check_parts_renderable(scene: Any, parts: dict[str, Any], *, source: str = "scene") -> None:
    """Raise `SceneError` for a loaded part the renderer could not honour: `uv: xatlas` on a
    mesh of more than `uvs.MAX_XATLAS_FACES` faces."""
    problems = []
    for asset in parts.values():
        material = scene.parts[asset.entry].material
        faces = len(asset.mesh.faces)
        if getattr(material, "uv", "box") == "xatlas" and faces > uvs.MAX_XATLAS_FACES:
            problems.append((f"parts[{asset.entry}].material.uv", (
                f"xatlas cannot unwrap part {asset.name!r} of {faces} faces in useful time "
                f"(at most {uvs.MAX_XATLAS_FACES}); use uv: box, or simplify the mesh")))
    if problems:
        raise SceneError(source, problems)
