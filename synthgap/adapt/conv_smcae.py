"""Convolutional SMCAE: the two-channel SMCAE idea as a small fully convolutional network.

Architecture (all sigmoid units, as in the dense SMCAE; C = 3 for a colour camera — never
greyed —, 1 for a grey one): a shared encoder of `len(hidden)` convolutions — the first
`kernel`×`kernel`, C→hidden[0], the rest 1×1 — and two decoders, one per channel, each a 3×3
convolution hidden[-1]→C. The synthetic channel maps a render to its paired real patch, the
real channel reconstructs real patches; the cost is the MCAE cost of `docs/smcae.md`
(reconstruction + β·KL sparsity pooled over both channels + λ/2 weight decay + the balance
term), computed by `synthgap.adapt.smcae_functional.mcae_cost` with every output pixel as one
sample. Training (`synthgap.adapt.conv_smcae_train`): by default the paper's greedy layer-wise
schedule (with one departure: no decoding hidden layer, see `conv_smcae_train`) then
fine-tuning, a balance term normalised by the cost magnitude and a residual synthetic channel
(render + bounded learned correction, so colour and structure are kept); a distribution
(moment-matching) term is available but off by default (`moment_weight=0`). Each is a config
field, so each can be ablated. Patch pairs come from `synthgap.adapt.image_pairing`
(`nearest`, the default, `aligned`, `region`, `class`); `nearest` is unpaired and can collapse
onto a few real patches (358 distinct targets of 8,192 on LM-O; docs/adaptation.md, "Where the
conv SMCAE departs from the paper"). Only the synthetic decoder is used to adapt images.

There is no pooling or striding and the image is reflect-padded once, so the output has the
input's size and each output pixel depends only on the (kernel + 2) px window around the same
input pixel: geometry never moves. Large images are processed in horizontal strips with a halo,
which gives exactly the same result as one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from synthgap.adapt.conv_smcae_train import decode, encode
from synthgap.adapt.image_base import (
    ImageAdapter,
    grey_rgb,
    register,
    require_tensors,
    torch_threads,
)
from synthgap.adapt.image_pairing import PAIRINGS, PatchPairs
from synthgap.adapt.photos import as_images, is_grey
from synthgap.adapt.strength import blend, check_strength, fit_with_strength, stored_strength
from synthgap.data.colour import GREY_WEIGHTS

if TYPE_CHECKING:
    import torch

    from synthgap.adapt.conv_smcae_train import Params

__all__ = ["ConvSmcae", "ConvSmcaeConfig"]


#: Config values of model files written before these fields existed (their behaviour then).
_LEGACY = {"training": "end-to-end", "balance": "raw", "residual": False, "moment_weight": 0.0,
           "strength": 1.0}


@dataclass(frozen=True)
class ConvSmcaeConfig:
    """Convolutional SMCAE settings.

    Attributes:
        hidden: channels of each shared encoder layer.
        kernel: first encoder layer's kernel size (odd).
        rho, beta, lam, gamma: ρ, β, λ, γ of the MCAE cost (`docs/smcae.md`). Every output
            pixel is a sample (reconstruction error is averaged over pixels, not summed over a
            patch), so J is ~10⁻² and λ is scaled down from the reference 3e-3 to 1e-5 to keep
            weight decay a small fraction of the cost. β = 0.1 (sparsity on; the authors'
            demo used 0) acts in the greedy encoding layers (ρ̂ pooled over both channels),
            never in fine-tuning, as in the paper; on the LM-O fit photos it helped (see
            docs/adaptation.md).
        balance: `normalised` (γ weighs the relative imbalance (J_syn − J_real)/J̄; see
            `conv_smcae_train`) or `raw` (the paper's term as written; at these per-pixel
            costs it is a small share of J_syn + J_real, which each fit reports as
            `report["costs"][stage]["balance_over_costs"]`).
        training: `stacked` (greedy layer-wise, then fine-tuning) or `end-to-end`.
        pretrain_iterations: Adam steps of each greedy layer (`stacked` only); None: half of
            `iterations` (so `iterations` alone scales the whole schedule).
        fine_tune_lr_scale: fine-tuning step size as a fraction of `learning_rate`.
        residual: the synthetic channel outputs render + `residual_scale`·(2·sigmoid − 1)
            (False: a plain sigmoid output, as the paper).
        residual_scale: the largest correction, as a fraction of full scale.
        moment_weight: weight of the distribution term (colour mean/covariance of the adapted
            patches vs the real patches, and mean hidden codes); 0 (default) turns it off.
            Meant for unpaired fits (`nearest`, `region`); with aligned pairs it pulls parts
            towards the photos' global colour statistics and measured worse on LM-O.
        patch_size: training patch side, pixels (divisible by 4).
        n_pairs: training patch pairs (and real patches).
        pairing: `nearest`, `aligned`, `region` or `class` (`synthgap.adapt.image_pairing`).
            The default `nearest` needs no poses or masks but can collapse onto a few real
            patches (`report["n_distinct_targets"]`); prefer `aligned` or `region` when the
            data allow.
        iterations: Adam steps of fine-tuning (or of end-to-end training).
        batch_size: pairs per step.
        learning_rate: Adam step size.
        strength: how much of the learned change is applied, in [0, 1]: the output is
            `input + strength·(adapted − input)` (0: the input as it is), or
            `auto` (default): chosen at fit time among `synthgap.adapt.strength.STRENGTH_GRID`
            as the one whose adapted held-out renders look closest to held-out photos
            (look-feature MMD²; every 4th photo and render are held out of training for it;
            see `ConvSmcae.fit`). A fit that moves renders away from the photos thus ends
            near strength 0, not below raw.
    """

    hidden: tuple[int, ...] = (16, 16)
    kernel: int = 5
    rho: float = 0.1
    beta: float = 0.1
    lam: float = 1e-5
    gamma: float = 1.0
    balance: str = "normalised"
    training: str = "stacked"
    pretrain_iterations: int | None = None
    fine_tune_lr_scale: float = 0.3
    residual: bool = True
    residual_scale: float = 0.5
    moment_weight: float = 0.0
    patch_size: int = 16
    n_pairs: int = 8192
    pairing: str = "nearest"
    iterations: int = 1500
    batch_size: int = 64
    learning_rate: float = 1e-2
    strength: float | str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_strength(self.strength))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden: expected positive channel counts, got {self.hidden}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel: expected an odd size >= 1, got {self.kernel}")
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"rho: expected 0 < rho < 1, got {self.rho}")
        for name in ("beta", "lam", "gamma", "moment_weight"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
        if self.balance not in ("normalised", "raw"):
            raise ValueError(f"balance: expected 'normalised' or 'raw', got {self.balance!r}")
        if self.training not in ("stacked", "end-to-end"):
            raise ValueError(f"training: expected 'stacked' or 'end-to-end', got "
                             f"{self.training!r}")
        if not isinstance(self.residual, bool):
            raise ValueError(f"residual: expected true or false, got {self.residual!r}")
        if not 0.0 < self.residual_scale <= 1.0:
            raise ValueError(f"residual_scale: expected 0 < scale <= 1, got {self.residual_scale}")
        if not 0.0 < self.fine_tune_lr_scale <= 1.0:
            raise ValueError(f"fine_tune_lr_scale: expected 0 < scale <= 1, got "
                             f"{self.fine_tune_lr_scale}")
        if self.patch_size < 8 or self.patch_size % 4:
            raise ValueError(f"patch_size: expected a multiple of 4 >= 8, got {self.patch_size}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing: expected one of {PAIRINGS}, got {self.pairing!r}")
        for name in ("n_pairs", "iterations", "batch_size", "pretrain_iterations"):
            v = getattr(self, name)
            if v is None and name == "pretrain_iterations":
                continue
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected > 0, got {self.learning_rate}")

    @property
    def layer_iterations(self) -> int:
        """Adam steps of each greedy layer: `pretrain_iterations`, or half of `iterations`."""
        if self.pretrain_iterations is not None:
            return int(self.pretrain_iterations)
        return max(1, self.iterations // 2)

    @property
    def radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on."""
        return self.kernel // 2 + 1


def _to_tensor(patches: np.ndarray, channels: int) -> torch.Tensor:
    """`(N, p, p, 3) uint8` patches → `(N, channels, p, p)` float in [0, 1]."""
    import torch

    x = torch.from_numpy(patches).float().div_(255.0)
    if channels == 1:
        x = x @ torch.from_numpy(GREY_WEIGHTS.copy())
        x = x[..., None]
    return x.permute(0, 3, 1, 2).contiguous()


def _pad(x: torch.Tensor, r: int) -> torch.Tensor:
    import torch.nn.functional as F

    return F.pad(x, (r, r, r, r), mode="reflect")


@register
class ConvSmcae(ImageAdapter):
    """Convolutional SMCAE image adapter (see the module docstring).

    Args:
        config: settings (defaults: `ConvSmcaeConfig()`).
    """

    method: ClassVar[str] = "conv-smcae"

    def __init__(self, config: ConvSmcaeConfig | None = None) -> None:
        self.config = config or ConvSmcaeConfig()
        self.params: Params | None = None
        self._apply_cache: Params | None = None
        self.channels = 3
        self.history: list[tuple[float, float]] = []
        self.report: dict[str, Any] = {}
        #: The strength applied (`config.strength`, or the one `auto` chose at fit time).
        self.strength = 1.0 if self.config.strength == "auto" else float(self.config.strength)

    @property
    def fitted(self) -> bool:
        return self.params is not None

    @property
    def grey(self) -> bool:
        return self.channels == 1

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator, synthetic_labels: Sequence[str] | None = None,
            real_labels: Sequence[str] | None = None,
            synthetic_masks: Sequence[np.ndarray] | None = None,
            real_masks: Sequence[np.ndarray] | None = None) -> Self:
        """Pair patches (`config.pairing`) and train; see `ImageAdapter.fit`.

        Args:
            synthetic_labels, real_labels: per-image class labels, for `class` pairing only.
            synthetic_masks: per-render `(H, W)` integer label maps (0 = background) for
                `aligned` (part/background-balanced positions) and `region` pairing.
            real_masks: per-photo label maps, for `region` pairing.

        With `strength: auto`, every 4th photo (and every 4th render; with `aligned` pairing
        the renders of those photos) is held out of training when there are at least 8 of
        each, and the strength whose adapted held-out renders look closest to the held-out
        photos (`synthgap.adapt.strength.choose_strength`) is kept (ties: the weaker one).
        With fewer images the choice is made on the training images (said in `report`).
        """
        synthetic = as_images(synthetic, name="synthetic")
        real = as_images(real, name="real")
        self.channels = 1 if all(is_grey(r) for r in real) else 3
        fit_with_strength(self, synthetic, real, {
            "synthetic_labels": synthetic_labels, "real_labels": real_labels,
            "synthetic_masks": synthetic_masks, "real_masks": real_masks}, rng=rng)
        return self

    def fit_pairs(self, pairs: PatchPairs, *, rng: np.random.Generator) -> Self:
        """Train on ready-made patch pairs (`channels` must be set; `fit` does that).

        Sets `report`: the pairing (`n_pairs`, `n_distinct_targets`, `n_real_patches`) and
        each training stage's mean cost terms over its last 50 steps (`conv_smcae_train`).
        The strength is the config's (1 for `auto`: `fit` chooses it afterwards).
        """
        import torch

        self.strength = 1.0 if self.config.strength == "auto" else float(self.config.strength)

        from synthgap.adapt.conv_smcae_train import init_params, train

        cfg = self.config
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        params = init_params(cfg.hidden, cfg.kernel, self.channels, gen)
        xs = _to_tensor(pairs.synthetic, self.channels)
        ts = _to_tensor(pairs.target, self.channels)
        xr = _to_tensor(pairs.real, self.channels)
        with torch_threads(1):
            report = train(params, xs, ts, xr, cfg, gen)
        self.history = report.pop("history")
        params = {k: v.detach() for k, v in params.items()}
        if not all(bool(torch.isfinite(v).all()) for v in params.values()):
            raise ValueError("conv SMCAE: training produced NaN or infinite weights: lower "
                             "learning_rate and fit again; nothing was written")
        self.params = params
        self.report = {"pairing": pairs.strategy, "n_pairs": len(pairs.synthetic),
                       "n_distinct_targets": pairs.n_distinct_targets,
                       "n_real_patches": len(pairs.real), "costs": report}
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
            x = (x * torch.from_numpy(GREY_WEIGHTS.copy()).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if min(h, w) <= r:  # reflect padding needs more pixels than the pad
            x = torch.nn.functional.pad(x, (0, max(0, r + 1 - w), 0, max(0, r + 1 - h)),
                                        mode="replicate")
        x = _pad(x, r).contiguous(memory_format=torch.channels_last)
        out = torch.empty((h, w, self.channels), dtype=torch.uint8)
        strip = max(1, (1 << 22) // max(w, 1))  # rows per pass: bounds memory on huge images
        with torch.inference_mode(), torch_threads(1):
            for y0 in range(0, h, strip):
                y1 = min(h, y0 + strip)
                xi = x[:, :, y0:y1 + 2 * r]
                d = decode(params, encode(params, xi, len(self.config.hidden)), "syn")
                if self.config.residual:  # x is 0-255 here; the correction is in [0, 1] units
                    d = xi[:, :, r:-r, r:-r] / 255.0 + self.config.residual_scale * (2 * d - 1)
                y = d[0, :, :, :w].permute(1, 2, 0)
                if not bool(torch.isfinite(y).all()):
                    raise ValueError("conv SMCAE: NaN or infinite output; the model file is "
                                     "corrupt (fit it again)")
                out[y0:y1] = y.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        adapted = out.numpy()
        if self.channels == 1:  # a grey camera: the strength blends with the grey input
            return blend(grey_rgb(image), np.repeat(adapted, 3, axis=2), self.strength)
        return blend(image, adapted, self.strength)

    def _apply_params(self) -> Params:
        """Weights for inference on 0–255 inputs (first layer scaled by 1/255), cached."""
        import torch

        if self._apply_cache is None:
            p = dict(self._fitted_params())
            p["enc0.w"] = p["enc0.w"] / 255.0
            self._apply_cache = {k: v.contiguous(memory_format=torch.channels_last)
                                 if v.ndim == 4 else v for k, v in p.items()}
        return self._apply_cache

    def _fitted_params(self) -> Params:
        """The weights; `NotFittedError` before `fit` or `load`."""
        self._check_fitted()
        assert self.params is not None  # _check_fitted
        return self.params

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tensors = {k: v.numpy().astype(np.float32) for k, v in self._fitted_params().items()}
        config = asdict(self.config)
        config["hidden"] = list(config["hidden"])
        return tensors, {"config": config, "channels": self.channels, "report": self.report,
                         "strength": self.strength}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        import torch

        from synthgap.adapt.conv_smcae_train import init_params

        raw = {**_LEGACY, **config["config"]}  # files from before a field existed
        cfg = ConvSmcaeConfig(**{**raw, "hidden": tuple(raw["hidden"])})
        channels = int(config["channels"])
        names = [f"enc{i}.{p}" for i in range(len(cfg.hidden)) for p in "wb"]
        names += [f"dec_{s}.{p}" for s in ("syn", "real") for p in "wb"]
        require_tensors(tensors, names, cls.method)
        # the file's own tensors bound what its config may ask `init_params` to allocate
        if not 1 <= channels <= 4:
            raise ValueError(f"channels: expected 1..4, got {channels}")
        for i, h in enumerate(cfg.hidden):
            shape = tuple(tensors[f"enc{i}.w"].shape)
            k = cfg.kernel if i == 0 else 1
            if len(shape) != 4 or shape[0] != h or shape[2:] != (k, k):
                raise ValueError(f"enc{i}.w: expected shape ({h}, *, {k}, {k}) from the config, "
                                 f"got {shape}")
        expected = {k: tuple(v.shape) for k, v in
                    init_params(cfg.hidden, cfg.kernel, channels, torch.Generator()).items()}
        for name, want in expected.items():
            if tuple(tensors[name].shape) != want:
                raise ValueError(f"{name}: expected shape {want}, got "
                                 f"{tuple(tensors[name].shape)}")
        self = cls(cfg)
        self.channels = channels
        self.params = {k: torch.from_numpy(np.array(tensors[k], np.float32)) for k in names}
        bad = [k for k, v in self.params.items() if not bool(torch.isfinite(v).all())]
        if bad:
            raise ValueError(f"{bad[0]}: holds NaN or infinite weights; refit the model")
        self.report = dict(config.get("report") or {})
        self.strength = stored_strength(config, cfg.strength)
        return self

