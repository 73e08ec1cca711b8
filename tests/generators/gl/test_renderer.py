"""Renderer: layers, geometric invariants, projection against cv2.projectPoints, occlusion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from synthgap.generators.gl import renderer as renderer_mod
from synthgap.generators.gl.context import GLUnavailableError, open_offscreen
from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.params import PartInstanceParams, as_matrix4
from tests.generators._render_helpers import (
    GREY,
    box_distractor,
    camera,
    dent,
    meshes,
    params,
    scratch,
    translation,
)

W, H = 160, 120


@pytest.fixture(scope="module")
def rend():
    with Renderer(W, H) as r:
        yield r


@pytest.fixture(scope="module")
def ms():
    return meshes()


def test_layers_shapes_dtypes(rend, ms):
    res = rend.render(params(cam=camera(W, H)), ms)
    assert res.rgb.shape == (H, W, 3) and res.rgb.dtype == np.uint8
    assert res.depth.shape == (H, W) and res.depth.dtype == np.float32
    assert res.instance_mask.dtype == np.uint16 and res.defect_mask.dtype == np.uint16
    assert res.unoccluded_pixels.shape == (2,)
    assert set(np.unique(res.instance_mask)) == {0, 1, 2}
    assert rend.platform in ("egl", "osmesa")


def test_mask_pixels_have_finite_depth_and_background_has_none(rend, ms):
    res = rend.render(params(cam=camera(W, H), plane=False), ms)
    inst = res.instance_mask > 0
    assert np.all(np.isfinite(res.depth[inst])) and np.all(res.depth[inst] > 0)
    # Without a plane nothing else is drawn: no depth <=> no instance.
    np.testing.assert_array_equal(res.depth > 0, inst)
    # Parts sit 0.28-0.30 m in front of a camera 0.3 m above the table.
    assert 0.27 < res.depth[inst].min() and res.depth[inst].max() < 0.301


def test_known_pose_projects_where_expected(rend, ms):
    # The block (40 x 30 mm, top at z = 20 mm) centred under a camera 0.3 m up, f = 256 px.
    part = PartInstanceParams("block", "block", as_matrix4(np.eye(4)), GREY)
    cam = camera(W, H)
    res = rend.render(params(parts=[part], cam=cam, plane=False), ms)
    ys, xs = np.nonzero(res.instance_mask == 1)
    f, d = cam.fx, 0.3 - 0.02
    assert xs.max() - xs.min() + 1 == pytest.approx(f * 0.04 / d, abs=1.0)
    assert ys.max() - ys.min() + 1 == pytest.approx(f * 0.03 / d, abs=1.0)
    # Centred on the principal point (pixel centres at integers, OpenCV convention).
    assert xs.mean() == pytest.approx(cam.cx, abs=0.5)
    assert ys.mean() == pytest.approx(cam.cy, abs=0.5)


def _front_points(mesh, inst_pose, cam):
    pts_o, fi = trimesh.sample.sample_surface(mesh, 3000, seed=0)
    T = np.linalg.inv(np.asarray(cam.pose)) @ np.asarray(inst_pose)
    pts = pts_o @ T[:3, :3].T + T[:3, 3]
    nrm = mesh.face_normals[fi] @ T[:3, :3].T
    front = np.einsum("ij,ij->i", nrm, pts) < -0.05 * np.linalg.norm(pts, axis=1)
    return pts[front]


@pytest.mark.parametrize("dist", [(0.0,) * 5, (-0.25, 0.05, 0.002, -0.001, 0.0),
                                  (0.3, 0.0, 0.0, 0.0, 0.0)])
def test_vertices_project_into_mask_with_cv2(rend, ms, dist):
    # A wide lens and parts far from the centre, where distortion moves them by ~4 px.
    parts = [PartInstanceParams("block", "block", as_matrix4(translation(-0.14, 0.07, 0)), GREY),
             PartInstanceParams("washer", "washer", as_matrix4(translation(0.14, -0.07, 0)), GREY)]
    cam = camera(W, H, distortion=dist, f=100.0)
    res = rend.render(params(parts=parts, cam=cam), ms)
    for k, inst in enumerate(parts):
        pts = _front_points(ms[inst.part], inst.pose, cam)
        uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, np.asarray(dist))
        uv = np.rint(uv[:, 0, :]).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        assert inside.mean() > 0.9
        mask = (res.instance_mask == k + 1).astype(np.uint8)
        near = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        assert near[uv[inside, 1], uv[inside, 0]].all()
        assert mask[uv[inside, 1], uv[inside, 0]].mean() > 0.75
        if any(dist):  # ignoring the distortion must miss: the check can fail
            uv0, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, np.zeros(5))
            uv0 = np.rint(uv0[:, 0, :]).astype(int)
            ok = (uv0[:, 0] >= 0) & (uv0[:, 0] < W) & (uv0[:, 1] >= 0) & (uv0[:, 1] < H)
            assert near[uv0[ok, 1], uv0[ok, 0]].mean() < 0.95


def test_distorted_layers_agree(rend, ms):
    res = rend.render(params(cam=camera(W, H, distortion=(-0.25, 0.05, 0, 0, 0))), ms)
    inst = res.instance_mask > 0
    assert np.all(res.depth[inst] > 0)
    assert np.all(res.instance_mask[res.defect_mask > 0] > 0)


def test_occlusion_visible_fraction_denominator_is_exact(rend, ms):
    # A box hovering over the block hides part of it; the unoccluded count must equal the
    # block's pixel count when rendered with nothing in front.
    cover = box_distractor(translation(-0.035, 0.0, 0.06), size=(0.03, 0.05, 0.01))
    alone = rend.render(params(cam=camera(W, H)), ms)
    hidden = rend.render(params(cam=camera(W, H), distractors=[cover]), ms)
    vis_alone = int((alone.instance_mask == 1).sum())
    vis_hidden = int((hidden.instance_mask == 1).sum())
    assert vis_hidden < 0.8 * vis_alone
    assert hidden.extra_passes >= 1
    assert hidden.unoccluded_pixels[0] == vis_alone
    # Nothing overlaps the washer: its count needs no extra pass and is its visible count.
    assert hidden.unoccluded_pixels[1] == (hidden.instance_mask == 2).sum()


def test_no_overlap_needs_no_extra_pass(rend, ms):
    res = rend.render(params(cam=camera(W, H)), ms)
    assert res.extra_passes == 0
    np.testing.assert_array_equal(res.unoccluded_pixels,
                                  [(res.instance_mask == k).sum() for k in (1, 2)])


def test_defects_get_own_ids_inside_their_instance(rend, ms):
    # The 20 x 3 mm scratch at 0.28 m, f = 256 px: about 18 x 2.7 px.
    alone = rend.render(params(cam=camera(W, H), defects=[scratch()]), ms)
    assert 35 < (alone.defect_mask == 1).sum() < 65
    # A dent over the middle of the scratch: the later defect lies on top, deterministically.
    res = rend.render(params(cam=camera(W, H), defects=[scratch(), dent()]), ms)
    assert set(np.unique(res.defect_mask)) - {0} == {1, 2}
    assert np.all(res.instance_mask[res.defect_mask > 0] == 1)
    covered = (alone.defect_mask == 1) & (res.defect_mask == 2)
    assert covered.sum() > 5
    assert (res.defect_mask == 1).sum() == (alone.defect_mask == 1).sum() - covered.sum()


def test_deterministic_and_independent_of_previous_frames(rend, ms):
    p = params(cam=camera(W, H), defects=[scratch()],
               distractors=[box_distractor(translation(0.0, 0.04, 0.015))])
    a = rend.render(p, ms)
    rend.render(params(cam=camera(W, H, eye=(0.05, 0.0, 0.25)), plane=False), ms)
    b = rend.render(p, ms)
    for name in ("rgb", "depth", "instance_mask", "defect_mask", "unoccluded_pixels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_background_image_and_clear_colour(rend, ms, tmp_path):
    red = np.zeros((30, 40, 3), np.uint8)
    red[:, :, 2] = 255  # BGR on disk
    path = tmp_path / "bg.png"
    cv2.imwrite(str(path), red)
    res = rend.render(params(cam=camera(W, H), plane=False, image=str(path)), ms)
    # Away from anti-aliased part edges, the background is the image.
    bg = cv2.dilate((res.instance_mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    assert np.all(res.rgb[bg][:, 0] == 255) and np.all(res.rgb[bg][:, 1:] == 0)
    plain = rend.render(params(cam=camera(W, H), plane=False), ms)
    expect = np.round(np.array([0.2, 0.25, 0.3]) ** (1 / 2.2) * 255)
    np.testing.assert_allclose(plain.rgb[0, 0], expect, atol=1)


def test_bad_inputs_name_the_problem(rend, ms):
    with pytest.raises(ValueError, match="differs from the renderer"):
        rend.render(params(cam=camera(64, 48)), ms)
    with pytest.raises(ValueError, match="not among the meshes"):
        rend.render(params(cam=camera(W, H)), {"block": ms["block"]})
    with pytest.raises(ValueError, match="background.image"):
        rend.render(params(cam=camera(W, H), image="/nonexistent/bg.png"), ms)
    with pytest.raises(ValueError, match="width and height"):
        Renderer(0, 10)


def test_no_gl_platform_gives_actionable_error(monkeypatch):
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    tried = []

    def opener(platform, w, h):
        tried.append(platform)
        raise OSError(f"no {platform} here")

    with pytest.raises(GLUnavailableError, match="libegl1.*libosmesa6"):
        open_offscreen(8, 8, opener=opener)
    assert tried == ["egl", "osmesa"]


def test_fallback_uses_second_platform(monkeypatch):
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)

    def opener(platform, w, h):
        if platform == "egl":
            raise RuntimeError("eglInitialize failed")
        return renderer_mod, object()

    assert open_offscreen(8, 8, opener=opener)[2] == "osmesa"


def test_fast_readback_is_bit_identical_to_pyrender(rend, ms):
    p = params(cam=camera(W, H, distortion=(-0.1, 0.0, 0.0, 0.0, 0.0)), defects=[scratch()],
               distractors=[box_distractor(translation(-0.035, 0.0, 0.06), (0.03, 0.05, 0.01))])
    fast = rend.render(p, ms)
    with Renderer(W, H, fast_readback=False) as slow_r:
        slow = slow_r.render(p, ms)
    for name in ("rgb", "depth", "instance_mask", "defect_mask", "unoccluded_pixels"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)


def test_image_without_parts(rend, ms):
    res = rend.render(params(cam=camera(W, H), parts=[]), ms)
    assert res.unoccluded_pixels.shape == (0,) and not res.instance_mask.any()
    assert np.all(res.depth > 0)  # the plane fills the view
