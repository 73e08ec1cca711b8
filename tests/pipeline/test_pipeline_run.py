import json

import numpy as np

from synthgap.data import read_image
from synthgap.export.coco import read as read_coco
from synthgap.pipeline import JobPaths, parse_job, run_job


def _job(tmp_path, photos, **kw):
    data = {"images": 6, "output": "out", "real_photos": str(photos),
            "adapt": {"method": "histogram"}, "export": ["coco", "yolo"],
            "preview": {"n": 4, "tile_width": 96}, "split": "0.5,0.5,0"}
    data.update(kw)
    return parse_job(data, base_dir=tmp_path, source="job.yaml")


def test_run_writes_exports_preview_and_report(tmp_path, photos, fake_stages):
    job = _job(tmp_path, photos)
    report = run_job(job, stages=fake_stages.stages(), progress=False)
    paths = JobPaths(tmp_path / "out")
    for p in (paths.report_json, paths.report_md, paths.preview, paths.compare, paths.gap_json,
              paths.export("coco") / "export.json", paths.export("yolo") / "data.yaml"):
        assert p.is_file(), p
    # the exports hold the adapted images with the original labels
    for s in read_coco(paths.export("coco")):
        raw = read_image(paths.render / "images" / f"{s.key}.png")
        np.testing.assert_array_equal(s.image, 255 - raw)
    data = json.loads(paths.report_json.read_text())
    assert [s["name"] for s in data["stages"]] == ["render", "fit", "apply", "export:coco",
                                                   "export:yolo", "preview", "gap"]
    assert set(data["gap"]) == {"raw renders", "adapted (histogram)"}
    assert sum(data["exports"]["coco"]["images"].values()) == 6
    md = paths.report_md.read_text()
    assert "![preview](preview.png)" in md and "| raw renders | " in md
    assert "| coco | `export/coco` | " in md
    assert report.files["compare"] == "compare.png"


def test_rerun_resumes_and_skips_finished_stages(tmp_path, photos, fake_stages):
    run_job(_job(tmp_path, photos), stages=fake_stages.stages(), progress=False)
    report = run_job(_job(tmp_path, photos), stages=fake_stages.stages(), progress=False)
    status = {s.name: s.status for s in report.stages}
    assert status["fit"] == status["export:coco"] == status["gap"] == "resumed"
    assert fake_stages.calls["fit"] == 1 and fake_stages.calls["gap"] == 1
    # more images: render and adapt only the new ones, keep the model, redo the exports
    report = run_job(_job(tmp_path, photos, images=9), stages=fake_stages.stages(),
                     progress=False)
    status = {s.name: s for s in report.stages}
    assert status["fit"].status == "resumed"
    assert status["apply"].summary == {"written": 3}
    assert status["export:coco"].status == "done"
    assert sum(status["export:coco"].summary["images"].values()) == 9


def test_new_adaptation_settings_refit_and_readapt_everything(tmp_path, photos, fake_stages):
    run_job(_job(tmp_path, photos), stages=fake_stages.stages(), progress=False)
    report = run_job(_job(tmp_path, photos, adapt={"method": "fda"}),
                     stages=fake_stages.stages(), progress=False)
    status = {s.name: s for s in report.stages}
    assert status["fit"].status == "done" and status["apply"].summary == {"written": 6}
    assert fake_stages.calls["fit"] == 2


def test_without_adaptation_the_raw_renders_are_exported(tmp_path, fake_stages):
    job = parse_job({"images": 4, "output": "o", "adapt": {"method": "none"},
                     "export": ["webdataset"], "preview": {"n": 2}}, base_dir=tmp_path)
    report = run_job(job, stages=fake_stages.stages(), progress=False)
    assert [s.name for s in report.stages] == ["render", "export:webdataset", "preview"]
    assert "compare" not in report.files and report.gap == {}
    assert fake_stages.calls["fit"] == 0
