"""Training of the convolutional SMCAE (`synthgap.adapt.conv_smcae`): functional core.

Parameters are a dict of torch tensors: shared encoders `enc{i}.w/b` (the first
`kernel`×`kernel`, the rest 1×1) and the two decoders `dec_syn.w/b`, `dec_real.w/b` (3×3).
Every unit is a sigmoid, as in the paper. With `residual`, the synthetic channel's output is
`x + s·(2·sigmoid(decoder) − 1)`: the render plus a bounded learned correction (starts at the
identity, keeps colour and structure); the real channel always reconstructs its input.

Two schedules (`config.training`):

* `stacked` — the paper's schedule (`docs/smcae.md`): greedy layer-wise pre-training, each layer
  an MCAE with its own temporary decoders —
  layer 1: inputs render and real patches, targets the *paired real* patch (syn channel) and the
  real patch itself (real channel); layer i > 1: inputs the frozen codes of layer i−1 of the
  render and real patches, targets the layer-(i−1) codes of the paired real patch and of the real
  patch; the decoding layer: inputs the frozen top codes, targets the paired real patch and the
  real patch (these decoders are kept). Sparsity β·KL(ρ‖ρ̂), ρ̂ pooled over both channels, in
  every encoding layer. Then fine-tuning of the whole stack end to end without sparsity.
* `end-to-end` — the whole network from the start (the earlier schedule, for ablation).

The balance term `(γ/2)(J_syn − J_real)²` is tiny when the costs are ~10⁻² (per-pixel mean
squared errors); `balance="normalised"` divides it by the (constant, detached) mean cost
`J̄ = (J_syn + J_real)/2`, so its gradient is γ·(J_syn − J_real)/J̄ times that of the costs:
γ weighs the *relative* imbalance, whatever the cost scale. `balance="raw"` is the paper's term
as written. `moment_weight` adds a distribution term: the squared differences of the mean and
covariance of the synthetic outputs' pixel colours and those of the real patches, plus the
squared difference of the mean hidden codes of render and real patches (matching
distributions instead of regressing each render patch onto a possibly unrelated target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CostParts", "balance_term", "decode", "encode", "init_params", "syn_output", "train"]


def _uniform(shape: tuple[int, ...], generator):
    """Uniform ±sqrt(6 / (fan_in + fan_out + 1)) (the reference rule), trainable."""
    import torch

    fan_in = shape[1] * shape[2] * shape[3]
    fan_out = shape[0] * shape[2] * shape[3]
    r = float(np.sqrt(6.0 / (fan_in + fan_out + 1)))
    return ((torch.rand(shape, generator=generator) * 2 - 1) * r).requires_grad_(True)


def init_params(hidden: tuple[int, ...], kernel: int, channels: int, generator
                ) -> dict[str, Any]:
    """Fresh parameters: reference-rule uniform weights, zero biases."""
    import torch

    params: dict[str, Any] = {}
    c_in = channels
    for i, h in enumerate(hidden):
        k = kernel if i == 0 else 1
        params[f"enc{i}.w"] = _uniform((h, c_in, k, k), generator)
        params[f"enc{i}.b"] = torch.zeros(h, requires_grad=True)
        c_in = h
    for side in ("syn", "real"):
        params[f"dec_{side}.w"] = _uniform((channels, c_in, 3, 3), generator)
        params[f"dec_{side}.b"] = torch.zeros(channels, requires_grad=True)
    return params


def encode(params: dict[str, Any], x, n_layers: int, start: int = 0):
    """Sigmoid encoder layers `start .. n_layers-1` (valid convolutions)."""
    import torch.nn.functional as F

    a = x
    for i in range(start, n_layers):
        a = F.conv2d(a, params[f"enc{i}.w"], params[f"enc{i}.b"]).sigmoid()
    return a


def decode(params: dict[str, Any], a, side: str):
    """Sigmoid 3×3 decoder of channel `side` (`syn` or `real`), valid convolution."""
    import torch.nn.functional as F

    return F.conv2d(a, params[f"dec_{side}.w"], params[f"dec_{side}.b"]).sigmoid()


def syn_output(d, x, *, radius: int, residual: bool, scale: float):
    """The synthetic channel's image from its decoder output `d` and its input `x`.

    Args:
        d: `(B, C, h, w)` sigmoid decoder output.
        x: `(B, C, h + 2·radius, w + 2·radius)` input in [0, 1].
    """
    if not residual:
        return d
    centre = x[:, :, radius:x.shape[2] - radius, radius:x.shape[3] - radius]
    return centre + scale * (2.0 * d - 1.0)


def _pixels(y):
    return y.movedim(1, -1).reshape(-1, y.shape[1])


def moment_term(y_syn, real_centre, a_syn, a_real):
    """Squared differences of colour mean and covariance, and of mean hidden codes."""
    ps, pr = _pixels(y_syn), _pixels(real_centre)
    ms, mr = ps.mean(0), pr.mean(0)
    cs = (ps - ms).T @ (ps - ms) / len(ps)
    cr = (pr - mr).T @ (pr - mr) / len(pr)
    hid = ((a_syn.mean((0, 2, 3)) - a_real.mean((0, 2, 3))) ** 2).mean()
    return ((ms - mr) ** 2).sum() + ((cs - cr) ** 2).sum() + hid


def balance_term(j_syn, j_real, gamma: float, mode: str):
    """`(γ/2)(J_syn − J_real)²`, divided by the detached mean cost J̄ when `mode` is
    `normalised` (then its gradient w.r.t. J_syn is γ·(J_syn − J_real)/J̄)."""
    diff2 = (j_syn - j_real) ** 2
    if mode == "normalised":
        return 0.5 * gamma * diff2 / (0.5 * (j_syn + j_real)).detach().clamp_min(1e-12)
    return 0.5 * gamma * diff2


@dataclass
class CostParts:
    """One step's cost terms (floats), for the report."""

    j_syn: float
    j_real: float
    balance: float
    moment: float


def _cost(config, *, y_s, t_s, y_r, t_r, a_s, a_r, enc_w, dec_s_w, dec_r_w, beta: float,
          moment_inputs=None):
    """Total cost (tensor) and its parts, for one MCAE layer or the whole stack."""
    from synthgap.adapt.smcae_functional import mcae_cost

    c = mcae_cost(y_syn=_pixels(y_s), target_syn=_pixels(t_s), y_real=_pixels(y_r),
                  target_real=_pixels(t_r), a_syn=a_s, a_real=a_r, encoder_weights=enc_w,
                  decoder_syn_weights=dec_s_w, decoder_real_weights=dec_r_w, rho=config.rho,
                  beta=beta, lam=config.lam, gamma=0.0, feature_dim=1)
    balance = balance_term(c.j_syn, c.j_real, config.gamma, config.balance)
    total = c.total + balance
    moment = 0.0
    if moment_inputs is not None and config.moment_weight > 0:
        m = moment_term(*moment_inputs)
        total = total + config.moment_weight * m
        moment = float(m.detach())
    return total, CostParts(float(c.j_syn.detach()), float(c.j_real.detach()),
                            float(balance.detach()), moment)


def _optimise(tensors: list, step_fn, iterations: int, lr: float, history: list[CostParts]):
    import torch

    opt = torch.optim.Adam(tensors, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iterations, 1))
    for _ in range(iterations):
        total, parts = step_fn()
        if not torch.isfinite(total):
            raise ValueError("conv SMCAE: the cost became NaN or infinite during training "
                             "(learning_rate too high?): lower learning_rate and fit again; "
                             "nothing was written")
        opt.zero_grad()
        total.backward()
        opt.step()
        sched.step()
        history.append(parts)


def _summary(history: list[CostParts], last: int = 50) -> dict[str, float]:
    tail = history[-last:]
    if not tail:
        return {}
    out = {k: float(np.mean([getattr(p, k) for p in tail]))
           for k in ("j_syn", "j_real", "balance", "moment")}
    out["balance_over_costs"] = out["balance"] / max(out["j_syn"] + out["j_real"], 1e-12)
    return out


def train(params: dict[str, Any], xs, ts, xr, config, generator) -> dict[str, Any]:
    """Train `params` in place on patch tensors; returns the per-stage cost report.

    Args:
        params: from `init_params`.
        xs, ts: `(N, C, p, p) float32` render patches and their paired real targets, [0, 1].
        xr: `(M, C, p, p) float32` real patches.
        config: a `ConvSmcaeConfig`.
        generator: torch generator for the mini-batches.

    Returns:
        `{stage: {j_syn, j_real, balance, moment, balance_over_costs}}` (means of the last 50
        steps of each stage), and `"history"`: `(j_syn, j_real)` of every step.
    """
    import torch

    cfg = config
    n = len(cfg.hidden)
    r = cfg.radius
    crop = (slice(None), slice(None), slice(r, -r), slice(r, -r))
    report: dict[str, Any] = {}
    history_all: list[CostParts] = []

    def batch():
        i_s = torch.randint(len(xs), (cfg.batch_size,), generator=generator)
        i_r = torch.randint(len(xr), (cfg.batch_size,), generator=generator)
        return xs[i_s], ts[i_s], xr[i_r]

    def image_stage(keys: list[str], enc_from, dec: dict[str, Any], beta: float, name: str,
                    iterations: int, lr: float):
        """A stage whose outputs are images: layer 1, the decoding layer, fine-tuning."""
        hist: list[CostParts] = []

        def step():
            bs, bt, br = batch()
            a_s, a_r = enc_from(bs), enc_from(br)
            d_s, d_r = decode(dec, a_s, "syn"), decode(dec, a_r, "real")
            y_s = syn_output(d_s, bs, radius=r, residual=cfg.residual, scale=cfg.residual_scale)
            enc_w = [params[k] for k in keys if k.startswith("enc") and k.endswith(".w")]
            return _cost(cfg, y_s=y_s, t_s=bt[crop], y_r=d_r, t_r=br[crop], a_s=a_s, a_r=a_r,
                         enc_w=enc_w, dec_s_w=[dec["dec_syn.w"]], dec_r_w=[dec["dec_real.w"]],
                         beta=beta, moment_inputs=(y_s, br[crop], a_s, a_r))

        tensors = [params[k] for k in keys] + [v for k, v in dec.items() if k not in keys]
        _optimise(tensors, step, iterations, lr, hist)
        report[name] = _summary(hist)
        history_all.extend(hist)

    if cfg.training == "stacked":
        # layer 1: encoder 0 with temporary 3x3 decoders, image targets
        tmp = init_params(cfg.hidden[:1], cfg.kernel, xs.shape[1], generator)
        dec1 = {k: tmp[k] for k in ("dec_syn.w", "dec_syn.b", "dec_real.w", "dec_real.b")}
        image_stage(["enc0.w", "enc0.b"], lambda x: encode(params, x, 1), dec1, cfg.beta,
                    "layer1", cfg.layer_iterations, cfg.learning_rate)
        # layers 2..n: 1x1 encoders on frozen codes, targets the codes of the real patches
        for i in range(1, n):
            _code_stage(params, i, batch, cfg, generator, report, history_all)
        # decoding layer: the kept decoders on the frozen top codes, image targets
        frozen = {k: v.detach() for k, v in params.items() if k.startswith("enc")}
        dec = {k: params[k] for k in ("dec_syn.w", "dec_syn.b", "dec_real.w", "dec_real.b")}
        image_stage(list(dec), lambda x: encode(frozen, x, n).detach(), dec, 0.0,
                    "decoding", cfg.layer_iterations, cfg.learning_rate)
        ft_lr = cfg.learning_rate * cfg.fine_tune_lr_scale
    else:
        ft_lr = cfg.learning_rate
    # fine-tuning (or end-to-end training): every parameter, no sparsity term in the stacked
    # schedule (as the paper), β in the end-to-end one (its only chance to act)
    keys = list(params)
    dec = {k: params[k] for k in keys if k.startswith("dec")}
    beta = 0.0 if cfg.training == "stacked" else cfg.beta
    image_stage(keys, lambda x: encode(params, x, n), dec, beta,
                "fine_tune" if cfg.training == "stacked" else "end_to_end", cfg.iterations, ft_lr)
    report["history"] = [(p.j_syn, p.j_real) for p in history_all]
    return report


def _code_stage(params, i: int, batch, cfg, generator, report, history_all) -> None:
    """Greedy training of encoder i (1×1) on the frozen codes of encoders 0..i-1."""
    import torch

    h_in, h_out = cfg.hidden[i - 1], cfg.hidden[i]
    dec = {"dec_syn.w": _uniform((h_in, h_out, 1, 1), generator),
           "dec_syn.b": torch.zeros(h_in, requires_grad=True),
           "dec_real.w": _uniform((h_in, h_out, 1, 1), generator),
           "dec_real.b": torch.zeros(h_in, requires_grad=True)}
    frozen = {k: v.detach() for k, v in params.items() if k.startswith("enc")}
    hist: list[CostParts] = []
    import torch.nn.functional as F

    def step():
        bs, bt, br = batch()
        with torch.no_grad():
            c_s, c_t, c_r = (encode(frozen, b, i) for b in (bs, bt, br))
        a_s = F.conv2d(c_s, params[f"enc{i}.w"], params[f"enc{i}.b"]).sigmoid()
        a_r = F.conv2d(c_r, params[f"enc{i}.w"], params[f"enc{i}.b"]).sigmoid()
        y_s = F.conv2d(a_s, dec["dec_syn.w"], dec["dec_syn.b"]).sigmoid()
        y_r = F.conv2d(a_r, dec["dec_real.w"], dec["dec_real.b"]).sigmoid()
        return _cost(cfg, y_s=y_s, t_s=c_t, y_r=y_r, t_r=c_r, a_s=a_s, a_r=a_r,
                     enc_w=[params[f"enc{i}.w"]], dec_s_w=[dec["dec_syn.w"]],
                     dec_r_w=[dec["dec_real.w"]], beta=cfg.beta)

    _optimise([params[f"enc{i}.w"], params[f"enc{i}.b"], *dec.values()], step,
              cfg.layer_iterations, cfg.learning_rate, hist)
    report[f"layer{i + 1}"] = _summary(hist)
    history_all.extend(hist)
