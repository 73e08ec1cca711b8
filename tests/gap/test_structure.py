import cv2
import numpy as np
import pytest
from skimage import data

from synthgap.gap.intervals import auc, bootstrap_structure, verdict
from synthgap.gap.metric import GapConfig, measure_gap
from synthgap.gap.structure import ASPECTS, aspect_distances, image_structure, real_spread

FAST = GapConfig(mmd_permutations=0, bootstrap=100)


def _crops(n, size, seed):
    img = data.coins()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y, x = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        out.append(np.repeat(img[y:y + size, x:x + size, None], 3, 2))
    return out


def _blotch(img, rng, amplitude=50.0):
    """Smooth coloured blotches across the image (what FDA does to flat renders)."""
    h, w = img.shape[:2]
    noise = cv2.resize(rng.normal(size=(4, 5, 3)), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img + amplitude * noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sets():
    real = _crops(24, 128, seed=1)
    rng = np.random.default_rng(2)
    raw = [cv2.GaussianBlur(c, (0, 0), 1.0) for c in _crops(16, 128, seed=3)]
    return {"real": real, "raw": raw, "ruined": [_blotch(r, rng) for r in raw]}


def test_a_blotched_set_does_not_rank_closest(sets):
    reps = {k: measure_gap(sets[k], sets["real"], rng=np.random.default_rng(0), config=FAST)
            for k in ("raw", "ruined")}
    # the patch classifier ties them (1.0) and MMD² ranks the ruined set closer (0.054 vs
    # 0.057); the structure distance does not
    assert reps["ruined"].structure_distance > reps["raw"].structure_distance
    assert reps["ruined"].structure_worst in ("blotchiness", "colour_noise")
    assert reps["ruined"].structure_distance_ci95[0] > reps["raw"].structure_distance_ci95[1]
    assert reps["ruined"].verdict == "told apart"
    assert set(reps["raw"].structure_aspects) == set(ASPECTS)


def test_two_photos_cannot_tell_but_give_an_interval(sets):
    r = measure_gap(sets["raw"], sets["real"][:2], rng=np.random.default_rng(0), config=FAST)
    assert r.verdict == "cannot tell with 2 photos"
    assert "needs at least 6" in r.verdict_reason
    for ci in (r.domain_accuracy_ci95, r.domain_auc_ci95, r.structure_distance_ci95):
        assert len(ci) == 2 and ci[0] <= ci[1]
    assert 0.0 <= r.domain_auc_ci95[0] <= r.domain_auc_ci95[1] <= 1.0


def test_two_halves_of_the_photos_are_close(sets):
    real = sets["real"]
    r = measure_gap(real[0::2], real[1::2], rng=np.random.default_rng(0), config=FAST)
    assert r.verdict == "close", r.verdict_reason
    assert r.structure_distance < 4.0
    assert r.domain_auc_ci95[0] < 0.6 and r.domain_auc_ci95[1] < 0.7


def test_same_seed_same_numbers_other_seed_other_patches(sets):
    a = measure_gap(sets["ruined"], sets["real"], rng=np.random.default_rng(4), config=FAST)
    b = measure_gap(sets["ruined"], sets["real"], rng=np.random.default_rng(4), config=FAST)
    c = measure_gap(sets["ruined"], sets["real"], rng=np.random.default_rng(5), config=FAST)
    assert a.summary() == b.summary()
    assert a.structure_distance_ci95 != c.structure_distance_ci95  # other resamples
    # the structure distance itself does not depend on random patches
    assert a.structure_distance == c.structure_distance


def test_hand_checkable_auc_and_distances():
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)  # ties count half
    real = np.zeros((4, len(ASPECTS)))
    real[:, 0] = [0.0, 0.0, 1.0, 1.0]           # std (ddof 1) 0.577
    syn = real.copy()
    syn[:, 0] += 2.0
    d = aspect_distances(syn, real)
    assert d[0] == pytest.approx(2.0 / np.std([0, 0, 1, 1], ddof=1))
    assert np.all(d[1:] == 0)
    ci = bootstrap_structure(syn, real, n=50, rng=np.random.default_rng(0))
    assert ci[0] <= d.max() <= ci[1] + 1e-9
    assert verdict(n_real=3, min_photos=6, auc_ci95=[0.9, 1.0], structure_ci95=[9, 10]) \
        == "cannot tell with 3 photos"
    assert verdict(n_real=8, min_photos=6, auc_ci95=[0.45, 0.9], structure_ci95=[1, 2]) \
        == "cannot tell with 8 photos"


def test_flat_and_blotched_images_have_the_expected_aspects():
    rng = np.random.default_rng(0)
    flat = np.full((120, 160, 3), 120, np.uint8)
    blotched = _blotch(flat.astype(np.float64), rng)
    a = image_structure([flat, blotched])
    assert a.shape == (2, len(ASPECTS))
    col = dict(zip(ASPECTS, a.T, strict=True))
    assert col["edge_density"][0] == 0 and col["blotchiness"][1] > 0.5


def test_bad_input():
    with pytest.raises(ValueError, match="bootstrap"):
        GapConfig(bootstrap=5)
    with pytest.raises(ValueError, match="min_photos"):
        GapConfig(min_photos=1)
    with pytest.raises(ValueError, match="both labels"):
        auc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="at least 2 photos"):
        real_spread(np.zeros((1, len(ASPECTS))))
