"""Convolutional SMCAE: the two-channel SMCAE idea as a small fully convolutional network.

Architecture (all sigmoid units, as in the dense SMCAE; C = 3, or 1 for a grey camera):
a shared encoder of `len(hidden)` convolutions — the first `kernel`×`kernel`, C→hidden[0],
the rest 1×1 — and two decoders, one per channel, each a 3×3 convolution hidden[-1]→C.
The synthetic channel maps a render to its paired real patch, the real channel reconstructs real
patches; the cost is exactly the MCAE cost of `docs/smcae.md` (reconstruction + β·KL sparsity
pooled over both channels' last hidden maps + λ/2 weight decay on encoder and decoder weights +
the balance term γ/2 (J_syn − J_real)², computed by the shared
`synthgap.adapt.smcae_functional.mcae_cost` with every output pixel as one sample), trained
end to end with mini-batch Adam on patch pairs (`synthgap.adapt.image_pairing`). Only the
synthetic decoder is used to adapt images.

There is no pooling or striding and the image is reflect-padded once, so the output has the
input's size and each output pixel depends only on the (kernel + 2) px window around the same
input pixel: geometry never moves. Large images are processed in horizontal strips with a halo,
which gives exactly the same result as one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

import numpy as np

from synthgap.adapt.image_base import ImageAdapter, register, require_tensors, torch_threads
from synthgap.adapt.image_pairing import PAIRINGS, PatchPairs, make_pairs
from synthgap.adapt.photos import as_images, is_grey

__all__ = ["ConvSmcae", "ConvSmcaeConfig"]


@dataclass(frozen=True)
class ConvSmcaeConfig:
    """Convolutional SMCAE settings.

    Attributes:
        hidden: channels of each shared encoder layer.
        kernel: first encoder layer's kernel size (odd).
        rho, beta, lam, gamma: ρ, β, λ, γ of the MCAE cost (`docs/smcae.md`). Here every
            output pixel is a sample (reconstruction error is averaged over pixels, not summed
            over a patch), so J is ~10⁻² and λ is scaled down from the reference 3e-3 to 1e-5
            to keep weight decay a small fraction of the cost; ρ, β, γ keep their defaults.
        patch_size: training patch side, pixels (divisible by 4).
        n_pairs: training patch pairs (and real patches).
        pairing: `nearest`, `aligned` or `class` (see `synthgap.adapt.image_pairing`).
        iterations: Adam steps.
        batch_size: pairs per step.
        learning_rate: Adam step size.
    """

    hidden: tuple[int, ...] = (16, 16)
    kernel: int = 5
    rho: float = 0.1
    beta: float = 0.0
    lam: float = 1e-5
    gamma: float = 10.0
    patch_size: int = 16
    n_pairs: int = 8192
    pairing: str = "nearest"
    iterations: int = 600
    batch_size: int = 64
    learning_rate: float = 1e-2

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden: expected positive channel counts, got {self.hidden}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel: expected an odd size >= 1, got {self.kernel}")
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"rho: expected 0 < rho < 1, got {self.rho}")
        for name in ("beta", "lam", "gamma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if self.patch_size < 8 or self.patch_size % 4:
            raise ValueError(f"patch_size: expected a multiple of 4 >= 8, got {self.patch_size}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing: expected one of {PAIRINGS}, got {self.pairing!r}")
        for name in ("n_pairs", "iterations", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected > 0, got {self.learning_rate}")

    @property
    def radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on."""
        return self.kernel // 2 + 1


def _to_tensor(patches: np.ndarray, channels: int):
    import torch

    x = torch.from_numpy(patches).float().div_(255.0)
    if channels == 1:
        x = x @ torch.tensor([0.299, 0.587, 0.114])
        x = x[..., None]
    return x.permute(0, 3, 1, 2).contiguous()


def _init(config: ConvSmcaeConfig, channels: int, generator) -> dict[str, Any]:
    """Uniform ±sqrt(6 / (fan_in + fan_out + 1)) weights (the reference rule), zero biases."""
    import torch

    def uni(shape: tuple[int, ...]) -> torch.Tensor:
        fan_in = shape[1] * shape[2] * shape[3]
        fan_out = shape[0] * shape[2] * shape[3]
        r = float(np.sqrt(6.0 / (fan_in + fan_out + 1)))
        w = (torch.rand(shape, generator=generator) * 2 - 1) * r
        return w.requires_grad_(True)

    params: dict[str, Any] = {}
    c_in = channels
    for i, h in enumerate(config.hidden):
        k = config.kernel if i == 0 else 1
        params[f"enc{i}.w"] = uni((h, c_in, k, k))
        params[f"enc{i}.b"] = torch.zeros(h, requires_grad=True)
        c_in = h
    for side in ("syn", "real"):
        params[f"dec_{side}.w"] = uni((channels, c_in, 3, 3))
        params[f"dec_{side}.b"] = torch.zeros(channels, requires_grad=True)
    return params


def _conv(x, w, b):
    """Valid convolution `(B, C, H, W) -> (B, O, H-k+1, W-k+1)`."""
    import torch.nn.functional as F

    return F.conv2d(x, w, b)


def _encode(params: dict[str, Any], x, n_layers: int):

    a = x
    for i in range(n_layers):
        a = _conv(a, params[f"enc{i}.w"], params[f"enc{i}.b"]).sigmoid_()
    return a


def _decode(params: dict[str, Any], a, side: str):

    return _conv(a, params[f"dec_{side}.w"], params[f"dec_{side}.b"]).sigmoid_()


def _pad(x, r: int):
    import torch.nn.functional as F

    return F.pad(x, (r, r, r, r), mode="reflect")


def _pixels_as_samples(y):
    """`(B, C, H, W) -> (B·H·W, C)`: every output pixel is one sample of the MCAE cost."""
    return y.movedim(1, -1).reshape(-1, y.shape[1])


def conv_mcae_cost(*, y_syn, target_syn, y_real, target_real, a_syn, a_real, params,
                   n_layers: int, config: ConvSmcaeConfig):
    """The MCAE cost (`synthgap.adapt.smcae_functional.mcae_cost`) of a convolutional layer.

    Every output pixel is a sample (so J does not grow with the patch size); ρ̂ pools the
    hidden maps `(m, h, H, W)` of both channels over samples and positions (`feature_dim=1`).
    """
    from synthgap.adapt.smcae_functional import mcae_cost

    return mcae_cost(
        y_syn=_pixels_as_samples(y_syn), target_syn=_pixels_as_samples(target_syn),
        y_real=_pixels_as_samples(y_real), target_real=_pixels_as_samples(target_real),
        a_syn=a_syn, a_real=a_real,
        encoder_weights=[params[f"enc{i}.w"] for i in range(n_layers)],
        decoder_syn_weights=[params["dec_syn.w"]], decoder_real_weights=[params["dec_real.w"]],
        rho=config.rho, beta=config.beta, lam=config.lam, gamma=config.gamma, feature_dim=1)


@register
class ConvSmcae(ImageAdapter):
    """Convolutional SMCAE image adapter (see the module docstring).

    Args:
        config: settings (defaults: `ConvSmcaeConfig()`).
    """

    method: ClassVar[str] = "conv-smcae"

    def __init__(self, config: ConvSmcaeConfig | None = None) -> None:
        self.config = config or ConvSmcaeConfig()
        self.params: dict[str, Any] | None = None
        self._apply_cache: dict[str, Any] | None = None
        self.channels = 3
        self.history: list[tuple[float, float]] = []

    @property
    def fitted(self) -> bool:
        return self.params is not None

    @property
    def grey(self) -> bool:
        return self.channels == 1

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator, synthetic_labels: Sequence[str] | None = None,
            real_labels: Sequence[str] | None = None) -> Self:
        """Pair patches (`config.pairing`) and train; see `ImageAdapter.fit`.

        Args:
            synthetic_labels, real_labels: per-image class labels, for `class` pairing only.
        """
        synthetic = as_images(synthetic, name="synthetic")
        real = as_images(real, name="real")
        self.channels = 1 if all(is_grey(r) for r in real) else 3
        pairs = make_pairs(self.config.pairing, synthetic, real,
                           patch_size=self.config.patch_size, n_pairs=self.config.n_pairs,
                           rng=rng, synthetic_labels=synthetic_labels, real_labels=real_labels)
        return self.fit_pairs(pairs, rng=rng)

    def fit_pairs(self, pairs: PatchPairs, *, rng: np.random.Generator) -> Self:
        """Train on ready-made patch pairs (`channels` must be set; `fit` does that)."""
        import torch

        cfg = self.config
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        params = _init(cfg, self.channels, gen)
        xs = _to_tensor(pairs.synthetic, self.channels)
        ts = _to_tensor(pairs.target, self.channels)
        xr = _to_tensor(pairs.real, self.channels)
        r = cfg.radius
        crop = (slice(None), slice(None), slice(r, -r), slice(r, -r))
        opt = torch.optim.Adam(list(params.values()), lr=cfg.learning_rate)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iterations)
        self.history = []
        with torch_threads(1):
            for _step in range(cfg.iterations):
                i_s = torch.randint(len(xs), (cfg.batch_size,), generator=gen)
                i_r = torch.randint(len(xr), (cfg.batch_size,), generator=gen)
                a_s = _encode(params, xs[i_s], len(cfg.hidden))
                a_r = _encode(params, xr[i_r], len(cfg.hidden))
                # valid convolutions on the patch: compare only the centre that saw full context
                y_s = _decode(params, a_s, "syn")
                y_r = _decode(params, a_r, "real")
                total, j_s, j_r = conv_mcae_cost(
                    y_syn=y_s, target_syn=ts[i_s][crop], y_real=y_r, target_real=xr[i_r][crop],
                    a_syn=a_s, a_real=a_r, params=params, n_layers=len(cfg.hidden), config=cfg)
                opt.zero_grad()
                total.backward()
                opt.step()
                sched.step()
                self.history.append((float(j_s.detach()), float(j_r.detach())))
        self.params = {k: v.detach() for k, v in params.items()}
        self._apply_cache = None
        return self

    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        import torch

        h, w = image.shape[:2]
        r = self.config.radius
        # NHWC memory viewed as NCHW ("channels_last"): no transpose copy, and the fastest
        # layout for oneDNN convolutions on CPU. The 1/255 scaling is folded into the weights.
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        params = self._apply_params()
        if self.channels == 1:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if min(h, w) <= r:  # reflect padding needs more pixels than the pad
            x = torch.nn.functional.pad(x, (0, max(0, r + 1 - w), 0, max(0, r + 1 - h)),
                                        mode="replicate")
        x = _pad(x, r).contiguous(memory_format=torch.channels_last)
        out = torch.empty((h, w, self.channels), dtype=torch.uint8)
        strip = max(1, (1 << 22) // max(w, 1))  # rows per pass: bounds memory on huge images
        with torch.inference_mode(), torch_threads(1):
            for y0 in range(0, h, strip):
                y1 = min(h, y0 + strip)
                a = _encode(params, x[:, :, y0:y1 + 2 * r], len(self.config.hidden))
                y = _decode(params, a, "syn")[0, :, :, :w].permute(1, 2, 0)
                out[y0:y1] = y.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        y = out.numpy()
        if self.channels == 1:
            return np.repeat(y, 3, axis=2)
        return y

    def _apply_params(self) -> dict[str, Any]:
        """Weights for inference on 0–255 inputs (first layer scaled by 1/255), cached."""
        import torch

        if getattr(self, "_apply_cache", None) is None:
            p = dict(self.params)
            p["enc0.w"] = p["enc0.w"] / 255.0
            self._apply_cache = {k: v.contiguous(memory_format=torch.channels_last)
                                 if v.ndim == 4 else v for k, v in p.items()}
        return self._apply_cache

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        tensors = {k: v.numpy().astype(np.float32) for k, v in self.params.items()}
        config = asdict(self.config)
        config["hidden"] = list(config["hidden"])
        return tensors, {"config": config, "channels": self.channels}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        import torch

        cfg = ConvSmcaeConfig(**{**config["config"], "hidden": tuple(config["config"]["hidden"])})
        channels = int(config["channels"])
        names = [f"enc{i}.{p}" for i in range(len(cfg.hidden)) for p in "wb"]
        names += [f"dec_{s}.{p}" for s in ("syn", "real") for p in "wb"]
        require_tensors(tensors, names, cls.method)
        # the file's own tensors bound what its config may ask `_init` to allocate
        if not 1 <= channels <= 4:
            raise ValueError(f"channels: expected 1..4, got {channels}")
        for i, h in enumerate(cfg.hidden):
            shape = tuple(tensors[f"enc{i}.w"].shape)
            k = cfg.kernel if i == 0 else 1
            if len(shape) != 4 or shape[0] != h or shape[2:] != (k, k):
                raise ValueError(f"enc{i}.w: expected shape ({h}, *, {k}, {k}) from the config, "
                                 f"got {shape}")
        expected = {k: tuple(v.shape) for k, v in _init(cfg, channels, torch.Generator()).items()}
        for k, shape in expected.items():
            if tuple(tensors[k].shape) != shape:
                raise ValueError(f"{k}: expected shape {shape}, got {tuple(tensors[k].shape)}")
        self = cls(cfg)
        self.channels = channels
        self.params = {k: torch.from_numpy(np.array(tensors[k], np.float32)) for k in names}
        return self

