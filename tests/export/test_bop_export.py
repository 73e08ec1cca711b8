"""BOP export: read back by synthgap's own BOP reader (the one the real-photo benchmark uses)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

from synthgap.cli import main
from synthgap.data import read_label_png
from synthgap.export import export_dataset, open_dataset
from synthgap.export.bop import bop_box, models_info
from synthgap.scenes.bop import read_bop_scene
from tests.conftest import write_fake_dataset


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """Four renders of the bin preset (occlusion, three procedural parts, distractors)."""
    root = tmp_path_factory.mktemp("bop") / "raw"
    result = CliRunner().invoke(main, ["render", "preset:bin", "-n", "4", "-o", str(root),
                                       "--seed", "5", "--width", "96", "--height", "72"])
    assert result.exit_code == 0, result.output
    return root


def test_bop_box_hand_checked():
    # a one-pixel object at column 3, row 7: synthgap w = h = 1, BOP w = x_max - x_min = 0
    assert bop_box([3, 7, 1, 1]) == [3, 7, 0, 0]
    assert bop_box([0, 0, 10, 4]) == [0, 0, 9, 3]
    assert bop_box([]) == [-1, -1, -1, -1]


def test_models_info_hand_checked():
    cube = trimesh.creation.box(extents=(10.0, 20.0, 30.0))
    info = models_info(cube.vertices)
    assert info["diameter"] == pytest.approx(np.sqrt(10**2 + 20**2 + 30**2))
    assert (info["min_x"], info["min_y"], info["min_z"]) == (-5.0, -10.0, -15.0)
    assert (info["size_x"], info["size_y"], info["size_z"]) == (10.0, 20.0, 30.0)


def test_round_trip_through_the_bop_reader(rendered, tmp_path):
    out = tmp_path / "bop"
    summary = export_dataset(rendered, out, format="bop", split="0.5,0.5,0", seed=1)
    source = open_dataset(rendered)
    by_index = {r.index: r for r in source.records}
    ids = summary.categories
    assert sorted(ids.values()) == list(range(1, len(ids) + 1))
    part_of = {v: k for k, v in ids.items()}
    seen = 0
    for split in ("train", "val"):
        scene_dir = out / split / "000000"
        if not (scene_dir / "scene_gt.json").is_file():
            continue
        bop = read_bop_scene(scene_dir, models_dir=out / "models")
        cams = json.loads((scene_dir / "scene_camera.json").read_text())
        for im in bop.images:
            record = by_index[im.image_id]
            seen += 1
            np.testing.assert_array_equal(im.K, np.asarray(record.K))
            assert cams[str(im.image_id)]["depth_scale"] == 1.0
            np.testing.assert_array_equal(
                read_label_png(scene_dir / "depth" / f"{im.image_id:06d}.png"),
                read_label_png(source.depth_path(record)))
            inst_mask = source.instance_mask(record)
            visible = [i for i in record.instances if i.visible_pixels > 0]
            assert len(im.objects) == len(visible)
            for gt_id, (obj, inst) in enumerate(zip(im.objects, visible, strict=True)):
                assert part_of[obj.obj_id] == inst.part
                pose = np.asarray(inst.pose)
                np.testing.assert_array_equal(obj.pose[:3, :3], pose[:3, :3])
                np.testing.assert_array_equal(obj.pose[:3, 3], pose[:3, 3] * 1000.0)
                x, y, w, h = obj.bbox_visib
                assert [x, y, w + 1, h + 1] == inst.bbox  # BOP w = x_max - x_min
                assert obj.px_count_visib == inst.visible_pixels
                assert obj.visib_fract == inst.visible_fraction
                mask = read_label_png(scene_dir / "mask_visib" /
                                      f"{im.image_id:06d}_{gt_id:06d}.png")
                assert set(np.unique(mask)) <= {0, 255}
                np.testing.assert_array_equal(mask > 0, inst_mask == inst.id)
    assert seen == len(source.records)


def test_models_in_mm_and_gt_info_geometry(rendered, tmp_path):
    from synthgap.generators.parts.assets import load_parts
    from synthgap.scenes.io import load_scene

    out = tmp_path / "bop"
    summary = export_dataset(rendered, out, format="bop", split="1,0,0", seed=0)
    library = load_parts(load_scene(rendered / "scene.yaml"))
    info = json.loads((out / "models" / "models_info.json").read_text())
    assert set(summary.categories) == set(library)
    for name, obj_id in summary.categories.items():
        path = out / "models" / f"obj_{obj_id:06d}.ply"
        header = path.read_bytes().split(b"end_header")[0].decode().splitlines()
        props = [line.split() for line in header if line.startswith("property")]
        # what the BOP toolkit's inout.load_ply reads: these types, normals, vertex_indices
        assert all(p[1] in ("float", "double", "int", "uchar") for p in props if p[1] != "list")
        assert ["property", "list", "uchar", "int", "vertex_indices"] in props
        assert {"nx", "ny", "nz"} <= {p[-1] for p in props}
        model = trimesh.load(path, force="mesh")
        np.testing.assert_allclose(model.extents, library[name].mesh.extents * 1000.0,
                                   rtol=1e-5)
        assert info[str(obj_id)]["diameter"] >= model.extents.max() - 1e-6
        assert summary.extra["obj_classes"][str(obj_id)] == library[name].category
    gt_info = json.loads((out / "train" / "000000" / "scene_gt_info.json").read_text())
    n = 0
    for entries in gt_info.values():
        for e in entries:
            n += 1
            bx, by, bw, bh = e["bbox_obj"]
            vx, vy, vw, vh = e["bbox_visib"]
            # the whole projected model's box holds the visible box (1 px: rasteriser edges)
            assert bx <= vx + 1 and by <= vy + 1
            assert bx + bw >= vx + vw - 1 and by + bh >= vy + vh - 1
            assert e["px_count_all"] >= e["px_count_visib"] > 0
            assert e["px_count_visib"] / e["px_count_all"] == pytest.approx(e["visib_fract"],
                                                                           abs=1e-3)
    assert n > 0


def test_obj_ids_stay_across_reexports(rendered, tmp_path):
    out = tmp_path / "bop"
    first = export_dataset(rendered, out, format="bop", split="1,0,0", seed=0)
    # a folder exported earlier with other ids (e.g. before a part was added) keeps them
    manifest = json.loads((out / "export.json").read_text())
    reordered = dict(zip(sorted(first.categories), [7, 3, 5], strict=True))
    manifest["categories"] = reordered
    (out / "export.json").write_text(json.dumps(manifest))
    again = export_dataset(rendered, out, format="bop", split="1,0,0", seed=0)
    assert again.categories == dict(sorted(reordered.items(), key=lambda kv: kv[1]))
    gt = json.loads((out / "train" / "000000" / "scene_gt.json").read_text())
    assert {g["obj_id"] for v in gt.values() for g in v} <= {3, 5, 7}
    assert sorted(p.name for p in (out / "models").glob("*.ply")) == [
        "obj_000003.ply", "obj_000005.ply", "obj_000007.ply"]


def test_dataset_without_scene_file_exports_without_models(tmp_path):
    raw = write_fake_dataset(tmp_path / "raw", n=3)
    summary = export_dataset(raw, tmp_path / "bop", format="bop", split="1,0,0", seed=0)
    assert not (tmp_path / "bop" / "models").exists()
    assert "no scene.yaml" in summary.extra["models"]
    gt_info = json.loads((tmp_path / "bop" / "train" / "000000" / "scene_gt_info.json")
                         .read_text())
    entries = [e for v in gt_info.values() for e in v]
    assert entries and all("bbox_obj" not in e and "bbox_visib" in e for e in entries)


def test_cli_export_bop(rendered, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(rendered), "--format", "bop", "-o",
                                  str(tmp_path / "b"), "--split", "1,0,0"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["format"] == "bop" and summary["images"]["train"] == 4
    assert (tmp_path / "b" / "train" / "000000" / "scene_gt.json").is_file()
    result = runner.invoke(main, ["export", str(rendered), "--format", "bop", "-o",
                                  str(tmp_path / "c"), "--no-defects"])
    assert result.exit_code != 0 and "--defects/--no-defects applies to" in result.output
