"""The image-adapter interface: fit on renders and real photos, then adapt any render.

An image adapter is fitted from lists of `(H, W, 3) uint8` RGB images — renders (`synthetic`)
and real photos (`real`), any sizes — and then maps a render to a real-looking render of the
*same size*: `transform(image)` for one `(H, W, 3) uint8` image, or `transform([images])` for a
list. Adapters never move geometry: a pixel of the output depends only on the input pixels
around the same position, so boxes, masks, depth and defect labels stay valid.

When every real photo is grey (a monochrome camera), adapters produce grey renders (R = G = B).

Image adapters are `synthgap.adapt.base.Adapter`s of domain `"image"`: same registry
(`ADAPTERS`), model files (`save`/`load`, the file's `kind` = the adapter's `method`) and
chaining (`Chain([HistogramMatch(), ConvSmcae()])` is an image adapter too).
`load_image_adapter` loads any image adapter and refuses vector ones.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from synthgap.adapt.base import (
    ADAPTERS,
    Adapter,
    NotFittedError,
    register,
    require_tensors,
)
from synthgap.adapt.modelfile import ModelFileError, load_model
from synthgap.adapt.photos import as_images
from synthgap.data.colour import GREY_WEIGHTS

__all__ = [
    "CHAIN_SEPARATOR",
    "IMAGE_ADAPTER_MODULES",
    "METHODS",
    "ImageAdapter",
    "NotFittedError",
    "adapter_options",
    "chain_methods",
    "grey_rgb",
    "image_adapters",
    "load_image_adapter",
    "make_image_adapter",
    "register",
    "require_tensors",
    "torch_threads",
    "unknown_option_message",
]

#: Modules whose import registers the built-in image adapters (imported lazily).
IMAGE_ADAPTER_MODULES: list[str] = [
    "synthgap.adapt.histogram",
    "synthgap.adapt.fda",
    "synthgap.adapt.pda",
    "synthgap.adapt.conv_smcae",
    "synthgap.adapt.patch_smcae",
    "synthgap.adapt.camera",
]


def _import_builtins() -> None:
    for name in IMAGE_ADAPTER_MODULES:
        importlib.import_module(name)


def image_adapters() -> dict[str, type[ImageAdapter]]:
    """Every registered image adapter class (built-ins imported first), sorted by method."""
    _import_builtins()
    return {k: v for k, v in sorted(ADAPTERS.items())
            if isinstance(v, type) and issubclass(v, ImageAdapter)}


def grey_rgb(image: np.ndarray) -> np.ndarray:
    """`(H, W, 3) uint8` RGB -> the same image in grey (ITU-R 601 luma), still 3 channels."""
    y = image.astype(np.float32) @ GREY_WEIGHTS
    y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return np.repeat(y[:, :, None], 3, axis=2)


def fit_images(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray]
               ) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """Check a fit's inputs; `(synthetic, real, grey)`.

    `grey` is True when every real photo is grey (a monochrome camera); the renders are then
    greyed too, so the adapter learns a grey-to-grey map.

    Raises:
        ValueError: an input is not a non-empty list of `(H, W, 3) uint8` images (names which).
    """
    from synthgap.adapt.photos import as_images, is_grey

    synthetic = as_images(synthetic, name="synthetic")
    real = as_images(real, name="real")
    grey = all(is_grey(r) for r in real)
    if grey:
        synthetic = [grey_rgb(s) for s in synthetic]
    return synthetic, real, grey


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops with `n` intra-op threads, restoring the previous count afterwards.

    The image SMCAEs are thin networks (e.g. 3 -> 16 -> 16 -> 3 channels): per operation
    there is little work, and OpenMP's synchronisation between threads costs more than it
    saves. Measured on the 2-core development machine (shared with other jobs): a conv SMCAE
    training step took 7 ms with one thread and 370 ms with two; adapting a 512×512 image took
    34 ms of CPU (29 images/s) with one thread and 130 ms (7.6 images/s) with two. Run several
    processes to use more cores.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ImageAdapter(Adapter):
    """Base class of image adaptation methods (an `Adapter` of domain `"image"`).

    Subclasses set `method`, implement `fit`, `_transform_image`, `state`, `from_state` and
    `fitted`, and are decorated with `@register`. Constructors only store configuration.
    """

    method: ClassVar[str]
    domain: ClassVar[str] = "image"

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
        if isinstance(x, np.ndarray) and x.ndim in (2, 3) and x.dtype == np.uint8:
            return self._transform_image(as_images([x], name="image")[0])
        return [self._transform_image(img) for img in as_images(list(x), name="images")]

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model file written by `save` of this class (on `ImageAdapter`: of any class)."""
        if cls is ImageAdapter:
            # cls is ImageAdapter, so Self is ImageAdapter; mypy cannot narrow Self by `cls is`
            return load_image_adapter(path)  # type: ignore[return-value]
        return super().load(path)


def load_image_adapter(path: str | Path) -> ImageAdapter:
    """Load any registered image adapter from its model file, dispatching on its `kind`.

    Raises:
        ModelFileError: missing, truncated or foreign file, a kind that is no image adapter,
            or contents that do not fit the kind (the message names the file).
    """
    known = image_adapters()
    tensors, config = load_model(Path(path))
    kind = config.get("kind")
    if kind == "chain":  # a chain of image adapters is an image adapter too
        from synthgap.adapt.base import Chain

        try:
            chain = Chain.from_state(tensors, config)
        except (ModelFileError, KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: bad 'chain' model contents ({exc})") from exc
        if chain.domain != "image":
            raise ModelFileError(f"{path}: a chain of {chain.domain} adapters, not image adapters")
        # a Chain of image adapters has ImageAdapter's methods but is no subclass of it
        return chain  # type: ignore[return-value]
    cls = known.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{path}: {kind!r} is not an image adapter; known: {sorted(known)}")
    try:
        return cls.from_state(tensors, config)
    except (ModelFileError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: bad {kind!r} model contents ({exc})") from exc


#: The `--method` names of `synthgap adapt fit`, in the order they are listed.
METHODS: tuple[str, ...] = ("patch-smcae", "conv-smcae", "histogram", "fda", "pda", "camera")
#: The methods that pair patches (take `pairing`).
SMCAE_METHODS: tuple[str, ...] = ("patch-smcae", "conv-smcae")
#: Old method names still accepted, with a deprecation message: old -> new.
RENAMED_METHODS: dict[str, str] = {"smcae": "patch-smcae"}

#: Joins method names into a chain: `camera+conv-smcae` fits and applies camera, then conv-smcae.
CHAIN_SEPARATOR = "+"


def canonical_method(name: str) -> str:
    """`name`, or its new name if it was renamed (with a `FutureWarning` saying so)."""
    new = RENAMED_METHODS.get(name)
    if new is None:
        return name
    import warnings

    warnings.warn(f"method {name!r} is deprecated and will be removed: use {new!r} (the same "
                  "patch-based image SMCAE)", FutureWarning, stacklevel=3)
    return new


def chain_methods(method: str) -> tuple[str, ...]:
    """The method names of `method` split at `+` (`"camera+conv-smcae"` -> two names), old
    names replaced by their new ones (`canonical_method`).

    Raises:
        ValueError: an empty or unknown name (lists the valid ones).
    """
    names = tuple(canonical_method(n.strip()) for n in str(method).split(CHAIN_SEPARATOR))
    for n in names:
        if n not in METHODS:
            hint = f" (in the chain {method!r})" if len(names) > 1 else ""
            raise ValueError(f"method: expected one of {list(METHODS)} or several joined by "
                             f"{CHAIN_SEPARATOR!r} (e.g. camera+conv-smcae), got {n!r}{hint}")
    return names


def adapter_options(method: str) -> tuple[str, ...]:
    """The option names `make_image_adapter(method, options=...)` accepts, sorted.

    The fields of the method's config dataclass (SMCAE methods) or the keyword arguments of
    the adapter's constructor (baselines, camera). For a chain (`a+b`): the union over steps.

    Raises:
        ValueError: an unknown method.
    """
    import dataclasses
    import inspect

    names = chain_methods(method)
    if len(names) > 1:
        return tuple(sorted({o for n in names for o in adapter_options(n)}))
    method = names[0]
    if method == "patch-smcae":
        from synthgap.adapt.patch_smcae import PatchSmcaeConfig

        return tuple(sorted(f.name for f in dataclasses.fields(PatchSmcaeConfig)))
    if method == "conv-smcae":
        from synthgap.adapt.conv_smcae import ConvSmcaeConfig

        return tuple(sorted(f.name for f in dataclasses.fields(ConvSmcaeConfig)))
    params = inspect.signature(image_adapters()[method].__init__).parameters
    return tuple(sorted(n for n, p in params.items() if n != "self" and p.kind in (
        p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)))


def unknown_option_message(method: str, key: str) -> str:
    """`unknown option; did you mean 'x'? valid: ...` for an option `method` does not take."""
    import difflib

    valid = adapter_options(method)
    hits = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    hint = f"; did you mean {hits[0]!r}? " if hits else "; "
    listed = ", ".join(valid) if valid else f"none ({method} takes no options)"
    return f"unknown option of method {method!r}{hint}valid: {listed}"


def make_image_adapter(method: str, *, pairing: str | None = None,
                       options: dict[str, Any] | None = None) -> ImageAdapter:
    """Build an unfitted image adapter by name.

    Args:
        method: one of `METHODS`, or several joined by `+` for a `Chain` fitted and applied
            in that order (e.g. `camera+conv-smcae`).
        pairing: `nearest`, `aligned`, `region` or `class` (SMCAE methods only; default
            `nearest`).
        options: extra configuration fields of the method's config (SMCAE methods) or
            constructor keywords (baselines, camera). In a chain each option goes to every
            step that takes it.

    Raises:
        ValueError: an unknown method, an option the method does not take (names the valid
            ones), or `pairing` given to a method that does not pair.
    """
    options = dict(options or {})
    names = chain_methods(method)
    method = CHAIN_SEPARATOR.join(names)
    for key in options:
        if key not in adapter_options(method):
            raise ValueError(f"options.{key}: {unknown_option_message(method, key)}")
    if len(names) > 1:
        from synthgap.adapt.base import Chain

        if pairing is not None and not any(n in SMCAE_METHODS for n in names):
            raise ValueError(f"pairing: no step of {method!r} pairs patches (drop --pairing)")
        steps = []
        for n in names:
            own = set(adapter_options(n))
            steps.append(make_image_adapter(
                n, pairing=pairing if n in SMCAE_METHODS else None,
                options={k: v for k, v in options.items() if k in own}))
        # a Chain of image adapters has ImageAdapter's methods but is no subclass of it
        return Chain(steps)  # type: ignore[return-value]
    if method in SMCAE_METHODS:
        if pairing is not None:
            options["pairing"] = pairing
        if method == "patch-smcae":  # the faithful, patch-based image SMCAE
            from synthgap.adapt.patch_smcae import PatchSmcae, PatchSmcaeConfig

            return PatchSmcae(PatchSmcaeConfig(**options))
        from synthgap.adapt.conv_smcae import ConvSmcae, ConvSmcaeConfig

        return ConvSmcae(ConvSmcaeConfig(**options))
    if pairing is not None:
        raise ValueError(f"pairing: only the SMCAE methods pair patches; {method!r} is fitted "
                         "from the two image sets as they are (drop --pairing)")
    return image_adapters()[method](**options)
