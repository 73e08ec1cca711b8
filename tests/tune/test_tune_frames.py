"""Views given in their camera frames (as BOP gives them) are put back on their support plane."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from synthgap.generators.parts.assets import load_parts
from synthgap.generators.real.views import pinned_camera_pose, pinned_part_pose
from synthgap.generators.sampling.sample import look_at_pose
from synthgap.scenes import parse_scene
from synthgap.tune import plane_world_scene


def _camera_frame_scene(root, elevation_deg: float, azimuth_deg: float, lift: float = 0.0):
    """Five parts resting at z = 0 (the last `lift` m above it), seen from `elevation_deg`,
    written BOP-style: camera pose identity, part poses camera-from-part."""
    photo = root / "p.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(photo)
    e, a = np.radians(elevation_deg), np.radians(azimuth_deg)
    eye = 0.4 * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    cam = look_at_pose(eye, np.zeros(3), np.array([0.0, 0.0, 1.0]))
    parts = [("flanged_washer", [0.05, 0.0, 0.0], 0.0), ("hex_nut", [-0.04, 0.03, 0.0], 30.0),
             ("hex_nut", [0.03, 0.06, 0.0], 80.0), ("flanged_washer", [-0.05, -0.04, 0.0], 0.0),
             ("l_bracket", [0.0, -0.05, 0.0], 70.0)]
    data = {"image": {"width": 64, "height": 48}, "camera": {"fov_deg": 40.0},
            "parts": [{"procedural": name} for name in dict.fromkeys(n for n, _, _ in parts)]}
    scene0 = parse_scene(data, base_dir=root)
    lib = load_parts(scene0)
    view_parts = []
    for i, (name, pos, yaw) in enumerate(parts):
        T = np.eye(4)
        c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
        T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
        low = float(np.min(np.asarray(lib[name].mesh.vertices)[:, 2]))
        T[:3, 3] = [pos[0], pos[1], -low + (lift if i == len(parts) - 1 else 0.0)]
        view_parts.append({"part": name, "pose": (np.linalg.inv(cam) @ T).tolist()})
    data["real_views"] = [{"photo": str(photo), "camera_pose": np.eye(4).tolist(),
                           "parts": view_parts}]
    centre = np.mean([[x, y, 0.0] for _, (x, y, _), _ in parts], axis=0)
    seen_from = np.degrees(np.arcsin(eye[2] / np.linalg.norm(eye - centre)))
    return parse_scene(data, base_dir=root), lib, seen_from


@pytest.mark.parametrize(("elevation", "azimuth"), [(30.0, 0.0), (60.0, 140.0), (80.0, 250.0)])
def test_plane_frame_recovers_camera_elevation_and_keeps_alignment(tmp_path, elevation, azimuth):
    scene, lib, seen_from = _camera_frame_scene(tmp_path, elevation, azimuth)
    world = plane_world_scene(scene, lib)
    # the camera's elevation above the plane, seen from the parts' centre
    assert world.camera_elevation_deg[0] == pytest.approx(seen_from, abs=0.2)
    assert abs(seen_from - elevation) < 3.0
    assert world.plane_rms_mm[0] < 0.5
    old, new = scene.real_views[0], world.scene.real_views[0]
    cam = pinned_camera_pose(new)
    for p_old, p_new in zip(old.parts, new.parts, strict=True):
        before = np.linalg.inv(pinned_camera_pose(old)) @ pinned_part_pose(p_old, 1.0)
        after = np.linalg.inv(cam) @ pinned_part_pose(p_new, 1.0)
        np.testing.assert_allclose(after, before, atol=1e-9)  # still pixel-aligned
        lowest = np.min(np.asarray(lib[p_new.part].mesh.vertices) @ pinned_part_pose(
            p_new, 1.0)[:3, :3].T[:, 2] + pinned_part_pose(p_new, 1.0)[2, 3])
        assert lowest == pytest.approx(0.0, abs=1e-4)
    # +x is the viewing direction along the plane
    assert cam[0, 2] > 0 and abs(cam[1, 2]) < 1e-9



def test_a_part_lying_on_another_does_not_tilt_the_plane(tmp_path):
    """The plane is scenefit's support plane (the one most parts rest on): a part raised
    6 cm (lying on something) is an outlier, not a point of a tilted plane."""
    from synthgap.scenefit.geometry import part_shape
    from synthgap.scenefit.plane import fit_support_plane

    scene, lib, seen_from = _camera_frame_scene(tmp_path, 45.0, 30.0, lift=0.06)
    world = plane_world_scene(scene, lib)
    assert world.camera_elevation_deg[0] == pytest.approx(seen_from, abs=0.5)
    assert world.plane_rms_mm[0] < 0.5
    # and it is the very plane `synthgap scene fit` finds
    parts = scene.real_views[0].parts
    shapes = {p.part: part_shape(lib[p.part].mesh) for p in parts}
    poses = [pinned_part_pose(p, 1.0) for p in parts]
    plane = fit_support_plane([shapes[p.part].hull @ T[:3, :3].T + T[:3, 3]
                               for p, T in zip(parts, poses, strict=True)],
                              [n for p, T in zip(parts, poses, strict=True)
                               for n in shapes[p.part].up_candidates @ T[:3, :3].T])
    cam = pinned_camera_pose(world.scene.real_views[0])
    np.testing.assert_allclose(np.linalg.inv(cam)[:3, 2], plane.normal, atol=1e-9)
