"""`real_views` in scene files: the three camera-pose forms, part poses, paths, photo checks,
round trip, and one error per bad input (field path + fix)."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from synthgap.scenes import SceneError, load_scene, scene_to_yaml

W, H = 64, 48
ROOT = Path(__file__).parents[2]
DOWN = [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 0.3], [0, 0, 0, 1]]  # looking straight down


def scene_dict(**view) -> dict:
    v = {"photo": "photos/a.png", "camera_pose": DOWN,
         "parts": [{"part": "nut", "position": [0, 0, 0]}], **view}
    return {
        "image": {"width": W, "height": H},
        "camera": {"intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5}},
        "parts": [{"procedural": "hex_nut", "name": "nut"}],
        "real_views": [v],
    }


def photo(path: Path, size=(W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 90, np.uint8))
    return path


def load(tmp_path: Path, data: dict):
    if not (tmp_path / "photos" / "a.png").exists():
        photo(tmp_path / "photos" / "a.png")
    p = tmp_path / "cell.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_scene(p)


def test_good_scene_resolves_photo_relative_to_the_scene_file(tmp_path):
    scene = load(tmp_path, scene_dict())
    (view,) = scene.real_views
    assert view.photo == (tmp_path / "photos" / "a.png").resolve()
    assert view.units == "m" and view.appearance == "midpoint"
    assert view.camera_pose == tuple(tuple(float(x) for x in r) for r in DOWN)
    assert view.parts[0].part == "nut" and view.parts[0].pose is None
    assert load(tmp_path, {k: v for k, v in scene_dict().items() if k != "real_views"}
                ).real_views == ()


def test_every_form_round_trips_through_scene_to_yaml(tmp_path):
    (tmp_path / "bg").mkdir()
    photo(tmp_path / "bg" / "x.jpg")
    data = scene_dict()
    data["real_views"] += [
        {"photo": "photos/a.png", "units": "mm", "rvec": [3.1, 0.0, 0.0], "tvec": [0, 0, 300],
         "parts": [{"part": "nut", "pose": np.eye(4).tolist(),
                    "material": {"metallic": [0.2, 0.4]}}],
         "appearance": "sample",
         "lights": [{"type": "ring", "intensity": 2.0, "radius": 0.03},
                    {"type": "directional"}],
         "background": {"images": "bg", "plane": False}},
        {"photo": "photos/a.png",
         "camera_look_at": {"eye": [0.1, 0, 0.3], "look_at": [0, 0, 0]},
         "parts": [{"part": "nut", "position": [0.01, 0, 0], "rotation_deg": [0, 0, 45]}]},
    ]
    scene = load(tmp_path, data)
    assert scene.real_views[1].background.image_files == ((tmp_path / "bg" / "x.jpg").resolve(),)
    text = scene_to_yaml(scene)
    again = tmp_path / "again.yaml"
    again.write_text(text, encoding="utf-8")
    assert load_scene(again) == scene
    assert "real_views" not in scene_to_yaml(load(tmp_path, {
        k: v for k, v in scene_dict().items() if k != "real_views"}))


def test_photo_size_follows_a_calibration_file(tmp_path):
    # No `image:`: the calibrated size (640x480) is the image size the photos must have.
    shutil.copy(ROOT / "examples" / "cameras" / "cam_640x480.yaml", tmp_path / "cam.yaml")
    photo(tmp_path / "photos" / "a.png", size=(640, 480))
    data = scene_dict()
    del data["image"]
    data["camera"] = {"calibration": "cam.yaml"}
    scene = load(tmp_path, data)
    assert (scene.image.width, scene.image.height) == (640, 480)


def test_scenes_page_example_loads(tmp_path):
    text = (ROOT / "docs" / "scenes.md").read_text(encoding="utf-8")
    start = text.index("**Real photos at known poses")
    block = re.search(r"```yaml\n(.*?)```", text[start:], re.S).group(1)
    (tmp_path / "cameras").mkdir()
    shutil.copy(ROOT / "examples" / "cameras" / "cam_640x480.yaml", tmp_path / "cameras")
    (tmp_path / "parts").mkdir()
    shutil.copy(ROOT / "examples" / "parts" / "bracket.stl", tmp_path / "parts")
    for name in ("0001.png", "0002.png"):
        photo(tmp_path / "photos" / name, size=(640, 480))
    (tmp_path / "cell.yaml").write_text(block, encoding="utf-8")
    scene = load_scene(tmp_path / "cell.yaml")
    assert [v.units for v in scene.real_views] == ["mm", "mm"]
    assert scene.real_views[1].background.plane is False


def changed(path: str, value, drop: str | None = None) -> dict:
    """scene_dict() with `real_views[0].<path>` set to value (and key `drop` removed)."""
    data = copy.deepcopy(scene_dict())
    node = data["real_views"][0]
    keys = path.replace("[", ".").replace("]", "").split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    if drop:
        del data["real_views"][0][drop]
    return data


@pytest.mark.parametrize(("data", "field", "match"), [
    (changed("camera_pos", DOWN, drop="camera_pose"), "real_views[0].camera_pos",
     r"unknown key 'camera_pos'; did you mean 'camera_pose'\?"),
    (changed("photo", "photos/missing.png"), "real_views[0].photo",
     r"file not found: .*missing.png"),
    (changed("photo", "photos"), "real_views[0].photo", r"file not found: .*\(it is a folder\)"),
    (changed("photo", "photos/a.gif"), "real_views[0].photo",
     r"unsupported image format '.gif' \(supported: .png"),
    (changed("units", "cm"), "real_views[0].units", r"expected one of m, mm, got 'cm'"),
    (changed("parts", []), "real_views[0].parts", r"at least 1 item"),
    (changed("rvec", [0.1, 0.2, 0.3], drop="camera_pose"), "real_views[0]",
     r"rvec needs tvec too \(OpenCV extrinsics come as a pair\)"),
    (changed("appearance", "midpoint", drop="camera_pose"), "real_views[0]",
     r"missing the camera pose: give one of camera_pose \(4x4 world-from-camera\), rvec/tvec "
     r"\(OpenCV camera-from-world\) or camera_look_at"),
    (changed("camera_look_at", {"eye": [0, 0, 1], "look_at": [0, 0, 0], "up": [0, 1, 0]}),
     "real_views[0]", r"give the camera pose in one form only, got camera_pose and "
                      r"camera_look_at"),
    (changed("camera_pose", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]), "real_views[0].camera_pose",
     r"expected a 4x4 matrix \(4 rows of 4 finite numbers\), got \[\[1, 0, 0\]"),
    (changed("camera_pose", [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
     "real_views[0].camera_pose",
     r"not orthonormal \(max \|RᵀR - I\| = 3\); expected a rigid transform world-from-camera"),
    (changed("camera_pose", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]]),
     "real_views[0].camera_pose", r"determinant -1 \(a reflection\)"),
    (changed("camera_pose", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]),
     "real_views[0].camera_pose",
     r"last row must be \[0, 0, 0, 1\] \(world-from-camera\), got \[0.0, 0.0, 1.0, 1.0\]"),
    (changed("camera_look_at", {"eye": [0, 0, 1], "look_at": [0, 0, 0]}, drop="camera_pose"),
     "real_views[0].camera_look_at",
     r"up \[0.0, 0.0, 1.0\] is parallel to the viewing direction .*e.g. \[0, 1, 0\] for a "
     r"camera looking straight down"),
    (changed("camera_look_at", {"eye": [0, 0, 1], "look_at": [0, 0, 1]}, drop="camera_pose"),
     "real_views[0].camera_look_at", r"eye and look_at coincide"),
    (changed("parts[0].part", "nutt"), "real_views[0].parts[0].part",
     r"no part named 'nutt'; did you mean 'nut'\? \(parts: nut\)"),
    (changed("parts[0]", {"part": "nut"}), "real_views[0].parts[0]",
     r"missing the part's pose: give pose \(a 4x4 world-from-object matrix\) or position"),
    (changed("parts[0]", {"part": "nut", "position": [0, 0, 0], "pose": np.eye(4).tolist()}),
     "real_views[0].parts[0]", r"either as pose .* or as position/rotation_deg, not both"),
    (changed("parts[0]", {"part": "nut", "pose": np.diag([2.0, 2.0, 2.0, 1.0]).tolist()}),
     "real_views[0].parts[0].pose", r"expected a rigid transform world-from-object"),
    (changed("lights", [{"type": "ring", "elevation": 30}]), "real_views[0].lights[0]",
     r"elevation applies to directional and point and spot and area lights, not ring"),
    (changed("background", {"images": "nowhere"}), "real_views[0].background.images",
     r"folder not found: .*nowhere"),
])
def test_bad_real_views(tmp_path, data, field, match):
    photo(tmp_path / "photos" / "a.png")
    (tmp_path / "photos" / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(SceneError) as info:
        load(tmp_path, data)
    paths = [p for p, _ in info.value.problems]
    assert field in paths, info.value
    msg = dict(info.value.problems)[field]
    assert re.search(match, msg), msg
    assert str(tmp_path / "cell.yaml") in str(info.value)


def test_a_single_view_without_a_list_is_refused(tmp_path):
    data = scene_dict()
    data["real_views"] = data["real_views"][0]
    with pytest.raises(SceneError, match=r"real_views: expected a list \(YAML items starting "
                                         r"with '- '\), got \{'"):
        load(tmp_path, data)


def test_photo_of_another_size_is_refused_with_the_fix(tmp_path):
    photo(tmp_path / "photos" / "a.png", size=(W * 2, H * 2))
    with pytest.raises(SceneError, match=rf"real_views\[0\].photo: .*a.png is {2 * W}x{2 * H} "
                                         rf"but image is {W}x{H}; photos are not resized .*set "
                                         r"image to the photos' size"):
        load(tmp_path, scene_dict())


def test_unreadable_photo_is_named(tmp_path):
    p = tmp_path / "photos" / "a.png"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"not an image at all")
    with pytest.raises(SceneError, match=r"real_views\[0\].photo: not a readable image: "
                                         r".*a.png"):
        load(tmp_path, scene_dict())


def test_step_body_names_pass_the_scene_check(tmp_path):
    # A split STEP assembly's parts are named ENTRY/BODY; the scene check accepts the prefix
    # (the body itself is checked against the part library when sampling).
    data = scene_dict()
    data["real_views"][0]["parts"][0]["part"] = "nut/BODY"
    assert load(tmp_path, data).real_views[0].parts[0].part == "nut/BODY"
