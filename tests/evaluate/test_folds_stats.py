"""Folds (disjoint, neighbours kept apart), seed aggregation (ddof 1), the paired bootstrap
and the Spearman row selection (chains included)."""

from __future__ import annotations

import numpy as np
import pytest

from synthgap.evaluate.folds import photo_folds
from synthgap.evaluate.stats import paired_bootstrap, seed_summary, spearman_rows


def test_folds_are_disjoint_cover_and_keep_neighbours_apart() -> None:
    groups = ["a"] * 12 + ["b"] * 8
    orders = list(range(0, 120, 10)) + list(range(8))
    folds = photo_folds(groups, orders, 4, buffer=1)
    tested = [i for f in folds for i in f.test]
    assert sorted(tested) == list(range(20))  # every photo tested once
    for f in folds:
        assert not set(f.train) & set(f.test)
        seq = sorted(range(20), key=lambda i: (groups[i], orders[i]))
        for i in f.test:
            j = seq.index(i)
            for n in (j - 1, j + 1):  # a test photo's neighbours in its group are not trained
                if 0 <= n < 20 and groups[seq[n]] == groups[i]:
                    assert seq[n] not in f.train
        # contiguous: a test block is a run of the sorted sequence
        pos = sorted(seq.index(i) for i in f.test)
        assert pos == list(range(pos[0], pos[0] + len(pos)))


def test_folds_reject_bad_k() -> None:
    with pytest.raises(ValueError, match="between 2"):
        photo_folds(["a"] * 3, [0, 1, 2], 4)


def test_seed_summary_uses_ddof_1() -> None:
    correct = np.array([[3, 4], [5, 4], [4, 4]])  # pooled accs 7/10, 9/10, 8/10
    s = seed_summary(correct, np.array([5, 5]))
    assert s.mean == pytest.approx(0.8)
    assert s.std == pytest.approx(np.std([0.7, 0.9, 0.8], ddof=1))
    assert s.std != pytest.approx(np.std([0.7, 0.9, 0.8]))
    with pytest.raises(ValueError, match="no test crops"):
        seed_summary(correct, np.array([0, 0]))


def test_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    total = rng.integers(3, 8, 40).astype(float)
    base = np.stack([rng.binomial(total.astype(int), 0.5) for _ in range(5)]).astype(float)
    same = paired_bootstrap(base, base, total, rng=np.random.default_rng(1), n_boot=500)
    assert same.diff == 0 and not same.significant
    better = np.minimum(base + 2, total)
    d = paired_bootstrap(better, base, total, rng=np.random.default_rng(1), n_boot=500)
    assert d.diff > 0 and d.lo > 0 and d.significant
    noisy = np.stack([rng.binomial(total.astype(int), 0.52) for _ in range(5)]).astype(float)
    n = paired_bootstrap(noisy, base, total, rng=np.random.default_rng(1), n_boot=500)
    assert n.lo < n.diff < n.hi


def test_spearman_rows_keep_chains_and_split_real() -> None:
    acc = {"raw": 0.5, "fda": 0.55, "camera+conv-smcae": 0.6, "camera+conv-smcae:aligned": 0.7,
           "real-only": 0.9, "raw+real": 0.8}
    gap = {"raw": 0.9, "fda": 0.85, "camera+conv-smcae": 0.8, "camera+conv-smcae:aligned": 0.7,
           "real-only": 0.95, "raw+real": 0.6}
    synth = ["raw", "fda", "camera+conv-smcae", "camera+conv-smcae:aligned"]
    rho = spearman_rows(gap, acc, synth, ["real-only", "raw+real"])
    assert rho["synthetic"] == pytest.approx(1.0)  # only possible with the chains in
    assert rho["with_real"] < 1.0
    assert np.isnan(spearman_rows(gap, acc, ["raw", "fda"], [])["synthetic"])


def test_paired_miou_bootstrap_separates_a_better_row_and_not_equal_ones() -> None:
    from synthgap.evaluate.stats import mean_iou, paired_miou_bootstrap

    rng = np.random.default_rng(0)
    good = np.zeros((40, 3, 3), np.int64)
    bad = np.zeros((40, 3, 3), np.int64)
    for p in range(40):
        n = rng.integers(50, 150)
        good[p] = np.diag([1000, n, n]) + np.array([[0, 5, 5], [5, 0, 0], [5, 0, 0]])
        bad[p] = np.diag([1000, n // 2, n // 2]) + np.array(
            [[0, n // 2, n // 2], [n // 2, 0, 0], [n // 2, 0, 0]])
    d = paired_miou_bootstrap(good, bad, rng=np.random.default_rng(1), n_boot=300)
    assert d.diff == pytest.approx(mean_iou(good.sum(0)) - mean_iou(bad.sum(0)))
    assert d.significant and d.lo > 0.2
    same = paired_miou_bootstrap(good, good, rng=np.random.default_rng(1), n_boot=300)
    assert same.diff == 0 and same.lo == 0 and same.hi == 0 and not same.significant
    with pytest.raises(ValueError, match="shape"):
        paired_miou_bootstrap(good, bad[:5], rng=np.random.default_rng(1))


def test_mean_iou_takes_only_present_classes() -> None:
    from synthgap.evaluate.stats import mean_iou

    conf = np.array([[8, 2, 0], [2, 8, 0], [0, 0, 0]])  # class 2 absent everywhere
    assert mean_iou(conf) == pytest.approx((8 / 12 + 8 / 12) / 2)
    assert np.isnan(mean_iou(np.zeros((3, 3))))
