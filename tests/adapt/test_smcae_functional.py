import math

import pytest
import torch

from synthgap.adapt import smcae
from synthgap.adapt.smcae_functional import (
    balance_term,
    kl_sparsity,
    mcae_cost,
    pooled_mean_activation,
    reconstruction_cost,
    weight_decay,
)


def test_terms_by_hand():
    y = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    t = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    # (1 + 4 + 0 + 1) / (2 * 2) = 1.5
    assert reconstruction_cost(y, t).item() == pytest.approx(1.5)
    assert weight_decay([torch.tensor([[1.0, 2.0]]), torch.tensor([3.0])], 0.1).item() == pytest.approx(0.05 * 14)
    assert balance_term(torch.tensor(3.0), torch.tensor(1.0), 4.0).item() == pytest.approx(8.0)
    # normalised: divided by the mean cost (3 + 1) / 2 = 2
    assert balance_term(torch.tensor(3.0), torch.tensor(1.0), 4.0,
                        normalised=True).item() == pytest.approx(4.0)
    rho_hat = torch.tensor([0.5])
    want = 0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5)
    assert kl_sparsity(0.1, rho_hat).item() == pytest.approx(want)
    assert kl_sparsity(0.1, torch.tensor([0.1, 0.1])).item() == pytest.approx(0.0, abs=1e-12)


def test_pooled_mean_counts_both_channels_and_conv_layout():
    a_syn = torch.tensor([[0.0, 1.0]])
    a_real = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    torch.testing.assert_close(pooled_mean_activation(a_syn, a_real), torch.tensor([0.75, 0.5]))
    conv_s = torch.zeros(2, 3, 4, 4)
    conv_r = torch.ones(2, 3, 4, 4)
    torch.testing.assert_close(pooled_mean_activation(conv_s, conv_r, feature_dim=1), torch.full((3,), 0.5))
    with pytest.raises(ValueError, match="share one encoder"):
        pooled_mean_activation(torch.zeros(1, 2), torch.zeros(1, 3))


def test_mcae_cost_by_hand():
    w1 = torch.tensor([[1.0]])
    w2s, w2r = torch.tensor([[2.0]]), torch.tensor([[0.0]])
    c = mcae_cost(y_syn=torch.tensor([[1.0]]), target_syn=torch.tensor([[0.0]]),
                  y_real=torch.tensor([[0.5]]), target_real=torch.tensor([[0.5]]),
                  a_syn=torch.tensor([[0.5]]), a_real=torch.tensor([[0.5]]),
                  encoder_weights=[w1], decoder_syn_weights=[w2s], decoder_real_weights=[w2r],
                  rho=0.5, beta=3.0, lam=0.2, gamma=2.0)
    # J_syn = 1/2 + 3*0 + 0.1*(1+4) = 1.0 ; J_real = 0 + 0 + 0.1*1 = 0.1
    assert c.j_syn.item() == pytest.approx(1.0)
    assert c.j_real.item() == pytest.approx(0.1)
    assert c.total.item() == pytest.approx(1.1 + 0.81)
    with pytest.raises(ValueError, match="hidden activations"):
        mcae_cost(y_syn=w1, target_syn=w1, y_real=w1, target_real=w1, a_syn=None, a_real=None,
                  encoder_weights=[w1], decoder_syn_weights=[w1], decoder_real_weights=[w1],
                  rho=0.1, beta=1.0, lam=0.0, gamma=0.0)


def test_smcae_reexports_the_same_functions():
    assert smcae.mcae_cost is mcae_cost and smcae.reconstruction_cost is reconstruction_cost


def test_bad_inputs():
    with pytest.raises(ValueError, match="must match"):
        reconstruction_cost(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"rho must be in \(0, 1\)"):
        kl_sparsity(1.5, torch.tensor([0.5]))
