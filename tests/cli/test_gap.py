import json

import cv2
import numpy as np
from click.testing import CliRunner
from skimage import data

from synthgap.cli import main


def _photos(folder, n=6, size=72, seed=0):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    c = data.coins()
    for i in range(n):
        y, x = rng.integers(0, c.shape[0] - size), rng.integers(0, c.shape[1] - size)
        cv2.imwrite(str(folder / f"p{i}.png"), c[y:y + size, x:x + size])
    return folder


def test_gap_report_and_figure(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real")
    res = CliRunner().invoke(main, ["gap", "--synthetic", str(fake_dataset), "--synthetic",
                                    str(_photos(tmp_path / "more", seed=1)), "--real", str(real),
                                    "-o", str(tmp_path / "r.json"), "--figure",
                                    str(tmp_path / "g.png"), "--patch-size", "32"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(summary["synthetic"]) == {"raw", "more"}
    assert summary["synthetic"]["raw"]["domain_accuracy"] > 0.9
    # the real-vs-real null of 6 coin crops (3 vs 3) is far below the fake renders' gap
    assert summary["real_null"] < summary["synthetic"]["raw"]["domain_accuracy"]
    # 6 photos: the verdict is allowed; intervals and the structure distance are reported
    raw = summary["synthetic"]["raw"]
    assert raw["verdict"] in ("told apart", "close", "cannot tell with 6 photos")
    assert len(raw["domain_auc_ci95"]) == 2 and raw["structure_worst"]
    assert raw["structure_distance"] > 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert "curves" in report["synthetic"]["raw"]
    img = cv2.imread(str(tmp_path / "g.png"))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 800


def test_gap_bad_input(tmp_path):
    real = _photos(tmp_path / "real")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    (tmp_path / "bad" / "y.png").write_bytes(b"nope")
    res = CliRunner().invoke(main, ["gap", "--synthetic", str(tmp_path / "bad"), "--real", str(real)])
    assert res.exit_code == 2 and "x.png" in res.output
    res = CliRunner().invoke(main, ["gap", "--synthetic", str(real), "--real", str(real),
                                    "--patch-size", "30"])
    assert res.exit_code == 2 and "patch_size" in res.output


def test_gap_with_two_photos_says_it_cannot_tell(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real", n=2)
    res = CliRunner().invoke(main, ["gap", "--synthetic", str(fake_dataset), "--real", str(real),
                                    "--patch-size", "32"])
    assert res.exit_code == 0, res.output
    raw = json.loads(res.stdout.strip().splitlines()[-1])["synthetic"]["raw"]
    assert raw["verdict"] == "cannot tell with 2 photos"
    lo, hi = raw["domain_auc_ci95"]
    assert 0.0 <= lo <= hi <= 1.0
    assert "cannot tell with 2 photos" in res.stderr
