import json

import numpy as np
from click.testing import CliRunner

from synthgap.cli import main
from tests.conftest import write_fake_dataset


def test_bad_job_file_is_a_usage_error_naming_the_field(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("images: 3\noutput: o\nexport: [coco, vok]\nadapt: {method: none}\n")
    r = CliRunner().invoke(main, ["run", str(job)])
    assert r.exit_code == 2
    assert "job.yaml: export[1]: expected one of" in r.output and "Traceback" not in r.output


def test_run_prints_where_everything_is(tmp_path, monkeypatch):
    import synthgap.pipeline.run as run_mod
    from synthgap.pipeline import Stages

    def render(job, out, *, progress=True):  # stands in for rendering
        if not out.exists():
            write_fake_dataset(out, n=job.images, seed=job.seed)
        return {"count": job.images}

    monkeypatch.setattr(run_mod, "Stages", lambda: Stages(render=render))
    job = tmp_path / "job.yaml"
    job.write_text("images: 4\noutput: o\nexport: [yolo-seg]\nadapt: {method: none}\n"
                   "preview: {n: 2, tile_width: 64}\n")
    r = CliRunner().invoke(main, ["run", str(job), "--no-progress"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["output"] == str(tmp_path / "o")
    assert summary["files"]["export:yolo-seg"] == "export/yolo-seg"
    assert summary["stages"] == {"render": "done", "export:yolo-seg": "done", "preview": "done"}
    assert "report.md" in r.stderr
    r = CliRunner().invoke(main, ["run", str(job), "--no-progress"])
    assert json.loads(r.stdout)["stages"]["export:yolo-seg"] == "resumed"


def test_a_failing_stage_is_named(tmp_path, monkeypatch):
    import synthgap.pipeline.run as run_mod
    from synthgap.pipeline import Stages

    def render(job, out, *, progress=True):
        raise ValueError("scene.yaml: parts[0].mesh: file not found")

    monkeypatch.setattr(run_mod, "Stages", lambda: Stages(render=render))
    job = tmp_path / "job.yaml"
    job.write_text("images: 4\noutput: o\nadapt: {method: none}\n")
    r = CliRunner().invoke(main, ["run", str(job)])
    assert r.exit_code == 1
    assert "stage render: scene.yaml: parts[0].mesh: file not found" in r.output


def test_demo_photos_are_coin_crops(tmp_path):
    seed = 0
    from skimage import data

    from synthgap.data import read_image
    from synthgap.pipeline.demo import demo_job, write_coin_photos

    paths = write_coin_photos(tmp_path / "p", n=3, size=(64, 48), seed=seed)
    coins = data.coins()
    for p in paths:
        img = read_image(p)
        assert img.shape == (48, 64, 3)
        # each crop is found verbatim in the coins photo
        windows = np.lib.stride_tricks.sliding_window_view(coins, (48, 64))
        assert (windows == img[:, :, 0]).all(axis=(2, 3)).any()
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in
                                               write_coin_photos(tmp_path / "q", n=3,
                                                                 size=(64, 48), seed=seed)]
    job = demo_job(tmp_path / "demo")
    assert job.scene.endswith("scene.yaml") and job.export == ("coco", "yolo")
    # the demo adapts to the shipped set's 10 fit photos (LM-O), not to coins
    assert len(list((tmp_path / "demo" / "real_photos").glob("*.jpg"))) == 10
