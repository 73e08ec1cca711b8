"""albumentations in SynthgapDataset: image, masks and boxes transformed together, seeded."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network at import
import albumentations as A  # the [train] extra; the [dev] extra has it too

from synthgap.data import SynthgapDataset
from synthgap.data.augment import apply_transform, mask_boxes
from synthgap.export import export_dataset


def _pipeline(seed: int, *, bbox: bool = True) -> A.Compose:
    """Flip, crop and colour jitter: a real training pipeline, small images."""
    return A.Compose(
        [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomCrop(32, 40, p=1.0),
         A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=1.0)],
        bbox_params=A.BboxParams(format="coco", label_fields=["labels"]) if bbox else None,
        seed=seed)


def test_albumentations_is_the_mit_release_and_opencv_headless_is_the_one_opencv():
    from importlib.metadata import PackageNotFoundError, version

    assert version("albumentations").startswith("2.0.")
    assert version("opencv-python-headless")
    for other in ("opencv-python", "opencv-contrib-python"):
        with pytest.raises(PackageNotFoundError):
            version(other)


def test_image_masks_and_boxes_move_together(fake_dataset):
    ds = SynthgapDataset(fake_dataset, image_dtype="uint8", transform=_pipeline(7))
    plain = SynthgapDataset(fake_dataset, image_dtype="uint8")
    # the same pipeline, called by hand on the instance-id image with the same random state
    twin = _pipeline(7, bbox=False)
    from synthgap.export.source import open_dataset

    source = open_dataset(fake_dataset)
    flipped = cropped = 0
    for i in range(len(ds)):
        image, t = ds[i]
        _, ref = plain[i]
        record = source.records[i]
        ids = source.instance_mask(record)
        rng = np.random.default_rng([7, 0, record.index])
        twin.set_random_state(np.random.default_rng(rng.integers(2**63)),
                              __import__("random").Random(int(rng.integers(2**63))))
        out = twin(image=source.image(record), mask=ids)
        assert image.shape == (3, 32, 40)
        np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), out["image"])
        n = len(t["labels"])
        assert t["masks"].shape == (n, 32, 40) and t["boxes"].shape == (n, 4)
        for m, b, iid, lab in zip(t["masks"], t["boxes"], t["instance_ids"], t["labels"],
                                  strict=True):
            # each mask is its instance in the transformed id image; its box is the mask's box
            np.testing.assert_array_equal(m.numpy(), out["mask"] == int(iid))
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert b.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert lab == ref["labels"][ref["instance_ids"] == iid][0]
        # objects cropped away are gone, the others are all there
        assert sorted(t["instance_ids"].tolist()) == sorted(
            int(v) for v in np.unique(out["mask"]) if v)
        cropped += n < len(ref["labels"])
        flipped += not np.array_equal(out["mask"], ids[:32, :40])
    assert flipped and cropped  # the pipeline did move and cut objects in this sample


def test_seeded_per_item_and_epoch(fake_dataset):
    a = SynthgapDataset(fake_dataset, image_dtype="uint8", transform=_pipeline(3))
    b = SynthgapDataset(fake_dataset, image_dtype="uint8", transform=_pipeline(3))
    # item 2 alone, or after other items: the same result (no dependence on call order)
    a[0], a[1]
    assert torch.equal(a[2][0], b[2][0])
    b.set_epoch(1)
    assert not torch.equal(a[2][0], b[2][0])
    c = SynthgapDataset(fake_dataset, image_dtype="uint8", transform=_pipeline(4))
    assert not all(torch.equal(a[i][0], c[i][0]) for i in range(len(a)))


def test_boxes_without_masks_use_albumentations_boxes(fake_dataset, tmp_path):
    export_dataset(fake_dataset, tmp_path / "y", format="yolo", split="1,0,0", seed=0)
    flip = A.Compose([A.HorizontalFlip(p=1.0)],
                     bbox_params=A.BboxParams(format="pascal_voc"), seed=0)
    ds = SynthgapDataset(tmp_path / "y", transform=flip)
    plain = SynthgapDataset(tmp_path / "y")
    for i in range(len(ds)):
        _, t = ds[i]
        _, ref = plain[i]
        x0, y0, x1, y1 = ref["boxes"].unbind(1)
        expected = torch.stack([64 - x1, y0, 64 - x0, y1], dim=1)  # image is 64 wide
        torch.testing.assert_close(t["boxes"], expected, atol=1e-3, rtol=0)
        assert torch.equal(t["labels"], ref["labels"])
    no_bbox = A.Compose([A.HorizontalFlip(p=1.0)], seed=0)
    with pytest.raises(ValueError, match="give the Compose bbox_params"):
        SynthgapDataset(tmp_path / "y", transform=no_bbox)[0]


def test_mask_boxes_hand_checked():
    m = np.zeros((2, 5, 6), bool)
    m[0, 1:3, 2] = True
    np.testing.assert_array_equal(mask_boxes(m), [[2, 1, 1, 2], [0, 0, 0, 0]])


def test_apply_transform_drops_an_object_cropped_away():
    image = np.zeros((20, 20, 3), np.uint8)
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 2:5, 2:5] = True      # top-left: cut away by the crop
    masks[1, 12:18, 10:19] = True  # bottom-right: kept
    crop = A.Compose([A.Crop(x_min=8, y_min=8, x_max=20, y_max=20)],
                     bbox_params=A.BboxParams(format="coco"), seed=0)
    out = apply_transform(crop, image, masks, mask_boxes(masks))
    assert out.kept.tolist() == [1]
    np.testing.assert_array_equal(out.boxes, [[2, 4, 9, 6]])
    assert out.masks.shape == (1, 12, 12)


def _first(batch):
    return batch[0]


def test_dataloader_workers_give_the_same_augmentations(fake_dataset):
    ds = SynthgapDataset(fake_dataset, image_dtype="uint8", transform=_pipeline(11))
    direct = [ds[i][0] for i in range(len(ds))]
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, collate_fn=_first)
    via_workers = [image for image, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(direct, via_workers, strict=True))
