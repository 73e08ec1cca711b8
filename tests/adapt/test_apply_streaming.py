"""`adapt apply` streams the records: memory does not grow with the dataset, and a bad line is
refused before any image is written."""

import json

import numpy as np
import pytest

from synthgap.adapt.apply import apply_adapter
from synthgap.adapt.histogram import HistogramMatch
from synthgap.data import read_image
from synthgap.data.layout import DatasetFileError
from tests.bigdata import growth_mb, tamper_middle, write_big_dataset


def test_apply_memory_does_not_grow_with_the_records(tmp_path):
    small, large = write_big_dataset(tmp_path / "s", 40), write_big_dataset(tmp_path / "l", 240)
    renders = [read_image(p) for p in sorted((small / "images").glob("*.png"))]
    ad = HistogramMatch().fit(renders, renders, rng=np.random.default_rng(0))
    growth = growth_mb(lambda src, out: apply_adapter(ad, src, out, progress=False), small,
                        large, tmp_path / "out")
    assert growth < 0.4, growth  # 200 more records of 16 KB: 3.2 MB if they were held
    # records in index order, as the in-memory apply wrote them
    out = (tmp_path / "out" / "l" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in out] == list(range(240))


def test_apply_refuses_a_bad_line_before_writing_any_image(tmp_path):
    root = write_big_dataset(tmp_path / "d", 30, shuffle=False)
    renders = [read_image(p) for p in sorted((root / "images").glob("*.png"))]
    ad = HistogramMatch().fit(renders, renders, rng=np.random.default_rng(0))
    lineno = tamper_middle(root)
    with pytest.raises(DatasetFileError, match=rf"records.jsonl:{lineno}: not a valid record"):
        apply_adapter(ad, root, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))
