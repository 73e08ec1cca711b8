"""Camera-model fit: each estimator recovers a known camera; the adapter, its file and its
`sensor:` block."""

import numpy as np
import pytest
import yaml
from skimage import data

from synthgap.adapt import camera_estimate as est
from synthgap.adapt.camera import LOCAL_IMAGES, CameraModel, apply_camera, sensor_yaml, spread
from synthgap.adapt.image_base import load_image_adapter, make_image_adapter
from synthgap.adapt.modelfile import ModelFileError, save_model
from synthgap.scenes.schema import SensorConfig
from tests.conftest import tamper_model


def _scenes(n=4, size=96):
    """Crops of a colour photo: natural content with edges, flat areas and colours."""
    img = data.astronaut()
    return [np.ascontiguousarray(img[40 + 90 * i:40 + 90 * i + size, 100:100 + size + 32])
            for i in range(n)]


TRUE = {"gains": np.array([1.15, 1.0, 0.8]), "tone": None, "vignetting": 0.0,
        "blur_sigma": 0.0, "noise_a": 0.0, "noise_b": 0.0, "jpeg_quality": None}


def _camera(images, **kw):
    p = {**TRUE, **kw}
    return [apply_camera(im, seed=i, **p) for i, im in enumerate(images)]


def test_white_balance_gains_recovered():
    renders = _scenes()
    g = est.white_balance_gains(renders, _camera(renders))
    expected = TRUE["gains"] / (TRUE["gains"] @ est.LUMA)  # luma-normalised
    np.testing.assert_allclose(g, expected, rtol=0.03)


def test_noise_level_and_intensity_dependence_recovered():
    flat = [np.ascontiguousarray(np.broadcast_to(
        np.linspace(20, 235, 96, dtype=np.float32)[None, :, None], (64, 96, 3)).astype(np.uint8))
        for _ in range(3)]
    a, b = 1e-5, 8e-4  # std 0.003 in the dark, 0.028 in the light
    noisy = _camera(flat, gains=np.ones(3), noise_a=a, noise_b=b)
    fa, fb, _, sigmas = est.noise_curve(flat, noisy)
    assert sigmas[-1] > 2.5 * sigmas[0]  # brighter -> noisier, as the camera
    mid = np.sqrt(a + 0.5 * b)
    assert abs(np.sqrt(fa + 0.5 * fb) - mid) < 0.15 * mid


@pytest.mark.parametrize("sigma", [0.6, 1.5])
def test_blur_recovered(sigma):
    renders = _scenes()
    got = est.blur_sigma_match(renders, _camera(renders, gains=np.ones(3), blur_sigma=sigma))
    assert abs(got - sigma) <= 0.2


@pytest.mark.parametrize(("sigma", "noise"), [(0.0, 0.0), (1.1, 3e-4), (2.6, 0.0)])
def test_blur_search_coarse_to_fine_finds_what_the_full_grid_finds(sigma, noise):
    renders = _scenes(3, 64)
    real = _camera(renders, gains=np.ones(3), blur_sigma=sigma, noise_a=noise)

    def degrade(images, s):
        return _camera(images, gains=np.ones(3), blur_sigma=s, noise_a=noise)

    trials = []
    fast = est.blur_sigma_match(renders, real, degrade=degrade, on_trial=lambda: trials.append(1))
    full = est.blur_sigma_match(renders, real, degrade=degrade,
                                sigmas=np.round(np.arange(0.0, 3.01, 0.1), 1))
    assert fast == full and abs(fast - sigma) <= 0.2
    assert len(trials) <= 15  # 7 coarse + at most 8 fine, against 31 for the full grid


def test_spread_and_reused_noise():
    assert spread(list(range(5)), LOCAL_IMAGES) == [0, 1, 2, 3, 4]
    picked = spread(list(range(200)), 16)
    assert len(set(picked)) == 16 and picked[0] == 0 and picked[-1] == 199
    assert max(np.diff(picked)) - min(np.diff(picked)) <= 1  # evenly spread
    from synthgap.generators.camera.sensor import gaussian_noise

    im = _scenes(1)[0]
    kw = {**TRUE, "noise_a": 4e-4, "seed": 3}
    np.testing.assert_array_equal(apply_camera(im, **kw), apply_camera(
        im, **kw, unit_noise=gaussian_noise(im.shape, 3)))


def test_fit_reads_at_most_local_images_for_noise_and_blur(monkeypatch):
    renders = _scenes(2, 48) * 12  # 24 renders
    real = _camera(renders, noise_a=1e-4)
    seen = []
    real_noise_curve = est.noise_curve

    def noise_curve(synthetic, photos, **kw):
        seen.append((len(synthetic), len(photos)))
        return real_noise_curve(synthetic, photos, **kw)

    monkeypatch.setattr(est, "noise_curve", noise_curve)
    CameraModel(jpeg=False).fit(renders, real, rng=np.random.default_rng(0))
    assert seen and all(n <= LOCAL_IMAGES and m <= LOCAL_IMAGES for n, m in seen)


def test_jpeg_quality_recovered_and_none_without_blocks():
    renders = _scenes()
    assert est.jpeg_quality_estimate(_camera(renders, jpeg_quality=60)) in (55, 60, 65)
    assert est.jpeg_quality_estimate(renders) is None
    assert est.blockiness(_camera(renders, jpeg_quality=40)[0]) > 1.2 > est.blockiness(renders[0])


def test_vignetting_recovered_on_the_same_content():
    renders = _scenes()
    got = est.vignetting_strength(renders, _camera(renders, gains=np.ones(3), vignetting=0.4))
    assert abs(got - 0.4) < 0.08


def test_fit_recovers_a_camera_and_applies_deterministically(tmp_path):
    renders = _scenes()
    real = _camera(renders, blur_sigma=1.0, noise_a=1e-4, noise_b=2e-4)
    cam = make_image_adapter("camera").fit(renders, real, rng=np.random.default_rng(0))
    v = cam.values
    assert abs(v["blur_sigma"] - 1.0) <= 0.3
    assert 0.5 * np.sqrt(2e-4) < v["noise_mid"] < 2 * np.sqrt(2e-4)
    assert v["jpeg_quality"] is None and v["white_balance"][0] > v["white_balance"][2]
    out = cam.transform(renders[0])
    # closer to the camera's image than the render was
    assert np.abs(out.astype(float) - real[0]).mean() < np.abs(renders[0].astype(float)
                                                                 - real[0]).mean()
    np.testing.assert_array_equal(out, cam.transform(renders[0]))  # same bytes every time
    a, b = cam.transform([renders[0], renders[0][::-1].copy()])
    assert not np.array_equal(a[::-1], b)  # noise differs between images
    cam.save(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(load_image_adapter(tmp_path / "c.safetensors").transform(
        renders[0]), out)


def test_ablation_flags_and_bad_values():
    renders = _scenes(2)
    real = _camera(renders, noise_a=4e-4)
    cam = CameraModel(noise=False, white_balance=False).fit(renders, real,
                                                            rng=np.random.default_rng(0))
    assert cam.values["noise_a"] == cam.values["noise_b"] == 0.0
    assert cam.values["white_balance"] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="noise: expected true or false, got 'yes'"):
        CameraModel(noise="yes")
    with pytest.raises(ValueError, match="options.nois: unknown option.*did you mean 'noise'"):
        make_image_adapter("camera", options={"nois": False})


def test_sensor_yaml_is_a_valid_scene_sensor_block():
    renders = _scenes(2)
    cam = CameraModel().fit(renders, _camera(renders, blur_sigma=1.0, jpeg_quality=50,
                                             noise_a=1e-4), rng=np.random.default_rng(0))
    text = sensor_yaml(cam)
    block = yaml.safe_load(text)["sensor"]
    assert set(block) == {"noise", "blur_sigma", "vignetting", "jpeg_quality"}
    assert block["jpeg_quality"] == cam.values["jpeg_quality"]
    SensorConfig.model_validate(block)
    assert "# white balance gains" in text
    with pytest.raises(ValueError, match="needs a fitted camera model"):
        sensor_yaml(make_image_adapter("histogram").fit(renders, renders,
                                                        rng=np.random.default_rng(0)))


def test_corrupt_model_files_refused(tmp_path):
    renders = _scenes(2)
    tensors, config = CameraModel().fit(renders, renders, rng=np.random.default_rng(0)).state()
    save_model(tmp_path / "a.safetensors", tensors, {**config, "kind": "camera"})
    tamper_model(tmp_path / "a.safetensors", gains=np.array([1.0, np.nan, 1.0], np.float32))
    with pytest.raises(ModelFileError, match="NaN|gains: expected 3 finite positive"):
        load_image_adapter(tmp_path / "a.safetensors")
    cfg = {**config, "values": {**config["values"], "blur_sigma": float("inf")}}
    save_model(tmp_path / "b.safetensors", tensors, {**cfg, "kind": "camera"})
    with pytest.raises(ModelFileError, match="values.blur_sigma"):
        load_image_adapter(tmp_path / "b.safetensors")


def test_chain_camera_then_smcae_is_one_model_file(tmp_path):
    renders = _scenes(3, 48)
    real = _camera(renders, blur_sigma=0.8)
    chain = make_image_adapter("camera+conv-smcae", options={
        "iterations": 4, "n_pairs": 64, "batch_size": 8, "seed": 2})
    assert [s.method for s in chain.steps] == ["camera", "conv-smcae"]
    assert chain.steps[0].seed == 2 and chain.steps[1].config.iterations == 4
    chain.fit(renders, real, rng=np.random.default_rng(0))
    chain.save(tmp_path / "chain.safetensors")
    back = load_image_adapter(tmp_path / "chain.safetensors")
    np.testing.assert_array_equal(back.transform(renders[0]), chain.transform(renders[0]))
    assert "white balance" in sensor_yaml(back)
    with pytest.raises(ValueError, match="expected one of .* got 'cycle'"):
        make_image_adapter("camera+cycle")


def test_masks_restrict_colour_and_vignetting_to_parts():
    renders = _scenes(3)
    real = _camera(renders, gains=np.ones(3), vignetting=0.4)
    full = [np.ones(r.shape[:2], np.int32) for r in renders]
    got = est.vignetting_strength(renders, real, synthetic_masks=full, real_masks=full,
                                  min_pixels=10)
    assert abs(got - 0.4) < 0.08
    centre = [np.zeros(r.shape[:2], np.int32) for r in renders]
    for m in centre:
        m[40:56, 55:73] = 1  # parts only near the centre: too few radii to tell
    assert est.vignetting_strength(renders, real, synthetic_masks=centre,
                                   real_masks=centre) == 0.0
    # a render background of another colour does not bias white balance with masks
    tinted = [r.copy() for r in renders]
    for t, m in zip(tinted, centre, strict=True):
        t[m == 0] = (0, 0, 255)
    g = est.white_balance_gains(tinted, renders, synthetic_masks=centre, real_masks=centre)
    np.testing.assert_allclose(g, 1.0, atol=0.02)
    with pytest.raises(ValueError, match=r"real_masks: 2 label maps for 3 images"):
        CameraModel().fit(renders, real, rng=np.random.default_rng(0), synthetic_masks=full,
                          real_masks=full[:2])
