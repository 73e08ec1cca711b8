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

Deviation from the paper's stacking (`docs/adaptation.md`, "Where the conv SMCAE departs from
the paper"): the paper's third layer is a *decoding* MCAE with a hidden layer of its own
(500→1000→d); here the last encoder is trained on code targets and the "decoding" stage trains
only the two kept 3×3 decoders, on the frozen top codes, towards image targets.

The balance term `(γ/2)(J_syn − J_real)²` scales with the square of the costs, which are small
here (per-pixel mean squared errors, ~10⁻²): on the 20 LM-O fit photos (aligned pairs, γ = 1,
600 steps) it was 0.1–0.7 % of J_syn + J_real per stage as written (`balance="raw"`) and
0.8–25 % normalised (docs/adaptation.md); every fit reports its own share as
`report[stage]["balance_over_costs"]`.
`balance="normalised"` divides it by the (constant, detached) mean cost
`J̄ = (J_syn + J_real)/2`, so its gradient is γ·(J_syn − J_real)/J̄ times that of the costs:
γ weighs the *relative* imbalance, whatever the cost scale. `balance="raw"` is the paper's term
as written. `moment_weight` (default 0: off) adds a distribution term: the squared differences of
the mean and covariance of the synthetic outputs' pixel colours and those of the real patches,
plus the squared difference of the mean hidden codes of render and real patches (matching
distributions instead of regressing each render patch onto a possibly unrelated target).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from synthgap.adapt.conv_smcae import ConvSmcaeConfig

__all__ = ["CostParts", "balance_term", "decode", "encode", "init_params", "syn_output", "train"]

#: Named weight and bias tensors (`enc{i}.w/b`, `dec_syn.w/b`, `dec_real.w/b`).
Params = dict[str, "torch.Tensor"]
#: One mini-batch: render patches, their paired real targets, real patches (each `(B, C, p, p)`).
Batch = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]

_DECODERS = ("dec_syn.w", "dec_syn.b", "dec_real.w", "dec_real.b")


def _uniform(shape: tuple[int, int, int, int], generator: torch.Generator) -> torch.Tensor:
    """Uniform ±sqrt(6 / (fan_in + fan_out + 1)) (the reference rule), trainable."""
    import torch

    fan_in = shape[1] * shape[2] * shape[3]
    fan_out = shape[0] * shape[2] * shape[3]
    r = float(np.sqrt(6.0 / (fan_in + fan_out + 1)))
    return ((torch.rand(shape, generator=generator) * 2 - 1) * r).requires_grad_(True)


def init_params(hidden: tuple[int, ...], kernel: int, channels: int,
                generator: torch.Generator) -> Params:
    """Fresh parameters: reference-rule uniform weights, zero biases."""
    import torch

    params: Params = {}
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


def encode(params: Params, x: torch.Tensor, n_layers: int, start: int = 0) -> torch.Tensor:
    """Sigmoid encoder layers `start .. n_layers-1` (valid convolutions).

    Args:
        x: `(B, C_in, H, W)` input (an image for `start=0`, else the codes of layer start−1).

    Returns:
        `(B, hidden[n_layers-1], H', W')` codes (H' = H − kernel + 1 when layer 0 is run).
    """
    import torch.nn.functional as F

    a = x
    for i in range(start, n_layers):
        a = F.conv2d(a, params[f"enc{i}.w"], params[f"enc{i}.b"]).sigmoid()
    return a


def decode(params: Params, a: torch.Tensor, side: str) -> torch.Tensor:
    """Sigmoid 3×3 decoder of channel `side` (`syn` or `real`), valid convolution."""
    import torch.nn.functional as F

    return F.conv2d(a, params[f"dec_{side}.w"], params[f"dec_{side}.b"]).sigmoid()


def syn_output(d: torch.Tensor, x: torch.Tensor, *, radius: int, residual: bool,
               scale: float) -> torch.Tensor:
    """The synthetic channel's image from its decoder output `d` and its input `x`.

    Args:
        d: `(B, C, h, w)` sigmoid decoder output.
        x: `(B, C, h + 2·radius, w + 2·radius)` input in [0, 1].
    """
    if not residual:
        return d
    centre = x[:, :, radius:x.shape[2] - radius, radius:x.shape[3] - radius]
    return centre + scale * (2.0 * d - 1.0)


def _pixels(y: torch.Tensor) -> torch.Tensor:
    """`(B, C, H, W)` → `(B·H·W, C)`: every pixel one sample."""
    return y.movedim(1, -1).reshape(-1, y.shape[1])


def moment_term(y_syn: torch.Tensor, real_centre: torch.Tensor, a_syn: torch.Tensor,
                a_real: torch.Tensor) -> torch.Tensor:
    """Squared differences of colour mean and covariance, and of mean hidden codes."""
    ps, pr = _pixels(y_syn), _pixels(real_centre)
    ms, mr = ps.mean(0), pr.mean(0)
    cs = (ps - ms).T @ (ps - ms) / len(ps)
    cr = (pr - mr).T @ (pr - mr) / len(pr)
    hid = ((a_syn.mean((0, 2, 3)) - a_real.mean((0, 2, 3))) ** 2).mean()
    return ((ms - mr) ** 2).sum() + ((cs - cr) ** 2).sum() + hid


def balance_term(j_syn: torch.Tensor, j_real: torch.Tensor, gamma: float,
                 mode: str) -> torch.Tensor:
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


@dataclass
class _Outputs:
    """One MCAE layer's forward pass: outputs `y_*`, targets `t_*`, hidden codes `a_*`."""

    y_s: torch.Tensor
    t_s: torch.Tensor
    y_r: torch.Tensor
    t_r: torch.Tensor
    a_s: torch.Tensor
    a_r: torch.Tensor


def _cost(config: ConvSmcaeConfig, out: _Outputs, *, enc_w: Sequence[torch.Tensor],
          dec: Params, beta: float, moment: bool) -> tuple[torch.Tensor, CostParts]:
    """Total cost (tensor) and its parts, for one MCAE layer or the whole stack.

    Args:
        out: the layer's outputs, targets and codes.
        enc_w: the encoder weights under weight decay.
        dec: the layer's two decoders (`dec_syn.w`, `dec_real.w` are decayed).
        beta: sparsity weight (0 turns it off).
        moment: add `config.moment_weight` × the distribution term (image stages only).
    """
    from synthgap.adapt.smcae_functional import mcae_cost

    c = mcae_cost(y_syn=_pixels(out.y_s), target_syn=_pixels(out.t_s), y_real=_pixels(out.y_r),
                  target_real=_pixels(out.t_r), a_syn=out.a_s, a_real=out.a_r,
                  encoder_weights=enc_w, decoder_syn_weights=[dec["dec_syn.w"]],
                  decoder_real_weights=[dec["dec_real.w"]], rho=config.rho, beta=beta,
                  lam=config.lam, gamma=0.0, feature_dim=1)
    balance = balance_term(c.j_syn, c.j_real, config.gamma, config.balance)
    total = c.total + balance
    moment_value = 0.0
    if moment and config.moment_weight > 0:
        m = moment_term(out.y_s, out.t_r, out.a_s, out.a_r)
        total = total + config.moment_weight * m
        moment_value = float(m.detach())
    return total, CostParts(float(c.j_syn.detach()), float(c.j_real.detach()),
                            float(balance.detach()), moment_value)


def _summary(history: list[CostParts], last: int = 50) -> dict[str, float]:
    tail = history[-last:]
    if not tail:
        return {}
    out = {k: float(np.mean([getattr(p, k) for p in tail]))
           for k in ("j_syn", "j_real", "balance", "moment")}
    out["balance_over_costs"] = out["balance"] / max(out["j_syn"] + out["j_real"], 1e-12)
    return out


@dataclass
class _Trainer:
    """The training state shared by the stages of one `train` call."""

    params: Params
    xs: torch.Tensor
    ts: torch.Tensor
    xr: torch.Tensor
    config: ConvSmcaeConfig
    generator: torch.Generator
    report: dict[str, Any] = field(default_factory=dict)
    history: list[CostParts] = field(default_factory=list)

    def batch(self) -> Batch:
        """A random mini-batch of `config.batch_size` pairs and as many real patches."""
        import torch

        n = self.config.batch_size
        i_s = torch.randint(len(self.xs), (n,), generator=self.generator)
        i_r = torch.randint(len(self.xr), (n,), generator=self.generator)
        return self.xs[i_s], self.ts[i_s], self.xr[i_r]

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The centre of `x` that an output of the whole stack covers (`radius` px less)."""
        r = self.config.radius
        return x[:, :, r:-r, r:-r]

    def run(self, name: str, tensors: list[torch.Tensor],
            step: Callable[[], tuple[torch.Tensor, CostParts]], iterations: int,
            lr: float) -> None:
        """Adam with cosine decay on `tensors` for `iterations` steps of `step`'s cost."""
        import torch

        opt = torch.optim.Adam(tensors, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iterations, 1))
        hist: list[CostParts] = []
        for _ in range(iterations):
            total, parts = step()
            if not torch.isfinite(total):
                raise ValueError("conv SMCAE: the cost became NaN or infinite during training "
                                 "(learning_rate too high?): lower learning_rate and fit "
                                 "again; nothing was written")
            opt.zero_grad()
            total.backward()
            opt.step()
            sched.step()
            hist.append(parts)
        self.report[name] = _summary(hist)
        self.history.extend(hist)

    def image_stage(self, name: str, keys: list[str],
                    enc_from: Callable[[torch.Tensor], torch.Tensor], dec: Params,
                    beta: float, iterations: int, lr: float) -> None:
        """A stage whose outputs are images (layer 1, the decoding layer, fine-tuning):
        targets the paired real patch (syn channel) and the real patch (real channel).

        Args:
            keys: the names in `params` this stage trains (plus every tensor of `dec`).
            enc_from: patches → the codes the decoders read.
        """
        cfg = self.config

        def step() -> tuple[torch.Tensor, CostParts]:
            bs, bt, br = self.batch()
            a_s, a_r = enc_from(bs), enc_from(br)
            d_s, d_r = decode(dec, a_s, "syn"), decode(dec, a_r, "real")
            y_s = syn_output(d_s, bs, radius=cfg.radius, residual=cfg.residual,
                             scale=cfg.residual_scale)
            enc_w = [self.params[k] for k in keys if k.startswith("enc") and k.endswith(".w")]
            out = _Outputs(y_s, self.crop(bt), d_r, self.crop(br), a_s, a_r)
            return _cost(cfg, out, enc_w=enc_w, dec=dec, beta=beta, moment=True)

        tensors = [self.params[k] for k in keys] + [v for k, v in dec.items() if k not in keys]
        self.run(name, tensors, step, iterations, lr)

    def code_stage(self, i: int) -> None:
        """Greedy training of encoder i (1×1) on the frozen codes of encoders 0..i-1, with
        temporary 1×1 decoders; targets the codes of the paired real and of the real patch."""
        import torch
        import torch.nn.functional as F

        cfg, params = self.config, self.params
        h_in, h_out = cfg.hidden[i - 1], cfg.hidden[i]
        dec: Params = {"dec_syn.w": _uniform((h_in, h_out, 1, 1), self.generator),
                       "dec_syn.b": torch.zeros(h_in, requires_grad=True),
                       "dec_real.w": _uniform((h_in, h_out, 1, 1), self.generator),
                       "dec_real.b": torch.zeros(h_in, requires_grad=True)}
        frozen = {k: v.detach() for k, v in params.items() if k.startswith("enc")}
        w, b = params[f"enc{i}.w"], params[f"enc{i}.b"]

        def step() -> tuple[torch.Tensor, CostParts]:
            bs, bt, br = self.batch()
            with torch.no_grad():
                c_s, c_t, c_r = (encode(frozen, x, i) for x in (bs, bt, br))
            a_s = F.conv2d(c_s, w, b).sigmoid()
            a_r = F.conv2d(c_r, w, b).sigmoid()
            y_s = F.conv2d(a_s, dec["dec_syn.w"], dec["dec_syn.b"]).sigmoid()
            y_r = F.conv2d(a_r, dec["dec_real.w"], dec["dec_real.b"]).sigmoid()
            out = _Outputs(y_s, c_t, y_r, c_r, a_s, a_r)
            return _cost(cfg, out, enc_w=[w], dec=dec, beta=cfg.beta, moment=False)

        self.run(f"layer{i + 1}", [w, b, *dec.values()], step, cfg.layer_iterations,
                 cfg.learning_rate)


def train(params: Params, xs: torch.Tensor, ts: torch.Tensor, xr: torch.Tensor,
          config: ConvSmcaeConfig, generator: torch.Generator) -> dict[str, Any]:
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
    cfg = config
    n = len(cfg.hidden)
    t = _Trainer(params, xs, ts, xr, cfg, generator)
    if cfg.training == "stacked":
        # layer 1: encoder 0 with temporary 3x3 decoders, image targets
        tmp = init_params(cfg.hidden[:1], cfg.kernel, xs.shape[1], generator)
        t.image_stage("layer1", ["enc0.w", "enc0.b"], lambda x: encode(params, x, 1),
                      {k: tmp[k] for k in _DECODERS}, cfg.beta, cfg.layer_iterations,
                      cfg.learning_rate)
        # layers 2..n: 1x1 encoders on frozen codes, targets the codes of the real patches
        for i in range(1, n):
            t.code_stage(i)
        # decoding layer: the kept decoders on the frozen top codes, image targets
        frozen = {k: v.detach() for k, v in params.items() if k.startswith("enc")}
        dec = {k: params[k] for k in _DECODERS}
        t.image_stage("decoding", list(dec), lambda x: encode(frozen, x, n).detach(), dec, 0.0,
                      cfg.layer_iterations, cfg.learning_rate)
        ft_lr = cfg.learning_rate * cfg.fine_tune_lr_scale
    else:
        ft_lr = cfg.learning_rate
    # fine-tuning (or end-to-end training): every parameter, no sparsity term in the stacked
    # schedule (as the paper), β in the end-to-end one (its only chance to act)
    keys = list(params)
    dec = {k: params[k] for k in keys if k.startswith("dec")}
    beta = 0.0 if cfg.training == "stacked" else cfg.beta
    t.image_stage("fine_tune" if cfg.training == "stacked" else "end_to_end", keys,
                  lambda x: encode(params, x, n), dec, beta, cfg.iterations, ft_lr)
    t.report["history"] = [(p.j_syn, p.j_real) for p in t.history]
    return t.report
