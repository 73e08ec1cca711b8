"""Surface realism: normal maps of the finishes, xatlas UVs, environment maps from a photo."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import trimesh

from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.look.environment import (
    ENV_HEIGHT,
    ENV_WIDTH,
    direction_uv,
    environment_layers,
    environment_projection,
    load_environment,
    prefilter,
)
from synthgap.generators.look.textures import SURFACE_TEXTURES, normal_map, surface_texture
from synthgap.generators.look.uvs import atlas_tiled, atlas_uv
from synthgap.generators.params import (
    LightParams,
    MaterialParams,
    PartInstanceParams,
    as_matrix4,
)
from synthgap.scenes import SceneError, load_scene
from tests.generators._render_helpers import camera, look_at, params

W, H = 96, 72


# --------------------------------------------------------------------------- normal maps


def test_normal_map_of_a_ramp_and_of_a_flat_field():
    flat = normal_map(np.zeros((8, 8), np.float32), 1.0)
    assert flat.dtype == np.uint8 and flat.shape == (8, 8, 3)
    assert (flat == (128, 128, 255)).all()
    # h = 0.1 * column inside, slope 2: n = normalize(-0.2, 0, 1) away from the wrap
    ramp = np.tile(np.arange(16, dtype=np.float32) * 0.1, (16, 1))
    n = normal_map(ramp, 2.0)[:, 2:14].astype(float) / 127.5 - 1.0
    want = np.array([-0.2, 0.0, 1.0]) / np.hypot(0.2, 1.0)
    np.testing.assert_allclose(n, np.broadcast_to(want, n.shape), atol=0.01)


@pytest.mark.parametrize("kind", SURFACE_TEXTURES)
def test_finish_normal_maps(kind):
    maps = surface_texture(kind, 2)
    n = maps.normal.astype(float) / 127.5 - 1.0
    assert maps.normal.shape == (256, 256, 3) and maps.normal.dtype == np.uint8
    assert np.array_equal(maps.normal, surface_texture(kind, 2).normal)
    assert (n[:, :, 2] > 0.6).all()  # tilted by less than ~53 degrees, facing out
    assert np.percentile(n[:, :, 2], 1) > 0.75  # and mostly much less
    assert n[:, :, :2].std() > 0.01  # some relief
    if kind == "brushed":  # grooves along x: the normal tilts across them (y), not along
        assert n[:, :, 1].std() > 3 * n[:, :, 0].std()
    if kind == "machined":  # straight tool marks across x
        assert n[:, :, 0].std() > 3 * n[:, :, 1].std()


# --------------------------------------------------------------------------- xatlas


def test_xatlas_uvs_cover_the_faces_unchanged():
    mesh = trimesh.creation.icosphere(2, 0.02)
    atlas = atlas_uv(mesh)
    assert len(atlas.uv) == len(atlas.vmapping)  # one UV per (atlas) vertex
    assert atlas.uv.min() >= 0.0 and atlas.uv.max() <= 1.0
    np.testing.assert_array_equal(atlas.vmapping[atlas.faces], mesh.faces)
    out, uv = atlas_tiled(mesh, atlas, 0.01)
    np.testing.assert_allclose(out.vertices[out.faces], mesh.vertices[mesh.faces])
    np.testing.assert_allclose(out.vertex_normals, mesh.vertex_normals[atlas.vmapping])
    # 1 uv unit = tile metres: the UV area in repeats is the surface area / tile^2 (+-5 %)
    c = uv[out.faces]
    e1, e2 = c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()
    assert area == pytest.approx(mesh.area / 0.01 ** 2, rel=0.05)
    with pytest.raises(ValueError, match="texture_scale must be > 0"):
        atlas_tiled(mesh, atlas, 0.0)


def test_xatlas_failure_is_an_error_naming_the_fix(monkeypatch):
    import xatlas

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(xatlas, "parametrize", broken)
    with pytest.raises(ValueError, match=r"xatlas failed .*boom.*use uv: box"):
        atlas_uv(trimesh.creation.box([0.01, 0.01, 0.01]))
    with pytest.raises(ValueError, match="no faces"):
        atlas_uv(trimesh.Trimesh(np.zeros((3, 3)), np.zeros((0, 3), int)))


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def rend():
    with Renderer(W, H) as r:
        yield r


def _plate_scene(material):
    """A plate seen from -x and above: its top is lit by a sun from +x (elevation 40
    degrees), its -x side faces away from it (ambient light only)."""
    cam = camera(W, H, eye=(-0.09, -0.02, 0.1), target=(0.0, 0.0, 0.005))
    e = np.radians(40.0)
    sun = LightParams("directional", (1.0, 1.0, 1.0), 3.0, as_matrix4(
        look_at((np.cos(e), 0.0, np.sin(e)), up=(0.0, 0.0, 1.0)) @ np.diag([1, -1, -1, 1])))
    part = PartInstanceParams("plate", "plate", as_matrix4(np.eye(4)), material)
    return params(cam=cam, lights=(sun,), parts=(part,))


def _plate():
    plate = trimesh.creation.box([0.05, 0.05, 0.02])
    plate.apply_translation([0, 0, 0.01])
    return {"plate": plate}


def _faces(rend):
    """(lit, unlit) pixel masks of the plate, eroded off its edges, from a plain render."""
    plain = rend.render(_plate_scene(MaterialParams((0.8, 0.8, 0.8), 0.0, 0.5)), _plate())
    grey = plain.rgb.mean(axis=2)
    ambient = float(np.median(grey[(plain.instance_mask == 1) & (grey < 100)]))

    def region(m):
        return cv2.erode(m.astype(np.uint8), np.ones((5, 5))) > 0

    lit = region((plain.instance_mask == 1) & (grey > 150))
    unlit = region((plain.instance_mask == 1) & (np.abs(grey - ambient) < 1))
    assert lit.sum() > 500 and unlit.sum() > 300  # both faces in view
    return lit, unlit


@pytest.mark.parametrize("uv", ["box", "xatlas"])
def test_normal_map_changes_lit_shading_only(rend, uv):
    lit, unlit = _faces(rend)
    flat = MaterialParams((0.8, 0.8, 0.8), 0.0, 0.5, texture="cast", texture_scale=0.2,
                          texture_seed=1, uv=uv, normal_strength=0.0)
    a = rend.render(_plate_scene(flat), _plate())
    b = rend.render(_plate_scene(replace(flat, normal_strength=1.5)), _plate())
    assert np.array_equal(a.instance_mask, b.instance_mask)
    diff = np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max(axis=2)
    assert (diff[lit] > 2).mean() > 0.2  # the relief shows where light falls
    assert diff[unlit].max() <= 1  # no light, nothing to tilt towards
    away = cv2.dilate((a.instance_mask > 0).astype(np.uint8), np.ones((5, 5))) == 0
    assert diff[away].max() == 0  # background untouched
    # twice the strength, more change
    c = rend.render(_plate_scene(replace(flat, normal_strength=3.0)), _plate())
    assert np.abs(a.rgb.astype(int) - c.rgb.astype(int))[lit].mean() > diff[lit].mean()


def test_xatlas_texture_is_visible(rend):
    lit, _ = _faces(rend)
    plain = MaterialParams((0.7, 0.7, 0.7), 0.0, 0.6)
    a = rend.render(_plate_scene(plain), _plate())
    tex = replace(plain, texture="machined", texture_scale=0.05, texture_seed=3, uv="xatlas")
    b = rend.render(_plate_scene(tex), _plate())
    assert b.rgb[lit].std(axis=0).max() > a.rgb[lit].std(axis=0).max() + 3
    assert b.rgb[lit].mean() < a.rgb[lit].mean()  # the finish only darkens


# --------------------------------------------------------------------------- environment maps


def test_direction_uv_layout():
    d = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, -1.0], [-1.0, 0, 0]])
    uv = direction_uv(d)
    np.testing.assert_allclose(uv[:4], [[0.5, 0.5], [0.25, 0.5], [0.5, 0.0], [0.5, 1.0]],
                               atol=1e-9)
    assert uv[4, 0] in (0.0, 1.0) or uv[4, 0] == pytest.approx(1.0)


def test_prefilter_keeps_constants_and_blurs_edges():
    const = np.full((16, 32, 3), 0.25, np.float32)
    np.testing.assert_allclose(environment_layers(const), 0.25, atol=1e-5)
    half = np.zeros((16, 32, 3), np.float32)
    half[:, 8:24, 0] = 1.0  # the +x half of the sphere
    sharp, blurred = prefilter(half, 200.0), prefilter(half, 1.0)
    row = 8  # just below the horizon
    assert sharp[row, 12, 0] > 0.95 and sharp[row, 4, 0] < 0.05
    # the cosine lobe at angle b from the half-sphere's rim sees (1 + sin b) / 2 of it:
    # 1/2 on the rim, 0.85 at 45 degrees inside, 0.15 at 45 degrees outside
    assert blurred[row, 8, 0] == pytest.approx(0.5, abs=0.05)
    assert blurred[row, 12, 0] == pytest.approx(0.854, abs=0.05)
    assert blurred[row, 4, 0] == pytest.approx(0.146, abs=0.05)


def _write(path, img_rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR))
    return path


def test_ordinary_photo_on_the_upper_hemisphere(tmp_path):
    photo = np.zeros((30, 40, 3), np.uint8)
    photo[:15] = (255, 255, 255)  # white sky above, dark grey floor-ish below
    photo[15:] = (40, 40, 40)
    f = _write(tmp_path / "cell.png", photo)
    assert environment_projection(f) == "hemisphere"
    env = load_environment(f)
    assert env.shape == (ENV_HEIGHT, ENV_WIDTH, 3) and env.dtype == np.float32
    assert env[2].min() > 0.95  # near the zenith: the photo's top (white)
    lower = env[ENV_HEIGHT // 2:]
    assert np.ptp(lower) < 1e-6  # one floor colour: the mean of the photo's bottom tenth
    assert lower[0, 0, 0] == pytest.approx(((40 / 255 + 0.055) / 1.055) ** 2.4, rel=0.02)
    pano = _write(tmp_path / "pano.png", np.zeros((20, 40, 3), np.uint8))
    assert environment_projection(pano) == "equirectangular"


def _ball_scene(image, roughness):
    env = LightParams("environment", (1.0, 1.0, 1.0), 1.0, as_matrix4(np.eye(4)),
                      image=str(image), projection="equirectangular")
    ball = PartInstanceParams("ball", "ball", as_matrix4(np.eye(4)),
                              MaterialParams((0.95, 0.95, 0.95), 1.0, roughness))
    # seen from above, image columns along world +x
    return params(cam=camera(W, H, eye=(0.0, 0.0, 0.3)), lights=(env,), plane=False,
                  parts=(ball,))


def test_metal_reflects_the_environment_photo(rend, tmp_path):
    pano = np.zeros((32, 64, 3), np.uint8)
    pano[:, 16:48] = (255, 0, 0)  # red around +x (u = 0.5)
    pano[:, :16] = pano[:, 48:] = (0, 0, 255)  # blue around -x
    f = _write(tmp_path / "red_blue.png", pano)
    ball = {"ball": trimesh.creation.icosphere(4, 0.05)}
    shots = {r: rend.render(_ball_scene(f, r), ball) for r in (0.05, 0.6)}
    polished = shots[0.05]
    mask = cv2.erode((polished.instance_mask == 1).astype(np.uint8), np.ones((3, 3))) > 0
    cx = np.nonzero(mask)[1].mean()
    rgb = polished.rgb.astype(int)
    right = mask & (np.arange(W)[None, :] > cx + 4)
    left = mask & (np.arange(W)[None, :] < cx - 4)
    assert (rgb[right][:, 0] > rgb[right][:, 2] + 60).mean() > 0.95  # +x side: red
    assert (rgb[left][:, 2] > rgb[left][:, 0] + 60).mean() > 0.95  # -x side: blue
    # rough metal blurs the boundary: a wider band of mixed (purple) pixels down the middle
    def mixed(shot):
        c = shot.rgb[mask].astype(float)
        ratio = (c[:, 0] + 1) / (c[:, 2] + 1)
        return int(((ratio > 0.33) & (ratio < 3.0)).sum())
    assert mixed(shots[0.6]) > 3 * max(mixed(polished), 5)
    assert np.array_equal(polished.instance_mask, shots[0.6].instance_mask)


# --------------------------------------------------------------------------- scene files


def test_scene_file_fields(tmp_path):
    from synthgap.generators.parts.assets import load_parts
    from synthgap.generators.sampling.sample import sample

    _write(tmp_path / "pano.png", np.full((16, 32, 3), 128, np.uint8))
    (tmp_path / "s.yaml").write_text(
        "camera: {fov_deg: 40}\n"
        "parts: [{procedural: hex_nut, material: {texture: cast, uv: xatlas, "
        "normal_strength: [0.5, 2.0]}}]\n"
        "lights: [{type: environment, intensity: 0.5, image: pano.png}]\n")
    scene = load_scene(tmp_path / "s.yaml")
    assert scene.lights[0].image == (tmp_path / "pano.png").resolve()
    parts = load_parts(scene)
    p = sample(scene, parts, index=0, seed=1)
    m = p.parts[0].material
    assert m.uv == "xatlas" and 0.5 <= m.normal_strength <= 2.0
    light = p.lights[0]
    assert (light.image, light.projection) == (str((tmp_path / "pano.png").resolve()),
                                               "equirectangular")
    from synthgap.scenes import scene_to_yaml
    (tmp_path / "again.yaml").write_text(scene_to_yaml(scene))
    assert load_scene(tmp_path / "again.yaml") == scene


@pytest.mark.parametrize(("text", "match"), [
    ("parts: [{procedural: hex_nut, material: {normal_strength: 5}}]\n",
     r"normal_strength"),
    ("parts: [{procedural: hex_nut, material: {uv: xatlas}}]\n",
     r"uv apply to a procedural finish; set texture"),
    ("parts: [{procedural: hex_nut, material: {texture: cast, uv: atlas}}]\n", r"uv"),
    ("parts: [{procedural: hex_nut}]\nlights: [{type: environment, image: nowhere.png}]\n",
     r"lights\[0\]\.image: file not found"),
    ("parts: [{procedural: hex_nut}]\nlights: [{type: environment, image: bad.png}]\n",
     r"lights\[0\]\.image: not a readable image"),
    ("parts: [{procedural: hex_nut}]\nlights: [{type: spot, image: pano.png}]\n",
     r"image applies to environment lights, not spot"),
    ("parts: [{procedural: hex_nut}]\nlights: [{type: environment, projection: hemisphere}]\n",
     r"projection applies to an environment light with an image"),
    ("parts: [{procedural: hex_nut}]\nlights: [{type: environment, image: pano.png}, "
     "{type: environment}]\n", r"cannot be combined with other environment lights"),
])
def test_scene_file_errors(tmp_path, text, match):
    _write(tmp_path / "pano.png", np.full((16, 32, 3), 128, np.uint8))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "s.yaml").write_text("camera: {fov_deg: 40}\n" + text)
    with pytest.raises(SceneError, match=match):
        load_scene(tmp_path / "s.yaml")


def test_environment_photo_with_shadows_and_textures(rend, tmp_path):
    # textures and shadow maps are other samplers in the same program as the environment's
    f = _write(tmp_path / "sky.png", np.full((16, 32, 3), 200, np.uint8))
    mat = MaterialParams((0.8, 0.8, 0.8), 1.0, 0.3, texture="brushed", texture_scale=0.05,
                         texture_seed=0, normal_strength=1.0)
    p = _plate_scene(mat)
    sun = replace(p.lights[0], shadows=True)
    env = LightParams("environment", (1.0, 1.0, 1.0), 1.0, as_matrix4(np.eye(4)),
                      image=str(f), projection="equirectangular")
    without = rend.render(replace(p, lights=(sun,)), _plate())
    with_env = rend.render(replace(p, lights=(sun, env)), _plate())
    part = cv2.erode((without.instance_mask == 1).astype(np.uint8), np.ones((5, 5))) > 0
    assert with_env.rgb[part].mean() > without.rgb[part].mean() + 20  # metal reflects the sky


def test_float_environment_image_is_refused(tmp_path):
    """A float TIFF (e.g. with NaN) would black out every image: refused, naming the fix."""
    path = tmp_path / "env.tif"
    img = np.full((16, 32), 0.5, np.float32)  # one channel: PIL reads it as mode F
    img[3, 4] = np.nan
    assert cv2.imwrite(str(path), img)
    with pytest.raises(ValueError, match="8- or 16-bit"):
        load_environment(path)
    (tmp_path / "s.yaml").write_text(
        "image: {width: 64, height: 48}\n"
        "camera: {intrinsics: {fx: 60, fy: 60, cx: 32, cy: 24}}\n"
        "parts: [{procedural: hex_nut}]\n"
        "lights: [{type: environment, intensity: 0.5, image: env.tif}]\n")
    with pytest.raises(SceneError, match=r"lights\[0\]\.image.*8- or 16-bit"):
        load_scene(tmp_path / "s.yaml")


def test_resume_hash_covers_the_environment_image(tmp_path):
    from synthgap.generators.run.writer import scene_inputs_sha256

    env = tmp_path / "env.png"
    cv2.imwrite(str(env), np.full((16, 32, 3), 120, np.uint8))
    (tmp_path / "s.yaml").write_text(
        "image: {width: 64, height: 48}\n"
        "camera: {intrinsics: {fx: 60, fy: 60, cx: 32, cy: 24}}\n"
        "parts: [{procedural: hex_nut}]\n"
        "lights: [{type: environment, intensity: 0.5, image: env.png}]\n")
    before = scene_inputs_sha256(load_scene(tmp_path / "s.yaml"))
    cv2.imwrite(str(env), np.full((16, 32, 3), 200, np.uint8))
    assert scene_inputs_sha256(load_scene(tmp_path / "s.yaml")) != before
