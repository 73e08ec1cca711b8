"""From photos and hints to a scene's `real_views`: what `synthgap align` does, without click.

`align_views` runs `synthgap.poses.aligner.Aligner` on each (photo, part) and returns one
`real_views` entry per photo (`synthgap.scenes.schema.RealViewConfig` fields, plain data), so
the adaptation can render each photo's exact view and pair it pixel for pixel.

World frame of the entries: with a pose hint file, its views' camera poses are kept and the
estimated part poses are expressed in the same world frame. Without one, a photo's world
frame is its camera frame (`camera_pose` = identity), where the table plane is unknown: such
entries carry `background: {plane: false}` (no support plane is drawn in the view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh
import yaml

from synthgap.generators.params import vec4
from synthgap.poses.aligner import Aligner
from synthgap.poses.config import AlignConfig, AlignResult, BoxHint, PoseHint
from synthgap.poses.plane import PlaneConfig, RestModel, rest_model, snap_to_plane
from synthgap.poses.render import contour_overlay, project_mask
from synthgap.scenes.schema import RealViewConfig, Scene

if TYPE_CHECKING:
    from synthgap.generators.gl.renderer import Renderer

__all__ = ["DEFAULT_PLANE", "AlignedPart", "align_views", "read_pose_hints", "views_yaml"]

#: The plane step `align_views` runs by default (`synthgap align --plane auto`; docs/align.md
#: has what it measured).
DEFAULT_PLANE = PlaneConfig()


@dataclass(frozen=True, eq=False)
class AlignedPart:
    """One part aligned in one photo (for the summary and the preview).

    Attributes:
        photo: the photo file. part: the part's library name.
        result: the `AlignResult` (pose camera-from-object, metres; after the plane step
            when it ran).
        free_pose: `(4, 4)` the estimate before the plane step (None when it did not run).
        snapped: the plane step replaced the free estimate by a pose resting on the plane.
    """

    photo: Path
    part: str
    result: AlignResult
    free_pose: np.ndarray | None = None
    snapped: bool = False


def read_pose_hints(path: str | Path) -> list[RealViewConfig]:
    """Read approximate poses: a YAML file with a `real_views:` list (e.g. a previous
    `synthgap align` output, or a scene file) or the list itself, read as scene files are
    (size, depth, aliases, duplicate keys bounded), each entry validated.

    Raises:
        ValueError: the file is missing, not YAML or holds an invalid entry; one line naming
            the file and `real_views[i].field`.
    """
    from pydantic import ValidationError

    from synthgap.scenes.errors import problems_from_validation
    from synthgap.scenes.yamlio import YamlProblem, read_yaml_file

    path = Path(path)
    try:
        data = read_yaml_file(path, what="pose hint file")
    except YamlProblem as exc:
        raise ValueError(f"{path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("real_views")
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty `real_views:` list of {{photo, "
                         "camera_pose, parts: [{part, pose}]} entries (e.g. a previous "
                         "`synthgap align` output)")
    out = []
    for i, entry in enumerate(data):
        try:
            out.append(RealViewConfig.model_validate(entry))
        except ValidationError as exc:
            where, msg = problems_from_validation(exc, RealViewConfig)[0]
            raise ValueError(f"{path}: real_views[{i}]{'.' + where if where else ''}: "
                             f"{msg}") from None
    return out


def _hint_for(hints: list[RealViewConfig], photo: Path, part: str
              ) -> tuple[np.ndarray, np.ndarray, RealViewConfig]:
    """(world-from-camera, camera-from-object, the view) of `part` in `photo` from the hints
    (matched by the photo's file name)."""
    from synthgap.generators.real.views import pinned_camera_pose, pinned_part_pose

    for view in hints:
        if Path(view.photo).name != photo.name:
            continue
        for vp in view.parts:
            if vp.part == part:
                cam = pinned_camera_pose(view)
                obj = pinned_part_pose(vp, view.unit_scale)
                return cam, np.linalg.inv(cam) @ obj, view
        raise ValueError(f"--hint-pose: the entry for {photo.name} has no part {part!r} "
                         f"(it has {', '.join(p.part for p in view.parts)})")
    raise ValueError(f"--hint-pose: no real_views entry for photo {photo.name} (entries: "
                     f"{', '.join(Path(v.photo).name for v in hints)})")


def align_views(scene: Scene, photos: list[Path], parts: list[str], *,
                boxes: Sequence[Sequence[float]] | None = None,
                pose_hints: list[RealViewConfig] | None = None,
                depth: Sequence[float] | None = None, config: AlignConfig | None = None,
                seed: int = 0, preview_dir: Path | None = None, base_dir: Path | None = None,
                plane: PlaneConfig | None = DEFAULT_PLANE
                ) -> tuple[list[dict[str, Any]], list[AlignedPart]]:
    """Estimate each part's pose in each photo and build the `real_views` entries.

    Args:
        scene: the loaded scene (camera intrinsics, distortion, image size, parts).
        photos: photo files, each of the scene's `image` size.
        parts: part library names to align in every photo.
        boxes: box hints `(x, y, w, h)`, one per (photo, part), photo by photo in `parts`
            order; or None.
        pose_hints: approximate views (`read_pose_hints`); or None.
        depth: `(near, far)` metres for the sliding search when there is no hint.
        config: `AlignConfig` (default settings when None).
        seed: seed of the random stream, one child per (photo, part).
        preview_dir: write `<photo stem>_align.png` (estimated contours over the photo) here.
        base_dir: write photo paths relative to this folder (the scene file's) when they lie
            inside it, absolute otherwise.
        plane: run the plane step (`synthgap.poses.plane.snap_to_plane`) on each photo's
            parts with these settings (default: on, as `synthgap align --plane auto`); None:
            each part's free estimate.

    Returns:
        `(real_views entries as plain dicts, one AlignedPart per (photo, part))`.

    Raises:
        ValueError: unknown part, wrong number of boxes, both hint kinds, a photo of the wrong
            size, no hint and no depth (each message names the value and the fix).
    """
    from synthgap.generators.gl.renderer import Renderer
    from synthgap.generators.parts.assets import load_parts

    _check_request(photos, parts, boxes, pose_hints, depth)
    box_list = None if boxes is None else [vec4(b) for b in boxes]
    near_far = None if depth is None else (float(depth[0]), float(depth[1]))
    library = load_parts(scene)
    missing = [p for p in parts if p not in library]
    if missing:
        raise ValueError(f"--part {missing[0]!r} is not in the scene's part library (parts: "
                         f"{', '.join(library)})")
    views: list[dict[str, Any]] = []
    aligned: list[AlignedPart] = []
    rests: dict[str, RestModel] = {}
    full = Renderer(scene.image.width, scene.image.height) if preview_dir is not None else None
    try:
        with Aligner(config) as aligner:
            for i, photo_path in enumerate(photos):
                own = None if box_list is None else box_list[i * len(parts):(i + 1) * len(parts)]
                view, done, overlay = _align_photo(
                    aligner, scene, photo_path, {p: library[p].mesh for p in parts},
                    boxes=own, pose_hints=pose_hints, depth=near_far, rng_key=(seed, i),
                    preview=full, base_dir=base_dir, plane=plane, rests=rests)
                views.append(view)
                aligned += done
                if preview_dir is not None:
                    _write_png(preview_dir / f"{Path(photo_path).stem}_align.png", overlay)
    finally:
        if full is not None:
            full.close()
    return views, aligned


def _check_request(photos: list[Path], parts: list[str], boxes: Sequence[Sequence[float]] | None,
                   pose_hints: list[RealViewConfig] | None,
                   depth: Sequence[float] | None) -> None:
    """`ValueError` (naming the fix) for an `align_views` call that cannot run."""
    if not photos:
        raise ValueError("no photos given; pass one or more photo files")
    if not parts:
        raise ValueError("no part given; pass --part NAME (a part of the scene's library)")
    if boxes is not None and pose_hints is not None:
        raise ValueError("give either box hints or a pose hint file, not both")
    if boxes is not None and len(boxes) != len(photos) * len(parts):
        raise ValueError(f"got {len(boxes)} --hint-box values for {len(photos)} photo(s) x "
                         f"{len(parts)} part(s); give one box per photo and part, photo by "
                         "photo, parts in --part order")
    if boxes is not None and any(len(b) != 4 for b in boxes):
        raise ValueError("a box hint is (x, y, w, h): four numbers, pixels")
    if depth is not None and len(depth) != 2:
        raise ValueError(f"depth: expected (near, far) metres, got {tuple(depth)}")
    if boxes is None and pose_hints is None and depth is None:
        raise ValueError("no hint: give --hint-box or --hint-pose, or --depth NEAR,FAR "
                         "(metres) for a sliding search over the whole photo (slow)")


def _align_photo(aligner: Aligner, scene: Scene, photo_path: Path,
                 meshes: dict[str, trimesh.Trimesh], *,
                 boxes: list[tuple[float, float, float, float]] | None,
                 pose_hints: list[RealViewConfig] | None,
                 depth: tuple[float, float] | None, rng_key: tuple[int, int],
                 preview: Renderer | None, base_dir: Path | None,
                 plane: PlaneConfig | None = None, rests: dict[str, RestModel] | None = None
                 ) -> tuple[dict[str, Any], list[AlignedPart], np.ndarray]:
    """Align every part of `meshes` (in order) in one photo: its `real_views` entry, the
    aligned parts and the photo with their contours (when `preview` renders full frames).

    Args:
        boxes: one box hint per part, or None. pose_hints: the pose hint views (matched
            by the photo's name), or None. Neither: a sliding search over `depth`.
        rng_key: `(seed, photo index)`; part j draws from `default_rng([*rng_key, j])`.
        plane: the plane step's settings (None: free estimates). rests: resting poses per
            part name (filled on first use).
    """
    from synthgap.data.layout import read_image

    k = scene.intrinsics()
    K = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    distortion = tuple(float(d) for d in scene.camera.distortion)
    size = (scene.image.width, scene.image.height)
    photo = read_image(photo_path)
    if (photo.shape[1], photo.shape[0]) != size:
        raise ValueError(f"{photo_path}: the photo is {photo.shape[1]}x{photo.shape[0]} but "
                         f"the scene's image is {size[0]}x{size[1]}; set image to the photos' "
                         "size (photos are never resized, that would misalign them)")
    cam_pose = np.eye(4)
    hint_view = None
    entries = []
    aligned = []
    overlay = photo
    costs: list[Any] = []
    alts: list[list[np.ndarray]] = []
    for j, (part, mesh) in enumerate(meshes.items()):
        hint: BoxHint | PoseHint | None = None
        if boxes is not None:
            hint = BoxHint(boxes[j])
        elif pose_hints is not None:
            cam_pose, co, hint_view = _hint_for(pose_hints, photo_path, part)
            hint = PoseHint(co)
        res = aligner.align(photo, K, mesh, hint=hint, rng=np.random.default_rng([*rng_key, j]),
                            distortion=distortion, part=part, depth=depth)
        aligned.append(AlignedPart(photo=photo_path, part=part, result=res))
        costs.append(aligner.cost_function())
        alts.append(aligner.alternatives()[1:])
    if plane is not None:
        aligned = _on_plane(aligned, meshes, (costs, alts), K, plane,
                            {} if rests is None else rests)
    for j, ((part, mesh), a) in enumerate(zip(meshes.items(), aligned, strict=True)):
        res = a.result
        entries.append({"part": part, "pose": _rounded(cam_pose @ res.pose)})
        if preview is not None:
            mask, _ = project_mask(preview, K, distortion, mesh, res.pose, part=part)
            overlay = contour_overlay(overlay, mask, color=_COLOURS[j % 6])
    view: dict[str, Any] = {"photo": _relative(photo_path, base_dir), "units": "m",
                            "camera_pose": _rounded(cam_pose), "parts": entries}
    if hint_view is None and scene.background.plane:
        view["background"] = {"plane": False}
    elif hint_view is not None and hint_view.background is not None:
        view["background"] = hint_view.background.model_dump(mode="json", exclude_unset=True)
    return view, aligned, overlay


def _on_plane(aligned: list[AlignedPart], meshes: dict[str, trimesh.Trimesh],
              costs: tuple[list[Any], list[list[np.ndarray]]], K: np.ndarray, cfg: PlaneConfig,
              rests: dict[str, RestModel]) -> list[AlignedPart]:
    """The plane step on one photo's aligned parts (`snap_to_plane`; `costs`: each part's
    cost function and its other refined hypotheses); the free estimates kept in
    `free_pose`."""
    import time

    if len(aligned) < cfg.min_parts:  # no plane possible: skip the resting poses too
        return aligned
    t0 = time.perf_counter()
    for part, mesh in meshes.items():
        if part not in rests:
            rests[part] = rest_model(mesh, cfg)
    _, choices = snap_to_plane(K, [rests[a.part] for a in aligned],
                               [a.result.pose for a in aligned],
                               [a.result.cost for a in aligned], costs[0], cfg,
                               alternatives=costs[1])
    share = (time.perf_counter() - t0) / max(len(aligned), 1)
    return [AlignedPart(photo=a.photo, part=a.part, free_pose=a.result.pose,
                        snapped=c.snapped,
                        result=replace(a.result, pose=c.pose, cost=c.cost,
                                       renders=a.result.renders + c.evals,
                                       seconds=a.result.seconds + share))
            for a, c in zip(aligned, choices, strict=True)]


_COLOURS = ((0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0), (255, 128, 0),
            (128, 128, 255))


def _rounded(m: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 7) for v in row] for row in np.asarray(m)]


def _relative(path: Path, base: Path | None) -> str:
    """The photo path relative to `base` when it lies inside it, else absolute."""
    p = Path(path).resolve()
    if base is not None and p.is_relative_to(Path(base).resolve()):
        return str(p.relative_to(Path(base).resolve()))
    return str(p)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: could not encode the overlay PNG")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)


def views_yaml(views: list[dict[str, Any]]) -> str:
    """The `real_views:` YAML block to paste into (or merge with) the scene file."""
    head = ("# real_views estimated by `synthgap align` (silhouette/edge matching); check the\n"
            "# --preview overlays before using them. Poses: world-from-object, metres.\n")
    body: str = yaml.safe_dump({"real_views": views}, sort_keys=False, default_flow_style=None,
                               width=100)
    return head + body
