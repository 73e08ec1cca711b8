"""Files named by records or labels stay inside the folders a command was given (issue 11)."""

import json
import os
import threading

import numpy as np
import pytest

from synthgap.adapt.apply import apply_adapter
from synthgap.adapt.histogram import HistogramMatch
from synthgap.data import read_image
from synthgap.data.layout import DatasetFileError
from synthgap.data.paths import FolderBusyError, contained, folder_lock, safe_name
from synthgap.export import ExportError, ExportOptions, export_dataset


def _rewrite_records(root, edit):
    lines = (root / "records.jsonl").read_text().splitlines()
    out = []
    for line in lines:
        rec = json.loads(line)
        edit(rec)
        out.append(json.dumps(rec))
    (root / "records.jsonl").write_text("\n".join(out) + "\n")


def _histogram(fake_dataset):
    renders = [read_image(p) for p in sorted((fake_dataset / "images").glob("*.png"))]
    real = [np.full((20, 20, 3), 128, np.uint8)]
    return HistogramMatch().fit(renders, real, rng=np.random.default_rng(0))


@pytest.mark.parametrize("bad", ["/etc/hostname", "../outside.png", "images/../../outside.png",
                                 "images\\..\\x.png", "images/a\x00.png", "", 7])
def test_contained_refuses_paths_leaving_the_folder(tmp_path, bad):
    with pytest.raises(DatasetFileError, match="record 3"):
        contained(tmp_path, bad, what="record 3")


def test_contained_refuses_a_symlink_pointing_out(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", tmp_path / "root" / "link.png")
    with pytest.raises(DatasetFileError, match="leads outside"):
        contained(tmp_path / "root", "link.png", what="r")
    assert contained(tmp_path / "root", "images/a.png", what="r") == tmp_path / "root/images/a.png"


@pytest.mark.parametrize("layer", ["image", "mask", "depth"])
def test_apply_never_writes_or_reads_outside(fake_dataset, tmp_path, layer):
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    _rewrite_records(fake_dataset, lambda r: r["files"].__setitem__(layer, "../victim.png"))
    with pytest.raises(DatasetFileError, match=f"files.{layer}.*not a plain relative path"):
        apply_adapter(_histogram(fake_dataset), fake_dataset, tmp_path / "out", progress=False)
    _rewrite_records(fake_dataset, lambda r: r["files"].__setitem__(layer, str(victim)))
    with pytest.raises(DatasetFileError, match="not a plain relative path"):
        apply_adapter(_histogram(fake_dataset), fake_dataset, tmp_path / "out", progress=False)
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "out" / "records.jsonl").exists()


@pytest.mark.parametrize("fmt", ["coco", "yolo", "folders", "webdataset"])
def test_export_never_copies_a_file_from_outside(fake_dataset, tmp_path, fmt):
    (tmp_path / "secret.txt").write_text("root:x:0:0")
    _rewrite_records(fake_dataset, lambda r: r["files"].__setitem__("image", "../secret.txt"))
    with pytest.raises(DatasetFileError, match="files.image"):
        export_dataset(fake_dataset, tmp_path / "exp", format=fmt, split="1,0,0")
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("name", ["../../../x", "a/b", ".", "..", ".hidden", "nul\x00byte",
                                  "tab\there", "x" * 300])
def test_folders_refuses_a_class_name_that_is_not_one_folder(fake_dataset, tmp_path, name):
    def edit(r):
        for inst in r["instances"]:
            inst["category"] = name
    _rewrite_records(fake_dataset, edit)
    with pytest.raises(ExportError, match="cannot be a folder name"):
        export_dataset(fake_dataset, tmp_path / "deep" / "exp", format="folders", split="1,0,0",
                       options=ExportOptions(by="class", crops=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "raw"]
    assert not list((tmp_path / "deep").glob("*/*/*"))  # nothing written anywhere


def test_safe_name_accepts_ordinary_labels():
    for name in ("bracket", "NG", "dent+scratch", "ok", "Ölwanne 2"):
        assert safe_name(name, what="w") == name


def test_folder_lock_is_exclusive(tmp_path):
    with folder_lock(tmp_path, command="a"), \
            pytest.raises(FolderBusyError, match="another synthgap process"), \
            folder_lock(tmp_path, command="b"):
        pass
    with folder_lock(tmp_path, command="c"):  # released
        pass


def test_two_applies_into_one_folder_do_not_duplicate_records(fake_dataset, tmp_path):
    ad = _histogram(fake_dataset)
    out = tmp_path / "out"
    gate, errors = threading.Event(), []
    real_transform = ad.transform

    def slow(x):
        gate.wait(5)
        return real_transform(x)

    ad.transform = slow
    t = threading.Thread(target=lambda: apply_adapter(ad, fake_dataset, out, progress=False))
    t.start()
    try:
        for _ in range(200):  # wait until the first run holds the lock
            if (out / ".lock").exists():
                break
            threading.Event().wait(0.01)
        try:
            apply_adapter(_histogram(fake_dataset), fake_dataset, out, progress=False)
        except FolderBusyError as exc:
            errors.append(exc)
    finally:
        gate.set()
        t.join()
    assert errors and "another synthgap process" in str(errors[0])
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines)) == 6


def test_apply_into_a_symlink_loop_is_a_clear_error(fake_dataset, tmp_path):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(DatasetFileError, match="symbolic link"):
        apply_adapter(_histogram(fake_dataset), fake_dataset, tmp_path / "loop" / "x",
                      progress=False)
    with pytest.raises(DatasetFileError, match="symbolic link"):
        export_dataset(fake_dataset, tmp_path / "loop", format="coco")
