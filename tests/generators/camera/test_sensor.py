"""Sensor effects: identity, hand-checkable values, determinism, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

from synthgap.generators.camera.sensor import apply_sensor, vignetting_gain
from synthgap.generators.params import SensorParams


@pytest.fixture
def grey():
    return np.full((40, 60, 3), 128, np.uint8)


def test_all_off_is_identity(grey):
    out = apply_sensor(grey, SensorParams())
    np.testing.assert_array_equal(out, grey)


def test_vignetting_hand_values(grey):
    gain = vignetting_gain(41, 61, 0.3)
    assert gain[20, 30] == pytest.approx(1.0) and gain[0, 0] == pytest.approx(0.7)
    out = apply_sensor(np.full((41, 61, 3), 200, np.uint8), SensorParams(vignetting=0.3))
    assert out[20, 30, 0] == 200 and out[0, 0, 0] == 140 and out[40, 60, 2] == 140


def test_blur_keeps_flat_image_and_smooths_an_edge(grey):
    np.testing.assert_array_equal(apply_sensor(grey, SensorParams(blur_sigma=1.5)), grey)
    img = np.zeros((20, 20, 3), np.uint8)
    img[:, 10:] = 255
    out = apply_sensor(img, SensorParams(blur_sigma=1.0))
    assert 0 < out[5, 9, 0] < 255 and out[5, 0, 0] == 0


def test_noise_is_deterministic_per_seed(grey):
    a = apply_sensor(grey, SensorParams(noise=0.05, seed=3))
    b = apply_sensor(grey, SensorParams(noise=0.05, seed=3))
    c = apply_sensor(grey, SensorParams(noise=0.05, seed=4))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    assert abs(a.astype(float).std() - 0.05 * 255) < 1.0
    assert a.dtype == np.uint8 and a.shape == grey.shape


def test_jpeg_round_trip_changes_detail_deterministically():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    a = apply_sensor(img, SensorParams(jpeg_quality=50))
    np.testing.assert_array_equal(a, apply_sensor(img, SensorParams(jpeg_quality=50)))
    assert np.any(a != img) and a.shape == img.shape


def test_all_effects_together(grey):
    p = SensorParams(vignetting=0.2, blur_sigma=0.8, noise=0.02, jpeg_quality=85, seed=1)
    out = apply_sensor(grey, p)
    np.testing.assert_array_equal(out, apply_sensor(grey, p))
    assert out[0, 0].mean() < out[20, 30].mean()


@pytest.mark.parametrize("params, match", [
    (SensorParams(vignetting=1.5), "sensor.vignetting"),
    (SensorParams(noise=-0.1), "sensor.noise"),
    (SensorParams(blur_sigma=float("nan")), "sensor.blur_sigma"),
    (SensorParams(jpeg_quality=0), "sensor.jpeg_quality"),
])
def test_bad_parameters(grey, params, match):
    with pytest.raises(ValueError, match=match):
        apply_sensor(grey, params)


def test_bad_image():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        apply_sensor(np.zeros((4, 4), np.uint8), SensorParams())


def test_noise_on_a_size_whose_byte_count_is_not_a_multiple_of_8():
    img = np.full((5, 7, 3), 128, np.uint8)  # 2 * 105 noise bytes: 210, not a multiple of 8
    out = apply_sensor(img, SensorParams(noise=0.05, seed=3))
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)
    np.testing.assert_array_equal(out, apply_sensor(img, SensorParams(noise=0.05, seed=3)))
