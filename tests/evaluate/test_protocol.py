"""The models and the recognition protocol on tiny data: rows, per-photo counts, the curve's
nested photo choice, intervals, and the Evaluator's references."""

from __future__ import annotations

import numpy as np
import pytest

from synthgap.evaluate.crops import CropSet
from synthgap.evaluate.folds import photo_folds
from synthgap.evaluate.models import IGNORE, TrainBudget, classify, confusion, train_classifier
from synthgap.evaluate.protocol import EvalConfig, TrainingSet, run_recognition, summarise
from synthgap.evaluate.run import equivalent_photos


def _crops(n_photos: int, per: int, rng: np.random.Generator, noise: float) -> CropSet:
    """Two classes: dark or bright 16-px crops (plus noise)."""
    y = rng.integers(0, 2, n_photos * per)
    x = (60 + 120 * y[:, None, None, None] + rng.normal(0, noise, (len(y), 16, 16, 3)))
    return CropSet(np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64),
                   np.repeat(np.arange(n_photos), per))


def test_classifier_learns_and_confusion_ignores() -> None:
    rng = np.random.default_rng(0)
    c = _crops(10, 4, rng, 10)
    net = train_classifier([(c.x, c.y)], 2, seed=0, budget=TrainBudget(30, 16, 3e-3))
    assert (classify(net, c.x) == c.y).mean() > 0.9
    truth = np.array([[0, 1], [IGNORE, 1]], np.uint8)
    conf = confusion(np.array([[0, 1], [0, 0]], np.uint8), truth, 2)
    assert conf.sum() == 3 and conf[1, 0] == 1


def test_rows_counts_and_intervals() -> None:
    rng = np.random.default_rng(1)
    real = _crops(8, 3, rng, 20)
    synth = _crops(10, 4, rng, 20)
    folds = photo_folds(["s"] * 8, list(range(8)), 2, buffer=1)
    cfg = EvalConfig(crop=16, seeds=2, steps=4, batch=8)
    rows = run_recognition(real, 8, folds, [TrainingSet("raw", [synth, synth])], cfg,
                           curve=[1, 3], n_classes=2)
    rows.update(run_recognition(real, 8, folds, [], cfg, curve=[1, 3], n_classes=2))
    assert set(rows) == {"raw", "raw+real@1", "raw+real@3", "real-only@1", "real-only@3"}
    for r in rows.values():
        assert r.correct.shape == (2, 8) and r.total.sum() == len(real)
        assert (r.correct <= r.total).all()
    assert rows["real-only@3"].photos == 3
    s = summarise(rows, references={"raw+real@3": "real-only@3"}, n_boot=200)
    assert s["raw"]["n_seeds"] == 2 and "ci95" not in s["raw"]
    lo, hi = s["raw+real@3"]["ci95"]
    assert lo <= s["raw+real@3"]["diff"] <= hi and s["raw+real@3"]["vs"] == "real-only@3"


def test_upper_style_budget_factor_and_missing_training_photos() -> None:
    rng = np.random.default_rng(2)
    real = _crops(6, 2, rng, 10)
    folds = photo_folds(["s"] * 6, list(range(6)), 3, buffer=0)
    cfg = EvalConfig(crop=16, seeds=2, steps=2, batch=4)
    rows = run_recognition(real, 6, folds, [], cfg, real_name="upper", real_factor=2)
    assert set(rows) == {"upper"}
    empty = CropSet(real.x, real.y, np.where(real.image < 2, real.image, 0))
    with pytest.raises(ValueError, match="no labelled training crop"):
        run_recognition(empty, 6, photo_folds(["s"] * 6, list(range(6)), 2, buffer=0),
                        [], cfg)


def test_equivalent_photos() -> None:
    curve = [(5, 0.5), (10, 0.6), (20, 0.7)]
    assert equivalent_photos(0.65, curve) == "15"
    assert equivalent_photos(0.4, curve) == "<5"
    assert equivalent_photos(0.8, curve) == ">20"


def test_segmentation_rows_ignore_pixels() -> None:
    from synthgap.evaluate.folds import Fold
    from synthgap.evaluate.segmentation import SegConfig, run_segmentation
    from synthgap.evaluate.stats import mean_iou

    rng = np.random.default_rng(3)
    y = np.zeros((6, 32, 32), np.uint8)
    y[:, 8:24, 8:24] = 1
    x = np.where(y[..., None] == 1, 200, 40).astype(np.uint8).repeat(3, axis=3)
    x = np.clip(x + rng.normal(0, 5, x.shape), 0, 255).astype(np.uint8)
    real_y = y.copy()
    real_y[:, 0:4, :] = IGNORE  # unsure pixels: a loss or score that took them would fail
    folds = [Fold(train=(0, 1, 2), test=(3, 4, 5)), Fold(train=(3, 4, 5), test=(0, 1, 2))]
    per_photo: dict[str, np.ndarray] = {}
    out = run_segmentation({"raw": (x, y)}, x, real_y, folds, ["box"],
                           SegConfig(steps=3, batch=2), with_real=["raw"], per_photo=per_photo)
    assert set(out) == {"raw", "raw+real", "real-only"}
    for row in out.values():
        assert 0 <= row["miou"] <= 1 and set(row["per_class"]) == {"background", "box"}
    # one confusion matrix per photo, each photo scored once, never its ignored rows
    assert set(per_photo) == set(out)
    for name, conf in per_photo.items():
        assert conf.shape == (6, 2, 2)
        assert (conf.sum((1, 2)) == 28 * 32).all()
        assert out[name]["miou"] == pytest.approx(mean_iou(conf.sum(0)), abs=1e-4)
