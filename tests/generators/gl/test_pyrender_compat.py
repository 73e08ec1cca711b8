"""pyrender internals synthgap patches (`generators.gl.pyrender_compat`) are still there."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from synthgap.generators.gl import pyrender_compat as compat


def test_installed_pyrender_is_the_checked_version():
    installed = version("pyrender-maintained")
    assert installed in SpecifierSet(compat.PYRENDER_CHECKED), (
        f"pyrender-maintained {installed} is outside {compat.PYRENDER_CHECKED}, the versions "
        "synthgap/generators/gl/pyrender_compat/ was checked against: re-check every patch "
        "there, then widen PYRENDER_CHECKED and the pin in pyproject.toml")


def test_every_patched_internal_exists():
    problems = compat.check_internals()
    assert problems == [], ("pyrender changed internals that synthgap/generators/"
                            "pyrender_compat.py patches:\n" + "\n".join(problems))


def test_check_notices_a_changed_internal(monkeypatch):
    import pyrender.renderer as pr_renderer

    monkeypatch.delattr(pr_renderer, "MAX_N_LIGHTS")
    monkeypatch.setattr(pr_renderer.Renderer, "_read_main_framebuffer",
                        lambda self, scene: None)
    problems = compat.check_internals()
    assert any("MAX_N_LIGHTS" in p for p in problems), problems
    assert any("_read_main_framebuffer" in p for p in problems), problems


def test_check_notices_a_changed_shader(monkeypatch):
    monkeypatch.setattr(compat, "ENV_PATCH", ("studio environment", "no such text", ""))
    assert any("studio environment" in p for p in compat.check_internals())
    monkeypatch.setattr(compat, "ENV_MAP_PATCHES", (("environment map", "nowhere", ""),))
    assert any("environment map" in p for p in compat.check_internals())


def test_shader_modes_write_their_patches():
    import pyrender

    plain = (Path(compat.shader_folder(pyrender, "plain")) / "mesh.frag").read_text()
    image = (Path(compat.shader_folder(pyrender, "image")) / "mesh.frag").read_text()
    assert "material.emissive_factor.x" in plain and "synthgap_env" not in plain
    assert "uniform sampler2D synthgap_env;" in image and "ENVLAYERS" not in image
    with pytest.raises(ValueError, match="shader mode"):
        compat.shader_folder(pyrender, "disco")


def test_settings_are_scoped():
    import pyrender.light as pr_light
    import pyrender.renderer as pr_renderer

    before = pr_renderer.MAX_N_LIGHTS, pr_renderer.SHADOW_TEX_SZ, pr_light.SHADOW_TEX_SZ
    with compat.pyrender_settings(max_lights=16, shadow_map_size=1024):
        assert (pr_renderer.MAX_N_LIGHTS, pr_renderer.SHADOW_TEX_SZ,
                pr_light.SHADOW_TEX_SZ) == (16, 1024, 1024)
    assert (pr_renderer.MAX_N_LIGHTS, pr_renderer.SHADOW_TEX_SZ,
            pr_light.SHADOW_TEX_SZ) == before
    with pytest.raises(KeyError), compat.pyrender_settings(max_lights=8, shadow_map_size=512):
        raise KeyError("restored on errors too")
    assert pr_renderer.MAX_N_LIGHTS == before[0]


def test_render_leaves_pyrender_settings_alone():
    from synthgap.generators.gl.renderer import Renderer
    from tests.generators._render_helpers import camera, meshes, params

    with Renderer(32, 24) as rend:
        rend.render(params(cam=camera(32, 24)), meshes())
    renderer, constants = sys.modules["pyrender.renderer"], sys.modules["pyrender.constants"]
    assert renderer.MAX_N_LIGHTS == constants.MAX_N_LIGHTS == 4
    assert renderer.SHADOW_TEX_SZ == constants.SHADOW_TEX_SZ == 2048


def test_importing_the_module_loads_no_pyrender():
    import subprocess

    code = ("import sys, synthgap.generators.gl.pyrender_compat, synthgap.generators.gl.renderer; "
            "print(any(m.split('.')[0] in ('pyrender', 'OpenGL') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
