"""Part library: mesh formats, units, STEP assemblies, broken meshes, procedural parts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml

from synthgap.generators.parts import assets as parts_mod
from synthgap.generators.parts.assets import PartError, load_parts, stable_poses
from synthgap.generators.parts.procedural import PROCEDURAL, make_procedural
from synthgap.scenes import SceneError, default_scene, load_scene

CAMERA = {"intrinsics": {"fx": 80, "fy": 80, "cx": 31.5, "cy": 23.5}}
STEP_FILE = Path(sys.prefix) / "share/doc/gmsh/examples/api/as1-tu-203.stp"


def scene_with(tmp_path: Path, part: dict, name="scene.yaml"):
    data = {"image": {"width": 64, "height": 48}, "camera": CAMERA, "parts": [part]}
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return load_scene(p)


def export(mesh: trimesh.Trimesh, path: Path) -> Path:
    if path.suffix == ".gltf":  # trimesh's own .gltf file export leaks a handle; write its dict
        for name, blob in mesh.export(file_type="gltf").items():
            (path.parent / (path.name if name == "model.gltf" else name)).write_bytes(blob)
    else:
        mesh.export(path)
    return path


@pytest.mark.parametrize("ext", ["stl", "obj", "ply", "glb", "gltf", "off"])
def test_each_format_loads_in_metres(tmp_path, ext):
    export(trimesh.creation.box([20.0, 10.0, 5.0]), tmp_path / f"block.{ext}")
    lib = load_parts(scene_with(tmp_path, {"mesh": f"block.{ext}", "units": "mm", "class": "blk"}))
    (asset,) = lib.values()
    assert asset.name == "block" and asset.category == "blk" and asset.entry == 0
    assert asset.source == str(tmp_path / f"block.{ext}")
    np.testing.assert_allclose(sorted(asset.mesh.extents), [0.005, 0.01, 0.02], rtol=1e-6)


@pytest.mark.parametrize(("units", "scale", "size"), [
    ("mm", 1.0, 0.02), ("cm", 1.0, 0.2), ("in", 1.0, 0.508), ("m", 0.01, 0.2), (None, 2.0, 0.04)])
def test_units_and_scale(tmp_path, units, scale, size):
    export(trimesh.creation.box([20.0, 10.0, 5.0]), tmp_path / "b.stl")
    part = {"mesh": "b.stl", "scale": scale} | ({"units": units} if units else {})
    (asset,) = load_parts(scene_with(tmp_path, part)).values()
    assert asset.mesh.extents.max() == pytest.approx(size)


def test_multi_mesh_file_becomes_one_part(tmp_path):
    a = trimesh.creation.box([10.0, 10.0, 10.0])
    b = trimesh.creation.box([10.0, 10.0, 10.0]).apply_translation([30.0, 0, 0])
    trimesh.Scene([a, b]).export(tmp_path / "two.glb")
    (asset,) = load_parts(scene_with(tmp_path, {"mesh": "two.glb"})).values()
    assert asset.mesh.extents[0] == pytest.approx(0.04) and len(asset.mesh.faces) == 24


def test_object_frame_is_kept(tmp_path):
    export(trimesh.creation.box([10.0, 10.0, 10.0]).apply_translation([100.0, 0, 0]),
           tmp_path / "off_centre.stl")
    (asset,) = load_parts(scene_with(tmp_path, {"mesh": "off_centre.stl"})).values()
    assert asset.mesh.bounds[0][0] == pytest.approx(0.095)


def test_empty_and_garbage_files(tmp_path):
    (tmp_path / "empty.stl").write_bytes(b"")
    with pytest.raises(PartError, match=r"empty.stl: parts\[0\].mesh: "):
        load_parts(scene_with(tmp_path, {"mesh": "empty.stl"}))
    (tmp_path / "junk.ply").write_text("this is not a mesh\n")
    with pytest.raises(PartError, match=r"junk.ply: parts\[0\].mesh: cannot read the mesh"):
        load_parts(scene_with(tmp_path, {"mesh": "junk.ply"}))
    (tmp_path / "nofaces.off").write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(PartError, match=r"nofaces.off: parts\[0\].mesh: "):
        load_parts(scene_with(tmp_path, {"mesh": "nofaces.off"}))


def test_non_finite_vertices(tmp_path):
    (tmp_path / "nan.off").write_text("OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 0\n3 0 1 2\n")
    with pytest.raises(PartError, match=r"nan.off: parts\[0\].mesh: the mesh has 1 vertices with "
                                        r"NaN or inf coordinates"):
        load_parts(scene_with(tmp_path, {"mesh": "nan.off"}))


def test_absurd_sizes_hint_the_units(tmp_path):
    export(trimesh.creation.box([20.0, 10.0, 5.0]), tmp_path / "b.stl")
    with pytest.raises(PartError, match=r"b.stl: parts\[0\].mesh: the part is 20 m across \(20 in "
                                        r"file units, read as m.*did you mean units: mm\?"):
        load_parts(scene_with(tmp_path, {"mesh": "b.stl", "units": "m"}))
    export(trimesh.creation.box([0.02, 0.01, 0.005]), tmp_path / "tiny.stl")
    with pytest.raises(PartError, match=r"the part is 2e-05 m across .*did you mean units: m\?"):
        load_parts(scene_with(tmp_path, {"mesh": "tiny.stl"}))
    export(trimesh.creation.box([40000.0, 10.0, 5.0]), tmp_path / "huge.stl")
    with pytest.raises(PartError, match=r"the part is 40 m across") as info:
        load_parts(scene_with(tmp_path, {"mesh": "huge.stl"}))
    assert isinstance(info.value, SceneError)  # one except clause catches scene and part errors


def test_flat_mesh_is_loaded(tmp_path):
    # a single quad: zero volume but a real surface (e.g. a label or a sheet)
    export(trimesh.Trimesh([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], [[0, 1, 2], [0, 2, 3]]),
           tmp_path / "sheet.ply")
    (asset,) = load_parts(scene_with(tmp_path, {"mesh": "sheet.ply"})).values()
    assert len(asset.stable_probs) >= 1


def test_select_is_for_step_only(tmp_path):
    export(trimesh.creation.box([20.0, 10.0, 5.0]), tmp_path / "b.stl")
    with pytest.raises(SceneError, match=r"parts\[0\]: select and assembly apply to STEP files only"):
        scene_with(tmp_path, {"mesh": "b.stl", "select": ["x*"]})


@pytest.mark.parametrize("name", sorted(PROCEDURAL))
def test_procedural_parts_are_valid_solids(name):
    m = make_procedural(name)
    assert m.is_watertight and m.is_volume and m.volume > 0
    assert m.bounds[0][2] == pytest.approx(0.0, abs=1e-9)  # resting on z = 0
    assert 0.005 < m.extents.max() < 0.05  # metres: small hardware
    np.testing.assert_allclose(0.5 * (m.bounds[0][:2] + m.bounds[1][:2]), 0.0, atol=1e-9) \
        if name != "l_bracket" else None


def test_procedural_names_agree_with_the_schema():
    import typing

    from synthgap.scenes.schema import PROCEDURAL_PARTS, PartConfig

    literal = typing.get_args(PartConfig.model_fields["procedural"].annotation)[0]
    assert set(PROCEDURAL) == set(PROCEDURAL_PARTS) == set(typing.get_args(literal))


def test_procedural_hand_checked_sizes():
    washer, nut, bracket = make_procedural("flanged_washer"), make_procedural("hex_nut"), \
        make_procedural("l_bracket")
    assert washer.extents == pytest.approx([0.024, 0.024, 0.004], rel=1e-3)
    assert nut.extents[2] == pytest.approx(0.005)
    assert min(nut.extents[:2]) == pytest.approx(0.010, rel=1e-6)  # 10 mm across flats
    assert bracket.extents == pytest.approx([0.040, 0.030, 0.025])
    # two 7 mm holes through 3 mm sheet: volume = plates minus holes (minus the overlap)
    sheet = 0.040 * 0.030 * 0.003 + 0.003 * 0.030 * 0.022
    holes = 2 * np.pi * 0.0035**2 * 0.003
    assert bracket.volume == pytest.approx(sheet - holes, rel=0.01)
    with pytest.raises(ValueError, match="unknown procedural part 'gear'"):
        make_procedural("gear")


def test_stable_poses_rest_on_the_plane_and_are_cached():
    m = make_procedural("l_bracket")
    poses, probs = stable_poses(m)
    assert poses.shape[1:] == (4, 4) and len(poses) == len(probs) >= 2
    assert probs.sum() == pytest.approx(1.0) and np.all(np.diff(probs) <= 1e-12)
    for T in poses:
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
        assert trimesh.transform_points(m.vertices, T)[:, 2].min() == pytest.approx(0.0, abs=1e-12)
    again = stable_poses(make_procedural("l_bracket"))
    assert again[0] is poses  # cached by mesh content
    with pytest.raises(ValueError, match="read-only"):
        poses[0, 0, 0] = 2.0


def test_default_scene_library():
    lib = load_parts(default_scene())
    (asset,) = lib.values()
    assert asset.name == "l_bracket" and asset.category == "bracket"
    assert asset.source == "procedural:l_bracket"
    with pytest.raises(AttributeError):
        asset.name = "x"  # type: ignore[misc]


def test_step_without_cascadio_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "part.step").write_text("ISO-10303-21;\nEND-ISO-10303-21;\n")
    monkeypatch.setattr(parts_mod, "_has_cascadio", lambda: False)
    with pytest.raises(PartError, match=r"part.step: parts\[0\].mesh: STEP files need the optional "
                                        r"cascadio package: pip install 'synthgap\[step\]'"):
        load_parts(scene_with(tmp_path, {"mesh": "part.step"}))


needs_step = pytest.mark.skipif(
    not STEP_FILE.is_file() or not parts_mod._has_cascadio(),
    reason=f"needs gmsh's example STEP file ({STEP_FILE}) and cascadio (pip install synthgap[dev])")


@needs_step
def test_step_assembly_splits_into_named_parts(tmp_path):
    lib = load_parts(scene_with(tmp_path, {"mesh": str(STEP_FILE), "name": "as1"}))
    assert len(lib) == 18
    assert "as1/PLATE" in lib and "as1/ROD" in lib and "as1/NUT::3_5" in lib
    plate = lib["as1/PLATE"]
    assert plate.category == "PLATE" and plate.entry == 0
    assert 0.1 < plate.mesh.extents.max() < 0.3  # metres (the file is in mm; cascadio converts)
    for asset in lib.values():
        assert np.isfinite(asset.mesh.vertices).all() and len(asset.stable_probs) >= 1


@needs_step
def test_step_select_and_merge(tmp_path):
    lib = load_parts(scene_with(tmp_path, {"mesh": str(STEP_FILE), "name": "as1", "class": "hw",
                                           "select": ["NUT*", "BOLT"]}))
    assert sorted(lib) == sorted(["as1/BOLT"] + [k for k in lib if k.startswith("as1/NUT")])
    assert len(lib) == 1 + 8 and {a.category for a in lib.values()} == {"hw"}
    merged = load_parts(scene_with(tmp_path, {"mesh": str(STEP_FILE), "assembly": "merge"}))
    (asset,) = merged.values()
    assert asset.name == "as1-tu-203" and asset.mesh.extents == pytest.approx([0.2, 0.15, 0.084],
                                                                               rel=1e-3)
    with pytest.raises(PartError, match=r"parts\[0\].select: no body matches \['GEAR\*'\]; bodies: "):
        load_parts(scene_with(tmp_path, {"mesh": str(STEP_FILE), "select": ["GEAR*"]}))


def test_unreadable_mesh_files_say_what_to_do(tmp_path):
    from synthgap.scenes import SceneError, load_scene

    (tmp_path / "junk.stl").write_text("junk junk")
    (tmp_path / "s.yaml").write_text("parts: [{mesh: junk.stl}]\ncamera: {fov_deg: 40}\n")
    with pytest.raises(SceneError, match=r"parts\[0\].mesh: no triangles could be read.*corrupt"):
        load_parts(load_scene(tmp_path / "s.yaml"))
    (tmp_path / "e.yaml").write_text("parts: []\ncamera: {fov_deg: 40}\n")
    with pytest.raises(SceneError, match=r"parts: needs at least 1 item, got \[\]"):
        load_scene(tmp_path / "e.yaml")


def test_simplify_mesh_keeps_vertex_colours_and_bounds():
    import trimesh

    from synthgap.generators.look.appearance import mesh_appearance
    from synthgap.generators.parts.assets import simplify_mesh

    ball = trimesh.creation.icosphere(4, 0.05)  # 5120 faces
    top = ball.vertices[:, 2] > 0
    colours = np.where(top[:, None], [[200, 20, 20, 255]], [[20, 20, 200, 255]]).astype(np.uint8)
    ball.visual = trimesh.visual.ColorVisuals(ball, vertex_colors=colours)
    small = simplify_mesh(ball, 500)
    assert 100 < len(small.faces) <= 500
    assert mesh_appearance(small) is not None
    np.testing.assert_allclose(small.extents, ball.extents, rtol=0.05)
    vc = small.visual.vertex_colors
    high, low = small.vertices[:, 2] > 0.01, small.vertices[:, 2] < -0.01
    assert (vc[high, 0] == 200).all() and (vc[low, 2] == 200).all()
    with pytest.raises(ValueError, match="max_faces must be >= 4"):
        simplify_mesh(ball, 2)
