"""`strength: auto` inside a chain (`camera+conv-smcae`): the SMCAE step holds out, scores and
blends against *its own input*, the camera step's output, not the raw render."""

import numpy as np
from skimage import data

from synthgap.adapt import strength as strength_module
from synthgap.adapt.image_base import make_image_adapter
from synthgap.adapt.strength import STRENGTH_GRID, blend

SMALL = {"iterations": 30, "n_pairs": 256, "batch_size": 16, "hidden": [8], "kernel": 3,
         "patch_size": 8, "learning_rate": 3e-2, "strength": "auto",
         # the camera step: colour only (its blur/noise searches add time, not coverage)
         "blur": False, "noise": False, "jpeg": False}


def _renders(n=8, size=48):
    img = data.astronaut()
    return [np.ascontiguousarray(img[20 * i:20 * i + size, 150:150 + size]) for i in range(n)]


def _photos(renders):
    """A 'camera': warmer, darker and softer than the renders."""
    import cv2

    g = np.array([1.1, 0.85, 0.6])
    return [np.clip(cv2.GaussianBlur(im.astype(np.float32), (0, 0), 0.8) * g, 0, 255)
            .astype(np.uint8) for im in renders]


def test_auto_strength_in_a_chain_uses_the_previous_steps_output(monkeypatch):
    renders = _renders()
    photos = _photos(renders)
    seen = {}
    choose = strength_module.choose_strength

    def spy(adapt, synthetic, real, **kw):
        seen["held_renders"], seen["held_photos"] = list(synthetic), list(real)
        return choose(adapt, synthetic, real, **kw)

    monkeypatch.setattr(strength_module, "choose_strength", spy)
    chain = make_image_adapter("camera+conv-smcae", options=SMALL)
    chain.fit(renders, photos, rng=np.random.default_rng(0))
    cam, smcae = chain.steps
    # the SMCAE step held out every 4th render *as the camera step made it*, and every 4th photo
    want = [cam.transform(renders[i]) for i in (3, 7)]
    assert len(seen["held_renders"]) == 2
    for got, exp in zip(seen["held_renders"], want, strict=True):
        np.testing.assert_array_equal(got, exp)
    assert not np.array_equal(seen["held_renders"][0], renders[3])  # not the raw render
    for got, exp in zip(seen["held_photos"], [photos[3], photos[7]], strict=True):
        np.testing.assert_array_equal(got, exp)
    rep = smcae.report["strength"]
    assert rep["held_out"] and rep["chosen"] == smcae.strength and smcae.strength in STRENGTH_GRID
    assert set(rep["mmd2"]) == {f"{s:g}" for s in STRENGTH_GRID}
    # applying: the blend's base is the camera step's output
    x = renders[0]
    c = cam.transform(x)
    s = smcae.strength
    smcae.strength = 1.0
    full = smcae.transform(c)
    smcae.strength = s
    np.testing.assert_array_equal(chain.transform(x), blend(c, full, s))
    if 0 < s < 1:
        assert not np.array_equal(chain.transform(x), blend(x, full, s))
