"""Writing the raw dataset directory: layout, determinism across workers/order, resume, conflicts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from synthgap.data import DatasetLayout, read_depth, read_label_png, read_records
from synthgap.generators.run.runner import render_dataset, render_indices
from synthgap.generators.run.writer import DatasetConflictError, DatasetWriter, RunIdentity
from tests.generators._render_helpers import HandSource

IDENT = RunIdentity("scene: hand-made\n", 0, 64, 48, True)
N = 6


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file but run.json (which holds timings)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file() and p.name != "run.json"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    summary = render_dataset(HandSource(), out, identity=IDENT, count=N)
    assert summary.rendered == N and summary.images == N and summary.skipped == 0
    return out


def test_layout_and_labels_agree(reference):
    lay = DatasetLayout(reference)
    records = read_records(reference)
    assert [r.index for r in records] == list(range(N))
    run = json.loads(lay.run_json.read_text())
    assert run["status"] == "complete" and run["seed"] == 0 and run["images"] == N
    assert set(run["timings"]) >= {"render", "annotate", "wait_writes"}
    assert lay.scene_yaml.read_text() == IDENT.scene_yaml
    for rec in records:
        mask = read_label_png(lay.mask(rec.index))
        depth = read_depth(lay.depth(rec.index))
        defects = read_label_png(lay.defects(rec.index))
        assert np.all(np.isfinite(depth[mask > 0]))  # mask pixels have depth
        assert np.all(mask[defects > 0] > 0)
        for inst in rec.instances:
            ys, xs = np.nonzero(mask == inst.id)
            assert inst.visible_pixels == len(xs)
            if len(xs):
                x, y, w, h = inst.bbox  # the box is the tight box of the mask
                assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
            assert 0.0 <= inst.visible_fraction <= 1.0


def test_shuffled_order_gives_identical_files(reference, tmp_path):
    out = tmp_path / "shuffled"
    writer = DatasetWriter(out, IDENT)
    writer.open()
    meshes, sample_fn = HandSource().load()
    order = list(np.random.default_rng(5).permutation(N))
    render_indices(meshes, sample_fn, order, writer.layout, width=64, height=48,
                   defects_layer=True, on_record=writer.append)
    writer.close({"status": "complete"})
    assert digest(out) == digest(reference)


@pytest.mark.slow
def test_two_workers_give_identical_files(reference, tmp_path):
    out = tmp_path / "two"
    summary = render_dataset(HandSource(), out, identity=IDENT, count=N, workers=2)
    assert summary.rendered == N and summary.workers == 2
    assert digest(out) == digest(reference)


class CrashAt(HandSource):
    """Fails while sampling image `at` (a run killed mid-way)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def load(self):
        meshes, sample_fn = super().load()

        def crashing(index):
            if index == self.at:
                raise KeyboardInterrupt("simulated kill")
            return sample_fn(index)

        return meshes, crashing


def test_resume_after_interruption(reference, tmp_path):
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        render_dataset(CrashAt(4), out, identity=IDENT, count=N)
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    partial = [r.index for r in read_records(out)]
    assert set(partial) <= {0, 1, 2, 3} and partial
    # A torn final line (killed while appending) is dropped, not kept.
    with open(out / "records.jsonl", "a") as f:
        f.write('{"index": 5, "se')
    summary = render_dataset(HandSource(), out, identity=IDENT, count=N)
    assert summary.skipped == len(partial) and summary.rendered == N - len(partial)
    lines = (out / "records.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == list(range(N))  # no duplicates
    assert digest(out) == digest(reference)
    # Running again renders nothing.
    again = render_dataset(HandSource(), out, identity=IDENT, count=N)
    assert again.rendered == 0 and again.skipped == N


def test_another_seed_is_refused_unless_overwrite(reference, tmp_path):
    out = tmp_path / "conflict"
    render_dataset(HandSource(), out, identity=IDENT, count=2)
    (out / "notes.txt").write_text("mine")
    other = RunIdentity(IDENT.scene_yaml, 1, 64, 48, True)
    with pytest.raises(DatasetConflictError, match=r"seed: folder has 0, this run 1.*--overwrite"):
        render_dataset(HandSource(seed=1), out, identity=other, count=2)
    summary = render_dataset(HandSource(seed=1), out, identity=other, count=2, overwrite=True)
    assert summary.rendered == 2
    assert (out / "notes.txt").read_text() == "mine"  # overwrite deletes only our files
    assert json.loads((out / "run.json").read_text())["seed"] == 1


def test_foreign_folder_and_file_are_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetConflictError, match="not a dataset made by"):
        DatasetWriter(tmp_path / "photos", IDENT).open()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetConflictError, match="not a folder"):
        DatasetWriter(tmp_path / "file", IDENT).open()


def test_second_writer_on_same_folder_is_refused(tmp_path):
    first = DatasetWriter(tmp_path / "out", IDENT)
    first.open()
    try:
        with pytest.raises(DatasetConflictError, match="another `synthgap render`"):
            DatasetWriter(tmp_path / "out", IDENT).open()
    finally:
        first.close()


def test_bad_counts(tmp_path):
    with pytest.raises(ValueError, match="count"):
        render_dataset(HandSource(), tmp_path / "x", identity=IDENT, count=0)
    with pytest.raises(ValueError, match="workers"):
        render_dataset(HandSource(), tmp_path / "x", identity=IDENT, count=1, workers=0)


def test_depth_encoding_matches_the_data_layer(tmp_path):
    from synthgap.data import write_depth_atomic
    from synthgap.generators.run.writer import depth_to_mm

    d = np.random.default_rng(0).uniform(0, 70, (40, 50)).astype(np.float32)
    d[0, :5] = [np.nan, 0.0, -1.0, np.inf, 65.5346]
    d[1, :3] = [0.0005, 0.0015, 1.2345]  # halves round to even, like np.rint
    write_depth_atomic(tmp_path / "d.png", d)
    np.testing.assert_array_equal(depth_to_mm(d), read_label_png(tmp_path / "d.png"))


def test_layers_are_validated(tmp_path):
    from synthgap.generators.run.writer import write_sample_files

    lay = DatasetLayout(tmp_path)
    lay.make_dirs(defects=True)
    good = np.zeros((4, 5), np.uint16)
    with pytest.raises(ValueError, match="rgb: expected"):
        write_sample_files(lay, 0, np.zeros((4, 5), np.uint8), good.astype(np.float32), good, None)
    with pytest.raises(ValueError, match="instance_mask: expected"):
        write_sample_files(lay, 0, np.zeros((4, 5, 3), np.uint8), good.astype(np.float32),
                           good.astype(np.int32), None)


@pytest.mark.slow
def test_resume_after_sigkill(reference, tmp_path):
    """A real kill -9 in the middle of a run; the re-run completes it, byte-identical."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    code = ("import sys; sys.path.insert(0, '.')\n"
            "from tests.generators._render_helpers import HandSource\n"
            "from tests.generators.run.test_writer import IDENT\n"
            "from synthgap.generators.run.runner import render_dataset\n"
            f"render_dataset(HandSource(), {str(out)!r}, identity=IDENT, count=400)\n")
    env = {**os.environ, "PYOPENGL_PLATFORM": os.environ.get("PYOPENGL_PLATFORM", "egl")}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[3], env=env)
    records = out / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if records.is_file() and records.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_records(out))
    assert 3 <= done < 400
    summary = render_dataset(HandSource(), out, identity=IDENT, count=N)
    assert summary.rendered == max(0, N - done) and summary.images >= N
    ids = [json.loads(x)["index"] for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids))  # never a duplicate record
    ref = digest(reference)
    got = digest(out)
    for name, h in ref.items():  # the first N images equal an uninterrupted run's
        if name != "records.jsonl" and not name.startswith("scene"):
            assert got[name] == h, name


class FailAt(HandSource):
    """Raises a ValueError while sampling image `at` (a bad sample in a worker)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def load(self):
        meshes, sample_fn = super().load()

        def failing(index):
            if index == self.at:
                raise ValueError(f"bad sample {index}")
            return sample_fn(index)

        return meshes, failing


@pytest.mark.slow
def test_worker_error_reaches_the_parent(tmp_path):
    with pytest.raises(RuntimeError, match=r"render worker failed(.|\n)*bad sample 3"):
        render_dataset(FailAt(3), tmp_path / "o", identity=IDENT, count=N, workers=2)
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["status"] == "interrupted"
    assert 3 not in {r.index for r in read_records(tmp_path / "o")}


def test_library_calls_leave_the_allocator_alone(tmp_path, monkeypatch):
    """`mallopt` cannot be undone, so `render_dataset` (in-process) never calls it."""
    from synthgap.generators.run import runner

    def forbidden() -> None:
        raise AssertionError("a library call changed the process's allocator settings")

    monkeypatch.setattr(runner, "reuse_freed_memory", forbidden)
    summary = render_dataset(HandSource(), tmp_path / "out", identity=IDENT, count=1)
    assert summary.rendered == 1



def _record_line(index: int, tag: str = "") -> str:
    return json.dumps({"index": index, "tag": tag}) + "\n"


def test_records_are_sorted_by_index_first_one_wins(tmp_path):
    w = DatasetWriter(tmp_path / "out", IDENT)
    w.open()
    path = w.layout.records
    w.close()
    path.write_text(_record_line(3) + "\n" + _record_line(1, "first") + _record_line(2)
                    + _record_line(1, "again") + _record_line(0).rstrip("\n") + "\r\n")
    w = DatasetWriter(tmp_path / "out", IDENT)
    assert w.open() == {0, 1, 2, 3}
    w.close()
    assert path.read_text() == "".join([_record_line(0), _record_line(1, "first"),
                                        _record_line(2), _record_line(3)])


def test_records_in_order_are_not_rewritten(tmp_path):
    w = DatasetWriter(tmp_path / "out", IDENT)
    w.open()
    path = w.layout.records
    w.close()
    path.write_text("".join(_record_line(i) for i in range(5)))
    inode = path.stat().st_ino
    w = DatasetWriter(tmp_path / "out", IDENT)
    w.open()
    w.close()
    assert path.stat().st_ino == inode  # left in place (a 100k-record file is not copied)


def test_a_lock_file_unlinked_by_its_holder_is_not_shared(tmp_path, monkeypatch):
    """A run that locked `.lock` just as the previous holder unlinked it locks the new file,
    so it cannot hold the folder together with a third run."""
    import synthgap.generators.run.writer as writer_mod

    root = tmp_path / "out"
    root.mkdir()
    real_flock = writer_mod.fcntl.flock
    calls = []

    def flock_then_replaced(fd, op):  # the holder closes and unlinks between open and flock
        real_flock(fd, op)
        if not calls:
            (root / ".lock").unlink()
            (root / ".lock").write_text("")
        calls.append(fd)

    monkeypatch.setattr(writer_mod.fcntl, "flock", flock_then_replaced)
    lock = writer_mod._claim(root / ".lock")
    try:
        assert len(calls) == 2  # the first lock was on the unlinked file: taken again
        assert os.fstat(lock.fileno()).st_ino == (root / ".lock").stat().st_ino
    finally:
        lock.close()


def test_level_of_detail_is_part_of_the_identity(tmp_path):
    import dataclasses

    full = dataclasses.replace(IDENT, lod=False)
    assert "lod" not in IDENT.as_json() and full.as_json()["lod"] is False
    for first, second in ((IDENT, full), (full, IDENT)):
        out = tmp_path / f"out-{first.lod}"
        w = DatasetWriter(out, first)
        w.open()
        w.close({"status": "complete"})
        with pytest.raises(DatasetConflictError, match="lod: folder has"):
            DatasetWriter(out, second).open()

