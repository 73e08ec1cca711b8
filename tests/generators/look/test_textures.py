"""Procedural surface and plane textures, box-projected UVs, textured rendering."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import trimesh

from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.look.appearance import srgb_to_linear
from synthgap.generators.look.textures import (
    PLANE_TEXTURES,
    SURFACE_TEXTURES,
    box_uv,
    plane_texture,
    surface_texture,
)
from synthgap.generators.params import BackgroundParams, MaterialParams
from synthgap.scenes import SceneError, load_scene
from tests.generators._render_helpers import camera, meshes, params

W, H = 96, 72


@pytest.mark.parametrize("kind", SURFACE_TEXTURES)
def test_surface_maps_are_seeded_and_in_range(kind):
    base, mr, _ = surface_texture(kind, 3, size=64)
    assert base.shape == (64, 64, 3) and base.dtype == np.uint8 and mr.shape == (64, 64, 3)
    again, _, _ = surface_texture(kind, 3, size=64)
    other, _, _ = surface_texture(kind, 4, size=64)
    assert np.array_equal(base, again) and not np.array_equal(base, other)
    assert base.min() >= 200  # a modulation of at least 0.6 in linear light (sRGB >= 203)
    assert (mr[:, :, 2] == 255).all() and mr[:, :, 1].min() >= 76  # roughness x >= 0.3


@pytest.mark.parametrize("kind", PLANE_TEXTURES)
def test_plane_maps(kind):
    img = plane_texture(kind, 0, size=64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and img.std() > 1.0
    with pytest.raises(ValueError, match="expected one of wood, belt, steel"):
        plane_texture("marble", 0)


def test_box_uv_projects_each_face_on_its_dominant_plane():
    box = trimesh.creation.box([0.04, 0.03, 0.02])
    out, uv = box_uv(box, 0.01)
    assert len(out.faces) == len(box.faces)
    np.testing.assert_allclose(out.vertices[out.faces], box.vertices[box.faces])
    for f, n in zip(out.faces, box.face_normals, strict=True):
        keep = [a for a in range(3) if a != int(np.abs(n).argmax())]
        np.testing.assert_allclose(uv[f], out.vertices[f][:, keep] / 0.01, atol=1e-6)
    with pytest.raises(ValueError, match="texture_scale must be > 0"):
        box_uv(box, 0.0)


@pytest.fixture(scope="module")
def rend():
    with Renderer(W, H) as r:
        yield r


def test_textured_part_and_plane_render(rend, tmp_path):
    ms = meshes()
    cam = camera(W, H, eye=(0.0, 0.0, 0.2))
    p = params(cam=cam)
    plain_mat = MaterialParams((0.7, 0.7, 0.7), 0.0, 0.6)
    p = replace(p, parts=tuple(replace(i, material=plain_mat) for i in p.parts))
    plain = rend.render(p, ms)
    tex_mat = replace(plain_mat, texture="machined", texture_scale=0.2, texture_seed=1)
    pt = replace(p, parts=tuple(replace(i, material=tex_mat) for i in p.parts))
    tex = rend.render(pt, ms)
    inside = cv2.erode((plain.instance_mask > 0).astype(np.uint8), np.ones((5, 5))) > 0
    assert np.array_equal(plain.instance_mask, tex.instance_mask)
    assert tex.rgb[inside].std(axis=0).max() > plain.rgb[inside].std(axis=0).max() + 3
    assert tex.rgb[inside].mean() < plain.rgb[inside].mean()  # the finish only darkens
    # the plane: procedural wood, then a photo of the cell's surface (one flat colour)
    wood = rend.render(replace(p, background=replace(p.background, texture="wood")), ms)
    floor = plain.instance_mask == 0
    assert wood.rgb[floor].std(axis=0).max() > plain.rgb[floor].std(axis=0).max() + 3
    brown = wood.rgb[floor].mean(axis=0)
    assert brown[0] > brown[2] + 30  # wood, not the grey plane
    photo = tmp_path / "floor.png"
    cv2.imwrite(str(photo), np.full((8, 8, 3), (30, 90, 150), np.uint8))  # BGR
    lit = BackgroundParams(color=(0.0, 0.0, 0.0), ambient=(1.0, 1.0, 1.0),
                           texture=str(photo), texture_size=0.05)
    shot = rend.render(replace(p, lights=(), background=lit), ms)
    # the shader decodes sRGB and encodes with gamma 2.2: dark values come out a bit lighter
    expected = srgb_to_linear(np.array([150, 90, 30]) / 255.0) ** (1 / 2.2) * 255.0
    assert np.abs(np.median(shot.rgb[floor], axis=0) - expected).max() <= 2


def test_scene_file_textures(tmp_path):
    from synthgap.generators.parts.assets import load_parts
    from synthgap.generators.sampling.sample import sample

    head = "camera: {fov_deg: 40}\n"
    (tmp_path / "s.yaml").write_text(
        head + "parts: [{procedural: hex_nut, material: {texture: machined, "
               "texture_scale: 0.02}}]\nbackground: {texture: belt, texture_size: 0.5}\n")
    scene = load_scene(tmp_path / "s.yaml")
    parts = load_parts(scene)
    p = sample(scene, parts, index=0, seed=2)
    m = p.parts[0].material
    assert (m.texture, m.texture_scale) == ("machined", 0.02) and 0 <= m.texture_seed < 8
    assert (p.background.texture, p.background.texture_size) == ("belt", 0.5)
    assert sample(scene, parts, index=0, seed=2) == p
    (tmp_path / "bad.yaml").write_text(head + "parts: [{procedural: hex_nut}]\n"
                                              "background: {texture_image: nowhere.png}\n")
    with pytest.raises(SceneError, match=r"background\.texture_image: file not found"):
        load_scene(tmp_path / "bad.yaml")
