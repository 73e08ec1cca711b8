"""`synthgap scene fit`: end to end on two LM-O fit photos, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from synthgap.cli import main

REPO = Path(__file__).resolve().parents[2]
LMO = next((p for p in (REPO.parent / "shared/data/lmo", REPO.parent.parent / "shared/data/lmo")
            if p.is_dir()), REPO.parent / "shared/data/lmo")
SCENE_DIR = LMO / "test" / "000002"
TEMPLATE = REPO / "examples" / "lmo_like.yaml"
FIT_IDS = json.loads((LMO / "splits.json").read_text())["fit"]


def _run(*args: str):
    return CliRunner().invoke(main, ["scene", "fit", *args], catch_exceptions=False)


#: BOP objects left out to keep the tests fast (the template keeps the can and the driller)
IGNORE = [a for i in (1, 6, 9, 10, 11, 12) for a in ("--ignore-object", str(i))]


def _template(tmp_path: Path, keep: tuple[int, ...] = (1, 3)) -> Path:
    """examples/lmo_like.yaml with only `keep` parts (default: can, driller), paths absolute."""
    tpl = yaml.safe_load(TEMPLATE.read_text())
    tpl["parts"] = [tpl["parts"][k] for k in keep]
    for p in tpl["parts"]:
        p["mesh"] = str((TEMPLATE.parent / p["mesh"]).resolve())
    tpl["background"]["image_files"] = [str((TEMPLATE.parent / f).resolve())
                                        for f in tpl["background"]["image_files"]]
    path = tmp_path / "tpl.yaml"
    path.write_text(yaml.safe_dump(tpl))
    return path


def test_fit_two_lmo_photos_end_to_end(tmp_path):
    out = tmp_path / "fitted.yaml"
    tpl = _template(tmp_path)
    res = _run(str(tpl), "--bop", str(SCENE_DIR), "--image-ids",
               f"{FIT_IDS[0]},{FIT_IDS[5]}", "-o", str(out), *IGNORE)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["photos"] == 2 and summary["plates"]["files"] == 2
    assert summary["plates"]["object_share_before"] > 0.02
    assert summary["plates"]["object_share_after"] == 0.0
    from synthgap.scenes import load_scene

    scene = load_scene(out)
    assert len(scene.background.image_files) == 2
    assert all(p.placement == "observed" for p in scene.parts)
    text = out.read_text()
    assert text.startswith("# Scene fitted by `synthgap scene fit` from 2 photos")
    # the sensor block is fitted to the photos by default, not copied from the template
    template_sensor = yaml.safe_load(tpl.read_text())["sensor"]
    fitted_sensor = yaml.safe_load(text)["sensor"]
    assert "sensor" in summary and fitted_sensor == summary["sensor"]
    assert fitted_sensor != template_sensor and set(fitted_sensor) <= {
        "noise", "blur_sigma", "vignetting", "jpeg_quality"}
    assert "fitted by the camera model" in text
    # the slow stages are announced on stderr as they start (the JSON summary stays last)
    for stage in ("rendering the part masks of 2 photos", "writing 2 plates",
                  "fitting the sensor block"):
        assert f"synthgap: scene fit: {stage}" in res.stderr
    # the command refuses to replace what it did not ask to
    again = _run(str(tpl), "--bop", str(SCENE_DIR), "--image-ids", str(FIT_IDS[0]),
                 "-o", str(out), *IGNORE)
    assert again.exit_code == 2 and "--force" in again.output


def test_plates_hold_no_object_pixels_and_share_measures_them(tmp_path):
    from synthgap.data.layout import read_image
    from synthgap.scenefit.observations import from_bop
    from synthgap.scenefit.plates import object_pixel_share, photo_masks, write_plates
    from synthgap.scenes import load_scene

    tpl = load_scene(_template(tmp_path))
    obs = from_bop([SCENE_DIR], tpl, image_ids=[FIT_IDS[3]], ignore_objects=(1, 6, 9, 10, 11, 12))
    masks = photo_masks(tpl, obs)
    obj = masks[0].instance_mask > 0
    rep = write_plates(obs, masks, tmp_path / "plates", dilate_px=5)
    plate, photo = read_image(rep.files[0]), read_image(obs[0].photo)
    assert (plate[~obj] == photo[~obj]).mean() > 0.9  # only the (dilated) parts changed
    assert (plate[obj] != photo[obj]).any(axis=1).mean() > 0.9
    assert rep.object_share_before == pytest.approx(obj.mean())
    assert rep.object_share_after == 0.0

    # a one-image "dataset" whose background is the raw photo, nothing drawn over it
    from tests.conftest import write_fake_dataset

    root = write_fake_dataset(tmp_path / "ds", n=1, width=640, height=480, defects=False)
    rec = json.loads((root / "records.jsonl").read_text().splitlines()[0])
    rec["params"]["background"] = {"image": str(obs[0].photo), "image_crop": [0, 0, 1, 1]}
    ys, xs = np.nonzero(obj)
    rec["instances"][0]["bbox"] = [int(xs.min()), int(ys.min()), int(np.ptp(xs)), int(np.ptp(ys))]
    rec["instances"] = rec["instances"][:1]
    (root / "records.jsonl").write_text(json.dumps(rec) + "\n")
    from synthgap.data.layout import write_depth_atomic

    write_depth_atomic(root / rec["files"]["depth"], np.zeros((480, 640), np.float32))
    raw = object_pixel_share(root, {str(obs[0].photo): masks[0].instance_mask})
    assert raw.crops == 1 and raw.mean_share > 0.3
    rec["params"]["background"]["image"] = str(rep.files[0])
    (root / "records.jsonl").write_text(json.dumps(rec) + "\n")
    clean = object_pixel_share(root, {str(obs[0].photo): masks[0].instance_mask})
    assert clean.mean_share == 0.0


def test_missing_bop_folder_is_exit_2(tmp_path):
    res = _run(str(TEMPLATE), "--bop", str(tmp_path / "nope"), "-o", str(tmp_path / "f.yaml"))
    assert res.exit_code == 2 and "--bop" in res.output and "not a folder" in res.output


def test_bop_object_not_in_template_names_file_field_and_fix(tmp_path):
    res = _run(str(_template(tmp_path)), "--bop", str(SCENE_DIR), "--image-ids", str(FIT_IDS[0]),
               "-o", str(tmp_path / "f.yaml"))
    assert res.exit_code == 2
    assert "scene_gt.json" in res.output and ".obj_id" in res.output
    assert "add `- {mesh:" in res.output


@pytest.mark.parametrize("ids", ["3,x", "-1", "999999"])
def test_bad_image_ids_is_exit_2(tmp_path, ids):
    res = _run(str(_template(tmp_path)), "--bop", str(SCENE_DIR), "--image-ids", ids,
               "-o", str(tmp_path / "f.yaml"))
    assert res.exit_code == 2, res.output
    assert "image ids" in res.output or "image-ids" in res.output


def test_views_file_without_real_views_is_exit_2(tmp_path):
    views = tmp_path / "views.yaml"
    views.write_text("real_views: []\n")
    res = _run(str(_template(tmp_path)), "--views", str(views), "-o", str(tmp_path / "f.yaml"))
    assert res.exit_code == 2 and "views.yaml" in res.output and "real_views" in res.output


def test_fit_from_a_views_file_like_align_writes(tmp_path):
    from synthgap.scenefit.observations import from_bop
    from synthgap.scenes import load_scene

    tpl = _template(tmp_path)
    obs = from_bop([SCENE_DIR], load_scene(tpl), image_ids=[FIT_IDS[7]],
                   ignore_objects=(1, 6, 9, 10, 11, 12))
    views = {"real_views": [{"photo": str(o.photo), "camera_pose": np.eye(4).tolist(),
                             "parts": [{"part": p.part, "pose": p.pose.tolist()}
                                       for p in o.parts]} for o in obs]}
    path = tmp_path / "views.yaml"
    path.write_text(yaml.safe_dump(views))
    out = tmp_path / "fitted.yaml"
    res = _run(str(tpl), "--views", str(path), "-o", str(out), "--no-plates", "--no-sensor")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["photos"] == 1 and "plates" not in summary and "sensor" not in summary
    # --no-sensor keeps the template's block
    assert yaml.safe_load(out.read_text())["sensor"] == yaml.safe_load(tpl.read_text())["sensor"]
    assert summary["visib_fract_mean"] is not None  # measured from rendered masks
    scene = load_scene(out)
    assert [str(p) for p in scene.background.image_files] == [str(obs[0].photo)]
