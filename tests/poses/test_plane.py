"""`synthgap.poses.plane`: parts resting on one plane seen by a known camera; the plane comes
back from their poses, a part pushed off the plane snaps back onto it, a part that clearly
leans keeps its pose."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from synthgap.poses.aligner import project_mask
from synthgap.poses.plane import (
    PlaneConfig,
    SupportPlane,
    on_plane_pose,
    rest_model,
    snap_part,
    snap_to_plane,
    support_plane,
)
from tests.poses.align_scene import H, K, W, iou

# the table in the camera frame: seen from 45 degrees above, 0.3 m in front of the camera
NORMAL = np.array([0.0, -1.0, -1.0]) / np.sqrt(2.0)
OFFSET = float(NORMAL @ np.array([0.0, 0.05, 0.3]))
PLANE = SupportPlane(normal=NORMAL, offset=OFFSET, agree=np.zeros(0, bool))
CFG = PlaneConfig(yaw_steps=12, refine_evals=40, keep_margin=0.1)  # margin in 1 - IoU units


def _parts() -> list[trimesh.Trimesh]:
    """Two boxes of different proportions and a wedge: clear resting poses, 2-6 cm."""
    wedge = trimesh.creation.extrude_triangulation(
        np.array([[0.0, 0.0], [0.05, 0.0], [0.0, 0.03]]), np.array([[0, 1, 2]]), 0.02)
    return [trimesh.creation.box((0.06, 0.035, 0.015)),
            trimesh.creation.box((0.04, 0.025, 0.02)), wedge]


def _on_table(models, pixels, yaws) -> list[np.ndarray]:
    return [on_plane_pose(m, 0, y, PLANE, np.array(px, float), K)
            for m, px, y in zip(models, pixels, yaws, strict=True)]


PIXELS = [(50.0, 70.0), (110.0, 65.0), (80.0, 95.0)]
YAWS = [0.3, 1.2, 2.5]


def test_on_plane_pose_touches_the_plane_and_projects_to_the_pixel():
    models = [rest_model(m, CFG) for m in _parts()]
    for m, px, pose in zip(models, PIXELS, _on_table(models, PIXELS, YAWS), strict=True):
        verts = m.hull @ pose[:3, :3].T + pose[:3, 3]
        heights = verts @ NORMAL - OFFSET
        assert heights.min() == pytest.approx(0.0, abs=1e-9)  # touches, does not sink
        c = pose[:3, :3] @ m.centre + pose[:3, 3]
        assert (K @ c)[:2] / c[2] == pytest.approx(px, abs=1e-6)
        assert pose[:3, :3] @ m.up[0] == pytest.approx(NORMAL, abs=1e-9)


def test_support_plane_from_poses_ignores_the_tilted_part():
    models = [rest_model(m, CFG) for m in _parts()]
    poses = _on_table(models, PIXELS, YAWS)
    tilted = poses[1].copy()
    tilted[:3, :3] = Rotation.from_rotvec([0.0, 0.0, 0.6]).as_matrix() @ tilted[:3, :3]
    poses[1] = tilted
    plane = support_plane(poses, models, PlaneConfig(min_parts=2))
    assert plane is not None
    assert np.degrees(np.arccos(plane.normal @ NORMAL)) < 1.0
    assert plane.offset == pytest.approx(OFFSET, abs=1e-6)
    assert plane.agree.tolist() == [True, False, True]
    # three parts must agree by default: two do not make a plane
    assert support_plane(poses, models, PlaneConfig(min_parts=3)) is None


@pytest.fixture(scope="module")
def renderer():
    from synthgap.generators.gl.renderer import Renderer

    r = Renderer(W, H)
    yield r
    r.close()


def _mask_cost(renderer, mesh, true_pose):
    """A stand-in for align's image cost: 1 - IoU with the true silhouette."""
    target, _ = project_mask(renderer, K, (0.0,) * 5, mesh, true_pose)

    def cost(pose: np.ndarray) -> float:
        return 1.0 - iou(project_mask(renderer, K, (0.0,) * 5, mesh, pose)[0], target)

    return cost, target


def test_snap_part_puts_a_tilted_estimate_back_on_the_plane(renderer):
    meshes = _parts()
    models = [rest_model(m, CFG) for m in meshes]
    truth = _on_table(models, PIXELS, YAWS)
    cost, target = _mask_cost(renderer, meshes[0], truth[0])
    free = truth[0].copy()  # the estimate: tilted 25 degrees and 1 cm too far
    free[:3, :3] = Rotation.from_rotvec([0.44, 0.0, 0.0]).as_matrix() @ free[:3, :3]
    free[:3, 3] *= 1.0 + 0.01 / np.linalg.norm(free[:3, 3])
    choice = snap_part(cost, models[0], PLANE, K, free, cost(free), CFG)
    assert choice.snapped
    assert choice.cost < cost(free)
    got = project_mask(renderer, K, (0.0,) * 5, meshes[0], choice.pose)[0]
    assert iou(got, target) > 0.9
    assert max((choice.pose[:3, :3] @ u) @ NORMAL for u in models[0].up) > np.cos(
        np.radians(2.0))  # it rests on the plane in one of its resting poses


def test_snap_part_keeps_a_part_that_clearly_leans(renderer):
    meshes = _parts()
    models = [rest_model(m, CFG) for m in meshes]
    lean = _on_table(models, PIXELS, YAWS)[1]
    centre = lean[:3, :3] @ models[1].centre + lean[:3, 3]
    turn = Rotation.from_rotvec(np.array([0.7, 0.0, 0.0])).as_matrix()  # 40 degrees off
    lean[:3, :3] = turn @ lean[:3, :3]
    lean[:3, 3] = centre - lean[:3, :3] @ models[1].centre
    cost, _ = _mask_cost(renderer, meshes[1], lean)
    choice = snap_part(cost, models[1], PLANE, K, lean, cost(lean), CFG)
    assert not choice.snapped
    assert np.array_equal(choice.pose, lean)
    assert choice.plane_cost > choice.free_cost + CFG.keep_margin


def test_snap_to_plane_without_a_plane_keeps_every_pose():
    models = [rest_model(m, CFG) for m in _parts()[:2]]
    poses = _on_table(models, PIXELS[:2], YAWS[:2])
    plane, choices = snap_to_plane(K, models, poses, [0.5, 0.7],
                                   [lambda q: 0.0, lambda q: 0.0], CFG)
    assert plane is None  # two parts, three needed
    assert [c.snapped for c in choices] == [False, False]
    assert all(np.array_equal(c.pose, p) for c, p in zip(choices, poses, strict=True))


@pytest.mark.parametrize(("kwargs", "match"), [({"min_parts": 1}, "min_parts"),
                                               ({"angle_tol_deg": 95}, "angle_tol_deg"),
                                               ({"keep_margin": -1}, "keep_margin")])
def test_plane_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PlaneConfig(**kwargs)


def test_an_alternative_hypothesis_that_rests_lets_a_part_agree():
    models = [rest_model(m, CFG) for m in _parts()]
    poses = _on_table(models, PIXELS, YAWS)
    resting = poses[2]
    tilted = resting.copy()
    tilted[:3, :3] = Rotation.from_rotvec([0.5, 0.2, 0.0]).as_matrix() @ tilted[:3, :3]
    poses[2] = tilted
    cfg = PlaneConfig(min_parts=3)
    assert support_plane(poses, models, cfg) is None  # the wedge's estimate is tilted
    plane = support_plane(poses, models, cfg, alternatives=[[], [], [resting]])
    assert plane is not None and plane.agree.all()
    assert np.degrees(np.arccos(plane.normal @ NORMAL)) < 1.0
