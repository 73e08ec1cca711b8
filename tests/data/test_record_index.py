"""`scan_records` / `RecordIndex`: records.jsonl read one line at a time, in index order."""

import pytest

from synthgap.data import read_records
from synthgap.data.layout import DatasetFileError
from synthgap.data.records import RecordIndex, scan_records
from tests.bigdata import write_big_dataset


def test_record_index_reads_one_line_at_a_time_in_index_order(tmp_path):
    root = write_big_dataset(tmp_path / "d", 50)
    index = scan_records(root)
    assert isinstance(index, RecordIndex) and len(index) == 50
    assert index.indices.tolist() == list(range(50))
    assert [r.index for r in index] == list(range(50))
    assert index[17].index == 17 and [r.index for r in index[3:6]] == [3, 4, 5]
    assert [r.index for r in index.subset(index.indices % 10 == 0)] == [0, 10, 20, 30, 40]
    assert list(index) == read_records(root)
    with pytest.raises(ValueError, match="read-only"):
        index.indices[0] = 5


def test_a_line_changed_after_the_scan_is_an_error_not_a_wrong_record(tmp_path):
    root = write_big_dataset(tmp_path / "d", 10, shuffle=False)
    index = scan_records(root)
    text = (root / "records.jsonl").read_text()
    (root / "records.jsonl").write_text(text.replace('"index":3,', '"index":4,', 1))
    with pytest.raises(DatasetFileError, match=r"records.jsonl:4: changed while it was being "
                                               r"read"):
        list(index)


def test_a_repeated_index_names_both_lines(tmp_path):
    root = write_big_dataset(tmp_path / "d", 10, shuffle=False)
    lines = (root / "records.jsonl").read_text().splitlines(keepends=True)
    (root / "records.jsonl").write_text("".join([*lines, lines[2], lines[7]]))
    with pytest.raises(DatasetFileError, match=r"records.jsonl:11: index 2 again \(the record "
                                               r"at line 3 has it too\)"):
        scan_records(root)


def test_a_file_replaced_after_the_scan_is_refused(tmp_path):
    root = write_big_dataset(tmp_path / "d", 10, shuffle=True)
    index = scan_records(root)
    with open(root / "records.jsonl", "a") as f:  # an append keeps every offset: fine
        f.write("\n")
    assert [r.index for r in index] == list(range(10))
    # a render that finishes sorts the file into a new one (same records, other offsets)
    lines = sorted((root / "records.jsonl").read_text().splitlines(keepends=True)[:10],
                   key=lambda line: int(line.split('"index":', 1)[1].split(",", 1)[0]))
    (root / "sorted.tmp").write_text("".join(lines))
    (root / "sorted.tmp").replace(root / "records.jsonl")
    with pytest.raises(DatasetFileError, match="replaced or cut since it was read"):
        list(index)
    with pytest.raises(DatasetFileError, match="replaced or cut since it was read"):
        index[3]
