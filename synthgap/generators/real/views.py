"""Pixel-aligned (render, real photo) pairs from a scene's pinned views (`real_views`).

An inspection cell holds the part at a known pose in front of a calibrated camera. The scene
file lists each real photo with the camera pose and part poses it was taken at
(`synthgap.scenes.schema.RealViewConfig`); `render_aligned_views` renders the same view with
the scene's intrinsics and distortion, so photo pixel (u, v) and render pixel (u, v) see the
same surface point. Geometry is pinned; appearance (materials, lights, background, sensor
effects) comes from the scene's distributions, at their midpoints or drawn with a seeded
stream (`RealViewConfig.appearance`): the appearance difference is what an adapter learns.

`sample_pinned` (pure, no OpenGL) builds the `SampleParams` of one view; the renderer is
imported only when rendering. Frames and units: those of `synthgap.generators.params` (world
+z up, metres, OpenCV camera frame, camera pose world-from-camera).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pydantic import BaseModel
from scipy.spatial.transform import Rotation

from synthgap.generators.params import (
    CameraParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
    vec5,
)
from synthgap.generators.parts.assets import PartAsset, load_parts
from synthgap.generators.sampling.sample import (
    look_at_pose,
    sample_background,
    sample_lights,
    sample_material,
    sample_sensor,
)
from synthgap.scenes.distributions import (
    ColorDist,
    FloatDist,
    IntDist,
    midpoint_color,
    midpoint_float,
)
from synthgap.scenes.schema import RealViewConfig, RealViewPartConfig, Scene, rigid_matrix

if TYPE_CHECKING:
    from synthgap.generators.gl.renderer import Renderer, RenderResult

__all__ = [
    "AlignedView",
    "iter_aligned_views",
    "iter_pinned_renders",
    "pin_midpoints",
    "pinned_camera_pose",
    "pinned_part_pose",
    "render_aligned_views",
    "sample_pinned",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class AlignedView:
    """A real photo and the render of the same view, pixel-aligned.

    Attributes:
        photo_path: the real photo (absolute path, `real_views[i].photo`).
        real: `(H, W, 3) uint8` RGB of the photo as read by `synthgap.data.read_image` (grey
            photos repeated to 3 channels, alpha dropped, 16-bit scaled to 8).
        render: `(H, W, 3) uint8` RGB render of the pinned view, with the view's sensor
            effects applied (as `synthgap render` writes images).
        instance_mask: `(H, W) uint16`; k + 1 where `params.parts[k]` (the view's
            `parts[k]`) is visible, 0 elsewhere.
        params: everything the render was made from (`sample_pinned`).
    """

    photo_path: Path
    real: np.ndarray
    render: np.ndarray
    instance_mask: np.ndarray
    params: SampleParams


def pin_midpoints(model: M) -> M:
    """A copy of a config model with every distribution fixed at its midpoint (recursively).

    Float/int/colour distributions become fixed values (`midpoint_float`, rounded for
    integers; `midpoint_color`); nested models and tuples of models are pinned too; other
    fields are kept.
    """
    updates = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        pinned = _pin(value)
        if pinned is not value:
            updates[name] = pinned
    return model.model_copy(update=updates) if updates else model


def _pin(value: Any) -> Any:
    if isinstance(value, IntDist):
        return IntDist.model_validate(round(midpoint_float(value)))
    if isinstance(value, FloatDist):
        return FloatDist.model_validate(midpoint_float(value))
    if isinstance(value, ColorDist):
        return ColorDist.model_validate(list(midpoint_color(value)))
    if isinstance(value, BaseModel):
        return pin_midpoints(value)
    if isinstance(value, tuple) and value and all(isinstance(v, BaseModel) for v in value):
        return tuple(pin_midpoints(v) for v in value)
    return value


def pinned_camera_pose(view: RealViewConfig) -> np.ndarray:
    """World-from-camera `(4, 4) float64` of a pinned view, OpenCV frame, metres.

    `camera_pose` is used as given (rotation re-orthonormalised); `rvec`/`tvec` are
    camera-from-world (x_cam = R(rvec)·x_world + tvec) and are inverted; `camera_look_at`
    goes through `sampling.look_at_pose`. Translations are scaled by `view.unit_scale`.
    """
    s = view.unit_scale
    if view.camera_pose is not None:
        return rigid_matrix(view.camera_pose, translation_scale=s)
    if view.rvec is not None and view.tvec is not None:
        R = Rotation.from_rotvec(np.asarray(view.rvec, float)).as_matrix()
        t = np.asarray(view.tvec, float) * s
        T = np.eye(4)
        T[:3, :3] = R.T
        T[:3, 3] = -R.T @ t
        return T
    la = view.camera_look_at
    if la is None:  # the schema requires one form; kept for hand-made configs
        raise ValueError("the view has no camera pose (camera_pose, rvec/tvec or "
                         "camera_look_at)")
    return look_at_pose(np.asarray(la.eye, float) * s, np.asarray(la.look_at, float) * s,
                        np.asarray(la.up, float))


def pinned_part_pose(part: RealViewPartConfig, unit_scale: float = 1.0) -> np.ndarray:
    """World-from-object `(4, 4) float64` of a pinned part, metres.

    `pose` is used as given (rotation re-orthonormalised); otherwise `position` with the
    extrinsic x, y, z Euler angles `rotation_deg` (as `parts[].rotation_deg`). Translations
    are scaled by `unit_scale` (metres per unit of the view).
    """
    if part.pose is not None:
        return rigid_matrix(part.pose, translation_scale=unit_scale)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", part.rotation_deg or (0.0, 0.0, 0.0),
                                    degrees=True).as_matrix()
    T[:3, 3] = np.asarray(part.position or (0.0, 0.0, 0.0), float) * unit_scale
    return T


def sample_pinned(scene: Scene, parts: dict[str, PartAsset], view_index: int, *,
                  seed: int) -> SampleParams:
    """The `SampleParams` of pinned view `scene.real_views[view_index]`; pure.

    Camera: the scene's intrinsics, distortion and clipping at `image` size, posed as the
    view says. Parts: the view's parts at their poses, no defects; no distractors. Materials
    (the view part's `material`, else its `parts[]` entry's), lights and background (the
    view's overrides, else the scene's) and sensor effects are taken at their distributions'
    midpoints (`appearance: midpoint`, the default) or drawn from them (`appearance:
    sample`). The only randomness is `np.random.default_rng([seed, view_index])`, consumed
    in a fixed order (materials, lights, background, sensor); with `midpoint` it only picks a
    background photo and its crop position (if `image_files` are given) and the sensor
    noise seed.

    Args:
        scene: a loaded scene with `real_views`.
        parts: its part library (`load_parts(scene)`).
        view_index: which view, `0 <= view_index < len(scene.real_views)`.
        seed: run seed, >= 0.

    Returns:
        The frozen `SampleParams` (`index = view_index`); `parts[k]` is the view's
        `parts[k]`.

    Raises:
        ValueError: no `real_views`, `view_index` out of range, negative `seed`, or a view
            part missing from `parts` (names the field `real_views[i].parts[j].part`).
    """
    n = len(scene.real_views)
    if n == 0:
        raise ValueError("the scene has no real_views; list the real photos with the camera "
                         "and part poses they were taken at (see docs/scenes.md)")
    if not 0 <= view_index < n:
        raise ValueError(f"view_index must be in [0, {n - 1}] (the scene has {n} real_views), "
                         f"got {view_index}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    view = scene.real_views[view_index]
    midpoint = view.appearance == "midpoint"
    rng = np.random.default_rng([seed, view_index])

    k = scene.intrinsics()
    cam = scene.camera
    camera = CameraParams(width=scene.image.width, height=scene.image.height, fx=k.fx, fy=k.fy,
                          cx=k.cx, cy=k.cy, distortion=vec5(cam.distortion),
                          pose=as_matrix4(pinned_camera_pose(view)), znear=cam.znear,
                          zfar=cam.zfar)

    instances = []
    for j, vp in enumerate(view.parts):
        asset = parts.get(vp.part)
        if asset is None:
            raise ValueError(f"real_views[{view_index}].parts[{j}].part: {vp.part!r} is not in "
                             f"the part library (parts: {', '.join(parts)}); build the library "
                             "with load_parts(scene)")
        mat_cfg = vp.material if vp.material is not None else scene.parts[asset.entry].material
        if midpoint:
            mat_cfg = pin_midpoints(mat_cfg)
        instances.append(PartInstanceParams(
            part=asset.name, category=asset.category,
            pose=as_matrix4(pinned_part_pose(vp, view.unit_scale)),
            material=sample_material(mat_cfg, rng, asset.appearance,
                               where=f"real_views[{view_index}].parts[{j}].material")))

    look = scene.model_copy(update={
        "lights": view.lights if view.lights is not None else scene.lights,
        "background": view.background if view.background is not None else scene.background})
    if midpoint:
        look = look.model_copy(update={
            "lights": tuple(pin_midpoints(light) for light in look.lights),
            "background": pin_midpoints(look.background),
            "sensor": pin_midpoints(look.sensor)})
    lights = sample_lights(look, camera, rng)
    background = sample_background(look, rng)
    sensor = sample_sensor(look, rng)
    return SampleParams(index=view_index, seed=seed, camera=camera, parts=tuple(instances),
                        lights=lights, background=background, distractors=(), sensor=sensor)


def _read_photo(view: RealViewConfig, index: int, size: tuple[int, int]) -> np.ndarray:
    from synthgap.data.layout import DatasetFileError, read_image

    try:
        real = read_image(view.photo)
    except DatasetFileError as exc:
        raise DatasetFileError(f"real_views[{index}].photo: {exc}") from None
    h, w = real.shape[:2]
    if (w, h) != size:
        raise DatasetFileError(
            f"real_views[{index}].photo: {view.photo} is {w}x{h} but the scene's image is "
            f"{size[0]}x{size[1]}; set image to the photos' size (photos are never resized, "
            "that would misalign them)")
    return real


def iter_pinned_renders(scene: Scene, *, seed: int = 0, renderer: Renderer | None = None,
                        parts: dict[str, PartAsset] | None = None,
                        view_indices: Sequence[int] | None = None
                        ) -> Iterator[tuple[int, SampleParams, RenderResult]]:
    """Render the pinned views `view_indices` (default all) of `scene`, one at a time.

    Yields:
        `(view index, params, RenderResult)`; the result is before sensor effects.

    Raises:
        ValueError: no `real_views`, or a renderer of another size than the scene's image.
    """
    if not scene.real_views:
        raise ValueError("the scene has no real_views; list the real photos with the camera "
                         "and part poses they were taken at (see docs/scenes.md)")
    from synthgap.generators.gl.renderer import Renderer

    size = (scene.image.width, scene.image.height)
    if renderer is not None and (renderer.width, renderer.height) != size:
        raise ValueError(f"renderer is {renderer.width}x{renderer.height} but the scene's image "
                         f"is {size[0]}x{size[1]}; pass a Renderer of the image size (or none)")
    library = parts if parts is not None else load_parts(scene)
    meshes = {name: asset.mesh for name, asset in library.items()}
    indices = range(len(scene.real_views)) if view_indices is None else view_indices
    rend = renderer if renderer is not None else Renderer(*size)
    try:
        for i in indices:
            params = sample_pinned(scene, library, i, seed=seed)
            yield i, params, rend.render(params, meshes)
    finally:
        if renderer is None:
            rend.close()


def iter_aligned_views(scene: Scene, *, seed: int = 0, renderer: Renderer | None = None,
                       parts: dict[str, PartAsset] | None = None) -> Iterator[AlignedView]:
    """Yield the `AlignedView` of each of `scene.real_views`, in order (one photo in memory
    at a time; see `render_aligned_views`)."""
    from synthgap.generators.camera.sensor import apply_sensor

    size = (scene.image.width, scene.image.height)
    for i, params, res in iter_pinned_renders(scene, seed=seed, renderer=renderer, parts=parts):
        view = scene.real_views[i]
        real = _read_photo(view, i, size)
        yield AlignedView(photo_path=view.photo, real=real,
                          render=apply_sensor(res.rgb, params.sensor),
                          instance_mask=res.instance_mask, params=params)


def render_aligned_views(scene: Scene, *, seed: int = 0, renderer: Renderer | None = None,
                         parts: dict[str, PartAsset] | None = None) -> list[AlignedView]:
    """Render every pinned view of `scene` and pair it with its real photo.

    Args:
        scene: a loaded scene (`load_scene`) with `real_views`; photos must be `image` size.
        seed: run seed for whatever the views do not pin (see `sample_pinned`).
        renderer: a `Renderer` of the scene's image size to reuse; by default one is made
            and closed.
        parts: the scene's part library if already loaded (default: `load_parts(scene)`).

    Returns:
        One `AlignedView` per `real_views` entry, in order. Deterministic: the same scene
        and seed give the same params and renders.

    Raises:
        ValueError: no `real_views`, a renderer of another size, a part missing from the
            library.
        synthgap.data.layout.DatasetFileError: a photo is missing, unreadable or not `image`
            size (the message names `real_views[i].photo` and the file).
        synthgap.generators.gl.context.GLUnavailableError: no OpenGL platform works here.
    """
    return list(iter_aligned_views(scene, seed=seed, renderer=renderer, parts=parts))
