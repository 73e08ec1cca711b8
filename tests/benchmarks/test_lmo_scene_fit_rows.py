"""The pieces of `benchmarks/lmo_scene_fit.py` and `benchmarks/real_lmo.py` that name and sum up
the fitted-scene rows: which renders a row trains on, the scene with fitted lights, the
table's numbers and intervals, real_lmo's `--rows-as fitted` names."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" /
                                                  f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sf():
    return _load("lmo_scene_fit")


def test_adapter_and_real_rows_train_on_the_fitted_renders(sf):
    assert sf.base_row("fitted:camera+conv-smcae") == "fitted"
    assert sf.base_row("fitted+real") == "fitted"
    assert sf.base_row("fitted[-lights]") == "fitted[-lights]"
    assert sf.base_row("random") == "random"
    assert {f"fitted:{m}" for m in sf.ADAPTERS} <= set(sf.DEFAULT_ROWS.split(","))


def test_with_lights_takes_lights_and_ambient_and_keeps_the_rest(sf, tmp_path):
    scene = tmp_path / "scene.yaml"
    scene.write_text(yaml.safe_dump({
        "lights": [{"type": "point", "intensity": [1, 2]}],
        "background": {"ambient": [0.1, 0.1, 0.1], "images": "plates"}, "area": [0.5, 0.5]}))
    lit = tmp_path / "lit.yaml"
    lit.write_text("# fitted\n" + yaml.safe_dump({
        "lights": [{"type": "directional", "intensity": 1.4, "elevation": 89.0}],
        "background": {"ambient": [0.36, 0.39, 0.31], "images": "/elsewhere"}}))
    out = sf.with_lights(scene, lit, tmp_path / "out.yaml")
    got = yaml.safe_load(out.read_text())
    assert got["lights"] == [{"type": "directional", "intensity": 1.4, "elevation": 89.0}]
    assert got["background"] == {"ambient": [0.36, 0.39, 0.31], "images": "plates"}
    assert got["area"] == [0.5, 0.5]


def _result(per_photo: dict[str, list[list[int]]], share: float = 0.0) -> dict:
    seeds = len(next(iter(per_photo.values())))
    return {"seeds": {str(s): [sum(v[s][0] for v in per_photo.values()),
                               sum(v[s][1] for v in per_photo.values())] for s in range(seeds)},
            "photos": per_photo,
            "share": {"mean_share": share, "other_class_over_10pct": share}}


def test_summary_pools_folds_and_pairs_photos(sf):
    # two folds of two photos each, two seeds; fitted is right on 2 more crops per seed
    random = [_result({"3": [[2, 5], [3, 5]], "61": [[1, 4], [1, 4]]}, 0.08),
              _result({"102": [[4, 6], [4, 6]], "162": [[0, 3], [1, 3]]}, 0.06)]
    fitted = [_result({"3": [[3, 5], [4, 5]], "61": [[2, 4], [2, 4]]}),
              _result({"102": [[4, 6], [4, 6]], "162": [[0, 3], [1, 3]]})]
    table = sf.summarise({"random": random, "fitted": fitted})
    assert table["random"]["seeds"] == [round(7 / 18, 4), round(9 / 18, 4)]
    assert table["random"]["mean"] == round(8 / 18, 4)
    assert table["random"]["std"] == round(1 / 18, 4)  # ddof 0
    assert table["random"]["object_share"] == 0.07
    d = table["fitted"]["vs_random"]
    assert d["diff"] == round(2 / 18, 4)
    assert d["ci95"][0] <= d["diff"] <= d["ci95"][1] and d["ci95"][1] > 0
    assert table["random"]["vs_fitted"]["diff"] == -d["diff"]
    assert "vs_fitted" not in table["fitted"] and "vs_random" not in table["random"]


def test_real_lmo_names_rows_of_a_fitted_scene():
    rl = _load("real_lmo")
    assert rl.fitted_name("raw") == "fitted"
    assert rl.fitted_name("raw+real") == "fitted+real"
    assert rl.fitted_name("camera+conv-smcae:aligned") == "fitted:camera+conv-smcae"
    assert rl.fitted_name("conv-smcae:aligned+real") == "fitted:conv-smcae+real"
    assert rl.fitted_name("histogram") == "histogram"  # unpaired: not fitted on the scene
    assert rl.fitted_name("real-only x2") == "real-only x2"
    assert np.array_equal(sorted(rl.ALIGNED_SET), sorted(
        ["histogram", "pda", "camera", "conv-smcae", "camera+conv-smcae"]))
