"""Contract tests run over every registered exporter."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from synthgap.export import EXPORTERS, ExportOptions, assign_splits, export_dataset, open_dataset
from synthgap.export.objects import image_objects
from synthgap.export.splits import parse_split
from tests.conftest import write_fake_dataset

SPLIT = "0.5,0.25,0.25"
SEED = 3


@pytest.fixture(scope="module", params=["fake", "rendered"])
def dataset(request, tmp_path_factory) -> Path:
    """A fake dataset (rectangles and discs) and a real render (bin preset: occluded parts,
    washers with holes, distractors)."""
    root = tmp_path_factory.mktemp("contract") / "raw"
    if request.param == "fake":
        return write_fake_dataset(root, n=12)
    from click.testing import CliRunner

    from synthgap.cli import main

    result = CliRunner().invoke(main, ["render", "preset:bin", "-n", "8", "-o", str(root),
                                       "--seed", "3", "--width", "128", "--height", "96"])
    assert result.exit_code == 0, result.output
    return root


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "export.json"}


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_exporter_contract(name, dataset, tmp_path):
    exporter = EXPORTERS[name]
    options = ExportOptions(crops=not exporter.per_image)
    summary = export_dataset(dataset, tmp_path / "a", format=name, split=SPLIT, seed=SEED,
                             options=options)
    samples = list(exporter.read(tmp_path / "a"))
    source = open_dataset(dataset)
    splits = assign_splits([r.index for r in source.records], parse_split(SPLIT), seed=SEED)
    by_index = {r.index: r for r in source.records}

    # counts match: the summary, the files and the source agree
    assert sum(summary.images.values()) == len(samples)
    for split in ("train", "val", "test"):
        assert summary.images[split] == sum(s.split == split for s in samples)
    # a format without defects (bop) exports the parts only
    expected = options if exporter.defects else dataclasses.replace(options, defects=False)
    objects = {r.index: image_objects(source, r, expected) for r in source.records}
    if exporter.per_image:
        assert sorted(s.index for s in samples) == sorted(by_index)
        assert sum(summary.objects.values()) == sum(len(o) for o in objects.values())
    else:
        n_parts = sum(o.kind == "part" for objs in objects.values() for o in objs)
        assert len(samples) == n_parts
    # ids unique; every sample sits in its image's split (so splits are disjoint and cover all)
    assert len({s.key for s in samples}) == len(samples)
    assert all(s.split == splits[s.index] for s in samples)
    assert len({s.split for s in samples}) >= 2
    # category ids unique
    assert len(set(summary.categories.values())) == len(summary.categories)

    ious = []
    for s in samples:
        record = by_index[s.index]
        if not exporter.per_image:
            assert s.image.ndim == 3 and s.image.shape[2] == 3 and len(s.names) == 1
            continue
        np.testing.assert_array_equal(s.image, source.image(record))
        objs = objects[s.index]
        assert list(s.names) == [o.name for o in objs]
        np.testing.assert_allclose(s.boxes, np.array([o.bbox for o in objs]).reshape(-1, 4),
                                   atol=1e-3)
        if exporter.masks is None:
            assert s.masks is None
            continue
        assert s.masks.shape == (len(objs), record.height, record.width)
        for mask, obj in zip(s.masks, objs, strict=True):
            if exporter.masks == "exact":
                np.testing.assert_array_equal(mask, obj.mask)
            else:  # one ring through boundary pixel centres: covers the mask; holes are
                # filled and pieces bridged, so it may add pixels
                assert (mask & obj.mask).sum() == obj.mask.sum(), (s.key, obj.name)
                ious.append((mask & obj.mask).sum() / (mask | obj.mask).sum())

    if ious:
        assert min(ious) >= 0.5 and np.mean(ious) >= 0.85, (min(ious), np.mean(ious))

    # deterministic: the same export again gives byte-identical files
    export_dataset(dataset, tmp_path / "b", format=name, split=SPLIT, seed=SEED, options=options)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    manifest = json.loads((tmp_path / "a" / "export.json").read_text())
    assert manifest["format"] == name and manifest["seed"] == SEED


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_reexport_into_the_same_folder_replaces_it(name, dataset, tmp_path):
    options = ExportOptions(crops=not EXPORTERS[name].per_image)
    export_dataset(dataset, tmp_path / "a", format=name, split="1,0,0", seed=0, options=options)
    export_dataset(dataset, tmp_path / "a", format=name, split="0,1,0", seed=0, options=options)
    samples = list(EXPORTERS[name].read(tmp_path / "a"))
    assert samples and {s.split for s in samples} == {"val"}
