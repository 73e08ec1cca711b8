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
    with pytest.raises(ExportError, match="unknown export format 'voc'; choose one of coco"):
        export_dataset(fake_dataset, tmp_path / "x", format="voc")


def test_class_and_defect_names_come_from_a_real_scene_file(fake_dataset):
    from synthgap.scenes import default_scene, scene_to_yaml

    (fake_dataset / "scene.yaml").write_text(scene_to_yaml(default_scene()))
    source = open_dataset(fake_dataset)
    assert "bracket" in source.categories
    assert {"dent", "scratch"} <= set(source.defect_types)
