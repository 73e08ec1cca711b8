import numpy as np
import pytest

from synthgap.export import ExportOptions, export_dataset, open_dataset
from synthgap.export.folders import crop_box
from synthgap.export.folders import read as read_folders


def test_ok_ng_folders_follow_visible_defects(fake_dataset, tmp_path):
    s = export_dataset(fake_dataset, tmp_path / "f", format="folders", split="1,0,0")
    assert s.categories == {"NG": 0, "OK": 1}
    source = open_dataset(fake_dataset)
    for sample in read_folders(tmp_path / "f"):
        record = next(r for r in source.records if r.index == sample.index)
        assert sample.names == ("NG" if record.defects else "OK",)


def test_crops_by_class_cut_each_part_with_its_margin(fake_dataset, tmp_path):
    opts = ExportOptions(crops=True, by="class", crop_margin=0.5)
    s = export_dataset(fake_dataset, tmp_path / "f", format="folders", options=opts)
    assert set(s.categories) == {"bracket", "washer"}
    source = open_dataset(fake_dataset)
    samples = list(read_folders(tmp_path / "f"))
    assert len(samples) == sum(len(r.instances) for r in source.records)
    for sample in samples:
        record = next(r for r in source.records if r.index == sample.index)
        inst = next(i for i in record.instances if i.id == sample.instance_ids[0])
        assert sample.names == (inst.category,)
        x0, y0, x1, y1 = crop_box(inst.bbox, 0.5, record.width, record.height)
        np.testing.assert_array_equal(sample.image, source.image(record)[y0:y1, x0:x1])


def test_crop_box_by_hand():
    assert crop_box([10, 20, 10, 4], 0.5, 100, 100) == (5, 18, 25, 26)
    assert crop_box([0, 0, 10, 10], 0.2, 11, 11) == (0, 0, 11, 11)  # clipped


def test_defect_folders(fake_dataset, tmp_path):
    s = export_dataset(fake_dataset, tmp_path / "f", format="folders",
                       options=ExportOptions(by="defect", crops=True))
    assert set(s.categories) == {"ok", "scratch"}


def test_class_folders_need_crops():
    with pytest.raises(ValueError, match="needs crops=True"):
        ExportOptions(by="class")
    with pytest.raises(ValueError, match="by: expected"):
        ExportOptions(by="colour")


def test_read_gives_one_whole_image_box_per_label(fake_dataset, tmp_path):
    export_dataset(fake_dataset, tmp_path / "f", format="folders")
    for sample in read_folders(tmp_path / "f"):
        h, w = sample.image.shape[:2]
        assert len(sample.names) == len(sample.boxes) == len(sample.instance_ids) == 1
        np.testing.assert_array_equal(sample.boxes, [[0, 0, w, h]])
