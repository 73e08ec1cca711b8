"""Defect geometry: sizes, placement on the surface, normals, ids, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from synthgap.generators.defects import LAYER_STEP_M, SURFACE_OFFSET_M, defect_mesh, iter_defects
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
    (DefectParams("crack", (0, 0, 0.02), (0, 0, 1), (1, 0, 0), {}, (1, 1, 1)), "not known"),
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
