"""The stacked conv SMCAE: schedule, balance magnitude, colour kept, legacy files, bad weights."""

import numpy as np
import pytest
from skimage import data

from synthgap.adapt.conv_smcae import ConvSmcae, ConvSmcaeConfig
from synthgap.adapt.image_base import load_image_adapter
from synthgap.adapt.modelfile import ModelFileError, save_model
from tests.conftest import tamper_model

SMALL = {"iterations": 40, "n_pairs": 256, "batch_size": 16, "hidden": (8, 8), "kernel": 3,
         "patch_size": 8, "learning_rate": 3e-2, "strength": 1.0}


def _colour_renders(n=6, size=40):
    img = data.astronaut()
    return [np.ascontiguousarray(img[30 * i:30 * i + size, 150:150 + size]) for i in range(n)]


def _warm(images):
    """The 'camera': warmer and darker, still colourful."""
    g = np.array([1.1, 0.85, 0.6])
    return [np.clip(im * g, 0, 255).astype(np.uint8) for im in images]


def _chroma(images):
    x = np.concatenate([im.reshape(-1, 3) for im in images]).astype(float)
    return float((x.max(1) - x.min(1)).mean())


def test_stacked_schedule_trains_every_layer_then_fine_tunes():
    renders = _colour_renders()
    ad = ConvSmcae(ConvSmcaeConfig(**SMALL, pairing="aligned")).fit(
        renders, _warm(renders), rng=np.random.default_rng(0))
    costs = ad.report["costs"]
    assert list(costs) == ["layer1", "layer2", "decoding", "fine_tune"]
    # 3 greedy stages of iterations // 2 steps, then fine-tuning
    assert len(ad.history) == 3 * 20 + 40
    e2e = ConvSmcae(ConvSmcaeConfig(**SMALL, pairing="aligned", training="end-to-end")).fit(
        renders, _warm(renders), rng=np.random.default_rng(0))
    assert list(e2e.report["costs"]) == ["end_to_end"] and len(e2e.history) == 40


def test_balance_term_by_hand_and_reported():
    import torch

    from synthgap.adapt.conv_smcae_train import balance_term

    js = torch.tensor(0.02, requires_grad=True)
    jr = torch.tensor(0.01)
    raw = balance_term(js, jr, 10.0, "raw")
    assert float(raw.detach()) == pytest.approx(0.5 * 10 * 1e-4)  # 1.7 % of the costs
    norm = balance_term(js, jr, 1.0, "normalised")
    assert float(norm.detach()) == pytest.approx(0.5 * 1e-4 / 0.015)
    norm.backward()
    assert float(js.grad) == pytest.approx(0.01 / 0.015)  # γ·(J_syn − J_real)/J̄
    renders = _colour_renders()
    ad = ConvSmcae(ConvSmcaeConfig(**SMALL, pairing="aligned")).fit(
        renders, _warm(renders), rng=np.random.default_rng(0))
    for stage in ad.report["costs"].values():
        assert set(stage) == {"j_syn", "j_real", "balance", "moment", "balance_over_costs"}
        assert all(np.isfinite(v) for v in stage.values())


def test_colour_camera_stays_colour_and_moves_towards_the_camera():
    renders = _colour_renders()
    real = _warm(renders)
    ad = ConvSmcae(ConvSmcaeConfig(**{**SMALL, "iterations": 150}, pairing="aligned")).fit(
        renders, real, rng=np.random.default_rng(0))
    out = ad.transform(renders)
    assert _chroma(out) > 0.7 * _chroma(real)  # never greyed
    err_raw = np.mean([np.abs(r.astype(float) - t).mean() for r, t in zip(renders, real, strict=True)])
    err = np.mean([np.abs(o.astype(float) - t).mean() for o, t in zip(out, real, strict=True)])
    assert err < 0.6 * err_raw
    # the mean colour shift of the camera is learned (R up relative to B)
    m_out = np.mean([o.reshape(-1, 3).mean(0) for o in out], 0)
    m_in = np.mean([r.reshape(-1, 3).mean(0) for r in renders], 0)
    assert (m_out[0] - m_out[2]) > (m_in[0] - m_in[2]) + 10


def test_residual_output_starts_at_the_render():
    """With zero training the residual channel's correction is ~0: output ≈ input."""
    renders = _colour_renders(2)
    cfg = ConvSmcaeConfig(**{**SMALL, "iterations": 1, "pretrain_iterations": 1,
                             "learning_rate": 1e-6}, pairing="aligned")
    ad = ConvSmcae(cfg).fit(renders, renders, rng=np.random.default_rng(0))
    out = ad.transform(renders[0])
    assert np.abs(out.astype(float) - renders[0]).mean() < 40  # a plain sigmoid decoder: ~mid-grey
    plain = ConvSmcae(ConvSmcaeConfig(**{**cfg.__dict__, "residual": False})).fit(
        renders, renders, rng=np.random.default_rng(0))
    assert (np.abs(plain.transform(renders[0]).astype(float) - renders[0]).mean()
            > np.abs(out.astype(float) - renders[0]).mean())


def test_legacy_file_and_non_finite_weights(tmp_path):
    renders = _colour_renders(2)
    ad = ConvSmcae(ConvSmcaeConfig(**SMALL)).fit(renders, _warm(renders),
                                                 rng=np.random.default_rng(0))
    tensors, config = ad.state()
    old = {k: v for k, v in config["config"].items()
           if k not in ("training", "balance", "residual", "residual_scale", "moment_weight",
                        "pretrain_iterations", "fine_tune_lr_scale")}
    save_model(tmp_path / "old.safetensors", tensors,
               {"config": old, "channels": 3, "kind": "conv-smcae"})
    back = load_image_adapter(tmp_path / "old.safetensors")
    assert back.config.residual is False and back.config.training == "end-to-end"
    save_model(tmp_path / "bad.safetensors", tensors, {**config, "kind": "conv-smcae"})
    tamper_model(tmp_path / "bad.safetensors", **{"dec_syn.b": np.array([np.nan, 0, 0],
                                                                        np.float32)})
    with pytest.raises(ModelFileError, match="'dec_syn.b' holds 1 NaN or infinite"):
        load_image_adapter(tmp_path / "bad.safetensors")


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="balance: expected 'normalised' or 'raw', got 'x'"):
        ConvSmcaeConfig(balance="x")
    with pytest.raises(ValueError, match="training: expected 'stacked' or 'end-to-end'"):
        ConvSmcaeConfig(training="greedy")
    with pytest.raises(ValueError, match="moment_weight: expected a finite number >= 0"):
        ConvSmcaeConfig(moment_weight=float("nan"))
    with pytest.raises(ValueError, match="pretrain_iterations: expected an integer >= 1"):
        ConvSmcaeConfig(pretrain_iterations=0)


def test_auto_strength_keeps_a_useful_correction():
    renders = _colour_renders(8, 48)
    real = _warm(renders)
    ad = ConvSmcae(ConvSmcaeConfig(**{**SMALL, "iterations": 150, "strength": "auto"},
                                   pairing="aligned")).fit(renders, real,
                                                           rng=np.random.default_rng(0))
    rep = ad.report["strength"]
    assert rep["held_out"] and rep["n_photos"] == 2 and set(rep["mmd2"]) == {
        "0", "0.25", "0.5", "0.75", "1"}
    assert ad.strength >= 0.75 and rep["mmd2"]["0"] > rep["mmd2"][f"{ad.strength:g}"]


@pytest.mark.parametrize("bad", [-0.1, 1.5, "strong", True])
def test_strength_field_is_checked(bad):
    with pytest.raises(ValueError, match="strength"):
        ConvSmcaeConfig(strength=bad)


def test_each_greedy_stage_targets_what_the_schedule_says(monkeypatch):
    """Every step's targets and trained tensors, stage by stage (docs/adaptation.md):
    layer 1 and the decoding stage regress onto the paired real patch / the real patch; layer
    i > 1 onto the frozen layer-(i−1) codes of the paired real / real patch; the decoding stage
    moves only the kept decoders, fine-tuning moves everything."""
    import torch

    from synthgap.adapt import conv_smcae_train as cst

    seen = []
    real_cost = cst._cost
    real_batch = cst._Trainer.batch

    def batch(self):
        b = real_batch(self)
        seen.append({"batch": b, "trainer": self})
        return b

    def cost(config, out, **kw):
        rec = seen[-1]
        t = rec["trainer"]
        rec["out"] = out
        rec["params"] = {k: v.detach().clone() for k, v in t.params.items()}
        return real_cost(config, out, **kw)

    monkeypatch.setattr(cst._Trainer, "batch", batch)
    monkeypatch.setattr(cst, "_cost", cost)
    renders = _colour_renders()
    cfg = ConvSmcaeConfig(**{**SMALL, "iterations": 4, "pretrain_iterations": 3,
                             "hidden": (6, 5, 4)}, pairing="aligned")
    ConvSmcae(cfg).fit(renders, _warm(renders), rng=np.random.default_rng(0))
    stages = {"layer1": seen[0:3], "layer2": seen[3:6], "layer3": seen[6:9],
              "decoding": seen[9:12], "fine_tune": seen[12:16]}
    assert len(seen) == 16
    r = cfg.radius

    def crop(x):
        return x[:, :, r:-r, r:-r]

    for name, recs in stages.items():
        for rec in recs:
            bs, bt, br = rec["batch"]
            out, p = rec["out"], rec["params"]
            if name in ("layer2", "layer3"):
                i = int(name[-1]) - 1
                with torch.no_grad():
                    want_t, want_r = cst.encode(p, bt, i), cst.encode(p, br, i)
                assert out.t_s.shape[1] == cfg.hidden[i - 1]  # codes, not images
                assert out.y_s.shape == out.t_s.shape
            else:
                want_t, want_r = crop(bt), crop(br)
                assert out.t_s.shape[1] == 3 and out.y_s.shape == out.t_s.shape
                assert not torch.equal(out.t_s, crop(bs))  # not the render itself
            assert torch.equal(out.t_s, want_t), name  # the *paired real* patch (or its codes)
            assert torch.equal(out.t_r, want_r), name  # the real patch itself (or its codes)

    def moved(recs, key):
        return not torch.equal(recs[0]["params"][key], recs[-1]["params"][key])

    enc = [f"enc{i}.w" for i in range(3)]
    assert [moved(stages["layer1"], k) for k in enc] == [True, False, False]
    assert [moved(stages["layer2"], k) for k in enc] == [False, True, False]
    assert [moved(stages["layer3"], k) for k in enc] == [False, False, True]
    # the decoding stage: the kept decoders only (no decoding hidden layer of its own)
    assert [moved(stages["decoding"], k) for k in enc] == [False, False, False]
    assert moved(stages["decoding"], "dec_syn.w") and moved(stages["decoding"], "dec_real.w")
    assert not moved(stages["layer1"], "dec_syn.w")  # layer 1 used temporary decoders
    assert all(moved(stages["fine_tune"], k) for k in [*enc, "dec_syn.w", "dec_real.w"])
