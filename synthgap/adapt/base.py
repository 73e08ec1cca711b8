"""The adapter interface: every adaptation method (vector or image) is an `Adapter`.

An adapter learns, from synthetic samples and real samples, a map that makes synthetic samples
look real: `fit(synthetic, real, rng=...)`, then `transform(x)`. What a *sample* is depends on
the adapter's `domain`: `"vector"` adapters take `(n, d)` float arrays; `"image"` adapters
(another module) take lists of `(H, W, 3)` uint8 images. Methods that need pairs (SMCAE, MCAE)
read row i of `synthetic` as paired with row i of `real`; build pairs with
`synthgap.adapt.pairing` first.

Every adapter saves to and loads from a model file (`synthgap.adapt.modelfile`: safetensors
weights + JSON config, config `kind` = the adapter's `method`). A chain of adapters is an
adapter (`Chain`), and chains save and load like any other adapter.

Adapters register themselves in `ADAPTERS` (method -> class) with `@register`; `adapters(domain)`
imports the built-in adapter modules and returns the registered classes of one domain, so
contract tests can loop over every method.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np

from synthgap.adapt.modelfile import ModelFileError, load_model, save_model

__all__ = [
    "ADAPTERS",
    "BUILTIN_ADAPTER_MODULES",
    "Adapter",
    "Chain",
    "NotFittedError",
    "adapters",
    "as_vectors",
    "load_adapter",
    "register",
    "require_tensors",
]

#: Every registered adapter class, by its `method` name (also the model file's `kind`).
ADAPTERS: dict[str, type[Adapter]] = {}

#: Modules whose import registers the built-in adapters (imported lazily by `adapters()` and
#: `load_adapter()`). A module that defines new adapters appends its dotted name here.
BUILTIN_ADAPTER_MODULES: list[str] = [
    "synthgap.adapt.vector_baselines",
    "synthgap.adapt.smcae",
    "synthgap.adapt.histogram",
    "synthgap.adapt.fda",
    "synthgap.adapt.pda",
    "synthgap.adapt.conv_smcae",
    "synthgap.adapt.patch_smcae",
    "synthgap.adapt.camera",
]


_A = TypeVar("_A", bound="type[Adapter]")
_T = TypeVar("_T")


class NotFittedError(RuntimeError):
    """`transform`, `state` or `save` was called on an adapter that was never fitted."""


def register(cls: _A) -> _A:
    """Class decorator: add an `Adapter` subclass to `ADAPTERS` under its `method`.

    Raises:
        ValueError: the class has no `method`, or another class already uses that name.
    """
    method = getattr(cls, "method", None)
    if not isinstance(method, str) or not method:
        raise ValueError(f"register: {cls.__name__} needs a non-empty `method: ClassVar[str]`")
    other = ADAPTERS.get(method)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"register: method {method!r} is already used by {other.__qualname__}")
    ADAPTERS[method] = cls
    return cls


def _import_builtins() -> None:
    for name in BUILTIN_ADAPTER_MODULES:
        importlib.import_module(name)


def adapters(domain: str | None = None) -> dict[str, type[Adapter]]:
    """The registered adapter classes (built-ins imported first), optionally of one domain.

    Args:
        domain: `"vector"`, `"image"` or None for all.

    Returns:
        method name -> class, sorted by name. `Chain` is left out (it has no single domain).
    """
    _import_builtins()
    return {
        k: v for k, v in sorted(ADAPTERS.items())
        if v is not Chain and (domain is None or v.domain == domain)
    }


class Adapter(ABC):
    """Base class of every adaptation method.

    Subclasses set `method` (unique name, also the model file `kind`) and `domain`, implement
    `fit`, `transform`, `state` and `from_state`, and are decorated with `@register`.
    Constructors only store configuration: they never touch disk or a device.
    """

    method: ClassVar[str]
    domain: ClassVar[str] = "vector"

    @property
    @abstractmethod
    def fitted(self) -> bool:
        """Whether `fit` (or `from_state`) has given this adapter its parameters."""

    @abstractmethod
    def fit(self, synthetic: Any, real: Any, *, rng: np.random.Generator) -> Self:
        """Learn the adaptation.

        Args:
            synthetic: synthetic samples (vector domain: `(n_syn, d)` float array).
            real: real samples (vector domain: `(n_real, d)` float array). Paired methods
                require `n_real == n_syn` and read row i of both as a pair.
            rng: the only source of randomness (initialisation, mini-batches).

        Returns:
            self, fitted.
        """

    @abstractmethod
    def transform(self, x: Any) -> Any:
        """Map synthetic samples towards the real domain (same type and shape as the input)."""

    @abstractmethod
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted parameters: `(tensors, config)`; config is JSON-serialisable.

        `config` need not contain `kind`; `save` adds it.
        """

    @classmethod
    @abstractmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        """Rebuild a fitted adapter from `state()` output (as read back from a model file).

        Raises:
            ModelFileError: tensors or config do not match what this adapter writes.
        """

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"{type(self).__name__} ({self.method}) is not fitted: "
                                 "call fit(synthetic, real, rng=...) or load(path) first")

    def _fitted_value(self, value: _T | None) -> _T:
        """`value` (a parameter that `fit` sets), or `NotFittedError` while it is unset."""
        if value is None:
            raise NotFittedError(f"{type(self).__name__} ({self.method}) is not fitted: "
                                 "call fit(synthetic, real, rng=...) or load(path) first")
        return value

    def save(self, path: str | Path) -> Path:
        """Write the fitted adapter to a `.safetensors` model file (+ `.json` sidecar)."""
        self._check_fitted()
        tensors, config = self.state()
        return save_model(Path(path), tensors, {**config, "kind": self.method})

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model file written by `save` of this class (or, on `Adapter`, of any class).

        Raises:
            ModelFileError: missing, truncated, foreign file, another kind, or bad contents.
        """
        if cls is Adapter:
            # cls is Adapter, so Self is Adapter; mypy cannot narrow Self by `cls is`
            return load_adapter(path)  # type: ignore[return-value]
        tensors, config = load_model(Path(path), kind=cls.method)
        try:
            return cls.from_state(tensors, config)
        except (ModelFileError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{path}: {exc}") from exc


def load_adapter(path: str | Path) -> Adapter:
    """Load any registered adapter from its model file, dispatching on the file's `kind`.

    Raises:
        ModelFileError: as `Adapter.load`, or a `kind` that no registered adapter has.
    """
    _import_builtins()
    tensors, config = load_model(Path(path))
    kind = config.get("kind")
    cls = ADAPTERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{path}: unknown adapter kind {kind!r}; known: {sorted(ADAPTERS)}")
    try:
        return cls.from_state(tensors, config)
    except (ModelFileError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: {exc}") from exc


def as_vectors(x: Any, name: str, *, dim: int | None = None) -> np.ndarray:
    """Check and convert a vector-domain input to a finite `(n, d)` float array.

    Float32 input stays float32; any other real dtype becomes float64.

    Args:
        x: array-like `(n, d)`.
        name: what to call it in errors (e.g. `"synthetic"`).
        dim: the required `d`, when known (e.g. the dimension the adapter was fitted on).

    Raises:
        ValueError: not 2-D, empty, non-finite, or of the wrong dimension.
    """
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected a numeric (n, d) array, got dtype {a.dtype}")
    a = a.astype(np.float32 if a.dtype == np.float32 else np.float64, copy=False)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) array of row vectors, got shape "
                         f"{a.shape}; reshape with x.reshape(len(x), -1)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: got an empty array of shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{name}: expected {dim} dimensions per row (what the adapter was "
                         f"fitted on), got {a.shape[1]}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values; clean the features first")
    return a


def require_tensors(tensors: dict[str, np.ndarray], names: Sequence[str], kind: str) -> None:
    """Raise `ModelFileError` unless every name in `names` is in `tensors` (for `from_state`)."""
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ModelFileError(f"a {kind!r} model must hold tensors {list(names)}; missing {missing}")


@register
class Chain(Adapter):
    """Adapters applied one after another; itself an adapter.

    `fit` fits step 1 on `(synthetic, real)`, transforms `synthetic` with it, fits step 2 on
    `(step1(synthetic), real)`, and so on; `transform` applies the steps in order. The steps
    get independent child generators spawned from `rng`. Example: `Chain([Coral(), Smcae()])`.
    """

    method: ClassVar[str] = "chain"

    def __init__(self, steps: Sequence[Adapter]) -> None:
        if len(steps) == 0:
            raise ValueError("Chain: steps must hold at least one adapter, got none")
        for i, s in enumerate(steps):
            if not isinstance(s, Adapter):
                raise TypeError(f"Chain: steps[{i}] must be an Adapter, got {type(s).__name__}")
        domains = {s.domain for s in steps}
        if len(domains) > 1:
            raise ValueError(f"Chain: steps mix domains {sorted(domains)}; use one domain")
        self.steps: tuple[Adapter, ...] = tuple(steps)

    @property
    # a property where Adapter has a class variable: a chain's domain is its steps'
    def domain(self) -> str:  # type: ignore[override]
        return self.steps[0].domain

    @property
    def fitted(self) -> bool:
        return all(s.fitted for s in self.steps)

    def fit(self, synthetic: Any, real: Any, *, rng: np.random.Generator,
            **extra: Any) -> Self:
        """Fit the steps in order (see the class docstring).

        Args:
            extra: keyword arguments (e.g. `synthetic_masks`, `real_labels`) passed to every
                step whose `fit` takes them; steps never move pixels, so masks and labels of
                the synthetic samples stay valid after each step.
        """
        import inspect

        x = synthetic
        for step, child in zip(self.steps, rng.spawn(len(self.steps)), strict=True):
            takes = inspect.signature(step.fit).parameters
            step.fit(x, real, rng=child, **{k: v for k, v in extra.items() if k in takes})
            x = step.transform(x)
        return self

    def transform(self, x: Any) -> Any:
        self._check_fitted()
        for step in self.steps:
            x = step.transform(x)
        return x

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        tensors: dict[str, np.ndarray] = {}
        configs = []
        for i, step in enumerate(self.steps):
            t, c = step.state()
            tensors.update({f"{i}/{k}": v for k, v in t.items()})
            configs.append({**c, "kind": step.method})
        return tensors, {"steps": configs}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        _import_builtins()
        configs = config.get("steps")
        if not isinstance(configs, list) or not configs:
            raise ModelFileError("a 'chain' model needs a non-empty `steps` list in its config")
        steps = []
        for i, c in enumerate(configs):
            kind = c.get("kind") if isinstance(c, dict) else None
            step_cls = ADAPTERS.get(kind) if isinstance(kind, str) else None
            if step_cls is None:
                raise ModelFileError(f"chain steps[{i}]: unknown adapter kind {kind!r}")
            prefix = f"{i}/"
            sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            steps.append(step_cls.from_state(sub, c))
        return cls(steps)
