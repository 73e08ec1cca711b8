"""synthgap: labelled synthetic training images from CAD, adapted to a real camera's look.

Nothing happens at import: no GL context, no network, no environment edits. The names below
load their module (and torch or OpenGL, where needed) on first use.

The command line (`synthgap --help`) covers the whole workflow; from Python::

    from synthgap import load_scene, measure_gap, export_dataset, SynthgapDataset
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("synthgap")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.1.0"

#: public name -> module that defines it (imported lazily by `__getattr__`)
_LAZY = {
    "load_scene": "synthgap.scenes",
    "default_scene": "synthgap.scenes",
    "scene_to_yaml": "synthgap.scenes",
    "SceneError": "synthgap.scenes",
    "load_parts": "synthgap.generators.parts.assets",
    "sample": "synthgap.generators.sampling.sample",
    "read_records": "synthgap.data",
    "SynthgapDataset": "synthgap.data",
    "make_image_adapter": "synthgap.adapt.image_base",
    "load_image_adapter": "synthgap.adapt.image_base",
    "apply_adapter": "synthgap.adapt.apply",
    "measure_gap": "synthgap.gap",
    "export_dataset": "synthgap.export",
    "EXPORTERS": "synthgap.export",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthgap' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
