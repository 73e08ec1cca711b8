"""synthgap: labelled synthetic training images from CAD, adapted to a real camera's look.

Nothing happens at import: no GL context, no network, no environment edits. Heavy parts
(rendering, torch) load lazily inside the functions that need them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("synthgap")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.1.0"

__all__ = ["__version__"]
