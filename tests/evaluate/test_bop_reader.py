"""BOP reading: several scene folders, per-image K, OBJ meshes in metres, names; ground truth
from poses checked against scene_gt_info's visible fractions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from synthgap.evaluate.bop_reader import VISIB_TOLERANCE, read_bop
from synthgap.evaluate.labels import read_real
from synthgap.evaluate.models import IGNORE
from synthgap.evaluate.real import LabelError, RealData
from tests.evaluate.bop_fixture import PHOTOS


def test_reads_every_scene_folder_with_names(bop_real: RealData) -> None:
    assert bop_real.classes == ["ape", "duck", "glue"]
    assert {p.group for p in bop_real.photos} == set(PHOTOS)
    assert len(bop_real.photos) == sum(len(v) for v in PHOTOS.values())
    assert all(len(p.instances) == 3 for p in bop_real.photos)
    assert bop_real.seg_y is not None and bop_real.seg_y.shape == (6, 60, 80)


def test_per_image_intrinsics_are_used(bop_dir: Path, bop_real: RealData) -> None:
    cams = json.loads((bop_dir / "test" / "000001" / "scene_camera.json").read_text())
    fx = {v["cam_K"][0] for v in cams.values()}
    assert len(fx) == 3  # each photo its own K
    # rendered masks land on the recorded visible boxes (a wrong K would move them)
    for i, photo in enumerate(bop_real.photos):
        seg = bop_real.seg_y[i]
        for r in photo.instances:
            if r.ignore or r.visib < 0.5:
                continue
            ys, xs = np.nonzero(seg == r.cls + 1)
            assert len(xs) > 0
            cx, cy = xs.mean() * 2, ys.mean() * 2  # class maps are at half size
            x, y, w, h = r.box
            assert x - 3 <= cx <= x + w + 3 and y - 3 <= cy <= y + h + 3


def test_visibility_check_marks_disagreeing_instances(bop_real: RealData) -> None:
    vis = bop_real.visibility
    assert vis is not None and vis.checked == 18
    flagged = sum(r.ignore for p in bop_real.photos for r in p.instances)
    assert flagged == vis.ignored > 0  # the fixture drops occluding objects: renders see more
    assert vis.mean_diff > 0 and vis.tolerance == VISIB_TOLERANCE
    ignored_photo = next(i for i, p in enumerate(bop_real.photos)
                         if any(r.ignore for r in p.instances))
    assert (bop_real.seg_y[ignored_photo] == IGNORE).any()


def test_names_from_models_info_then_fallback(bop_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    shutil.copytree(bop_dir, data, ignore=shutil.ignore_patterns("000002"))
    real = read_bop(data, mesh_units="m", seg_size=None)
    assert real.classes == ["obj_000001", "obj_000009", "obj_000011"]
    (data / "models" / "models_info.json").write_text(json.dumps(
        {"1": {"name": "a"}, "9": {"name": "d"}, "11": {"name": "g"}}))
    assert read_bop(data, mesh_units="m", seg_size=None).classes == ["a", "d", "g"]


def test_bad_bop_field_names_file_and_field(bop_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    shutil.copytree(bop_dir, data, ignore=shutil.ignore_patterns("000002"))
    cam = data / "test" / "000001" / "scene_camera.json"
    cams = json.loads(cam.read_text())
    cams["3"]["cam_K"] = [1, 2, 3]
    cam.write_text(json.dumps(cams))
    with pytest.raises(LabelError, match=r"scene_camera\.json.*3\.cam_K"):
        read_real(data, mesh_units="m", seg_size=None)
