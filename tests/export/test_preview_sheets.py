import json

import numpy as np
import pytest

from synthgap.data import write_image_atomic
from synthgap.export import export_dataset
from synthgap.export.base import ExportError
from synthgap.export.preview import (
    DEFECT_COLOR,
    annotate,
    class_colors,
    compare_sheet,
    contact_sheet,
    load_samples,
    pick,
)
from tests.conftest import write_adapted_copy


def test_sheet_size_follows_the_grid(fake_dataset):
    sheet = contact_sheet(fake_dataset, n=4, seed=0, tile_width=128)
    # title 44 px; 2x2 tiles of (18 + 48*2) x 128 px with 4 px gaps
    assert sheet.shape == (44 + 2 * (18 + 96 + 4) + 4, 2 * (128 + 4) + 4, 3)
    assert sheet.dtype == np.uint8


def test_sheet_is_deterministic_and_the_seed_picks_the_images(fake_dataset):
    a = contact_sheet(fake_dataset, n=3, seed=1)
    assert np.array_equal(a, contact_sheet(fake_dataset, n=3, seed=1))
    assert pick(6, 3, seed=1) != pick(6, 3, seed=2)
    assert pick(6, 50, seed=0) == list(range(6))
    with pytest.raises(ValueError, match="at least 1"):
        pick(6, 0, seed=0)


def test_masks_are_tinted_and_defects_are_red(fake_dataset):
    samples = load_samples(fake_dataset)
    s = next(x for x in samples if any(n.startswith("defect/") for n in x.names))
    colors = class_colors(sorted(set(s.names)))
    tile = annotate(s, colors, width=4 * s.image.shape[1])[18:]  # drop the header strip

    def up(a):  # the tile is the image scaled 4x with nearest neighbours
        return np.repeat(np.repeat(a, 4, axis=-2 if a.ndim == 2 else 0), 4,
                         axis=-1 if a.ndim == 2 else 1)

    image, masks = up(s.image), np.stack([up(m) for m in s.masks])
    k = s.names.index(next(n for n in s.names if n.startswith("defect/")))
    px = tile[masks[k]].astype(int)
    reddish = (px[:, 0] > px[:, 1] + 60) & (px[:, 0] > px[:, 2] + 60)
    assert reddish.mean() > 0.5  # (labels of other parts may cover some)
    assert colors[s.names[k]] == DEFECT_COLOR
    unchanged = (tile == image).all(-1)
    assert not unchanged[masks.any(0)].any()  # every object pixel is tinted or outlined
    assert unchanged[~masks.any(0)].mean() > 0.5  # most of the rest is left alone


def test_preview_of_an_export_reads_the_export(fake_dataset, tmp_path):
    export_dataset(fake_dataset, tmp_path / "c", format="coco", split="1,0,0")
    a = contact_sheet(tmp_path / "c", n=6, title="t")
    b = contact_sheet(fake_dataset, n=6, title="t")
    assert np.array_equal(a, b)


def test_compare_sheet_puts_render_adapted_and_real_side_by_side(fake_dataset, tmp_path):
    adapted = write_adapted_copy(fake_dataset, tmp_path / "adapted", invert=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image_atomic(photos / "a.png", np.full((30, 100, 3), 200, np.uint8))
    sheet = compare_sheet(fake_dataset, adapted, photos, n=2, seed=0, tile_width=64)
    assert sheet.shape == (24 + 2 * (18 + 48 + 4) + 4, 3 * (64 + 4) + 4, 3)  # no legend
    # third column: the grey photo, cropped to the tile
    assert (sheet[24 + 4 + 18 + 10, 2 * 68 + 4 + 10] == 200).all()
    with pytest.raises(ExportError, match="no photos"):
        compare_sheet(fake_dataset, adapted, tmp_path, n=2)


def test_compare_sheet_refuses_a_directory_not_adapted_from_the_dataset(fake_dataset, tmp_path):
    adapted = write_adapted_copy(fake_dataset, tmp_path / "adapted")
    (adapted / "adapt.json").unlink()
    with pytest.raises(ExportError, match="no adapt.json.*adapt apply"):
        compare_sheet(fake_dataset, adapted, n=2)
    (adapted / "adapt.json").write_text(json.dumps({"source": str(tmp_path / "other")}))
    with pytest.raises(ExportError, match="was adapted from .*other, not from"):
        compare_sheet(fake_dataset, adapted, n=2)
    (adapted / "adapt.json").write_text("{")
    with pytest.raises(ExportError, match="adapt.json: unreadable"):
        compare_sheet(fake_dataset, adapted, n=2)
