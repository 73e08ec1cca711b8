"""Rendering on Ray: same files and records as a local run, resume, clear errors."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgap.cli import main
from synthgap.cli.render import prepare_render
from synthgap.data import DatasetLayout, Record
from synthgap.generators.run.ray_backend import (
    RayAddressError,
    RayBackendError,
    YamlSceneSource,
    chunk_indices,
    render_ray,
)
from synthgap.generators.run.runner import render_dataset

ray = pytest.importorskip("ray", reason="ray is not installed (pip install synthgap[ray])")

SCENE = "preset:turntable"
SIZE = {"width": 96, "height": 72}


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` except run.json (timings differ between runs)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "run.json"}


def assert_same_dataset(got: Path, want: Path) -> None:
    """Same file names, every file byte-identical (the renderer binds lights in a fixed order)."""
    assert digest(got) == digest(want)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the whole module (start-up costs seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory) -> Path:
    """6 images rendered in this process (`--workers 1`)."""
    out = tmp_path_factory.mktemp("local") / "ds"
    source, identity = prepare_render(SCENE, seed=3, **SIZE)
    render_dataset(source, out, identity=identity, count=6, workers=1)
    return out


def test_chunks_are_contiguous_and_cover_everything():
    assert chunk_indices([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    assert chunk_indices([5, 7, 9], 5) == [[5], [7], [9]]
    assert chunk_indices([], 3) == []
    with pytest.raises(ValueError, match="chunks"):
        chunk_indices([1], 0)


def test_ray_gives_the_same_files_and_records_as_one_local_worker(ray_session, local_reference,
                                                                   tmp_path):
    source, identity = prepare_render(SCENE, seed=3, **SIZE)
    summary = render_dataset(source, tmp_path, identity=identity, count=6, backend="ray",
                             tasks=2)
    assert (summary.rendered, summary.workers, summary.platform) == (6, 2, "egl")
    assert_same_dataset(tmp_path, local_reference)
    assert (tmp_path / "records.jsonl").read_bytes() == \
        (local_reference / "records.jsonl").read_bytes()
    assert len(digest(tmp_path)) > 6 * 3  # images, depth and masks of every index
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run["status"], run["backend"], run["images"]) == ("complete", "ray", 6)


def test_resume_renders_only_what_is_missing(ray_session, local_reference, tmp_path):
    source, identity = prepare_render(SCENE, seed=3, **SIZE)
    first = render_dataset(source, tmp_path, identity=identity, count=4, backend="ray", tasks=2)
    assert first.rendered == 4
    seen = []
    second = render_dataset(source, tmp_path, identity=identity, count=6, backend="ray",
                            tasks=3, on_start=lambda todo, done: seen.append((todo, done)))
    assert seen == [(2, 4)]
    assert (second.rendered, second.skipped, second.images) == (2, 4, 6)
    assert_same_dataset(tmp_path, local_reference)
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(6))


def test_a_failing_task_is_reported_with_its_cause(ray_session, tmp_path):
    bad = YamlSceneSource("parts: 5\n", seed=0)
    with pytest.raises(RayBackendError, match="(?s)rerun the same command.*parts: expected a list"):
        render_ray(bad, [0, 1], DatasetLayout(tmp_path), width=32, height=32,
                   defects_layer=False, on_record=lambda rec: None, tasks=1)


def test_missing_ray_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RayBackendError, match=r"pip install synthgap\[ray\]"):
        render_ray(YamlSceneSource("{}", seed=0), [0], DatasetLayout(tmp_path), width=32,
                   height=32, defects_layer=False, on_record=lambda rec: None)


def test_unreachable_address_fails_fast(tmp_path):
    source, identity = prepare_render(SCENE, seed=3, **SIZE)
    t = time.perf_counter()
    with pytest.raises(RayAddressError, match="cannot reach a Ray cluster at 127.0.0.1:1"):
        render_dataset(source, tmp_path, identity=identity, count=2, backend="ray",
                       address="127.0.0.1:1")
    assert time.perf_counter() - t < 10
    with pytest.raises(RayAddressError, match="HOST:PORT"):
        render_dataset(source, tmp_path / "b", identity=identity, count=2, backend="ray",
                       address="no-port-here")


@pytest.mark.parametrize("args, hint", [
    (["--address", "127.0.0.1:6379"], "--address"),
    (["--tasks", "3"], "--tasks"),
    (["--backend", "ray", "--workers", "2"], "--workers"),
    (["--backend", "ray", "--address", "127.0.0.1:1"], "cannot reach"),
])
def test_cli_rejects_ray_options_that_cannot_work(tmp_path, args, hint):
    result = CliRunner().invoke(main, ["render", SCENE, "-n", "2", "-o", str(tmp_path / "o"),
                                       "--width", "32", "--height", "32", *args])
    assert result.exit_code == 2, result.output
    assert hint in result.output


def test_cli_renders_on_ray(ray_session, tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["render", SCENE, "-n", "3", "-o", str(out), "--width",
                                       "32", "--height", "32", "--backend", "ray",
                                       "--tasks", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["rendered"], summary["workers"]) == (3, 2)
    assert len((out / "records.jsonl").read_text().splitlines()) == 3


def test_a_task_process_reuses_its_scene_and_renderer(local_reference, tmp_path):
    """Ray runs many tasks in one worker process: the second task of the same scene and size
    reuses the loaded meshes and the open renderer, and the files are still the local ones."""
    from synthgap.generators.run import ray_backend
    from synthgap.generators.run.writer import DatasetWriter
    from synthgap.scenes import scene_to_yaml

    source, identity = prepare_render(SCENE, seed=3, **SIZE)
    text = scene_to_yaml(source.scene)
    writer = DatasetWriter(tmp_path, identity)
    writer.open()
    try:
        first = ray_backend._render_chunk(YamlSceneSource(text, 3), [0, 1, 2], str(tmp_path),
                                          96, 72, identity.defects_layer, 1)
        renderer, meshes = ray_backend._last_renderer[1], ray_backend._last_scene[1]
        second = ray_backend._render_chunk(YamlSceneSource(text, 3), [3, 4, 5], str(tmp_path),
                                           96, 72, identity.defects_layer, 1)
        assert ray_backend._last_renderer[1] is renderer  # same GL context and uploads
        assert ray_backend._last_scene[1] is meshes  # the scene was not loaded again
        for lines in (first[0], second[0]):
            for line in lines:
                writer.append(Record.from_dict(json.loads(line)))
    finally:
        writer.close({"status": "complete"})
        ray_backend._last_renderer[1].close()
        ray_backend._last_renderer = ray_backend._last_scene = None
    assert_same_dataset(tmp_path, local_reference)
