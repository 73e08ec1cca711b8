"""Plane, resting poses, ranges and drawn positions on synthetic photos with known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from synthgap.generators.parts.assets import load_parts
from synthgap.generators.sampling.sample import sample
from synthgap.scenefit.fit import fit_layout
from synthgap.scenefit.geometry import photo_geometry
from synthgap.scenefit.observations import part_names
from synthgap.scenefit.ranges import circular_range, cluster_directions, count_dist, widened_range
from synthgap.scenefit.writer import fitted_mapping, fitted_yaml
from synthgap.scenes import load_scene, parse_scene, scene_to_yaml
from tests.scenefit.synthetic import SPEC, synthetic


def test_plane_matches_the_known_plane(tmp_path):
    _, obs, shapes, cams = synthetic(6, tmp_path)
    for o, cam in zip(obs, cams, strict=True):
        g = photo_geometry(o, shapes)
        n_world = cam[:3, :3] @ g.plane.normal  # the plane normal in the true world frame
        assert math.degrees(math.acos(min(1.0, n_world[2]))) < 1.0
        # the true plane z = 0 in camera coordinates: n . x = offset for the world origin
        origin_cam = np.linalg.inv(cam)[:3, 3]
        assert abs(float(g.plane.normal @ origin_cam) - g.plane.offset) < 2e-3
        assert g.plane.touching.all()
        assert max(p.height for p in g.parts) < 2e-3


def test_plane_ignores_a_part_lifted_off_it(tmp_path):
    _, obs, shapes, cams = synthetic(1, tmp_path)
    o = obs[0]
    lifted = o.parts[0].pose.copy()
    lifted[:3, 3] += np.linalg.inv(cams[0])[:3, 2] * 0.05  # 5 cm up along world z
    parts = (type(o.parts[0])(part=o.parts[0].part, pose=lifted), *o.parts[1:])
    g = photo_geometry(type(o)(photo=o.photo, K=o.K, parts=parts, name="x"), shapes)
    assert not g.plane.touching[0] and g.plane.touching[1:].all()
    assert abs(g.parts[0].height - 0.05) < 3e-3


def test_rest_pose_clusters():
    rng = np.random.default_rng(0)
    a, b = np.array([0, 0, 1.0]), np.array([1.0, 0, 0])
    u = np.concatenate([a + 0.03 * rng.normal(size=(7, 3)), b + 0.03 * rng.normal(size=(3, 3))])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    means, labels = cluster_directions(u)
    assert len(means) == 2 and np.bincount(labels).tolist() == [7, 3]
    assert means[0] @ a > 0.99 and means[1] @ b > 0.99


def test_ranges_cover_the_observed_values():
    assert widened_range([1.0, 2.0], widen=0.1) == pytest.approx((0.9, 2.1))
    assert widened_range([1.0, 1.0], pad=0.05) == pytest.approx((0.95, 1.05))
    lo, hi = circular_range([350.0, 10.0, 5.0], pad=2.0, widen=0.0)
    assert (lo, hi) == pytest.approx((-12.0, 12.0))
    assert circular_range(np.linspace(0, 350, 36)) == (0.0, 360.0)
    assert count_dist([1, 1, 1]) == 1
    assert count_dist([1, 0, 1]) == {"choice": [0, 1, 1]}


def _fitted_scene(tmp_path, n=8):
    template, obs, shapes, cams = synthetic(n, tmp_path)
    names = list(part_names(template))
    layout = fit_layout(obs, shapes, part_order=names)
    raw = yaml.safe_load(scene_to_yaml(template))
    data = fitted_mapping(raw, layout, names=names)
    text = fitted_yaml(data, layout, names=names, header=["test"])
    path = tmp_path / "fitted.yaml"
    path.write_text(text)
    return load_scene(path), layout, cams, text


def test_fitted_ranges_cover_the_photos(tmp_path):
    scene, layout, cams, _ = _fitted_scene(tmp_path)
    pose = scene.camera.pose
    for key in ("distance", "elevation", "roll"):
        lo, hi = getattr(pose, key).support()
        seen = layout.camera.observed[key]
        assert lo <= min(seen) and max(seen) <= hi, key
    # the true camera distances (to the world origin, near the parts) lie in the fitted range
    lo, hi = pose.distance.support()
    true = [float(np.linalg.norm(c[:3, 3])) for c in cams]
    assert lo - 0.05 <= min(true) and max(true) <= hi + 0.05
    assert {p.placement for p in scene.parts} == {"observed"}
    for p in scene.parts:
        assert p.rest_poses and p.yaw_deg.support()[1] > p.yaw_deg.support()[0]


def test_fitted_yaml_round_trips_and_is_commented(tmp_path):
    scene, _, _, text = _fitted_scene(tmp_path)
    assert "# observed" in text and "placement: observed" in text
    again = parse_scene(yaml.safe_load(scene_to_yaml(scene)), base_dir=tmp_path)
    assert again == scene


def test_positions_are_drawn_not_copied(tmp_path):
    scene, layout, _, text = _fitted_scene(tmp_path)
    lib = load_parts(scene)
    for i in range(25):
        p = sample(scene, lib, index=i, seed=3)
        xy = np.array([np.asarray(q.pose)[:2, 3] for q in p.parts])
        for photo in layout.positions:
            if len(photo) != len(xy):
                continue
            # every part of the render would have to sit within 5 mm of a photo's part
            d = np.linalg.norm(xy[:, None] - photo[None], axis=2).min(axis=1)
            assert d.max() > 5e-3
    for photo in layout.positions:  # no observed position is written into the file
        for x, y in photo:
            assert f"{x:.3f}, {y:.3f}" not in text


def test_observed_placement_rests_on_the_plane(tmp_path):
    spec = {**SPEC, "parts": [{"procedural": "l_bracket", "placement": "observed",
                               "rest_poses": [{"rotation_deg": [90, 0, 0], "weight": 3},
                                              {"rotation_deg": [0, 0, 0]}],
                               "yaw_deg": [10, 20]}]}
    scene = parse_scene(spec, base_dir=tmp_path)
    lib = load_parts(scene)
    mesh = next(iter(lib.values())).mesh
    for i in range(10):
        T = np.asarray(sample(scene, lib, index=i, seed=0).parts[0].pose)
        z = (mesh.vertices @ T[:3, :3].T + T[:3, 3])[:, 2]
        assert abs(z.min()) < 1e-9
        R0 = T[:3, :3]
        up = R0[2, :]  # object-frame direction of world +z: one of the two rest poses
        assert max(abs(up @ [0, 0, 1.0]), abs(up @ [0, -1.0, 0])) > 0.999 or \
            max(abs(up @ [0, 1.0, 0]), 0) > 0.999


@pytest.mark.parametrize(("part", "match"), [
    ({"procedural": "hex_nut", "placement": "observed"}, "list at least one"),
    ({"procedural": "hex_nut", "rest_poses": [{"rotation_deg": [0, 0, 0]}]},
     "rest_poses apply to placement: observed"),
    ({"procedural": "hex_nut", "placement": "random", "yaw_deg": [0, 10]},
     "yaw_deg applies to placement: stable or observed"),
    ({"procedural": "hex_nut", "placement": "observed",
      "rest_poses": [{"rotation_deg": [0, 0, 0], "weight": 0}]}, "greater than 0"),
])
def test_bad_observed_placement(tmp_path, part, match):
    from synthgap.scenes import SceneError

    with pytest.raises(SceneError, match=match):
        parse_scene({**SPEC, "parts": [part]}, base_dir=tmp_path)


def test_overlap_bounds(tmp_path):
    from synthgap.scenes import SceneError

    with pytest.raises(SceneError, match="overlap"):
        parse_scene({**SPEC, "overlap": 1.0}, base_dir=tmp_path)
