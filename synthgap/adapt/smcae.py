"""Stacked Multichannel Autoencoder (SMCAE; Zhang et al., ICMLA 2015) on feature vectors.

Two tasks share one encoder per layer: synthetic → paired real (the synthetic channel) and
real → real (an autoencoder on real data). `docs/smcae.md` is the specification; the cost
terms live in `synthgap.adapt.smcae_functional` (re-exported here) so a convolutional SMCAE
uses exactly the same maths.

Training (`Smcae.fit`):
1. Inputs are min–max normalised per dimension to [0, 1] (statistics of the training rows of
   both channels, stored in the model file).
2. Greedy layers. Layer 1 maps (x_syn, x_real) to targets x_real for both channels; each
   further encoding layer maps the codes (h_syn, h_real) of the layer below to targets h_real
   (the real channel's codes) for both; the last (decoding) layer targets the original x_real.
   With the reference sizes `(1000, 500, 1000)` the layers are `d→1000→d`, `1000→500→1000`,
   `500→1000→d`.
3. Fine-tuning: the shared encoders of all layers plus the last layer's two decoders, trained
   end to end on reconstruction + weight decay + balance (no sparsity term).

Row i of `synthetic` is paired with row i of `real` (build pairs with `synthgap.adapt.pairing`).
`transform(x)` is the synthetic channel's output, mapped back to the input units; `features(x)`
is the concatenated hidden activations of every layer. Library code never touches global torch
state: randomness comes from a `torch.Generator` seeded from the `rng` given to `fit`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch

from synthgap.adapt.base import Adapter, as_vectors, register, require_tensors
from synthgap.adapt.modelfile import ModelFileError
from synthgap.adapt.smcae_functional import (
    McaeCost,
    balance_term,
    channel_cost,
    dense_layer,
    encode_stack,
    kl_sparsity,
    mcae_cost,
    pooled_mean_activation,
    reconstruction_cost,
    weight_decay,
)

__all__ = [
    "McaeCost",
    "Smcae",
    "SmcaeConfig",
    "balance_term",
    "channel_cost",
    "dense_layer",
    "encode_stack",
    "init_layer",
    "kl_sparsity",
    "mcae_cost",
    "pooled_mean_activation",
    "reconstruction_cost",
    "weight_decay",
]

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class SmcaeConfig:
    """SMCAE settings; defaults are the authors' reference values (`docs/smcae.md`)."""

    hidden_sizes: tuple[int, ...] = (1000, 500, 1000)
    """Hidden units of each layer's shared encoder. The reference stack `(1000, 500, 1000)` is
    `d→1000→d`, `1000→500→1000`, `500→1000→d`. One entry gives a single MCAE layer."""

    rho: float = 0.1
    """Sparsity target ρ: desired mean activation of each hidden unit (journal: 0.05)."""

    beta: float = 0.0
    """Sparsity weight β (0 in the authors' demo: sparsity off)."""

    lam: float = 3e-3
    """Weight decay λ on all weight matrices (not biases)."""

    gamma: float = 10.0
    """Balance weight γ of `(γ/2)(J_syn − J_real)²` (the reference sweeps 10…90)."""

    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    """`lbfgs`: full-batch L-BFGS with strong-Wolfe line search; `adam`: mini-batch Adam."""

    pretrain_iterations: int = 400
    """Per greedy layer: L-BFGS iterations, or Adam epochs."""

    finetune_iterations: int = 400
    """End-to-end fine-tuning: L-BFGS iterations, or Adam epochs (0 skips fine-tuning)."""

    lbfgs_history: int = 10
    """L-BFGS memory (pairs of update vectors). Each costs two passes over all parameters per
    iteration, so with millions of weights a short memory is much faster per iteration."""

    learning_rate: float = 1e-3
    """Adam step size (ignored by L-BFGS)."""

    batch_size: int = 256
    """Adam mini-batch size in pairs (ignored by L-BFGS)."""

    dtype: Literal["float32", "float64"] = "float32"
    """Arithmetic precision (float64 for gradient checks; float32 is ~2× faster)."""

    def __post_init__(self) -> None:
        hs = tuple(self.hidden_sizes)
        object.__setattr__(self, "hidden_sizes", hs)
        if not hs or not all(isinstance(h, int) and h > 0 for h in hs):
            raise ValueError(f"SmcaeConfig.hidden_sizes: need positive integers, got {hs}")
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"SmcaeConfig.rho: must be in (0, 1), got {self.rho}")
        for name in ("beta", "lam", "gamma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SmcaeConfig.{name}: must be ≥ 0, got {getattr(self, name)}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"SmcaeConfig.optimizer: 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"SmcaeConfig.dtype: 'float32' or 'float64', got {self.dtype!r}")
        for name in ("pretrain_iterations", "finetune_iterations", "batch_size", "lbfgs_history"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < (1 if name != "finetune_iterations" else 0):
                raise ValueError(f"SmcaeConfig.{name}: must be a positive integer, got {v!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"SmcaeConfig.learning_rate: must be > 0, got {self.learning_rate}")


@dataclass
class _Layer:
    """One MCAE layer's parameters (leaf tensors)."""

    w1: torch.Tensor
    b1: torch.Tensor
    w2_syn: torch.Tensor
    b2_syn: torch.Tensor
    w2_real: torch.Tensor
    b2_real: torch.Tensor

    def params(self) -> list[torch.Tensor]:
        return [self.w1, self.b1, self.w2_syn, self.b2_syn, self.w2_real, self.b2_real]


def init_layer(d_in: int, hidden: int, d_out: int, *, generator: torch.Generator,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Reference initialisation of one MCAE layer.

    Every weight uniform in ±r with r = sqrt(6 / (hidden + d_in + 1)); biases 0.

    Returns:
        `w1 (hidden, d_in)`, `b1 (hidden,)`, `w2_syn`/`w2_real (d_out, hidden)`, `b2_*`.
    """
    r = math.sqrt(6.0 / (hidden + d_in + 1))

    def uni(rows: int, cols: int) -> torch.Tensor:
        return (torch.rand(rows, cols, generator=generator, dtype=dtype) * 2 - 1) * r

    return {"w1": uni(hidden, d_in), "b1": torch.zeros(hidden, dtype=dtype),
            "w2_syn": uni(d_out, hidden), "b2_syn": torch.zeros(d_out, dtype=dtype),
            "w2_real": uni(d_out, hidden), "b2_real": torch.zeros(d_out, dtype=dtype)}


def _minimise(params: list[torch.Tensor], cost_fn: Callable[[torch.Tensor | None], McaeCost],
              n_rows: int, cfg: SmcaeConfig, iterations: int,
              generator: torch.Generator) -> tuple[McaeCost, int]:
    """Minimise `cost_fn(idx)` (idx: row indices or None for all) over `params` in place.

    Returns:
        The final full-batch cost and the optimiser iterations used. L-BFGS is restarted with
        a fresh memory when its line search stalls early (which float32 round-off can cause),
        until the iteration budget is spent or three restarts in a row make no progress.
    """
    for p in params:
        p.requires_grad_(True)
    used = 0
    if cfg.optimizer == "lbfgs":
        stalls = 0
        while used < iterations and stalls < 3:
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations - used,
                                    history_size=cfg.lbfgs_history,
                                    tolerance_grad=1e-9, tolerance_change=1e-12,
                                    line_search_fn="strong_wolfe")

            def closure(opt: torch.optim.LBFGS = opt) -> torch.Tensor:
                opt.zero_grad(set_to_none=False)
                c = cost_fn(None).total
                c.backward()
                return c

            with torch.no_grad():
                before = float(cost_fn(None).total)
            opt.step(closure)
            n = int(opt.state[params[0]].get("n_iter", 0))
            used += max(n, 1)
            with torch.no_grad():
                after = float(cost_fn(None).total)
            stalls = stalls + 1 if not after < before else 0
    else:
        adam = torch.optim.Adam(params, lr=cfg.learning_rate)
        for _ in range(iterations):
            perm = torch.randperm(n_rows, generator=generator)
            for start in range(0, n_rows, cfg.batch_size):
                adam.zero_grad(set_to_none=False)
                cost_fn(perm[start:start + cfg.batch_size]).total.backward()
                adam.step()
        used = iterations
    for p in params:
        p.requires_grad_(False)
    with torch.no_grad():
        return cost_fn(None), used


@register
class Smcae(Adapter):
    """The stacked multichannel autoencoder as an `Adapter` (vector domain, paired rows)."""

    method: ClassVar[str] = "smcae"

    def __init__(self, config: SmcaeConfig | None = None) -> None:
        self.config = config or SmcaeConfig()
        self._check_config()
        self.dim: int | None = None
        self._lo: torch.Tensor | None = None
        self._scale: torch.Tensor | None = None
        self._enc: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._dec: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.training_log: list[dict[str, Any]] = []

    def _check_config(self) -> None:
        """Hook for subclasses with narrower configurations."""

    @property
    def fitted(self) -> bool:
        return self.dim is not None

    @property
    def _dtype(self) -> torch.dtype:
        return _DTYPES[self.config.dtype]

    # ---- normalisation -------------------------------------------------------------------
    def _norm(self, x: np.ndarray) -> torch.Tensor:
        assert self._lo is not None and self._scale is not None
        return (torch.as_tensor(x, dtype=self._dtype) - self._lo) / self._scale

    def _denorm(self, y: torch.Tensor) -> torch.Tensor:
        assert self._lo is not None and self._scale is not None
        return y * self._scale + self._lo

    # ---- training ------------------------------------------------------------------------
    def fit(self, synthetic: Any, real: Any, *, rng: np.random.Generator) -> Self:
        """Greedy layer-wise training, then end-to-end fine-tuning.

        Args:
            synthetic: `(n, d)` synthetic samples.
            real: `(n, d)` real samples; row i is the pair (target) of synthetic row i.
            rng: seeds the `torch.Generator` used for initialisation and mini-batches.
        """
        s = as_vectors(synthetic, "synthetic")
        r = as_vectors(real, "real", dim=s.shape[1])
        if s.shape[0] != r.shape[0]:
            raise ValueError(f"{self.method}: synthetic has {s.shape[0]} rows and real "
                             f"{r.shape[0]}; SMCAE needs pairs (row i ↔ row i): build them "
                             "with synthgap.adapt.pairing")
        cfg, dt = self.config, self._dtype
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        both = np.concatenate([s, r], axis=0)
        lo, hi = both.min(axis=0), both.max(axis=0)
        span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        self.dim = s.shape[1]
        self._lo = torch.as_tensor(lo, dtype=dt)
        self._scale = torch.as_tensor(span, dtype=dt)
        x_syn, x_real = self._norm(s), self._norm(r)
        self.training_log = []
        self._enc, self._dec = [], {}

        in_syn, in_real = x_syn, x_real
        k = len(cfg.hidden_sizes)
        for i, h in enumerate(cfg.hidden_sizes):
            last = i == k - 1
            target = x_real if (i == 0 or last) else in_real
            layer = _Layer(**init_layer(in_syn.shape[1], h, target.shape[1], generator=gen,
                                        dtype=dt))
            cost, used = self._train_layer(layer, in_syn, in_real, target, gen)
            self.training_log.append({"stage": f"layer{i + 1}", "total": float(cost.total),
                                      "j_syn": float(cost.j_syn), "j_real": float(cost.j_real),
                                      "iterations": used})
            log.info("smcae layer %d/%d: %s", i + 1, k, self.training_log[-1])
            self._enc.append((layer.w1, layer.b1))
            if last:
                self._dec = {"syn": (layer.w2_syn, layer.b2_syn),
                             "real": (layer.w2_real, layer.b2_real)}
            else:
                with torch.no_grad():
                    in_syn = dense_layer(in_syn, layer.w1, layer.b1)
                    in_real = dense_layer(in_real, layer.w1, layer.b1)
        if k > 1 and cfg.finetune_iterations > 0:
            cost, used = self._finetune(x_syn, x_real, gen)
            self.training_log.append({"stage": "finetune", "total": float(cost.total),
                                      "j_syn": float(cost.j_syn), "j_real": float(cost.j_real),
                                      "iterations": used})
            log.info("smcae fine-tune: %s", self.training_log[-1])
        return self

    def _train_layer(self, layer: _Layer, in_syn: torch.Tensor, in_real: torch.Tensor,
                     target: torch.Tensor, gen: torch.Generator) -> tuple[McaeCost, int]:
        cfg = self.config

        def cost(idx: torch.Tensor | None) -> McaeCost:
            xs, xr, t = (in_syn, in_real, target) if idx is None else \
                (in_syn[idx], in_real[idx], target[idx])
            a_s = dense_layer(xs, layer.w1, layer.b1)
            a_r = dense_layer(xr, layer.w1, layer.b1)
            return mcae_cost(y_syn=dense_layer(a_s, layer.w2_syn, layer.b2_syn), target_syn=t,
                             y_real=dense_layer(a_r, layer.w2_real, layer.b2_real),
                             target_real=t, a_syn=a_s, a_real=a_r,
                             encoder_weights=[layer.w1], decoder_syn_weights=[layer.w2_syn],
                             decoder_real_weights=[layer.w2_real], rho=cfg.rho, beta=cfg.beta,
                             lam=cfg.lam, gamma=cfg.gamma)

        return _minimise(layer.params(), cost, in_syn.shape[0], cfg, cfg.pretrain_iterations,
                         gen)

    def _finetune(self, x_syn: torch.Tensor, x_real: torch.Tensor,
                  gen: torch.Generator) -> tuple[McaeCost, int]:
        cfg = self.config
        params = [p for wb in self._enc for p in wb] + [p for wb in self._dec.values() for p in wb]

        def cost(idx: torch.Tensor | None) -> McaeCost:
            xs, xr = (x_syn, x_real) if idx is None else (x_syn[idx], x_real[idx])
            return self._stack_cost(xs, xr)

        return _minimise(params, cost, x_syn.shape[0], cfg, cfg.finetune_iterations, gen)

    def _stack_cost(self, xs: torch.Tensor, xr: torch.Tensor) -> McaeCost:
        """Fine-tuning cost of the whole stack: reconstruction + weight decay + balance."""
        cfg = self.config
        hs = encode_stack(xs, self._enc)[-1]
        hr = encode_stack(xr, self._enc)[-1]
        (ws, bs), (wr, br) = self._dec["syn"], self._dec["real"]
        return mcae_cost(y_syn=dense_layer(hs, ws, bs), target_syn=xr,
                         y_real=dense_layer(hr, wr, br), target_real=xr, a_syn=None,
                         a_real=None, encoder_weights=[w for w, _ in self._enc],
                         decoder_syn_weights=[ws], decoder_real_weights=[wr], rho=cfg.rho,
                         beta=0.0, lam=cfg.lam, gamma=cfg.gamma)

    # ---- inference -----------------------------------------------------------------------
    def _decode(self, x: Any, channel: str) -> np.ndarray:
        self._check_fitted()
        a = as_vectors(x, "x", dim=self.dim)
        with torch.no_grad():
            h = encode_stack(self._norm(a), self._enc)[-1]
            w, b = self._dec[channel]
            y = self._denorm(dense_layer(h, w, b))
        return y.numpy().astype(a.dtype)

    def transform(self, x: Any) -> np.ndarray:
        """The synthetic channel's output for `x (n, d)`: adapted, real-looking `(n, d)`."""
        return self._decode(x, "syn")

    def reconstruct_real(self, x: Any) -> np.ndarray:
        """The real channel's output (the real autoencoder) for `x (n, d)`."""
        return self._decode(x, "real")

    def features(self, x: Any, *, layers: tuple[int, ...] | None = None) -> np.ndarray:
        """Concatenated hidden activations of the shared encoders.

        Args:
            x: `(n, d)` samples (synthetic or real: the encoders are shared).
            layers: which layers (0-based) to concatenate; all by default.

        Returns:
            `(n, Σ h_i)` float array in (0, 1).
        """
        self._check_fitted()
        a = as_vectors(x, "x", dim=self.dim)
        with torch.no_grad():
            acts = encode_stack(self._norm(a), self._enc)
        idx = range(len(acts)) if layers is None else layers
        return torch.cat([acts[i] for i in idx], dim=1).numpy().astype(a.dtype)

    # ---- persistence ---------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        assert self._lo is not None and self._scale is not None
        t = {"norm.min": self._lo.numpy(), "norm.scale": self._scale.numpy()}
        for i, (w, b) in enumerate(self._enc):
            t[f"enc{i}.weight"], t[f"enc{i}.bias"] = w.numpy(), b.numpy()
        for ch, (w, b) in self._dec.items():
            t[f"dec_{ch}.weight"], t[f"dec_{ch}.bias"] = w.numpy(), b.numpy()
        cfg = asdict(self.config)
        cfg["hidden_sizes"] = list(self.config.hidden_sizes)
        return t, {"dim": self.dim, "config": cfg, "training_log": self.training_log}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        try:
            kwargs: dict[str, Any] = {k: (tuple(v) if k == "hidden_sizes" else v)
                                      for k, v in config["config"].items()}
            cfg = SmcaeConfig(**kwargs)
            out = cls(cfg)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"a {cls.method!r} model has a bad `config`: {exc}") from exc
        d = config.get("dim")
        if not isinstance(d, int) or d < 1:
            raise ModelFileError(f"a {cls.method!r} model needs a positive integer `dim`, "
                                 f"got {d!r}")
        hs = cfg.hidden_sizes
        want: dict[str, tuple[int, ...]] = {"norm.min": (d,), "norm.scale": (d,)}
        prev = d
        for i, h in enumerate(hs):
            want[f"enc{i}.weight"], want[f"enc{i}.bias"] = (h, prev), (h,)
            prev = h
        for ch in ("syn", "real"):
            want[f"dec_{ch}.weight"], want[f"dec_{ch}.bias"] = (d, prev), (d,)
        require_tensors(tensors, list(want), cls.method)
        bad = [f"{k}: {tensors[k].shape} (expected {v})" for k, v in want.items()
               if tuple(tensors[k].shape) != v]
        if bad:
            raise ModelFileError(f"a {cls.method!r} model with dim={d}, hidden_sizes={list(hs)} "
                                 f"has mismatched tensors: {'; '.join(bad)}")
        dt = _DTYPES[cfg.dtype]

        def ten(k: str) -> torch.Tensor:
            return torch.as_tensor(np.array(tensors[k]), dtype=dt)

        out.dim = d
        out._lo, out._scale = ten("norm.min"), ten("norm.scale")
        out._enc = [(ten(f"enc{i}.weight"), ten(f"enc{i}.bias")) for i in range(len(hs))]
        out._dec = {ch: (ten(f"dec_{ch}.weight"), ten(f"dec_{ch}.bias")) for ch in ("syn", "real")}
        out.training_log = list(config.get("training_log", []))
        return out
