"""Many lights (passes of 4 per type summed in linear light), dome/area lights, shadows."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import trimesh

from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.look.lighting import dome_directions, emitters, light_passes
from synthgap.generators.params import (
    BackgroundParams,
    LightParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
)
from synthgap.generators.sampling.sample import look_at_pose, spherical_direction
from tests.generators._render_helpers import GREY, camera, meshes

W, H = 120, 90
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
CAM = camera(W, H, eye=(0.0, 0.0001, 0.35), f=150)


@pytest.fixture(scope="module")
def rend():
    with Renderer(W, H) as r:
        yield r


def _light(type_="directional", intensity=1.0, *, el=40.0, az=0.0, dist=0.5, shadows=False,
           extra=None) -> LightParams:
    eye = dist * spherical_direction(el, az)
    pose = look_at_pose(eye, np.zeros(3), np.array([0.0, 0.0, 1.0])) @ _CV_TO_GL
    return LightParams(type=type_, color=(1.0, 1.0, 1.0), intensity=intensity,
                       pose=as_matrix4(pose), extra=extra or {}, shadows=shadows)


def _ring(count: int, intensity: float, radius: float = 0.05) -> LightParams:
    return LightParams(type="ring", color=(1.0, 1.0, 1.0), intensity=intensity,
                       pose=as_matrix4(np.asarray(CAM.pose) @ _CV_TO_GL),
                       extra={"count": float(count), "radius": radius})


def _params(lights, ambient=0.0) -> SampleParams:
    return SampleParams(index=0, seed=0, camera=CAM,
                        parts=(PartInstanceParams("block", "block", as_matrix4(np.eye(4)),
                                                  GREY),),
                        lights=tuple(lights),
                        background=BackgroundParams(color=(0.4, 0.4, 0.4),
                                                    ambient=(ambient,) * 3))


def test_every_light_is_packed_into_passes():
    ring = emitters([_ring(8, 8.0)])
    assert len(ring) == 8 and sum(e.intensity for e in ring) == pytest.approx(8.0)
    assert len(light_passes(ring)) == 1
    assert len(light_passes(ring, per_pass=4)) == 1  # 4 point + 4 as 180° spots
    assert len(light_passes(emitters([_ring(24, 1.0)]), per_pass=4)) == 3
    assert len(light_passes(emitters([_ring(24, 1.0)]))) == 1  # 16 point + 8 spots
    assert len(light_passes(emitters([_ring(40, 1.0)]))) == 2
    dome = emitters([LightParams("dome", (1, 1, 1), 2.0, as_matrix4(np.eye(4)),
                                 extra={"count": 16.0})])
    assert len(light_passes(dome)) == 1
    passes = light_passes(dome, per_pass=4)
    assert len(passes) == 4 and all(len(p) == 4 for p in passes)
    shadowed = light_passes(emitters([_light(shadows=True)] * 5))
    assert [len(p) for p in shadowed] == [4, 1]
    mixed = light_passes(emitters([_light(shadows=True), _light(), _light("point")]))
    assert len(mixed) == 2 and mixed[0][0].shadows and not mixed[1][0].shadows
    assert sum(len(p) for p in mixed) == 3
    area = emitters([_light("area", 3.0, extra={"nx": 4.0, "ny": 2.0, "width": 0.2,
                                                "height": 0.1, "outer_cone": 1.0})])
    xs = sorted({round(float(e.pose[0, 3]), 6) for e in area})
    assert len(area) == 8 and len(xs) >= 2
    assert len(light_passes([])) == 1


def test_dome_directions_cover_the_upper_hemisphere():
    d = dome_directions(64)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    assert d[:, 2].min() > 0.05 and d[:, 2].max() > 0.95
    assert abs(d[:, 0].mean()) < 0.1 and abs(d[:, 1].mean()) < 0.1


def test_bad_lights_name_the_field():
    with pytest.raises(ValueError, match=r"lights\[0\]\.shadows: .* not point"):
        emitters([_light("point", shadows=True)])
    with pytest.raises(ValueError, match=r"lights\[1\]\.intensity"):
        emitters([_light(), _light(intensity=-1.0)])


def _inside(mask: np.ndarray) -> np.ndarray:
    """Pixels off the silhouette edges: passes are summed after the MSAA resolve, so an
    anti-aliased edge pixel next to a saturated highlight may differ from a one-pass draw."""
    edge = cv2.dilate(mask, np.ones((3, 3), np.uint8)) != cv2.erode(mask, np.ones((3, 3),
                                                                                  np.uint8))
    return ~edge


def test_energy_adds_up_across_passes(rend):
    ms = meshes()
    one = rend.render(_params([_light(intensity=3.0)]), ms)
    inside = _inside(one.instance_mask)
    for n in (5, 20):  # one pass of 5; 16 + 4 in two passes
        many = rend.render(_params([_light(intensity=3.0 / n)] * n), ms)
        diff = np.abs(many.rgb.astype(int) - one.rgb.astype(int))[inside]
        assert diff.max() <= 3 and one.rgb.mean() > 40
    # shadowed lights: 4 per pass, so 5 of them take two passes
    one_s = rend.render(_params([_light(intensity=3.0, shadows=True)]), ms)
    five_s = rend.render(_params([_light(intensity=0.6, shadows=True)] * 5), ms)
    assert np.abs(five_s.rgb.astype(int) - one_s.rgb.astype(int))[inside].max() <= 3
    # a ring's lights at one spot (radius 0) shade as one point light of the whole intensity
    # (40 lights: 16 points + 16 as 180° spots in pass 1, 8 points in pass 2)
    ring = rend.render(_params([_ring(40, 0.3, radius=0.0)]), ms)
    point = LightParams("point", (1, 1, 1), 0.3, as_matrix4(np.asarray(CAM.pose) @ _CV_TO_GL))
    single = rend.render(_params([point]), ms)
    diff = np.abs(ring.rgb.astype(int) - single.rgb.astype(int))[inside]
    assert diff.max() <= 3 and single.rgb.mean() > 40
    eight = rend.render(_params([_ring(24, 0.3, radius=0.0)]), ms)  # one pass, exact
    assert np.abs(eight.rgb.astype(int) - single.rgb.astype(int)).max() <= 1


def test_ring_of_8_shows_8_highlights_not_4(rend):
    ball = trimesh.creation.icosphere(4, 0.06)
    polished = MaterialParams((0.9, 0.9, 0.9), 1.0, 0.08)
    counts = []
    for n in (4, 8, 16):
        p = replace(_params([_ring(n, 0.5, radius=0.6)]),
                    parts=(PartInstanceParams("ball", "ball", as_matrix4(np.eye(4)),
                                              polished),))
        res = rend.render(p, {"ball": ball})
        bright = ((res.rgb.min(axis=2) > 200) & (res.instance_mask == 1)).astype(np.uint8)
        counts.append(cv2.connectedComponents(bright)[0] - 1)
    assert counts == [4, 8, 16]


def test_shadow_is_darker_and_away_from_the_light(rend):
    ms = meshes()
    for type_, extra in (("directional", {}), ("spot", {"inner_cone": 0.3, "outer_cone": 0.8}),
                         ("area", {"nx": 2.0, "ny": 2.0, "width": 0.02, "height": 0.02,
                                   "inner_cone": 0.3, "outer_cone": 0.8})):
        intensity = 3.0 if type_ == "directional" else 0.3
        lit = [_light(type_, intensity, az=0.0, extra=extra)]  # light on the +x side
        off = rend.render(_params(lit, 0.05), ms)
        on_light = [_light(type_, intensity, az=0.0, extra=extra, shadows=True)]
        on = rend.render(_params(on_light, 0.05), ms)
        darker = (off.rgb.astype(int) - on.rgb.astype(int)).sum(axis=2) > 30
        darker &= off.instance_mask == 0  # on the plane
        _, xs = np.nonzero(darker)
        assert xs.size > 50, type_
        # image +x is world +x here; the block is centred in the image
        box_x = np.nonzero(off.instance_mask)[1]
        assert xs.mean() < box_x.min(), type_
        assert np.array_equal(off.instance_mask, on.instance_mask)


def test_many_lights_are_deterministic(rend):
    ms = meshes()
    p = _params([_ring(8, 0.3, radius=0.1), _light(shadows=True),
                 LightParams("dome", (1, 1, 1), 1.0, as_matrix4(np.eye(4)),
                             extra={"count": 6.0})], 0.02)
    a = rend.render(p, ms).rgb
    assert np.array_equal(a, rend.render(p, ms).rgb)
    assert math.isfinite(float(a.mean()))


def test_scene_file_dome_area_and_shadows(tmp_path):
    from synthgap.generators.parts.assets import load_parts
    from synthgap.generators.sampling.sample import sample
    from synthgap.scenes import SceneError, load_scene

    head = "camera: {fov_deg: 40}\nparts: [{procedural: hex_nut}]\n"
    (tmp_path / "s.yaml").write_text(
        head + "lights:\n  - {type: dome, intensity: 2, count: 12, azimuth: [0, 360]}\n"
        "  - {type: area, intensity: 1, size: [0.4, 0.05], count: 16, shadows: true}\n"
        "  - {type: directional, shadows: true}\n")
    scene = load_scene(tmp_path / "s.yaml")
    lights = sample(scene, load_parts(scene), index=0, seed=0).lights
    assert [light.type for light in lights] == ["dome", "area", "directional"]
    assert [light.shadows for light in lights] == [False, True, True]
    assert lights[0].extra["count"] == 12
    area = lights[1].extra
    assert area["nx"] * area["ny"] == 16 and area["nx"] > area["ny"]  # a bar: wide grid
    assert len(emitters(lights)) == 12 + 16 + 1
    (tmp_path / "bad.yaml").write_text(head + "lights: [{type: point, shadows: true}]\n")
    with pytest.raises(SceneError, match=r"shadows applies to directional and spot and dome "
                                         "and area lights, not point"):
        load_scene(tmp_path / "bad.yaml")


def test_environment_is_reflected_by_metal(rend):
    ball = {"ball": trimesh.creation.icosphere(4, 0.06)}

    def render(material, lights):
        p = replace(_params(lights), parts=(PartInstanceParams("ball", "ball", as_matrix4(
            np.eye(4)), material),))
        return rend.render(p, ball)

    env = LightParams("environment", (1.0, 1.0, 1.0), 0.8, as_matrix4(np.eye(4)))
    polished = MaterialParams((0.9, 0.9, 0.9), 1.0, 0.1)
    dark = render(polished, [])
    lit = render(polished, [env])
    inside = _inside(lit.instance_mask) & (lit.instance_mask == 1)
    assert dark.rgb[inside].mean() < 5  # metal without lights or environment: black
    assert lit.rgb[inside].mean() > 60
    # seen from above, the middle of the ball reflects the bright sky, its rim the dark floor
    ys, xs = np.nonzero(inside)
    r = np.hypot(ys - ys.mean(), xs - xs.mean())
    grey = lit.rgb[inside].mean(axis=1)
    assert grey[r < 0.3 * r.max()].mean() > grey[r > 0.85 * r.max()].mean() + 30
    assert np.array_equal(dark.instance_mask, lit.instance_mask)
    # with another light in a second pass, the environment is still counted once
    many = [env] + [_light(intensity=0.05)] * 20
    twice = render(polished, many)
    once = render(polished, [env, _light(intensity=1.0)])
    assert np.abs(twice.rgb.astype(int) - once.rgb.astype(int))[inside].max() <= 3
