"""Sampling: pure, deterministic, in range, geometrically right (camera, resting poses)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import trimesh

from synthgap.generators.look.colour import temperature_to_rgb
from synthgap.generators.params import SampleParams
from synthgap.generators.parts.assets import load_parts
from synthgap.generators.sampling.sample import (
    look_at_pose,
    placement_area,
    sample,
    spherical_direction,
)
from synthgap.scenes import load_preset, parse_scene


@pytest.fixture(scope="module")
def bin_scene():
    s = load_preset("bin")
    return s, load_parts(s)


def scene_from(data, tmp_path="."):
    base = {"image": {"width": 64, "height": 48},
            "camera": {"intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5}},
            "parts": [{"procedural": "hex_nut", "class": "nut"}]}
    s = parse_scene(base | data, base_dir=tmp_path)
    return s, load_parts(s)


def project(K, world_from_cam, point):
    p = np.linalg.inv(np.asarray(world_from_cam)) @ np.r_[point, 1.0]
    return (K @ p[:3])[:2] / p[2], p[2]


def test_deterministic_and_order_independent(bin_scene):
    s, parts = bin_scene
    a = [sample(s, parts, index=i, seed=3) for i in range(6)]
    b = [sample(s, parts, index=i, seed=3) for i in reversed(range(6))][::-1]
    assert a == b
    assert a[0] != a[1]
    assert sample(s, parts, index=0, seed=4) != a[0]
    assert all(isinstance(p, SampleParams) and p.seed == 3 for p in a)
    assert [p.index for p in a] == list(range(6))


def test_params_are_json_able(bin_scene):
    s, parts = bin_scene
    d = sample(s, parts, index=2, seed=1).to_dict()
    text = json.dumps(d, allow_nan=False)  # TypeError on NumPy values, ValueError on NaN

    def plain(x):  # only JSON's own types (a NumPy float would pass json.dumps as a float)
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list | tuple):
            return all(plain(v) for v in x)
        return x is None or type(x) in (str, int, float, bool)

    assert plain(d)
    assert sample(s, parts, index=2, seed=1).to_dict() == d and json.loads(text) == json.loads(
        json.dumps(sample(s, parts, index=2, seed=1).to_dict()))
    assert set(d) >= {"camera", "parts", "lights", "background", "distractors", "sensor"}


def test_bad_arguments(bin_scene):
    s, parts = bin_scene
    with pytest.raises(ValueError, match="index and seed must be >= 0"):
        sample(s, parts, index=-1, seed=0)
    with pytest.raises(ValueError, match=r"no part for parts\[1\] \(flanged_washer\)"):
        sample(s, {"l_bracket": parts["l_bracket"]}, index=0, seed=0)


def test_look_at_pose_hand_checked():
    # camera on +x looking at the origin, world up = image up
    T = look_at_pose(np.array([2.0, 0, 0]), np.zeros(3), np.array([0, 0, 1.0]))
    np.testing.assert_allclose(T[:3, 2], [-1, 0, 0])   # +z forward, towards the target
    np.testing.assert_allclose(T[:3, 1], [0, 0, -1])   # +y down
    np.testing.assert_allclose(T[:3, 0], [0, 1, 0])    # +x right
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
    np.testing.assert_allclose(T[:3, 3], [2, 0, 0])
    # roll 90 degrees turns the camera's +x to where its +y was
    R = look_at_pose(np.array([2.0, 0, 0]), np.zeros(3), np.array([0, 0, 1.0]), 90.0)
    np.testing.assert_allclose(R[:3, 0], [0, 0, -1], atol=1e-12)
    with pytest.raises(ValueError, match="coincide"):
        look_at_pose(np.zeros(3), np.zeros(3), np.array([0, 0, 1.0]))
    with pytest.raises(ValueError, match="parallel"):
        look_at_pose(np.array([0, 0, 1.0]), np.zeros(3), np.array([0, 0, 1.0]))
    np.testing.assert_allclose(spherical_direction(90, 0), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(spherical_direction(0, 90), [0, 1, 0], atol=1e-12)


def test_camera_looks_at_the_target_and_world_up_is_image_up():
    s, parts = scene_from({"camera": {
        "intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5},
        "pose": {"look_at": [0.1, -0.05, 0.02], "distance": [0.3, 0.5], "elevation": [10, 90],
                 "azimuth": [0, 360]}}})
    for i in range(40):
        cam = sample(s, parts, index=i, seed=0).camera
        uv, depth = project(cam.K, cam.pose, np.array([0.1, -0.05, 0.02]))
        np.testing.assert_allclose(uv, [cam.cx, cam.cy], atol=1e-6)
        assert 0.3 - 1e-9 <= depth <= 0.5 + 1e-9
        # a point above the target appears above it in the image (smaller v)
        up_uv, _ = project(cam.K, cam.pose, np.array([0.1, -0.05, 0.03]))
        assert up_uv[1] < cam.cy or np.isclose(up_uv[1], cam.cy)
        position = np.asarray(cam.pose)[:3, 3]
        assert position[2] > 0.02  # above the plane


def test_camera_jitter_and_values_in_range():
    s, parts = scene_from({"camera": {
        "intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5},
        "pose": {"look_at_jitter": [-0.01, 0.01], "distance": 0.4, "elevation": [30, 60],
                 "azimuth": [0, 90], "roll": [-10, 10]}}})
    offsets = []
    for i in range(30):
        cam = sample(s, parts, index=i, seed=0).camera
        T = np.asarray(cam.pose)
        c = T[:3, 3]
        assert np.linalg.norm(c) == pytest.approx(0.4)
        elev = math.degrees(math.asin(c[2] / 0.4))
        azim = math.degrees(math.atan2(c[1], c[0]))
        assert 30 - 1e-6 <= elev <= 60 + 1e-6 and -1e-6 <= azim <= 90 + 1e-6
        uv, _ = project(cam.K, T, np.zeros(3))
        offsets.append(np.abs(uv - [cam.cx, cam.cy]).max())
    assert 0 < max(offsets) < 80 * 0.03 / 0.35 + 5  # jitter of 1 cm moves the aim a few pixels


def test_stable_parts_rest_on_the_plane(bin_scene):
    s, parts = bin_scene
    n_inst = 0
    for i in range(20):
        p = sample(s, parts, index=i, seed=7)
        for inst in p.parts:
            T = np.asarray(inst.pose)
            v = trimesh.transform_points(parts[inst.part].mesh.vertices, T)
            assert v[:, 2].min() == pytest.approx(0.0, abs=1e-9)
            np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
            n_inst += 1
    assert n_inst > 40


def test_instances_stay_in_the_area_and_do_not_overlap(bin_scene):
    s, parts = bin_scene
    ax, ay = placement_area(s)
    from shapely.geometry import MultiPoint

    for i in range(20):
        p = sample(s, parts, index=i, seed=1)
        footprints = []
        for inst in p.parts:
            asset = parts[inst.part]
            v = trimesh.transform_points(asset.mesh.convex_hull.vertices, np.asarray(inst.pose))
            c = 0.5 * (v[:, :2].min(0) + v[:, :2].max(0))
            r = asset.radius_xy
            assert abs(c[0]) <= ax / 2 + r and abs(c[1]) <= ay / 2 + r
            footprints.append(MultiPoint(v[:, :2]).convex_hull)
        for j, a in enumerate(footprints):
            for b in footprints[:j]:
                assert a.intersection(b).area < 1e-12


def test_counts_classes_and_materials_in_range(bin_scene):
    s, parts = bin_scene
    seen = set()
    for i in range(30):
        p = sample(s, parts, index=i, seed=2)
        by_class = {}
        for inst in p.parts:
            by_class[inst.category] = by_class.get(inst.category, 0) + 1
            entry = s.parts[parts[inst.part].entry]
            lo, hi = entry.material.roughness.support()
            assert lo <= inst.material.roughness <= hi
            assert 0.0 <= inst.material.metallic <= 1.0
            seen.add(inst.category)
        assert by_class.get("bracket", 0) <= 3 and by_class.get("nut", 0) <= 4
        assert len(p.distractors) <= 4
        for d in p.distractors:
            assert d.primitive in ("box", "cylinder", "sphere")
            T = np.asarray(d.pose)
            half_h = d.size[2] / 2 if d.primitive != "sphere" else d.size[0]
            assert T[2, 3] == pytest.approx(half_h)  # resting on the plane
        s_ = p.sensor
        assert 0 <= s_.noise <= 0.015 and 70 <= s_.jpeg_quality <= 95
        assert 0 <= s_.seed < 2**31 and isinstance(s_.seed, int)
        assert p.background.color in [(0.25, 0.3, 0.45), (0.2, 0.2, 0.2), (0.5, 0.45, 0.4)]
    assert seen == {"bracket", "washer", "nut"}


def test_defects_lie_on_the_surface_with_unit_normals(tmp_path):
    s, parts = scene_from({"parts": [{"procedural": "flanged_washer", "defects": [
        {"type": "scratch", "probability": 1.0, "count": [1, 3], "length_mm": [2, 5]},
        {"type": "dent", "probability": 0.0}]}]})
    mesh = parts["flanged_washer"].mesh
    total = 0
    for i in range(10):
        (inst,) = sample(s, parts, index=i, seed=0).parts
        assert 1 <= len(inst.defects) <= 3
        for d in inst.defects:
            assert d.type == "scratch" and 2 <= d.size["length_mm"] <= 5
            assert set(d.size) == {"length_mm", "width_mm"}
            n, t = np.array(d.normal), np.array(d.direction)
            assert np.linalg.norm(n) == pytest.approx(1) and np.linalg.norm(t) == pytest.approx(1)
            assert abs(n @ t) < 1e-9
            # on some triangle: in its plane, barycentric coordinates all >= 0
            tris, pos = mesh.triangles, np.array(d.position)
            plane = np.abs(np.einsum("ij,ij->i", mesh.face_normals, pos - tris[:, 0]))
            with np.errstate(divide="ignore", invalid="ignore"):  # sliver faces of the mesh
                bary = trimesh.triangles.points_to_barycentric(tris, np.repeat([pos], len(tris), 0))
            on = (plane < 1e-12) & (bary.min(axis=1) >= -1e-9)
            assert on.any()
            assert np.allclose(mesh.face_normals[on], n, atol=1e-9)
            assert d.color == (0.9, 0.9, 0.9)
            total += 1
    assert total >= 10


def test_random_and_fixed_placement():
    s, parts = scene_from({"parts": [
        {"procedural": "l_bracket", "placement": "random", "count": 2},
        {"procedural": "hex_nut", "placement": "fixed", "position": [0.01, 0.02, 0.03],
         "rotation_deg": [0, 0, 90]}], "area": [0.3, 0.3]})
    for i in range(5):
        p = sample(s, parts, index=i, seed=0)
        fixed = [q for q in p.parts if q.part == "hex_nut"]
        (nut,) = fixed
        T = np.asarray(nut.pose)
        np.testing.assert_allclose(T[:3, 3], [0.01, 0.02, 0.03])
        np.testing.assert_allclose(T[:3, 0], [0, 1, 0], atol=1e-12)
        for q in p.parts:
            if q.part == "l_bracket":
                v = trimesh.transform_points(parts["l_bracket"].mesh.vertices, np.asarray(q.pose))
                assert v[:, 2].min() == pytest.approx(0.0, abs=1e-9)


def test_crowded_area_leaves_instances_out():
    s, parts = scene_from({"parts": [{"procedural": "flanged_washer", "count": 20}],
                           "area": [0.03, 0.03]})
    p = sample(s, parts, index=0, seed=0)
    assert 1 <= len(p.parts) < 20  # 24 mm washers: only a few fit in 3 x 3 cm without overlap


def test_lights(tmp_path):
    s, parts = scene_from({"lights": [
        {"type": "ring", "intensity": 2, "radius": [0.03, 0.05], "ring_count": 6},
        {"type": "spot", "distance": 0.8, "elevation": 90, "azimuth": 0, "temperature_k": 2700,
         "inner_cone_deg": 10, "outer_cone_deg": 20},
        {"type": "directional", "color": [0.2, 0.4, 0.6], "elevation": 45, "azimuth": 180},
    ]})
    p = sample(s, parts, index=0, seed=0)
    ring, spot, sun = p.lights
    cam = np.asarray(p.camera.pose)
    np.testing.assert_allclose(np.asarray(ring.pose)[:3, 3], cam[:3, 3])
    np.testing.assert_allclose(-np.asarray(ring.pose)[:3, 2], cam[:3, 2])  # shines along view
    assert 0.03 <= ring.extra["radius"] <= 0.05 and ring.extra["count"] == 6
    assert ring.intensity == 2 and ring.temperature_k == 6500
    np.testing.assert_allclose(np.asarray(spot.pose)[:3, 3], [0, 0, 0.8], atol=1e-12)
    np.testing.assert_allclose(np.asarray(spot.pose)[:3, 2], [0, 0, 1], atol=1e-12)  # -z down
    assert spot.extra == {"inner_cone": pytest.approx(math.radians(10)),
                          "outer_cone": pytest.approx(math.radians(20))}
    assert spot.color == temperature_to_rgb(2700)
    assert sun.color == (0.2, 0.4, 0.6) and sun.temperature_k is None
    d = -np.asarray(sun.pose)[:3, 2]  # direction the light travels
    np.testing.assert_allclose(d, -spherical_direction(45, 180), atol=1e-12)


def test_background_images_and_crop(tmp_path):
    import cv2

    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), 128, np.uint8))
    s, parts = scene_from({"background": {"image_files": ["a.png", "b.png"], "crop": [0.5, 0.8],
                                          "plane": False}}, tmp_path)
    used = set()
    for i in range(20):
        bg = sample(s, parts, index=i, seed=0).background
        x0, y0, x1, y1 = bg.image_crop
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert 0.5 <= x1 - x0 <= 0.8 and x1 - x0 == pytest.approx(y1 - y0)
        assert bg.plane is False
        used.add(bg.image)
    assert used == {str(tmp_path / "a.png"), str(tmp_path / "b.png")}


def test_default_area_follows_the_camera():
    s, _ = scene_from({"camera": {"intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5},
                                  "pose": {"distance": [0.4, 0.8]}}})
    assert placement_area(s) == pytest.approx((0.5 * 0.4 * 64 / 80, 0.5 * 0.4 * 48 / 80))


def test_colour_temperature():
    w = temperature_to_rgb(6500)
    assert min(w) > 0.9 and max(w) == 1.0  # near white
    r, g, b = temperature_to_rgb(2700)
    assert r == 1.0 and r > g > b  # warm
    r, g, b = temperature_to_rgb(12000)
    assert b == 1.0 and b > g > r  # cold
    with pytest.raises(ValueError, match=r"must be in \[1000, 40000\] K, got 500"):
        temperature_to_rgb(500)
