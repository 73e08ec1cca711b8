"""Patch SMCAE: the paper's dense SMCAE (`synthgap.adapt.smcae.Smcae`) applied to image patches.

Training: render patches of `patch_size`² pixels (8–16; C = 3 channels, or 1 for a grey camera)
are paired with real patches (`synthgap.adapt.image_pairing`: `nearest` by default), flattened
to vectors of `patch_size² · C` values in [0, 1], and the stacked multichannel autoencoder is
trained on the pairs exactly as on any vectors (greedy layer-wise, then fine-tuning; the real
channel reconstructs the paired real patches).

Applying: every patch of a sliding window with step `stride` (the last window is aligned with
the right/bottom border, so every pixel is covered) goes through the synthetic channel; the
adapted patches are blended by overlap-add with a smooth, strictly positive window
(`sin²` taper) and normalised by the summed window weights, so no seams appear. A pixel's output
depends only on the windows that contain it (within `patch_size − 1` px): geometry never moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from synthgap.adapt.image_base import ImageAdapter, grey_rgb, register, torch_threads
from synthgap.adapt.image_pairing import PAIRINGS, PatchPairs
from synthgap.adapt.modelfile import ModelFileError
from synthgap.adapt.photos import as_images, is_grey
from synthgap.adapt.strength import blend, check_strength, fit_with_strength, stored_strength
from synthgap.data.colour import GREY_WEIGHTS

if TYPE_CHECKING:
    from synthgap.adapt.smcae import Smcae, SmcaeConfig

__all__ = ["PatchSmcae", "PatchSmcaeConfig", "blend_window", "overlap_add", "window_starts"]


@dataclass(frozen=True)
class PatchSmcaeConfig:
    """Patch SMCAE settings.

    Attributes:
        patch_size: patch side, pixels (8–16).
        stride: sliding-window step when applying, pixels (1 … patch_size; smaller is smoother
            and slower).
        hidden_sizes: the SMCAE's hidden layer sizes (reference shape: wide, narrow, wide).
        rho, beta, lam, gamma: ρ, β, λ, γ of the MCAE cost (reference defaults).
        optimizer: `lbfgs` (full batch, as the reference) or `adam`.
        iterations: L-BFGS iterations (or Adam epochs) per greedy layer and for fine-tuning.
        n_pairs: training patch pairs.
        pairing: `nearest`, `aligned`, `region` or `class` (`synthgap.adapt.image_pairing`;
            `nearest`, the default, can collapse onto a few real patches: docs/adaptation.md).
        strength: how much of the learned change is applied, in [0, 1]: the output is
            `input + strength·(adapted − input)`, or `auto` (default): chosen at fit time on
            held-out photos and renders (`synthgap.adapt.strength`; as in `ConvSmcaeConfig`).
    """

    patch_size: int = 8
    stride: int = 4
    hidden_sizes: tuple[int, ...] = (256, 128, 256)
    rho: float = 0.1
    beta: float = 0.0
    lam: float = 3e-3
    gamma: float = 10.0
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    iterations: int = 100
    n_pairs: int = 2048
    pairing: str = "nearest"
    strength: float | str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "strength", check_strength(self.strength))
        if not 8 <= self.patch_size <= 16 or self.patch_size % 4:
            raise ValueError(f"patch_size: expected 8, 12 or 16 px, got {self.patch_size}")
        if not 1 <= self.stride <= self.patch_size:
            raise ValueError(f"stride: expected 1..{self.patch_size}, got {self.stride}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing: expected one of {PAIRINGS}, got {self.pairing!r}")
        for name in ("iterations", "n_pairs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        self.smcae_config()  # validates the rest

    def smcae_config(self) -> SmcaeConfig:
        """The `SmcaeConfig` of the underlying dense SMCAE."""
        from synthgap.adapt.smcae import SmcaeConfig

        return SmcaeConfig(hidden_sizes=self.hidden_sizes, rho=self.rho, beta=self.beta,
                           lam=self.lam, gamma=self.gamma, optimizer=self.optimizer,
                           pretrain_iterations=self.iterations,
                           finetune_iterations=self.iterations)


def window_starts(length: int, size: int, stride: int) -> np.ndarray:
    """Start offsets of windows of `size` with step `stride` covering `0 … length − 1`.

    The last window ends exactly at `length` (an extra window is added when the steps do not
    land there). Requires `length >= size`.
    """
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return np.asarray(starts, np.int64)


def blend_window(size: int) -> np.ndarray:
    """`(size, size) float32` overlap-add weights: `sin²(π (i + ½) / size)` per axis, all > 0."""
    t = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    return np.outer(t, t).astype(np.float32)


def overlap_add(patches: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]
                ) -> np.ndarray:
    """Blend patches placed at `(ys[i], xs[i])` into an image by weighted overlap-add.

    Args:
        patches: `(N, p, p, C) float32`.
        ys, xs: `(N,)` top-left corners.
        shape: `(H, W)` of the output; every pixel must be covered by some patch.

    Returns:
        `(H, W, C) float32`: Σ wᵢ·patchᵢ / Σ wᵢ per pixel.
    """
    n, p, _, c = patches.shape
    w = blend_window(p)
    acc = np.zeros((*shape, c), np.float32)
    norm = np.zeros(shape, np.float32)
    for i in range(n):
        y, x = ys[i], xs[i]
        acc[y:y + p, x:x + p] += patches[i] * w[:, :, None]
        norm[y:y + p, x:x + p] += w
    return acc / norm[:, :, None]


@register
class PatchSmcae(ImageAdapter):
    """The dense SMCAE on image patches, applied by sliding window (see the module docstring).

    Args:
        config: settings (defaults: `PatchSmcaeConfig()`).
    """

    method: ClassVar[str] = "patch-smcae"

    def __init__(self, config: PatchSmcaeConfig | None = None) -> None:
        self.config = config or PatchSmcaeConfig()
        self.smcae: Smcae | None = None
        self.channels = 3
        self.report: dict[str, Any] = {}
        #: The strength applied (`config.strength`, or the one `auto` chose at fit time).
        self.strength = 1.0 if self.config.strength == "auto" else float(self.config.strength)

    @property
    def fitted(self) -> bool:
        return self.smcae is not None

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator, synthetic_labels: Sequence[str] | None = None,
            real_labels: Sequence[str] | None = None,
            synthetic_masks: Sequence[np.ndarray] | None = None,
            real_masks: Sequence[np.ndarray] | None = None) -> Self:
        """Pair patches (`config.pairing`) and train the SMCAE; see `ImageAdapter.fit`.

        Args:
            synthetic_masks, real_masks: label maps for `aligned`/`region` pairing (see
                `synthgap.adapt.image_pairing`).
        """
        synthetic = as_images(synthetic, name="synthetic")
        real = as_images(real, name="real")
        self.channels = 1 if all(is_grey(r) for r in real) else 3
        fit_with_strength(self, synthetic, real, {
            "synthetic_labels": synthetic_labels, "real_labels": real_labels,
            "synthetic_masks": synthetic_masks, "real_masks": real_masks}, rng=rng)
        return self

    def _vectors(self, patches: np.ndarray) -> np.ndarray:
        x = patches.astype(np.float32) / 255.0
        if self.channels == 1:
            x = x @ GREY_WEIGHTS
        return x.reshape(len(x), -1)

    def fit_pairs(self, pairs: PatchPairs, *, rng: np.random.Generator) -> Self:
        """Train on ready-made patch pairs (`channels` must be set; `fit` does that); sets
        `report` (the pairing); the strength is the config's (1 for `auto`: `fit` chooses it
        afterwards)."""
        from synthgap.adapt.smcae import Smcae

        self.strength = 1.0 if self.config.strength == "auto" else float(self.config.strength)
        self.report = {"pairing": pairs.strategy, "n_pairs": len(pairs.synthetic),
                       "n_distinct_targets": pairs.n_distinct_targets}
        with torch_threads(1):  # see torch_threads: faster here than two threads
            self.smcae = Smcae(self.config.smcae_config()).fit(
                self._vectors(pairs.synthetic), self._vectors(pairs.target), rng=rng)
        return self

    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        p, c = self.config.patch_size, self.channels
        h, w = image.shape[:2]
        padded = image
        if h < p or w < p:  # tiny image: reflect-pad to one patch, crop afterwards
            padded = np.pad(image, ((0, max(0, p - h)), (0, max(0, p - w)), (0, 0)),
                            mode="symmetric")
        ph, pw = padded.shape[:2]
        ys, xs = window_starts(ph, p, self.config.stride), window_starts(pw, p, self.config.stride)
        view = np.lib.stride_tricks.sliding_window_view(padded, (p, p), axis=(0, 1))
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        yy, xx = yy.ravel(), xx.ravel()
        patches = view[yy, xx].transpose(0, 2, 3, 1)  # (N, p, p, 3)
        out = np.empty((len(yy), p, p, c), np.float32)
        chunk = 8192
        # one thread: as fast here, and the same bits whatever the machine's load (a BLAS
        # that adapts its thread count to the load may sum in another order)
        with torch_threads(1):
            for s in range(0, len(yy), chunk):
                vec = self._fitted_smcae().transform(self._vectors(patches[s:s + chunk]))
                out[s:s + chunk] = vec.reshape(-1, p, p, c)
        img = overlap_add(out, yy, xx, (ph, pw))[:h, :w]
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        if c == 1:  # a grey camera: the strength blends with the grey input
            return blend(grey_rgb(image), np.repeat(img, 3, axis=2), self.strength)
        return blend(image, img, self.strength)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tensors, smcae_config = self._fitted_smcae().state()
        cfg = asdict(self.config)
        cfg["hidden_sizes"] = list(cfg["hidden_sizes"])
        return ({f"smcae/{k}": v for k, v in tensors.items()},
                {"config": cfg, "channels": self.channels, "smcae": smcae_config,
                 "strength": self.strength, "report": self.report})

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        from synthgap.adapt.smcae import Smcae

        raw = {"strength": 1.0, **config["config"]}  # files from before `strength` existed
        cfg = PatchSmcaeConfig(**{**raw, "hidden_sizes": tuple(raw["hidden_sizes"])})
        self = cls(cfg)
        self.channels = int(config["channels"])
        self.strength = stored_strength(config, cfg.strength)
        self.report = dict(config.get("report") or {})
        smcae = Smcae.from_state({k.removeprefix("smcae/"): v for k, v in tensors.items()
                                  if k.startswith("smcae/")}, config["smcae"])
        d = cfg.patch_size ** 2 * self.channels
        if smcae.dim != d:
            raise ModelFileError(f"smcae dim {smcae.dim} does not match {cfg.patch_size}² "
                                 f"px × {self.channels} channels = {d}")
        self.smcae = smcae
        return self

    def _fitted_smcae(self) -> Smcae:
        """The dense SMCAE; `NotFittedError` before `fit` or `load`."""
        self._check_fitted()
        assert self.smcae is not None  # _check_fitted
        return self.smcae
