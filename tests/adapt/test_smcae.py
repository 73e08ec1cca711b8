import math

import numpy as np
import pytest
import torch

from synthgap.adapt.base import load_adapter
from synthgap.adapt.modelfile import ModelFileError, load_model, save_model
from synthgap.adapt.smcae import Smcae, SmcaeConfig, init_layer
from synthgap.adapt.smcae_functional import dense_layer, mcae_cost
from synthgap.adapt.vector_baselines import Mcae, mcae_config


def _pairs(seed=0, n=40, d=8):
    """Real = smooth patterns in [0, 1]; synthetic = a distorted (shifted, scaled, noisy) copy."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(size=(n, 2))
    basis = rng.normal(size=(2, d))
    real = 1 / (1 + np.exp(-(z @ basis)))
    syn = 0.6 * real[:, ::-1] + 0.3 + 0.05 * rng.normal(size=(n, d))
    return syn, real


SMALL = dict(hidden_sizes=(6, 4, 6), pretrain_iterations=60, finetune_iterations=60, dtype="float64")


def test_init_layer_reference_bounds():
    p = init_layer(10, 5, 10, generator=torch.Generator().manual_seed(0))
    r = math.sqrt(6 / (5 + 10 + 1))
    assert p["w1"].shape == (5, 10) and p["w2_syn"].shape == (10, 5)
    assert float(p["w1"].abs().max()) <= r and float(p["w2_real"].abs().max()) <= r
    assert float(p["w1"].abs().max()) > 0.7 * r
    assert not p["b1"].any() and not p["b2_syn"].any()


def test_layer_cost_by_hand():
    # zero weights: hidden = sigmoid(0) = 0.5, output = sigmoid(0) = 0.5 everywhere
    z = torch.zeros(1, 1, dtype=torch.float64)
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    a = dense_layer(x, z, torch.zeros(1, dtype=torch.float64))
    y = dense_layer(a, z, torch.zeros(1, dtype=torch.float64))
    c = mcae_cost(y_syn=y, target_syn=x, y_real=y, target_real=torch.tensor([[0.5], [0.5]], dtype=torch.float64),
                  a_syn=a, a_real=a, encoder_weights=[z], decoder_syn_weights=[z], decoder_real_weights=[z],
                  rho=0.1, beta=1.0, lam=3e-3, gamma=2.0)
    kl = 0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5)
    # J_syn = (0.25 + 0.25) / 4 + KL ; J_real = 0 + KL ; total = J_syn + J_real + (J_syn - J_real)^2
    assert c.j_syn.item() == pytest.approx(0.125 + kl)
    assert c.j_real.item() == pytest.approx(kl)
    assert c.total.item() == pytest.approx(0.125 + 2 * kl + 0.125 ** 2)


def test_autograd_matches_finite_differences():
    g = torch.Generator().manual_seed(1)
    p = init_layer(4, 3, 4, generator=g, dtype=torch.float64)
    p = {k: (v + 0.1 * torch.rand(v.shape, generator=g, dtype=torch.float64)).requires_grad_() for k, v in p.items()}
    xs = torch.rand(5, 4, generator=g, dtype=torch.float64)
    xr = torch.rand(6, 4, generator=g, dtype=torch.float64)
    ts = torch.rand(5, 4, generator=g, dtype=torch.float64)

    def total(w1, b1, w2s, b2s, w2r, b2r):
        a_s, a_r = dense_layer(xs, w1, b1), dense_layer(xr, w1, b1)
        return mcae_cost(y_syn=dense_layer(a_s, w2s, b2s), target_syn=ts, y_real=dense_layer(a_r, w2r, b2r),
                         target_real=xr, a_syn=a_s, a_real=a_r, encoder_weights=[w1],
                         decoder_syn_weights=[w2s], decoder_real_weights=[w2r],
                         rho=0.1, beta=0.7, lam=0.01, gamma=5.0).total

    args = tuple(p[k] for k in ("w1", "b1", "w2_syn", "b2_syn", "w2_real", "b2_real"))
    assert torch.autograd.gradcheck(total, args, eps=1e-6, atol=1e-6)


def test_balance_term_pulls_channel_costs_together():
    syn, real = _pairs()
    rng = np.random.default_rng(0)
    # the synthetic channel is harder (noisy input); with γ large its cost and the real one's meet
    syn = syn + 0.1 * rng.normal(size=syn.shape)
    gaps = []
    for gamma in (0.0, 300.0):
        m = Mcae(mcae_config(hidden=6, gamma=gamma, lam=0.0, pretrain_iterations=150, dtype="float64"))
        m.fit(syn, real, rng=np.random.default_rng(1))
        log = m.training_log[-1]
        gaps.append(abs(log["j_syn"] - log["j_real"]))
    assert gaps[0] > 0.005  # without balance the synthetic channel fits clearly worse
    assert gaps[1] < 0.5 * gaps[0]


def test_stack_shapes_stages_and_adaptation_helps():
    syn, real = _pairs(n=60)
    m = Smcae(SmcaeConfig(**SMALL)).fit(syn, real, rng=np.random.default_rng(0))
    tensors, _config = m.state()
    assert tensors["enc0.weight"].shape == (6, 8) and tensors["enc1.weight"].shape == (4, 6)
    assert tensors["enc2.weight"].shape == (6, 4) and tensors["dec_syn.weight"].shape == (8, 6)
    assert [s["stage"] for s in m.training_log] == ["layer1", "layer2", "layer3", "finetune"]
    out = m.transform(syn)
    assert out.shape == syn.shape
    assert np.mean((out - real) ** 2) < 0.5 * np.mean((syn - real) ** 2)
    f = m.features(syn)
    assert f.shape == (60, 16) and f.min() > 0 and f.max() < 1
    assert m.features(syn, layers=(1,)).shape == (60, 4)
    assert m.reconstruct_real(real).shape == real.shape


def test_adam_reduces_cost():
    syn, real = _pairs()
    cfg = SmcaeConfig(hidden_sizes=(6,), optimizer="adam", pretrain_iterations=1, learning_rate=1e-2,
                      batch_size=8, dtype="float64")
    short = Smcae(cfg).fit(syn, real, rng=np.random.default_rng(0)).training_log[-1]["total"]
    long_ = Smcae(SmcaeConfig(**{**cfg.__dict__, "pretrain_iterations": 60})).fit(
        syn, real, rng=np.random.default_rng(0)).training_log[-1]["total"]
    assert long_ < 0.8 * short


def test_deterministic_under_seed():
    syn, real = _pairs()
    cfg = SmcaeConfig(**{**SMALL, "pretrain_iterations": 20, "finetune_iterations": 20})
    a = Smcae(cfg).fit(syn, real, rng=np.random.default_rng(7)).transform(syn)
    b = Smcae(cfg).fit(syn, real, rng=np.random.default_rng(7)).transform(syn)
    c = Smcae(cfg).fit(syn, real, rng=np.random.default_rng(8)).transform(syn)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_save_load_round_trip(tmp_path):
    syn, real = _pairs()
    m = Smcae(SmcaeConfig(**{**SMALL, "pretrain_iterations": 10, "finetune_iterations": 10}))
    m.fit(syn, real, rng=np.random.default_rng(0))
    path = m.save(tmp_path / "s.safetensors")
    back = Smcae.load(path)
    np.testing.assert_array_equal(back.transform(syn), m.transform(syn))
    np.testing.assert_array_equal(back.features(real), m.features(real))
    assert back.config == m.config and back.training_log == m.training_log
    assert isinstance(load_adapter(path), Smcae)
    tensors, config = load_model(path, kind="smcae")
    assert config["config"]["hidden_sizes"] == [6, 4, 6] and "norm.min" in tensors


def test_bad_model_files(tmp_path):
    syn, real = _pairs()
    m = Smcae(SmcaeConfig(**{**SMALL, "pretrain_iterations": 5, "finetune_iterations": 5}))
    path = m.fit(syn, real, rng=np.random.default_rng(0)).save(tmp_path / "s.safetensors")
    tensors, config = load_model(path)
    data = path.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match="trunc.safetensors"):
        Smcae.load(tmp_path / "trunc.safetensors")
    bad = dict(tensors, **{"enc1.weight": np.zeros((5, 6))})
    save_model(tmp_path / "shape.safetensors", bad, config)
    with pytest.raises(ModelFileError, match=r"shape.safetensors.*enc1.weight: \(5, 6\) \(expected \(4, 6\)\)"):
        Smcae.load(tmp_path / "shape.safetensors")
    missing = {k: v for k, v in tensors.items() if k != "dec_syn.bias"}
    save_model(tmp_path / "miss.safetensors", missing, config)
    with pytest.raises(ModelFileError, match="missing.*dec_syn.bias"):
        Smcae.load(tmp_path / "miss.safetensors")
    save_model(tmp_path / "cfg.safetensors", tensors, {**config, "config": {"rho": 3}})
    with pytest.raises(ModelFileError, match="bad `config`"):
        Smcae.load(tmp_path / "cfg.safetensors")
    with pytest.raises(ModelFileError, match="expected 'mcae'"):
        Mcae.load(path)


def test_bad_inputs_and_config():
    syn, real = _pairs()
    with pytest.raises(ValueError, match="needs pairs"):
        Smcae(SmcaeConfig(**SMALL)).fit(syn, real[:-1], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="rho"):
        SmcaeConfig(rho=1.0)
    with pytest.raises(ValueError, match="optimizer"):
        SmcaeConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="hidden_sizes"):
        SmcaeConfig(hidden_sizes=())
    with pytest.raises(ValueError, match="single layer"):
        Mcae(SmcaeConfig(hidden_sizes=(3, 3)))
    m = Smcae(SmcaeConfig(**{**SMALL, "pretrain_iterations": 2, "finetune_iterations": 0}))
    m.fit(syn, real, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected 8 dimensions"):
        m.transform(syn[:, :5])


def test_lbfgs_spends_its_budget_in_float32():
    # float32 round-off can stall torch's L-BFGS line search early; fit restarts it so every
    # stage uses its iterations on a problem that is far from converged
    syn, real = _pairs()
    m = Smcae(SmcaeConfig(hidden_sizes=(6, 4, 6), pretrain_iterations=25, finetune_iterations=25))
    m.fit(syn, real, rng=np.random.default_rng(0))
    assert [s["iterations"] for s in m.training_log] == [25, 25, 25, 25]
