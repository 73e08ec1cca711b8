"""A simulated multi-node Ray cluster under what real clusters do: the longer version of
tests/generators/run/test_ray_cluster.py, timed.

Starts Ray's own `ray.cluster_utils.Cluster` on this machine: a head node without CPUs (it
schedules, renders nothing) and `--nodes` worker nodes with `--node-cpus` CPUs each, every
node its own raylet and object store; the scene (a mesh file beside its YAML) and the output
on a path every node sees. Then, each compared file by file with a 1-worker local render:

1. a plain run over all nodes;
2. a run during which one worker node is killed (raylet, object store and workers, no
   graceful shutdown) once `--kill-at` of the records are in; Ray reruns its task elsewhere;
3. a run that starts on one node, another node joining once `--kill-at` of the records are in;
4. a driver (`synthgap render --backend ray --address ...` in its own process) killed with
   SIGKILL once `--kill-at` of the records are in, then the same command again (resume).

Prints a markdown table (seconds, images/s, images per node, identical files) and one JSON
line. Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/ray_cluster.py [--images 400] [--size 64x48]
        [--nodes 2] [--node-cpus 1] [--tasks 40] [--kill-at 0.3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import ray
from ray.cluster_utils import Cluster

from synthgap.cli.render import prepare_render
from synthgap.generators.run.runner import render_dataset

REPO = Path(__file__).resolve().parents[1]
SCENE = """\
seed: 3
image: {width: %d, height: %d}
camera:
  intrinsics: {fx: %f, fy: %f, cx: %f, cy: %f}
  pose: {look_at: [0, 0, 0.008], distance: [0.3, 0.4], elevation: [40, 80], azimuth: [0, 360]}
parts:
  - {mesh: parts/bracket.stl, units: mm, class: bracket, count: 1}
lights:
  - {type: directional, intensity: [1.0, 2.0]}
background: {color: {gray: [0.2, 0.4]}}
sensor: {noise: [0.0, 0.01]}
"""


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "run.json"}


def records(out: Path) -> int:
    path = out / "records.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def wait_for(condition: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not get there in time")
        time.sleep(0.02)


def run_ray(scene: Path, out: Path, n: int, tasks: int) -> float:
    source, identity = prepare_render(str(scene))
    t0 = time.perf_counter()
    summary = render_dataset(source, out, identity=identity, count=n, backend="ray",
                             tasks=tasks)
    assert summary.images == n
    return time.perf_counter() - t0


def nodes_of(out: Path) -> dict[str, int]:
    return json.loads((out / "run.json").read_text()).get("ray_nodes", {})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--size", default="64x48", help="WIDTHxHEIGHT")
    ap.add_argument("--nodes", type=int, default=2, help="worker nodes")
    ap.add_argument("--node-cpus", type=int, default=1)
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--kill-at", type=float, default=0.3,
                    help="fraction of records written when a node is killed/added")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    n, tasks, at = args.images, args.tasks, max(1, int(args.kill_at * args.images))
    tmp = Path(tempfile.mkdtemp(prefix="synthgap-cluster-"))
    (tmp / "parts").mkdir()
    shutil.copy(REPO / "examples" / "parts" / "bracket.stl", tmp / "parts" / "bracket.stl")
    scene = tmp / "scene.yaml"
    scene.write_text(SCENE % (w, h, 1.25 * w, 1.25 * w, w / 2, h / 2))
    load0 = os.getloadavg()[0]
    rows: list[tuple[str, float, dict[str, int], bool]] = []
    source, identity = prepare_render(str(scene))
    t0 = time.perf_counter()
    render_dataset(source, tmp / "local", identity=identity, count=n, workers=1)
    local_s = time.perf_counter() - t0
    want = digest(tmp / "local")
    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3}})
    try:
        for _ in range(args.nodes):
            cluster.add_node(num_cpus=args.node_cpus)
        ray.init(address=cluster.address, log_to_driver=False)
        startup = time.perf_counter() - t0

        out = tmp / "plain"
        s = run_ray(scene, out, n, tasks)
        rows.append((f"{args.nodes} nodes", s, nodes_of(out), digest(out) == want))

        out = tmp / "node-lost"
        victim = next(iter(cluster.worker_nodes))
        killer = threading.Thread(target=lambda: (wait_for(lambda: records(out) >= at),
                                                  cluster.remove_node(victim, False)))
        killer.start()
        s = run_ray(scene, out, n, tasks)
        killer.join()
        rows.append((f"a node killed at {at} records", s, nodes_of(out), digest(out) == want))

        out = tmp / "node-added"
        for node in list(cluster.worker_nodes)[1:]:
            cluster.remove_node(node)
        result: list[float] = []
        runner = threading.Thread(target=lambda: result.append(run_ray(scene, out, n, tasks)))
        runner.start()
        wait_for(lambda: records(out) >= at)
        cluster.add_node(num_cpus=args.node_cpus)  # (Ray starts nodes from the main thread)
        runner.join()
        rows.append((f"1 node, a second joining at {at} records", result[0], nodes_of(out),
                     digest(out) == want))

        out = tmp / "driver-killed"
        cmd = [sys.executable, "-m", "synthgap", "render", str(scene), "-n", str(n), "-o",
               str(out), "--backend", "ray", "--address", cluster.address, "--tasks",
               str(tasks)]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        driver = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        wait_for(lambda: records(out) >= at or driver.poll() is not None)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        done = records(out)
        subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        s = time.perf_counter() - t0
        rows.append((f"driver killed at {done} records, rerun (both drivers' start-up "
                     "included)", s, nodes_of(out), digest(out) == want))
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()[0]
    print(f"{n} images {w}x{h}, {tasks} tasks; head (0 CPUs) + {args.nodes} nodes x "
          f"{args.node_cpus} CPU on one machine ({os.cpu_count()} CPUs), ray {ray.__version__}, "
          f"load average {load0:.1f} -> {load1:.1f}; cluster start-up {startup:.1f} s")
    print()
    print("| run | seconds | images/s | images per node | files identical to local |")
    print("|---|---:|---:|---|---|")
    print(f"| local, 1 worker | {local_s:.1f} | {n / local_s:.1f} | | (reference) |")
    for name, s, nodes, same in rows:
        per_node = ", ".join(str(v) for v in sorted(nodes.values(), reverse=True))
        print(f"| {name} | {s:.1f} | {n / s:.1f} | {per_node} | {'yes' if same else 'NO'} |")
    print(json.dumps({"benchmark": "ray_cluster", "images": n, "size": [w, h],
                      "load": [load0, load1], "local_s": round(local_s, 2),
                      "startup_s": round(startup, 2),
                      "runs": [{"run": r[0], "seconds": round(r[1], 2), "nodes": r[2],
                                "identical": r[3]} for r in rows]}))
    if not all(r[3] for r in rows):
        raise SystemExit("a cluster run's files differ from the local run's")


if __name__ == "__main__":
    main()
