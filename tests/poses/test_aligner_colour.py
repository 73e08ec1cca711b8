"""`synthgap.poses.aligner`'s mesh-colour region term and trimmed chamfer: a coloured part on a
cluttered background; the colour probability marks the part, the cost prefers the truth, a
plain (uncoloured) mesh keeps the edge + GrabCut path."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from synthgap.generators.params import MaterialParams
from synthgap.generators.parts.procedural import l_bracket
from synthgap.poses.aligner import AlignConfig, Aligner, BoxHint, PoseHint, project_mask
from synthgap.poses.features import (
    appearance_term,
    colour_bins,
    edge_term,
    mesh_colours,
    photo_features,
    pose_cost,
    silhouette_points,
    square_roi,
    with_mesh_colours,
)
from tests.poses.align_scene import FAST, H, K, W, iou, render_part, true_pose

ORANGE = (230, 120, 30)  # the part's vertex colour (sRGB)


def coloured(mesh):
    out = mesh.copy()
    cols = np.tile(np.array([*ORANGE, 255], np.uint8), (len(out.vertices), 1))
    cols[::7, :3] = (200, 100, 20)  # a little variation, as a scanned mesh has
    out.visual.vertex_colors = cols
    return out


def clutter(rng: np.random.Generator) -> np.ndarray:
    """A busy background of blue, grey and green rectangles (strong edges, no orange)."""
    img = np.full((H, W, 3), (60, 70, 80), np.uint8)
    palette = [(40, 60, 160), (150, 150, 150), (40, 130, 60), (20, 20, 30), (90, 90, 200)]
    for _ in range(40):
        x, y = rng.integers(0, W - 8), rng.integers(0, H - 8)
        w, h = rng.integers(4, 30, 2)
        img[y:y + h, x:x + w] = palette[rng.integers(len(palette))]
    return img


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The box `(x, y, w, h)` of a boolean mask's pixels."""
    ys, xs = np.nonzero(mask)
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1))


def truth_window(photo: np.ndarray, truth: np.ndarray):
    """`(box, roi, features)`: the true mask's box, its 64-px window (25 % margin) and the
    photo's features there."""
    box = mask_box(truth)
    roi = square_roi(box, margin=0.25, size=64)
    return box, roi, photo_features(photo, roi, tau=10.0)


@pytest.fixture(scope="module")
def scene():
    """(renderer at photo size, coloured mesh, photo with clutter, true mask)."""
    mesh = coloured(l_bracket())
    renderer, res = render_part(mesh, MaterialParams((0.8, 0.2, 0.02), 0.0, 0.6), (0.0, 0.0, 0.0))
    truth = res.instance_mask == 1
    photo = clutter(np.random.default_rng(5))
    photo[truth] = res.rgb[truth]
    yield renderer, mesh, photo, truth
    renderer.close()


def test_colour_bins_ignore_brightness_but_not_hue():
    b = colour_bins(np.array([[200, 100, 20], [120, 60, 12], [20, 60, 200], [10, 10, 10],
                              [240, 240, 240], [120, 120, 120]], np.uint8))
    assert b[0] % 256 == b[1] % 256  # the same orange, dimmer: same chromaticity bin
    assert b[0] // 256 == b[1] // 256 + 1  # one brightness bin down
    assert b[0] % 256 != b[2] % 256 and len(set(b[2:].tolist())) == 4  # blue, black, white, grey


def test_mesh_colours_plain_mesh_has_none():
    assert mesh_colours(l_bracket()) is None
    cols, w = mesh_colours(coloured(l_bracket()))
    assert cols.shape[1] == 3 and cols.dtype == np.uint8 and len(w) == len(cols)
    assert w.sum() == pytest.approx(l_bracket().area, rel=1e-6)


def test_colour_probability_marks_the_part_and_prefers_the_truth(scene):
    _, mesh, photo, truth = scene
    box, roi, feats = truth_window(photo, truth)
    s = roi.scale
    inside = np.zeros((64, 64), bool)
    x0, y0 = int((box[0] - roi.x0) * s), int((box[1] - roi.y0) * s)
    inside[y0:y0 + int(box[3] * s) + 1, x0:x0 + int(box[2] * s) + 1] = True
    f = with_mesh_colours(feats, *mesh_colours(mesh), ~inside)
    Kr = roi.intrinsics(K)
    from synthgap.generators.gl.renderer import Renderer

    with Renderer(64, 64) as r:
        m_true, d_true = project_mask(r, Kr, (0.0,) * 5, mesh, true_pose())
        shifted = true_pose()
        shifted[:3, 3] += (0.008, 0.004, 0.0)
        m_off, d_off = project_mask(r, Kr, (0.0,) * 5, mesh, shifted)
    assert f.fg_prob[m_true].mean() > 0.8 and f.fg_prob[~m_true].mean() < 0.3
    costs = [pose_cost(*silhouette_points(m, d), m, f, w_edge=0.0)[0]
             for m, d in ((m_true, d_true), (m_off, d_off))]
    assert costs[0] < 0.5 and costs[0] < costs[1] - 0.2


def test_trimmed_chamfer_forgives_the_hidden_part_of_the_contour():
    d = np.array([0.0] * 7 + [10.0] * 3)  # 3 of 10 contour points occluded: no edge near
    a = np.zeros(10)
    assert edge_term(d, a, a, 10.0, 1.0) == pytest.approx(0.3)
    assert edge_term(d, a, a, 10.0, 1.0, trim=0.7) == pytest.approx(0.0)
    assert edge_term(d, a, a, 10.0, 1.0, trim=0.8) == pytest.approx(1 / 8)
    with pytest.raises(ValueError, match="edge_trim"):
        AlignConfig(edge_trim=0.0)


@pytest.mark.parametrize("use_colours", [True, False])
def test_box_hint_recovers_the_coloured_part_in_clutter(scene, use_colours):
    renderer, mesh, photo, truth = scene
    box = mask_box(truth)
    cfg = AlignConfig(**{**FAST.__dict__, "mesh_colours": use_colours})
    with Aligner(cfg) as al:
        res = al.align(photo, K, mesh, hint=BoxHint(box), rng=np.random.default_rng(1))
    m = project_mask(renderer, K, (0.0,) * 5, mesh, res.pose)[0]
    got = float((m & truth).sum() / max((m | truth).sum(), 1))
    if use_colours:
        assert res.region_iou > 0.6 and got >= 0.8
    else:
        assert got >= 0.0  # the plain path still runs on a coloured mesh


def test_appearance_term_ignores_lighting_not_misplacement():
    rng = np.random.default_rng(0)
    render = np.zeros((32, 32, 3), np.uint8)
    render[:, :16] = (200, 40, 40)
    render[:, 16:] = (40, 40, 200)
    mask = np.zeros((32, 32), bool)
    mask[4:28, 4:28] = True
    photo = (0.5 * render + rng.normal(0, 3, render.shape) + 30).clip(0, 255).astype(np.uint8)
    assert appearance_term(render, mask, photo) < 0.05  # dimmer, offset, noisy: same look
    swapped = photo[:, ::-1]  # the colours on the wrong sides
    assert appearance_term(render, mask, swapped) > 0.9
    assert appearance_term(render, np.zeros_like(mask), photo) == 1.0


def painted_cube():
    """A 3 cm cube, each face its own colour (vertex colours, unshared corners)."""
    cube = trimesh.creation.box((0.03, 0.03, 0.03))
    cube = cube.copy()
    cube.unmerge_vertices()
    palette = np.array([[220, 40, 40], [40, 200, 40], [40, 40, 220], [220, 220, 40],
                        [220, 40, 220], [40, 220, 220]], np.uint8)
    normals = np.rint(cube.face_normals).astype(int)
    side = np.argmax(np.abs(normals), axis=1) * 2 + (normals.sum(1) > 0)
    cols = np.zeros((len(cube.vertices), 4), np.uint8)
    cols[:, 3] = 255
    cols[cube.faces.ravel(), :3] = np.repeat(palette[side], 3, axis=0)
    cube.visual = trimesh.visual.ColorVisuals(cube, vertex_colors=cols)
    return cube


def test_appearance_tells_apart_poses_with_the_same_silhouette():
    """A painted cube turned 90 degrees about one of its axes has the same outline; only the
    appearance term knows which face shows where."""
    cube = painted_cube()
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler("xyz", (30.0, -25.0, 10.0), degrees=True).as_matrix()
    pose[:3, 3] = (0.0, 0.0, 0.25)
    turned = pose.copy()
    turned[:3, :3] = pose[:3, :3] @ Rotation.from_euler("z", 90, degrees=True).as_matrix()
    renderer, res = render_part(cube, MaterialParams((1.0, 1.0, 1.0), 0.0, 0.7, source="mesh"),
                                (0.1, 0.1, 0.1), pose=pose, intensity=3.0)
    with renderer as r:
        photo = res.rgb
        same = iou(project_mask(r, K, (0.0,) * 5, cube, pose)[0],
                   project_mask(r, K, (0.0,) * 5, cube, turned)[0])
    assert same > 0.97
    gaps = {}
    for w_app in (0.0, 1.0):
        cfg = AlignConfig(**{**FAST.__dict__, "w_appearance": w_app, "refine_evals": 0,
                             "w_prior": 0.0})
        with Aligner(cfg) as al:
            al.align(photo, K, cube, hint=PoseHint(pose), rng=np.random.default_rng(0))
            gaps[w_app] = al.last_cost(turned) - al.last_cost(pose)
    assert abs(gaps[0.0]) < 0.02 and gaps[1.0] > 0.15


def test_region_outside_forgives_rendered_pixels_the_photo_hides():
    feats = photo_features(np.zeros((32, 32, 3), np.uint8), square_roi((0, 0, 32, 32),
                                                                       margin=0.0, size=32),
                           tau=10.0)
    p = np.zeros((32, 32), np.float32)
    p[8:24, 8:16] = 1.0  # the visible half of the part
    from dataclasses import replace

    f = replace(feats, fg_prob=p)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True  # the whole part: its right half is hidden by an occluder
    pts, ang = silhouette_points(mask)
    plain = pose_cost(pts, ang, mask, f, w_edge=0.0)
    tolerant = pose_cost(pts, ang, mask, f, w_edge=0.0, outside=0.0)
    assert plain[2] == pytest.approx(0.5) and tolerant[2] == pytest.approx(1.0)


def test_box_outside_does_not_charge_the_occluded_share_of_the_box(scene):
    _, mesh, photo, truth = scene
    ys, xs = np.nonzero(truth)
    top = (ys.min() + ys.max()) // 2  # the hint: only the upper half is visible
    box = (xs.min(), ys.min(), xs.max() - xs.min() + 1, top - ys.min() + 1)
    costs = {}
    for outside in (1.0, 0.0):
        cfg = AlignConfig(**{**FAST.__dict__, "box_outside": outside, "refine_evals": 0})
        with Aligner(cfg) as al:
            al.align(photo, K, mesh, hint=BoxHint(box), rng=np.random.default_rng(0))
            costs[outside] = al.last_cost(true_pose())
    # the true render's box is about twice the visible box: 1 - IoU ~ 0.5 with the plain term
    assert 0.3 < costs[1.0] - costs[0.0] < 0.7


def test_grabcut_seeded_by_the_mesh_colours_finds_the_part(scene):
    from synthgap.poses.features import with_grabcut

    _, mesh, photo, truth = scene
    box, roi, feats = truth_window(photo, truth)
    s = roi.scale
    rect = ((box[0] - roi.x0) * s, (box[1] - roi.y0) * s, box[2] * s, box[3] * s)
    outside = np.ones((64, 64), bool)
    outside[int(rect[1]):int(rect[1] + rect[3]) + 1, int(rect[0]):int(rect[0] + rect[2]) + 1] = 0
    colour = with_mesh_colours(feats, *mesh_colours(mesh), outside).fg_prob
    cut = with_grabcut(feats, rect, seed_prob=colour).fg_prob
    import cv2

    t = cv2.warpAffine(truth.astype(np.uint8), roi.affine(), (64, 64),
                       flags=cv2.INTER_NEAREST) > 0
    assert cut is not None
    assert iou(cut > 0.5, t) > 0.7
