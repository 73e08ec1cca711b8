import json

import cv2
import numpy as np
import pytest
from skimage import data

from synthgap.data.images import sample_patches
from synthgap.gap.metric import (
    GapConfig,
    measure_gap,
    mmd2_rbf,
    radial_spectra,
    real_null,
    wasserstein_1d,
    write_report,
)


def _crops(img, n, size, seed):
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = []
    for _ in range(n):
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        c = img[y:y + size, x:x + size]
        out.append(np.ascontiguousarray(np.repeat(c[:, :, None], 3, 2) if c.ndim == 2 else c))
    return out


@pytest.fixture(scope="module")
def coins():
    return _crops(data.coins(), 40, 96, seed=1)


FAST = GapConfig(mmd_permutations=50)


def test_two_halves_of_one_real_set_are_indistinguishable(coins):
    r = measure_gap(coins[:20], coins[20:], rng=np.random.default_rng(0), config=FAST)
    assert abs(r.domain_accuracy - 0.5) < 0.12
    assert abs(r.domain_accuracy_look - 0.5) < 0.12
    assert r.mmd2_p_value > 0.01
    assert r.histogram_distance < 0.03
    assert r.spectrum_distance < 0.15


def test_real_null_splits_the_photos_in_two_disjoint_halves(coins):
    r = real_null(coins, rng=np.random.default_rng(0), config=FAST)
    assert (r.n_synthetic, r.n_real) == (20, 20)
    assert abs(r.domain_accuracy - 0.5) < 0.12
    # a set whose halves differ (blurred vs sharp, alternating) has a null far from 0.5
    mixed = [cv2.GaussianBlur(c, (0, 0), 2.0) if i % 2 else c for i, c in enumerate(coins)]
    assert real_null(mixed, rng=np.random.default_rng(0), config=FAST).domain_accuracy > 0.9
    with pytest.raises(ValueError, match="at least 4 photos"):
        real_null(coins[:3], rng=np.random.default_rng(0))


def test_clearly_different_sets_are_told_apart(coins):
    blurred = [cv2.GaussianBlur(c, (0, 0), 2.0) for c in coins[:20]]
    r = measure_gap(blurred, coins[20:], rng=np.random.default_rng(0), config=FAST)
    assert r.domain_accuracy > 0.95 and r.domain_accuracy_look > 0.95
    assert r.mmd2_p_value < 0.05
    assert r.spectrum_distance > 1.0
    # flat synthetic-looking tiles in colour vs grey coins
    rng = np.random.default_rng(3)
    flat = [np.full((96, 96, 3), rng.integers(0, 256, 3), np.uint8) for _ in range(20)]
    r2 = measure_gap(flat, coins[20:], rng=np.random.default_rng(0), config=FAST)
    assert r2.domain_accuracy > 0.95
    assert r2.histogram_distance > 0.1


def test_deterministic_and_json(coins, tmp_path):
    a = measure_gap(coins[:10], coins[30:], rng=np.random.default_rng(5), config=FAST)
    b = measure_gap(coins[:10], coins[30:], rng=np.random.default_rng(5), config=FAST)
    assert a.to_dict() == b.to_dict()
    p = write_report(tmp_path / "r.json", {"raw": a}, real="coins")
    loaded = json.loads(p.read_text())
    assert loaded["synthetic"]["raw"]["domain_accuracy"] == a.domain_accuracy
    assert set(loaded["synthetic"]["raw"]["curves"]) == {"histogram", "spectrum", "scores"}


def test_hand_checkable_pieces():
    # W1 between all mass at 0 and all mass at 1 over [0, 1] is 1; at neighbouring bins, 1/255
    p, q = np.zeros(256), np.zeros(256)
    p[0], q[255] = 1, 1
    assert wasserstein_1d(p, q) == pytest.approx(1.0)
    q2 = np.zeros(256)
    q2[1] = 1
    assert wasserstein_1d(p, q2) == pytest.approx(1 / 255)
    # a pure high-frequency checkerboard puts its power in the last radial bin
    y, x = np.mgrid[0:32, 0:32]
    checker = ((x + y) % 2).astype(np.float32)[None]
    _, power = radial_spectra(checker, 8)
    assert power.shape == (1, 8) and power[0].argmax() == 7
    # identical samples: MMD² ~ 0 (unbiased estimate); shifted: clearly positive
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(60, 3))
    x2 = rng.normal(size=(60, 3))
    same, p_same, _ = mmd2_rbf(x1, x2, permutations=100, rng=rng)
    diff, p_diff, _ = mmd2_rbf(x1, x2 + 3, permutations=100, rng=rng)
    assert abs(same) < 0.05 and p_same > 0.01
    assert diff > 0.3 and p_diff < 0.02


def test_small_images_are_scaled_up_and_bad_input():
    imgs = [np.zeros((20, 30, 3), np.uint8)]
    patches, groups = sample_patches(imgs, patch_size=32, per_image=2, rng=np.random.default_rng(0))
    assert patches.shape == (2, 32, 32, 3) and groups.tolist() == [0, 0]
    with pytest.raises(ValueError, match="at least 2 images"):
        measure_gap(imgs, imgs * 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="patch_size"):
        GapConfig(patch_size=30)
    with pytest.raises(ValueError, match="folds"):
        GapConfig(folds=1)
