"""The multichannel autoencoder (MCAE) cost as plain torch functions.

These are the exact terms of Zhang et al.'s SMCAE (`docs/smcae.md`, read from the authors'
reference code), written once so that the dense SMCAE (`synthgap.adapt.smcae`) and a
convolutional SMCAE use the same maths. For one channel c with m_c samples:

    J_c = (1 / (2 m_c)) Σ ||y_c − target_c||²  +  β · KL(ρ ‖ ρ̂)  +  (λ/2) Σ_W ||W||²
    J   = J_syn + J_real + (γ/2) (J_syn − J_real)²

where ρ̂ is the mean hidden activation pooled over the samples of *both* channels and Σ_W runs
over the shared encoder weights and channel c's decoder weights (biases are not decayed).
All functions take and return torch tensors and are differentiable; none changes global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

__all__ = [
    "McaeCost",
    "balance_term",
    "channel_cost",
    "dense_layer",
    "encode_stack",
    "kl_sparsity",
    "mcae_cost",
    "pooled_mean_activation",
    "reconstruction_cost",
    "weight_decay",
]


def reconstruction_cost(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`(1 / (2 m)) Σ ||y_i − target_i||²`: half the mean over samples of the squared error.

    Args:
        y: `(m, ...)` outputs; the first axis indexes samples, the rest are summed.
        target: same shape as `y`.

    Returns:
        A scalar tensor.
    """
    if y.shape != target.shape:
        raise ValueError(f"reconstruction_cost: y has shape {tuple(y.shape)} but target has "
                         f"{tuple(target.shape)}; they must match")
    m = y.shape[0]
    if m == 0:
        raise ValueError("reconstruction_cost: got 0 samples; need at least one")
    return ((y - target) ** 2).sum() / (2 * m)


def pooled_mean_activation(a_syn: torch.Tensor, a_real: torch.Tensor, *,
                           feature_dim: int = -1) -> torch.Tensor:
    """ρ̂: the mean activation of each hidden unit over the samples of *both* channels.

    Args:
        a_syn: hidden activations of the synthetic channel, `(m_syn, h)` (or, for a
            convolutional layer, `(m_syn, h, H, W)` with `feature_dim=1`).
        a_real: the real channel's, same layout (its sample count may differ).
        feature_dim: the axis that indexes hidden units; every other axis is averaged over.

    Returns:
        `(h,)` tensor: `(Σ a_syn + Σ a_real) / (count_syn + count_real)` per unit.
    """
    flat = [torch.movedim(a, feature_dim, -1).reshape(-1, a.shape[feature_dim])
            for a in (a_syn, a_real)]
    if flat[0].shape[1] != flat[1].shape[1]:
        raise ValueError(f"pooled_mean_activation: channels have {flat[0].shape[1]} and "
                         f"{flat[1].shape[1]} hidden units; they share one encoder, so must match")
    return torch.cat(flat, dim=0).mean(dim=0)


def kl_sparsity(rho: float, rho_hat: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j) = Σ_j ρ log(ρ/ρ̂_j) + (1−ρ) log((1−ρ)/(1−ρ̂_j)) (Bernoulli divergence).

    Args:
        rho: target mean activation, in (0, 1).
        rho_hat: `(h,)` mean activations in (0, 1) (clamped to [eps, 1−eps] for safety).
        eps: clamp margin.

    Returns:
        A scalar tensor (0 when every ρ̂_j = ρ).
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"kl_sparsity: rho must be in (0, 1), got {rho}")
    r = rho_hat.clamp(eps, 1.0 - eps)
    return (rho * torch.log(rho / r) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - r))).sum()


def weight_decay(weights: Sequence[torch.Tensor], lam: float) -> torch.Tensor:
    """`(λ/2) Σ_W ||W||²` (squared Frobenius norms of the given weight tensors)."""
    if len(weights) == 0:
        raise ValueError("weight_decay: got no weight tensors")
    total = (weights[0] ** 2).sum()
    for w in weights[1:]:
        total = total + (w ** 2).sum()
    return 0.5 * lam * total


def balance_term(j_syn: torch.Tensor, j_real: torch.Tensor, gamma: float) -> torch.Tensor:
    """`(γ/2) (J_syn − J_real)²`: penalises fitting one channel much better than the other."""
    return 0.5 * gamma * (j_syn - j_real) ** 2


def channel_cost(y: torch.Tensor, target: torch.Tensor, *, kl: torch.Tensor | None, beta: float,
                 weights: Sequence[torch.Tensor], lam: float) -> torch.Tensor:
    """One channel's `J_c = reconstruction + β·KL + (λ/2) Σ ||W||²`.

    Args:
        y, target: the channel's outputs and targets, `(m_c, ...)`.
        kl: the pooled sparsity divergence (`kl_sparsity(ρ, ρ̂)`), or None when β = 0.
        beta: sparsity weight β.
        weights: the shared encoder weight(s) and this channel's decoder weight(s).
        lam: weight-decay λ.
    """
    j = reconstruction_cost(y, target) + weight_decay(weights, lam)
    if beta != 0.0:
        if kl is None:
            raise ValueError("channel_cost: beta != 0 needs the sparsity divergence `kl`")
        j = j + beta * kl
    return j


class McaeCost(NamedTuple):
    """The MCAE cost and its two channel costs (all scalar tensors)."""

    total: torch.Tensor
    j_syn: torch.Tensor
    j_real: torch.Tensor


def mcae_cost(*, y_syn: torch.Tensor, target_syn: torch.Tensor, y_real: torch.Tensor,
              target_real: torch.Tensor, a_syn: torch.Tensor | None, a_real: torch.Tensor | None,
              encoder_weights: Sequence[torch.Tensor], decoder_syn_weights: Sequence[torch.Tensor],
              decoder_real_weights: Sequence[torch.Tensor], rho: float, beta: float, lam: float,
              gamma: float, feature_dim: int = -1) -> McaeCost:
    """`J = J_syn + J_real + (γ/2)(J_syn − J_real)²` for one MCAE layer (or a fine-tuned stack).

    Args:
        y_syn, target_syn: synthetic channel outputs and their (paired real) targets.
        y_real, target_real: real channel outputs and targets.
        a_syn, a_real: hidden activations of the two channels, pooled for ρ̂ (may be None when
            β = 0, as in fine-tuning, which has no sparsity term).
        encoder_weights: the shared encoder weight tensors (decayed in both channel costs).
        decoder_syn_weights, decoder_real_weights: each channel's decoder weight tensors.
        rho, beta, lam, gamma: ρ, β, λ, γ of `docs/smcae.md`.
        feature_dim: hidden-unit axis of the activations (1 for convolutional layers).

    Returns:
        `McaeCost(total, j_syn, j_real)`.
    """
    kl = None
    if beta != 0.0:
        if a_syn is None or a_real is None:
            raise ValueError("mcae_cost: beta != 0 needs the hidden activations a_syn and a_real")
        kl = kl_sparsity(rho, pooled_mean_activation(a_syn, a_real, feature_dim=feature_dim))
    enc = list(encoder_weights)
    j_syn = channel_cost(y_syn, target_syn, kl=kl, beta=beta,
                         weights=enc + list(decoder_syn_weights), lam=lam)
    j_real = channel_cost(y_real, target_real, kl=kl, beta=beta,
                          weights=enc + list(decoder_real_weights), lam=lam)
    return McaeCost(j_syn + j_real + balance_term(j_syn, j_real, gamma), j_syn, j_real)


def dense_layer(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`sigmoid(x Wᵀ + b)` for row samples: x `(m, d)`, W `(h, d)`, b `(h,)` -> `(m, h)`."""
    return torch.sigmoid(torch.addmm(b, x, w.T))


def encode_stack(x: torch.Tensor, encoders: Sequence[tuple[torch.Tensor, torch.Tensor]]
                 ) -> list[torch.Tensor]:
    """Hidden activations of every shared encoder of a stack, in order.

    Args:
        x: `(m, d)` normalised inputs.
        encoders: `[(W_1, b_1), ...]` with `W_i (h_i, h_{i-1})`.

    Returns:
        `[a_1 (m, h_1), a_2 (m, h_2), ...]`.
    """
    out = []
    for w, b in encoders:
        x = dense_layer(x, w, b)
        out.append(x)
    return out
