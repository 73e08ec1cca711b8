"""Bounds on what scene and job files may ask for, checked before anything is built.

Two kinds of checks:

* `check_plain_data`: the raw YAML data, before validation. A YAML alias "bomb" (a 1 KB file
  whose aliases expand to billions of values) and 5000-deep nested lists are refused by
  counting values (each alias use counted again) and nesting depth with a budget, never by
  expanding or printing them.
* `scene_limit_problems`: a validated scene's numbers that pass the schema but that a render
  cannot honour (a camera 1e-30 m from its target, a 1e300 m placement area, a near plane so
  close that depth and masks come out empty, an image too large for memory).
"""

from __future__ import annotations

import math
from typing import Any

from synthgap.data.paths import safe_name

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_IMAGES", "MAX_PIXELS", "MAX_SIDE", "MAX_VALUES",
           "check_plain_data", "image_size_problem", "scene_limit_problems", "short_repr"]

#: Largest scene or job file read (bytes).
MAX_FILE_BYTES = 8 << 20
#: Deepest nesting of lists/mappings in a scene or job file.
MAX_DEPTH = 32
#: Most values (scalars, lists, mappings; an alias counted at each use) in a scene or job file.
MAX_VALUES = 200_000
#: Largest image side and area (pixels) a scene, `render --width/--height` or a job may ask for.
MAX_SIDE = 8192
MAX_PIXELS = 4096 * 4096
#: Most images a render or job may ask for.
MAX_IMAGES = 10_000_000
#: Nearest allowed `camera.znear` (metres): closer, a depth buffer loses all its precision.
MIN_ZNEAR = 1e-4
#: Largest `camera.zfar` (metres) and |coordinate| of `look_at` / side of `area`.
MAX_WORLD_M = 1e3
#: Nearest camera distance (metres).
MIN_DISTANCE_M = 1e-3
#: Largest |coefficient| of `camera.distortion` (OpenCV's own fits stay far below).
MAX_DISTORTION = 1e4
#: Largest `sensor.blur_sigma` (pixels), as the renderer's sensor stage allows.
MAX_BLUR_SIGMA = 50.0
#: Largest texture side (pixels) uploaded to OpenGL: the GL_MAX_TEXTURE_SIZE that every
#: renderer synthgap supports (EGL, OSMesa, desktop GPUs) offers at least.
MAX_TEXTURE_SIDE = 8192
#: Largest focal length (pixels) per pixel of image side: 100 is a 0.6 degree field of view.
MAX_FOCAL_PER_SIDE = 100.0


class _Full(Exception):
    pass


def short_repr(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters, built piece by piece and stopped at the limit,
    so a huge (alias-expanded) value is never turned into text whole."""
    parts: list[str] = []
    size = 0

    def emit(text: str) -> None:
        nonlocal size
        parts.append(text)
        size += len(text)
        if size > limit:
            raise _Full

    def walk(v: Any, depth: int) -> None:
        if depth > 8:
            emit("...")
        elif isinstance(v, dict):
            emit("{")
            for i, (k, x) in enumerate(v.items()):
                emit(", " if i else "")
                walk(k, depth + 1)
                emit(": ")
                walk(x, depth + 1)
            emit("}")
        elif isinstance(v, list | tuple):
            emit("[" if isinstance(v, list) else "(")
            for i, x in enumerate(v):
                emit(", " if i else "")
                walk(x, depth + 1)
            emit("]" if isinstance(v, list) else ")")
        elif isinstance(v, str):
            emit(repr(v[: limit + 2]))
        elif isinstance(v, int | float | bool) or v is None:
            emit(repr(v))
        else:
            emit(f"<{type(v).__name__}>")

    try:
        walk(value, 0)
    except _Full:
        pass
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_plain_data(data: Any) -> str | None:
    """None when `data` (what `yaml.safe_load` returned) is within `MAX_DEPTH` and
    `MAX_VALUES`, else a one-line reason. Runs in time bounded by `MAX_VALUES`."""
    budget = MAX_VALUES
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return (f"more than {MAX_VALUES} values (counting each use of a YAML alias); a "
                    "scene or job file is a few hundred lines: remove the repeated aliases")
        if isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:
                return (f"lists or mappings nested more than {MAX_DEPTH} levels deep; no field "
                        "needs that")
            items = list(value.keys()) + list(value.values()) if isinstance(value, dict) \
                else value
            if len(items) > budget:
                return (f"more than {MAX_VALUES} values (counting each use of a YAML alias); "
                        "a scene or job file is a few hundred lines: remove the repeated aliases")
            stack.extend((v, depth + 1) for v in items)
    return None


def image_size_problem(width: int, height: int) -> str | None:
    """None when `width` x `height` can be rendered here, else why."""
    if not (8 <= width <= MAX_SIDE and 8 <= height <= MAX_SIDE):
        return f"each side must be 8..{MAX_SIDE} pixels, got {width}x{height}"
    if width * height > MAX_PIXELS:
        return (f"{width}x{height} is {width * height / 1e6:.1f} megapixels, more than the "
                f"{MAX_PIXELS / 1e6:.1f} one image may have (each render holds several float "
                "copies of it in memory); render smaller and crop or tile")
    return None


def _span(dist: Any) -> tuple[float, float]:
    """The values a distribution may draw (a normal: mean +- 6 sigma within its bounds)."""
    lo, hi = dist.support()
    if dist.kind == "normal":
        mu, sigma = dist.values
        lo, hi = max(lo, mu - 6 * sigma), min(hi, mu + 6 * sigma)
    return float(lo), float(hi)


def scene_limit_problems(scene: Any) -> list[tuple[str, str]]:
    """`(field path, message)` for each value of a validated `Scene` a render cannot honour."""
    problems: list[tuple[str, str]] = []
    if bad := image_size_problem(scene.image.width, scene.image.height):
        problems.append(("image", bad))
    cam = scene.camera
    if cam.znear < MIN_ZNEAR:
        problems.append(("camera.znear", f"{cam.znear:g} m is nearer than {MIN_ZNEAR:g} m: the "
                                         "depth buffer would lose its precision (empty masks, "
                                         "wrong depth); use e.g. 0.01"))
    if cam.zfar > MAX_WORLD_M:
        problems.append(("camera.zfar", f"{cam.zfar:g} m is beyond {MAX_WORLD_M:g} m; use a far "
                                        "plane just behind the scene (e.g. 10)"))
    for i, k in enumerate(cam.distortion):
        if not abs(k) <= MAX_DISTORTION:
            problems.append((f"camera.distortion[{i}]", f"{k:g} is beyond +-{MAX_DISTORTION:g};"
                             " OpenCV coefficients are small numbers (check the units and "
                             "the order k1, k2, p1, p2, k3)"))
    pose = cam.pose
    for i, v in enumerate(pose.look_at):
        if not abs(v) <= MAX_WORLD_M:
            problems.append((f"camera.pose.look_at[{i}]", f"{v:g} m is beyond +-"
                                                          f"{MAX_WORLD_M:g} m; use metres"))
    lo, hi = _span(pose.distance)
    if lo < max(MIN_DISTANCE_M, cam.znear) or hi >= cam.zfar:
        problems.append(("camera.pose.distance", (
            f"distances {lo:g}..{hi:g} m must lie between camera.znear ({cam.znear:g} m, and at "
            f"least {MIN_DISTANCE_M:g} m) and camera.zfar ({cam.zfar:g} m), or the parts are "
            "clipped away")))
    jlo, jhi = _span(pose.look_at_jitter)
    if max(abs(jlo), abs(jhi)) > MAX_WORLD_M:
        problems.append(("camera.pose.look_at_jitter", f"{jlo:g}..{jhi:g} m is beyond +-"
                                                       f"{MAX_WORLD_M:g} m"))
    if scene.area is not None:
        for i, a in enumerate(scene.area):
            if a > MAX_WORLD_M:
                problems.append((f"area[{i}]", f"{a:g} m is larger than {MAX_WORLD_M:g} m; the "
                                               "placement area is the size of a table or belt"))
    problems += _sensor_and_surroundings_problems(scene)
    for i, part in enumerate(scene.parts):
        if part.category is not None:
            try:
                safe_name(part.category, what="class")
            except ValueError as exc:
                problems.append((f"parts[{i}].class", str(exc).removeprefix("class: ")))
        if not all(math.isfinite(x) and abs(x) <= MAX_WORLD_M for x in part.position):
            problems.append((f"parts[{i}].position", f"beyond +-{MAX_WORLD_M:g} m"))
    return problems


def _texture_side_problem(path: Any) -> str | None:
    """None when image file `path` has sides within `MAX_TEXTURE_SIDE` (header only)."""
    from PIL import Image

    try:
        Image.MAX_IMAGE_PIXELS, old = None, Image.MAX_IMAGE_PIXELS
        try:
            with Image.open(path) as im:
                w, h = im.size
        finally:
            Image.MAX_IMAGE_PIXELS = old
    except Exception:  # an unreadable file is reported where it is read
        return None
    if max(w, h) > MAX_TEXTURE_SIDE:
        return (f"{w}x{h} pixels is larger than the {MAX_TEXTURE_SIDE} pixels a side OpenGL "
                "textures may have here; downscale it")
    return None


def _sensor_and_surroundings_problems(scene: Any) -> list[tuple[str, str]]:
    """Sensor blur, intrinsics, support plane and texture sizes a render cannot honour."""
    problems: list[tuple[str, str]] = []
    _, blur_hi = _span(scene.sensor.blur_sigma)
    if not blur_hi <= MAX_BLUR_SIGMA:
        problems.append(("sensor.blur_sigma", f"up to {blur_hi:g} px is beyond the "
                                              f"{MAX_BLUR_SIGMA:g} px a sensor blur may have"))
    k = scene.camera.intrinsics
    if k is not None:
        w, h = scene.image.width, scene.image.height
        for name, v, side in (("fx", k.fx, w), ("fy", k.fy, h)):
            if not v <= MAX_FOCAL_PER_SIDE * max(w, h):
                problems.append((f"camera.intrinsics.{name}", (
                    f"{v:g} px is more than {MAX_FOCAL_PER_SIDE:g} x the image side ({side} px): "
                    "every part would be a few pixels of one corner; check the units")))
        for name, v, side in (("cx", k.cx, w), ("cy", k.cy, h)):
            if not -side <= v <= 2 * side:
                problems.append((f"camera.intrinsics.{name}", (
                    f"{v:g} px puts the principal point far outside the {w}x{h} image; it is "
                    "near the image centre (calibrated at this image size?)")))
    bg = scene.background
    for name, v in (("plane_size", bg.plane_size), ("texture_size", bg.texture_size)):
        if not v <= MAX_WORLD_M:
            problems.append((f"background.{name}", f"{v:g} m is larger than {MAX_WORLD_M:g} m"))
    if bg.texture_image is not None and (bad := _texture_side_problem(bg.texture_image)):
        problems.append(("background.texture_image", bad))
    for i, light in enumerate(getattr(scene, "lights", ())):
        image = getattr(light, "image", None)
        if image is not None and (bad := _texture_side_problem(image)):
            problems.append((f"lights[{i}].image", bad))
    return problems
