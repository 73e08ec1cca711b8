import subprocess
import sys

import numpy as np
import pytest
import torch

from synthgap.data import SynthgapDataset
from synthgap.data.layout import DatasetFileError
from synthgap.export import ExportOptions, export_dataset


def _check_consistent(ds):
    assert len(ds) > 0
    for i in range(len(ds)):
        image, t = ds[i]
        assert image.dtype == torch.float32 and image.shape[0] == 3
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        n = len(t["labels"])
        assert t["labels"].dtype == torch.int64 and t["labels"].shape == (n,)
        assert t["boxes"].dtype == torch.float32 and t["boxes"].shape == (n, 4)
        assert bool((t["labels"] >= 1).all()) and bool((t["labels"] < len(ds.classes)).all())
        assert bool((t["boxes"][:, 2:] > t["boxes"][:, :2]).all())
        if ds.has_masks:
            masks = t["masks"]
            assert masks.dtype == torch.bool and masks.shape == (n, *image.shape[1:])
            for m, b in zip(masks, t["boxes"], strict=True):  # box = tight box of mask (xyxy)
                ys, xs = torch.nonzero(m, as_tuple=True)
                assert b.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_raw_directory_gives_consistent_tensors(fake_dataset):
    ds = SynthgapDataset(fake_dataset)
    assert ds.classes == ("__background__", "bracket", "washer")
    assert len(ds) == 6
    _check_consistent(ds)
    image, t = ds[0]
    assert int(t["image_id"]) == 0 and image.shape == (3, 48, 64)
    # no defect objects unless asked
    assert all(ds.classes[k] != "defect/scratch" for k in t["labels"])


def test_defects_as_objects_and_uint8_images(fake_dataset):
    ds = SynthgapDataset(fake_dataset, defects=True, image_dtype="uint8")
    assert ds.classes[-1] == "defect/scratch"
    labels = torch.cat([ds[i][1]["labels"] for i in range(len(ds))])
    assert (labels == len(ds.classes) - 1).any()
    assert ds[0][0].dtype == torch.uint8


@pytest.mark.parametrize("fmt", ["coco", "yolo-seg", "webdataset", "yolo", "bop"])
def test_exported_folder_reads_the_same_as_its_source(fake_dataset, tmp_path, fmt):
    export_dataset(fake_dataset, tmp_path / fmt, format=fmt, split="0.5,0.5,0", seed=1,
                   options=ExportOptions())
    raw = SynthgapDataset(fake_dataset)
    for split in ("train", "val"):
        ds = SynthgapDataset(tmp_path / fmt, split=split)
        assert ds.classes == raw.classes
        assert ds.has_masks == (fmt != "yolo")
        _check_consistent(ds)
        # the raw directory split the same way (same ratios and seed) gives the same items
        same = SynthgapDataset(fake_dataset, split=split, split_ratios="0.5,0.5,0", split_seed=1)
        assert len(ds) == len(same)
        by_id = {int(same[i][1]["image_id"]): same[i] for i in range(len(same))}
        for i in range(len(ds)):
            image, t = ds[i]
            ref_image, ref = by_id[int(t["image_id"])]
            assert torch.equal(image, ref_image) and torch.equal(t["labels"], ref["labels"])
            torch.testing.assert_close(t["boxes"], ref["boxes"], atol=1e-3, rtol=0)
            if fmt in ("coco", "webdataset", "bop"):
                assert torch.equal(t["masks"], ref["masks"])


def test_works_with_a_dataloader(fake_dataset):
    loader = torch.utils.data.DataLoader(SynthgapDataset(fake_dataset), batch_size=3,
                                         collate_fn=lambda b: tuple(zip(*b, strict=True)))
    images, targets = next(iter(loader))
    assert len(images) == 3 and "masks" in targets[0]


def test_bad_inputs_are_named(fake_dataset, tmp_path):
    with pytest.raises(DatasetFileError, match="neither a dataset directory"):
        SynthgapDataset(tmp_path)
    with pytest.raises(ValueError, match="split: expected"):
        SynthgapDataset(fake_dataset, split="training")
    export_dataset(fake_dataset, tmp_path / "f", format="folders")
    with pytest.raises(ValueError, match="ImageFolder"):
        SynthgapDataset(tmp_path / "f")


def test_importing_synthgap_data_does_not_import_torch():
    code = "import sys, synthgap.data; assert 'torch' not in sys.modules; synthgap.data.SynthgapDataset; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hand_checked_box_of_a_known_rectangle(fake_dataset):
    from synthgap.data import read_records
    r = read_records(fake_dataset)[0]
    x, y, w, h = r.instances[0].bbox
    _, t = SynthgapDataset(fake_dataset)[0]
    assert t["boxes"][0].tolist() == [x, y, x + w, y + h]
    np.testing.assert_array_equal(t["instance_ids"].numpy()[:1], [r.instances[0].id])


def test_a_real_render_gives_consistent_tensors(tmp_path):
    from click.testing import CliRunner

    from synthgap.cli import main

    r = CliRunner().invoke(main, ["render", "preset:bin", "-n", "3", "-o", str(tmp_path / "r"),
                                  "--seed", "1", "--width", "96", "--height", "72"])
    assert r.exit_code == 0, r.output
    ds = SynthgapDataset(tmp_path / "r", defects=True)
    assert ds.classes[:4] == ("__background__", "bracket", "nut", "washer")
    _check_consistent(ds)
