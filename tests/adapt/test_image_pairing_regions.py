"""Region pairing and mask-balanced aligned pairing: part with part, background with background."""

import numpy as np
import pytest

from synthgap.adapt.image_pairing import make_pairs, pair_aligned, pair_region, sample_positions


def _scene(n=4, size=48, seed=0, part=(200, 40, 40), back=(30, 30, 90), noise=0):
    """Images with one square part (label 1) on a flat background, and their label maps."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        img = np.empty((size, size, 3), np.uint8)
        img[:] = back
        m = np.zeros((size, size), np.int32)
        y, x = rng.integers(4, size - 20, 2)
        img[y:y + 14, x:x + 14] = part
        m[y:y + 14, x:x + 14] = 1
        if noise:
            img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
        images.append(img)
        masks.append(m)
    return images, masks


def test_sample_positions_half_on_parts():
    m = np.zeros((40, 40), np.int32)
    m[10:14, 10:14] = 1  # 16 of 1,600 pixels
    ys, xs = sample_positions(m, 200, 8, rng=np.random.default_rng(0))
    centre = m[ys + 4, xs + 4]
    assert (centre > 0).sum() == 100
    assert ys.min() >= 0 and ys.max() <= 32 and xs.max() <= 32
    only_back = sample_positions(np.zeros((20, 20), np.int32), 10, 8,
                                 rng=np.random.default_rng(0))
    assert len(only_back[0]) == 10


def test_region_pairs_part_with_part_and_background_with_background():
    syn, syn_m = _scene(seed=1, part=(150, 150, 150), back=(120, 120, 120))
    real, real_m = _scene(seed=2, noise=8)
    pairs = pair_region(syn, syn_m, real, real_m, patch_size=8, n_pairs=200, n_real=200,
                        rng=np.random.default_rng(0))
    # the target's centre colour tells its region: reddish = part, bluish = background
    c = pairs.synthetic[:, 4, 4].astype(int)
    t = pairs.target[:, 4, 4].astype(int)
    syn_part = c[:, 0] > 135
    real_part = t[:, 0] > t[:, 2]
    assert 0.3 < syn_part.mean() < 0.7
    np.testing.assert_array_equal(syn_part, real_part)
    # targets are many different real patches, not a handful
    assert pairs.n_distinct_targets > 50 and pairs.strategy == "region"


def test_region_pairing_needs_matching_masks():
    syn, syn_m = _scene()
    with pytest.raises(ValueError, match=r"real_masks: 3 label maps for 4 images"):
        pair_region(syn, syn_m, syn, syn_m[:3], patch_size=8, n_pairs=10, n_real=10,
                    rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"synthetic_masks\[0\]: expected an integer \(48, 48\)"):
        pair_region(syn, [np.zeros((5, 5), np.int32)] * 4, syn, syn_m, patch_size=8,
                    n_pairs=10, n_real=10, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="region pairing needs a label map per image"):
        make_pairs("region", syn, syn, patch_size=8, n_pairs=10, rng=np.random.default_rng(0))


def test_aligned_with_masks_balances_parts_and_keeps_positions():
    syn, masks = _scene(seed=3)
    real = [np.clip(s.astype(int) + 7, 0, 255).astype(np.uint8) for s in syn]
    pairs = pair_aligned(syn, real, patch_size=8, n_pairs=200, rng=np.random.default_rng(0),
                         masks=masks)
    np.testing.assert_array_equal(pairs.target.astype(int), np.clip(
        pairs.synthetic.astype(int) + 7, 0, 255))  # same positions in render and photo
    on_part = (pairs.synthetic[:, 4, 4] == (200, 40, 40)).all(1)
    assert 0.4 < on_part.mean() < 0.6  # a part covering 8 % of each image gets half the patches
