"""Patched `mesh.frag` shaders (normal-map strength, studio and photo environment lighting),
the shader caches of each mode and the environment texture (part of `pyrender_compat`)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from synthgap.generators.gl.pyrender_compat.core import get_pyrender, inner_renderer

__all__ = ["ENV_MAP_PATCHES", "ENV_PATCH", "ENV_TEXTURE_UNIT", "SHADER_MODES", "SHADER_PATCHES",
           "bind_environment", "env_map_patches", "install_shaders", "normal_strength_factor",
           "shader_folder", "upload_environment", "use_shader_cache"]

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
#: pre-filtered equirectangular map (`synthgap.generators.look.environment`; one texture of the
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


def env_map_patches() -> tuple[tuple[str, str, str], ...]:
    from synthgap.generators.look.environment import ENV_HEIGHT, IRRADIANCE_LAYER, ROUGHNESS_LEVELS

    values = {"ENVSTEP": f"{ROUGHNESS_LEVELS[1]:.6f}",
              "ENVLAST": f"{len(ROUGHNESS_LEVELS) - 1:.1f}", "ENVIRR": f"{IRRADIANCE_LAYER:.1f}",
              "ENVLAYERS": f"{IRRADIANCE_LAYER + 1:.1f}", "ENVHALF": f"{0.5 / ENV_HEIGHT:.8f}"}
    out = []
    for what, old, new in ENV_MAP_PATCHES:
        for key, value in values.items():
            new = new.replace(key, value)
        out.append((what, old, new))
    return tuple(out)


def _shader_mode(environment: bool | str) -> str:
    """A shader mode name: False is `plain`, True `studio`, a string is itself."""
    if isinstance(environment, bool):
        return "studio" if environment else "plain"
    return environment


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
    mode = _shader_mode(environment)
    if mode not in SHADER_MODES:
        raise ValueError(f"shader mode: expected one of {SHADER_MODES}, got {environment!r}")
    if mode not in _SHADER_DIR:
        if pr.__file__ is None:  # not pyrender as installed from a wheel
            return None
        src = Path(pr.__file__).parent / "shaders"
        try:
            text = (src / "mesh.frag").read_text()
        except OSError:
            return None
        extra = {"plain": (), "studio": (ENV_PATCH,), "image": env_map_patches()}[mode]
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
    pyrender = get_pyrender()
    ShaderProgramCache = get_pyrender("shader_program").ShaderProgramCache

    inner = inner_renderer(offscreen)
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
    """pyrender's `ShaderProgramCache` with `get_program` below (a class made at run time,
    since pyrender is imported only through `get_pyrender`)."""
    base = get_pyrender("shader_program").ShaderProgramCache

    def get_program(self: Any, vertex_shader: str, fragment_shader: str,
                    geometry_shader: str | None = None,
                    defines: dict[str, Any] | None = None) -> Any:
        """Compile as pyrender does, then point a new `mesh.frag` program's `synthgap_env`
        sampler at `ENV_TEXTURE_UNIT` once (pyrender sets only the uniforms it knows)."""
        program = base.get_program(self, vertex_shader, fragment_shader, geometry_shader,
                                   defines)
        if fragment_shader == "mesh.frag" and not program._in_context():
            program._add_to_context()
            program._bind()
            program.set_uniform("synthgap_env", ENV_TEXTURE_UNIT)
            program._unbind()
        return program

    return type("EnvProgramCache", (base,), {"get_program": get_program,
                                             "__module__": __name__})


def use_shader_cache(offscreen: Any, caches: tuple[Any, ...] | None,
                     environment: bool | str) -> None:
    """Draw the next passes with the shaders of mode `environment` (`SHADER_MODES`; False is
    `plain`, True `studio`) of `install_shaders`.

    Raises:
        ValueError: an environment asked for but the patched shaders are not installed.
    """
    mode = _shader_mode(environment)
    inner = inner_renderer(offscreen)
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
            (`synthgap.generators.look.environment.environment_layers`).

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
