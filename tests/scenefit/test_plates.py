"""Plate filling on synthetic images: pixel for pixel, through a homography, inpainting."""

from __future__ import annotations

import numpy as np

from synthgap.scenefit.plates import fill_plate


def _scene(shift: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:60, 0:80]
    img = np.stack([(xx + shift) * 3 % 256, yy * 4 % 256, (xx + yy + shift) % 256], -1)
    return img.astype(np.uint8)


def test_same_view_photo_fills_exactly():
    bg = _scene()
    photo, other = bg.copy(), bg.copy()
    hole = np.zeros((60, 80), bool)
    hole[10:30, 10:30] = True
    photo[hole] = 255  # a "part"
    other_hole = np.zeros_like(hole)
    other_hole[35:50, 40:60] = True
    other[other_hole] = 0
    plate, copied, painted = fill_plate(photo, hole, [(other, other_hole)])
    assert copied == hole.sum() and painted == 0
    assert np.array_equal(plate, bg)


def test_other_view_is_not_copied_pixel_for_pixel_but_through_its_homography():
    bg = _scene()
    photo = bg.copy()
    hole = np.zeros((60, 80), bool)
    hole[20:40, 20:40] = True
    photo[hole] = 255
    other = _scene(shift=20)  # the same table seen 20 px to the left
    free = np.zeros_like(hole)
    plate, copied, painted = fill_plate(photo, hole, [(other, free)])
    assert copied == 0 and painted == hole.sum()  # not the same view: inpainted
    H = np.array([[1.0, 0, -20], [0, 1, 0], [0, 0, 1]])  # this photo's (x, y) -> other's
    table = np.ones_like(hole)
    plate, copied, painted = fill_plate(photo, hole, [(other, free, H)], plane_pixels=table)
    assert copied == hole.sum() and painted == 0
    assert np.abs(plate[hole].astype(int) - bg[hole].astype(int)).max() <= 1
    # without plane pixels a homography source is not used
    _, copied, _ = fill_plate(photo, hole, [(other, free, H)])
    assert copied == 0
