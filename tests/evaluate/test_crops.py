"""Crops of real photos and of renders; contamination of render crops by labelled real
objects in the background photos, and the background cleaning that removes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from synthgap.data.layout import read_image
from synthgap.evaluate.contamination import clean_backgrounds, contamination, object_masks
from synthgap.evaluate.crops import derive, read_render_labels, real_crops, square_crop
from synthgap.evaluate.real import LabelError, RealData


def test_square_crop_centres_and_pads() -> None:
    img = np.zeros((50, 60, 3), np.uint8)
    img[20:30, 25:35] = 255
    c = square_crop(img, (25, 20, 10, 10), 16)
    assert c.shape == (16, 16, 3)
    assert c[8, 8, 0] == 255 and c[0, 0, 0] == 0
    edge = square_crop(img, (0, 0, 4, 30), 16)  # reaches outside: replicated, same size
    assert edge.shape == (16, 16, 3)


def test_real_crops_filter_by_visibility(bop_real: RealData) -> None:
    crops = real_crops(bop_real, size=24, min_visib=0.3, min_box=6)
    n = sum(r.visib >= 0.3 and min(r.box[2:]) >= 6 for p in bop_real.photos for r in p.instances)
    assert len(crops) == n and crops.x.shape == (n, 24, 24, 3)
    assert set(crops.y.tolist()) <= {0, 1, 2}
    assert len(crops.subset([0, 1])) == int(np.isin(crops.image, [0, 1]).sum())
    with pytest.raises(LabelError, match="no labelled object"):
        real_crops(bop_real, min_visib=1.01)


def test_render_labels_and_crops(renders: Path, bop_real: RealData) -> None:
    labels = read_render_labels(renders, bop_real.classes, seg_size=(80, 60))
    assert len(labels.images) == 12 and labels.seg_y is not None
    assert labels.seconds is not None and labels.seconds > 0
    assert all(b is not None for b in labels.backgrounds)
    d = derive((read_image(p) for p in labels.images), labels, size=24, seg_size=(80, 60))
    assert len(d.crops) == sum(len(b) for b in labels.boxes) > 12
    assert d.seg_x is not None and d.seg_x.shape == (12, 60, 80, 3)


def test_render_labels_reject_unknown_class(renders: Path, tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="'ape' is not a class of the real photos"):
        read_render_labels(renders, ["bracket"])
    with pytest.raises(LabelError, match="records.jsonl"):
        read_render_labels(tmp_path, ["ape"])


def test_contamination_measured_then_cleaned(renders: Path, bop_real: RealData,
                                             tmp_path: Path) -> None:
    labels = read_render_labels(renders, bop_real.classes)
    masks = object_masks(bop_real, range(len(bop_real.photos)))
    before = contamination(labels, masks)
    assert before.crops == sum(len(b) for b in labels.boxes)
    assert 0 < before.mean_share < 1  # the two background photos show the three objects
    assert contamination(labels, {}).mean_share == 0
    files, left = clean_backgrounds(bop_real, [0, 1], tmp_path / "clean")
    assert all(not m.any() for m in left.values())
    photo = read_image(bop_real.photos[0].path)
    clean = read_image(files[0])
    mask = masks[str(bop_real.photos[0].path.resolve())]
    assert np.abs(clean.astype(int) - photo.astype(int))[mask].mean() > 1  # objects filled
    far = cv2.dilate(mask.astype(np.uint8), np.ones((21, 21), np.uint8)) == 0
    assert np.array_equal(clean[far], photo[far])  # the rest of the photo is untouched
    # renders over the cleaned photos: the same records pointed at the cleaned files
    moved = tmp_path / "moved"
    shutil.copytree(renders, moved)
    recs = (moved / "records.jsonl").read_text().splitlines()
    by_src = {str(bop_real.photos[i].path.resolve()): str(files[i]) for i in (0, 1)}
    out = []
    for line in recs:
        r = json.loads(line)
        r["params"]["background"]["image"] = by_src[r["params"]["background"]["image"]]
        out.append(json.dumps(r))
    (moved / "records.jsonl").write_text("\n".join(out) + "\n")
    after = contamination(read_render_labels(moved, bop_real.classes), {**masks, **left})
    assert after.mean_share == 0 < before.mean_share
