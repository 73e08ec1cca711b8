"""`strength: auto`: hold-out bookkeeping, the choice rule, grey cameras, stored values."""

import json

import numpy as np
import pytest
from skimage import data

from synthgap.adapt.conv_smcae import ConvSmcae, ConvSmcaeConfig
from synthgap.adapt.image_base import grey_rgb, load_image_adapter
from synthgap.adapt.modelfile import ModelFileError
from synthgap.adapt.patch_smcae import PatchSmcae, PatchSmcaeConfig
from synthgap.adapt.strength import (
    applied_strengths,
    blend,
    choose_strength,
    hold_out,
    initial_strength,
    stored_strength,
    strength_steps,
)

IMG = data.astronaut()


def _crops(n, y0, x0, size=64):
    return [np.ascontiguousarray(IMG[y0 + 20 * i:y0 + 20 * i + size, x0:x0 + size])
            for i in range(n)]


def _warm(im):
    return np.clip(im * np.array([1.1, 0.85, 0.6]), 0, 255).astype(np.uint8)


def _tint(im):
    return np.clip(im.astype(int) + np.array([40, -30, 50]), 0, 255).astype(np.uint8)


def _tagged(n, tag):
    return [np.full((8, 8, 3), tag * 10 + i, np.uint8) for i in range(n)]


def test_hold_out_unpaired_keeps_per_image_arguments_in_step():
    syn, real = _tagged(12, 1), _tagged(8, 2)
    masks = [np.full((8, 8), i) for i in range(12)]
    split = hold_out(syn, real, {"synthetic_masks": masks, "real_masks": None}, aligned=False)
    assert split.held_out
    assert [int(im[0, 0, 0]) - 10 for im in split.held_synthetic] == [3, 7, 11]
    assert [int(im[0, 0, 0]) - 20 for im in split.held_real] == [3, 7]
    assert [int(m[0, 0]) for m in split.per_image["synthetic_masks"]] == \
        [int(im[0, 0, 0]) - 10 for im in split.synthetic]
    assert split.per_image["real_masks"] is None and len(split.real) == 6


def test_hold_out_aligned_holds_the_same_views_and_refuses_unequal_sets():
    syn, real = _tagged(8, 1), _tagged(8, 2)
    split = hold_out(syn, real, {}, aligned=True)
    assert [int(a[0, 0, 0]) - 10 for a in split.held_synthetic] == \
        [int(b[0, 0, 0]) - 20 for b in split.held_real] == [3, 7]
    uneven = hold_out(syn, _tagged(12, 2), {}, aligned=True)
    assert not uneven.held_out and len(uneven.real) == 12  # the pairing reports the mismatch
    assert not hold_out(syn[:7], real[:7], {}, aligned=True).held_out  # too few
    assert not hold_out(syn, real, {}, aligned=True, active=False).held_out


def test_hold_out_never_leaves_a_class_without_photos():
    syn, real = _tagged(8, 1), _tagged(8, 2)
    labels = {"synthetic_labels": list("abcabcab"), "real_labels": list("aaabcccc")}
    split = hold_out(syn, real, labels, aligned=False)
    assert not split.held_out and split.per_image["real_labels"] == list("aaabcccc")
    fine = hold_out(syn, real, {"synthetic_labels": list("abababab"),
                                "real_labels": list("aabbaabb")}, aligned=False)
    assert fine.held_out and set(fine.per_image["real_labels"]) == {"a", "b"}


def test_choose_strength_keeps_a_camera_and_drops_a_harmful_change():
    renders = _crops(6, 0, 150)
    photos = [_warm(c) for c in _crops(6, 200, 250)]  # other content, the camera's look
    good, scores = choose_strength(_warm, renders, photos, rng=np.random.default_rng(0))
    assert good == 1.0 and scores["1"] < scores["0"]
    bad, scores = choose_strength(_tint, renders, photos, rng=np.random.default_rng(0))
    assert bad == 0.0 and scores["1"] > scores["0"]
    again = choose_strength(_tint, renders, photos, rng=np.random.default_rng(0))
    assert again == (bad, scores)
    with pytest.raises(ValueError, match="grid"):
        choose_strength(_warm, renders, photos, rng=np.random.default_rng(0), grid=[0, 2])
    with pytest.raises(ValueError, match="uint8"):
        choose_strength(lambda p: p / 255.0, renders, photos, rng=np.random.default_rng(0))


def test_grey_camera_is_scored_from_the_grey_input():
    """Grey photos and an adapter that only greys: against the grey input nothing changes,
    so the weakest strength is kept; scored against the colour input, greying would 'win'."""
    renders = _crops(6, 0, 150)
    photos = [grey_rgb(c) for c in _crops(6, 200, 250)]
    as_grey, scores = choose_strength(grey_rgb, renders, photos, rng=np.random.default_rng(0),
                                      base=grey_rgb)
    assert as_grey == 0.0 and len(set(scores.values())) == 1
    as_colour, _ = choose_strength(grey_rgb, renders, photos, rng=np.random.default_rng(0))
    assert as_colour > 0.0  # the colour it would never show counted against strength 0


def test_blend_is_exact_at_the_ends():
    a, b = _crops(1, 0, 0)[0], _crops(1, 100, 100)[0]
    assert np.array_equal(blend(a, b, 0.0), a) and blend(a, b, 1.0) is b
    mid = blend(a, b, 0.5).astype(int)
    assert np.abs(mid - (a.astype(int) + b) / 2).max() <= 1


def test_auto_fit_falls_back_to_the_render_when_the_fit_hurts(tmp_path):
    """Aligned pairs whose training photos are tinted while the held-out photos (every 4th)
    are not: the fit learns the tint, the held-out photos reject it: strength 0, output =
    input, and that survives save/load."""
    renders = _crops(8, 0, 150, size=48)
    photos = [r if i % 4 == 3 else _tint(r) for i, r in enumerate(renders)]
    cfg = ConvSmcaeConfig(iterations=150, n_pairs=256, batch_size=16, hidden=(8, 8), kernel=3,
                          patch_size=8, learning_rate=3e-2, pairing="aligned")
    ad = ConvSmcae(cfg).fit(renders, photos, rng=np.random.default_rng(0))
    rep = ad.report["strength"]
    assert rep["held_out"] and rep["n_photos"] == 2 and ad.strength == 0.0
    assert rep["mmd2"]["1"] > rep["mmd2"]["0"]
    assert np.array_equal(ad.transform(renders[0]), renders[0])
    ad.save(tmp_path / "m.safetensors")
    back = load_image_adapter(tmp_path / "m.safetensors")
    assert back.strength == 0.0 and np.array_equal(back.transform(renders[1]), renders[1])
    # and the same fit keeps its change when every photo shows it
    kept = ConvSmcae(cfg).fit(renders, [_tint(r) for r in renders],
                              rng=np.random.default_rng(0))
    assert kept.strength >= 0.75


def test_patch_smcae_auto_strength_round_trip(tmp_path):
    renders = _crops(8, 0, 150, size=32)
    photos = [_warm(r) for r in renders]
    ad = PatchSmcae(PatchSmcaeConfig(hidden_sizes=(32, 16, 32), iterations=5, n_pairs=128,
                                     optimizer="adam", pairing="aligned")).fit(
        renders, photos, rng=np.random.default_rng(0))
    rep = ad.report["strength"]
    assert rep["held_out"] and ad.strength == rep["chosen"]
    ad.save(tmp_path / "p.safetensors")
    back = load_image_adapter(tmp_path / "p.safetensors")
    assert back.strength == ad.strength
    assert np.array_equal(back.transform(renders[0]), ad.transform(renders[0]))


@pytest.mark.parametrize("bad", [float("nan"), "0.5", 2, True, None])
def test_a_tampered_stored_strength_is_refused(bad):
    with pytest.raises(ValueError, match="strength"):
        stored_strength({"strength": bad}, "auto")


def test_stored_strength_legacy_and_consistency():
    assert stored_strength({}, "auto") == 1.0  # written before the field: the full change
    assert stored_strength({}, 0.25) == 0.25
    assert stored_strength({"strength": 0.5}, "auto") == 0.5
    with pytest.raises(ValueError, match="edited"):
        stored_strength({"strength": 0.3}, 0.5)


@pytest.mark.parametrize("stored", [7, "0.9", None])
def test_tampered_model_file_strength_is_a_model_file_error(tmp_path, stored):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    renders = _crops(4, 0, 150, size=32)
    ad = ConvSmcae(ConvSmcaeConfig(iterations=2, n_pairs=64, batch_size=8, hidden=(4,),
                                   kernel=3, patch_size=8, strength=0.5)).fit(
        renders, renders, rng=np.random.default_rng(0))
    path = ad.save(tmp_path / "m.safetensors")
    assert load_image_adapter(path).strength == 0.5
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    key = next(iter(meta))
    config = json.loads(meta[key])
    config["strength"] = stored
    save_file(load_file(str(path)), str(path), metadata={key: json.dumps(config)})
    with pytest.raises(ModelFileError, match="strength.*refit the model"):
        load_image_adapter(path)


def test_initial_and_applied_strengths_of_an_adapter_and_a_chain():
    from types import SimpleNamespace

    assert initial_strength("auto") == 1.0 and initial_strength(0.25) == 0.25
    single = PatchSmcae(PatchSmcaeConfig(strength=0.5))
    assert single.strength == 0.5 and applied_strengths(single) == [0.5]
    camera, smcae = SimpleNamespace(gains=1.0), SimpleNamespace(strength=0)
    chain = SimpleNamespace(steps=[camera, smcae, SimpleNamespace(strength=0.75)])
    assert strength_steps(chain)[0] is smcae
    assert applied_strengths(chain) == [0.0, 0.75]
    assert applied_strengths(camera) == []
