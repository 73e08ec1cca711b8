"""BOP scene reader: LM-O read as a synthgap scene, and malformed folders named clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from synthgap.scenes.bop import BopFormatError, bop_scene_to_scene, read_bop_scene

# ../shared/data/lmo next to the repository (a worktree under wt/ finds it one level higher)
_REPO = Path(__file__).resolve().parents[2]
LMO = next((p for p in (_REPO.parent / "shared/data/lmo", _REPO.parent.parent / "shared/data/lmo")
            if p.is_dir()), _REPO.parent / "shared/data/lmo")
SCENE = LMO / "test" / "000002"


def test_lmo_data_is_there():
    # The real-photo tests read ../shared/data/lmo; they must fail, not skip, without it.
    assert (SCENE / "scene_gt.json").is_file(), f"LM-O data missing at {LMO}"


def test_reads_lmo_scene():
    bop = read_bop_scene(SCENE)
    assert len(bop.images) == 200
    assert (bop.width, bop.height) == (640, 480)
    assert bop.obj_ids == (1, 5, 6, 8, 9, 10, 11, 12)
    assert sum(len(im.objects) for im in bop.images) == 1517
    im = bop.image(3)
    assert im.rgb.name == "000003.png"
    np.testing.assert_allclose(im.K[0, 0], 572.4114)
    o = im.objects[0]
    assert o.bbox_visib is not None and o.visib_fract is not None
    assert o.pose.shape == (4, 4) and o.pose[3, 3] == 1.0
    with pytest.raises(KeyError, match="image id 4 is not in"):
        bop.image(4)


def test_scene_pins_every_photo_at_its_poses():
    bop = read_bop_scene(SCENE, image_ids=[3, 61])
    scene = bop_scene_to_scene(bop, names={1: "ape", 5: "can"})
    assert len(scene.real_views) == 2
    names = {p.name for p in scene.parts}
    assert {"ape", "can", "obj_000006"} <= names
    view = scene.real_views[0]
    assert view.units == "mm" and view.photo == bop.image(3).rgb
    pose = np.asarray(view.parts[0].pose)
    np.testing.assert_allclose(pose[:3, 3], bop.image(3).objects[0].pose[:3, 3])
    np.testing.assert_allclose(pose[:3, :3], bop.image(3).objects[0].pose[:3, :3], atol=1e-2)
    k = scene.intrinsics()
    assert (k.fx, k.cx) == (572.4114, 325.2611)
    assert scene.background.plane is False


def _small_copy(tmp_path: Path, ids=(3, 8)) -> Path:
    scene = tmp_path / "lm" / "test" / "000002"
    (scene / "rgb").mkdir(parents=True)
    for name in ("scene_camera.json", "scene_gt.json", "scene_gt_info.json"):
        data = json.loads((SCENE / name).read_text())
        (scene / name).write_text(json.dumps({str(i): data[str(i)] for i in ids}))
    for i in ids:
        shutil.copy(SCENE / "rgb" / f"{i:06d}.png", scene / "rgb")
    (tmp_path / "lm" / "models").mkdir()
    for p in (LMO / "models").glob("obj_*.ply"):
        (tmp_path / "lm" / "models" / p.name).symlink_to(p)
    return scene


def test_models_found_two_levels_up(tmp_path):
    scene = _small_copy(tmp_path)
    bop = read_bop_scene(scene)
    assert bop.models_dir == (tmp_path / "lm" / "models").resolve()
    assert [im.image_id for im in bop.images] == [3, 8]


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["3"][0].update(cam_R_m2c=[1, 0, 0, 0, 1, 0, 0, 0, 2]),
     r"scene_gt.json: 3\[0\].cam_R_m2c: not a rotation matrix"),
    (lambda d: d["3"][0].update(cam_t_m2c=[0, "x", 1]),
     r"3\[0\].cam_t_m2c: expected a list of 3 finite numbers"),
    (lambda d: d["3"][0].update(obj_id=99), r"no model .*obj_000099.ply"),
    (lambda d: d["3"][0].update(obj_id="1"), r"3\[0\].obj_id: expected an integer"),
    (lambda d: d.update({"x": []}), r"image ids \(the keys\) must be integers"),
])
def test_malformed_gt_is_named(tmp_path, edit, match):
    scene = _small_copy(tmp_path)
    path = scene / "scene_gt.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(BopFormatError, match=match):
        read_bop_scene(scene)


def test_missing_photo_and_files(tmp_path):
    scene = _small_copy(tmp_path)
    (scene / "rgb" / "000008.png").unlink()
    with pytest.raises(BopFormatError, match=r"no photo .*000008"):
        read_bop_scene(scene)
    (scene / "scene_camera.json").unlink()
    with pytest.raises(BopFormatError, match="scene_camera.json: file not found"):
        read_bop_scene(scene)
    with pytest.raises(BopFormatError, match="not a folder"):
        read_bop_scene(tmp_path / "nope")


def test_unknown_ids_and_different_intrinsics(tmp_path):
    scene = _small_copy(tmp_path)
    with pytest.raises(BopFormatError, match=r"image ids \[5\] are not in this scene"):
        read_bop_scene(scene, image_ids=[5])
    cams = json.loads((scene / "scene_camera.json").read_text())
    cams["8"]["cam_K"][0] = 600.0
    (scene / "scene_camera.json").write_text(json.dumps(cams))
    bop = read_bop_scene(scene)
    with pytest.raises(BopFormatError, match=r"8.cam_K: differs from image 3's"):
        bop_scene_to_scene(bop)
    assert len(bop_scene_to_scene(bop, image_ids=[8]).real_views) == 1
