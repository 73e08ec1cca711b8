import numpy as np
import pytest

from synthgap.data import DatasetLayout, read_depth, read_image, read_label_png, read_records
from synthgap.data.layout import DatasetFileError


def test_fake_dataset_round_trips(fake_dataset):
    records = read_records(fake_dataset)
    assert [r.index for r in records] == list(range(6))
    layout = DatasetLayout(fake_dataset)
    for r in records:
        rgb = read_image(layout.image(r.index))
        mask = read_label_png(layout.mask(r.index))
        depth = read_depth(layout.depth(r.index))
        assert rgb.shape == (r.height, r.width, 3) and rgb.dtype == np.uint8
        assert mask.dtype == np.uint16
        # invariant: every mask pixel has finite depth
        assert np.isfinite(depth[mask > 0]).all()
        for inst in r.instances:
            x, y, w, h = inst.bbox
            ys, xs = np.nonzero(mask == inst.id)
            assert xs.min() == x and xs.max() == x + w - 1 and ys.min() == y and ys.max() == y + h - 1


def test_torn_last_line_is_ignored(fake_dataset):
    path = DatasetLayout(fake_dataset).records
    with open(path, "a") as f:
        f.write('{"index": 6, "seed"')  # killed mid-append
    assert len(read_records(fake_dataset)) == 6


def test_corrupt_line_names_file_and_line(fake_dataset):
    path = DatasetLayout(fake_dataset).records
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "not json\n"
    path.write_text("".join(lines))
    with pytest.raises(DatasetFileError, match=r"records.jsonl:3"):
        read_records(fake_dataset)


def test_corrupt_image_is_named(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DatasetFileError, match="bad.png"):
        read_image(bad)


def test_append_after_torn_line_keeps_file_valid(fake_dataset):
    from synthgap.data import append_record

    records = read_records(fake_dataset)
    path = DatasetLayout(fake_dataset).records
    with open(path, "a") as f:
        f.write('{"index": 6, "se')  # killed mid-append
    append_record(fake_dataset, records[0].__class__(**{**records[0].__dict__, "index": 7}))
    assert [r.index for r in read_records(fake_dataset)] == [0, 1, 2, 3, 4, 5, 7]
    assert path.read_text().count("\n") == 7
