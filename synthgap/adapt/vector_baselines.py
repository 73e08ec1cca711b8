"""Baseline vector adapters behind the `Adapter` interface: identity (raw), CORAL, one-layer MCAE.

Every benchmark row is one of these (or SMCAE, or a `Chain` of them), so rows are comparable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

import numpy as np

from synthgap.adapt.base import Adapter, as_vectors, register, require_tensors
from synthgap.adapt.modelfile import ModelFileError
from synthgap.adapt.smcae import Smcae, SmcaeConfig

__all__ = ["Coral", "CoralConfig", "Identity", "Mcae", "coral_power_apply", "low_rank_covariance",
           "mcae_config"]


@register
class Identity(Adapter):
    """The raw baseline: `transform(x)` returns `x` unchanged (a copy)."""

    method: ClassVar[str] = "identity"

    def __init__(self) -> None:
        self.dim: int | None = None

    @property
    def fitted(self) -> bool:
        return self.dim is not None

    def fit(self, synthetic: Any, real: Any, *, rng: np.random.Generator) -> Self:
        s = as_vectors(synthetic, "synthetic")
        as_vectors(real, "real", dim=s.shape[1])
        self.dim = s.shape[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        self._check_fitted()
        return as_vectors(x, "x", dim=self.dim).copy()

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        return {}, {"dim": self.dim}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        if not isinstance(config.get("dim"), int):
            raise ModelFileError("an 'identity' model needs an integer `dim` in its config")
        out = cls()
        out.dim = config["dim"]
        return out


def low_rank_covariance(x: np.ndarray, *, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """Mean and eigen-decomposition of the sample covariance of `x`, kept at rank ≤ n − 1.

    Args:
        x: `(n, d)` samples.
        tol: eigenvalues below `tol × largest` are dropped.

    Returns:
        `(mean (d,), U (d, r) orthonormal columns, s (r,) eigenvalues)` with
        `cov(x) = U diag(s) Uᵀ` (ddof = 1). With d ≫ n this costs O(n² d), not O(d³).
    """
    mean = x.mean(axis=0)
    xc = (x - mean).astype(np.float64)
    n = x.shape[0]
    if n < 2:
        return mean, np.zeros((x.shape[1], 0)), np.zeros(0)
    _, sv, vt = np.linalg.svd(xc, full_matrices=False)
    s = sv ** 2 / (n - 1)
    keep = s > tol * max(float(s.max()), np.finfo(float).tiny)
    return mean, vt[keep].T, s[keep]


def coral_power_apply(x: np.ndarray, u: np.ndarray, s: np.ndarray, eps: float,
                      power: float) -> np.ndarray:
    """`x (U diag(s) Uᵀ + ε I)^power` without forming the d×d matrix.

    Uses `(U S Uᵀ + εI)^p = ε^p I + U diag((s + ε)^p − ε^p) Uᵀ` (U orthonormal columns).
    """
    out: np.ndarray = eps ** power * x + ((x @ u) * ((s + eps) ** power - eps ** power)) @ u.T
    return out


@dataclass(frozen=True)
class CoralConfig:
    """CORAL settings (Sun, Feng & Saenko, "Return of Frustratingly Easy Domain Adaptation")."""

    eps: float = 1.0
    """Ridge ε added to both covariances (the paper uses 1 on standardised features); in the
    features' squared units. Smaller means a stronger (and noisier) re-colouring."""

    match_mean: bool = True
    """Also move the synthetic mean onto the real mean (`(x − μ_syn) A + μ_real`)."""

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ValueError(f"CoralConfig.eps: must be > 0, got {self.eps}")


@register
class Coral(Adapter):
    """CORAL: whiten synthetic features with their covariance, re-colour with the real one.

    `transform(x) = (x − μ_syn) C_syn^{-1/2} C_real^{1/2} + μ_real` with `C = cov + εI`
    (without the means when `match_mean` is False). Unpaired: `synthetic` and `real` may have
    different numbers of rows. Covariances are stored at low rank (≤ n − 1), so d may be large.
    """

    method: ClassVar[str] = "coral"

    def __init__(self, config: CoralConfig | None = None) -> None:
        self.config = config or CoralConfig()
        self._p: dict[str, np.ndarray] | None = None

    @property
    def fitted(self) -> bool:
        return self._p is not None

    def fit(self, synthetic: Any, real: Any, *, rng: np.random.Generator) -> Self:
        s = as_vectors(synthetic, "synthetic")
        r = as_vectors(real, "real", dim=s.shape[1])
        mu_s, u_s, e_s = low_rank_covariance(s)
        mu_r, u_r, e_r = low_rank_covariance(r)
        self._p = {"mean_syn": mu_s.astype(np.float64), "u_syn": u_s, "s_syn": e_s,
                   "mean_real": mu_r.astype(np.float64), "u_real": u_r, "s_real": e_r}
        return self

    def transform(self, x: Any) -> np.ndarray:
        self._check_fitted()
        p = self._p
        assert p is not None
        a = as_vectors(x, "x", dim=p["mean_syn"].shape[0])
        z = a.astype(np.float64)
        if self.config.match_mean:
            z = z - p["mean_syn"]
        z = coral_power_apply(z, p["u_syn"], p["s_syn"], self.config.eps, -0.5)
        z = coral_power_apply(z, p["u_real"], p["s_real"], self.config.eps, 0.5)
        if self.config.match_mean:
            z = z + p["mean_real"]
        return z.astype(a.dtype)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        assert self._p is not None
        return dict(self._p), {"config": asdict(self.config)}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        names = ["mean_syn", "u_syn", "s_syn", "mean_real", "u_real", "s_real"]
        require_tensors(tensors, names, cls.method)
        try:
            cfg = CoralConfig(**config.get("config", {}))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"a 'coral' model has a bad `config`: {exc}") from exc
        d = tensors["mean_syn"].shape[0]
        for side in ("syn", "real"):
            u, s = tensors[f"u_{side}"], tensors[f"s_{side}"]
            if u.ndim != 2 or u.shape[0] != d or s.shape != (u.shape[1],) \
                    or tensors[f"mean_{side}"].shape != (d,):
                raise ModelFileError(f"a 'coral' model has inconsistent {side} tensors: mean "
                                     f"{tensors[f'mean_{side}'].shape}, U {u.shape}, s {s.shape}")
        out = cls(cfg)
        out._p = {k: tensors[k].astype(np.float64) for k in names}
        return out


def mcae_config(hidden: int = 1000, **kwargs: Any) -> SmcaeConfig:
    """An `SmcaeConfig` for a single MCAE layer `d → hidden → d` (other fields as keywords)."""
    return SmcaeConfig(hidden_sizes=(hidden,), **kwargs)


@register
class Mcae(Smcae):
    """Single-layer multichannel autoencoder: SMCAE's building block alone, not stacked.

    One shared encoder `d → hidden`, synthetic and real decoders `hidden → d`, the full MCAE
    cost (reconstruction, pooled sparsity, weight decay, balance); no fine-tuning stage.
    """

    method: ClassVar[str] = "mcae"

    def __init__(self, config: SmcaeConfig | None = None) -> None:
        super().__init__(config or mcae_config())

    def _check_config(self) -> None:
        if len(self.config.hidden_sizes) != 1:
            raise ValueError(f"Mcae: hidden_sizes must have one entry (a single layer), got "
                             f"{self.config.hidden_sizes}; use Smcae for a stack")
