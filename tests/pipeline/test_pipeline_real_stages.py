"""The job end to end with the library's own stages (rendering, adapter fit/apply, gap)."""

import json

import pytest

from synthgap.data import read_records
from synthgap.pipeline import JobPaths, run_job
from synthgap.pipeline.demo import write_coin_photos

pytest.importorskip("synthgap.generators.runner", reason="needs the renderer")
pytest.importorskip("synthgap.adapt.apply", reason="needs the image adapters")


def test_tiny_job_renders_adapts_exports_and_reports(tmp_path):
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
