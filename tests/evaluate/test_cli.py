"""`synthgap evaluate` end to end on tiny data, and its exit codes on bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from synthgap.cli import main
from synthgap.evaluate.crops import real_crops
from synthgap.evaluate.real import RealData
from synthgap.evaluate.run import Evaluator

TINY = ["--steps", "3", "--seeds", "2", "--folds", "2", "--curve", "1,2", "--crop", "24",
        "--no-progress"]


def _no_nan(value: object) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            _no_nan(v)
    elif isinstance(value, list):
        for v in value:
            _no_nan(v)


def test_bop_end_to_end(bop_dir: Path, renders: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = CliRunner().invoke(main, ["evaluate", "--real", str(bop_dir), "--names",
                                    str(bop_dir / "names.json"), "--mesh-units", "m",
                                    "--synthetic", f"raw={renders}", "-o", str(out), *TINY])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["curve"] == [1, 2] and set(summary["sets"]) == {"raw"}
    report = json.loads((out / "report.json").read_text())
    _no_nan(report)
    rows = report["rows"]
    assert {"real-only@1", "real-only@2", "raw", "raw+real@1", "raw+real@2"} == set(rows)
    assert rows["raw+real@2"]["vs"] == "real-only@2" and rows["raw"]["n_seeds"] == 2
    assert report["real"]["visibility_check"]["checked"] == 18
    assert report["sets"]["raw"]["render_seconds"] > 0
    assert 0 < report["sets"]["raw"]["contamination"]["mean_share"] < 1  # photos as backgrounds
    md = (out / "report.md").read_text()
    assert "| real photos only |" in md and "| raw + photos |" in md
    assert (out / "report.png").stat().st_size > 1000


@pytest.fixture()
def crop_folders(bop_real: RealData, tmp_path: Path) -> Path:
    """The fixture's real crops as class folders (no rendering needed to read them)."""
    crops = real_crops(bop_real, size=24)
    for i, (x, y) in enumerate(zip(crops.x, crops.y, strict=True)):
        d = tmp_path / "crops" / bop_real.classes[y]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:03d}.png"), x[:, :, ::-1])
    return tmp_path / "crops"


def test_failed_set_exits_1_and_keeps_the_others(crop_folders: Path, renders: Path,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_add = Evaluator.add_dataset

    def add(self: Evaluator, name: str, root: Path) -> object:
        if name == "broken":
            raise RuntimeError("classifier training diverged (non-finite loss)")
        return real_add(self, name, root)

    monkeypatch.setattr(Evaluator, "add_dataset", add)
    out = tmp_path / "r"
    res = CliRunner().invoke(main, ["evaluate", "--real", str(crop_folders), "--synthetic",
                                    f"raw={renders}", "--synthetic", f"broken={renders}",
                                    "-o", str(out), *TINY])
    assert res.exit_code == 1, res.output
    report = json.loads((out / "report.json").read_text())
    assert "broken" in report["failed"] and "raw" in report["sets"]
    assert "broken: FAILED" in (out / "report.md").read_text()


def test_bad_input_exits_2(crop_folders: Path, renders: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    res = run(main, ["evaluate", "--real", str(crop_folders), "--synthetic", str(tmp_path),
                     "-o", str(tmp_path / "o"), *TINY])
    assert res.exit_code == 2 and "no records.jsonl" in res.output
    coco = tmp_path / "labels.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1}]}))
    res = run(main, ["evaluate", "--real", str(coco), "--synthetic", str(renders), "-o",
                     str(tmp_path / "o"), *TINY])
    assert res.exit_code == 2 and "labels.json: categories[0]" in res.output
    other = tmp_path / "other"
    for c in ("bolt", "nut"):
        (other / c).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(other / c / f"{i}.png"), cv2.imread(str(next(
                crop_folders.rglob("*.png")))))
    res = run(main, ["evaluate", "--real", str(other), "--synthetic", str(renders), "-o",
                     str(tmp_path / "o"), *TINY])
    assert res.exit_code == 2 and "'ape' is not a class of the real photos" in res.output
    assert not (tmp_path / "o" / "report.json").exists()
