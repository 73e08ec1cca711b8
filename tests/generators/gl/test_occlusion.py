"""Occlusion test: which instances need an unoccluded pass, and how they share passes."""

from __future__ import annotations

import numpy as np

from synthgap.generators.camera.distortion import render_view
from synthgap.generators.gl.occlusion import Bounds, screen_box, solo_groups, unit_cube_corners
from tests.generators._render_helpers import camera, look_at

VIEW = render_view(camera(160, 120))
CAM = look_at((0.0, 0.0, 0.3))  # looking straight down


def cube(iid, x, y, z=0.01, size=0.02):
    return Bounds(iid, unit_cube_corners() * size + [x, y, z])


def test_separate_parts_need_no_pass():
    assert solo_groups([cube(1, -0.05, 0), cube(2, 0.05, 0)], VIEW, CAM, plane=True) == []


def test_overlapping_parts_get_separate_passes():
    assert solo_groups([cube(1, 0.0, 0), cube(2, 0.01, 0)], VIEW, CAM, plane=True) == [[1], [2]]


def test_parts_hidden_by_one_distractor_share_a_pass():
    objs = [cube(1, -0.02, 0), cube(2, 0.02, 0), Bounds(0, unit_cube_corners() * [0.07, 0.01, 0.01] + [0, 0, 0.05])]
    assert solo_groups(objs, VIEW, CAM, plane=True) == [[1, 2]]


def test_plane_occludes_only_parts_below_it_or_a_camera_under_it():
    sunk = cube(1, 0.0, 0.0, z=0.0)  # half below z = 0
    assert solo_groups([sunk], VIEW, CAM, plane=True) == [[1]]
    assert solo_groups([sunk], VIEW, CAM, plane=False) == []
    below = look_at((0.0, 0.0, -0.3))
    assert solo_groups([cube(1, 0.0, 0.0)], VIEW, below, plane=True) == [[1]]


def test_points_behind_the_camera_give_an_unbounded_box():
    box = screen_box(np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.1]]), np.linalg.inv(CAM), VIEW)
    assert box[0] == -np.inf and box[3] == np.inf
    x0, y0, x1, y1 = screen_box(np.array([[0.0, 0.0, 0.0]]), np.linalg.inv(CAM), VIEW)
    # The world origin projects on the principal point (box grown by 1 px).
    assert (x0 + x1) / 2 == VIEW.cx and (y0 + y1) / 2 == VIEW.cy and x1 - x0 == 2
