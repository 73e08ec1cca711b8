"""The mesh's own appearance: loading, sampling, colour spaces, jitter, drawing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import trimesh
from PIL import Image

from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.look.appearance import (
    MESH_ROUGHNESS,
    jitter_colors,
    linear_to_srgb,
    mesh_appearance,
    srgb_to_linear,
)
from synthgap.generators.params import (
    BackgroundParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
)
from synthgap.generators.parts.assets import PartError, load_parts
from synthgap.generators.sampling.sample import sample
from synthgap.scenes import load_scene
from tests.generators._render_helpers import camera


def _quad() -> trimesh.Trimesh:
    return trimesh.Trimesh([[-.05, -.05, 0], [.05, -.05, 0], [.05, .05, 0], [-.05, .05, 0]],
                           [[0, 1, 2], [0, 2, 3]], process=False)


def _coloured(value: int) -> trimesh.Trimesh:
    q = _quad()
    q.visual = trimesh.visual.ColorVisuals(
        q, vertex_colors=np.tile([value, value, value, 255], (4, 1)).astype(np.uint8))
    return q


def _textured() -> trimesh.Trimesh:
    """Left half red, right half blue (sRGB 200)."""
    q = _quad()
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, :8] = (200, 0, 0)
    img[:, 8:] = (0, 0, 200)
    q.visual = trimesh.visual.TextureVisuals(
        uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float),
        material=trimesh.visual.material.PBRMaterial(
            baseColorTexture=Image.fromarray(img), metallicFactor=0.0, roughnessFactor=1.0))
    return q


def _ambient_only(material: MaterialParams, width=64, height=48) -> SampleParams:
    """The quad filling the view under white ambient light only: pixel = its colour."""
    return SampleParams(index=0, seed=0, camera=camera(width, height, eye=(0, 0, 0.3)),
                        parts=(PartInstanceParams("q", "q", as_matrix4(np.eye(4)), material),),
                        lights=(), background=BackgroundParams(color=(0, 0, 0), plane=False,
                                                               ambient=(1.0, 1.0, 1.0)))


@pytest.fixture(scope="module")
def rend_factory():
    made: dict[tuple[int, int], Renderer] = {}

    def get(width: int, height: int) -> Renderer:
        if (width, height) not in made:
            made[(width, height)] = Renderer(width, height)
        return made[(width, height)]

    yield get
    for r in made.values():
        r.close()


OWN = MaterialParams((1.0, 1.0, 1.0), 0.0, 1.0, source="mesh")


def test_srgb_round_trip_and_known_values():
    x = np.linspace(0, 1, 11, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-4)


def test_jitter_colors_identity_hue_and_saturation():
    red = np.array([[0.8, 0.1, 0.1]], np.float32)
    assert np.array_equal(jitter_colors(red), red)
    green = jitter_colors(red, hue_shift=1 / 3)
    np.testing.assert_allclose(green, [[0.1, 0.8, 0.1]], atol=1e-5)
    grey = jitter_colors(red, saturation=0.0)
    np.testing.assert_allclose(grey, [[0.8, 0.8, 0.8]], atol=1e-5)  # HSV value kept
    u8 = jitter_colors(np.array([[[200, 0, 0]]], np.uint8), hue_shift=2 / 3)
    assert u8.dtype == np.uint8 and tuple(u8[0, 0]) == (0, 0, 200)


def test_mesh_appearance_kinds():
    assert mesh_appearance(_quad()) is None
    v = mesh_appearance(_coloured(128))
    assert v is not None and v.kind == "vertex" and v.roughness == MESH_ROUGHNESS
    t = mesh_appearance(_textured())
    assert t is not None and t.kind == "texture" and t.base_color_texture.shape == (16, 16, 3)
    assert (t.metallic, t.roughness) == (0.0, 1.0)


@pytest.mark.parametrize("value", [64, 128, 200])
def test_vertex_colour_renders_at_the_file_value(rend_factory, value):
    # white ambient light only: the display-encoded pixel is the file's sRGB value (the
    # shader encodes with gamma 2.2, sRGB differs from it by at most 2 levels)
    res = rend_factory(64, 48).render(_ambient_only(OWN), {"q": _coloured(value)})
    assert np.abs(res.rgb[24, 32].astype(int) - value).max() <= 2


def test_texture_renders_at_the_file_value(rend_factory):
    res = rend_factory(64, 48).render(_ambient_only(OWN), {"q": _textured()})
    left, right = res.rgb[24, 20].astype(int), res.rgb[24, 44].astype(int)
    assert abs(left[0] - 200) <= 2 and left[1:].max() <= 2
    assert abs(right[2] - 200) <= 2 and right[:2].max() <= 2


def test_material_replaces_and_jitter_changes_the_mesh_colours(rend_factory):
    r = rend_factory(64, 48)
    mesh = {"q": _textured()}
    own = r.render(_ambient_only(OWN), mesh)
    plain = r.render(_ambient_only(MaterialParams((0.2140, 0.2140, 0.2140), 0.0, 1.0)), mesh)
    assert np.abs(plain.rgb[24, 20].astype(int) - 127).max() <= 2  # grey, texture ignored
    assert np.abs(plain.rgb[24, 44].astype(int) - 127).max() <= 2
    dark = r.render(_ambient_only(MaterialParams((1, 1, 1), 0.0, 1.0, source="mesh",
                                                 brightness=0.25)), mesh)
    # brightness multiplies in linear light: 0.25 -> (0.25)^(1/2.2) of the encoded value
    assert abs(int(dark.rgb[24, 20, 0]) - 200 * 0.25 ** (1 / 2.2)) <= 3
    green = r.render(_ambient_only(MaterialParams((1, 1, 1), 0.0, 1.0, source="mesh",
                                                  hue_shift=1 / 3)), mesh)
    assert green.rgb[24, 20, 1] > 190 and green.rgb[24, 20, 0] < 5  # red -> green
    vert = r.render(_ambient_only(MaterialParams((1, 1, 1), 0.0, 1.0, source="mesh",
                                                 saturation=0.0, hue_shift=0.1)),
                    {"q": _coloured(128)})
    assert np.abs(vert.rgb[24, 32].astype(int) - 128).max() <= 2  # grey stays grey
    # the exact masks do not depend on the appearance
    assert np.array_equal(own.instance_mask, plain.instance_mask)
    again = r.render(_ambient_only(OWN), mesh)
    assert np.array_equal(again.rgb, own.rgb)


def _scene(tmp_path, material: str = "") -> object:
    mesh = trimesh.creation.box([30, 20, 10])  # mm
    mesh.visual = trimesh.visual.ColorVisuals(
        mesh, vertex_colors=np.tile([180, 40, 30, 255], (len(mesh.vertices), 1)).astype(np.uint8))
    mesh.export(tmp_path / "part.ply")
    trimesh.creation.box([30, 20, 10]).export(tmp_path / "plain.stl")
    (tmp_path / "s.yaml").write_text(
        "camera: {fov_deg: 40}\nimage: {width: 64, height: 48}\n"
        f"parts:\n  - {{mesh: part.ply{material}}}\n  - {{mesh: plain.stl}}\n")
    return load_scene(tmp_path / "s.yaml")


def test_ply_colours_survive_loading_and_sampling_picks_them(tmp_path):
    scene = _scene(tmp_path)
    parts = load_parts(scene)
    assert parts["part"].appearance is not None and parts["plain"].appearance is None
    p = sample(scene, parts, index=0, seed=3)
    by = {i.part: i.material for i in p.parts}
    assert by["part"].source == "mesh" and by["part"].metallic == 0.0
    assert by["plain"].source == "material" and by["plain"].metallic == 1.0


def test_material_key_replaces_and_jitter_is_recorded(tmp_path):
    scene = _scene(tmp_path, ", material: {base_color: [0.5, 0.5, 0.5]}")
    p = sample(scene, load_parts(scene), index=0, seed=0)
    assert p.parts[0].material.source == "material"
    scene = _scene(tmp_path, ", material: {appearance: mesh, brightness: [0.8, 1.2], "
                             "hue_shift: [-0.02, 0.02], roughness: [0.3, 0.5]}")
    parts = load_parts(scene)
    a = sample(scene, parts, index=4, seed=1).parts[0].material
    assert a.source == "mesh" and 0.8 <= a.brightness <= 1.2 and -0.02 <= a.hue_shift <= 0.02
    assert 0.3 <= a.roughness <= 0.5
    assert sample(scene, parts, index=4, seed=1).parts[0].material == a
    assert sample(scene, parts, index=5, seed=1).parts[0].material != a


def test_appearance_mesh_without_colours_names_the_field(tmp_path):
    (tmp_path / "plain.stl").write_bytes(trimesh.creation.box([30, 20, 10]).export(
        file_type="stl"))
    (tmp_path / "s.yaml").write_text("camera: {fov_deg: 40}\nparts:\n  - {mesh: plain.stl, "
                                     "material: {appearance: mesh}}\n")
    with pytest.raises(PartError, match=r"parts\[0\]\.material\.appearance: appearance: mesh, "
                                        "but the file has no vertex colours"):
        load_parts(load_scene(tmp_path / "s.yaml"))


def test_vertex_colours_tint_the_surface_not_the_highlight(rend_factory):
    from synthgap.generators.params import LightParams

    r = rend_factory(64, 48)
    ball = trimesh.creation.icosphere(3, 0.04)
    ball.visual = trimesh.visual.ColorVisuals(
        ball, vertex_colors=np.tile([200, 20, 20, 255], (len(ball.vertices), 1)).astype(np.uint8))
    cam = camera(64, 48, eye=(0, 0, 0.3))
    light = LightParams("point", (1.0, 1.0, 1.0), 0.3, cam.pose)  # at the camera
    p = SampleParams(index=0, seed=0, camera=cam, lights=(light,),
                     parts=(PartInstanceParams("b", "b", as_matrix4(np.eye(4)),
                                               MaterialParams((1, 1, 1), 0.0, 0.15,
                                                              source="mesh")),),
                     background=BackgroundParams(color=(0, 0, 0), plane=False,
                                                 ambient=(0.0, 0.0, 0.0)))
    res = r.render(p, {"b": ball})
    assert r._shaders is not None  # pyrender's shader took the patches
    inside = res.instance_mask == 1
    body = np.median(res.rgb[inside].astype(int), axis=0)
    assert body[0] > 2 * body[1]  # red plastic
    peak = res.rgb[inside].astype(int)[res.rgb[inside].sum(axis=1).argmax()]
    assert peak[1] > body[1] + 60 and peak[2] > body[2] + 60  # a white highlight


@pytest.mark.parametrize("suffix", ["glb", "obj"])
def test_textured_files_load_and_render_their_texture(tmp_path, rend_factory, suffix):
    slab = trimesh.creation.box([0.1, 0.1, 0.01])  # a quad has no volume for stable poses
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, :8], img[:, 8:] = (200, 0, 0), (0, 0, 200)
    slab.visual = trimesh.visual.TextureVisuals(
        uv=(slab.vertices[:, :2] + 0.05) / 0.1,
        material=trimesh.visual.material.PBRMaterial(
            baseColorTexture=Image.fromarray(img), metallicFactor=0.0, roughnessFactor=1.0))
    slab.export(tmp_path / f"quad.{suffix}")  # OBJ: writes material.mtl + a PNG
    (tmp_path / "s.yaml").write_text(f"camera: {{fov_deg: 40}}\nparts:\n  - {{mesh: quad.{suffix}, "
                                     "units: m, placement: fixed}\n")
    scene = load_scene(tmp_path / "s.yaml")
    parts = load_parts(scene)
    asset = parts["quad"]
    assert asset.appearance is not None and asset.appearance.kind == "texture"
    mat = sample(scene, parts, index=0, seed=0).parts[0].material
    assert mat.source == "mesh"
    res = rend_factory(64, 48).render(_ambient_only(replace(OWN, roughness=mat.roughness)),
                                      {"q": asset.mesh})  # top face at z = 5 mm, 6 mm nearer
    left, right = res.rgb[24, 20].astype(int), res.rgb[24, 44].astype(int)
    assert abs(left[0] - 200) <= 3 and left[1:].max() <= 3
    assert abs(right[2] - 200) <= 3 and right[:2].max() <= 3
