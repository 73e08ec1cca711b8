import numpy as np
import pytest

from synthgap.adapt.pairing import aligned_pairs, class_pairs, nearest_pairs, take_pairs


def test_aligned():
    p = aligned_pairs(4, 4)
    np.testing.assert_array_equal(p.syn_index, np.arange(4))
    np.testing.assert_array_equal(p.real_index, np.arange(4))
    with pytest.raises(ValueError, match="3 synthetic and 4 real"):
        aligned_pairs(3, 4)


def test_class_pairs_keep_labels_and_are_seeded():
    syn = np.array([0, 1, 2, 1, 0, 2] * 20)
    real = np.array([2, 0, 1, 1, 0, 2, 2])
    p = class_pairs(syn, real, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(real[p.real_index], syn[p.syn_index])
    np.testing.assert_array_equal(p.syn_index, np.arange(len(syn)))
    q = class_pairs(syn, real, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(p.real_index, q.real_index)
    # every real sample of a class gets used with 120 draws over ≤ 3 candidates
    assert set(p.real_index) == set(range(len(real)))
    with pytest.raises(ValueError, match="label 'z' has no real sample"):
        class_pairs(np.array(["a", "z"]), np.array(["a"]), rng=np.random.default_rng(0))


def test_nearest_pairs_by_hand_and_k():
    real = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    syn = np.array([[1.0, 1.0], [9.0, 1.0], [0.0, 8.0], [6.0, 0.0]])
    p = nearest_pairs(syn, real, rng=np.random.default_rng(0), chunk=3)
    np.testing.assert_array_equal(p.real_index, [0, 1, 2, 1])
    q = nearest_pairs(syn, real, k=2, rng=np.random.default_rng(1))
    # with k=2, syn [1, 1] may go to 0 or to its 2nd nearest (1 or 2, equidistant -> lower: 1)
    assert q.real_index[0] in (0, 1)
    with pytest.raises(ValueError, match="k must be in"):
        nearest_pairs(syn, real, k=4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="same f"):
        nearest_pairs(syn, real[:, :1], rng=np.random.default_rng(0))


def test_take_pairs():
    s, r = np.arange(6).reshape(3, 2), np.arange(10, 16).reshape(3, 2)
    ps, pr = take_pairs(class_pairs([0, 0, 1], [1, 0, 0], rng=np.random.default_rng(0)), s, r)
    assert ps.shape == pr.shape == (3, 2)
    np.testing.assert_array_equal(pr[2], r[0])
    with pytest.raises(ValueError, match="exceed"):
        take_pairs(aligned_pairs(3, 3), s[:2], r)
