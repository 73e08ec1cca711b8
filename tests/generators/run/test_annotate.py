"""Annotations: boxes, visible fraction, poses, defects, record fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthgap.data import Record
from synthgap.generators.run.annotate import annotate, label_boxes
from tests.generators._render_helpers import camera, dent, params, scratch


def test_label_boxes_hand_checked():
    labels = np.zeros((6, 8), np.uint16)
    labels[1:3, 2:5] = 1  # 2 rows x 3 cols
    labels[5, 7] = 3
    counts, boxes = label_boxes(labels, 3)
    assert counts.tolist() == [6, 0, 1]
    assert boxes == [[2, 1, 3, 2], [], [7, 5, 1, 1]]


def _masks(cam):
    inst = np.zeros((cam.height, cam.width), np.uint16)
    inst[10:20, 5:25] = 1     # 200 px
    inst[30:34, 40:50] = 2    # 40 px
    dmask = np.zeros_like(inst)
    dmask[12:14, 6:16] = 1    # scratch: 20 px
    return inst, dmask


def test_record_fields():
    cam = camera(64, 48)
    p = params(cam=cam, defects=[scratch(), dent()])
    inst, dmask = _masks(cam)
    rec = annotate(p, inst, dmask, np.array([250, 40]))
    a, b = rec.instances
    assert (a.id, a.category, a.part, a.bbox, a.visible_pixels) == (1, "block", "block",
                                                                    [5, 10, 20, 10], 200)
    assert a.visible_fraction == pytest.approx(0.8) and b.visible_fraction == 1.0
    assert a.defects == [1, 2] and b.defects == [] and a.ng and not b.ng
    d1, d2 = rec.defects
    assert (d1.id, d1.type, d1.instance, d1.bbox, d1.pixels) == (1, "scratch", 1, [6, 12, 10, 2], 20)
    assert d2.bbox == [] and d2.pixels == 0 and d2.params["size"]["radius_mm"] == 4.0
    # camera-from-object = inv(world-from-camera) @ world-from-object
    expect = np.linalg.inv(np.asarray(cam.pose)) @ np.asarray(p.parts[0].pose)
    np.testing.assert_allclose(a.pose, expect)
    np.testing.assert_allclose(rec.K, cam.K)
    assert rec.files == {"image": "images/000000.png", "depth": "depth/000000.png",
                         "mask": "masks/000000.png", "defects": "defects/000000.png"}
    # JSON round trip of the whole record (params included).
    again = Record.from_dict(json.loads(rec.to_json()))
    assert again.to_json() == rec.to_json()
    assert again.params["camera"]["fx"] == cam.fx


def test_fully_hidden_instance():
    cam = camera(64, 48)
    inst, dmask = _masks(cam)
    inst[inst == 2] = 0
    rec = annotate(params(cam=cam), inst, dmask * 0, np.array([200, 0]), defects_layer=False)
    assert rec.instances[1].bbox == [] and rec.instances[1].visible_fraction == 0.0
    assert "defects" not in rec.files


def test_bad_shapes():
    cam = camera(64, 48)
    inst, dmask = _masks(cam)
    with pytest.raises(ValueError, match="instance_mask has shape"):
        annotate(params(cam=cam), inst[:10], dmask, np.array([1, 1]))
    with pytest.raises(ValueError, match="unoccluded_pixels"):
        annotate(params(cam=cam), inst, dmask, np.array([1]))
