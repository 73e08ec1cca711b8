"""A failed export keeps the earlier one; re-exports and --overwrite keep the user's files."""

import json

import numpy as np
import pytest

from synthgap.adapt.modelfile import ModelFileError, load_model, save_model
from synthgap.data.layout import DatasetFileError
from synthgap.export import EXPORTERS, ExportError, export_dataset


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_failed_reexport_keeps_the_earlier_export(fake_dataset, tmp_path, fmt):
    out = tmp_path / "exp"
    export_dataset(fake_dataset, out, format=fmt, split="1,0,0")
    before = _tree(out)
    (fake_dataset / "images" / "000003.png").unlink()
    with pytest.raises((DatasetFileError, OSError), match="000003"):
        export_dataset(fake_dataset, out, format=fmt, split="1,0,0")
    assert _tree(out) == before  # nothing lost, and no temporary folder left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "raw"]
    EXPORTERS[fmt].read(out)  # still a readable export: the next run is accepted


@pytest.mark.parametrize("fmt,folder", [("coco", "images/train"), ("coco", "annotations"),
                                        ("yolo", "images/train"), ("folders", "train/OK")])
def test_reexport_keeps_user_files_inside_managed_folders(fake_dataset, tmp_path, fmt, folder):
    out = tmp_path / "exp"
    export_dataset(fake_dataset, out, format=fmt, split="1,0,0")
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["files"] and all(not f.startswith("/") for f in manifest["files"])
    mine = out / folder / "my_notes.txt"
    mine.write_text("mine")
    (out / "README.user").write_text("also mine")
    export_dataset(fake_dataset, out, format=fmt, split="1,0,0")
    assert mine.read_text() == "mine" and (out / "README.user").read_text() == "also mine"
    # a file of the earlier export that the new one does not write is gone (not stale)
    export_dataset(fake_dataset, out, format=fmt, split="0,1,0")
    assert mine.read_text() == "mine"
    assert not any(f.startswith(("images/train/0", "train/OK/0", "labels/train"))
                   for f in _tree(out))


def test_user_file_with_an_export_name_is_refused_before_any_change(fake_dataset, tmp_path):
    out = tmp_path / "exp"
    export_dataset(fake_dataset, out, format="coco", split="1,0,0")
    manifest = json.loads((out / "export.json").read_text())
    manifest["files"].remove("images/train/000000.png")  # as if the user had put it there
    (out / "export.json").write_text(json.dumps(manifest))
    before = _tree(out)
    with pytest.raises(ExportError, match="did not write has the name"):
        export_dataset(fake_dataset, out, format="coco", split="1,0,0")
    assert _tree(out) == before


def test_render_overwrite_keeps_user_files_in_layer_folders(tmp_path):
    from synthgap.generators.run.writer import DatasetWriter, RunIdentity

    ident = RunIdentity(scene_yaml="a: 1\n", seed=0, width=8, height=8, defects_layer=False)
    w = DatasetWriter(tmp_path, ident)
    w.open()
    (tmp_path / "images" / "000000.png").write_bytes(b"ours")
    (tmp_path / "images" / "my_label.png").write_bytes(b"mine")
    (tmp_path / "masks" / "notes.txt").write_text("mine")
    w.close({"status": "complete"})
    other = RunIdentity(scene_yaml="a: 2\n", seed=1, width=8, height=8, defects_layer=False)
    w2 = DatasetWriter(tmp_path, other, overwrite=True)
    w2.open()
    w2.close({"status": "complete"})
    assert not (tmp_path / "images" / "000000.png").exists()
    assert (tmp_path / "images" / "my_label.png").read_bytes() == b"mine"
    assert (tmp_path / "masks" / "notes.txt").read_text() == "mine"


def test_non_finite_weights_are_never_saved_nor_loaded(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="'w' holds 1 NaN.*lower learning_rate"):
        save_model(path, {"w": np.array([1.0, np.nan], np.float32)}, {"kind": "x"})
    assert not path.exists() and not path.with_suffix(".json").exists()
    save_model(path, {"w": np.array([1.0, 2.0], np.float32)}, {"kind": "x"})
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    tensors["w"][1] = np.inf
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ModelFileError, match="'w' holds 1 NaN or infinite"):
        load_model(path)


@pytest.mark.parametrize("meta,match", [("[1, 2]", "a JSON list"), ('"x"', "a JSON str"),
                                        ('{"kind": "x", "format": null}', "format None"),
                                        ('{"kind": "x", "format": "1"}', "format '1'"),
                                        ("[" * 5000 + "]" * 5000, "corrupt")])
def test_crafted_model_metadata_is_a_model_file_error(tmp_path, meta, match):
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"synthgap": meta})
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_resume_identity_follows_mesh_and_background_file_contents(tmp_path):
    import cv2
    import trimesh

    from synthgap.generators.run.writer import RunIdentity
    from synthgap.scenes import load_scene

    trimesh.creation.box((20, 10, 5)).export(tmp_path / "p.stl")
    (tmp_path / "bg").mkdir()
    cv2.imwrite(str(tmp_path / "bg" / "a.png"), np.full((16, 16, 3), 90, np.uint8))
    scene = tmp_path / "s.yaml"
    scene.write_text("camera: {fov_deg: 40}\nparts: [{mesh: p.stl, units: mm}]\n"
                     "background: {images: bg}\n")
    first = RunIdentity.for_scene(load_scene(scene)).as_json()
    assert RunIdentity.for_scene(load_scene(scene)).as_json() == first
    trimesh.creation.box((20, 10, 6)).export(tmp_path / "p.stl")  # same name, new content
    second = RunIdentity.for_scene(load_scene(scene)).as_json()
    assert second["inputs_sha256"] != first["inputs_sha256"]
    assert second["scene_sha256"] == first["scene_sha256"]  # the text alone did not change
    cv2.imwrite(str(tmp_path / "bg" / "b.png"), np.full((16, 16, 3), 20, np.uint8))
    third = RunIdentity.for_scene(load_scene(scene)).as_json()
    assert third["inputs_sha256"] != second["inputs_sha256"]


def test_resuming_after_a_mesh_edit_is_refused(tmp_path):
    from synthgap.generators.run.writer import DatasetConflictError, DatasetWriter, RunIdentity

    a = RunIdentity(scene_yaml="x", seed=0, width=8, height=8, defects_layer=False,
                    inputs_sha256="a" * 64)
    w = DatasetWriter(tmp_path, a)
    w.open()
    w.close({"status": "complete"})
    b = RunIdentity(scene_yaml="x", seed=0, width=8, height=8, defects_layer=False,
                    inputs_sha256="b" * 64)
    with pytest.raises(DatasetConflictError, match="a mesh, background, texture or environment "
                                                   "image file changed"):
        DatasetWriter(tmp_path, b).open()


def test_a_model_config_asking_for_huge_tensors_is_refused_without_allocating(tmp_path):
    import tracemalloc

    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from synthgap.adapt.conv_smcae import ConvSmcae, ConvSmcaeConfig
    from synthgap.adapt.image_base import load_image_adapter

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    path = ConvSmcae(ConvSmcaeConfig(hidden=(4,), iterations=2, patch_size=16, n_pairs=8)).fit(
        imgs, imgs, rng=np.random.default_rng(0)).save(tmp_path / "m.safetensors")
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["synthgap"])
    for key, value in (("hidden", [10**8]), ("kernel", 10**5 + 1)):
        bad = json.loads(json.dumps(meta))
        bad["config"][key] = value
        save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"),
                  metadata={"synthgap": json.dumps(bad)})
        tracemalloc.start()
        with pytest.raises(ModelFileError, match=r"enc0.w: expected shape \("):
            load_image_adapter(tmp_path / "bad.safetensors")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 50 << 20
