"""Rendering throughput: `synthgap render` end to end vs a bare pyrender loop, side by side.

Prints one table:

* bare pyrender: the same sampled scenes (parts, support plane, distractors, lights; meshes
  uploaded once, nodes re-posed per frame), colour + depth pass and segmentation pass, no
  annotation, no sensor effects, no files;
* synthgap render, 1 worker: sampling, rendering, masks, unoccluded counts, distortion,
  annotations, sensor effects, PNG writing of every layer and records, in one process;
* synthgap render, 1 vs 2 workers (spawn processes, start-up included) on longer runs;
* with `--ray`, only: `--workers 1` vs the Ray backend (local Ray instance, `--ray-tasks`
  tasks of one CPU each), back to back per round; Ray start-up is timed once, apart;
* memory: RSS growth of one process over `--renders` renders (render + annotate), measured
  after a warm-up of 50;
* with `--lod`, only: level of detail on the full-resolution LM-O scene
  (`examples/lmo_like.yaml`, 640x480, the sun casting shadows, the full scans): per round,
  `Renderer.render` and `synthgap render` end to end with level of detail off and on, back to
  back on the same sampled images, after one warm-up render that fills the mesh cache.

Rounds run bare, 1 worker and 2 workers back to back, so each ratio compares runs made under
the same machine load; the table shows medians over rounds, and CPU time per image (this
process, all threads), which load from other processes does not inflate. Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/render_throughput.py [--scene preset:turntable]
        [--size 512] [--images 60] [--renders 1000] [--repeats 3]
    PYOPENGL_PLATFORM=egl python benchmarks/render_throughput.py --ray [--worker-images 150]
    PYOPENGL_PLATFORM=egl python benchmarks/render_throughput.py --lod [--images 20]
        [--repeats 3] [--data ../shared/data/lmo]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np

from synthgap.cli.render import prepare_render
from synthgap.generators.run.runner import render_dataset


def bare_loop(params_list, meshes, width, height) -> float:
    """images/s of a plain pyrender loop over pre-sampled params (RGB+depth, SEG)."""
    import pyrender
    import trimesh

    t0 = time.perf_counter()
    r = pyrender.OffscreenRenderer(width, height)
    scene = pyrender.Scene(bg_color=[0.2, 0.2, 0.2, 1.0])
    part_mesh = {name: pyrender.Mesh.from_trimesh(m) for name, m in meshes.items()}
    unit = {"box": trimesh.creation.box([1, 1, 1]),
            "cylinder": trimesh.creation.cylinder(0.5, 1.0, sections=32),
            "sphere": trimesh.creation.icosphere(3, 0.5),
            "capsule": trimesh.creation.capsule(0.5, 0.25)}
    unit_mesh = {k: pyrender.Mesh.from_trimesh(v) for k, v in unit.items()}
    plane = pyrender.Mesh.from_trimesh(trimesh.creation.box([1.0, 1.0, 1e-4]))
    cv_to_gl = np.diag([1.0, -1.0, -1.0, 1.0])
    for p in params_list:
        for node in list(scene.nodes):
            scene.remove_node(node)
        cam = p.camera
        scene.add(pyrender.IntrinsicsCamera(cam.fx, cam.fy, cam.cx + 0.5, cam.cy + 0.5,
                                            znear=cam.znear, zfar=cam.zfar),
                  pose=np.asarray(cam.pose) @ cv_to_gl)
        seg = {}
        for k, inst in enumerate(p.parts):
            seg[scene.add(part_mesh[inst.part], pose=np.asarray(inst.pose))] = (k + 1, 0, 0)
        for d in p.distractors:
            s = np.asarray(d.size)
            seg[scene.add(unit_mesh[d.primitive], pose=np.asarray(d.pose) @ np.diag([*s, 1]))] = 0
        if p.background.plane:
            size = p.background.plane_size
            seg[scene.add(plane, pose=np.diag([size, size, 1.0, 1.0]))] = 0
        for light in p.lights:
            pose = np.asarray(light.pose)
            if light.type == "directional":
                scene.add(pyrender.DirectionalLight(color=light.color,
                                                    intensity=light.intensity), pose=pose)
            elif light.type == "ring":  # <= 4 point lights (synthgap also fills 4 spot slots)
                n = min(int(light.extra.get("count", 8)), 4)
                rad = float(light.extra.get("radius", 0.05))
                for a in np.arange(n) * 2 * np.pi / n:
                    lp = pose.copy()
                    lp[:3, 3] += pose[:3, :3] @ [rad * np.cos(a), rad * np.sin(a), 0.0]
                    scene.add(pyrender.PointLight(color=light.color,
                                                  intensity=light.intensity / n), pose=lp)
            else:
                scene.add(pyrender.PointLight(color=light.color, intensity=light.intensity),
                          pose=pose)
        r.render(scene)
        r.render(scene, pyrender.RenderFlags.SEG, seg)
    dt = time.perf_counter() - t0
    r.delete()
    return len(params_list) / dt


def end_to_end(scene_arg, size, n, workers, out: Path, **backend) -> float:
    source, identity = prepare_render(scene_arg, width=size, height=size)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = render_dataset(source, out, identity=identity, count=n, workers=workers,
                             **backend)
    dt = time.perf_counter() - t0
    assert summary.rendered == n
    return n / dt


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_growth(scene_arg, size, renders) -> tuple[float, float]:
    from synthgap.generators.gl.renderer import Renderer
    from synthgap.generators.run.annotate import annotate

    source, _ = prepare_render(scene_arg, width=size, height=size)
    meshes, sample_fn = source.load()
    warm = 50
    with Renderer(size, size) as r:
        for i in range(warm + renders):
            if i == warm:
                start = rss_mb()
            p = sample_fn(i)
            res = r.render(p, meshes)
            annotate(p, res.instance_mask, res.defect_mask, res.unoccluded_pixels)
        return start, rss_mb()


def ray_comparison(args) -> None:
    """`--workers 1` vs the Ray backend on a local Ray instance, rounds back to back."""
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="synthgap-bench-"))
    n, tasks = args.worker_images, args.ray_tasks
    load0 = os.getloadavg()[0]
    rounds = []
    try:
        for _ in range(args.repeats):
            rounds.append((end_to_end(args.scene, args.size, n, 1, tmp / "one"),
                           end_to_end(args.scene, args.size, n, 1, tmp / "ray", backend="ray",
                                      tasks=tasks)))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    print(f"scene {args.scene}, {args.size}x{args.size}, {n} images per run, median of "
          f"{args.repeats} rounds; {os.cpu_count()} CPUs, ray {ray.__version__}, load average "
          f"{load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print()
    print("| what | images/s | ratio |")
    print("|---|---:|---:|")
    print(f"| `synthgap render --workers 1` | {med(r[0] for r in rounds):.2f} | 1.00 |")
    print(f"| `synthgap render --backend ray --tasks {tasks}` (local Ray already up; task "
          f"start-up included) | {med(r[1] for r in rounds):.2f} | "
          f"{med(r[1] / r[0] for r in rounds):.2f} |")
    print(f"| local Ray start-up (`ray.init`, once) | {startup:.1f} s | |")


REPO = Path(__file__).resolve().parents[1]


def mean_std(values) -> str:
    """`mean ± std` (sample std; 0 for one value) of `values`, 2 decimals."""
    v = list(values)
    return f"{statistics.fmean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"


def lmo_shadow_scene(data: Path, folder: Path) -> Path:
    """`examples/lmo_like.yaml` with the sun casting shadows and absolute data paths."""
    import yaml

    raw = yaml.safe_load((REPO / "examples" / "lmo_like.yaml").read_text())
    raw["lights"][0]["shadows"] = True
    example_data = (REPO / "examples" / "../../shared/data/lmo").resolve()

    def moved(path: str) -> str:
        return str(data / (REPO / "examples" / path).resolve().relative_to(example_data))

    for part in raw["parts"]:
        part["mesh"] = moved(part["mesh"])
    raw["background"]["image_files"] = [moved(f) for f in raw["background"]["image_files"]]
    path = folder / "lmo_shadows.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def lod_comparison(args) -> None:
    """Level of detail off vs on, LM-O scene with shadows, rounds back to back."""
    from synthgap.generators.gl.renderer import Renderer

    tmp = Path(tempfile.mkdtemp(prefix="synthgap-bench-"))
    n = args.images
    try:
        scene = lmo_shadow_scene(args.data.resolve(), tmp)
        source, identity = prepare_render(str(scene))
        meshes, sample_fn = source.load()
        params = [sample_fn(i) for i in range(n)]
        faces = sum(len(m.faces) for m in meshes.values())
        t0 = time.perf_counter()
        with Renderer(640, 480) as r:  # fills the level-of-detail cache (memory and disk)
            for p in params:
                r.render(p, meshes)
        warm = time.perf_counter() - t0
        load0 = os.getloadavg()[0]
        rows: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                                      ("r0", "r1", "e0", "e1")}
        for _ in range(args.repeats):
            for lod in (False, True):
                with Renderer(640, 480, lod=lod) as r:
                    r.render(params[0], meshes)  # GL context, uploads
                    c0, t1 = time.process_time(), time.perf_counter()
                    for p in params:
                        r.render(p, meshes)
                    rows[f"r{int(lod)}"].append((n / (time.perf_counter() - t1),
                                                 1000 * (time.process_time() - c0) / n))
                out = tmp / f"out{int(lod)}"
                shutil.rmtree(out, ignore_errors=True)
                ident = dataclasses.replace(identity, lod=lod)
                c0, t1 = time.process_time(), time.perf_counter()
                render_dataset(source, out, identity=ident, count=n, workers=1)
                rows[f"e{int(lod)}"].append((n / (time.perf_counter() - t1),
                                             1000 * (time.process_time() - c0) / n))
        load1 = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"LM-O scene with shadows (examples/lmo_like.yaml, sun shadows on), 640x480, "
          f"{len(meshes)} meshes, {faces} triangles in all; {n} images per run, {args.repeats} "
          f"rounds, mean ± std; {os.cpu_count()} CPUs, load average {load0:.1f} -> "
          f"{load1:.1f}; first pass filling the mesh cache: {warm:.1f} s")
    print()
    print("| what | level of detail | images/s | CPU ms/image | ratio on/off (per round) |")
    print("|---|---|---:|---:|---:|")
    for name, key in (("`Renderer.render`", "r"), ("`synthgap render` end to end", "e")):
        off, on = rows[f"{key}0"], rows[f"{key}1"]
        print(f"| {name} | off | {mean_std(x[0] for x in off)} | "
              f"{mean_std(x[1] for x in off)} | 1.00 |")
        print(f"| {name} | on | {mean_std(x[0] for x in on)} | "
              f"{mean_std(x[1] for x in on)} | "
              f"{mean_std(b[0] / a[0] for a, b in zip(off, on, strict=True))} |")


def _timed(fn, *args) -> tuple[float, float]:
    """(images/s, CPU ms per image of this process) of one call returning images/s."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    rate = fn(*args)
    n = rate * (time.perf_counter() - t0)
    return rate, (time.process_time() - c0) * 1000 / max(n, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="preset:turntable")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=60, help="images per timed run")
    ap.add_argument("--renders", type=int, default=1000,
                    help="renders for the memory check (the target is stated for 5000)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="rounds; each runs bare, 1 worker (and 2 workers) back to back")
    ap.add_argument("--worker-images", type=int, default=150,
                    help="images per run of the 1 vs 2 workers comparison")
    ap.add_argument("--skip-workers", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="only the RSS check")
    ap.add_argument("--ray", action="store_true",
                    help="only: --workers 1 vs the Ray backend (--worker-images images)")
    ap.add_argument("--ray-tasks", type=int, default=2, help="Ray tasks for --ray")
    ap.add_argument("--lod", action="store_true",
                    help="only: level of detail off vs on, LM-O scene with shadows (--images)")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="LM-O in BOP format (--lod: meshes and the background photos)")
    args = ap.parse_args()
    if args.lod:
        lod_comparison(args)
        return
    if args.ray:
        ray_comparison(args)
        return
    if args.memory_only:
        start, end = memory_growth(args.scene, args.size, args.renders)
        print(f"| RSS over {args.renders} renders after 50 warm-up ({args.scene}, {args.size}x"
              f"{args.size}) | {start:.0f} -> {end:.0f} MB | {end - start:+.1f} MB |")
        return

    source, _ = prepare_render(args.scene, width=args.size, height=args.size)
    meshes, sample_fn = source.load()
    params_list = [sample_fn(i) for i in range(args.images)]
    tmp = Path(tempfile.mkdtemp(prefix="synthgap-bench-"))
    load0 = os.getloadavg()[0]
    rounds = []
    try:
        for _ in range(args.repeats):
            b = _timed(bare_loop, params_list, meshes, args.size, args.size)
            e = _timed(end_to_end, args.scene, args.size, args.images, 1, tmp / "one")
            t = None
            if not args.skip_workers:  # longer runs: worker start-up (~2 s) must amortise
                t = (end_to_end(args.scene, args.size, args.worker_images, 1, tmp / "one"),
                     end_to_end(args.scene, args.size, args.worker_images, 2, tmp / "two"))
            rounds.append((b, e, t))
        mem = memory_growth(args.scene, args.size, args.renders) if args.renders else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()[0]

    med = statistics.median
    bare = med(r[0][0] for r in rounds)
    one = med(r[1][0] for r in rounds)
    print(f"scene {args.scene}, {args.size}x{args.size}, {args.images} images per run, median "
          f"of {args.repeats} rounds (ratios: median of per-round ratios); {os.cpu_count()} "
          f"CPUs {platform.machine()}, PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}, "
          f"load average {load0:.1f} -> {load1:.1f}")
    print()
    print("| what | images/s | CPU ms/image | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print(f"| bare pyrender loop (RGB+depth, SEG; no writing) | {bare:.1f} | "
          f"{med(r[0][1] for r in rounds):.0f} | 1.00 | |")
    print(f"| `synthgap render`, 1 worker, end to end | {one:.1f} | "
          f"{med(r[1][1] for r in rounds):.0f} | {med(r[1][0] / r[0][0] for r in rounds):.2f} "
          "| >= 0.80 x bare |")
    print(f"| (mean ± std over rounds: bare {mean_std(r[0][0] for r in rounds)} images/s, "
          f"end to end {mean_std(r[1][0] for r in rounds)} images/s, ratio "
          f"{mean_std(r[1][0] / r[0][0] for r in rounds)}) | | | | |")
    if not args.skip_workers:
        n = args.worker_images
        print(f"| `synthgap render`, 1 worker, {n} images | {med(r[2][0] for r in rounds):.1f} "
              "| | 1.00 | |")
        print(f"| `synthgap render`, 2 workers, {n} images (start-up included) | "
              f"{med(r[2][1] for r in rounds):.1f} | | "
              f"{med(r[2][1] / r[2][0] for r in rounds):.2f} | >= 1.70 x 1 worker |")
    if mem is not None:
        print(f"| RSS over {args.renders} renders after 50 warm-up | {mem[0]:.0f} -> "
              f"{mem[1]:.0f} MB | | {mem[1] - mem[0]:+.1f} MB | < 50 MB over 5000 |")


if __name__ == "__main__":
    main()
