"""Scene files: loading, field-path errors with suggestions, paths, calibration, round trip."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml

from synthgap.scenes import (
    PRESETS,
    Scene,
    SceneError,
    default_scene,
    load_preset,
    load_scene,
    parse_scene,
    scene_to_yaml,
)

MINIMAL = {
    "image": {"width": 64, "height": 48},
    "camera": {"intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5}},
    "parts": [{"procedural": "hex_nut", "class": "nut"}],
}


def write(tmp_path: Path, data, name="scene.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return p


def with_change(path: str, value):
    """MINIMAL with `a.b[0].c` set to value."""
    data = copy.deepcopy(MINIMAL)
    keys = path.replace("[", ".").replace("]", "").split(".")
    node = data
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node.setdefault(k, {})
    node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return data


def test_minimal_scene_defaults(tmp_path):
    s = load_scene(write(tmp_path, MINIMAL))
    assert isinstance(s, Scene)
    assert s.seed == 0 and s.image.width == 64
    p = s.parts[0]
    assert p.category == "nut" and p.placement == "stable" and p.count.kind == "fixed"
    assert s.camera.distortion == (0.0,) * 5
    assert len(s.lights) == 1 and s.lights[0].type == "directional"


def test_scene_is_frozen():
    s = default_scene()
    with pytest.raises(Exception, match="frozen"):
        s.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(("path", "value", "field", "match"), [
    ("parts[0].material.metallic", "abc", "parts[0].material.metallic",
     r"expected a number, a range \[lo, hi\], \{normal: \[mu, sigma\]\} or \{choice: \[...\]\}, got 'abc'"),
    ("parts[0].material.metallic", [0.5, 1.5], "parts[0].material.metallic",
     r"value 1.5 is outside the allowed range \[0, 1\]"),
    ("parts[0].material.metalic", 0.5, "parts[0].material.metalic",
     r"unknown key 'metalic'; did you mean 'metallic'\?"),
    ("parts[0].placement", "stabel", "parts[0].placement",
     r"expected one of stable, random, fixed, observed, got 'stabel'; did you mean 'stable'\?"),
    ("parts[0].procedural", "hex_nutt", "parts[0].procedural",
     r"did you mean 'hex_nut'\?"),
    ("parts[0].count", [3, 1], "parts[0].count", r"lo <= hi"),
    ("parts[0].count", [1, 2.5], "parts[0].count", r"expected an integer"),
    ("camera.pose.elevation", [10, 100], "camera.pose.elevation",
     r"outside the allowed range \[-90, 90\]"),
    ("camera.pose.distance", 0, "camera.pose.distance", r"outside the allowed range \(0, inf\]"),
    ("camera.pose.azimth", 3, "camera.pose.azimth", r"did you mean 'azimuth'\?"),
    ("camera.intrinsics.fx", -5, "camera.intrinsics.fx", r"greater than 0, got -5"),
    ("camera.distortion", [1, 2], "camera.distortion",
     r"expected 4 or 5 numbers \[k1, k2, p1, p2, k3\] \(OpenCV\), got \[1, 2\]"),
    ("image.width", "wide", "image.width", r"valid integer.*got 'wide'"),
    ("lihgts", [], "lihgts", r"unknown key 'lihgts'; did you mean 'lights'\?"),
    ("lights", [{"type": "lazer"}], "lights[0].type",
     r"expected one of directional, point, spot, ring, dome, area, environment, got 'lazer'"),
    ("lights", [{"type": "spot", "inner_cone_deg": 40, "outer_cone_deg": 30}], "lights[0]",
     r"inner_cone_deg \(40.0\) must be < outer_cone_deg"),
    ("lights", [{"temperature_k": 100}], "lights[0].temperature_k", r"outside the allowed range"),
    ("background.color", [2, 0, 0], "background.color", r"colour channels must be in \[0, 1\]"),
    ("background.colour", [0, 0, 0], "background.colour", r"did you mean 'color'\?"),
    ("sensor.jpeg_quality", 120, "sensor.jpeg_quality", r"outside the allowed range \[1, 100\]"),
    ("sensor.noise", {"uniform": [0, 1]}, "sensor.noise", r"write a uniform range as \[lo, hi\]"),
    ("distractors.primitives", ["cube"], "distractors.primitives[0]",
     r"expected one of box, cylinder, sphere, capsule, got 'cube'"),
    ("parts[0].defects", [{"type": "scratch", "radius_mm": 2}], "parts[0].defects[0]",
     r"radius_mm applies to dent, stain, chip, extra_hole defects, not scratch"),
    ("parts[0].defects", [{"type": "gouge"}], "parts[0].defects[0].type",
     r"expected one of scratch, dent, stain, crack, chip, missing_hole, extra_hole, got "
     r"'gouge'"),
    ("parts[0].defects", [{"type": "missing_hole", "radius_mm": 2}], "parts[0].defects[0]",
     r"radius_mm applies to dent, stain, chip, extra_hole defects, not missing_hole \(a "
     r"missing_hole takes no size: "
     r"its plug is the size of the hole it fills\)"),
    ("parts[0].defects", [{"type": "chip", "depth_mm": 2}], "parts[0].defects[0]",
     r"depth_mm applies to dent, extra_hole defects, not chip \(a chip takes radius_mm\)"),
    ("parts[0].defects", [{"type": "extra_hole", "length_mm": 2}], "parts[0].defects[0]",
     r"length_mm applies to scratch, crack defects, not extra_hole \(a extra_hole takes "
     r"radius_mm, "
     r"depth_mm\)"),
    ("parts[0].defects", [{"type": "dent", "probability": 2}], "parts[0].defects[0].probability",
     r"less than or equal to 1"),
    ("parts[0].mesh", "x.stl", "parts[0]", r"give exactly one of mesh .* or procedural"),
    ("parts[0].units", "mm", "parts[0]", r"units applies to mesh files"),
    ("lights", [{"type": "directional", "radius": 0.1}], "lights[0]",
     r"radius applies to ring lights, not directional"),
    ("lights", [{"distance": 0.1}], "lights[0]",
     r"distance applies to point and spot and area lights, not directional"),
    ("parts[0].position", [0, 0, 0.1], "parts[0]",
     r"position and rotation_deg apply to placement: fixed, not stable"),
    ("camera.pose.look_at", [0, float("nan"), 0], "camera.pose.look_at[1]", r"finite number"),
    ("parts[0].count", 2, None, None),  # valid, control
    ("area", [0.1, -1], "area", r"area must be two positive sizes"),
])
def test_bad_field_names_file_path_and_fix(tmp_path, path, value, field, match):
    f = write(tmp_path, with_change(path, value))
    if field is None:
        load_scene(f)
        return
    with pytest.raises(SceneError) as info:
        load_scene(f)
    msg = str(info.value)
    assert str(f) in msg
    assert any(p == field for p, _ in info.value.problems), info.value.problems
    line = next(line for line in msg.splitlines() if f": {field}: " in line)
    assert line.startswith(f"{f}: {field}: ")
    import re
    assert re.search(match, line), line


def test_several_problems_are_all_reported(tmp_path):
    data = with_change("parts[0].material.metallic", "abc")
    data["camera"]["pose"] = {"elevation": "high"}
    with pytest.raises(SceneError) as info:
        load_scene(write(tmp_path, data))
    fields = [p for p, _ in info.value.problems]
    assert "parts[0].material.metallic" in fields and "camera.pose.elevation" in fields
    assert "parts" not in fields  # pydantic's echo of the failing item is dropped


def test_missing_required_and_camera_source(tmp_path):
    data = copy.deepcopy(MINIMAL)
    del data["parts"]
    with pytest.raises(SceneError, match=r"parts: missing required key"):
        load_scene(write(tmp_path, data))
    data = copy.deepcopy(MINIMAL)
    del data["camera"]
    with pytest.raises(SceneError, match=r"camera needs intrinsics"):
        load_scene(write(tmp_path, data))
    data = with_change("camera.fov_deg", 40)
    with pytest.raises(SceneError, match=r"camera: give one of intrinsics, calibration or fov_deg"):
        load_scene(write(tmp_path, data))
    data = with_change("parts", [])
    with pytest.raises(SceneError, match=r"parts: .*at least 1 item"):
        load_scene(write(tmp_path, data))


def test_file_level_errors(tmp_path):
    with pytest.raises(SceneError, match=r"nope.yaml: scene file not found"):
        load_scene(tmp_path / "nope.yaml")
    with pytest.raises(SceneError, match=r"scene file not found \(it is a folder\)"):
        load_scene(tmp_path)
    with pytest.raises(SceneError, match=r"bad.yaml: not valid YAML: line 2, column"):
        load_scene(write(tmp_path, "a: [1, 2\nb: {c: 3\n", "bad.yaml"))
    with pytest.raises(SceneError, match=r"empty.yaml: the scene file is empty"):
        load_scene(write(tmp_path, "", "empty.yaml"))
    with pytest.raises(SceneError, match=r"expected a mapping of keys at the top level, got list"):
        load_scene(write(tmp_path, "- 1\n- 2\n", "list.yaml"))
    with pytest.raises(SceneError, match=r"<dict>: image: expected a mapping of keys, got 3"):
        parse_scene({**MINIMAL, "image": 3}, base_dir=tmp_path)


def test_unsafe_yaml_is_refused(tmp_path):
    text = "seed: !!python/object/apply:os.system ['echo hi']\n"
    with pytest.raises(SceneError, match="not valid YAML"):
        load_scene(write(tmp_path, text))


def tiny_mesh(path: Path, scale=1.0):
    trimesh.creation.box([20 * scale, 10 * scale, 5 * scale]).export(path)


def test_relative_paths_resolve_against_the_scene_file(tmp_path, monkeypatch):
    (tmp_path / "scenes" / "parts").mkdir(parents=True)
    (tmp_path / "bg").mkdir()
    tiny_mesh(tmp_path / "scenes" / "parts" / "block.stl")
    for name in ("b.png", "a.jpg"):
        blank_image(tmp_path / "bg" / name)
    (tmp_path / "bg" / "notes.txt").write_bytes(b"x")
    data = copy.deepcopy(MINIMAL)
    data["parts"] = [{"mesh": "parts/block.stl", "units": "mm"}]
    data["background"] = {"images": "../bg"}
    f = write(tmp_path / "scenes", data)
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    s = load_scene(Path("scenes") / "scene.yaml")
    assert s.parts[0].mesh == (tmp_path / "scenes" / "parts" / "block.stl").resolve()
    assert s.parts[0].mesh.is_absolute()
    assert [p.name for p in s.background.image_files] == ["a.jpg", "b.png"]
    assert s.parts[0].default_name() == "block"
    # absolute paths stay as they are
    data["parts"][0]["mesh"] = str(tmp_path / "scenes" / "parts" / "block.stl")
    data["background"] = {}
    assert load_scene(write(tmp_path, data, "abs.yaml")).parts[0].mesh == s.parts[0].mesh
    assert f.exists()


def test_missing_files_are_named_with_their_field(tmp_path):
    data = copy.deepcopy(MINIMAL)
    data["parts"] = [{"mesh": "parts/missing.stl"}, {"procedural": "hex_nut"}]
    data["background"] = {"images": "nowhere"}
    with pytest.raises(SceneError) as info:
        load_scene(write(tmp_path, data))
    msg = str(info.value)
    assert f"parts[0].mesh: file not found: {tmp_path / 'parts' / 'missing.stl'}" in msg
    assert f"background.images: folder not found: {tmp_path / 'nowhere'}" in msg
    (tmp_path / "empty").mkdir()
    (tmp_path / "m.xyz").write_text("1 2 3\n")
    data["parts"] = [{"mesh": "m.xyz"}]
    data["background"] = {"images": "empty"}
    with pytest.raises(SceneError) as info:
        load_scene(write(tmp_path, data))
    assert "parts[0].mesh: unsupported mesh format '.xyz'" in str(info.value)
    assert "background.images: no images" in str(info.value)


def blank_image(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 6), (90, 90, 90)).save(path)


def test_corrupt_background_image_is_named_at_load(tmp_path):
    (tmp_path / "bg").mkdir()
    blank_image(tmp_path / "bg" / "b.png")
    (tmp_path / "bg" / "a.png").write_bytes(b"junk, not a png")
    data = with_change("background", {"images": "bg"})
    with pytest.raises(SceneError, match=r"background.images: not a readable image: .*a.png "
                                         r".*replace or remove the file"):
        load_scene(write(tmp_path, data))
    good = (tmp_path / "bg" / "b.png").read_bytes()
    (tmp_path / "bg" / "a.png").write_bytes(good[:60] + b"\0" * 8 + good[68:])  # bad CRC
    with pytest.raises(SceneError, match=r"background.images: not a readable image: .*a.png"):
        load_scene(write(tmp_path, data))
    blank_image(tmp_path / "bg" / "a.png")
    assert len(load_scene(write(tmp_path, data)).background.image_files) == 2


def test_corrupt_calibration_file_is_named(tmp_path):
    (tmp_path / "cam.yaml").write_text("foo: [\n")
    data = {**MINIMAL, "camera": {"calibration": "cam.yaml"}}
    with pytest.raises(SceneError, match=r"camera.calibration: .*cam.yaml: not a valid OpenCV "
                                         r"YAML/JSON calibration file \(.*Parsing error.*\); fix"):
        load_scene(write(tmp_path, data))


def test_duplicate_part_names_are_refused(tmp_path):
    data = with_change("parts", [{"procedural": "hex_nut"}, {"procedural": "hex_nut"}])
    with pytest.raises(SceneError, match=r"parts\[1\].name: part name 'hex_nut' is used by parts\[0\]"):
        load_scene(write(tmp_path, data))
    data["parts"][1]["name"] = "nut2"
    assert [p.default_name() for p in load_scene(write(tmp_path, data)).parts] == ["hex_nut", "nut2"]


def write_calibration(path: Path, size=(640, 480), fmt="yaml"):
    import cv2

    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    if size is not None:
        fs.write("image_width", size[0])
        fs.write("image_height", size[1])
    fs.write("camera_matrix", np.array([[600.0, 0, 320.0], [0, 610.0, 240.0], [0, 0, 1]]))
    fs.write("distortion_coefficients", np.array([[-0.1, 0.02, 0.001, 0.002, 0.0]]))
    fs.release()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_calibration_file_is_read(tmp_path, fmt):
    write_calibration(tmp_path / f"cam.{fmt}")
    data = {**MINIMAL, "camera": {"calibration": f"cam.{fmt}"}}
    del data["image"]
    s = load_scene(write(tmp_path, data))
    k = s.camera.intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == (600.0, 610.0, 320.0, 240.0)
    assert s.camera.distortion == (-0.1, 0.02, 0.001, 0.002, 0.0)
    assert (s.image.width, s.image.height) == (640, 480)  # taken from the calibration
    assert s.camera.calibration is None  # consumed: its values are now explicit


def test_calibration_scales_to_the_image_size(tmp_path):
    write_calibration(tmp_path / "cam.yaml")
    data = {**MINIMAL, "image": {"width": 320, "height": 240}, "camera": {"calibration": "cam.yaml"}}
    k = load_scene(write(tmp_path, data)).camera.intrinsics
    assert k.fx == pytest.approx(300.0) and k.fy == pytest.approx(305.0)
    assert k.cx == pytest.approx((320.0 + 0.5) / 2 - 0.5) and k.cy == pytest.approx(119.75)
    data["image"] = {"width": 320, "height": 320}
    with pytest.raises(SceneError, match=r"camera.calibration: calibrated for 640x480 but image is 320x320"):
        load_scene(write(tmp_path, data))


def test_bad_calibration_files(tmp_path):
    (tmp_path / "junk.yaml").write_text("just: text\n")
    data = {**MINIMAL, "camera": {"calibration": "junk.yaml"}}
    with pytest.raises(SceneError, match=r"camera.calibration: .*junk.yaml"):
        load_scene(write(tmp_path, data))
    data = {**MINIMAL, "camera": {"calibration": "missing.yaml"}}
    with pytest.raises(SceneError, match=r"camera.calibration: file not found"):
        load_scene(write(tmp_path, data))
    write_calibration(tmp_path / "cam.yaml")
    data = {**MINIMAL, "camera": {"calibration": "cam.yaml", "distortion": [0.1, 0, 0, 0, 0]}}
    with pytest.raises(SceneError, match=r"camera.distortion: the calibration file gives the distortion"):
        load_scene(write(tmp_path, data))


def test_round_trip_through_yaml(tmp_path):
    (tmp_path / "parts").mkdir()
    tiny_mesh(tmp_path / "parts" / "block.stl")
    write_calibration(tmp_path / "cam.yaml")
    (tmp_path / "bg").mkdir()
    blank_image(tmp_path / "bg" / "x.png")
    data = {
        "seed": 5,
        "camera": {"calibration": "cam.yaml",
                   "pose": {"distance": {"normal": [0.4, 0.05]}, "roll": {"choice": [0, 90]}}},
        "parts": [{"mesh": "parts/block.stl", "units": "mm", "class": "block", "count": [1, 3],
                   "material": {"base_color": {"gray": [0.2, 0.8]}},
                   "defects": [{"type": "dent"}]},
                  {"procedural": "l_bracket", "placement": "fixed", "position": [0, 0, 0.01]}],
        "lights": [{"type": "spot", "color": {"choice": [[1, 0.9, 0.8], [1, 1, 1]]}}],
        "background": {"images": "bg", "color": [[0, 0, 0], [0.2, 0.3, 0.4]]},
        "distractors": {"count": {"normal": [2, 1]}},
        "sensor": {"jpeg_quality": [70, 95]},
    }
    s = load_scene(write(tmp_path, data))
    text = scene_to_yaml(s)
    assert str(tmp_path / "parts" / "block.stl") in text  # absolute paths
    other = tmp_path / "elsewhere"
    other.mkdir()
    s2 = load_scene(write(other, text, "copy.yaml"))
    assert s2 == s
    assert scene_to_yaml(s2) == text


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_round_trip(tmp_path, name):
    s = load_preset(name)
    assert load_scene(f"preset:{name}") == s
    assert all(p.procedural for p in s.parts)  # presets need no files
    assert load_scene(write(tmp_path, scene_to_yaml(s))) == s


def test_presets_differ_as_documented():
    turntable, bin_, conveyor = (load_preset(n) for n in ("turntable", "bin", "conveyor"))
    assert len(turntable.parts) == 1 and turntable.parts[0].count.support() == (1, 1)
    assert turntable.camera.pose.elevation.support()[1] <= 90
    assert len(bin_.parts) >= 2 and all(p.placement == "stable" for p in bin_.parts)
    assert bin_.distractors.count.support()[1] > 0
    assert conveyor.camera.pose.elevation.support()[0] >= 80
    assert default_scene() == turntable


def test_unknown_preset_suggests():
    with pytest.raises(SceneError, match=r"unknown preset 'turntabel'.*did you mean 'turntable'\?"):
        load_scene("preset:turntabel")


def test_with_image_size_scales_intrinsics():
    s = default_scene()
    k = s.intrinsics()
    half = s.with_image_size(320, 240)
    k2 = half.intrinsics()
    assert (half.image.width, half.image.height) == (320, 240)
    assert k2.fx == pytest.approx(k.fx / 2) and k2.fy == pytest.approx(k.fy / 2)
    # pixel centres: the image centre stays the image centre
    assert k2.cx == pytest.approx((320 - 1) / 2) and k2.cy == pytest.approx((240 - 1) / 2)
    assert s.with_image_size(640, 480) == s
    # a plain model_copy override keeps K (the caller's choice)
    from synthgap.scenes import ImageConfig
    copy_ = s.model_copy(update={"image": ImageConfig(width=100, height=80)})
    assert copy_.image.width == 100 and copy_.intrinsics() == k
    with pytest.raises(ValueError, match="at least 8x8"):
        s.with_image_size(4, 4)


def test_with_image_size_keeps_square_pixels_at_another_aspect_ratio():
    s = default_scene()
    k = s.intrinsics()
    assert (s.image.width, s.image.height) == (640, 480) and k.fx == k.fy
    sq = s.with_image_size(100, 100).intrinsics()
    # before: fx scaled by 100/640 and fy by 100/480 (non-square pixels)
    assert sq.fx == pytest.approx(k.fx * 100 / 480) and sq.fy == pytest.approx(sq.fx)
    assert sq.cx == pytest.approx((k.cx + 0.5) * 100 / 640 - 0.5)
    assert sq.cy == pytest.approx((k.cy + 0.5) * 100 / 480 - 0.5)
    # within a pixel of 4:3: each axis scales by its own factor, as before
    near = s.with_image_size(101, 76).intrinsics()
    assert near.fx == pytest.approx(k.fx * 101 / 640) and near.fy == pytest.approx(k.fy * 76 / 480)


def test_negative_seed_is_refused(tmp_path):
    with pytest.raises(SceneError, match=r"scene.yaml: seed: input should be greater than or equal to 0, got -1"):
        load_scene(write(tmp_path, with_change("seed", -1)))


def test_fov_intrinsics_follow_the_image_size():
    s = parse_scene({**MINIMAL, "camera": {"fov_deg": 90}}, base_dir=".")
    k = s.intrinsics()
    assert k.fy == pytest.approx(24.0)  # h/2 / tan(45 deg)
    assert k.fx == k.fy and k.cx == 31.5 and k.cy == 23.5
    k2 = s.with_image_size(128, 96).intrinsics()
    assert k2.fy == pytest.approx(48.0) and math.isclose(k2.cx, 63.5)


def test_four_distortion_coefficients_are_padded(tmp_path):
    s = load_scene(write(tmp_path, with_change("camera.distortion", [0.1, -0.01, 0.001, 0.002])))
    assert s.camera.distortion == (0.1, -0.01, 0.001, 0.002, 0.0)


def test_round_trip_keeps_step_options_and_drops_irrelevant_keys(tmp_path):
    (tmp_path / "asm.step").write_text("ISO-10303-21;\n")  # existence is all load_scene checks
    data = {**MINIMAL, "parts": [{"mesh": "asm.step", "select": ["NUT*"], "assembly": "merge"}],
            "lights": [{"type": "ring", "radius": 0.03}, {"type": "spot", "distance": 0.5}]}
    s = load_scene(write(tmp_path, data))
    text = scene_to_yaml(s)
    dumped = yaml.safe_load(text)
    assert dumped["parts"][0]["select"] == ["NUT*"] and dumped["parts"][0]["assembly"] == "merge"
    assert "position" not in dumped["parts"][0]
    assert "distance" not in dumped["lights"][0] and "radius" not in dumped["lights"][1]
    assert load_scene(write(tmp_path, text, "copy.yaml")) == s


def test_corrupt_listed_background_file_is_named(tmp_path):
    from synthgap.scenes import SceneError, load_scene

    (tmp_path / "junk.png").write_bytes(b"not a png")
    scene = tmp_path / "s.yaml"
    scene.write_text("parts: [{procedural: l_bracket}]\n"
                     "camera: {fov_deg: 40}\n"
                     "background: {image_files: [junk.png]}\n")
    with pytest.raises(SceneError, match=r"background.image_files\[0\].*junk.png"):
        load_scene(scene)


def test_a_yaml_exponent_read_as_text_gets_the_spelling_that_works(tmp_path):
    from synthgap.scenes import SceneError, load_scene

    path = tmp_path / "s.yaml"
    path.write_text("image: {width: 64, height: 48}\n"
                    "camera: {intrinsics: {fx: 60, fy: 60, cx: 32, cy: 24}}\n"
                    "parts: [{procedural: hex_nut, defects: [{type: chip, radius_mm: 1e9}]}]\n")
    with pytest.raises(SceneError, match=r"radius_mm.*YAML reads 1e9 as text: write 1\.0e\+9"):
        load_scene(path)
    path.write_text(path.read_text().replace("1e9", "1.5"))
    assert load_scene(path).parts[0].defects[0].type == "chip"
