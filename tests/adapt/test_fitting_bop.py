"""Aligned fit data from a BOP scene: LM-O photos and their renders at the true poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgap.adapt.fitting import bop_fit_data

SCENE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lmo" / "test" / "000002"


def test_bop_fit_data_pairs_each_photo_with_its_render_over_itself():
    data = bop_fit_data(SCENE, [3, 61])
    assert data.source == "bop" and len(data.synthetic) == len(data.real) == 2
    for syn, real, mask in zip(data.synthetic, data.real, data.synthetic_masks, strict=True):
        assert syn.shape == real.shape == (480, 640, 3) and mask.shape == (480, 640)
        labels = set(np.unique(mask)) - {0}
        assert labels and max(labels) <= 8  # class label maps: part index + 1
        diff = np.abs(syn.astype(int) - real.astype(int)).mean(axis=2)
        # the photo is the render's background: equal off the parts, different on them
        assert diff[mask == 0].mean() < 1.0
        assert diff[mask > 0].mean() > 10.0
        # the parts are drawn in their own colours, not one grey: several distinct hues
        hues = {tuple(np.round(syn[mask == k].mean(axis=0) / 32)) for k in labels}
        assert len(hues) >= 3
    assert data.real_masks is data.synthetic_masks or all(
        (a == b).all() for a, b in zip(data.real_masks, data.synthetic_masks, strict=True))
