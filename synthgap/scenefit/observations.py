"""What the photos show: each photo's intrinsics and the camera-frame pose of every known part.

Three sources give the same plain `PhotoObservation`s:

* a BOP scene folder (`scene_gt.json`, `scene_camera.json`, optionally `scene_gt_info.json`;
  any number of scene folders, per-image intrinsics), BOP objects matched to the template's
  parts by mesh file (or by the name `obj_XXXXXX`);
* the template scene's own `real_views`;
* a YAML file with a `real_views:` list, e.g. what `synthgap align` writes.

Frames and units: poses are camera-from-object `(4, 4)`, metres, OpenCV camera frame
(+x right, +y down, +z forward); the object frame is the mesh file's own (after units).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.scenes.bop import read_bop_scene
from synthgap.scenes.errors import SceneError
from synthgap.scenes.io import parse_scene, scene_to_yaml
from synthgap.scenes.schema import Scene

__all__ = ["FitInputError", "PartObservation", "PhotoObservation", "from_bop",
           "from_real_views", "from_views_file", "json_keys", "part_names", "rigid"]


class FitInputError(ValueError):
    """A scene-fit input is unusable: names the file, the field and the fix."""

    def __init__(self, file: str | Path, field: str, message: str) -> None:
        self.file, self.field = str(file), field
        where = f"{file}: {field}: " if field else f"{file}: "
        super().__init__(where + message)


@dataclass(frozen=True, eq=False)
class PartObservation:
    """One known part in one photo.

    Attributes:
        part: the template's part name (key of `load_parts(template)`).
        pose: `(4, 4) float64` camera-from-object, metres, OpenCV camera frame.
        visib_fract: visible fraction in [0, 1] when the source states it (BOP
            `scene_gt_info.json`), else None (measured from rendered masks later).
    """

    part: str
    pose: np.ndarray
    visib_fract: float | None = None


@dataclass(frozen=True, eq=False)
class PhotoObservation:
    """One photo and what is known about it.

    Attributes:
        photo: the photo file (absolute).
        K: `(3, 3) float64` intrinsics in pixels.
        parts: the known parts it shows.
        name: a short unique label (e.g. `000002/000003`) for messages and plate files.
    """

    photo: Path
    K: np.ndarray
    parts: tuple[PartObservation, ...]
    name: str


def part_names(template: Scene) -> dict[str, int]:
    """Template part name (its `default_name()`) -> entry index. Split STEP assemblies are
    not supported as fit targets (their bodies share one entry)."""
    return {p.default_name(): i for i, p in enumerate(template.parts)}


def _bop_label(template: Scene, model: Path, obj_id: int, gt_file: Path, where: str) -> str:
    names = part_names(template)
    for i, p in enumerate(template.parts):
        if p.mesh is not None and p.mesh.resolve() == model.resolve():
            return template.parts[i].default_name()
    guess = f"obj_{obj_id:06d}"
    if guess in names:
        return guess
    raise FitInputError(gt_file, where, f"BOP object {obj_id} ({model.name}) is not a part of "
                        f"the template; add `- {{mesh: {model}, units: mm, class: NAME}}` to its "
                        "parts (or leave the object out with --ignore-object)")


def from_bop(scene_dirs: Sequence[str | Path], template: Scene, *,
             image_ids: Iterable[int] | None = None, models_dir: str | Path | None = None,
             ignore_objects: Iterable[int] = ()) -> list[PhotoObservation]:
    """Observations of BOP scene folders (`read_bop_scene` checks their files).

    Args:
        scene_dirs: one or more BOP scene folders (e.g. `lmo/test/000002`).
        template: the scene whose parts the BOP objects are (matched by mesh file, else by
            the part name `obj_XXXXXX`).
        image_ids: only these image ids (in every folder that has them; default all).
        models_dir: BOP models folder (default: found beside the scene folders).
        ignore_objects: BOP object ids to leave out.

    Raises:
        FitInputError: an object that is not a template part, no photos; `BopFormatError`
            (a `SceneError`) for malformed BOP files.
    """
    wanted = None if image_ids is None else {int(i) for i in image_ids}
    skip = {int(i) for i in ignore_objects}
    out: list[PhotoObservation] = []
    for d in scene_dirs:
        ids = None
        if wanted is not None:
            gt = Path(d).expanduser() / "scene_gt.json"
            try:
                have = {int(k) for k in json_keys(gt)}
            except (OSError, ValueError):
                have = set(wanted)  # read_bop_scene reports the file problem
            ids = sorted(wanted & have)
            if not ids:
                continue
        bop = read_bop_scene(d, models_dir=models_dir, image_ids=ids)
        gt_file = bop.scene_dir / "scene_gt.json"
        for im in bop.images:
            parts = []
            for j, o in enumerate(im.objects):
                if o.obj_id in skip:
                    continue
                label = _bop_label(template, bop.models[o.obj_id], o.obj_id, gt_file,
                                   f"{im.image_id}[{j}].obj_id")
                pose = rigid(o.pose)
                pose[:3, 3] *= 1e-3  # BOP translations are millimetres
                parts.append(PartObservation(part=label, pose=pose, visib_fract=o.visib_fract))
            out.append(PhotoObservation(photo=im.rgb, K=im.K.copy(), parts=tuple(parts),
                                        name=f"{bop.scene_dir.name}_{im.image_id:06d}"))
    if not out:
        raise FitInputError(scene_dirs[0] if scene_dirs else "<none>", "scene_gt.json",
                            "no photos with the requested image ids; check --image-ids")
    return out


def rigid(pose: np.ndarray) -> np.ndarray:
    """A copy of a `(4, 4)` pose with its rotation re-orthonormalised (published poses are
    rounded)."""
    u, _, vt = np.linalg.svd(np.asarray(pose, float)[:3, :3])
    out = np.array(pose, float)
    out[:3, :3] = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return out


def json_keys(path: Path) -> list[str]:
    """The top-level keys of a JSON object file."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data) if isinstance(data, dict) else []


def from_real_views(scene: Scene, *, source: str | Path = "scene") -> list[PhotoObservation]:
    """Observations of a loaded scene's `real_views` (intrinsics: the scene's).

    Raises:
        FitInputError: the scene has no `real_views`, or a view names a part the scene lacks.
    """
    from synthgap.generators.real.views import pinned_camera_pose, pinned_part_pose

    if not scene.real_views:
        raise FitInputError(source, "real_views", "no real_views to fit from; give a BOP "
                            "folder (--bop) or a views file (--views, e.g. `synthgap align` "
                            "output)")
    k = scene.intrinsics()
    K = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    names = part_names(scene)
    out = []
    for i, view in enumerate(scene.real_views):
        cam = pinned_camera_pose(view)
        cam_inv = np.linalg.inv(cam)
        parts = []
        for j, vp in enumerate(view.parts):
            if vp.part not in names:
                raise FitInputError(source, f"real_views[{i}].parts[{j}].part",
                                    f"{vp.part!r} is not a part of the template (parts: "
                                    f"{', '.join(names)}); fix the name or add the part")
            pose = rigid(cam_inv @ pinned_part_pose(vp, view.unit_scale))
            parts.append(PartObservation(part=vp.part, pose=pose))
        photo = Path(view.photo)
        out.append(PhotoObservation(photo=photo, K=K, parts=tuple(parts),
                                    name=f"{i:03d}_{photo.stem}"))
    return out


def from_views_file(path: str | Path, template: Scene) -> tuple[Scene, list[PhotoObservation]]:
    """Observations of a YAML file holding `real_views:` (e.g. `synthgap align -o views.yaml`),
    photos relative to that file, with the template's parts and camera.

    Returns:
        The template with these `real_views` (validated: photo sizes, rigid poses) and its
        observations.

    Raises:
        FitInputError: missing file, not YAML, no `real_views` list; `SceneError` for an
            invalid entry (names `real_views[i]...`).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FitInputError(path, "", "no such file; give the YAML `synthgap align` wrote")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FitInputError(path, "", f"not valid YAML ({exc})") from None
    views = data.get("real_views") if isinstance(data, dict) else data
    if not isinstance(views, list) or not views:
        raise FitInputError(path, "real_views", "expected a non-empty list of {photo, "
                            "camera_pose, parts: [{part, pose}]} entries")
    base: dict[str, Any] = yaml.safe_load(scene_to_yaml(template))
    base["real_views"] = views
    try:
        scene = parse_scene(base, base_dir=path.resolve().parent, source=str(path))
    except SceneError:
        raise
    return scene, from_real_views(scene, source=path)
