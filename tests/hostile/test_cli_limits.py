"""Careless and hostile values: `validate` (and every command) ends in a clear exit-2 error
naming the field, fast and without a traceback, instead of a crash or a huge allocation."""

import json
import os
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
import trimesh
import yaml
from click.testing import CliRunner

from synthgap.cli import main

BASE = {"camera": {"fov_deg": 40}, "parts": [{"procedural": "l_bracket"}]}


def _run(args):
    t = time.process_time()
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res, time.process_time() - t


def _scene(tmp_path, **changes):
    data = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    p = tmp_path / "scene.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _expect_exit_2(res, *fragments):
    assert res.exit_code == 2, res.output
    assert ("Traceback" not in res.output and res.exception is None) or isinstance(
        res.exception, SystemExit)
    for f in fragments:
        assert f in res.output, (f, res.output)


def test_the_base_scene_is_valid(tmp_path):
    res, _ = _run(["validate", _scene(tmp_path)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("field,value,fragment", [
    ("camera__pose__distance", 1e-30, "camera.pose.distance: distances 1e-30..1e-30 m"),
    ("camera__pose__look_at", [1e300, 0, 0], "camera.pose.look_at[0]: 1e+300 m is beyond"),
    ("camera__distortion", [1e30, 0, 0, 0, 0], "camera.distortion[0]: 1e+30 is beyond"),
    ("camera__distortion", [-500.0, 0, 0, 0, 0], "camera.distortion: "),
    ("camera__znear", 1e-9, "camera.znear: 1e-09 m is nearer than"),
    ("camera__zfar", 1e9, "camera.zfar: 1e+09 m is beyond"),
    ("area", [1e300, 1.0], "area[0]: 1e+300 m is larger"),
    ("image", {"width": 16384, "height": 16384}, "image: each side must be 8..8192 pixels"),
    ("image", {"width": 8000, "height": 8000}, "image: 8000x8000 is 64.0 megapixels"),
])
def test_validate_catches_what_render_would_crash_on(tmp_path, field, value, fragment):
    res, seconds = _run(["validate", _scene(tmp_path, **{field: value})])
    _expect_exit_2(res, fragment)
    assert seconds < 5


@pytest.mark.parametrize("name", ["../../../x", ".", "a/b", "nul\x00", ".hidden"])
def test_validate_refuses_a_class_that_cannot_be_a_folder(tmp_path, name):
    p = tmp_path / "scene.yaml"
    p.write_text(yaml.safe_dump({**BASE, "parts": [{"procedural": "l_bracket", "class": name}]}))
    res, _ = _run(["validate", p])
    _expect_exit_2(res, "parts[0].class")


def test_validate_refuses_a_one_triangle_mesh(tmp_path):
    trimesh.Trimesh([[0, 0, 0], [30, 0, 0], [0, 30, 0]], [[0, 1, 2]]).export(tmp_path / "t.stl")
    p = tmp_path / "scene.yaml"
    p.write_text(yaml.safe_dump({**BASE, "parts": [{"mesh": "t.stl", "units": "mm"}]}))
    res, _ = _run(["validate", p])
    _expect_exit_2(res, "parts[0].mesh", "only 3 vertices")


def test_validate_reports_a_symlink_loop_as_a_mesh(tmp_path):
    os.symlink(tmp_path / "loop.stl", tmp_path / "loop.stl")
    p = tmp_path / "scene.yaml"
    p.write_text(yaml.safe_dump({**BASE, "parts": [{"mesh": "loop.stl"}]}))
    res, _ = _run(["validate", p])
    _expect_exit_2(res, "parts[0].mesh", "symbolic link")


def test_deeply_nested_lists_are_refused(tmp_path):
    p = tmp_path / "scene.yaml"
    p.write_text("camera: {fov_deg: 40}\nparts: " + "[" * 5000 + "]" * 5000 + "\n")
    res, seconds = _run(["validate", p])
    _expect_exit_2(res, "nested too deeply")
    p.write_text("camera: {fov_deg: 40}\nparts: " + "[" * 40 + "]" * 40 + "\n")
    res, seconds = _run(["validate", p])
    _expect_exit_2(res, "nested more than 32 levels")
    assert seconds < 2


def _bomb(field_line: str) -> str:
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n" + field_line + "\n"


def test_a_yaml_alias_bomb_is_refused_fast_with_a_short_message(tmp_path):
    p = tmp_path / "scene.yaml"
    p.write_text(_bomb("camera: {fov_deg: 40}\nparts: *i"))
    res, seconds = _run(["validate", p])
    _expect_exit_2(res, "more than 200000 values")
    assert seconds < 2 and len(res.output) < 2000
    job = tmp_path / "job.yaml"
    job.write_text(_bomb("images: *i\noutput: o"))
    res, seconds = _run(["run", job])
    _expect_exit_2(res, "more than 200000 values")
    assert seconds < 2 and len(res.output) < 2000


def test_a_wrong_value_of_a_large_list_is_shown_short(tmp_path):
    p = tmp_path / "scene.yaml"
    p.write_text("camera: {fov_deg: 40}\nparts: [{procedural: l_bracket}]\ndistractors: "
                 "{count: [" + ", ".join(["1"] * 5000) + "]}\n")
    res, _ = _run(["validate", p])
    assert res.exit_code == 2 and len(res.output) < 2000, res.output


@pytest.mark.parametrize("args,fragment", [
    (["-n", "100000000"], "at most 10000000 images"),
    (["-n", "2", "--width", "100000", "--height", "100000"], "each side must be 8..8192"),
    (["-n", "2", "--width", "8192", "--height", "8192"], "megapixels"),
])
def test_render_bounds_fail_fast(tmp_path, args, fragment):
    res, seconds = _run(["render", _scene(tmp_path), "-o", tmp_path / "out", *args])
    _expect_exit_2(res, fragment)
    assert seconds < 5 and not (tmp_path / "out").exists()


def test_job_images_and_size_are_bounded(tmp_path):
    for extra, fragment in (({"images": 10**13}, "images: "),
                            ({"images": 2, "size": [16384, 16384]}, "size: ")):
        job = tmp_path / "job.yaml"
        job.write_text(yaml.safe_dump({"output": "o", "adapt": {"method": "none"}, **extra}))
        res, seconds = _run(["run", job])
        _expect_exit_2(res, fragment)
        assert seconds < 5 and not (tmp_path / "o").exists()


def test_gap_and_preview_sizes_are_bounded(fake_dataset, tmp_path):
    res, _ = _run(["gap", "--synthetic", fake_dataset, "--real", fake_dataset,
                   "--patch-size", "100000"])
    _expect_exit_2(res, "--patch-size")
    res, _ = _run(["preview", fake_dataset, "-o", tmp_path / "s.png", "--tile-width", "100000"])
    _expect_exit_2(res, "--tile-width")
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("fmt,flag", [("coco", ["--shard-size", "5"]), ("yolo", ["--crops"]),
                                      ("webdataset", ["--by", "defect"]),
                                      ("folders", ["--no-defects"]),
                                      ("coco", ["--crop-margin", "0.3"])])
def test_export_flags_of_another_format_are_refused(fake_dataset, tmp_path, fmt, flag):
    res, _ = _run(["export", fake_dataset, "--format", fmt, "-o", tmp_path / "e", *flag])
    _expect_exit_2(res, "applies to --format", f"not {fmt}")
    assert not (tmp_path / "e").exists()


def _png_header_only(path, width, height):
    """A tiny PNG file whose header declares `width` x `height` (no real pixel data)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def test_a_huge_background_image_is_a_validate_error(tmp_path):
    (tmp_path / "bg").mkdir()
    _png_header_only(tmp_path / "bg" / "huge.png", 20000, 20000)
    res, seconds = _run(["validate", _scene(tmp_path, background={"images": "bg"})])
    _expect_exit_2(res, "background.images", "20000x20000", "downscale it")
    assert seconds < 5


def test_a_huge_photo_is_refused_by_fit_without_decoding_it(fake_dataset, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    cv2.imwrite(str(real / "ok.png"), np.full((40, 40, 3), 100, np.uint8))
    _png_header_only(real / "huge.png", 20000, 20000)
    res, seconds = _run(["adapt", "fit", "--synthetic", fake_dataset, "--real", real,
                         "-o", tmp_path / "m.safetensors", "--method", "histogram"])
    _expect_exit_2(res, "huge.png", "20000x20000")
    assert seconds < 10 and not (tmp_path / "m.safetensors").exists()


def test_a_diverged_fit_exits_2_and_writes_nothing(fake_dataset, tmp_path):
    from synthgap.adapt.fitting import fit_adapter, folder_fit_data

    real = tmp_path / "real"
    real.mkdir()
    for i in range(3):
        cv2.imwrite(str(real / f"{i}.png"), np.full((40, 40, 3), 60 + 40 * i, np.uint8))
    with pytest.raises(ValueError, match="NaN or infinite.*nothing was written"):
        fit_adapter("conv-smcae", folder_fit_data(fake_dataset, real), tmp_path / "m.safetensors",
                    options={"learning_rate": 1e30, "iterations": 5, "patch_size": 16,
                             "hidden": [4], "n_pairs": 16})
    assert not list(tmp_path.glob("m.*"))
