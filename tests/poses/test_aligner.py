"""`synthgap.poses.aligner`: a procedural part rendered at a known pose is the "photo"; align
recovers the pose from a perturbed pose hint and from its box; bad inputs give clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synthgap.generators.params import MaterialParams
from synthgap.generators.parts.procedural import l_bracket
from synthgap.poses.aligner import (
    AlignConfig,
    Aligner,
    BoxHint,
    PoseHint,
    contour_overlay,
    fibonacci_directions,
    project_mask,
)
from synthgap.poses.features import (
    edge_term,
    photo_features,
    silhouette_points,
    square_roi,
)
from tests.poses.align_scene import FAST, H, K, W, iou, render_part, true_pose


@pytest.fixture(scope="module")
def scene_photo():
    """(renderer at photo size, mesh, true pose, photo, true mask)."""
    mesh = l_bracket()
    renderer, res = render_part(mesh, MaterialParams((0.75, 0.6, 0.3), 0.2, 0.5),
                                (0.15, 0.2, 0.25))
    yield renderer, mesh, true_pose(), res.rgb, res.instance_mask == 1
    renderer.close()


def test_features_shapes_and_hand_checked_values():
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[10:30, 20:40] = 200  # a bright square: edges on its border
    roi = square_roi((20, 10, 20, 20), margin=0.5, size=32)
    assert roi.side == pytest.approx(40.0) and roi.scale == pytest.approx(0.8)
    Kr = roi.intrinsics(K)
    assert Kr[0, 0] == pytest.approx(0.8 * K[0, 0])
    assert Kr[0, 2] == pytest.approx((K[0, 2] - roi.x0) * 0.8)
    f = photo_features(photo, roi, tau=5.0)
    assert f.dist.shape == (32, 32) and f.dist.dtype == np.float32
    assert f.dist.max() <= 5.0 and f.edges.any()
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True  # the square's place in the ROI
    pts, ang = silhouette_points(mask)
    assert pts.shape[1] == 2 and len(pts) == len(ang) == 60  # the 16x16 square's border
    # on the matching contour the chamfer is small; shifted by 6 px it is large
    xi, yi = pts[:, 0].astype(int), pts[:, 1].astype(int)
    near = edge_term(f.dist[yi, xi], f.edge_angle[yi, xi], ang, 5.0, 1.0)
    far = edge_term(f.dist[yi, np.clip(xi + 6, 0, 31)], f.edge_angle[yi, np.clip(xi + 6, 0, 31)],
                    ang, 5.0, 1.0)
    assert near < 0.25 < far


def test_fibonacci_directions_unit_and_spread():
    d = fibonacci_directions(50)
    assert d.shape == (50, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    assert abs(d.mean(axis=0)).max() < 0.05


def test_pose_hint_recovers_the_pose(scene_photo):
    renderer, mesh, _, photo, truth = scene_photo
    hint = true_pose()
    hint[:3, :3] = Rotation.from_euler("xyz", (8.0, -6.0, 5.0), degrees=True).as_matrix() @ \
        hint[:3, :3]
    hint[:3, 3] += (0.006, -0.004, 0.01)
    start = iou(project_mask(renderer, K, (0.0,) * 5, mesh, hint)[0], truth)
    with Aligner(FAST) as al:
        res = al.align(photo, K, mesh, hint=PoseHint(hint), rng=np.random.default_rng(0))
    got = iou(project_mask(renderer, K, (0.0,) * 5, mesh, res.pose)[0], truth)
    assert got >= 0.8 and got > start
    assert res.renders > 0 and res.pose.shape == (4, 4)


def test_box_hint_recovers_the_pose_and_is_deterministic(scene_photo):
    renderer, mesh, _, photo, truth = scene_photo
    ys, xs = np.nonzero(truth)
    box = (xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min())
    with Aligner(FAST) as al:
        a = al.align(photo, K, mesh, hint=BoxHint(box), rng=np.random.default_rng(3))
        b = al.align(photo, K, mesh, hint=BoxHint(box), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.pose, b.pose)
    got = iou(project_mask(renderer, K, (0.0,) * 5, mesh, a.pose)[0], truth)
    assert got >= 0.8


def test_overlay_draws_the_contour(scene_photo):
    _, _, _, photo, truth = scene_photo
    out = contour_overlay(photo, truth, color=(255, 0, 0))
    assert out.shape == photo.shape and out.dtype == np.uint8
    changed = np.any(out != photo, axis=2)
    assert changed.any() and (out[changed] == [255, 0, 0]).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"roi_size": 8}, "roi_size"), ({"views": 0}, "views"),
    ({"top_k": 5, "rescore": 2}, "rescore"), ({"tau": 0}, "tau")])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlignConfig(**kwargs)


def test_bad_inputs_name_the_problem():
    mesh = l_bracket()
    photo = np.zeros((H, W, 3), np.uint8)
    al = Aligner(FAST)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"photo: expected an \(H, W, 3\) uint8"):
        al.align(photo[:, :, 0], K, mesh, hint=BoxHint((1, 1, 5, 5)), rng=rng)
    with pytest.raises(ValueError, match="K: expected a"):
        al.align(photo, np.eye(2), mesh, hint=BoxHint((1, 1, 5, 5)), rng=rng)
    with pytest.raises(ValueError, match="lies outside"):
        al.align(photo, K, mesh, hint=BoxHint((500, 10, 20, 20)), rng=rng)
    with pytest.raises(ValueError, match="w, h >= 2"):
        al.align(photo, K, mesh, hint=BoxHint((5, 10, 0, 20)), rng=rng)
    with pytest.raises(ValueError, match="no hint: give depth"):
        al.align(photo, K, mesh, hint=None, rng=rng)
    bad = np.eye(4)
    bad[:3, :3] *= 2
    with pytest.raises(ValueError, match="not a rotation"):
        al.align(photo, K, mesh, hint=PoseHint(bad), rng=rng)
    behind = np.eye(4)
    behind[2, 3] = -0.3
    with pytest.raises(ValueError, match="behind the camera"):
        al.align(photo, K, mesh, hint=PoseHint(behind), rng=rng)


def test_no_hint_sliding_search_finds_the_part(scene_photo):
    renderer, mesh, _, photo, truth = scene_photo
    cfg = AlignConfig(roi_size=64, views=60, inplane_steps=12, top_k=2, rescore=4,
                      refine_evals=60, depth_samples=2)
    with Aligner(cfg) as al:
        res = al.align(photo, K, mesh, hint=None, depth=(0.25, 0.35),
                       rng=np.random.default_rng(0))
    got = iou(project_mask(renderer, K, (0.0,) * 5, mesh, res.pose)[0], truth)
    assert got >= 0.6
