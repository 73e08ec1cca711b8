"""`synthgap align`: photo + scene + box hint -> real_views YAML that loads into the scene and
renders onto the part; overlay PNGs; clear errors for bad hints and parts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from synthgap.cli import main

W, H = 160, 120
FX = 260.0


def scene_dict() -> dict:
    return {
        "image": {"width": W, "height": H},
        "camera": {"intrinsics": {"fx": FX, "fy": FX, "cx": 79.5, "cy": 59.5}},
        "parts": [{"procedural": "l_bracket",
                   "material": {"base_color": [0.75, 0.6, 0.3], "metallic": 0.2,
                                "roughness": 0.5}}],
        "lights": [{"type": "directional", "intensity": 4.0, "elevation": 90}],
        "background": {"color": [0.15, 0.2, 0.25]},
    }


def true_pose() -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", (-50.0, 20.0, 35.0), degrees=True).as_matrix()
    T[:3, 3] = (0.01, -0.005, 0.30)
    return T


@pytest.fixture(scope="module")
def cell(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    """(scene file, photo rendered at the true pose, true mask)."""
    from synthgap.generators.real.ground_truth import iter_view_labels
    from synthgap.generators.real.views import render_aligned_views
    from synthgap.scenes.io import parse_scene

    root = tmp_path_factory.mktemp("cell")
    photo = root / "photo.png"
    cv2.imwrite(str(photo), np.zeros((H, W, 3), np.uint8))  # placeholder for the view
    data = scene_dict()
    data["real_views"] = [{"photo": "photo.png", "camera_pose": np.eye(4).tolist(),
                           "background": {"plane": False, "color": [0.15, 0.2, 0.25]},
                           "parts": [{"part": "l_bracket", "pose": true_pose().tolist()}]}]
    scene = parse_scene(data, base_dir=root)
    view = render_aligned_views(scene)[0]
    cv2.imwrite(str(photo), cv2.cvtColor(view.render, cv2.COLOR_RGB2BGR))
    truth = next(iter_view_labels(scene)).instance_mask == 1
    scene_file = root / "cell.yaml"
    scene_file.write_text(yaml.safe_dump(scene_dict()))
    return scene_file, photo, truth


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_align_box_hint_writes_views_that_render_onto_the_part(cell, tmp_path):
    from synthgap.generators.real.ground_truth import iter_view_labels
    from synthgap.scenes.io import parse_scene

    scene_file, photo, truth = cell
    ys, xs = np.nonzero(truth)
    box = f"{xs.min()},{ys.min()},{xs.max() - xs.min()},{ys.max() - ys.min()}"
    out = tmp_path / "views.yaml"
    res = run(["align", str(scene_file), str(photo), "--part", "l_bracket", "--hint-box", box,
               "-o", str(out), "--preview", str(tmp_path / "prev"), "--views", "80",
               "--refine-evals", "60"])
    assert res.exit_code == 0, res.output
    views = yaml.safe_load(out.read_text())["real_views"]
    assert len(views) == 1 and views[0]["parts"][0]["part"] == "l_bracket"
    assert views[0]["background"] == {"plane": False}  # camera frame: the table is unknown
    # the YAML merges into the scene and its view renders onto the photo's part
    data = yaml.safe_load(scene_file.read_text())
    data["real_views"] = views
    scene = parse_scene(data, base_dir=scene_file.parent)
    got = next(iter_view_labels(scene)).instance_mask == 1
    assert (got & truth).sum() / (got | truth).sum() >= 0.8
    overlay = cv2.imread(str(tmp_path / "prev" / "photo_align.png"))
    assert overlay is not None and overlay.shape == (H, W, 3)
    assert '"part": "l_bracket"' in res.output


@pytest.mark.parametrize("extra, match", [
    (["--part", "nope", "--hint-box", "1,1,20,20"], "not in the scene's part library"),
    (["--part", "l_bracket", "--hint-box", "1,1,20,20", "--hint-box", "1,1,9,9"],
     "one box per photo and part"),
    (["--part", "l_bracket", "--hint-box", "1,1,20"], "4 comma-separated numbers"),
    (["--part", "l_bracket"], "no hint: give --hint-box or --hint-pose"),
    (["--part", "l_bracket", "--depth", "0.5,0.2"], "0 < NEAR <= FAR"),
])
def test_align_bad_arguments(cell, tmp_path, extra, match):
    scene_file, photo, _ = cell
    res = CliRunner().invoke(main, ["align", str(scene_file), str(photo), *extra, "-o",
                                    str(tmp_path / "v.yaml")])
    assert res.exit_code != 0
    assert match in res.output
    assert not (tmp_path / "v.yaml").exists()


def test_align_pose_hint_file_errors(cell, tmp_path):
    scene_file, photo, _ = cell
    hints = tmp_path / "hints.yaml"
    hints.write_text(yaml.safe_dump({"real_views": [
        {"photo": "other.png", "camera_pose": np.eye(4).tolist(),
         "parts": [{"part": "l_bracket", "pose": true_pose().tolist()}]}]}))
    res = CliRunner().invoke(main, ["align", str(scene_file), str(photo), "--part", "l_bracket",
                                    "--hint-pose", str(hints), "-o", str(tmp_path / "v.yaml")])
    assert res.exit_code != 0 and "no real_views entry for photo photo.png" in res.output
    hints.write_text("real_views: [{photo: photo.png}]")
    res = CliRunner().invoke(main, ["align", str(scene_file), str(photo), "--part", "l_bracket",
                                    "--hint-pose", str(hints), "-o", str(tmp_path / "v.yaml")])
    assert res.exit_code != 0 and "real_views[0]" in res.output


@pytest.mark.parametrize("flag, expected", [([], True), (["--no-colours"], False)])
def test_align_colours_flag_reaches_the_config(cell, tmp_path, monkeypatch, flag, expected):
    import synthgap.poses.views as av

    seen = {}

    def fake_align_views(*args, config, **kwargs):
        seen["config"] = config
        raise ValueError("stop here")

    monkeypatch.setattr(av, "align_views", fake_align_views)
    scene_file, photo, _ = cell
    res = CliRunner().invoke(main, ["align", str(scene_file), str(photo), "--part", "l_bracket",
                                    "--hint-box", "1,1,20,20", *flag, "-o",
                                    str(tmp_path / "v.yaml")])
    assert res.exit_code != 0 and "stop here" in res.output
    assert seen["config"].mesh_colours is expected
    assert (seen["config"].w_appearance == 0.0) or expected


def test_align_plane_auto_needs_three_parts_and_keeps_a_lone_part(cell, tmp_path):
    scene_file, photo, truth = cell
    ys, xs = np.nonzero(truth)
    box = f"{xs.min()},{ys.min()},{xs.max() - xs.min()},{ys.max() - ys.min()}"
    outs = {}
    for mode in ("off", "auto"):
        outs[mode] = tmp_path / f"{mode}.yaml"
        res = run(["align", str(scene_file), str(photo), "--part", "l_bracket", "--hint-box",
                   box, "-o", str(outs[mode]), "--views", "40", "--refine-evals", "20",
                   "--plane", mode])
        assert res.exit_code == 0, res.output
        assert "on_plane" not in res.output  # one part: the plane step does not run
    # one part is no plane: the plane step changes nothing
    assert outs["off"].read_text() == outs["auto"].read_text()
    res = CliRunner().invoke(main, ["align", str(scene_file), str(photo), "--part",
                                    "l_bracket", "--hint-box", box, "-o",
                                    str(tmp_path / "x.yaml"), "--plane", "maybe"])
    assert res.exit_code == 2 and "--plane" in res.output
