"""The job end to end with the library's own stages (rendering, adapter fit/apply, gap)."""

import json

import pytest

from synthgap.data import read_records
from synthgap.pipeline import JobPaths, run_job
from synthgap.pipeline.demo import write_coin_photos


def test_render_stage_renders_the_job_scene_at_its_size_and_seed(tmp_path):
    from synthgap.data import read_image
    from synthgap.pipeline import parse_job
    from synthgap.pipeline.stages import render_stage

    job = parse_job({"scene": "preset:bin", "images": 2, "size": [64, 48], "seed": 5,
                     "adapt": {"method": "none"}, "output": "o"}, base_dir=tmp_path)
    summary = render_stage(job, tmp_path / "r", progress=False)
    records = read_records(tmp_path / "r")
    assert summary["count"] == 2 and [r.seed for r in records] == [5, 5]
    assert read_image(tmp_path / "r" / "images" / "000001.png").shape == (48, 64, 3)
    again = render_stage(job, tmp_path / "r", progress=False)  # resumes: nothing to do
    assert again["rendered"] == 0


def test_job_without_adaptation_renders_and_exports(tmp_path):
    from synthgap.export.coco import read as read_coco
    from synthgap.pipeline import parse_job

    job = parse_job({"scene": "default", "images": 3, "size": [64, 48], "gap": False,
                     "adapt": {"method": "none"}, "export": ["coco"], "split": "1,0,0",
                     "preview": {"n": 3, "tile_width": 64}, "output": "o"}, base_dir=tmp_path)
    report = run_job(job, progress=False)
    samples = list(read_coco(tmp_path / "o" / "export" / "coco"))
    assert len(samples) == 3 and all(s.names for s in samples)  # the bracket is in view
    assert {s.name: s.status for s in report.stages} == {
        "render": "done", "export:coco": "done", "preview": "done"}


def test_tiny_job_renders_adapts_exports_and_reports(tmp_path):
    pytest.importorskip("synthgap.adapt.apply", reason="needs the image adapters")
    from synthgap.pipeline import parse_job

    photos = tmp_path / "photos"
    write_coin_photos(photos, n=4, size=(96, 72))
    job = parse_job({"scene": "default", "images": 4, "size": [96, 72], "seed": 3,
                     "real_photos": str(photos), "adapt": {"method": "histogram"},
                     "export": ["coco", "yolo"], "split": "0.5,0.5,0",
                     "preview": {"n": 4, "tile_width": 96}, "output": "out"},
                    base_dir=tmp_path, source="job.yaml")
    report = run_job(job, progress=False)
    paths = JobPaths(tmp_path / "out")
    assert len(read_records(paths.render)) == len(read_records(paths.adapted)) == 4
    assert json.loads((paths.adapted / "adapt.json").read_text())["method"] == "histogram"
    for fmt in ("coco", "yolo"):
        assert sum(report.exports[fmt]["images"].values()) == 4
    assert set(report.gap) == {"raw renders", "adapted (histogram)"}
    for metrics in report.gap.values():
        assert 0.0 <= metrics["domain_accuracy"] <= 1.0
    for p in (paths.preview, paths.compare, paths.gap_png, paths.report_md):
        assert p.is_file()
    again = run_job(job, progress=False)
    assert {s.name: s.status for s in again.stages}["fit"] == "resumed"
