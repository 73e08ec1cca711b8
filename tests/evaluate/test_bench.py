"""The LM-O benchmark helpers: the render scene made from a template, the splits, the
seed table (ddof 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from synthgap.evaluate import bench
from synthgap.evaluate.real import LabelError
from tests.evaluate.bop_fixture import LMO

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "lmo_like.yaml"


def test_render_scene_keeps_per_part_settings(tmp_path: Path) -> None:
    spec = yaml.safe_load(TEMPLATE.read_text())
    spec["parts"][3]["material"] = {"appearance": "material", "roughness": 0.9}  # driller
    template = tmp_path / "t.yaml"
    template.write_text(yaml.safe_dump(spec))
    backgrounds = [tmp_path / "a.png", tmp_path / "b.png"]
    path = bench.render_scene_file(template, tmp_path / "o", LMO, [3, 61], backgrounds)
    out = yaml.safe_load(path.read_text())
    by_class = {p["class"]: p for p in out["parts"]}
    assert by_class["driller"]["material"]["roughness"] == 0.9
    assert "material" not in by_class["ape"]
    assert by_class["ape"]["mesh"].endswith("obj_000001.ply")
    assert out["background"]["image_files"] == [str(b) for b in backgrounds]
    cams = json.loads((LMO / "test" / "000002" / "scene_camera.json").read_text())
    assert out["camera"]["intrinsics"]["fx"] == pytest.approx(cams["3"]["cam_K"][0])


def test_splits_and_table(tmp_path: Path) -> None:
    fit, test = bench.read_splits(LMO)
    assert len(fit) == 20 and len(test) == 180 and not set(fit) & set(test)
    (tmp_path / "splits.json").write_text(json.dumps({"fit": [1, 2], "test": [2]}))
    with pytest.raises(LabelError, match="share"):
        bench.read_splits(tmp_path)
    table = bench.accuracy_table([("a", 0, 0, 7, 10), ("a", 1, 0, 9, 10), ("a", 0, 1, 3, 10),
                                  ("a", 1, 1, 4, 10)], "t")
    # seed 0: (7 + 9) / 20, seed 1: (3 + 4) / 20
    assert table["a"]["mean"] == pytest.approx((0.8 + 0.35) / 2)
    assert table["a"]["std"] == pytest.approx(0.3182, abs=1e-4)  # ddof 1
    assert table["a"]["n_seeds"] == 2


def test_render_scene_keeps_own_background_only_when_asked(tmp_path: Path) -> None:
    spec = yaml.safe_load(TEMPLATE.read_text())
    spec["background"]["images"] = "plates"  # relative to the template, as scene fit writes
    spec["background"].pop("image_files", None)
    template = tmp_path / "t.yaml"
    template.write_text(yaml.safe_dump(spec))
    backgrounds = [tmp_path / "a.png"]
    kept = yaml.safe_load(bench.render_scene_file(template, tmp_path / "o", LMO, [3], backgrounds,
                                                  keep_background=True).read_text())
    assert kept["background"]["images"] == str((tmp_path / "plates").resolve())
    assert "image_files" not in kept["background"]
    over = yaml.safe_load(bench.render_scene_file(template, tmp_path / "p", LMO, [3],
                                                  backgrounds).read_text())
    assert over["background"]["image_files"] == [str(backgrounds[0])]
    assert "images" not in over["background"]
    # a template without background photos of its own still gets the given ones
    spec["background"].pop("images")
    template.write_text(yaml.safe_dump(spec))
    none = yaml.safe_load(bench.render_scene_file(template, tmp_path / "q", LMO, [3], backgrounds,
                                                  keep_background=True).read_text())
    assert none["background"]["image_files"] == [str(backgrounds[0])]
