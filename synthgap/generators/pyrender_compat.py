"""Every place synthgap reaches into pyrender's internals, checked against one version.

pyrender's public API (scenes, nodes, meshes, lights, `OffscreenRenderer.render`) is used by
`synthgap.generators.renderer` (and its `scene_graph`) through the module object
`import_pyrender` returns; what that API does not offer is done here, and only here:

* `import_pyrender`: import pyrender (and PyOpenGL) for one GL platform. This is the only
  module with an `import pyrender`/`OpenGL` statement, inside functions, so importing it
  loads no GL (the project rule "one module imports pyrender" now names this one);
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

`check_internals` lists what of this is missing from the installed pyrender;
`tests/generators/test_pyrender_compat.py` fails loudly when an upgrade changes any of it.
Checked against pyrender-maintained `PYRENDER_CHECKED` (pinned in `pyproject.toml`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

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
    "normal_strength_factor",
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

#: The pyrender-maintained versions these patches were checked against (as pinned in
#: `pyproject.toml`); `check_internals` verifies the installed one still has what they need.
PYRENDER_CHECKED = ">=1.0.1,<1.1"

#: The pyrender light node sets `use_ordered_light_sets` replaces.
_LIGHT_NODE_SETS = ("_point_light_nodes", "_spot_light_nodes", "_directional_light_nodes")
#: Fields of pyrender's `Renderer` that `read_main_framebuffer` reads.
_FB_FIELDS = ("_main_fb", "_main_fb_ms", "_main_fb_dims")


# --------------------------------------------------------------------------- import, globals


def loaded_gl_platform() -> str | None:
    """The platform the imported PyOpenGL is bound to (`egl`, `osmesa`, `glx`, ...), or None
    when PyOpenGL has not chosen one yet."""
    mod = sys.modules.get("OpenGL.platform")
    plat = getattr(mod, "PLATFORM", None) if mod is not None else None
    if plat is None:
        return None
    return type(plat).__module__.rsplit(".", 1)[-1].lower()


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

        return pyrender


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


class OrderedNodeSet(dict):  # type: ignore[type-arg]
    """The subset of `set` that pyrender uses on light nodes, in insertion order."""

    def add(self, node: Any) -> None:
        self[node] = None

    def remove(self, node: Any) -> None:
        del self[node]

    def discard(self, node: Any) -> None:
        self.pop(node, None)

    def __or__(self, other: Any) -> OrderedNodeSet:
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
    for attr in _LIGHT_NODE_SETS:
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
    if hasattr(platform, "_egl_context"):
        platform.delete_context = types.MethodType(_egl_destroy_context_only, platform)


def _inner(offscreen: Any) -> Any:
    """pyrender's `Renderer` inside an `OffscreenRenderer` (None before its first context)."""
    return getattr(offscreen, "_renderer", None)


# --------------------------------------------------------------------------- shaders


#: (what, pyrender's mesh.frag text, replacement): applied only when every target is found.
SHADER_PATCHES = (
    # Vertex colours tint the surface (diffuse albedo, metal F0, ambient) before shading,
    # not the shaded result: a red plastic's specular highlight stays white.
    ("vertex colours as albedo", "    color *= color_multiplier;\n", "\n"),
    ("vertex colours as albedo",
     "    base_color = base_color * srgb_to_linear(texture(material.base_color_texture, uv_0));"
     "\n#endif\n",
     "    base_color = base_color * srgb_to_linear(texture(material.base_color_texture, uv_0));"
     "\n#endif\n#ifdef COLOR_0_LOC\n    base_color *= color_multiplier;\n#endif\n"),
    # Normal maps: pyrender ignores a normal map's scale; the strength of the tilt travels
    # in `emissive_factor.x` (synthgap draws nothing emissive: `normal_strength_factor`),
    # which is then not added as emission. A degenerate UV triangle (no tangent) keeps its
    # geometric normal instead of turning NaN (black).
    ("normal map strength",
     "    n = normalize(tbn_n * ((2.0 * n - 1.0) * vec3(1.0, 1.0, 1.0)));\n",
     "    n = normalize(tbn_n * ((2.0 * n - 1.0) * vec3(material.emissive_factor.x,"
     " material.emissive_factor.x, 1.0)));\n    if (any(isnan(n))) {\n"
     "        n = normalize(tbn_n[2]);\n    }\n"),
    ("normal map strength",
     "    color.xyz += emissive * material.emissive_factor;\n",
     "#ifndef HAS_NORMAL_TEX\n    color.xyz += emissive * material.emissive_factor;\n#endif\n"),
    # pyrender's bitangent cross(n, t) assumes right-handed UVs; a mirrored face (box
    # projection's -x/-y/-z faces, mirrored atlas charts) would flip its relief along v.
    ("normal map handedness",
     "    vec3 b = normalize(cross(ng, t));\n",
     "    vec3 b = normalize(cross(ng, t));\n"
     "    if (dot(b, tex_dx.s * pos_dy - tex_dy.s * pos_dx)"
     " * (tex_dx.s * tex_dy.t - tex_dy.s * tex_dx.t) < 0.0) {\n        b = -b;\n    }\n"),
    # One bilinear 2x2 comparison instead of 3x3 of them (36 texture reads per light and
    # fragment): the shadow map is fitted to the view, so its texels are ~1 mm and the edge
    # stays smooth; the colour pass with a shadowed light costs about half as much.
    ("bilinear shadow lookup",
     "    float shadow = PCF(shadow_map, textureSize(shadow_map, 0), light_coords.xy, compare);",
     "    float shadow = texture2DShadowLerp(shadow_map, vec2(textureSize(shadow_map, 0)),"
     " light_coords.xy, compare);"),
)


#: With an `environment` light, the first colour pass uses this patch too: the ambient term
#: becomes a studio environment of radiance `ambient_light` (the uniform then carries the
#: environment's), bright above the horizon and dark below, reflected by every surface with
#: Schlick's Fresnel and blurred with roughness, and lighting its diffuse part by the normal.
ENV_PATCH = (
    "studio environment",
    "    color.xyz += base_color.xyz * ambient_light;\n",
    """    {
        vec3 v_env = normalize(cam_pos - frag_position);
        vec3 r_env = reflect(-v_env, n);
        float w_env = 0.1 + roughness;
        float sky = 0.12 + 0.88 * smoothstep(-0.1 - w_env, 0.6 + w_env, r_env.z);
        float sky_d = 0.12 + 0.88 * smoothstep(-1.0, 1.2, n.z);
        float nv_env = clamp(dot(n, v_env), 0.0, 1.0);
        vec3 f_env = f0 + (max(vec3(1.0 - roughness), f0) - f0) * pow(1.0 - nv_env, 5.0);
        color.xyz += ambient_light * (c_diff * sky_d + f_env * sky * (1.0 - 0.5 * roughness));
    }
""",
)
#: Texture unit of the environment map (GL 3.3 guarantees 16 per shader; pyrender binds
#: material textures and shadow maps from unit 0 up: at most 5 + 8 with synthgap's limits).
ENV_TEXTURE_UNIT = 15

#: With an `environment` light that has an `image`, the first colour pass uses these patches
#: instead of `ENV_PATCH`: the ambient term becomes that environment, looked up in a
#: pre-filtered equirectangular map (`synthgap.generators.environment`; one texture of the
#: layers stacked top to bottom, on `ENV_TEXTURE_UNIT`: specular layers by roughness, then
#: the irradiance layer),
#: reflected with Schlick's Fresnel as in `ENV_PATCH`, of radiance `ambient_light` x map.
ENV_MAP_PATCHES = (
    ("environment map", "void main()\n{\n", """\
uniform sampler2D synthgap_env;

vec3 synthgap_env_at(vec3 d, float layer)
{
    float v = clamp(0.5 - asin(clamp(d.z, -1.0, 1.0)) / PI, ENVHALF, 1.0 - ENVHALF);
    vec2 uv = vec2(0.5 - atan(d.y, d.x) / (2.0 * PI), (layer + v) / ENVLAYERS);
    return textureLod(synthgap_env, uv, 0.0).rgb;
}

void main()
{
"""),
    ("environment map", "    color.xyz += base_color.xyz * ambient_light;\n", """    {
        vec3 v_env = normalize(cam_pos - frag_position);
        vec3 r_env = reflect(-v_env, n);
        float nv_env = clamp(dot(n, v_env), 0.0, 1.0);
        vec3 f_env = f0 + (max(vec3(1.0 - roughness), f0) - f0) * pow(1.0 - nv_env, 5.0);
        float lod_env = clamp(roughness / ENVSTEP, 0.0, ENVLAST);
        float l0_env = floor(lod_env);
        vec3 spec_env = mix(synthgap_env_at(r_env, l0_env),
                            synthgap_env_at(r_env, min(l0_env + 1.0, ENVLAST)),
                            lod_env - l0_env);
        vec3 irr_env = synthgap_env_at(n, ENVIRR);
        color.xyz += ambient_light * (c_diff * irr_env
                                      + f_env * spec_env * (1.0 - 0.5 * roughness));
    }
"""),
)
#: The shader variants: pyrender's with `SHADER_PATCHES`, plus the studio or the map.
SHADER_MODES = ("plain", "studio", "image")
_SHADER_DIR: dict[str, str] = {}  # this process's patched shader folders, made on first use


def _env_map_patches() -> tuple[tuple[str, str, str], ...]:
    from synthgap.generators.environment import ENV_HEIGHT, IRRADIANCE_LAYER, ROUGHNESS_LEVELS

    values = {"ENVSTEP": f"{ROUGHNESS_LEVELS[1]:.6f}",
              "ENVLAST": f"{len(ROUGHNESS_LEVELS) - 1:.1f}", "ENVIRR": f"{IRRADIANCE_LAYER:.1f}",
              "ENVLAYERS": f"{IRRADIANCE_LAYER + 1:.1f}", "ENVHALF": f"{0.5 / ENV_HEIGHT:.8f}"}
    out = []
    for what, old, new in ENV_MAP_PATCHES:
        for key, value in values.items():
            new = new.replace(key, value)
        out.append((what, old, new))
    return tuple(out)


#: Temporary shader folders are `<tmp>/synthgap-shaders-<pid>-<random>`: removed at exit, and
#: those of processes that no longer run (killed renders) by the next process that makes one.
SHADER_PREFIX = "synthgap-shaders-"


def _remove_stale_shader_folders() -> None:
    """Remove shader folders of this user whose process has ended."""
    root = Path(tempfile.gettempdir())
    for path in root.glob(f"{SHADER_PREFIX}*"):
        pid = path.name[len(SHADER_PREFIX):].split("-", 1)[0]
        try:
            if not pid.isdigit() or path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # raises when no such process
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive under another user, or not ours to inspect
            continue


def shader_folder(pr: ModuleType, environment: bool | str) -> str | None:
    """The folder of pyrender's shaders with `SHADER_PATCHES` (and `ENV_PATCH` for mode
    `studio` or True, `ENV_MAP_PATCHES` for `image`), written once per process to a temporary
    folder removed at exit; None when pyrender's `mesh.frag` is not the text the patches
    expect."""
    mode = {True: "studio", False: "plain"}.get(environment, environment)  # type: ignore[call-overload]
    if mode not in SHADER_MODES:
        raise ValueError(f"shader mode: expected one of {SHADER_MODES}, got {environment!r}")
    if mode not in _SHADER_DIR:
        src = Path(pr.__file__).parent / "shaders"
        try:
            text = (src / "mesh.frag").read_text()
        except OSError:
            return None
        extra = {"plain": (), "studio": (ENV_PATCH,), "image": _env_map_patches()}[mode]
        for _what, old, new in (*SHADER_PATCHES, *extra):
            if old not in text:
                return None
            text = text.replace(old, new, 1)
        _remove_stale_shader_folders()
        folder = tempfile.mkdtemp(prefix=f"{SHADER_PREFIX}{os.getpid()}-")
        atexit.register(shutil.rmtree, folder, True)
        for f in src.iterdir():
            if f.is_file():
                shutil.copyfile(f, Path(folder) / f.name)
        (Path(folder) / "mesh.frag").write_text(text)
        _SHADER_DIR[mode] = folder
    return _SHADER_DIR[mode]


def install_shaders(offscreen: Any) -> tuple[Any, ...] | None:
    """Point pyrender's shader cache at the patched shaders (`shader_folder`).

    Returns:
        One shader cache per `SHADER_MODES` entry, to switch between per pass
        (`use_shader_cache`), or None when the patches do not apply (pyrender's own shaders
        are used; no environment lighting, normal maps at pyrender's fixed strength).
    """
    import pyrender
    from pyrender.shader_program import ShaderProgramCache

    inner = _inner(offscreen)
    if inner is None or not hasattr(inner, "_program_cache"):
        return None
    folders = [shader_folder(pyrender, mode) for mode in SHADER_MODES]
    if any(f is None for f in folders):
        return None
    env_cache = _env_program_cache_class()
    caches = tuple((env_cache if mode == "image" else ShaderProgramCache)(shader_dir=f)
                   for mode, f in zip(SHADER_MODES, folders, strict=True))
    inner._program_cache.clear()
    inner._program_cache = caches[0]
    return caches


@functools.lru_cache(maxsize=1)
def _env_program_cache_class() -> type:
    from pyrender.shader_program import ShaderProgramCache

    class EnvProgramCache(ShaderProgramCache):  # type: ignore[misc]
        """Compiles `mesh.frag` programs itself to point their `synthgap_env` sampler at
        `ENV_TEXTURE_UNIT` once (pyrender sets only the uniforms it knows)."""

        def get_program(self, vertex_shader: str, fragment_shader: str,
                        geometry_shader: str | None = None,
                        defines: dict[str, Any] | None = None) -> Any:
            program = super().get_program(vertex_shader, fragment_shader, geometry_shader,
                                          defines)
            if fragment_shader == "mesh.frag" and not program._in_context():
                program._add_to_context()
                program._bind()
                program.set_uniform("synthgap_env", ENV_TEXTURE_UNIT)
                program._unbind()
            return program

    return EnvProgramCache


def use_shader_cache(offscreen: Any, caches: tuple[Any, ...] | None,
                     environment: bool | str) -> None:
    """Draw the next passes with the shaders of mode `environment` (`SHADER_MODES`; False is
    `plain`, True `studio`) of `install_shaders`.

    Raises:
        ValueError: an environment asked for but the patched shaders are not installed.
    """
    mode = {True: "studio", False: "plain"}.get(environment, environment)  # type: ignore[call-overload]
    inner = _inner(offscreen)
    if caches is not None and inner is not None:
        inner._program_cache = caches[SHADER_MODES.index(mode)]
    elif mode != "plain":
        raise ValueError("lights: an environment light needs synthgap's patched shaders, "
                         "which do not apply to this pyrender version")


def normal_strength_factor(strength: float) -> list[float]:
    """The `emissiveFactor` of a normal-mapped material whose map's tilt is scaled by
    `strength` (the patched shaders read it there; see `SHADER_PATCHES`)."""
    return [float(strength), 0.0, 0.0]


# --------------------------------------------------------------------------- environment map


def upload_environment(offscreen: Any, layers: np.ndarray) -> int:
    """Upload environment layers, stacked top to bottom, as one float 2D texture in
    `offscreen`'s GL context (one sampler type with pyrender's, so a GL 3.3 program validates
    whatever unit its unused samplers point at).

    Args:
        offscreen: the pyrender `OffscreenRenderer` (after its context exists).
        layers: `(L, H, W, 3) float32` linear radiance
            (`synthgap.generators.environment.environment_layers`).

    Returns:
        The GL texture name (freed with the context).
    """
    from OpenGL import GL

    offscreen._platform.make_current()
    data = np.ascontiguousarray(layers, dtype=np.float32)
    n_layers, height, width, _ = data.shape
    tex = int(GL.glGenTextures(1))
    GL.glActiveTexture(GL.GL_TEXTURE0 + ENV_TEXTURE_UNIT)
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 4)
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB32F, width, n_layers * height, 0,
                    GL.GL_RGB, GL.GL_FLOAT, data.reshape(n_layers * height, width, 3))
    for key, value in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR),
                       (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                       (GL.GL_TEXTURE_WRAP_S, GL.GL_REPEAT),
                       (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
        GL.glTexParameteri(GL.GL_TEXTURE_2D, key, value)
    GL.glActiveTexture(GL.GL_TEXTURE0)
    return tex


def bind_environment(offscreen: Any, tex: int) -> None:
    """Bind the environment texture `tex` (`upload_environment`) to `ENV_TEXTURE_UNIT` for
    the next passes (pyrender never uses that unit)."""
    from OpenGL import GL

    offscreen._platform.make_current()
    GL.glActiveTexture(GL.GL_TEXTURE0 + ENV_TEXTURE_UNIT)
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glActiveTexture(GL.GL_TEXTURE0)


# --------------------------------------------------------------------------- read-back


def install_fast_readback(offscreen: Any) -> bool:
    """Replace the renderer's `_read_main_framebuffer` by `read_main_framebuffer`.

    Returns:
        Whether it was installed (False when pyrender's renderer lacks the fields it reads).
    """
    inner = _inner(offscreen)
    if inner is None or not all(hasattr(inner, f) for f in _FB_FIELDS) or \
            not hasattr(inner, "_read_main_framebuffer"):
        return False
    inner._synthgap_skip_depth = False
    inner._read_main_framebuffer = types.MethodType(read_main_framebuffer, inner)
    return True


def skip_depth(offscreen: Any, skip: bool) -> None:
    """Whether the next colour passes skip the depth read (with `install_fast_readback`)."""
    inner = _inner(offscreen)
    if hasattr(inner, "_synthgap_skip_depth"):
        inner._synthgap_skip_depth = skip


def read_main_framebuffer(self: Any, scene: Any, flags: int) -> tuple[np.ndarray, Any]:
    """pyrender's `Renderer._read_main_framebuffer` (pyrender-maintained 1.0), minus work.

    Same GL calls and the same float32 depth arithmetic in the same order (so the same bits),
    but the depth buffer is neither resolved nor read when `_synthgap_skip_depth` is set, and
    the conversion runs in place instead of through boolean-mask copies.
    """
    from OpenGL import GL
    from pyrender.constants import RenderFlags

    width, height = self._main_fb_dims
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._main_fb_ms)
    GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._main_fb)
    GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT,
                         GL.GL_LINEAR)
    skip_depth = self._synthgap_skip_depth and not flags & RenderFlags.DEPTH_ONLY
    if not skip_depth:
        GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height,
                             GL.GL_DEPTH_BUFFER_BIT, GL.GL_NEAREST)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._main_fb)
    depth = None
    if not skip_depth:
        buf = GL.glReadPixels(0, 0, width, height, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT)
        raw = np.frombuffer(buf, dtype=np.float32).reshape(height, width)[::-1]
        znear = scene.main_camera_node.camera.znear
        zfar = scene.main_camera_node.camera.zfar
        depth = 2.0 * raw - 1.0  # float32, as pyrender computes it
        if zfar is None:
            np.subtract(1.0, depth, out=depth)
            np.divide(2 * znear, depth, out=depth)
        else:
            np.multiply(depth, zfar - znear, out=depth)
            np.subtract(zfar + znear, depth, out=depth)
            np.divide((2.0 * znear * zfar), depth, out=depth)
        depth[raw == 1.0] = 0.0
        if flags & RenderFlags.DEPTH_ONLY:
            return depth
    fmt, channels = (GL.GL_RGBA, 4) if flags & RenderFlags.RGBA else (GL.GL_RGB, 3)
    buf = GL.glReadPixels(0, 0, width, height, fmt, GL.GL_UNSIGNED_BYTE)
    color = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, channels)[::-1]
    return np.ascontiguousarray(color), depth


# --------------------------------------------------------------------------- shadows


def focused_scene_class(pr: ModuleType) -> type:
    """pyrender's Scene whose `centroid`/`scale` (which size the shadow maps' cameras) can be
    pinned to the region that matters (`focus`), instead of every node's bounds: a 2 m
    support plane would spread a shadow map's 2048 texels over 5.7 m (2.8 mm each)."""

    class FocusedScene(pr.Scene):  # type: ignore[name-defined, misc]
        focus: tuple[np.ndarray, float] | None = None

        @property
        def centroid(self) -> np.ndarray:
            return self.focus[0] if self.focus is not None else super().centroid

        @property
        def scale(self) -> float:
            return self.focus[1] if self.focus is not None else super().scale

    return FocusedScene


def spot_shadow_camera(pr: ModuleType, pose: np.ndarray,
                        focus: tuple[np.ndarray, float] | None) -> Callable[[Any, float], Any]:
    """A spot light's shadow camera whose depth range hugs the focus region.

    pyrender's spans 0.01-10 x the scene scale; its perspective depth is then so coarse at
    the parts' distance that the shader's depth bias (~0.0002-0.002 of the range) exceeds
    the parts' height and every shadow vanishes.
    """
    def camera(light: Any, scene_scale: float) -> Any:
        if focus is None:
            near, far = 0.01 * scene_scale, 10 * scene_scale
        else:
            dist = float(np.linalg.norm(np.asarray(pose)[:3, 3] - focus[0]))
            near = max(dist - focus[1], 0.02 * dist, 1e-3)
            far = dist + focus[1]
        return pr.PerspectiveCamera(znear=near, zfar=far, aspectRatio=1.0,
                                    yfov=float(np.clip(2 * light.outerConeAngle + np.pi / 16,
                                                       0.0, np.pi - 1e-3)))

    return camera


def set_spot_shadow_camera(light: Any, pose: np.ndarray,
                           focus: tuple[np.ndarray, float] | None) -> None:
    """Give the pyrender `SpotLight` `light` the shadow camera of `spot_shadow_camera`."""
    import pyrender

    light._get_shadow_camera = types.MethodType(spot_shadow_camera(pyrender, pose, focus),
                                                light)


# --------------------------------------------------------------------------- the check


def check_internals() -> list[str]:
    """What this module relies on that the installed pyrender lacks (empty: all there).

    Checks the module constants, the light node sets, the EGL platform's context fields and
    `delete_context`, `Renderer._read_main_framebuffer(scene, flags)` and the framebuffer
    fields it reads, `ShaderProgramCache(shader_dir)`, `SpotLight._get_shadow_camera(
    scene_scale)`, `Scene.centroid`/`scale` properties and every `mesh.frag` text patched.
    Imports pyrender (whichever platform `PYOPENGL_PLATFORM` names; no context is made).
    """
    import pyrender
    from pyrender import light, renderer, shader_program

    problems = []

    def params(fn: Any) -> list[str]:
        return list(inspect.signature(fn).parameters)

    for mod, name in ((renderer, "MAX_N_LIGHTS"), (renderer, "SHADOW_TEX_SZ"),
                      (light, "SHADOW_TEX_SZ")):
        if not isinstance(getattr(mod, name, None), int):
            problems.append(f"{mod.__name__}.{name} is not a module-level int")
    scene = pyrender.Scene()
    for attr in _LIGHT_NODE_SETS:
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
        problems += [f"Renderer.{f} is no longer set" for f in _FB_FIELDS
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
        from pyrender.platforms import egl
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
        text = (Path(pyrender.__file__).parent / "shaders" / "mesh.frag").read_text()
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
