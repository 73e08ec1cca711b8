import json
import shutil

import numpy as np
import pytest

from synthgap.data import DatasetLayout, read_image, read_records, write_image_atomic
from synthgap.data.layout import DatasetFileError
from synthgap.export import ExportError, export_dataset, open_dataset
from synthgap.export.coco import read as read_coco


def test_not_a_dataset_directory_is_named(tmp_path):
    with pytest.raises(DatasetFileError, match="not a synthgap dataset directory"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetFileError, match="no such directory"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "records.jsonl").write_text("")
    with pytest.raises(DatasetFileError, match="no finished image"):
        open_dataset(tmp_path)


def test_scene_file_classes_give_ids_even_when_no_image_shows_them(fake_dataset):
    (fake_dataset / "scene.yaml").write_text(
        "parts:\n  - {mesh: a.stl, class: gear, defects: [{type: dent}]}\n"
        "  - {mesh: b.stl, class: washer}\n")
    source = open_dataset(fake_dataset)
    assert source.categories == ("bracket", "gear", "washer")
    assert source.defect_types == ("dent", "scratch")


def _adapted_copy(raw, dst, *, with_labels):
    """An adapted directory: same records, inverted images, adapt.json naming the source."""
    dst.mkdir()
    shutil.copy(raw / "records.jsonl", dst / "records.jsonl")
    (dst / "images").mkdir()
    for r in read_records(raw):
        write_image_atomic(DatasetLayout(dst).image(r.index),
                           255 - read_image(DatasetLayout(raw).image(r.index)))
    if with_labels:
        shutil.copytree(raw / "masks", dst / "masks")
        shutil.copytree(raw / "defects", dst / "defects")
    (dst / "adapt.json").write_text(json.dumps({"method": "test", "source": "../raw"}))
    return dst


@pytest.mark.parametrize("with_labels", [True, False])
def test_adapted_directory_exports_adapted_images_with_original_labels(fake_dataset, tmp_path,
                                                                       with_labels):
    adapted = _adapted_copy(fake_dataset, tmp_path / "adapted", with_labels=with_labels)
    assert open_dataset(adapted).adapted
    export_dataset(adapted, tmp_path / "coco_a", format="coco", split="1,0,0")
    export_dataset(fake_dataset, tmp_path / "coco_r", format="coco", split="1,0,0")
    for a, r in zip(read_coco(tmp_path / "coco_a"), read_coco(tmp_path / "coco_r"), strict=True):
        np.testing.assert_array_equal(a.image, 255 - r.image)
        np.testing.assert_array_equal(a.masks, r.masks)
        assert a.names == r.names


def test_foreign_or_other_format_output_folder_is_refused(fake_dataset, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(ExportError, match="not empty and is not a synthgap export"):
        export_dataset(fake_dataset, tmp_path / "mine", format="coco")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"
    export_dataset(fake_dataset, tmp_path / "y", format="yolo")
    with pytest.raises(ExportError, match="is a yolo export"):
        export_dataset(fake_dataset, tmp_path / "y", format="coco")
    with pytest.raises(ExportError, match="outside the dataset directory"):
        export_dataset(fake_dataset, fake_dataset / "coco", format="coco")


def test_unknown_format_lists_the_choices(fake_dataset, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'voc'; choose one of bop, coco"):
        export_dataset(fake_dataset, tmp_path / "x", format="voc")


def test_class_and_defect_names_come_from_a_real_scene_file(fake_dataset):
    from synthgap.scenes import default_scene, scene_to_yaml

    (fake_dataset / "scene.yaml").write_text(scene_to_yaml(default_scene()))
    source = open_dataset(fake_dataset)
    assert "bracket" in source.categories
    assert {"dent", "scratch"} <= set(source.defect_types)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "folders", "webdataset"])
def test_jpeg_images_keep_their_format(fake_dataset, tmp_path, fmt):
    import cv2

    from synthgap.export import EXPORTERS

    lines = []
    for r in read_records(fake_dataset):
        png = fake_dataset / r.files["image"]
        cv2.imwrite(str(png.with_suffix(".jpg")), cv2.imread(str(png)))
        png.unlink()
        d = json.loads(r.to_json())
        d["files"]["image"] = d["files"]["image"].replace(".png", ".jpg")
        lines.append(json.dumps(d) + "\n")
    (fake_dataset / "records.jsonl").write_text("".join(lines))
    export_dataset(fake_dataset, tmp_path / fmt, format=fmt)
    if fmt == "webdataset":
        import tarfile

        with tarfile.open(next((tmp_path / fmt).glob("*.tar"))) as tar:
            files = [n for n in tar.getnames() if not n.endswith((".json", "mask.png",
                                                                   "defects.png"))]
    else:
        files = [p.name for p in (tmp_path / fmt).rglob("*") if p.suffix in (".png", ".jpg")]
    assert files and all(n.endswith(".jpg") for n in files)
    assert len(list(EXPORTERS[fmt].read(tmp_path / fmt))) == 6
