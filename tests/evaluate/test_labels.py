"""COCO, YOLO and class-folder readers, and the layout detection of `read_real`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from synthgap.evaluate.labels import read_class_folders, read_coco, read_real, read_yolo
from synthgap.evaluate.real import LabelError


def _image(path: Path, w: int = 40, h: int = 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def _coco(root: Path) -> Path:
    for i in range(3):
        _image(root / "images" / f"frame_{i:03d}.png")
    data = {"images": [{"id": i, "file_name": f"frame_{i:03d}.png"} for i in range(3)],
            "categories": [{"id": 7, "name": "nut"}, {"id": 9, "name": "bolt"}],
            "annotations": [{"image_id": i, "category_id": 7 if i else 9,
                             "bbox": [2, 3, 10, 12]} for i in range(3)]}
    (root / "labels.json").write_text(json.dumps(data))
    return root / "labels.json"


def test_coco(tmp_path: Path) -> None:
    real = read_real(_coco(tmp_path))
    assert real.source == "coco" and real.classes == ["bolt", "nut"]
    assert [p.order for p in real.photos] == [0, 1, 2]
    assert real.photos[0].instances[0].cls == 0 and real.photos[1].instances[0].cls == 1
    assert real.photos[0].instances[0].box == (2.0, 3.0, 10.0, 12.0)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["annotations"][1].update(bbox=[1, 2, 3]), r"annotations\[1\]\.bbox"),
    (lambda d: d["annotations"][0].update(category_id=5), r"annotations\[0\]\.category_id"),
    (lambda d: d["images"][2].update(file_name="../../etc/x.png"), r"images\[2\]\.file_name"),
    (lambda d: d.pop("categories"), "categories"),
])
def test_coco_errors_name_file_and_field(tmp_path: Path, edit, match: str) -> None:
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(LabelError, match=r"labels\.json: " + match):
        read_coco(path)


def _yolo(root: Path) -> Path:
    for i in range(3):
        _image(root / "images" / f"{i:06d}.jpg", w=100, h=50)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"{i:06d}.txt").write_text(f"{i % 2} 0.5 0.5 0.2 0.4\n")
    (root / "data.yaml").write_text("names: [gear, cap]\n")
    return root


def test_yolo(tmp_path: Path) -> None:
    real = read_real(_yolo(tmp_path))
    assert real.source == "yolo" and real.classes == ["gear", "cap"]
    x, y, w, h = real.photos[1].instances[0].box
    assert real.photos[1].instances[0].cls == 1
    assert (x, y, w, h) == pytest.approx((40.0, 15.0, 20.0, 20.0))


@pytest.mark.parametrize(("line", "match"), [("0 0.5 0.5 0.2", "line 1"),
                                             ("5 0.5 0.5 0.2 0.2", "class 5"),
                                             ("0 50 20 10 10", "normalised")])
def test_yolo_errors(tmp_path: Path, line: str, match: str) -> None:
    root = _yolo(tmp_path)
    (root / "labels" / "000001.txt").write_text(line + "\n")
    with pytest.raises(LabelError, match=r"000001\.txt: .*" + match):
        read_yolo(root)


def test_yolo_without_names(tmp_path: Path) -> None:
    root = _yolo(tmp_path)
    (root / "data.yaml").unlink()
    with pytest.raises(LabelError, match="classes.txt"):
        read_yolo(root)


def test_class_folders(tmp_path: Path) -> None:
    for c in ("a", "b"):
        for i in range(2):
            _image(tmp_path / c / f"{i}.png", w=20, h=10)
    real = read_real(tmp_path)
    assert real.source == "folders" and real.classes == ["a", "b"]
    assert [p.instances[0].cls for p in real.photos] == [0, 0, 1, 1]
    assert real.photos[0].instances[0].box == (0.0, 0.0, 20, 10)


def test_too_few_or_unknown(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "0.png")
    with pytest.raises(LabelError, match="at least 2"):
        read_class_folders(tmp_path)
    with pytest.raises(LabelError, match="not found"):
        read_real(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(LabelError, match="unknown format"):
        read_real(tmp_path, fmt="voc")
