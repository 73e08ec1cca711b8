"""Distortion: render view, resampling maps, nearest-neighbour labels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthgap.generators.camera.distortion import (
    distort_linear,
    distort_nearest,
    has_distortion,
    render_view,
)
from tests.generators._render_helpers import camera

BARREL = (-0.3, 0.08, 0.001, -0.002, 0.0)


def test_no_distortion_is_identity():
    view = render_view(camera(64, 48))
    assert not view.distorted and (view.width, view.height) == (64, 48)
    img = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64)
    assert distort_nearest(img, view) is img
    assert not has_distortion((0.0,) * 5) and has_distortion((0, 0, 0, 1e-6, 0))


def test_barrel_grows_the_render_view_and_maps_invert_projectpoints():
    cam = camera(80, 60, distortion=BARREL, f=60.0)
    view = render_view(cam)
    assert view.width > 80 and view.height > 60
    assert view.map_x.shape == (60, 80) and view.map_x.dtype == np.float32
    # Every output pixel samples inside the render view, with margin for bilinear.
    assert view.map_x.min() >= 1 and view.map_x.max() <= view.width - 2
    assert view.map_y.min() >= 1 and view.map_y.max() <= view.height - 2
    # A render-view pixel, seen through the lens, lands on the output pixel that samples it.
    v, u = 17, 63
    x = (view.map_x[v, u] - view.cx) / view.fx
    y = (view.map_y[v, u] - view.cy) / view.fy
    uv, _ = cv2.projectPoints(np.array([[x, y, 1.0]]), np.zeros(3), np.zeros(3), cam.K,
                              np.asarray(BARREL))
    np.testing.assert_allclose(uv[0, 0], [u, v], atol=1e-3)


def test_pincushion_needs_no_larger_view():
    view = render_view(camera(80, 60, distortion=(0.2, 0, 0, 0, 0), f=60.0))
    assert (view.width, view.height) == (80, 60) and view.distorted
    assert view.map_x.min() >= 0 and view.map_x.max() <= 79


def test_nearest_keeps_labels_linear_keeps_dtype():
    view = render_view(camera(80, 60, distortion=BARREL, f=60.0))
    labels = np.zeros((view.height, view.width), np.uint16)
    labels[20:50, 30:70] = 3
    labels[25:35, 40:50] = 7
    out = distort_nearest(labels, view)
    assert out.shape == (60, 80) and out.dtype == np.uint16
    assert set(np.unique(out)) == {0, 3, 7}  # no blended ids
    rgb = np.full((view.height, view.width, 3), 200, np.uint8)
    out_rgb = distort_linear(rgb, view)
    assert out_rgb.shape == (60, 80, 3) and out_rgb.dtype == np.uint8
    assert np.all(out_rgb == 200)  # a flat image stays flat, borders included


def test_bad_distortion_is_an_error_naming_the_coefficients():
    with pytest.raises(ValueError, match="distortion"):
        render_view(camera(80, 60, distortion=(-3.0, 0, 0, 0, 0), f=40.0))
    with pytest.raises(ValueError, match="5 OpenCV coefficients"):
        render_view(camera(80, 60, distortion=(0.1, 0.0)))
    view = render_view(camera(80, 60, distortion=BARREL, f=60.0))
    with pytest.raises(ValueError, match="render-view layer"):
        distort_nearest(np.zeros((60, 80), np.uint16), view)
