from pathlib import Path

import cv2
import numpy as np
import pytest

from synthgap.adapt.photos import PhotoError, as_images, image_folder, list_photos, load_photos


def _write_mixed(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "b_colour.png"), colour[:, :, ::-1])
    cv2.imwrite(str(folder / "a_grey.JPG"), rng.integers(0, 256, (25, 17), dtype=np.uint8))
    cv2.imwrite(str(folder / "c_16bit.tif"), np.full((8, 9), 65535, np.uint16))
    rgba = np.dstack([colour, np.full((20, 30), 7, np.uint8)])
    cv2.imwrite(str(folder / "d_alpha.png"), rgba)
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".hidden.png.tmp.png").write_bytes(b"")


def test_load_any_format_sorted_grey_flagged(tmp_path):
    _write_mixed(tmp_path / "p")
    photos = load_photos(tmp_path / "p")
    assert [p.name for p in photos.paths] == ["a_grey.JPG", "b_colour.png", "c_16bit.tif", "d_alpha.png"]
    assert [im.shape for im in photos.images] == [(25, 17, 3), (20, 30, 3), (8, 9, 3), (20, 30, 3)]
    assert all(im.dtype == np.uint8 for im in photos.images)
    assert photos.grey == [True, False, True, False]
    assert not photos.all_grey
    assert photos.images[2].max() == 255  # 16-bit full scale -> 8-bit full scale
    # the colour photo came back in RGB order, identical to what was written
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(photos.images[1], rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))


def test_corrupt_files_named_and_skipped_only_on_request(tmp_path):
    _write_mixed(tmp_path / "p")
    (tmp_path / "p" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "p" / "empty.jpg").write_bytes(b"")
    with pytest.raises(PhotoError, match=r"2 unreadable.*broken\.png.*empty\.jpg.*--skip-bad"):
        load_photos(tmp_path / "p")
    photos = load_photos(tmp_path / "p", skip_bad=True)
    assert len(photos) == 4
    assert sorted(p.name for p, _ in photos.skipped) == ["broken.png", "empty.jpg"]


def test_missing_empty_and_all_bad_folders(tmp_path):
    with pytest.raises(PhotoError, match="no such folder"):
        load_photos(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PhotoError, match="no photos found"):
        list_photos(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(PhotoError, match="none of the 1"):
        load_photos(tmp_path / "bad", skip_bad=True)


def test_dataset_directory_uses_images_and_limit(fake_dataset):
    assert image_folder(fake_dataset) == fake_dataset / "images"
    photos = load_photos(fake_dataset, limit=2)
    assert [p.name for p in photos.paths] == ["000000.png", "000001.png"]
    with pytest.raises(PhotoError, match="limit"):
        load_photos(fake_dataset, limit=0)


def test_min_size_counts_as_bad(tmp_path):
    (tmp_path / "p").mkdir()
    cv2.imwrite(str(tmp_path / "p" / "tiny.png"), np.zeros((3, 40), np.uint8))
    cv2.imwrite(str(tmp_path / "p" / "ok.png"), np.zeros((40, 40), np.uint8))
    with pytest.raises(PhotoError, match=r"tiny\.png: 40x3 px is smaller than the 16 px"):
        load_photos(tmp_path / "p", min_size=16)


def test_as_images_checks():
    grey = np.zeros((4, 5), np.uint8)
    assert as_images([grey])[0].shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"real\[0\]: expected uint8"):
        as_images([np.zeros((4, 5, 3), np.float32)], name="real")
    with pytest.raises(ValueError, match=r"x\[1\]: expected an \(H, W, 3\)"):
        as_images([grey, np.zeros((4, 5, 4), np.uint8)], name="x")
    with pytest.raises(ValueError, match="at least one"):
        as_images([])


def test_exclude_leaves_named_photos_out_before_the_limit(tmp_path):
    for k in range(4):
        cv2.imwrite(str(tmp_path / f"p{k}.png"), np.full((8, 8, 3), 10 * k, np.uint8))
    got = load_photos(tmp_path, exclude=["p1.png"], limit=2)
    assert [p.name for p in got.paths] == ["p0.png", "p2.png"]
    with pytest.raises(PhotoError, match="every photo is excluded"):
        load_photos(tmp_path, exclude=[f"p{k}.png" for k in range(4)])


def test_load_class_photos_labels_each_image_with_its_sub_folder(tmp_path):
    from synthgap.adapt.photos import load_class_photos

    for cls, n in (("nut", 2), ("bracket", 1)):
        (tmp_path / cls).mkdir()
        for k in range(n):
            cv2.imwrite(str(tmp_path / cls / f"{k}.png"), np.full((8, 8, 3), 50, np.uint8))
    (tmp_path / "nut" / "bad.png").write_bytes(b"no")
    images, labels, skipped = load_class_photos(tmp_path, skip_bad=True)
    assert labels == ["bracket", "nut", "nut"] and len(images) == 3
    assert [p.name for p, _ in skipped] == ["bad.png"]
    with pytest.raises(PhotoError, match="one sub-folder of images per class"):
        load_class_photos(tmp_path / "nut")
