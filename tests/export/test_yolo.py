import numpy as np
import pytest
import yaml

from synthgap.export import export_dataset, open_dataset
from synthgap.export.yolo import mask_polygon, polygon_mask


@pytest.mark.parametrize("fmt", ["yolo", "yolo-seg"])
def test_yolo_export_follows_the_format_rules(fake_dataset, tmp_path, fmt):
    out = tmp_path / fmt
    export_dataset(fake_dataset, out, format=fmt, split="0.5,0.25,0.25", seed=1)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in data  # list files resolve relative to data.yaml
    names = data["names"]
    assert sorted(names) == list(range(len(names))) == list(range(data["nc"]))
    assert names[0] == "bracket" and names[1] == "washer" and names[2] == "defect/scratch"
    source = open_dataset(fake_dataset)
    listed = []
    for split in ("train", "val", "test"):
        for line in (out / data[split]).read_text().splitlines():
            assert line.startswith(f"./images/{split}/")
            img = out / line
            assert img.is_file()
            listed.append(img.stem)
            label = out / line.replace("/images/", "/labels/").replace(".png", ".txt")
            record = next(r for r in source.records if r.index == int(img.stem))
            rows = [row.split() for row in label.read_text().splitlines()]
            assert len(rows) == len(record.instances) + len(record.defects)
            for row in rows:
                assert 0 <= int(row[0]) < data["nc"] and row[0] == str(int(row[0]))
                v = np.array([float(x) for x in row[1:]])
                assert ((v >= 0) & (v <= 1)).all()
                if fmt == "yolo":
                    assert len(v) == 4
                    cx, cy, w, h = v
                    assert w > 0 and h > 0 and cx - w / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6
                    assert cy - h / 2 >= -1e-6 and cy + h / 2 <= 1 + 1e-6
                else:
                    assert len(v) >= 6 and len(v) % 2 == 0
    assert sorted(listed) == [f"{r.index:06d}" for r in source.records]


def test_detection_box_values_by_hand(fake_dataset, tmp_path):
    export_dataset(fake_dataset, tmp_path / "y", format="yolo", split="1,0,0")
    source = open_dataset(fake_dataset)
    r = source.records[0]
    x, y, w, h = r.instances[0].bbox
    first = (tmp_path / "y" / "labels" / "train" / "000000.txt").read_text().splitlines()[0]
    cx, cy, bw, bh = map(float, first.split()[1:])
    assert cx == pytest.approx((x + w / 2) / 64, abs=1e-6) and bw == pytest.approx(w / 64, abs=1e-6)
    assert cy == pytest.approx((y + h / 2) / 48, abs=1e-6) and bh == pytest.approx(h / 48, abs=1e-6)


def test_polygon_of_a_rectangle_is_its_corner_pixels():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    poly = mask_polygon(mask)
    assert {tuple(p) for p in poly.astype(int)} == {(3, 2), (3, 4), (8, 4), (8, 2)}
    np.testing.assert_array_equal(polygon_mask(poly, 10, 12), mask)


def test_split_part_becomes_one_ring_covering_both_pieces():
    mask = np.zeros((20, 30), bool)
    mask[2:8, 2:10] = True
    mask[12:18, 18:28] = True  # the same part, cut in two by an occluder
    back = polygon_mask(mask_polygon(mask), 20, 30)
    assert back[mask].all()  # both pieces covered
    assert (back & ~mask).sum() <= 20  # plus only a thin bridge
