"""Every place synthgap reaches into pyrender's internals, checked against one version.

pyrender's public API (scenes, nodes, meshes, lights, `OffscreenRenderer.render`) is used by
`synthgap.generators.gl.renderer` (and its `scene_graph`) through the module object
`import_pyrender` returns; what that API does not offer is done here, and only here:

* `import_pyrender`: loads pyrender (and PyOpenGL) for one GL platform. This package is the
  only one with an import statement for pyrender or OpenGL, inside functions, so importing it
  loads no GL; within it, `core` is the one module that imports pyrender (the project rule
  "one module imports pyrender"), and the others reach it through `core.get_pyrender`;
* `pyrender_settings`: the module constants `MAX_N_LIGHTS` and `SHADOW_TEX_SZ`, raised for
  the duration of a `with` block and restored after it;
* `use_ordered_light_sets`: the scene's light node sets (`_point_light_nodes`, ...),
  replaced by insertion-ordered ones so every process binds lights in the same order;
* `keep_egl_display`: `EGLPlatform.delete_context`, replaced so closing one renderer does
  not terminate the EGL display other renderers share;
* `install_shaders` / `use_shader_cache`: `mesh.frag` patched (`SHADER_PATCHES`,
  `ENV_PATCH`, `ENV_MAP_PATCHES`) and the renderer's `_program_cache` pointed at it;
  `normal_strength_factor`: where a normal map's strength travels to the patched shader;
* `upload_environment` / `bind_environment`: a raw GL texture (the pre-filtered environment
  map) on a texture unit pyrender does not use, made current through
  `OffscreenRenderer._platform`, and a `ShaderProgramCache` subclass that points the
  patched shader's sampler at that unit when it compiles a program;
* `install_fast_readback` / `skip_depth`: `Renderer._read_main_framebuffer` replaced by a
  copy that can skip the depth read;
* `focused_scene_class`, `set_spot_shadow_camera`: `Scene.centroid`/`scale` and
  `SpotLight._get_shadow_camera` overridden to fit shadow maps to the visible region.

Modules: `core` (import, constants, light sets, EGL), `shaders` (patched shaders, environment
texture), `readback`, `shadows`; every name is importable from this package, which also holds
`check_internals`. `check_internals` lists what of this is missing from the installed pyrender;
`tests/generators/gl/test_pyrender_compat.py` fails loudly when an upgrade changes any of it.
Checked against pyrender-maintained `PYRENDER_CHECKED` (pinned in `pyproject.toml`).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from synthgap.generators.gl.pyrender_compat.core import (
    FB_FIELDS,
    LIGHT_NODE_SETS,
    PYRENDER_CHECKED,
    OrderedNodeSet,
    get_pyrender,
    import_pyrender,
    keep_egl_display,
    loaded_gl_platform,
    platform_env,
    pyrender_settings,
    use_ordered_light_sets,
)
from synthgap.generators.gl.pyrender_compat.readback import (
    install_fast_readback,
    read_main_framebuffer,
    skip_depth,
)
from synthgap.generators.gl.pyrender_compat.shaders import (
    ENV_MAP_PATCHES,
    ENV_PATCH,
    ENV_TEXTURE_UNIT,
    SHADER_MODES,
    SHADER_PATCHES,
    bind_environment,
    install_shaders,
    normal_strength_factor,
    shader_folder,
    upload_environment,
    use_shader_cache,
)
from synthgap.generators.gl.pyrender_compat.shadows import (
    focused_scene_class,
    set_spot_shadow_camera,
    spot_shadow_camera,
)

__all__ = [
    "ENV_MAP_PATCHES",
    "ENV_PATCH",
    "ENV_TEXTURE_UNIT",
    "PYRENDER_CHECKED",
    "SHADER_MODES",
    "SHADER_PATCHES",
    "OrderedNodeSet",
    "bind_environment",
    "check_internals",
    "focused_scene_class",
    "import_pyrender",
    "install_fast_readback",
    "install_shaders",
    "keep_egl_display",
    "loaded_gl_platform",
    "normal_strength_factor",
    "platform_env",
    "pyrender_settings",
    "read_main_framebuffer",
    "set_spot_shadow_camera",
    "shader_folder",
    "skip_depth",
    "spot_shadow_camera",
    "upload_environment",
    "use_ordered_light_sets",
    "use_shader_cache",
]


def check_internals() -> list[str]:
    """What this module relies on that the installed pyrender lacks (empty: all there).

    Checks the module constants, the light node sets, the EGL platform's context fields and
    `delete_context`, `Renderer._read_main_framebuffer(scene, flags)` and the framebuffer
    fields it reads, `ShaderProgramCache(shader_dir)`, `SpotLight._get_shadow_camera(
    scene_scale)`, `Scene.centroid`/`scale` properties and every `mesh.frag` text patched.
    Imports pyrender (whichever platform `PYOPENGL_PLATFORM` names; no context is made).
    """
    pyrender = get_pyrender()
    light, renderer, shader_program = (get_pyrender(m) for m in
                                       ("light", "renderer", "shader_program"))

    problems = []

    def params(fn: Any) -> list[str]:
        return list(inspect.signature(fn).parameters)

    for mod, name in ((renderer, "MAX_N_LIGHTS"), (renderer, "SHADOW_TEX_SZ"),
                      (light, "SHADOW_TEX_SZ")):
        if not isinstance(getattr(mod, name, None), int):
            problems.append(f"{mod.__name__}.{name} is not a module-level int")
    scene = pyrender.Scene()
    for attr in LIGHT_NODE_SETS:
        if not isinstance(getattr(scene, attr, None), set):
            problems.append(f"Scene.{attr} is not a set")
    for prop in ("centroid", "scale"):
        if not isinstance(getattr(pyrender.Scene, prop, None), property):
            problems.append(f"Scene.{prop} is not a property")
    read = getattr(renderer.Renderer, "_read_main_framebuffer", None)
    if read is None or params(read) != ["self", "scene", "flags"]:
        problems.append("Renderer._read_main_framebuffer(self, scene, flags) is gone or "
                        "changed")
    else:
        source = inspect.getsource(renderer.Renderer)
        problems += [f"Renderer.{f} is no longer set" for f in FB_FIELDS
                     if f"self.{f} =" not in source]
    if "self._program_cache" not in inspect.getsource(renderer.Renderer):
        problems.append("Renderer._program_cache is gone")
    if params(shader_program.ShaderProgramCache.__init__) != ["self", "shader_dir"]:
        problems.append("ShaderProgramCache(shader_dir) changed")
    if params(pyrender.SpotLight._get_shadow_camera) != ["self", "scene_scale"]:
        problems.append("SpotLight._get_shadow_camera(self, scene_scale) changed")
    if "_platform" not in inspect.getsource(pyrender.OffscreenRenderer):
        problems.append("OffscreenRenderer._platform is gone")
    try:
        egl = get_pyrender("platforms.egl")
    except Exception as exc:  # no EGL library here: the OSMesa path does not use this
        problems.append(f"pyrender.platforms.egl does not import ({exc})")
    else:
        src = inspect.getsource(egl.EGLPlatform)
        for field in ("_egl_display", "_egl_context"):
            if f"self.{field}" not in src:
                problems.append(f"EGLPlatform.{field} is gone")
        if params(egl.EGLPlatform.delete_context) != ["self"]:
            problems.append("EGLPlatform.delete_context(self) changed")
    try:
        text = (Path(str(pyrender.__file__)).parent / "shaders" / "mesh.frag").read_text()
    except OSError as exc:
        problems.append(f"pyrender's shaders/mesh.frag is unreadable ({exc})")
    else:
        problems += [f"mesh.frag no longer has the text of the {what!r} patch"
                     for what, old, _ in (*SHADER_PATCHES, ENV_PATCH, *ENV_MAP_PATCHES)
                     if old not in text]
    if "_platform" not in inspect.getsource(pyrender.OffscreenRenderer.render):
        problems.append("OffscreenRenderer.render no longer makes its context current "
                        "through _platform")
    return problems
