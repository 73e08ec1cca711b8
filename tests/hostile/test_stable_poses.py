"""Stable poses: lazy (only `placement: stable` needs them), on a decimated hull, cached."""

import time

import numpy as np
import trimesh
import yaml

from synthgap.generators.parts import assets as parts_mod
from synthgap.generators.parts.assets import decimated_hull, load_parts, stable_poses
from synthgap.scenes import load_scene


def test_loading_parts_computes_no_stable_poses(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(parts_mod.trimesh.poses, "compute_stable_poses",
                        lambda *a, **k: calls.append(1))
    trimesh.creation.icosphere(subdivisions=3, radius=20).export(tmp_path / "ball.stl")
    scene = tmp_path / "s.yaml"
    scene.write_text(yaml.safe_dump({"camera": {"fov_deg": 40}, "parts": [
        {"mesh": "ball.stl", "units": "mm", "placement": "fixed"}]}))
    assert len(load_parts(load_scene(scene))) == 1
    assert calls == []  # validate/render of a fixed part never pays for them


def test_decimated_hull_is_small_and_inscribed():
    ball = trimesh.creation.icosphere(subdivisions=5, radius=0.02)  # 20k faces
    small = decimated_hull(ball, points=300)
    assert len(small.vertices) <= 300 and len(small.faces) <= 600
    assert small.is_convex and small.volume <= ball.convex_hull.volume * (1 + 1e-9)
    assert small.volume > 0.9 * ball.convex_hull.volume
    box = trimesh.creation.box((0.03, 0.02, 0.01))
    assert decimated_hull(box, points=300) is box.convex_hull or len(
        decimated_hull(box, points=300).vertices) == 8


def test_stable_poses_of_a_big_hull_are_fast_and_rest_on_the_plane():
    rng = np.random.default_rng(0)
    cyl = trimesh.creation.cylinder(radius=0.02, height=0.01, sections=4000)  # 16k faces
    cyl.vertices += rng.normal(0, 1e-7, cyl.vertices.shape)  # no exact symmetries
    t = time.process_time()
    poses, probs = stable_poses(cyl)
    assert time.process_time() - t < 20
    assert abs(probs.sum() - 1) < 1e-9 and probs[0] > 0.3  # lies on a flat face most often
    for T in poses[:2]:
        z = trimesh.transform_points(cyl.vertices, T)[:, 2]
        assert abs(z.min()) < 1e-12
        assert np.ptp(z) < 0.0101  # flat on a cap: its height is the cylinder's 1 cm
