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
    assert json.loads(paths.gap_json.read_text()) == json.loads(json.dumps(report.gap))
    raw, ada = (report.gap[k]["domain_accuracy"] for k in ("raw renders", "adapted (histogram)"))
    assert raw != ada  # the adapted images were measured, not the raw ones again
    for p in (paths.preview, paths.compare, paths.gap_png, paths.report_md):
        assert p.is_file()
    again = run_job(job, progress=False)
    assert {s.name: s.status for s in again.stages}["fit"] == "resumed"


_SMALL = {"patch-smcae": {"iterations": 3, "patch_size": 8, "hidden_sizes": [16, 8, 16], "n_pairs": 64},
          "conv-smcae": {"iterations": 3, "patch_size": 16, "hidden": [4], "n_pairs": 32},
          "fda": {}, "pda": {}}


def _job(tmp_path, method, pairing=None, photos=None, **extra):
    from synthgap.pipeline import parse_job

    adapt = {"method": method, "options": _SMALL.get(method, {}), "max_images": 3}
    if pairing:
        adapt["pairing"] = pairing
    return parse_job({"scene": "default", "images": 3, "size": [64, 48], "seed": 2,
                      "real_photos": str(photos), "adapt": adapt, "export": ["coco"],
                      "split": "1,0,0", "gap": pairing == "class", "preview": {"n": 2, "tile_width": 64},
                      "output": "out", **extra}, base_dir=tmp_path, source="job.yaml")


@pytest.mark.parametrize("method", ["patch-smcae", "conv-smcae", "fda", "pda", "camera",
                                    "camera+histogram"])
def test_every_adaptation_method_runs_in_a_job_with_real_stages(tmp_path, method):
    from synthgap.adapt.image_base import load_image_adapter
    from synthgap.data import read_image

    photos = tmp_path / "photos"
    write_coin_photos(photos, n=3, size=(64, 48))
    run_job(_job(tmp_path, method, photos=photos), progress=False)
    paths = JobPaths(tmp_path / "out")
    adapter = load_image_adapter(paths.model)  # a real model file, not stand-in bytes
    if "+" in method:  # a chain is one model file whose steps are the named methods
        assert [step.method for step in adapter.steps] == method.split("+")
    else:
        assert adapter.method == method
    rec = read_records(paths.render)[0]
    raw = read_image(paths.render / rec.files["image"])
    out = read_image(paths.adapted / rec.files["image"])
    assert (out == adapter.transform(raw)).all() and out.any()


def test_class_pairing_in_a_job_pairs_renders_with_photos_of_their_class(tmp_path):
    from synthgap.adapt.image_base import load_image_adapter
    from synthgap.scenes import default_scene

    cls = default_scene().parts[0].category or default_scene().parts[0].default_name()
    photos = tmp_path / "photos"
    write_coin_photos(photos / cls, n=3, size=(64, 48))
    write_coin_photos(photos / "other", n=2, size=(64, 48), seed=1)
    report = run_job(_job(tmp_path, "conv-smcae", "class", photos=photos), progress=False)
    fit = next(s for s in report.stages if s.name == "fit").summary
    assert fit["classes"] == [cls] and fit["n_synthetic"] == 3 and fit["n_real"] == 5
    assert load_image_adapter(JobPaths(tmp_path / "out").model).method == "conv-smcae"


def test_class_pairing_without_class_folders_fails_at_parse_time(tmp_path):
    from synthgap.pipeline import JobError

    photos = tmp_path / "photos"
    write_coin_photos(photos, n=2, size=(64, 48))
    with pytest.raises(JobError, match="adapt.pairing: class pairing needs real_photos with one "
                                       "sub-folder per part class"):
        _job(tmp_path, "conv-smcae", "class", photos=photos)


def test_job_without_seed_uses_the_scene_seed(tmp_path):
    from synthgap.pipeline import parse_job

    scene = tmp_path / "s.yaml"
    scene.write_text("seed: 41\nparts: [{procedural: l_bracket}]\ncamera: {fov_deg: 40}\n")
    job = parse_job({"scene": "s.yaml", "images": 1, "adapt": {"method": "none"},
                     "output": "o"}, base_dir=tmp_path)
    assert job.seed == 41
    job = parse_job({"scene": "s.yaml", "images": 1, "seed": 3, "adapt": {"method": "none"},
                     "output": "o"}, base_dir=tmp_path)
    assert job.seed == 3


def _cell_scene(tmp_path):
    """A scene file with two pinned real views (the photos: noise of the right size)."""
    import cv2
    import numpy as np
    import yaml

    rng = np.random.default_rng(0)
    views = []
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"v{i}.png"), rng.integers(0, 255, (48, 64), dtype=np.uint8))
        views.append({"photo": f"v{i}.png",
                      "camera_look_at": {"eye": [0.1 - 0.2 * i, -0.15, 0.18],
                                         "look_at": [0, 0, 0.01]},
                      "parts": [{"part": "l_bracket", "position": [0, 0, 0]}]})
    scene = {"image": {"width": 64, "height": 48},
             "camera": {"intrinsics": {"fx": 110.0, "fy": 110.0, "cx": 31.5, "cy": 23.5}},
             "parts": [{"procedural": "l_bracket"}], "real_views": views}
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_aligned_pairing_in_a_job_fits_on_the_scene_real_views(tmp_path):
    from synthgap.adapt.image_base import load_image_adapter
    from synthgap.pipeline import parse_job

    scene = _cell_scene(tmp_path)
    photos = tmp_path / "photos"
    write_coin_photos(photos, n=2, size=(64, 48))
    job = parse_job({"scene": str(scene), "images": 2, "real_photos": str(photos),
                     "adapt": {"method": "conv-smcae", "pairing": "aligned",
                               "options": _SMALL["conv-smcae"]},
                     "export": ["coco"], "split": "1,0,0", "gap": False,
                     "preview": {"n": 2, "tile_width": 64}, "output": "out"},
                    base_dir=tmp_path, source="job.yaml")
    report = run_job(job, progress=False)
    fit = next(s for s in report.stages if s.name == "fit").summary
    assert fit["pairing"] == "aligned" and fit["n_synthetic"] == fit["n_real"] == 2
    assert load_image_adapter(JobPaths(tmp_path / "out").model).method == "conv-smcae"


def test_aligned_pairing_without_real_views_fails_at_parse_time(tmp_path):
    from synthgap.pipeline import JobError, parse_job

    scene = tmp_path / "s.yaml"
    scene.write_text("camera: {fov_deg: 40}\nparts: [{procedural: l_bracket}]\n")
    photos = tmp_path / "photos"
    write_coin_photos(photos, n=2, size=(64, 48))
    with pytest.raises(JobError, match="adapt.pairing: aligned pairs come from the scene's "
                                       "real_views"):
        parse_job({"scene": "s.yaml", "images": 2, "real_photos": "photos",
                   "adapt": {"method": "conv-smcae", "pairing": "aligned"}, "output": "o"},
                  base_dir=tmp_path)


def test_gap_is_measured_on_photos_and_renders_the_fit_did_not_use(tmp_path):
    from synthgap.pipeline import parse_job
    from synthgap.pipeline.stages import held_out_photos

    photos = tmp_path / "photos"
    write_coin_photos(photos, n=8, size=(96, 72))
    job = parse_job({"scene": "default", "images": 6, "size": [96, 72], "seed": 3,
                     "real_photos": str(photos), "adapt": {"method": "histogram",
                                                           "max_images": 4},
                     "export": ["coco"], "split": "1,0,0", "gap_holdout": 0.25,
                     "preview": {"n": 2, "tile_width": 96}, "output": "out"},
                    base_dir=tmp_path, source="job.yaml")
    # every 4th photo by name is held out: coins_03, coins_07
    assert held_out_photos(job) == ["coins_03.png", "coins_07.png"]
    report = run_job(job, progress=False)
    fit = {s.name: s for s in report.stages}["fit"].summary
    # the fit read the first 4 photos that are not held out (00, 01, 02, 04) and renders 0-3
    assert fit["n_real"] == 4 and fit["held_out_photos"] == ["coins_03.png", "coins_07.png"]
    for name in ("raw renders", "adapted (histogram)"):
        assert report.gap[name]["photos"] == "held out (2)"
        assert report.gap[name]["renders"] == "held out"
        assert report.gap[name]["n_real"] == 2 and report.gap[name]["n_synthetic"] == 2
    assert "held out (2), held out" in JobPaths(tmp_path / "out").report_md.read_text()

    # no share held out: the report says the gap is on the fitting photos
    job0 = job.model_copy(update={"gap_holdout": 0.0, "output": str(tmp_path / "out0")})
    assert held_out_photos(job0) == []
    report0 = run_job(job0, progress=False)
    assert report0.gap["raw renders"]["photos"].startswith("fit (8")
