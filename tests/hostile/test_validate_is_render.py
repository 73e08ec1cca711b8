"""Issue 21, items 9-10: what `validate` passes, `render` can do (and what a record, a photo
or a model file says is checked before it is used)."""

import json

import numpy as np
import pytest
import trimesh
import yaml
from click.testing import CliRunner

from synthgap.cli import main
from synthgap.data.layout import DatasetFileError

BASE = {"camera": {"fov_deg": 40}, "parts": [{"procedural": "l_bracket"}]}


def _validate(tmp_path, scene):
    p = tmp_path / "scene.yaml"
    p.write_text(yaml.safe_dump(scene) if isinstance(scene, dict) else scene)
    return CliRunner().invoke(main, ["validate", str(p)])


def _expect_2(res, *fragments):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output, res.output
    for f in fragments:
        assert f in res.output, (f, res.output)


# -- item 9
@pytest.mark.parametrize("sensor,fragment", [({"blur_sigma": 100}, "sensor.blur_sigma"),
                                             ({"blur_sigma": [1, 1e9]}, "sensor.blur_sigma")])
def test_sensor_bounds_are_validate_errors(tmp_path, sensor, fragment):
    _expect_2(_validate(tmp_path, {**BASE, "sensor": sensor}), fragment, "50")


def test_a_texture_larger_than_gl_allows_is_a_validate_error(tmp_path):
    from PIL import Image

    Image.new("RGB", (17000, 600)).save(tmp_path / "wide.png")
    res = _validate(tmp_path, {**BASE, "background": {"texture_image": "wide.png"}})
    _expect_2(res, "background.texture_image", "17000x600", "8192")


def test_xatlas_on_a_huge_mesh_is_a_validate_error(tmp_path, monkeypatch):
    import synthgap.generators.look.uvs as uvs

    monkeypatch.setattr(uvs, "MAX_XATLAS_FACES", 100)  # a small mesh stands in
    trimesh.creation.icosphere(subdivisions=2).export(tmp_path / "ball.stl")  # 320 faces
    scene = {**BASE, "parts": [{"mesh": "ball.stl", "units": "mm",
                                "material": {"texture": "brushed", "uv": "xatlas"}}]}
    res = _validate(tmp_path, scene)
    _expect_2(res, "parts[0].material.uv", "320 faces", "uv: box")


# -- item 10
@pytest.mark.parametrize("field,value,fragment", [
    ("intrinsics", {"fx": 1e300, "fy": 80, "cx": 32, "cy": 24}, "camera.intrinsics.fx"),
    ("intrinsics", {"fx": 80, "fy": 80, "cx": 1e9, "cy": 24}, "camera.intrinsics.cx"),
])
def test_intrinsics_are_bounded(tmp_path, field, value, fragment):
    scene = {"image": {"width": 64, "height": 48},
             "camera": {field: value}, "parts": [{"procedural": "l_bracket"}]}
    _expect_2(_validate(tmp_path, scene), fragment)


def test_plane_size_is_bounded(tmp_path):
    _expect_2(_validate(tmp_path, {**BASE, "background": {"plane_size": 1e300}}),
              "background.plane_size")


def test_duplicate_yaml_keys_are_refused(tmp_path):
    res = _validate(tmp_path, "camera: {fov_deg: 40}\nparts: [{procedural: l_bracket}]\n"
                              "camera: {fov_deg: 60}\n")
    _expect_2(res, "duplicate key 'camera'", "line 3")


def test_real_views_far_away_are_refused(tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 48)).save(tmp_path / "p.png")
    view = {"photo": "p.png", "camera_look_at": {"eye": [0, 0, 0.5], "look_at": [0, 0, 0],
                                                 "up": [0, 1, 0]},
            "parts": [{"part": "l_bracket", "position": [1e300, 0, 0]}]}
    scene = {"image": {"width": 64, "height": 48}, "camera": {"fov_deg": 40},
             "parts": [{"procedural": "l_bracket"}], "real_views": [view]}
    _expect_2(_validate(tmp_path, scene), "real_views[0]", "beyond")


def test_a_float_tiff_with_one_nan_keeps_its_picture(tmp_path):
    import cv2

    from synthgap.data import read_image

    img = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (16, 1))
    img[3, 3] = np.nan
    cv2.imwrite(str(tmp_path / "f.tiff"), img)
    out = read_image(tmp_path / "f.tiff")
    assert out[0, 31, 0] == 255 and out[0, 0, 0] == 0 and out[3, 3, 0] == 0
    cv2.imwrite(str(tmp_path / "n.tiff"), np.full((4, 4), np.nan, np.float32))
    with pytest.raises(DatasetFileError, match="n.tiff.*no finite"):
        read_image(tmp_path / "n.tiff")


@pytest.mark.parametrize("kind,tensor,scale", [("camera", "gains", 1e30),
                                               ("camera", "tone", -5.0),
                                               ("pda", "matrix", 1e30)])
def test_tampered_model_values_are_refused(fake_dataset, tmp_path, kind, tensor, scale):
    from safetensors.numpy import load_file

    from synthgap.adapt.image_base import load_image_adapter
    from synthgap.adapt.modelfile import ModelFileError
    from tests.conftest import tamper_model

    path = tmp_path / "m.safetensors"
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(fake_dataset), "--method", kind, "-o", str(path)])
    assert res.exit_code == 0, res.output
    value = load_file(str(path))[tensor]
    tamper_model(path, **{tensor: (value * scale if scale > 0 else value + scale)
                          .astype(value.dtype)})
    with pytest.raises(ModelFileError, match=tensor):
        load_image_adapter(path)


def _records(root):
    return [json.loads(line) for line in (root / "records.jsonl").read_text().splitlines()]


def _write(root, recs):
    (root / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_a_duplicate_record_index_is_an_error(fake_dataset, tmp_path):
    from synthgap.data import read_records

    recs = _records(fake_dataset)
    recs[2]["index"] = 1
    _write(fake_dataset, recs)
    with pytest.raises(DatasetFileError, match="records.jsonl:3: index 1 .*line 2"):
        read_records(fake_dataset)
    res = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco",
                                    "-o", str(tmp_path / "c")])
    _expect_2(res, "index 1")


@pytest.mark.parametrize("field,value,fragment", [
    ("width", 10**9, "width"), ("index", -5, "index"), ("index", "zero", "index"),
    ("height", True, "height"), ("index", 1.5, "index")])
def test_record_numbers_are_checked(fake_dataset, tmp_path, field, value, fragment):
    recs = _records(fake_dataset)
    recs[0][field] = value
    _write(fake_dataset, recs)
    res = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco",
                                    "-o", str(tmp_path / "c")])
    _expect_2(res, "records.jsonl:1", fragment)


def test_a_deeply_nested_record_line_is_an_error(fake_dataset, tmp_path):
    (fake_dataset / "records.jsonl").write_text('{"index": ' + "[" * 100000 + "]" * 100000
                                                + "}\n")
    res = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco",
                                    "-o", str(tmp_path / "c")])
    _expect_2(res, "records.jsonl:1")


@pytest.mark.parametrize("position,fragment", [([0, 0, 1.0], "behind the camera"),
                                               ([50.0, 0, 0], "far outside")])
def test_real_views_whose_parts_cannot_be_seen_are_refused(tmp_path, position, fragment):
    from PIL import Image

    Image.new("RGB", (64, 48)).save(tmp_path / "p.png")
    view = {"photo": "p.png", "camera_look_at": {"eye": [0, 0, 0.5], "look_at": [0, 0, 0],
                                                 "up": [0, 1, 0]},
            "parts": [{"part": "l_bracket", "position": position}]}
    scene = {"image": {"width": 64, "height": 48}, "camera": {"fov_deg": 40},
             "parts": [{"procedural": "l_bracket"}], "real_views": [view]}
    _expect_2(_validate(tmp_path, scene), "real_views[0].parts[0]", fragment)
    view["parts"][0]["position"] = [0, 0, 0]
    res = _validate(tmp_path, scene)
    assert res.exit_code == 0, res.output
