"""`export` streams the records: memory does not grow with the dataset, the output is the one
an in-memory run gives, and a bad line is refused before anything is written."""

import dataclasses
import json

import pytest

from synthgap.data import read_records
from synthgap.data.layout import DatasetFileError
from synthgap.export import export_dataset, open_dataset
from tests.bigdata import growth_mb, tamper_middle, write_big_dataset


@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_export_memory_does_not_grow_with_the_records(tmp_path, fmt):
    small, large = write_big_dataset(tmp_path / "s", 60), write_big_dataset(tmp_path / "l", 360)
    growth = growth_mb(lambda src, out: export_dataset(src, out, format=fmt), small, large,
                        tmp_path / "out")
    # 300 more records of ~16 KB (4.8 MB) must not be held: the index and the list of written
    # files (for export.json) are what may grow, well under 1 KB per record
    assert growth < 0.4, growth


@pytest.mark.parametrize("fmt", ["coco", "yolo", "yolo-seg", "folders", "webdataset", "bop"])
def test_streamed_export_equals_the_in_memory_one(tmp_path, fmt):
    root = write_big_dataset(tmp_path / "d", 40)
    streamed = open_dataset(root)
    in_memory = dataclasses.replace(streamed, records=tuple(read_records(root)))
    kw = {"format": fmt, "split": "0.5,0.3,0.2", "seed": 3}
    export_dataset(streamed, tmp_path / "a", **kw)
    export_dataset(in_memory, tmp_path / "b", **kw)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")
                           if p.is_file())
    for rel in files:
        a, b = (tmp_path / "a" / rel).read_bytes(), (tmp_path / "b" / rel).read_bytes()
        if rel.name == "export.json":  # names its own folder
            a, b = (json.loads(x) for x in (a, b))
            a.pop("out"), b.pop("out")
        assert a == b, rel
    if fmt == "coco":  # streamed pieces join into what one json.dumps of the document gives
        for path in (tmp_path / "a" / "annotations").glob("*.json"):
            text = path.read_text()
            assert text == json.dumps(json.loads(text), separators=(",", ":"))
    if fmt == "bop":  # one line per image, as the BOP toolkit writes
        from synthgap.export.bop import _dump

        gt = tmp_path / "a" / "train" / "000000" / "scene_gt.json"
        _dump(tmp_path / "again.json", json.loads(gt.read_text()))
        assert gt.read_text() == (tmp_path / "again.json").read_text()


@pytest.mark.parametrize("fmt", ["coco", "bop"])
def test_a_bad_line_in_the_middle_is_named_and_nothing_is_written(tmp_path, fmt):
    root = write_big_dataset(tmp_path / "d", 30, shuffle=False)
    lineno = tamper_middle(root)
    with pytest.raises(DatasetFileError, match=rf"records.jsonl:{lineno}: not a valid record "
                                               r"\(width: expected a whole number"):
        export_dataset(root, tmp_path / "out", format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_subset_and_indices_without_reading_records(tmp_path):
    source = open_dataset(write_big_dataset(tmp_path / "d", 20))
    assert list(source.indices) == list(range(20))
    sub = source.subset([3, 11, 7, 99])
    assert [r.index for r in sub.records] == [3, 7, 11] and list(sub.indices) == [3, 7, 11]
    in_memory = dataclasses.replace(source, records=tuple(read_records(source.root)))
    assert list(in_memory.subset([3, 11, 7]).records) == list(sub.records)
