"""`synthgap tune` on a tiny problem: photos rendered from a bright scene, a start scene ten
times too dark; the search must find the light, resume, log valid scenes and refuse bad
search files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from synthgap.cli import main
from synthgap.scenes import parse_scene
from synthgap.tune.space import SearchSpaceError, apply_values, default_search, parse_search

SIZE = "64x48"


def _scene(intensity: float) -> dict:
    return {"seed": 0, "image": {"width": 64, "height": 48},
            "camera": {"fov_deg": 40.0, "pose": {"look_at": [0, 0, 0.01], "distance": 0.15,
                                                 "elevation": [40, 70], "azimuth": [0, 360]}},
            "parts": [{"procedural": "l_bracket",
                       "material": {"base_color": [0.7, 0.6, 0.5], "metallic": 0.0,
                                    "roughness": 0.8}}],
            "lights": [{"type": "directional", "intensity": intensity, "elevation": 60,
                        "azimuth": 30}],
            "background": {"color": [0.4, 0.4, 0.45], "ambient": [0.05, 0.05, 0.05]}}


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> Path:
    from PIL import Image

    from synthgap.tune.score import TrialRenderer

    root = tmp_path_factory.mktemp("tune")
    target = parse_scene(_scene(3.0), base_dir=root)
    photos = root / "photos"
    photos.mkdir()
    r = TrialRenderer(target, (64, 48))
    for k, img in enumerate(r.render(target, n=6, seed=100)):
        Image.fromarray(img).save(photos / f"p{k}.png")
    r.close()
    (root / "scene.yaml").write_text(yaml.safe_dump(_scene(0.3)))
    (root / "search.yaml").write_text(yaml.safe_dump(
        {"search": {"lights[*].intensity": {"scale": [0.2, 30.0]}}}))
    return root


def _tune(root: Path, out: str, *extra: str):
    args = ["tune", str(root / "scene.yaml"), "--photos", str(root / "photos"), "-o",
            str(root / out), "--size", SIZE, "--renders", "6", "--patch-size", "16",
            "--objective", "histogram_distance", "--repeats", "2", *extra]
    return CliRunner().invoke(main, args)


def test_search_improves_on_a_bad_start_and_logs_valid_scenes(problem):
    res = _tune(problem, "run", "--search", str(problem / "search.yaml"), "--trials", "8")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    report = json.loads((problem / "run" / "report.json").read_text())
    assert report["start_score"] is not None  # trial 0 is the scene as given
    assert report["best_score"] < 0.5 * report["start_score"]
    assert summary["best"]["mean"] < summary["start"]["mean"]
    assert report["best_values"]["lights[*].intensity"] > 3.0
    best = yaml.safe_load((problem / "run" / "best_scene.yaml").read_text())
    assert best["lights"][0]["intensity"] > 0.9
    lines = [json.loads(x) for x in (problem / "run" / "trials.jsonl").read_text().splitlines()]
    assert [x["trial"] for x in lines] == list(range(8))
    for x in lines:
        scene = parse_scene(yaml.safe_load(x["scene"]), base_dir=problem)
        assert scene.lights[0].intensity.values[0] == pytest.approx(
            0.3 * x["values"]["lights[*].intensity"], rel=1e-6)
    for name in ("report.md", "trials.png", "search_space.yaml", "study.journal"):
        assert (problem / "run" / name).is_file()


def test_rerun_continues_the_trial_count(problem):
    assert _tune(problem, "resume", "--trials", "2").exit_code == 0
    res = _tune(problem, "resume", "--trials", "4")
    assert res.exit_code == 0, res.output
    assert "2 trials done, running 2 more" in res.stderr
    lines = (problem / "resume" / "trials.jsonl").read_text().splitlines()
    assert [json.loads(x)["trial"] for x in lines] == [0, 1, 2, 3]
    other = _tune(problem, "resume", "--trials", "4", "--seed", "3")  # another study
    assert other.exit_code == 2 and "another --out" in other.stderr


@pytest.mark.parametrize(("search", "field"), [
    ({"search": {"lights[5].intensity": {"scale": [0.5, 2]}}}, "search.lights[5].intensity"),
    ({"search": {"lights[0].intensity": {"scale": [2, 0.5]}}}, "search.lights[0].intensity"),
    ({"search": {"lights[0].elevation": {"value": [0, 120]}}}, "search.lights[0].elevation"),
    ({"search": {"lights[0].intensity": {"scale": [0.5, 2], "lg": True}}}, ".lg"),
    ({"serch": {}}, "(top level)"),
    ("search:\n  sensor: {choice: [null, {}]}\n  sensor: {choice: [null, {}]}\n", "(file)"),
])
def test_bad_search_files_name_file_field_and_exit_2(problem, search, field):
    bad = problem / "bad_search.yaml"
    bad.write_text(search if isinstance(search, str) else yaml.safe_dump(search))
    res = _tune(problem, "bad", "--search", str(bad), "--trials", "1")
    assert res.exit_code == 2
    assert "bad_search.yaml" in res.stderr and field in res.stderr
    assert not (problem / "bad" / "study.journal").exists()


def test_knobs_apply_in_order_and_removed_fields_make_later_knobs_inactive():
    data = _scene(1.0) | {"sensor": {"noise": 0.01}}
    knobs = parse_search({"search": {"sensor": {"choice": [None, {"noise": 0.02}]},
                                     "sensor.noise": {"value": [0.0, 0.05]},
                                     "lights[+]": {"choice": [None, {"type": "environment"}]},
                                     "camera.pose.elevation": {"range": [10, 80]}}}, "s.yaml")
    new, inactive = apply_values(data, knobs, {"sensor": None, "sensor.noise": 0.03,
                                               "lights[+]": {"type": "environment"},
                                               "camera.pose.elevation": [20, 30]})
    assert "sensor" not in new and inactive == ["sensor.noise"]
    assert [lt["type"] for lt in new["lights"]] == ["directional", "environment"]
    assert new["camera"]["pose"]["elevation"] == [20, 30]
    assert data["sensor"] == {"noise": 0.01}  # the input is not modified
    with pytest.raises(SearchSpaceError, match=r"s.yaml: search.parts\[0\].mesh"):
        parse_search({"search": {"parts[0].mesh": {"choice": ["a.stl", "b.stl"]}}}, "s.yaml")


def test_default_search_is_valid_for_the_example_scenes():
    from synthgap.tune.space import check_search

    root = Path(__file__).resolve().parents[2] / "examples"
    for name in ("bracket_turntable.yaml", "lmo_like.yaml"):
        data = yaml.safe_load((root / name).read_text())
        knobs = parse_search(default_search(data), name)
        check_search(knobs, data, base_dir=root, file=name)
        assert {"lights[*].intensity", "sensor", "lights[+]"} <= {k.path for k in knobs}
    assert np.isfinite(1.0)


def test_photos_shown_as_backgrounds_or_as_their_plates_are_flagged(tmp_path):
    from types import SimpleNamespace

    from synthgap.tune.search import _overlap

    same = tmp_path / "desk.jpg"
    bop_photo, views_photo, other = (tmp_path / "000003.png", tmp_path / "shot.jpg",
                                     tmp_path / "13.png")
    # a background that is a photo itself, a BOP plate and a real_views plate (scene fit's names)
    scene = SimpleNamespace(background=SimpleNamespace(image_files=[
        same, tmp_path / "plates" / "000002_000003.png", tmp_path / "plates" / "004_shot.png",
        tmp_path / "plates" / "000002_000113.png"]))
    got = _overlap(scene, [same, bop_photo, views_photo, other])
    assert got == [str(same), str(bop_photo), str(views_photo)]  # not 13.png (…_000113 differs)
