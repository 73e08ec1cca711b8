"""Scene files in and out: `load_scene`, `parse_scene`, `scene_to_yaml`.

Paths in a scene file (part meshes, `camera.calibration`, `background.images`,
`background.image_files`, `real_views[].photo` and `real_views[].background.*`) are relative
to the scene file's folder (or absolute; `~` expands).
A loaded `Scene` holds absolute paths, so `scene_to_yaml` writes absolute paths and the YAML
written next to a dataset loads again from anywhere on the same machine.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synthgap.data.layout import IMAGE_SUFFIXES
from synthgap.scenes.errors import SceneError, problems_from_validation, suggest, yaml_problem
from synthgap.scenes.limits import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    check_plain_data,
    scene_limit_problems,
)
from synthgap.scenes.schema import MESH_SUFFIXES, BackgroundConfig, Intrinsics, Scene

__all__ = ["IMAGE_SUFFIXES", "load_scene", "parse_scene", "photo_size", "scene_to_yaml"]

def load_scene(path: str | Path) -> Scene:
    """Read, validate and resolve a scene file.

    Args:
        path: a YAML scene file, or `"preset:NAME"` for a built-in preset
            (`synthgap.scenes.presets.PRESETS`).

    Returns:
        The frozen `Scene`, with absolute paths and calibration files read.

    Raises:
        SceneError: the file is missing, not YAML, or not a valid scene; the message names the
            file and the field path (and the nearest valid key for a typo).
    """
    if isinstance(path, str) and path.startswith("preset:"):
        from synthgap.scenes.presets import load_preset

        return load_preset(path.removeprefix("preset:"))
    path = Path(path).expanduser()
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise SceneError(str(path), [("", f"scene file not found{hint}")])
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SceneError(str(path), [("", f"the file is {size / 1e6:.1f} MB; scene files are "
                                              f"limited to {MAX_FILE_BYTES >> 20} MB (is it "
                                              "really a scene file?)")])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(str(path), [("", f"cannot read the file ({exc})")]) from exc
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise SceneError(str(path), [("", f"lists or mappings nested too deeply (more than "
                                          f"{MAX_DEPTH} levels); no field needs that")]) from None
    except yaml.YAMLError as exc:
        raise SceneError(str(path), [("", yaml_problem(exc))]) from exc
    return parse_scene(data, base_dir=path.resolve().parent, source=str(path))


def parse_scene(data: Any, *, base_dir: str | Path, source: str = "<dict>") -> Scene:
    """Validate a scene given as plain data (what `yaml.safe_load` returns).

    Args:
        data: the scene as a mapping.
        base_dir: folder that relative paths are resolved against.
        source: name used in error messages (the file name).

    Raises:
        SceneError: naming `source` and the field path of every problem.
    """
    if data is None:
        raise SceneError(source, [("", "the scene file is empty")])
    if not isinstance(data, dict):
        raise SceneError(source, [("", f"expected a mapping of keys at the top level, "
                                       f"got {type(data).__name__}")])
    if too_big := check_plain_data(data):  # before anything expands or prints the data
        raise SceneError(source, [("", too_big)])
    base = Path(base_dir)
    data = _resolve_paths(data, base)
    try:
        scene = Scene.model_validate(data)
    except ValidationError as exc:
        raise SceneError(source, problems_from_validation(exc, Scene)) from None
    problems: list[tuple[str, str]] = scene_limit_problems(scene)
    if problems:
        raise SceneError(source, problems)
    scene = _check_files(scene, problems, image_given="image" in data)
    if problems:
        raise SceneError(source, problems)
    return scene


def scene_to_yaml(scene: Scene) -> str:
    """The validated scene as YAML; `load_scene` of it gives an equal `Scene`.

    Paths are absolute (as held by the loaded scene). Calibration files were read at load time,
    so their values appear as `camera.intrinsics`/`camera.distortion`.
    """
    data = scene.model_dump(mode="json", by_alias=True, exclude_none=True)
    # write only what matters for each entry (the rest are defaults that loading restores)
    data["lights"] = [{k: v for k, v in d.items() if k in light.relevant_keys()}
                      for d, light in zip(data["lights"], scene.lights, strict=True)]
    for d, part in zip(data["parts"], scene.parts, strict=True):
        if part.mesh is None or part.mesh.suffix.lower() not in (".step", ".stp"):
            d.pop("select", None)
            d.pop("assembly", None)
        if part.placement != "fixed":
            d.pop("position", None)
            d.pop("rotation_deg", None)
        if "yaw_deg" not in part.model_fields_set:
            d.pop("yaw_deg", None)  # the default draws yaw as it always has (same images)
        if not part.rest_poses:
            d.pop("rest_poses", None)
    _trim_background(data.get("background", {}))
    for d, view in zip(data.get("real_views", []), scene.real_views, strict=True):
        if view.lights is not None:
            d["lights"] = [{k: v for k, v in ld.items() if k in light.relevant_keys()}
                           for ld, light in zip(d["lights"], view.lights, strict=True)]
        _trim_background(d.get("background", {}))
    if not scene.real_views:
        data.pop("real_views", None)
    header = "# synthgap scene (validated; paths are absolute)\n"
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    return header + text


def _trim_background(bg: dict[str, Any]) -> None:
    if bg.get("images") is not None:
        bg.pop("image_files", None)  # re-listed from the folder at load time


def _abs(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value.strip() and "\x00" not in value:
        try:
            p = Path(value).expanduser()
        except RuntimeError:  # `~nosuchuser/...`: left as written, reported as not found
            p = Path(value)
        p = p if p.is_absolute() else base / p
        try:
            return str(p.resolve())
        except (OSError, RuntimeError):  # a symbolic link loop: reported by _check_files
            return str(p)
    return value


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """A copy of `data` whose path fields are absolute (wrong types are left for validation)."""
    data = dict(data)
    parts = data.get("parts")
    if isinstance(parts, list):
        data["parts"] = [
            {**p, "mesh": _abs(p["mesh"], base)} if isinstance(p, dict) and "mesh" in p else p
            for p in parts]
    if isinstance(data.get("lights"), list):
        data["lights"] = _resolve_lights(data["lights"], base)
    cam = data.get("camera")
    if isinstance(cam, dict) and "calibration" in cam:
        data["camera"] = {**cam, "calibration": _abs(cam["calibration"], base)}
    if isinstance(data.get("background"), dict):
        data["background"] = _resolve_background(data["background"], base)
    views = data.get("real_views")
    if isinstance(views, list):
        out = []
        for v in views:
            if isinstance(v, dict):
                v = dict(v)
                if "photo" in v:
                    v["photo"] = _abs(v["photo"], base)
                if isinstance(v.get("background"), dict):
                    v["background"] = _resolve_background(v["background"], base)
                if isinstance(v.get("lights"), list):
                    v["lights"] = _resolve_lights(v["lights"], base)
            out.append(v)
        data["real_views"] = out
    return data


def _resolve_lights(lights: list[Any], base: Path) -> list[Any]:
    return [{**light, "image": _abs(light["image"], base)}
            if isinstance(light, dict) and "image" in light else light for light in lights]


def _resolve_background(bg: dict[str, Any], base: Path) -> dict[str, Any]:
    bg = dict(bg)
    if "images" in bg:
        bg["images"] = _abs(bg["images"], base)
    if isinstance(bg.get("image_files"), list):
        bg["image_files"] = [_abs(f, base) for f in bg["image_files"]]
    if "texture_image" in bg:
        bg["texture_image"] = _abs(bg["texture_image"], base)
    return bg


def _check_files(scene: Scene, problems: list[tuple[str, str]], *, image_given: bool) -> Scene:
    """Check that referenced files exist; read calibration; list background photos."""
    for i, part in enumerate(scene.parts):
        if part.mesh is None:
            continue
        where = f"parts[{i}].mesh"
        if not part.mesh.exists():
            loop = part.mesh.is_symlink() or any(p.is_symlink() for p in part.mesh.parents)
            problems.append((where, f"file not found: {part.mesh}" + (
                " (a symbolic link on the way is dangling or points back to itself)"
                if loop else "")))
        elif not part.mesh.is_file():
            problems.append((where, f"not a file: {part.mesh}"))
        elif part.mesh.suffix.lower() not in MESH_SUFFIXES:
            problems.append((where, f"unsupported mesh format {part.mesh.suffix!r} "
                                    f"(supported: {', '.join(MESH_SUFFIXES)})"))
    names = [p.default_name() for p in scene.parts]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((f"parts[{i}].name", f"part name {name!r} is used by "
                                                 f"parts[{names.index(name)}] too; give each "
                                                 "entry a distinct name"))
    _check_light_images(scene.lights, "lights", problems)
    for i, view in enumerate(scene.real_views):
        _check_light_images(view.lights or (), f"real_views[{i}].lights", problems)
    scene = scene.model_copy(update={
        "background": _list_background(scene.background, "background", problems)})
    if scene.camera.calibration is not None:
        scene = _apply_calibration(scene, problems, image_given=image_given)
    if scene.real_views:
        scene = _check_real_views(scene, problems)
    return scene


def _list_background(bg: BackgroundConfig, where: str,
                     problems: list[tuple[str, str]]) -> BackgroundConfig:
    """`bg` with `image_files` listed from `images`; missing or unreadable files reported."""
    listed = False  # image_files came from the `images` folder
    if bg.images is not None:
        if bg.image_files:
            problems.append((f"{where}.image_files",
                             "give either images (a folder) or image_files (a list), not both"))
        elif not bg.images.is_dir():
            problems.append((f"{where}.images", f"folder not found: {bg.images}"))
        else:
            files = tuple(sorted(p for p in bg.images.iterdir()
                                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
            if not files:
                problems.append((f"{where}.images", f"no images ({', '.join(IMAGE_SUFFIXES)}) "
                                                    f"in {bg.images}"))
            bg = bg.model_copy(update={"image_files": files})
            listed = True
    if bg.texture_image is not None:
        if bg.texture != "none":
            problems.append((f"{where}.texture_image", f"give either texture ({bg.texture}) or "
                                                       "texture_image, not both"))
        elif not bg.texture_image.is_file():
            problems.append((f"{where}.texture_image", f"file not found: {bg.texture_image}"))
        elif bad := _unreadable_image(bg.texture_image):
            problems.append((f"{where}.texture_image", f"{bad}; replace the file"))
    for j, f in enumerate(bg.image_files):
        if not f.is_file():
            problems.append((f"{where}.image_files[{j}]", f"file not found: {f}"))
        elif bad := _unreadable_image(f):
            # checked here, before anything is rendered, not by a worker half-way through a run
            field = f"{where}.images" if listed else f"{where}.image_files[{j}]"
            problems.append((field, f"{bad}; replace or remove the file"))
    return bg


def _check_light_images(lights: Any, where: str, problems: list[tuple[str, str]]) -> None:
    """An environment light's `image` exists and is a readable image."""
    for i, light in enumerate(lights):
        if light.image is None:
            continue
        field = f"{where}[{i}].image"
        if not light.image.is_file():
            problems.append((field, f"file not found: {light.image}"
                             + (" (it is a folder)" if light.image.is_dir() else "")))
        elif light.image.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append((field, f"{light.image}: unsupported image format "
                                    f"{light.image.suffix!r} (supported: "
                                    f"{', '.join(IMAGE_SUFFIXES)}; a link is followed to "
                                    "its target)"))
        elif bad := _unreadable_image(light.image):
            problems.append((field, f"{bad}; replace the file"))
        elif (mode := _image_mode(light.image)) in ("F", "I", "I;32", "I;32B", "I;32L"):
            problems.append((field, f"{light.image}: {mode!r} pixels (float or 32-bit); an "
                                    "environment photo must be an 8- or 16-bit image: save it "
                                    "as an 8/16-bit PNG or TIFF"))


def _image_mode(path: Path) -> str:
    """PIL's pixel mode of a readable image (`RGB`, `I;16`, `F`, ...)."""
    from PIL import Image

    with Image.open(path) as im:
        return str(im.mode)


def _unreadable_image(path: Path) -> str | None:
    """None when `path` is an image PIL can identify and whose structure verifies, else why.

    Checks the header and the file structure (PNG chunk CRCs) without decoding the pixels.
    """
    from PIL import Image, UnidentifiedImageError

    from synthgap.data.layout import image_header_problem

    if too_big := image_header_problem(path):
        return too_big
    try:
        with Image.open(path) as im:
            im.verify()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return f"not a readable image: {path} ({exc})"
    return None


def photo_size(path: Path) -> tuple[int, int]:
    """`(width, height)` of an image file from its header (the pixels are not decoded).

    Raises:
        ValueError: not a readable image (the message names the file).
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image: {path} ({exc})") from None


def _check_real_views(scene: Scene, problems: list[tuple[str, str]]) -> Scene:
    """Photos exist, are images of the `image` size; part names name parts of the scene."""
    names = [p.default_name() for p in scene.parts]
    size = (scene.image.width, scene.image.height)
    views = []
    for i, view in enumerate(scene.real_views):
        where = f"real_views[{i}]"
        photo = view.photo
        if not photo.is_file():
            problems.append((f"{where}.photo", f"file not found: {photo}"
                             + (" (it is a folder)" if photo.is_dir() else "")))
        elif photo.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append((f"{where}.photo", f"unsupported image format {photo.suffix!r} "
                                               f"(supported: {', '.join(IMAGE_SUFFIXES)})"))
        else:
            try:
                got = photo_size(photo)
            except ValueError as exc:
                problems.append((f"{where}.photo", str(exc)))
            else:
                if got != size:
                    problems.append((f"{where}.photo", (
                        f"{photo} is {got[0]}x{got[1]} but image is {size[0]}x{size[1]}; "
                        "photos are not resized (that would misalign them): set image to "
                        "the photos' size (the size the camera was calibrated at; "
                        "intrinsics are those of that size)")))
        for j, vp in enumerate(view.parts):
            if vp.part in names or any(vp.part.startswith(n + "/") for n in names):
                continue
            hint = suggest(vp.part, names)
            problems.append((f"{where}.parts[{j}].part", (
                f"no part named {vp.part!r}" + (f"; did you mean {hint!r}?" if hint else "")
                + f" (parts: {', '.join(names)})")))
        if view.background is not None:
            view = view.model_copy(update={"background": _list_background(
                view.background, f"{where}.background", problems)})
        views.append(view)
    return scene.model_copy(update={"real_views": tuple(views)})


def _apply_calibration(scene: Scene, problems: list[tuple[str, str]], *,
                       image_given: bool) -> Scene:
    cam = scene.camera
    path = cam.calibration
    assert path is not None
    where = "camera.calibration"
    if not path.is_file():
        problems.append((where, f"file not found: {path}"))
        return scene
    if any(cam.distortion):
        problems.append(("camera.distortion", "the calibration file gives the distortion; "
                                              "remove camera.distortion"))
        return scene
    try:
        K, dist, size = read_calibration(path)
    except ValueError as exc:
        problems.append((where, str(exc)))
        return scene
    width, height = scene.image.width, scene.image.height
    fx, fy, cx, cy = K[0][0], K[1][1], K[0][2], K[1][2]
    if size is not None and not image_given:
        width, height = size
    elif size is not None and (width, height) != size:
        if abs(width / height - size[0] / size[1]) > 0.01 * size[0] / size[1]:
            problems.append((where, f"calibrated for {size[0]}x{size[1]} but image is "
                                    f"{width}x{height} (another aspect ratio); set image to "
                                    f"the calibrated size or one with the same aspect ratio"))
            return scene
        sx, sy = width / size[0], height / size[1]
        fx, fy, cx, cy = fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5
    from synthgap.scenes.schema import ImageConfig

    new_cam = cam.model_copy(update={
        "intrinsics": Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy),
        "distortion": dist, "calibration": None})
    return scene.model_copy(update={"camera": new_cam,
                                    "image": ImageConfig(width=width, height=height)})


def read_calibration(path: Path) -> tuple[list[list[float]], tuple[float, ...],
                                          tuple[int, int] | None]:
    """Read an OpenCV calibration file (`cv2.FileStorage` YAML or JSON).

    Keys: `camera_matrix` (or `cameraMatrix`, `K`): 3x3; `distortion_coefficients` (or
    `dist_coeffs`, `distCoeffs`, `D`): 4 or 5 values (more only if the extra ones are 0);
    optional `image_width`, `image_height`.

    Returns:
        `(K as 3x3 nested list, (k1, k2, p1, p2, k3), (width, height) or None)`.

    Raises:
        ValueError: unreadable file or missing/odd values (message names the key).
    """
    import cv2
    import numpy as np

    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError, OSError) as exc:
        # a YAML syntax error surfaces as SystemError ("returned a result with an exception
        # set") wrapping the cv2.error that says where the parser stopped
        cause = exc.__cause__ or exc.__context__ or exc
        detail = (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
        raise ValueError(f"{path}: not a valid OpenCV YAML/JSON calibration file ({detail}); "
                         "fix its syntax (e.g. write it with cv2.FileStorage) or remove "
                         "camera.calibration") from None
    if not fs.isOpened():
        raise ValueError(f"{path}: cannot open as an OpenCV YAML/JSON calibration file")
    try:
        def node(*names: str) -> Any:
            for n in names:
                nd = fs.getNode(n)
                if not nd.empty():
                    return nd
            return None

        def values(nd: Any) -> np.ndarray:
            if nd.isMap():
                m = nd.mat()
                return np.asarray(m, dtype=float) if m is not None else np.zeros(0)
            if nd.isSeq():
                return np.asarray([values(nd.at(i)) for i in range(nd.size())], dtype=float)
            return np.asarray(nd.real(), dtype=float)

        k_node = node("camera_matrix", "cameraMatrix", "K")
        if k_node is None:
            raise ValueError(f"{path}: no camera_matrix (3x3) in the calibration file")
        K: np.ndarray = values(k_node).reshape(-1)
        if K.size != 9 or not np.all(np.isfinite(K)):
            raise ValueError(f"{path}: camera_matrix must be 3x3 finite numbers, got {K.size} "
                             "values")
        K = K.reshape(3, 3)
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"{path}: camera_matrix focal lengths must be > 0, got "
                             f"fx={K[0, 0]}, fy={K[1, 1]}")
        d_node = node("distortion_coefficients", "dist_coeffs", "distCoeffs", "D")
        d = np.zeros(5) if d_node is None else values(d_node).reshape(-1)
        if d.size < 4 or (d.size > 5 and np.any(d[5:] != 0)) or not np.all(np.isfinite(d)):
            raise ValueError(f"{path}: distortion_coefficients must be 4 or 5 finite values "
                             f"(k1, k2, p1, p2[, k3]); got {d.size}")
        d = np.concatenate([d[:5], np.zeros(max(0, 5 - d.size))])
        w, h = node("image_width"), node("image_height")
        size = None
        if w is not None and h is not None:
            wv, hv = w.real(), h.real()
            if not (math.isfinite(wv) and math.isfinite(hv) and wv >= 8 and hv >= 8):
                raise ValueError(f"{path}: image_width/image_height must be >= 8, got {wv}x{hv}")
            size = (int(wv), int(hv))
        return K.tolist(), tuple(float(x) for x in d), size
    finally:
        fs.release()
