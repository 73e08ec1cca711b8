"""Rendering on a simulated multi-node Ray cluster: what a real cluster does to a run.

Ray's own `ray.cluster_utils.Cluster` starts a head node (no CPUs: it schedules, renders
nothing) and worker nodes with one CPU each, every node its own raylet and object store, on
this machine. The scene (a mesh file beside its YAML) and the output folder are on a path
every node sees, as a shared filesystem would be on a real cluster. Every run is compared
file by file with a 1-worker local render of the same scene.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from synthgap.cli.render import prepare_render
from synthgap.generators.run.runner import render_dataset
from synthgap.generators.run.writer import DatasetConflictError

ray = pytest.importorskip("ray", reason="ray is not installed (pip install synthgap[ray])")
cluster_utils = pytest.importorskip("ray.cluster_utils")

REPO = Path(__file__).resolve().parents[3]
SCENE = """\
seed: 3
image: {width: 32, height: 24}
camera:
  intrinsics: {fx: 40, fy: 40, cx: 16, cy: 12}
  pose: {look_at: [0, 0, 0.008], distance: [0.3, 0.4], elevation: [40, 80], azimuth: [0, 360]}
parts:
  - {mesh: parts/bracket.stl, units: mm, class: bracket, count: 1}
lights:
  - {type: directional, intensity: [1.0, 2.0]}
background: {color: {gray: [0.2, 0.4]}}
sensor: {noise: [0.0, 0.01]}
"""
#: Seconds a test waits for a run to reach a point (records written, a node up).
PATIENCE_S = 60.0


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` except run.json (timings differ between runs)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "run.json"}


def records_written(out: Path) -> int:
    path = out / "records.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def when(condition: Callable[[], bool], action: Callable[[], None]) -> threading.Thread:
    """Run `action` in a thread as soon as `condition()` holds (polled every 20 ms)."""
    def body() -> None:
        deadline = time.monotonic() + 3 * PATIENCE_S  # a loaded machine starts tasks late
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """The 'shared filesystem': the scene, its mesh, and the output folders."""
    root = tmp_path_factory.mktemp("shared")
    (root / "parts").mkdir()
    shutil.copy(REPO / "examples" / "parts" / "bracket.stl", root / "parts" / "bracket.stl")
    (root / "scene.yaml").write_text(SCENE)
    return root


@pytest.fixture(scope="module")
def reference(shared) -> Callable[[int], Path]:
    """`count` images rendered by one local worker (cached per count)."""
    made: dict[int, Path] = {}

    def get(count: int) -> Path:
        if count not in made:
            out = shared / f"local-{count}"
            source, identity = prepare_render(str(shared / "scene.yaml"))
            render_dataset(source, out, identity=identity, count=count, workers=1)
            made[count] = out
        return made[count]

    return get


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A head node without CPUs and two 1-CPU worker nodes; this process is the driver."""
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        # declare a killed node dead after ~1.5 s instead of Ray's ~15 s (5 x 3 s checks)
        "_system_config": {"health_check_period_ms": 500,
                           "health_check_failure_threshold": 3}})
    try:
        c.add_node(num_cpus=1)
        c.add_node(num_cpus=1)
        ray.init(address=c.address, log_to_driver=False)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def render_on(shared: Path, out: Path, count: int, tasks: int):
    source, identity = prepare_render(str(shared / "scene.yaml"))
    return render_dataset(source, out, identity=identity, count=count, backend="ray",
                          tasks=tasks)


def ray_nodes(out: Path) -> dict[str, int]:
    return json.loads((out / "run.json").read_text())["ray_nodes"]


def worker_ids(c) -> set[str]:
    return {node.node_id for node in c.worker_nodes}


def test_two_nodes_write_the_files_of_one_local_worker(cluster, shared, reference):
    out = shared / "two-nodes"
    summary = render_on(shared, out, count=12, tasks=6)
    assert (summary.rendered, summary.workers, summary.platform) == (12, 6, "egl")
    assert digest(out) == digest(reference(12))
    nodes = ray_nodes(out)
    assert set(nodes) == worker_ids(cluster)  # both nodes rendered; the CPU-less head did not
    assert sum(nodes.values()) == 12


def running_render_tasks(node) -> int:
    """Worker processes of `node`'s raylet running a render task now (Ray titles a busy
    worker process `ray::<function>`)."""
    raylet = node.all_processes["raylet"][0].process.pid
    busy = 0
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            busy += ppid == raylet and b"ray::_task_main" in (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):  # not a process, or it just ended
            continue
    return busy


def test_a_worker_node_lost_mid_run_is_replaced_by_the_other(cluster, shared, reference):
    out = shared / "node-lost"
    victim = sorted(cluster.worker_nodes, key=lambda n: n.unique_id)[0]
    killed_running: list[int] = []

    def busy_mid_run() -> bool:  # the count is kept as seen: a second look could race
        killed_running[:] = [running_render_tasks(victim)]
        return records_written(out) > 0 and killed_running[0] > 0

    def kill() -> None:  # its raylet, object store and workers, no graceful shutdown
        cluster.remove_node(victim, allow_graceful=False)

    # kill it once a render task is running there and some records are in
    killer = when(busy_mid_run, kill)
    summary = render_on(shared, out, count=40, tasks=20)
    killer.join()
    # it died during the run, with a task in hand, which Ray then ran on the other node
    assert killed_running and killed_running[0] > 0
    assert (summary.rendered, summary.images) == (40, 40)
    assert digest(out) == digest(reference(40))
    nodes = ray_nodes(out)
    assert sum(nodes.values()) == 40
    assert nodes[next(iter(worker_ids(cluster)))] > 0  # the survivor finished the run


def test_a_node_added_during_the_run_takes_tasks(cluster, shared, reference):
    assert len(cluster.worker_nodes) == 1  # the previous test removed one
    out = shared / "node-added"
    result: list[object] = []
    # the run in a thread: Ray starts a node only from the main thread (signal handlers)
    run = threading.Thread(target=lambda: result.append(render_on(shared, out, 60, 30)),
                           daemon=True)
    run.start()
    try:
        deadline = time.monotonic() + PATIENCE_S
        while records_written(out) == 0 and run.is_alive():
            assert time.monotonic() < deadline, "the run wrote no record"
            time.sleep(0.02)
        assert run.is_alive(), "the run ended before a node could join"
        # A node replaced, as an autoscaler does: the old node goes first, so the run has no
        # CPU left and waits; every remaining task must then run on the newcomer. (With both
        # up, Ray keeps the tasks it already leased to the busy node there, and whether the
        # newcomer gets any depends on how fast it starts: not a test.)
        (old,) = cluster.worker_nodes
        cluster.remove_node(old, allow_graceful=False)
        added = cluster.add_node(num_cpus=1)
    finally:
        run.join(timeout=PATIENCE_S)
    assert result, "the run failed (see the thread's exception above)"
    assert result[0].rendered == 60
    assert digest(out) == digest(reference(60))
    nodes = ray_nodes(out)
    assert nodes.get(added.node_id, 0) > 0, nodes  # the newcomer rendered images
    assert sum(nodes.values()) == 60


def test_a_killed_driver_holds_the_folder_until_it_dies_then_a_rerun_resumes(cluster, shared,
                                                                              reference):
    out = shared / "driver-killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYOPENGL_PLATFORM": "egl"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "synthgap", "render", str(shared / "scene.yaml"), "-n", "40",
         "-o", str(out), "--backend", "ray", "--address", cluster.address, "--tasks", "20"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + PATIENCE_S
        while records_written(out) == 0 and driver.poll() is None:
            assert time.monotonic() < deadline, "the driver wrote no record"
            time.sleep(0.02)
        assert driver.poll() is None, driver.stderr.read().decode()
        # a second driver into the same folder is refused while the first one runs
        with pytest.raises(DatasetConflictError, match="another `synthgap render`"):
            render_on(shared, out, count=40, tasks=20)
        driver.send_signal(signal.SIGKILL)  # no clean-up: records sorted? run.json final? no
        driver.wait(timeout=PATIENCE_S)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        driver.stderr.close()
    done = records_written(out)
    assert 0 < done < 40
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    summary = render_on(shared, out, count=40, tasks=20)  # the rerun: same command
    assert summary.skipped == done and summary.rendered == 40 - done
    assert digest(out) == digest(reference(40))
