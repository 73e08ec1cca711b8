"""The offscreen OpenGL context: EGL by default, OSMesa as the fallback, and the error that
says which packages to install when neither works."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import synthgap.generators.gl.pyrender_compat as compat

__all__ = ["GLUnavailableError", "open_offscreen"]

_GL_PACKAGES = ("libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri (EGL), or libosmesa6 with "
                "PYOPENGL_PLATFORM=osmesa")


class GLUnavailableError(RuntimeError):
    """No OpenGL platform (EGL, OSMesa) could create an offscreen context."""


def _open_platform(platform: str, width: int, height: int) -> tuple[ModuleType, Any]:
    # pyrender reads PYOPENGL_PLATFORM while importing and creating the context only: the
    # process's environment is restored afterwards (docs/architecture.md)
    with compat.platform_env(platform):
        pyrender = compat.import_pyrender(platform)
        return pyrender, pyrender.OffscreenRenderer(width, height)


def open_offscreen(width: int, height: int,
                   opener: Callable[[str, int, int], tuple[ModuleType, Any]] = _open_platform,
                   ) -> tuple[ModuleType, Any, str]:
    """Create an offscreen GL context: EGL by default, OSMesa as the fallback.

    `PYOPENGL_PLATFORM` set by the user is respected (no fallback). Otherwise EGL is tried
    first and OSMesa second.

    Returns:
        `(pyrender module, OffscreenRenderer, platform name)`.

    Raises:
        GLUnavailableError: no platform worked; lists each error and the packages to install.
    """
    chosen = os.environ.get("PYOPENGL_PLATFORM")
    platforms = [chosen] if chosen else ["egl", "osmesa"]
    errors = []
    for platform in platforms:
        try:
            pyrender, offscreen = opener(platform, width, height)
            return pyrender, offscreen, platform
        except Exception as exc:  # any failure means "this platform does not work here"
            errors.append(f"{platform}: {type(exc).__name__}: {exc}")
    raise GLUnavailableError(
        "could not create an offscreen OpenGL context (" + "; ".join(errors) + "). On "
        f"Debian/Ubuntu install {_GL_PACKAGES} (`make setup` does it as root); without a GPU, "
        "Mesa's llvmpipe renders on the CPU.")
