"""Pinned views: camera/part pose forms, midpoint and sampled appearance (pure, no GL), and an
end-to-end check that `render_aligned_views` lands on the photo's object pixels."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from synthgap.data.layout import DatasetFileError
from synthgap.generators.params import (
    BackgroundParams,
    CameraParams,
    LightParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
)
from synthgap.generators.parts.assets import load_parts
from synthgap.generators.real.views import (
    pin_midpoints,
    pinned_camera_pose,
    render_aligned_views,
    sample_pinned,
)
from synthgap.scenes import LightConfig, MaterialConfig, load_scene
from tests.generators._render_helpers import look_at

W, H = 128, 96
K = np.array([[220.0, 0.0, 63.5], [0.0, 220.0, 47.5], [0.0, 0.0, 1.0]])
DIST = (-0.15, 0.05, 0.0, 0.0, 0.0)
EYE_A, EYE_B = (0.12, -0.15, 0.18), (-0.05, 0.16, 0.2)
TARGET = (0.0, 0.0, 0.01)


def part_pose(x_m: float, y_m: float, yaw_deg: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", (0.0, 0.0, yaw_deg), degrees=True).as_matrix()
    T[:3, 3] = (x_m, y_m, 0.0)
    return T


def base_scene(**extra) -> dict:
    return {
        "image": {"width": W, "height": H},
        "camera": {"intrinsics": {"fx": 220.0, "fy": 220.0, "cx": 63.5, "cy": 47.5},
                   "distortion": list(DIST)},
        "parts": [{"procedural": "l_bracket", "material": {
            "base_color": {"choice": [[0.6, 0.6, 0.62], [0.2, 0.2, 0.2]]},
            "metallic": [0.6, 1.0], "roughness": {"normal": [0.3, 0.1]}}}],
        "lights": [{"type": "directional", "intensity": [2.0, 6.0], "elevation": [30, 90]}],
        "background": {"color": [[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]]},
        "sensor": {"noise": [0.0, 0.02]},
        **extra,
    }


def write_scene(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "cell.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def blank_photo(path: Path, size=(W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((size[1], size[0], 3), np.uint8))
    return path


def rvec_tvec(world_from_camera: np.ndarray) -> tuple[list[float], list[float]]:
    cam_from_world = np.linalg.inv(world_from_camera)
    rvec, _ = cv2.Rodrigues(cam_from_world[:3, :3])
    return rvec.ravel().tolist(), cam_from_world[:3, 3].tolist()


# --------------------------------------------------------------------------- pure


def three_form_scene(tmp_path: Path) -> dict:
    """Three views of the same camera, one per pose form (rvec/tvec in millimetres)."""
    blank_photo(tmp_path / "p.png")
    pose = look_at(EYE_A, TARGET, up=(0.0, 0.0, 1.0))
    rvec, tvec = rvec_tvec(pose)
    part = [{"part": "l_bracket", "position": [0, 0, 0]}]
    return base_scene(real_views=[
        {"photo": "p.png", "camera_pose": pose.tolist(), "parts": part},
        {"photo": "p.png", "units": "mm", "rvec": rvec, "tvec": [1000 * t for t in tvec],
         "parts": part},
        {"photo": "p.png", "camera_look_at": {"eye": list(EYE_A), "look_at": list(TARGET)},
         "parts": part},
    ])


def test_camera_pose_forms_agree(tmp_path):
    scene = load_scene(write_scene(tmp_path, three_form_scene(tmp_path)))
    poses = [pinned_camera_pose(v) for v in scene.real_views]
    expected = look_at(EYE_A, TARGET, up=(0.0, 0.0, 1.0))
    for p in poses:
        np.testing.assert_allclose(p, expected, atol=1e-9)


def test_rvec_tvec_projects_like_cv2(tmp_path):
    # Hand-checkable: a world point projects where cv2.projectPoints(rvec, tvec, K) says.
    rvec, tvec = [0.3, -0.2, 0.1], [0.01, -0.02, 0.25]
    blank_photo(tmp_path / "p.png")
    scene = load_scene(write_scene(tmp_path, base_scene(real_views=[
        {"photo": "p.png", "rvec": rvec, "tvec": tvec,
         "parts": [{"part": "l_bracket", "position": [0, 0, 0]}]}])))
    params = sample_pinned(scene, load_parts(scene), 0, seed=0)
    X = np.array([[0.01, 0.02, 0.005], [-0.02, 0.0, 0.03]])
    uv_cv, _ = cv2.projectPoints(X, np.array(rvec), np.array(tvec), K, np.zeros(5))
    cam_from_world = np.linalg.inv(np.asarray(params.camera.pose))
    pc = X @ cam_from_world[:3, :3].T + cam_from_world[:3, 3]
    uv = (pc @ params.camera.K.T)[:, :2] / pc[:, 2:]
    np.testing.assert_allclose(uv, uv_cv.reshape(-1, 2), atol=1e-9)


def test_part_pose_forms_and_units(tmp_path):
    blank_photo(tmp_path / "p.png")
    T = part_pose(0.005, -0.004, 30.0)
    cam = look_at(EYE_A, TARGET, up=(0.0, 0.0, 1.0)).tolist()
    T_mm = T.copy()
    T_mm[:3, 3] *= 1000
    cam_mm = np.asarray(cam)
    cam_mm[:3, 3] *= 1000
    scene = load_scene(write_scene(tmp_path, base_scene(real_views=[
        {"photo": "p.png", "camera_pose": cam,
         "parts": [{"part": "l_bracket", "pose": T.tolist()}]},
        {"photo": "p.png", "units": "mm", "camera_pose": cam_mm.tolist(),
         "parts": [{"part": "l_bracket", "position": [5, -4, 0], "rotation_deg": [0, 0, 30]}]},
    ])))
    lib = load_parts(scene)
    a, b = (sample_pinned(scene, lib, i, seed=0) for i in (0, 1))
    np.testing.assert_allclose(a.parts[0].pose, T, atol=1e-12)
    np.testing.assert_allclose(b.parts[0].pose, T, atol=1e-12)
    np.testing.assert_allclose(a.camera.pose, b.camera.pose, atol=1e-12)
    assert a.parts[0].part == "l_bracket" and a.parts[0].category == "l_bracket"
    assert a.parts[0].defects == () and a.distractors == ()
    assert (a.camera.width, a.camera.height, a.camera.fx, a.camera.cx) == (W, H, 220.0, 63.5)
    assert a.camera.distortion == DIST


def test_midpoint_appearance_values(tmp_path):
    scene = load_scene(write_scene(tmp_path, three_form_scene(tmp_path)))
    p = sample_pinned(scene, load_parts(scene), 0, seed=5)
    m = p.parts[0].material
    assert m.base_color == (0.6, 0.6, 0.62)  # choice: the first option
    assert m.metallic == pytest.approx(0.8)  # range [0.6, 1.0]: its centre
    assert m.roughness == pytest.approx(0.3)  # normal: mu
    (light,) = p.lights
    assert light.intensity == pytest.approx(4.0)
    # elevation 60 deg (centre of [30, 90]), azimuth 180 (centre of [0, 360]): the light
    # shines along its -z axis, from (-cos 60, 0, sin 60) towards look_at.
    towards = -np.asarray(light.pose)[:3, 2]
    np.testing.assert_allclose(towards, [math.cos(math.pi / 3), 0.0, -math.sin(math.pi / 3)],
                               atol=1e-9)
    assert p.background.color == pytest.approx((0.2, 0.2, 0.2))
    assert p.sensor.noise == pytest.approx(0.01)
    assert p.index == 0 and p.seed == 5


def test_sample_pinned_is_deterministic_and_pure(tmp_path):
    data = three_form_scene(tmp_path)
    data["real_views"][0]["appearance"] = "sample"
    scene = load_scene(write_scene(tmp_path, data))
    lib = load_parts(scene)
    a = sample_pinned(scene, lib, 0, seed=3)
    assert a == sample_pinned(scene, lib, 0, seed=3)
    assert sample_pinned(scene, lib, 1, seed=3) == sample_pinned(scene, lib, 1, seed=3)
    others = [sample_pinned(scene, lib, 0, seed=s) for s in range(4, 8)]
    # sampled: differs between seeds, within the scene's ranges; geometry stays pinned
    assert len({o.parts[0].material.metallic for o in others}) == 4
    for o in [a, *others]:
        assert 0.6 <= o.parts[0].material.metallic <= 1.0
        assert 2.0 <= o.lights[0].intensity <= 6.0
        assert o.camera == a.camera and o.parts[0].pose == a.parts[0].pose
    # midpoint views do not depend on the seed except for the sensor noise seed
    m3, m4 = (sample_pinned(scene, lib, 1, seed=s) for s in (3, 4))
    assert m3.parts == m4.parts and m3.lights == m4.lights and m3.background == m4.background


def test_view_overrides(tmp_path):
    data = three_form_scene(tmp_path)
    data["real_views"][0].update({
        "lights": [{"type": "ring", "intensity": 1.5, "radius": 0.03}],
        "background": {"plane": False, "color": [0.9, 0.9, 0.9]},
    })
    data["real_views"][0]["parts"][0]["material"] = {"base_color": [0.1, 0.2, 0.3],
                                                     "metallic": 0.0, "roughness": [0.4, 0.6]}
    scene = load_scene(write_scene(tmp_path, data))
    p = sample_pinned(scene, load_parts(scene), 0, seed=0)
    assert [lt.type for lt in p.lights] == ["ring"] and p.lights[0].intensity == 1.5
    assert p.lights[0].pose == as_matrix4(np.asarray(p.camera.pose) @ np.diag([1, -1, -1, 1]))
    assert p.background.plane is False and p.background.color == (0.9, 0.9, 0.9)
    assert p.parts[0].material == MaterialParams((0.1, 0.2, 0.3), 0.0, pytest.approx(0.5))


def test_pin_midpoints_recurses_and_keeps_other_fields():
    light = LightConfig.model_validate({"type": "spot", "intensity": {"normal": [3, 1]},
                                        "temperature_k": [3000, 5000], "outer_cone_deg": 40})
    pinned = pin_midpoints(light)
    assert pinned.intensity.kind == "fixed" and pinned.intensity.values == (3.0,)
    assert pinned.temperature_k.values == (4000.0,)
    assert pinned.outer_cone_deg == 40 and pinned.type == "spot"
    mat = pin_midpoints(MaterialConfig.model_validate(
        {"base_color": {"gray": [0.2, 0.4]}, "metallic": {"choice": [0.9, 0.1]}}))
    assert mat.base_color.colors == (pytest.approx((0.3, 0.3, 0.3)),)
    assert mat.metallic.values == (0.9,)


def test_sample_pinned_bad_input(tmp_path):
    scene = load_scene(write_scene(tmp_path, three_form_scene(tmp_path)))
    lib = load_parts(scene)
    with pytest.raises(ValueError, match=r"view_index must be in \[0, 2\].*got 3"):
        sample_pinned(scene, lib, 3, seed=0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        sample_pinned(scene, lib, 0, seed=-1)
    with pytest.raises(ValueError, match=r"real_views\[0\].parts\[0\].part: 'l_bracket' is not "
                                         r"in the part library"):
        sample_pinned(scene, {}, 0, seed=0)
    bare = scene.model_copy(update={"real_views": ()})
    with pytest.raises(ValueError, match="the scene has no real_views"):
        sample_pinned(bare, lib, 0, seed=0)
    with pytest.raises(ValueError, match="the scene has no real_views"):
        render_aligned_views(bare)


# --------------------------------------------------------------------------- end to end (GL)


def fake_photo(path: Path, lib, camera_pose: np.ndarray, T: np.ndarray, rend) -> np.ndarray:
    """A stand-in "real photo": the known pose rendered in other colours, lights and a
    different background, plus noise. Returns the photo's object mask."""
    cam = CameraParams(width=W, height=H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                       distortion=DIST, pose=as_matrix4(camera_pose))
    params = SampleParams(
        index=0, seed=0, camera=cam,
        parts=(PartInstanceParams("l_bracket", "l_bracket", as_matrix4(T),
                                  MaterialParams((0.8, 0.5, 0.2), 0.2, 0.7)),),
        lights=(LightParams("point", (1.0, 0.9, 0.8), 0.6, as_matrix4(look_at((0.1, 0.1, 0.4)))),),
        background=BackgroundParams((0.45, 0.4, 0.35), ambient=(0.2, 0.2, 0.2)))
    res = rend.render(params, {k: a.mesh for k, a in lib.items()})
    rng = np.random.default_rng(0)
    noisy = np.clip(res.rgb + rng.normal(0, 6, res.rgb.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR))
    return res.instance_mask > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def rend():
    from synthgap.generators.gl.renderer import Renderer

    with Renderer(W, H) as r:
        yield r


def test_aligned_render_lands_on_the_photos_object_pixels(tmp_path, rend):
    lib = load_parts(load_scene(write_scene(tmp_path, base_scene())))
    cam_a = look_at(EYE_A, TARGET, up=(0.0, 0.0, 1.0))
    cam_b = look_at(EYE_B, TARGET, up=(0.0, 0.0, 1.0))
    T_a, T_b = part_pose(0.005, -0.004, 30.0), part_pose(-0.006, 0.002, -70.0)
    mask_a = fake_photo(tmp_path / "photos" / "a.png", lib, cam_a, T_a, rend)
    mask_b = fake_photo(tmp_path / "photos" / "b.png", lib, cam_b, T_b, rend)
    assert 300 < mask_a.sum() < 0.5 * W * H and 300 < mask_b.sum() < 0.5 * W * H
    rvec, tvec = rvec_tvec(cam_a)
    cam_b_mm = cam_b.copy()
    cam_b_mm[:3, 3] *= 1000
    shifted = cam_a.copy()
    shifted[:3, 3] += cam_a[:3, 0] * 0.005  # 5 mm along the camera's x axis
    scene = load_scene(write_scene(tmp_path, base_scene(real_views=[
        {"photo": "photos/a.png", "rvec": rvec, "tvec": tvec,
         "parts": [{"part": "l_bracket", "pose": T_a.tolist()}]},
        {"photo": "photos/b.png", "units": "mm", "camera_pose": cam_b_mm.tolist(),
         "parts": [{"part": "l_bracket", "position": [-6, 2, 0], "rotation_deg": [0, 0, -70]}]},
        {"photo": "photos/a.png", "camera_pose": shifted.tolist(),  # control: a wrong pose
         "parts": [{"part": "l_bracket", "pose": T_a.tolist()}]},
    ])))
    views = render_aligned_views(scene, seed=1, renderer=rend, parts=lib)
    assert [v.photo_path.name for v in views] == ["a.png", "b.png", "a.png"]
    for v in views:
        assert v.real.shape == v.render.shape == (H, W, 3)
        assert v.real.dtype == v.render.dtype == np.uint8
        assert v.instance_mask.shape == (H, W) and v.instance_mask.dtype == np.uint16
    photo_a = cv2.cvtColor(cv2.imread(str(tmp_path / "photos" / "a.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(views[0].real, photo_a)
    assert iou(views[0].instance_mask == 1, mask_a) > 0.98
    assert iou(views[1].instance_mask == 1, mask_b) > 0.98
    assert iou(views[2].instance_mask == 1, mask_a) < 0.9  # the check can fail
    # the appearance differs from the photo (that is what an adapter learns)
    obj = mask_a & (views[0].instance_mask == 1)
    assert np.abs(views[0].render[obj].astype(int) - photo_a[obj].astype(int)).mean() > 10
    # deterministic
    again = render_aligned_views(scene, seed=1, renderer=rend, parts=lib)
    for v, w in zip(views, again, strict=True):
        np.testing.assert_array_equal(v.render, w.render)
        np.testing.assert_array_equal(v.instance_mask, w.instance_mask)
        assert v.params == w.params


def test_bad_photos_at_render_time(tmp_path, rend):
    data = three_form_scene(tmp_path)
    scene = load_scene(write_scene(tmp_path, data))
    lib = load_parts(scene)
    (tmp_path / "p.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # corrupted after loading
    with pytest.raises(DatasetFileError, match=r"real_views\[0\].photo: .*p.png: not a readable "
                                               r"image"):
        render_aligned_views(scene, renderer=rend, parts=lib)
    blank_photo(tmp_path / "p.png", size=(W + 2, H))  # replaced by another size
    with pytest.raises(DatasetFileError, match=rf"real_views\[0\].photo: .*p.png is {W + 2}x{H} "
                                               rf"but the scene's image is {W}x{H}"):
        render_aligned_views(scene, renderer=rend, parts=lib)
    from synthgap.generators.gl.renderer import Renderer

    with pytest.raises(ValueError, match=rf"renderer is 64x48 but the scene's image is {W}x{H}"):
        render_aligned_views(scene, renderer=Renderer(64, 48), parts=lib)


def test_render_matches_opencv_projection_of_the_pinned_pose(tmp_path, rend):
    # Independent of the renderer's own conventions: every mesh vertex projected with
    # cv2.projectPoints (the view's rvec/tvec, the scene's K and distortion) falls on the
    # rendered silhouette (a lone part: its silhouette is the projection of all its points).
    blank_photo(tmp_path / "p.png")
    rvec, tvec = [2.8, 0.35, -0.2], [0.004, -0.006, 0.2]
    T = part_pose(0.003, 0.002, 20.0)
    scene = load_scene(write_scene(tmp_path, base_scene(real_views=[
        {"photo": "p.png", "rvec": rvec, "tvec": tvec,
         "parts": [{"part": "l_bracket", "pose": T.tolist()}]}])))
    lib = load_parts(scene)
    (view,) = render_aligned_views(scene, renderer=rend, parts=lib)
    v = lib["l_bracket"].mesh.vertices @ T[:3, :3].T + T[:3, 3]
    uv, _ = cv2.projectPoints(v, np.array(rvec), np.array(tvec), K, np.array(DIST))
    uv = np.rint(uv.reshape(-1, 2)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    assert inside.all()
    mask = cv2.dilate((view.instance_mask == 1).astype(np.uint8), np.ones((3, 3), np.uint8))
    assert mask[uv[:, 1], uv[:, 0]].mean() > 0.99
    assert (view.instance_mask == 1).sum() > 300
