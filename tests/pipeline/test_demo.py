import json

import numpy as np
import trimesh

from synthgap.data import read_image
from synthgap.pipeline.demo import (
    DEMO_DATA,
    DEMO_SCENE,
    demo_job,
    demo_split,
    evaluate_stage,
    finish_demo,
    heldout_gap_stage,
    objects_stage,
    write_demo_photos,
)


def test_the_shipped_demo_set_is_small_complete_and_split():
    files = [p for p in DEMO_DATA.rglob("*") if p.is_file()]
    assert max(p.stat().st_size for p in files) < 2_000_000
    assert sum(p.stat().st_size for p in files) < 4_000_000
    assert (DEMO_DATA / "LICENSE.source-repo").read_text().startswith("MIT")
    assert "Brachmann" in (DEMO_DATA / "ATTRIBUTION.md").read_text()
    split = demo_split()
    assert len(split["fit"]) == 10 and len(split["test"]) == 20
    assert not set(split["fit"]) & set(split["test"])
    # the demo's fit photos are LM-O fit photos, its held-out photos LM-O test photos
    lmo = json.loads((DEMO_DATA.parents[2].parent / "shared" / "data" / "lmo" / "splits.json")
                     .read_text())
    assert set(split["fit"]) <= set(lmo["fit"]) and set(split["test"]) <= set(lmo["test"])
    cams = json.loads((DEMO_SCENE / "scene_camera.json").read_text())
    gts = json.loads((DEMO_SCENE / "scene_gt.json").read_text())
    for i in split["fit"] + split["test"]:
        assert read_image(DEMO_SCENE / "rgb" / f"{i:06d}.jpg").shape == (240, 320, 3)
        assert abs(cams[str(i)]["cam_K"][0] - 572.4114 / 2) < 1e-3   # K scaled with the photo
        assert {e["obj_id"] for e in gts[str(i)]} <= {1, 5, 6, 9}
    for obj in (1, 5, 6, 9):
        mesh = trimesh.load(DEMO_DATA / "models" / f"obj_{obj:06d}.ply", process=False)
        assert mesh.visual.kind == "vertex" and len(mesh.faces) <= 3000
        assert np.ptp(mesh.vertices, axis=0).max() > 50  # millimetres


def test_bop_reader_reads_the_demo_scene():
    from synthgap.scenes.bop import read_bop_scene

    bop = read_bop_scene(DEMO_SCENE, image_ids=demo_split()["test"][:3])
    assert (bop.width, bop.height) == (320, 240)
    assert sorted(bop.models) == [1, 5, 6, 9]


def test_tiny_demo_shows_renders_beside_photos_the_held_out_gap_and_the_return_table(tmp_path):
    job = demo_job(tmp_path / "demo", images=6, method="histogram")
    from synthgap.pipeline import run_job

    run_job(job, progress=False)

    def tiny_evaluate(job):
        return evaluate_stage(job, settings={"seeds": 2, "steps": 4, "folds": 2,
                                             "curve": (3,), "jobs": 1})

    results = finish_demo(job, stages=[objects_stage, heldout_gap_stage, tiny_evaluate])
    out = tmp_path / "demo"
    sheet = read_image(out / "objects.png")
    assert sheet.shape[0] > 4 * 96 and sheet.shape[1] > 8 * 96
    # every object has real crops; renders of 6 images show at least some objects
    crops = results["objects_stage"]["crops"]
    assert all(real > 0 for _, real in crops.values())
    assert sum(r for r, _ in crops.values()) > 0
    gap = results["heldout_gap_stage"]
    assert set(gap) == {"raw renders", "adapted"}
    assert gap["raw renders"]["n_real"] == 20 and len(gap["raw renders"]["domain_auc_ci95"]) == 2
    ev = results["tiny_evaluate"]
    assert set(ev["rows"]) == {"real-only@3", "raw renders", "raw renders+real@3",
                               "adapted (histogram)", "adapted (histogram)+real@3"}
    assert all(r["n_seeds"] == 2 for r in ev["rows"].values())
    assert (out / "evaluate" / "report.md").is_file()
    report = (out / "report.md").read_text()
    assert "objects.png" in report and "held-out photos" in report
    assert "| real photos only |" in report
    assert json.loads((out / "demo.json").read_text()).keys() == results.keys()
    # a second finish replaces the demo's section instead of appending another
    finish_demo(job, stages=[objects_stage])
    report = (out / "report.md").read_text()
    assert report.count("## Renders beside real photos") == 1 and "real photos only" not in report
    # the copied fit photos are never overwritten or removed by a second call
    paths = write_demo_photos(out / "real_photos")
    assert len(paths) == 10
