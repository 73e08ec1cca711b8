import dataclasses
import json

import numpy as np
import pytest

from synthgap import __version__
from synthgap.export import export_dataset, open_dataset
from synthgap.export.coco import decode_rle, encode_rle
from tests.conftest import write_fake_dataset


def test_rle_round_trip_hand_checked():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2] = True
    rle = encode_rle(mask)
    # column-major runs: 9 background pixels, 2 set (column 2, rows 1-2), 9 background
    from pycocotools import mask as mask_utils
    expected = mask_utils.frPyObjects({"size": [4, 5], "counts": [9, 2, 9]}, 4, 5)
    assert rle == {"size": [4, 5], "counts": expected["counts"].decode()}
    np.testing.assert_array_equal(decode_rle(rle), mask)
    json.dumps(rle)  # JSON-able


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_pycocotools_loads_the_export_and_every_rle_decodes_to_the_instance_mask(fake_dataset,
                                                                                   tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    source = open_dataset(fake_dataset)
    export_dataset(source, tmp_path / "c", format="coco", split="0.5,0.5,0", seed=2)
    ann_ids, image_ids, n_images = [], [], 0
    for split in ("train", "val"):
        coco = COCO(str(tmp_path / "c" / "annotations" / f"instances_{split}.json"))
        cats = coco.loadCats(coco.getCatIds())
        assert [c["id"] for c in cats] == [1, 2, 3]  # ids from 1: 0 is never a class
        names = {c["id"]: c["name"] for c in cats}
        assert names == {1: "bracket", 2: "washer", 3: "defect/scratch"}
        assert coco.dataset["info"]["synthgap_version"] == __version__
        assert coco.dataset["info"]["split_seed"] == 2
        for img in coco.loadImgs(coco.getImgIds()):
            n_images += 1
            image_ids.append(img["id"])
            record = next(r for r in source.records if r.index == img["synthgap_index"])
            inst = source.instance_mask(record)
            defects = source.defect_mask(record)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
            assert len(anns) == len(record.instances) + len(record.defects)
            for a in anns:
                ann_ids.append(a["id"])
                m = coco.annToMask(a).astype(bool)
                if names[a["category_id"]].startswith("defect/"):
                    expected = defects == a["attributes"]["defect_id"]
                    part = coco.loadAnns(a["attributes"]["part_annotation_id"])[0]
                    assert part["attributes"]["instance_id"] == a["attributes"]["instance_id"]
                    assert part["attributes"]["ng"] is True
                else:
                    expected = inst == a["attributes"]["instance_id"]
                    rec = next(i for i in record.instances if i.id == a["attributes"]["instance_id"])
                    assert names[a["category_id"]] == rec.category
                    assert a["bbox"] == [float(v) for v in rec.bbox]
                np.testing.assert_array_equal(m, expected)
                assert a["area"] == int(expected.sum()) and a["iscrowd"] == 0
                assert list(mask_utils.toBbox(a["segmentation"])) == a["bbox"]
    assert n_images == len(source.records)
    assert len(set(ann_ids)) == len(ann_ids) and 0 not in ann_ids
    assert len(set(image_ids)) == len(image_ids) and 0 not in image_ids


def test_category_ids_survive_an_append_with_a_new_class(tmp_path):
    raw = write_fake_dataset(tmp_path / "raw", n=12, classes=("washer", "bracket"))
    source = open_dataset(raw)
    # early on only one-instance images exist, so only "washer" has been seen
    early = [r for r in source.records if len(r.instances) == 1]
    assert early and len(early) < len(source.records)
    first = dataclasses.replace(source, records=tuple(early), categories=("washer",))
    s1 = export_dataset(first, tmp_path / "c", format="coco", split="1,0,0")
    assert s1.categories["washer"] == 1
    s2 = export_dataset(source, tmp_path / "c", format="coco", split="1,0,0")
    assert s2.categories["washer"] == 1 and s2.categories["defect/scratch"] == s1.categories["defect/scratch"]
    assert s2.categories["bracket"] == max(s1.categories.values()) + 1
    fresh = export_dataset(source, tmp_path / "fresh", format="coco", split="1,0,0")
    assert fresh.categories["bracket"] == 1  # a new folder starts from sorted names


def test_defects_can_be_left_out(fake_dataset, tmp_path):
    s = export_dataset(fake_dataset, tmp_path / "c", format="coco",
                       options=__import__("synthgap.export", fromlist=["ExportOptions"]).ExportOptions(defects=False))
    assert s.categories == {"bracket": 1, "washer": 2}
    docs = [json.loads(p.read_text()) for p in (tmp_path / "c" / "annotations").glob("*.json")]
    anns = [a for d in docs for a in d["annotations"]]
    assert anns and all(a["category_id"] in (1, 2) for a in anns)
    assert any(a["attributes"]["ng"] for a in anns)  # NG survives as an attribute
