"""Level of detail: simplified meshes for the colour passes, labels from the full mesh."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.params import MaterialParams, PartInstanceParams, as_matrix4
from synthgap.generators.parts import lod
from tests.generators._render_helpers import camera, params, translation


def dense_ball(subdivisions: int = 5) -> trimesh.Trimesh:
    """An icosphere of 2 cm radius (20,480 triangles at 5) with a colour gradient."""
    ball = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.02)
    ball.apply_translation([0, 0, 0.02])
    c = (255 * (ball.vertices[:, 0] - ball.vertices[:, 0].min()) / 0.04).astype(np.uint8)
    ball.visual = trimesh.visual.ColorVisuals(
        ball, vertex_colors=np.stack([c, 255 - c, np.full_like(c, 90), np.full_like(c, 255)], 1))
    return ball


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHGAP_CACHE", str(tmp_path))
    monkeypatch.setattr(lod, "_meshes", {})
    return tmp_path / "lod"


def test_level_follows_the_size_on_screen():
    assert lod.lod_level(40_000, 40.0) == 3
    assert lod.lod_level(1_500, 5.0) == 0  # fewer than 2 * MIN_FACES: always in full
    levels = [lod.lod_level(40_000, r) for r in (2, 10, 30, 60, 120, 400)]
    assert levels == sorted(levels, reverse=True) and levels[0] > 0 and levels[-1] == 0
    assert all(40_000 >> lv >= lod.MIN_FACES for lv in levels)
    assert lod.lod_level(40_000, float("nan")) == 0


def test_lod_mesh_halves_keeps_colours_and_is_cached_on_disk(cache):
    ball = dense_ball()
    assert lod.lod_mesh(ball, 0) is ball
    half = lod.lod_mesh(ball, 2)
    assert len(half.faces) <= len(ball.faces) // 4
    assert half.visual.vertex_colors.shape == (len(half.vertices), 4)
    assert lod.lod_mesh(ball, 2) is half  # memory
    files = list(cache.glob("*-2.npz"))
    assert len(files) == 1
    lod._meshes.clear()  # a new process: loads the file, same arrays
    again = lod.lod_mesh(ball, 2)
    assert again is not half
    np.testing.assert_array_equal(again.vertices, half.vertices)
    np.testing.assert_array_equal(again.faces, half.faces)
    np.testing.assert_array_equal(again.visual.vertex_colors, half.visual.vertex_colors)
    files[0].write_bytes(b"damaged")  # a broken cache file is made again, not trusted
    lod._meshes.clear()
    np.testing.assert_array_equal(lod.lod_mesh(ball, 2).faces, half.faces)
    with pytest.raises(ValueError, match="level"):
        lod.lod_mesh(ball, -1)


def test_labels_come_from_the_full_mesh(cache):
    meshes = {"ball": dense_ball(), "block": trimesh.creation.box([0.04, 0.03, 0.02])}
    meshes["block"].apply_translation([0, 0, 0.01])
    own = MaterialParams((1.0, 1.0, 1.0), 0.0, 0.5, source="mesh")
    parts = (PartInstanceParams("ball", "ball", as_matrix4(translation(0.0, 0.0, 0.0)), own),
             PartInstanceParams("block", "block", as_matrix4(translation(0.02, 0.0, 0.0)),
                                MaterialParams((0.6, 0.6, 0.6), 0.5, 0.5)))
    p = params(parts=parts, cam=camera(96, 72, eye=(0.1, -0.2, 0.3)))
    with Renderer(96, 72, lod=False) as r:
        full = r.render(p, meshes)
    with Renderer(96, 72) as r:
        simple = r.render(p, meshes)
        drawn = [key[0] for key in r._graph._part_slots]
    assert any("\x00lod" in name for name in drawn)  # the ball was drawn simplified
    np.testing.assert_array_equal(simple.instance_mask, full.instance_mask)
    np.testing.assert_array_equal(simple.depth, full.depth)
    np.testing.assert_array_equal(simple.unoccluded_pixels, full.unoccluded_pixels)
    assert (simple.instance_mask == 1).sum() > 100
    diff = np.abs(simple.rgb.astype(int) - full.rgb)
    assert diff.any() and diff.mean() < 2.0  # the look changes by a few edge pixels only


def test_glossy_parts_are_drawn_in_full(cache):
    """A polished surface's highlights would show the facets: no level of detail there."""
    ball = dense_ball()
    p = params(parts=(PartInstanceParams("ball", "ball", as_matrix4(translation(0, 0, 0)),
                                         MaterialParams((0.9, 0.9, 0.9), 1.0,
                                                        lod.MIN_ROUGHNESS / 2)),),
               cam=camera(96, 72, eye=(0.1, -0.2, 0.3)))
    with Renderer(96, 72, lod=False) as r:
        full = r.render(p, {"ball": ball})
    with Renderer(96, 72) as r:
        same = r.render(p, {"ball": ball})
        assert not any("\x00lod" in key[0] for key in r._graph._part_slots)
    np.testing.assert_array_equal(same.rgb, full.rgb)


def test_no_simplification_up_close_or_with_defects(cache):
    ball = dense_ball()
    r = Renderer(96, 72)
    far = camera(96, 72, eye=(0.0, 0.0, 0.5)).pose
    near = camera(96, 72, eye=(0.0, 0.0, 0.03)).pose
    pose = np.asarray(translation(0, 0, 0))
    view = type("View", (), {"fx": 150.0, "fy": 150.0})()
    assert r._lod_level(ball, pose, view, np.asarray(far)) > 0
    assert r._lod_level(ball, pose, view, np.asarray(near)) == 0  # inside the bounding sphere
    assert Renderer(96, 72, lod=False)._lod_level(ball, pose, view, np.asarray(far)) == 0
