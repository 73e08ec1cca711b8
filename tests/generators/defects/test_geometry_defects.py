"""Geometry defects (chip, missing_hole, extra_hole): holes, cutters, booleans with provenance,
sampling, validation errors, and rendered masks that are exactly where the image changed."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import trimesh

from synthgap.generators.defects import geometry as gd
from synthgap.generators.defects.features import Hole, find_holes, sharp_edges
from synthgap.generators.defects.geometry import (
    apply_geometry_defects,
    cutter_mesh,
    geometry_defect_problem,
    removed_by,
    see_through,
)
from synthgap.generators.params import DefectParams
from synthgap.generators.parts.assets import PartError, load_parts
from synthgap.generators.parts.procedural import flanged_washer, hex_nut, l_bracket
from synthgap.generators.sampling.sample import sample
from synthgap.scenes import parse_scene
from tests.generators._render_helpers import camera, meshes, params


@pytest.fixture(scope="module")
def block():
    return meshes()["block"]  # 40 x 30 x 20 mm, z in [0, 20 mm], centred on x = y = 0


def chip(position=(0.02, 0.0, 0.02), normal=(0.7071, 0.0, 0.7071), radius_mm=3.0,
         direction=(0.3, 0.2, 0.1)) -> DefectParams:
    return DefectParams("chip", position, normal, direction, {"radius_mm": radius_mm}, None)


def extra_hole(position=(0.0, 0.005, 0.02), radius_mm=2.0, depth_mm=5.0) -> DefectParams:
    return DefectParams("extra_hole", position, (0.0, 0.0, 1.0), (1.0, 0.0, 0.0),
                        {"radius_mm": radius_mm, "depth_mm": depth_mm}, None)


def plug(hole: Hole) -> DefectParams:
    return DefectParams("missing_hole", hole.centre, hole.axis, (1.0, 0.0, 0.0),
                        {"radius_mm": hole.radius * 1e3, "length_mm": hole.length * 1e3}, None)


# --------------------------------------------------------------------------- holes


def test_find_holes_of_the_procedural_parts(block):
    (w,) = find_holes(flanged_washer())  # 8.4 mm bore, 4 mm tall, along z
    np.testing.assert_allclose(w.axis, [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(w.centre, [0, 0, 0.002], atol=1e-6)
    assert w.radius == pytest.approx(0.0042, rel=1e-3) and w.length == pytest.approx(0.004)
    b = find_holes(l_bracket())  # a 7 mm hole in each 3 mm leg: one along z, one along x
    assert sorted(tuple(np.abs(h.axis).round(6)) for h in b) == [(0, 0, 1), (1, 0, 0)]
    for h in b:
        assert h.radius == pytest.approx(0.0035, rel=1e-3)
        assert h.length == pytest.approx(0.003, rel=1e-3)
    (n,) = find_holes(hex_nut())
    assert n.radius == pytest.approx(0.003, rel=1e-3) and n.length == pytest.approx(0.005)
    assert find_holes(block) == ()


# --------------------------------------------------------------------------- cutters


def test_extra_hole_cutter_is_a_cylinder_along_the_inward_normal():
    c = cutter_mesh(extra_hole(position=(0.0, 0.0, 0.02), radius_mm=2.0, depth_mm=5.0))
    assert c.is_volume and c.is_convex
    assert c.bounds[0][2] == pytest.approx(0.015)  # 5 mm into the part
    assert c.bounds[1][2] > 0.02  # opens above the surface
    np.testing.assert_allclose(c.extents[:2], 0.004, rtol=1e-3)


def test_chip_blob_is_irregular_within_its_radius_and_a_pure_function_of_its_parameters():
    a = cutter_mesh(chip(radius_mm=2.0))
    r = np.linalg.norm(a.vertices - [0.02, 0.0, 0.02], axis=1)
    assert a.is_volume and r.max() <= 0.002 + 1e-12 and r.min() >= 0.55 * 0.002 - 1e-12
    assert r.std() > 0.05 * r.mean()  # not a sphere
    assert np.array_equal(cutter_mesh(chip(radius_mm=2.0)).vertices, a.vertices)
    other = cutter_mesh(chip(radius_mm=2.0, direction=(0.0, 1.0, 0.0)))
    assert abs(other.volume - a.volume) > 1e-3 * a.volume


# --------------------------------------------------------------------------- booleans


def _volume(dm: gd.DefectedMesh) -> float:
    return float(trimesh.Trimesh(dm.vertices, dm.faces).volume)


def test_extra_hole_removes_its_volume_and_keeps_provenance(block):
    dm = apply_geometry_defects(block, [extra_hole(radius_mm=2.0, depth_mm=5.0)])
    # a 48-sided prism of circumradius 2 mm, 5 mm deep
    hole = 0.5 * 48 * 0.002**2 * np.sin(2 * np.pi / 48) * 0.005
    assert block.volume - _volume(dm) == pytest.approx(hole, rel=1e-6)
    assert set(np.unique(dm.label)) == {-1, 0}
    # every original-surface triangle lies in the original triangle it names, facing its way
    orig = dm.label == -1
    tri = dm.vertices[dm.faces[orig]]
    src = dm.source[orig]
    n = block.face_normals[src]
    dist = np.einsum("ij,ikj->ik", n, tri - block.triangles[src][:, :1])
    assert np.abs(dist).max() < 1e-9
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.all(np.einsum("ij,ij->i", fn, n) > 0)
    for j in range(3):  # inside it, not only in its plane (colours/UVs are carried over)
        bary = trimesh.triangles.points_to_barycentric(block.triangles[src], tri[:, j])
        assert bary.min() > -1e-9
    assert np.all(dm.source[~orig] == -1)
    # the hole's faces: its wall (the 48-gon of circumradius 2 mm) and its bottom (5 mm down)
    made = dm.vertices[dm.faces[dm.label == 0]].reshape(-1, 3)
    r = np.linalg.norm(made[:, :2] - [0.0, 0.005], axis=1)
    wall = (r > 0.002 * np.cos(np.pi / 48) - 1e-9) & (r < 0.002 + 1e-9)
    assert np.all(wall | (np.abs(made[:, 2] - 0.015) < 1e-9))


def test_missing_hole_fills_the_bore_with_caps_exactly_its_opening():
    w = flanged_washer()
    (hole,) = find_holes(w)
    dm = apply_geometry_defects(w, [plug(hole)])
    bore = np.pi * hole.radius**2 * hole.length
    assert _volume(dm) - w.volume == pytest.approx(bore, rel=0.01)
    made = dm.vertices[dm.faces[dm.label == 0]].reshape(-1, 3)
    # the plug's visible faces are its two caps, flush with the washer's ends, inside the bore
    np.testing.assert_allclose(np.unique(np.round(made[:, 2], 9)), [1e-6, 0.004 - 1e-6],
                               atol=1e-9)  # 1 µm recessed: the caps are the opening exactly
    assert np.linalg.norm(made[:, :2], axis=1).max() <= hole.radius * (1 + 1e-6)


def test_chip_removes_material_at_the_edge(block):
    dm = apply_geometry_defects(block, [chip(radius_mm=2.0)])
    assert 0 < block.volume - _volume(dm) < (4 / 3) * np.pi * 0.002**3
    made = dm.vertices[dm.faces[dm.label == 0]].reshape(-1, 3)
    assert np.linalg.norm(made - [0.02, 0.0, 0.02], axis=1).max() <= 0.002 + 1e-9


def test_booleans_are_deterministic_and_cached(block):
    ds = [chip(), extra_hole()]
    a = apply_geometry_defects(block, ds)
    assert apply_geometry_defects(block, ds) is a
    gd._CACHE.clear()
    b = apply_geometry_defects(block, ds)
    assert b is not a
    for f in ("vertices", "faces", "label", "source"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert set(np.unique(a.label)) == {-1, 0, 1}


def test_removed_by_names_the_cutter_that_holds_the_point(block):
    dm = apply_geometry_defects(block, [chip(), extra_hole()])
    pts = np.array([[0.02, 0.0, 0.02], [0.0, 0.005, 0.019], [-0.015, 0.0, 0.02]])
    np.testing.assert_array_equal(removed_by(pts, dm), [0, 1, 1])  # the last: nearest cutter
    only_plug = apply_geometry_defects(flanged_washer(), [plug(find_holes(flanged_washer())[0])])
    assert removed_by(pts, only_plug).tolist() == [-1, -1, -1]  # a plug removes nothing


def test_see_through_labels_pixels_that_now_show_something_behind(block):
    # A camera 0.1 m above the block's top looking down; the hole is through (25 mm deep).
    dm = apply_geometry_defects(block, [extra_hole(position=(0.0, 0.0, 0.02), depth_mm=25.0)])
    K = (100.0, 100.0, 10.0, 10.0)
    cam_pose = np.diag([1.0, -1.0, -1.0, 1.0])
    cam_pose[:3, 3] = [0.0, 0.0, 0.12]
    ref_inst = np.ones((21, 21), np.uint16)
    ref_depth = np.full((21, 21), 0.1, np.float32)
    inst = ref_inst.copy()
    inst[10, 10] = 0  # the table seen through the hole at the centre
    depth = ref_depth.copy()
    depth[10, 10] = 0.12
    depth[0, 0] = 0.1 + 5e-5  # rounding-level change: not seen through
    mask = np.zeros((21, 21), np.uint16)
    mask[10, 11] = 9  # already labelled: kept
    n = see_through(mask, 1, [7], dm, inst_mask=inst, depth=depth, ref_instances=ref_inst,
                    ref_depth=ref_depth, K=K, cam_pose=cam_pose, pose=np.eye(4))
    assert n == 1 and mask[10, 10] == 7 and mask[10, 11] == 9 and mask[0, 0] == 0


# --------------------------------------------------------------------------- errors


def test_bad_inputs_fail_clearly(block):
    open_box = trimesh.Trimesh(block.vertices, block.faces[:-1])
    with pytest.raises(ValueError, match=r"not a closed.*repair the mesh.*surface defect"):
        apply_geometry_defects(open_box, [chip()])
    with pytest.raises(ValueError, match=r"changes nothing: its cutter misses the part"):
        apply_geometry_defects(block, [extra_hole(position=(0.5, 0.5, 0.5))])
    with pytest.raises(ValueError, match=r"size\['radius_mm'\] must be a positive"):
        apply_geometry_defects(block, [chip(radius_mm=-1.0)])
    with pytest.raises(ValueError, match=r"remove the whole part"):
        apply_geometry_defects(block, [chip(position=(0.0, 0.0, 0.01), radius_mm=100.0)])
    assert "not watertight" in geometry_defect_problem(open_box, "extra_hole")
    assert "has none" in geometry_defect_problem(block, "missing_hole")
    assert geometry_defect_problem(block, "chip") is None
    assert geometry_defect_problem(open_box, "scratch") is None  # surface patches: any mesh


def _scene(tmp_path, part: dict, defects: list):
    data = {"image": {"width": 64, "height": 48},
            "camera": {"intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5}},
            "parts": [part | {"defects": defects}]}
    return parse_scene(data, base_dir=tmp_path)


def test_scene_validation_names_part_defect_and_fix(tmp_path, block):
    block.export(tmp_path / "block.stl")
    s = _scene(tmp_path, {"mesh": "block.stl", "units": "m"},
               [{"type": "scratch"}, {"type": "missing_hole"}])
    with pytest.raises(PartError) as info:
        load_parts(s)
    (field, msg), = info.value.problems
    assert field == "parts[0].defects[1]"
    assert "'block'" in msg and "has none" in msg and "remove the defect" in msg
    trimesh.Trimesh(block.vertices, block.faces[:-2]).export(tmp_path / "open.stl")
    s = _scene(tmp_path, {"mesh": "open.stl", "units": "m"}, [{"type": "chip"}])
    with pytest.raises(PartError, match=r"parts\[0\]\.defects\[0\].*not watertight.*repair"):
        load_parts(s)


# --------------------------------------------------------------------------- sampling


def test_sampling_places_each_defect_and_is_deterministic(tmp_path):
    s = _scene(tmp_path, {"procedural": "l_bracket"}, [
        {"type": "chip", "probability": 1, "count": 2, "radius_mm": [1, 2]},
        {"type": "missing_hole", "probability": 1, "count": 5},
        {"type": "extra_hole", "probability": 1, "radius_mm": 1, "depth_mm": 2,
         "color": [0.9, 0.9, 0.9]}])
    parts = load_parts(s)
    p = sample(s, parts, index=3, seed=1)
    assert p == sample(s, parts, index=3, seed=1)
    ds = p.parts[0].defects
    assert [d.type for d in ds] == ["chip"] * 2 + ["missing_hole"] * 2 + ["extra_hole"]
    mesh = parts["l_bracket"].mesh
    edges, _ = sharp_edges(mesh)
    for d in ds[:2]:  # on a sharp convex edge, sized in range, drawn in the part's material
        a, b = edges[:, 0], edges[:, 1]
        t = np.clip(np.einsum("ij,ij->i", d.position - a, b - a)
                    / np.einsum("ij,ij->i", b - a, b - a), 0, 1)
        assert np.linalg.norm(a + t[:, None] * (b - a) - d.position, axis=1).min() < 1e-9
        assert 1 <= d.size["radius_mm"] <= 2 and d.color is None
    holes = find_holes(mesh)
    filled = sorted(tuple(np.round(d.position, 6)) for d in ds[2:4])
    assert filled == sorted(tuple(np.round(h.centre, 6)) for h in holes)  # each hole once
    assert ds[2].size["radius_mm"] == pytest.approx(3.5, rel=1e-3)
    assert ds[4].size == {"radius_mm": 1.0, "depth_mm": 2.0} and ds[4].color == (0.9, 0.9, 0.9)
    _, dist, _ = trimesh.proximity.closest_point(mesh, [ds[4].position])
    assert dist[0] < 1e-4  # trimesh's sample_surface point (within ~0.1 mm on hole walls)


# --------------------------------------------------------------------------- rendered masks

W, H = 160, 120


@pytest.fixture(scope="module")
def rend():
    from synthgap.generators.gl.renderer import Renderer

    with Renderer(W, H) as r:
        yield r


def _with_defects(base, k, defects):
    parts = list(base.parts)
    parts[k] = replace(parts[k], defects=tuple(defects))
    return replace(base, parts=tuple(parts))


def _holes_case():
    w = meshes()["washer"]
    return plug(find_holes(w)[0])


@pytest.mark.parametrize("name, k, defect", [
    ("chip", 0, chip()),
    ("extra_hole", 0, extra_hole(depth_mm=30.0)),  # drilled through: the table shows
    ("missing_hole", 1, _holes_case()),
])
def test_defect_mask_is_exactly_where_the_image_changed(rend, name, k, defect):
    """Rendered with and without the defect (no shadows, the defect-free rest identical):

    * the depth layer (from the exact, un-antialiased segmentation pass) changed exactly on
      the defect mask: no tolerance at all;
    * the colour is bit-identical beyond 1 px of the mask: the colour pass is 4x MSAA, so a
      pixel whose centre is outside the defect still blends the samples of the defect that
      cover part of it, and no further (the untouched surface is drawn with the normals it
      had, so its shading does not move);
    * every mask pixel shows a change in depth, and the mask has a single id.
    """
    ms = meshes()
    base = params(cam=camera(W, H, eye=(0.0, 0.0, 0.15)))
    clean = rend.render(base, ms)
    res = rend.render(_with_defects(base, k, [defect]), ms)
    mask = res.defect_mask > 0
    assert set(np.unique(res.defect_mask)) == {0, 1}
    assert mask.sum() > 10, name
    depth_changed = np.abs(res.depth - clean.depth) > 1e-6
    np.testing.assert_array_equal(mask, depth_changed, err_msg=name)
    diff = np.abs(res.rgb.astype(int) - clean.rgb.astype(int)).max(axis=2)
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert diff[~grown].max() == 0, name  # bit-identical beyond the 1-px border
    assert (diff[mask] > 8).mean() > 0.5, name  # and it shows in colour too
    if name == "extra_hole":  # seen through: the table, outside the instance
        assert (res.instance_mask[mask] == 0).any()
        assert np.all(res.instance_mask[~mask] == clean.instance_mask[~mask])


def test_several_geometry_defects_and_patches_keep_their_own_ids(rend):
    from tests.generators._render_helpers import dent

    ms = meshes()
    base = params(cam=camera(W, H, eye=(0.0, 0.0, 0.15)))
    ds = [chip(), dent(position=(-0.01, -0.005, 0.02)), extra_hole(depth_mm=30.0)]
    p = _with_defects(base, 0, ds)
    p = _with_defects(p, 1, [_holes_case()])
    a = rend.render(p, ms)
    assert set(np.unique(a.defect_mask)) == {0, 1, 2, 3, 4}
    assert np.all(a.instance_mask[a.defect_mask == 4] == 2)  # the plug is on the washer
    b = rend.render(p, ms)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.defect_mask, b.defect_mask)
    # each geometry defect's pixels are where it alone changes the depth (they do not overlap)
    clean = rend.render(base, ms)
    for did, kk, d in [(1, 0, ds[0]), (3, 0, ds[2]), (4, 1, p.parts[1].defects[0])]:
        alone = rend.render(_with_defects(base, kk, [d]), ms)
        changed = np.abs(alone.depth - clean.depth) > 1e-6
        np.testing.assert_array_equal(a.defect_mask == did, changed, err_msg=d.type)


@pytest.mark.parametrize("look", ["vertex_colours", "texture", "xatlas"])
def test_mask_is_where_the_image_changed_for_coloured_and_textured_parts(rend, look):
    """The untouched surface carries the drawn look over exactly (vertex colours, box UVs),
    so even a part with a colour gradient or a procedural finish changes only at the defect
    (± 1 px of MSAA)."""
    from synthgap.generators.params import MaterialParams

    ms = meshes()
    block = ms["block"].copy()
    if look == "vertex_colours":  # a colour gradient across the block (own appearance)
        t = (block.vertices[:, 0] - block.bounds[0][0]) / block.extents[0]
        rgba = np.column_stack([255 * t, 80 + 100 * t, 255 * (1 - t), np.full_like(t, 255)])
        block.visual = trimesh.visual.ColorVisuals(block, vertex_colors=rgba.astype(np.uint8))
        mat = MaterialParams((1.0, 1.0, 1.0), 0.0, 0.6, source="mesh")
    else:
        mat = MaterialParams((0.7, 0.7, 0.72), 0.8, 0.4, texture="brushed",
                             texture_scale=0.01, texture_seed=2,
                             uv="xatlas" if look == "xatlas" else "box")
    ms = {**ms, "block": block}
    base = params(cam=camera(W, H, eye=(0.0, 0.0, 0.15)))
    base = replace(base, parts=(replace(base.parts[0], material=mat), base.parts[1]))
    clean = rend.render(base, ms)
    res = rend.render(_with_defects(base, 0, [chip(), extra_hole(depth_mm=30.0)]), ms)
    mask = res.defect_mask > 0
    assert set(np.unique(res.defect_mask)) == {0, 1, 2}
    np.testing.assert_array_equal(mask, np.abs(res.depth - clean.depth) > 1e-6)
    diff = np.abs(res.rgb.astype(int) - clean.rgb.astype(int)).max(axis=2)
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # beyond the 1-px border: bit-identical with vertex colours; a texture lookup may round
    # differently by one level where the face was re-triangulated (the rasteriser's plane
    # equations of the same UVs over other triangles)
    assert diff[~grown].max() <= (0 if look == "vertex_colours" else 1)


def test_a_defect_inside_another_ones_removed_material_is_kept_without_faces(block):
    big = chip(radius_mm=4.0)
    small = chip(radius_mm=0.5)  # same centre: wholly inside the big chip's blob
    dm = apply_geometry_defects(block, [big, small])
    assert (dm.label == 0).any() and not (dm.label == 1).any()
    with pytest.raises(ValueError, match=r"defects\[0\] \(chip"):  # alone it must change it
        apply_geometry_defects(block, [chip(position=(0.5, 0.0, 0.0))])


def test_geometry_defect_mask_with_lens_distortion(rend):
    ms = meshes()
    base = params(cam=camera(W, H, eye=(0.0, 0.0, 0.15), distortion=(-0.25, 0.05, 0, 0, 0)))
    clean = rend.render(base, ms)
    res = rend.render(_with_defects(base, 0, [extra_hole(depth_mm=30.0), chip()]), ms)
    assert set(np.unique(res.defect_mask)) == {0, 1, 2}
    np.testing.assert_array_equal(res.defect_mask > 0, np.abs(res.depth - clean.depth) > 1e-6)


def test_chip_site_on_a_part_without_sharp_edges_is_on_its_surface():
    from synthgap.generators.defects.features import chip_site

    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.01)
    assert len(sharp_edges(ball)[0]) == 0
    p, n = chip_site(ball, rng=np.random.default_rng(0))
    assert np.linalg.norm(p) == pytest.approx(0.01, rel=0.02)
    assert n @ (p / np.linalg.norm(p)) > 0.9  # outward
    q, _ = chip_site(ball, rng=np.random.default_rng(0))
    assert np.array_equal(p, q)


def test_face_correspondence_maps_reordered_faces_and_rejects_other_meshes(block):
    from synthgap.generators.defects.geometry import face_correspondence

    shaded = block.smooth_shaded
    fmap = face_correspondence(block, shaded)
    np.testing.assert_allclose(shaded.triangles_center[fmap], block.triangles_center, atol=1e-12)
    with pytest.raises(ValueError, match="does not hold the part's triangles"):
        face_correspondence(block, trimesh.creation.box([0.01, 0.01, 0.01]))


def test_geometry_defect_passes_are_timed(rend):
    """The booleans and the see-through pass are reported per stage (run.json timings)."""
    ms = meshes()
    base = params(cam=camera(W, H, eye=(0.0, 0.0, 0.15)))
    before = rend.stage_seconds
    rend.render(base, ms)
    plain = rend.stage_seconds
    assert plain.get("geometry_defects", 0.0) == before.get("geometry_defects", 0.0)
    rend.render(_with_defects(base, 0, [extra_hole(depth_mm=30.0)]), ms)
    after = rend.stage_seconds
    assert after["geometry_defects"] > plain.get("geometry_defects", 0.0)
    assert after["see_through"] > plain.get("see_through", 0.0)


@pytest.mark.parametrize("defect, match", [
    ("{type: chip, probability: 1.0, radius_mm: 1000}", "remove the whole"),
    ("{type: chip, probability: 1.0, radius_mm: 0.00001}", "too small"),
])
def test_render_refuses_impossible_geometry_defects_with_exit_2(tmp_path, defect, match):
    """Found only while rendering (sizes are sampled): a usage error naming the part and the
    fix, exit 2, not a traceback."""
    from click.testing import CliRunner

    from synthgap.cli import main

    (tmp_path / "s.yaml").write_text(
        "image: {width: 96, height: 72}\n"
        "camera: {intrinsics: {fx: 300, fy: 300, cx: 48, cy: 36},\n"
        "         pose: {look_at: [0, 0, 0], distance: 0.2, elevation: 90}}\n"
        "parts: [{procedural: flanged_washer, defects: [" + defect + "]}]\n")
    res = CliRunner().invoke(main, ["render", str(tmp_path / "s.yaml"), "-n", "1", "-o",
                                    str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "flanged_washer" in res.output and match in res.output
    assert "s.yaml" in res.output  # the file, the part and the fix


def test_fixed_scene_renders_where_a_failed_run_stopped_before_its_first_image(tmp_path):
    """The failed run leaves only its own run.json/scene.yaml/empty records: the fixed scene
    renders into the same folder without --overwrite, and a user's file there stays."""
    from click.testing import CliRunner

    from synthgap.cli import main

    head = ("image: {width: 96, height: 72}\n"
            "camera: {intrinsics: {fx: 300, fy: 300, cx: 48, cy: 36},\n"
            "         pose: {look_at: [0, 0, 0], distance: 0.2, elevation: 90}}\n")
    (tmp_path / "bad.yaml").write_text(
        head + "parts: [{procedural: flanged_washer, defects: "
               "[{type: chip, probability: 1.0, radius_mm: 1000}]}]\n")
    (tmp_path / "good.yaml").write_text(head + "parts: [{procedural: flanged_washer}]\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["render", str(tmp_path / "bad.yaml"), "-n", "1", "-o",
                                    str(out)])
    assert res.exit_code == 2
    (out / "notes.txt").write_text("mine")
    res = CliRunner().invoke(main, ["render", str(tmp_path / "good.yaml"), "-n", "1", "-o",
                                    str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "images" / "000000.png").is_file() and (out / "notes.txt").read_text() == "mine"
