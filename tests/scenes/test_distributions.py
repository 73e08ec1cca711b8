"""Value distributions: every form parses, serialises back, samples inside its range."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from synthgap.scenes.distributions import (
    Bounded,
    ColorDist,
    FloatDist,
    IntDist,
    sample_color,
    sample_float,
    sample_int,
)


def draws(dist, fn, n=400, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([fn(dist, rng=rng) for _ in range(n)])


@pytest.mark.parametrize(("raw", "kind"), [
    (0.5, "fixed"), (2, "fixed"), ([0.2, 0.6], "uniform"), ({"normal": [0.5, 0.1]}, "normal"),
    ({"choice": [0.1, 0.9]}, "choice"),
])
def test_float_forms_parse_and_round_trip(raw, kind):
    d = FloatDist.model_validate(raw)
    assert d.kind == kind
    assert d.model_dump() == raw
    assert FloatDist.model_validate(d.model_dump()) == d


def test_float_fixed_uniform_choice_values():
    assert set(draws(FloatDist.model_validate(0.25), sample_float)) == {0.25}
    u = draws(FloatDist.model_validate([2.0, 3.0]), sample_float)
    assert u.min() >= 2.0 and u.max() <= 3.0 and u.std() > 0.2
    c = draws(FloatDist.model_validate({"choice": [1.0, 5.0]}), sample_float)
    assert set(c) == {1.0, 5.0}


def test_normal_mean_std_and_clipping():
    n = draws(FloatDist.model_validate({"normal": [10.0, 2.0]}), sample_float, n=4000)
    assert abs(n.mean() - 10.0) < 0.15 and abs(n.std() - 2.0) < 0.15
    clipped = Bounded(0.0, 1.0)(FloatDist.model_validate({"normal": [0.9, 0.5]}))
    c = draws(clipped, sample_float, n=2000)
    assert c.min() >= 0.0 and c.max() == 1.0


def test_normal_on_an_open_range_stays_positive():
    d = Bounded(0.0, open_low=True)(FloatDist.model_validate({"normal": [0.01, 1.0]}))
    x = draws(d, sample_float, n=500)
    assert x.min() == pytest.approx(1e-6) and np.all(x > 0)


def test_int_uniform_includes_both_ends():
    d = IntDist.model_validate([1, 3])
    x = draws(d, sample_int)
    assert set(x.tolist()) == {1, 2, 3}
    assert all(isinstance(v, int) for v in [sample_int(d, rng=np.random.default_rng(1))])
    assert d.model_dump() == [1, 3]


def test_int_normal_rounded_and_clipped():
    d = Bounded(0, 4)(IntDist.model_validate({"normal": [2, 3]}))
    x = draws(d, sample_int, n=1000)
    assert x.min() == 0 and x.max() == 4 and np.all(x == np.round(x))


@pytest.mark.parametrize(("raw", "match"), [
    ("abc", r"expected a number, a range \[lo, hi\].*got 'abc'"),
    ([1, 2, 3], r"got \[1, 2, 3\]"),
    ([3, 1], r"lo <= hi"),
    ({"normal": [0, -1]}, r"sigma must be >= 0"),
    ({"normal": 3}, r"\{normal: \[mu, sigma\]\}"),
    ({"choice": []}, r"non-empty list"),
    ({"uniform": [0, 1]}, r"unknown distribution \{uniform: ...\}"),
    (True, r"got True"),
    (float("nan"), r"got nan"),
])
def test_float_bad_input(raw, match):
    with pytest.raises(ValidationError, match=match):
        FloatDist.model_validate(raw)


def test_int_rejects_fractions():
    with pytest.raises(ValidationError, match="expected an integer"):
        IntDist.model_validate([1, 2.5])
    with pytest.raises(ValidationError, match="non-empty list of integers"):
        IntDist.model_validate({"choice": [1, 1.5]})


def test_bounded_rejects_out_of_range():
    b = Bounded(0.0, 1.0)
    with pytest.raises(Exception, match=r"value 1.5 is outside the allowed range \[0, 1\]"):
        b(FloatDist.model_validate([0.5, 1.5]))
    with pytest.raises(Exception, match=r"outside the allowed range \(0, inf\]"):
        Bounded(0.0, open_low=True)(FloatDist.model_validate(0.0))


@pytest.mark.parametrize(("raw", "kind"), [
    ([0.7, 0.7, 0.72], "fixed"),
    ([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]], "box"),
    ({"choice": [[1, 0, 0], [0, 0, 1]]}, "choice"),
    ({"gray": [0.2, 0.4]}, "gray"),
])
def test_color_forms(raw, kind):
    d = ColorDist.model_validate(raw)
    assert d.kind == kind
    assert ColorDist.model_validate(d.model_dump()) == d
    c = draws(d, sample_color)
    assert c.shape == (400, 3) and c.min() >= 0.0 and c.max() <= 1.0


def test_color_values():
    box = draws(ColorDist.model_validate([[0.1, 0.2, 0.3], [0.2, 0.2, 0.5]]), sample_color)
    assert np.all(box >= [0.1, 0.2, 0.3]) and np.all(box <= [0.2, 0.2, 0.5])
    assert np.all(box[:, 1] == 0.2)
    gray = draws(ColorDist.model_validate({"gray": [0.2, 0.4]}), sample_color)
    assert np.all(gray[:, 0] == gray[:, 1]) and np.all(gray[:, 1] == gray[:, 2])
    choice = draws(ColorDist.model_validate({"choice": [[1, 0, 0], [0, 0, 1]]}), sample_color)
    assert {tuple(c) for c in choice} == {(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}


@pytest.mark.parametrize(("raw", "match"), [
    ([0.5, 0.5], r"expected an RGB"),
    ([1.5, 0.0, 0.0], r"colour channels must be in \[0, 1\]"),
    ([[0.5, 0.5, 0.5], [0.1, 0.1, 0.1]], r"lo <= hi per channel"),
    ({"choice": [[0.1, 0.1]]}, r"expected an RGB"),
    ({"gray": 2.0}, r"outside the allowed range"),
    ("red", r"got 'red'"),
])
def test_color_bad_input(raw, match):
    with pytest.raises(ValidationError, match=match):
        ColorDist.model_validate(raw)


def test_sampling_is_deterministic_under_a_seed():
    d = FloatDist.model_validate({"normal": [0.0, 1.0]})
    a = draws(d, sample_float, n=10, seed=5)
    b = draws(d, sample_float, n=10, seed=5)
    assert np.array_equal(a, b)
