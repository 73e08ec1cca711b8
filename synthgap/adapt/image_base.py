"""The image-adapter interface: fit on renders and real photos, then adapt any render.

An image adapter is fitted from lists of `(H, W, 3) uint8` RGB images — renders (`synthetic`)
and real photos (`real`), any sizes — and then maps a render to a real-looking render of the
*same size*: `transform(image)` for one `(H, W, 3) uint8` image, or `transform([images])` for a
list. Adapters never move geometry: a pixel of the output depends only on the input pixels
around the same position, so boxes, masks, depth and defect labels stay valid.

When every real photo is grey (a monochrome camera), adapters produce grey renders (R = G = B).

Every adapter saves to and loads from a model file (`synthgap.adapt.modelfile`), with the
adapter's `method` as the file's `kind`; `load_image_adapter` dispatches on it. The interface
mirrors the vector `Adapter` (`fit(synthetic, real, *, rng)`, `transform`, `state`,
`from_state`, `save`, `load`, `fitted`, `method`, `domain`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np

from synthgap.adapt.modelfile import ModelFileError, load_model, save_model
from synthgap.adapt.photos import as_images

__all__ = [
    "IMAGE_ADAPTERS",
    "IMAGE_ADAPTER_MODULES",
    "METHODS",
    "ImageAdapter",
    "NotFittedError",
    "grey_rgb",
    "image_adapters",
    "load_image_adapter",
    "make_image_adapter",
    "register_image",
    "require_tensors",
]

#: Every registered image adapter class, by `method` (also the model file's `kind`).
IMAGE_ADAPTERS: dict[str, type[ImageAdapter]] = {}

#: Modules whose import registers the built-in image adapters (imported lazily).
IMAGE_ADAPTER_MODULES: list[str] = [
    "synthgap.adapt.histogram",
    "synthgap.adapt.fda",
    "synthgap.adapt.pda",
    "synthgap.adapt.conv_smcae",
]

_A = TypeVar("_A", bound="type[ImageAdapter]")


class NotFittedError(RuntimeError):
    """`transform`, `state` or `save` was called on an adapter that was never fitted."""


def register_image(cls: _A) -> _A:
    """Class decorator: add an `ImageAdapter` subclass to `IMAGE_ADAPTERS` under its `method`."""
    method = getattr(cls, "method", None)
    if not isinstance(method, str) or not method:
        raise ValueError(f"register_image: {cls.__name__} needs a non-empty `method`")
    other = IMAGE_ADAPTERS.get(method)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"register_image: method {method!r} is already used by "
                         f"{other.__qualname__}")
    IMAGE_ADAPTERS[method] = cls
    return cls


def _import_builtins() -> None:
    for name in IMAGE_ADAPTER_MODULES:
        importlib.import_module(name)


def image_adapters() -> dict[str, type[ImageAdapter]]:
    """Every registered image adapter class (built-ins imported first), sorted by method."""
    _import_builtins()
    return dict(sorted(IMAGE_ADAPTERS.items()))


def grey_rgb(image: np.ndarray) -> np.ndarray:
    """`(H, W, 3) uint8` RGB -> the same image in grey (ITU-R 601 luma), still 3 channels."""
    y = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return np.repeat(y[:, :, None], 3, axis=2)


def require_tensors(tensors: dict[str, np.ndarray], names: Sequence[str], kind: str) -> None:
    """Raise `ModelFileError` unless every name in `names` is in `tensors` (for `from_state`)."""
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ModelFileError(f"a {kind!r} model must hold tensors {list(names)}; missing {missing}")


class ImageAdapter(ABC):
    """Base class of image adaptation methods.

    Subclasses set `method`, implement `fit`, `_transform_image`, `state`, `from_state` and
    `fitted`, and are decorated with `@register_image`. Constructors only store configuration.
    """

    method: ClassVar[str]
    domain: ClassVar[str] = "image"

    @property
    @abstractmethod
    def fitted(self) -> bool:
        """Whether `fit` (or `from_state`) has given this adapter its parameters."""

    @abstractmethod
    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator) -> Self:
        """Learn the adaptation.

        Args:
            synthetic: renders, `(H, W, 3) uint8` RGB each (sizes may differ).
            real: real photos, `(H, W, 3) uint8` RGB each (sizes may differ; grey photos as
                R = G = B).
            rng: the only source of randomness.

        Returns:
            self, fitted.
        """

    @abstractmethod
    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        """Adapt one checked `(H, W, 3) uint8` image; returns `(H, W, 3) uint8`."""

    def transform(self, x: np.ndarray | Sequence[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """Adapt one image `(H, W, 3) uint8` (or a list of them): same size, same dtype."""
        self._check_fitted()
        single = isinstance(x, np.ndarray) and x.ndim in (2, 3) and x.dtype == np.uint8
        images = as_images([x] if single else list(x), name="image" if single else "images")
        out = [self._transform_image(img) for img in images]
        return out[0] if single else out

    @abstractmethod
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted parameters: `(tensors, config)`; config is JSON-serialisable."""

    @classmethod
    @abstractmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        """Rebuild a fitted adapter from `state()` output.

        Raises:
            ModelFileError: tensors or config do not match what this adapter writes.
        """

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"{type(self).__name__} ({self.method}) is not fitted: "
                                 "call fit(synthetic, real, rng=...) or load(path) first")

    def save(self, path: str | Path) -> Path:
        """Write the fitted adapter to a `.safetensors` model file (+ `.json` sidecar)."""
        self._check_fitted()
        tensors, config = self.state()
        return save_model(Path(path), tensors, {**config, "kind": self.method,
                                                "domain": self.domain})

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model file written by `save` of this class (on `ImageAdapter`: of any class)."""
        if cls is ImageAdapter:
            return load_image_adapter(path)  # type: ignore[return-value]
        tensors, config = load_model(Path(path), kind=cls.method)
        try:
            return cls.from_state(tensors, config)
        except (ModelFileError, KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: bad {cls.method!r} model contents ({exc})") from exc


def load_image_adapter(path: str | Path) -> ImageAdapter:
    """Load any registered image adapter from its model file, dispatching on its `kind`.

    Raises:
        ModelFileError: missing, truncated or foreign file, a kind that is no image adapter,
            or contents that do not fit the kind (the message names the file).
    """
    _import_builtins()
    tensors, config = load_model(Path(path))
    kind = config.get("kind")
    cls = IMAGE_ADAPTERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{path}: {kind!r} is not an image adapter; known: "
                             f"{sorted(IMAGE_ADAPTERS)}")
    try:
        return cls.from_state(tensors, config)
    except (ModelFileError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: bad {kind!r} model contents ({exc})") from exc


#: The `--method` names of `synthgap adapt fit`, in the order they are listed.
METHODS: tuple[str, ...] = ("smcae", "conv-smcae", "histogram", "fda", "pda")


def make_image_adapter(method: str, *, pairing: str | None = None,
                       options: dict[str, Any] | None = None) -> ImageAdapter:
    """Build an unfitted image adapter by name.

    Args:
        method: one of `METHODS`.
        pairing: `nearest`, `aligned` or `class` (SMCAE methods only; default `nearest`).
        options: extra configuration fields of the method's config (SMCAE methods) or
            constructor keywords (baselines).

    Raises:
        ValueError: an unknown method, or `pairing` given to a method that does not pair.
    """
    options = dict(options or {})
    if method in ("smcae", "conv-smcae"):
        if pairing is not None:
            options["pairing"] = pairing
        if method == "smcae":
            from synthgap.adapt.patch_smcae import PatchSmcae, PatchSmcaeConfig

            return PatchSmcae(PatchSmcaeConfig(**options))
        from synthgap.adapt.conv_smcae import ConvSmcae, ConvSmcaeConfig

        return ConvSmcae(ConvSmcaeConfig(**options))
    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
    if pairing is not None:
        raise ValueError(f"pairing: only the SMCAE methods pair patches; {method!r} is fitted "
                         "from the two image sets as they are (drop --pairing)")
    cls = image_adapters()[method]
    return cls(**options)
