"""pyrender for one GL platform, its module constants scoped to a draw, insertion-ordered light
sets and an EGL close that keeps the shared display (part of `pyrender_compat`)."""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = [
    "FB_FIELDS",
    "LIGHT_NODE_SETS",
    "PYRENDER_CHECKED",
    "OrderedNodeSet",
    "get_pyrender",
    "import_pyrender",
    "inner_renderer",
    "keep_egl_display",
    "loaded_gl_platform",
    "platform_env",
    "pyrender_settings",
    "use_ordered_light_sets",
]

#: The pyrender-maintained versions these patches were checked against (as pinned in
#: `pyproject.toml`); `check_internals` verifies the installed one still has what they need.
PYRENDER_CHECKED = ">=1.0.1,<1.1"

#: The pyrender light node sets `use_ordered_light_sets` replaces.
LIGHT_NODE_SETS = ("_point_light_nodes", "_spot_light_nodes", "_directional_light_nodes")
#: Fields of pyrender's `Renderer` that `read_main_framebuffer` reads.
FB_FIELDS = ("_main_fb", "_main_fb_ms", "_main_fb_dims")


# --------------------------------------------------------------------------- import, globals


def loaded_gl_platform() -> str | None:
    """The platform the imported PyOpenGL is bound to (`egl`, `osmesa`, `glx`, ...), or None
    when PyOpenGL has not chosen one yet."""
    mod = sys.modules.get("OpenGL.platform")
    plat = getattr(mod, "PLATFORM", None) if mod is not None else None
    if plat is None:
        return None
    return str(type(plat).__module__).rsplit(".", 1)[-1].lower()


@contextlib.contextmanager
def platform_env(platform: str) -> Iterator[None]:
    """`PYOPENGL_PLATFORM=platform` for the `with` block, then the environment as it was."""
    before = os.environ.get("PYOPENGL_PLATFORM")
    os.environ["PYOPENGL_PLATFORM"] = platform
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYOPENGL_PLATFORM", None)
        else:
            os.environ["PYOPENGL_PLATFORM"] = before


def import_pyrender(platform: str) -> ModuleType:
    """Import pyrender for `platform` (`egl`, `osmesa`, ...) with `PYOPENGL_PLATFORM` set for
    the import only. PyOpenGL binds its platform at import: only when it is already bound to
    another platform are pyrender/PyOpenGL dropped from `sys.modules` and imported again (an
    import for the same platform, also one made by the caller, is kept).
    """
    loaded = loaded_gl_platform()
    if loaded is not None and loaded != platform:
        for name in [m for m in sys.modules if m.split(".")[0] in ("OpenGL", "pyrender")]:
            del sys.modules[name]
    with platform_env(platform):
        import pyrender

    module: ModuleType = pyrender
    return module


def get_pyrender(name: str | None = None) -> ModuleType:
    """pyrender, or its submodule `pyrender.<name>` (e.g. `"constants"`, `"platforms.egl"`),
    for the GL platform already bound. The GL package's other modules reach pyrender through
    this function, so this module is the one that names the dependency (DESIGN.md)."""
    import importlib

    return importlib.import_module("pyrender" if name is None else f"pyrender.{name}")


@contextlib.contextmanager
def pyrender_settings(*, max_lights: int, shadow_map_size: int) -> Iterator[None]:
    """Set pyrender's module constants for the `with` block, then restore them.

    pyrender reads `MAX_N_LIGHTS` (lights of each type per draw; 4) and `SHADOW_TEX_SZ`
    (shadow map edge in texels; 2048) from its modules' globals while rendering; they are
    process-wide, so they are changed only while synthgap draws and other pyrender users in
    the process see the defaults. Modules not imported yet are left alone.

    Args:
        max_lights: lights of each type per draw (uniform arrays of that size).
        shadow_map_size: shadow map edge, texels (a power of two).
    """
    wanted = {("pyrender.renderer", "MAX_N_LIGHTS"): max_lights,
              ("pyrender.renderer", "SHADOW_TEX_SZ"): shadow_map_size,
              ("pyrender.light", "SHADOW_TEX_SZ"): shadow_map_size}
    saved = []
    for (module, name), value in wanted.items():
        mod = sys.modules.get(module)
        if mod is not None and hasattr(mod, name):
            saved.append((mod, name, getattr(mod, name)))
            setattr(mod, name, value)
    try:
        yield
    finally:
        for mod, name, value in reversed(saved):
            setattr(mod, name, value)


# --------------------------------------------------------------------------- scene, context


class OrderedNodeSet(dict[Any, None]):
    """The subset of `set` that pyrender uses on light nodes, in insertion order."""

    def add(self, node: Any) -> None:
        self[node] = None

    def remove(self, node: Any) -> None:
        del self[node]

    def discard(self, node: Any) -> None:
        self.pop(node, None)

    # pyrender unions a light set with a plain `set` of nodes, not with a dict
    def __or__(self, other: Any) -> OrderedNodeSet:  # type: ignore[override]
        out = OrderedNodeSet(self)
        for node in other:
            out[node] = None
        return out


def use_ordered_light_sets(scene: Any) -> None:
    """Make `scene` (an empty pyrender `Scene`) keep its lights in insertion order.

    pyrender keeps lights in sets, whose iteration order depends on memory addresses, and
    binds them to shader slots in that order: float sums then differ between processes by a
    grey level now and then. Insertion-ordered sets make the light order that of the lights
    added, so every process renders identical bytes.
    """
    for attr in LIGHT_NODE_SETS:
        setattr(scene, attr, OrderedNodeSet())


def _egl_destroy_context_only(platform: Any) -> None:
    from OpenGL.EGL import eglDestroyContext

    if platform._egl_display is not None and platform._egl_context is not None:
        eglDestroyContext(platform._egl_display, platform._egl_context)
    platform._egl_context = None
    platform._egl_display = None


def keep_egl_display(offscreen: Any) -> None:
    """Make `offscreen.delete()` destroy only its EGL context, not the EGL display.

    pyrender terminates the EGL display, which is shared by every context on the device:
    other renderers in this process would stop working. A no-op on other platforms.
    """
    platform = getattr(offscreen, "_platform", None)
    if platform is not None and hasattr(platform, "_egl_context"):
        platform.delete_context = types.MethodType(_egl_destroy_context_only, platform)


def inner_renderer(offscreen: Any) -> Any:
    """pyrender's `Renderer` inside an `OffscreenRenderer` (None before its first context)."""
    return getattr(offscreen, "_renderer", None)
