"""Issue 21, items 11-13 and 17: bad input is one line naming the file and field, exit 2,
never a traceback."""

import os

import cv2
import numpy as np
import pytest
import trimesh
import yaml
from click.testing import CliRunner

from synthgap.cli import main


def _expect_2(res, *fragments):
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and len(res.output) < 1500, res.output
    for f in fragments:
        assert f in res.output, (f, res.output)


# -- item 12
@pytest.mark.parametrize("shape", [(1, 1), (1, 40)])
def test_a_camera_fit_on_tiny_photos_is_one_line(fake_dataset, tmp_path, shape):
    ph = tmp_path / "ph"
    ph.mkdir()
    cv2.imwrite(str(ph / "a.png"), np.full((*shape, 3), 90, np.uint8))
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(ph), "--method", "camera",
                                    "-o", str(tmp_path / "m.safetensors")])
    _expect_2(res, "a.png", "8 px")


def test_a_seed_that_overflows_is_refused(fake_dataset, tmp_path):
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(fake_dataset), "--method", "camera", "--set",
                                    "seed=1e23", "-o", str(tmp_path / "m.safetensors")])
    _expect_2(res, "options.seed")


@pytest.mark.parametrize("field", ["output", "scene", "real_photos"])
def test_a_symlink_loop_in_a_job_is_one_line(tmp_path, field):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    (tmp_path / "ph").mkdir()
    job = {"images": 2, "output": "o", "real_photos": "ph", "adapt": {"method": "histogram"}}
    job[field] = "loop/x" if field != "output" else "loop/out"
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "job.yaml")])
    _expect_2(res, field, "symbolic link")


def test_run_into_a_symlink_loop_is_one_line(tmp_path):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    (tmp_path / "job.yaml").write_text("images: 2\noutput: o\nadapt: {method: none}\n")
    res = CliRunner().invoke(main, ["run", str(tmp_path / "job.yaml"), "-o",
                                    str(tmp_path / "loop")])
    _expect_2(res, "symbolic link")


def test_demo_images_are_bounded(tmp_path):
    res = CliRunner().invoke(main, ["demo", "--images", "100000000", "-o", str(tmp_path / "d")])
    _expect_2(res, "--images")
    assert not (tmp_path / "d").exists()


# -- item 13
def test_a_binary_hint_file_names_the_file(tmp_path):
    cv2.imwrite(str(tmp_path / "p.png"), np.full((480, 640, 3), 90, np.uint8))
    (tmp_path / "hint.bin").write_bytes(bytes(range(256)) * 4)
    res = CliRunner().invoke(main, ["align", "preset:bin", str(tmp_path / "p.png"), "--part",
                                    "l_bracket", "-o", str(tmp_path / "v.yaml"),
                                    "--hint-pose", str(tmp_path / "hint.bin")])
    _expect_2(res, "hint.bin", "not a text file")


def test_a_pydantic_error_in_a_hint_file_is_one_line(tmp_path):
    cv2.imwrite(str(tmp_path / "p.png"), np.full((480, 640, 3), 90, np.uint8))
    (tmp_path / "h.yaml").write_text("real_views: [{photo: p.png}]\n")
    res = CliRunner().invoke(main, ["align", "preset:bin", str(tmp_path / "p.png"), "--part",
                                    "l_bracket", "-o", str(tmp_path / "v.yaml"),
                                    "--hint-pose", str(tmp_path / "h.yaml")])
    _expect_2(res, "h.yaml", "real_views[0]")
    assert "pydantic.dev" not in res.output


def test_a_mesh_with_huge_coordinates_says_how_far(tmp_path):
    box = trimesh.creation.box((20, 10, 5))
    v = box.vertices.copy()
    v[:, 0] += 1e300  # doubles in an OBJ file (an STL holds float32)
    (tmp_path / "far.obj").write_text(
        "".join(f"v {float(x)!r} {float(y)!r} {float(z)!r}\n" for x, y, z in v)
        + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in box.faces))
    (tmp_path / "s.yaml").write_text("camera: {fov_deg: 40}\nparts: [{mesh: far.obj, "
                                     "units: mm}]\n")
    res = CliRunner().invoke(main, ["validate", str(tmp_path / "s.yaml")])
    _expect_2(res, "parts[0].mesh", "coordinates reach 1e+297 m")


def test_dataset_transform_is_checked_when_given(fake_dataset):
    from synthgap.data.torch_dataset import SynthgapDataset

    with pytest.raises(TypeError, match="transform: expected a callable"):
        SynthgapDataset(fake_dataset, transform=42)
    with pytest.raises(TypeError, match="transforms: expected a callable"):
        SynthgapDataset(fake_dataset, transforms="flip")
    ds = SynthgapDataset(fake_dataset, transforms=lambda image, target: None)
    with pytest.raises(TypeError, match=r"transforms returned None.*\(image, target\)"):
        ds[0]


# -- item 17: exit codes
def test_tampered_records_exit_2_everywhere(fake_dataset, tmp_path):
    (fake_dataset / "records.jsonl").write_text("not json\n")
    for args in (["export", str(fake_dataset), "--format", "coco", "-o", str(tmp_path / "c")],
                 ["preview", str(fake_dataset), "-o", str(tmp_path / "s.png")]):
        res = CliRunner().invoke(main, args)
        _expect_2(res, "records.jsonl:1")
