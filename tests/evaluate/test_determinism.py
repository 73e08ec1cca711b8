"""The evaluation is reproducible: the same inputs and seeds give the same per-photo results,
whatever the process-wide torch RNG state, the number of training processes (`jobs`) or the
order in which their jobs finish."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthgap.evaluate.crops import CropSet
from synthgap.evaluate.folds import photo_folds
from synthgap.evaluate.models import CropNet, TrainBudget, train_classifier, train_segmenter
from synthgap.evaluate.protocol import EvalConfig, TrainingSet, run_recognition


def _hard_crops(n_photos: int, per: int, seed: int) -> CropSet:
    """Three classes of 16-px crops that differ by a faint tint under heavy noise, so that
    predictions sit near the decision boundaries and any change of the weights shows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n_photos * per)
    tint = np.eye(3)[y][:, None, None, :] * 12.0
    x = 128 + tint + rng.normal(0, 40, (len(y), 16, 16, 3))
    return CropSet(np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64),
                   np.repeat(np.arange(n_photos), per))


def _weights(net: torch.nn.Module) -> list[np.ndarray]:
    return [v.detach().numpy().copy() for v in net.state_dict().values()]


def test_training_neither_reads_nor_moves_the_global_torch_rng() -> None:
    c = _hard_crops(6, 4, 0)
    y = np.zeros((2, 32, 32), np.uint8)
    y[:, 8:20, 8:20] = 1
    seg = [(np.repeat(y[..., None] * 200, 3, axis=3).astype(np.uint8), y)]
    budget = TrainBudget(6, 8, 3e-3)
    nets = []
    for drawn in (1, 2):
        torch.rand(drawn)  # what other code drew before from torch's global RNG
        state = torch.get_rng_state()
        pre = train_classifier([(c.x, c.y)], 3, seed=5, budget=budget)
        tuned = train_classifier([(c.x, c.y)], 3, seed=6, budget=budget, init=pre)
        unet = train_segmenter(seg, 2, seed=5, budget=TrainBudget(2, 2, 3e-3), crop=16)
        assert torch.equal(torch.get_rng_state(), state)
        nets.append([*_weights(pre), *_weights(tuned), *_weights(unet)])
    for a, b in zip(*nets, strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_a_crop_net_needs_a_generator() -> None:
    net = CropNet(3)
    with pytest.raises(ValueError, match="torch.Generator"):
        net(torch.zeros(2, 3, 16, 16))
    net.eval()
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 3)


def test_protocol_same_counts_twice_and_for_any_jobs() -> None:
    real = _hard_crops(8, 6, 1)
    synth = _hard_crops(10, 6, 2)
    folds = photo_folds(["s"] * 8, list(range(8)), 2, buffer=1)
    sets = [TrainingSet("raw", [synth])]
    runs = []
    for jobs, drawn in ((1, 1), (1, 2), (2, 3)):
        torch.rand(drawn)
        cfg = EvalConfig(crop=16, seeds=2, steps=8, batch=8, jobs=jobs)
        runs.append(run_recognition(real, 8, folds, sets, cfg, curve=[2, 4], n_classes=3))
    first = runs[0]
    assert set(first) == {"raw", "raw+real@2", "raw+real@4", "real-only@2", "real-only@4"}
    for other in runs[1:]:
        assert set(other) == set(first)
        for row in first:
            np.testing.assert_array_equal(other[row].correct, first[row].correct, err_msg=row)
            np.testing.assert_array_equal(other[row].total, first[row].total, err_msg=row)


def test_in_process_run_trains_on_one_thread_and_restores_the_count() -> None:
    real = _hard_crops(6, 2, 3)
    folds = photo_folds(["s"] * 6, list(range(6)), 2, buffer=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen: list[int] = []
    try:
        run_recognition(real, 6, folds, [], EvalConfig(crop=16, seeds=1, steps=2, batch=4),
                        n_classes=3, progress=lambda _: seen.append(torch.get_num_threads()))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
