"""Defect geometry: sizes, placement on the surface, normals, ids, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from synthgap.generators.defects.surface import (
    LAYER_STEP_M,
    SURFACE_OFFSET_M,
    defect_mesh,
    iter_defects,
)
from synthgap.generators.params import DefectParams
from tests.generators._render_helpers import dent, meshes, params, scratch


@pytest.fixture(scope="module")
def block():
    return meshes()["block"]  # 40 x 30 x 20 mm, top face at z = 0.02


def test_scratch_size_and_placement(block):
    m = defect_mesh(scratch(length_mm=10.0, width_mm=1.0), block)
    ext = m.bounds[1] - m.bounds[0]
    assert ext[0] == pytest.approx(0.010, abs=1e-9)  # along direction = +x
    assert ext[1] == pytest.approx(0.001, abs=1e-9)
    # Flat on the top face, lifted by the offset, facing up.
    np.testing.assert_allclose(m.vertices[:, 2], 0.02 + SURFACE_OFFSET_M, atol=1e-12)
    assert np.all(m.face_normals[:, 2] > 0.99)
    assert m.area == pytest.approx(1e-5, rel=1e-6)


def test_scratch_follows_a_curved_surface():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.02)
    d = DefectParams("scratch", (0.0, 0.0, 0.02), (0, 0, 1), (1, 0, 0),
                     {"length_mm": 15.0, "width_mm": 0.5}, (1, 1, 1))
    m = defect_mesh(d, sphere)
    r = np.linalg.norm(m.vertices, axis=1)
    # Every vertex hugs the sphere (a flat strip would stand 1.4 mm off at its ends).
    assert np.all(np.abs(r - 0.02) < 2e-4)


def test_dent_normals_tilt_towards_its_centre(block):
    m = defect_mesh(dent(position=(0.0, 0.0, 0.02), radius_mm=4.0, depth_mm=1.0), block)
    assert m.bounds[1][0] - m.bounds[0][0] == pytest.approx(0.008, abs=1e-6)
    n = m.vertex_normals
    rim = np.linalg.norm(m.vertices[:, :2], axis=1) > 0.0039
    # On the rim the normal leans inwards: n · radial < 0 (slope 2·depth/radius = 0.5).
    radial = m.vertices[rim, :2] / np.linalg.norm(m.vertices[rim, :2], axis=1, keepdims=True)
    lean = np.einsum("ij,ij->i", n[rim, :2], radial)
    np.testing.assert_allclose(lean, -0.5 / np.sqrt(1.25), atol=1e-6)
    np.testing.assert_allclose(n[0], [0, 0, 1], atol=1e-9)  # flat at the centre


def test_layers_stack(block):
    a = defect_mesh(dent(), block, layer=0)
    b = defect_mesh(dent(), block, layer=3)
    np.testing.assert_allclose(b.vertices[:, 2] - a.vertices[:, 2], 3 * LAYER_STEP_M, atol=1e-12)


def test_iter_defects_numbers_in_instance_order():
    p = params(defects=[scratch(), dent()])
    assert [(did, iid, d.type) for did, iid, d in iter_defects(p)] == [
        (1, 1, "scratch"), (2, 1, "dent")]


@pytest.mark.parametrize("defect, match", [
    (DefectParams("gouge", (0, 0, 0.02), (0, 0, 1), (1, 0, 0), {}, (1, 1, 1)), "not known"),
    (DefectParams("chip", (0, 0, 0.02), (0, 0, 1), (1, 0, 0), {"radius_mm": 1.0}, None),
     "geometry defect"),
    (DefectParams("scratch", (0, 0, 0.02), (0, 0, 1), (1, 0, 0), {"length_mm": 3.0},
                  (1, 1, 1)), "width_mm"),
    (DefectParams("dent", (0, 0, 0.02), (0, 0, 1), (1, 0, 0),
                  {"radius_mm": -1.0, "depth_mm": 0.2}, (1, 1, 1)), "radius_mm"),
    (DefectParams("dent", (0, 0, 0.02), (0, 0, 0), (1, 0, 0),
                  {"radius_mm": 1.0, "depth_mm": 0.2}, (1, 1, 1)), "normal"),
])
def test_bad_defects(block, defect, match):
    with pytest.raises(ValueError, match=match):
        defect_mesh(defect, block)


def _stain(direction=(1.0, 0.0, 0.0)) -> DefectParams:
    return DefectParams("stain", (0.0, 0.0, 0.02), (0.0, 0.0, 1.0), direction,
                        {"radius_mm": 4.0}, (0.28, 0.09, 0.03))


def _crack(direction=(1.0, 0.0, 0.0), width_mm=0.3) -> DefectParams:
    return DefectParams("crack", (0.0, 0.0, 0.02), (0.0, 0.0, 1.0), direction,
                        {"length_mm": 12.0, "width_mm": width_mm}, (0.02, 0.02, 0.02))


def test_stain_is_an_irregular_blob_on_the_surface(block):
    m = defect_mesh(_stain(), block)
    np.testing.assert_allclose(m.vertices[:, 2], 0.02 + SURFACE_OFFSET_M, atol=1e-12)
    r = np.linalg.norm(m.vertices[:, :2], axis=1)
    assert 0.4 * 0.004 <= r.max() <= 1.6 * 0.004 + 1e-9
    rim = r[-32:]  # the outer ring
    assert rim.std() > 0.02 * rim.mean()  # not a circle
    assert np.all(m.face_normals[:, 2] > 0.99)
    again = defect_mesh(_stain(), block)
    other = defect_mesh(_stain(direction=(0.0, 1.0, 0.0)), block)
    assert np.array_equal(m.vertices, again.vertices)  # a pure function of the parameters
    assert not np.allclose(np.sort(np.linalg.norm(other.vertices[-32:, :2], axis=1)),
                           np.sort(rim))


def test_crack_spans_its_length_and_branches(block):
    m = defect_mesh(_crack(), block)
    np.testing.assert_allclose(m.vertices[:, 2], 0.02 + SURFACE_OFFSET_M, atol=1e-12)
    ext = m.bounds[1] - m.bounds[0]
    assert ext[0] == pytest.approx(0.012, abs=0.5e-3)  # along direction = +x
    assert ext[1] > 0.3e-3  # it zig-zags / branches sideways
    assert m.body_count >= 2 or len(m.faces) > 2 * 30  # a main line and side branches
    assert np.all(m.face_normals[:, 2] > 0.99)


def test_stain_and_crack_masks_are_where_the_image_changed():
    from dataclasses import replace

    import cv2

    from synthgap.generators.gl.renderer import Renderer
    from tests.generators._render_helpers import camera

    ms = meshes()
    with Renderer(96, 72) as r:
        base = params(cam=camera(96, 72, eye=(0.0, 0.0, 0.2)))
        block_only = replace(base, parts=base.parts[:1], distractors=())
        clean = r.render(block_only, ms)
        # (a line thinner than a pixel misses pixel centres in the exact, un-antialiased
        # segmentation pass while still tinting the anti-aliased colour: test a resolved one)
        for d in (_stain(), _crack(width_mm=2.0)):
            inst = replace(block_only.parts[0], pose=block_only.parts[0].pose, defects=(d,))
            res = r.render(replace(block_only, parts=(inst,)), ms)
            mask = res.defect_mask == 1
            changed = np.abs(res.rgb.astype(int) - clean.rgb.astype(int)).max(axis=2) > 8
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            assert mask.sum() > 5, d.type
            assert not (changed & ~grown).any(), d.type  # nothing changed outside it
            assert changed[mask].mean() > 0.8, d.type  # and it shows
