"""Cost of each realism feature: mesh colours, shadows, many lights, on an LM-O-like scene.

Builds (in a temporary folder, never in the repo) a scene of the 8 LM-O meshes with their
vertex colours, one instance each, resting on a grey table at 640x480 with the LM-O camera
intrinsics, and renders it in variants that add one feature at a time:

* `plain`: every part in one grey material (`appearance: material`), one directional light;
* `+ mesh colours`: the parts' own vertex colours (`appearance: auto`);
* `+ shadows`: the directional light casts shadows (the target scene);
* `+ ring 8`, `+ ring 24`, `+ dome 16`, `+ area 16 shadowed`: more lights (passes of 4 per
  type, summed in linear light).

For each: CPU ms per image of `Renderer.render` alone (this process, all threads; other jobs
on the machine inflate it much less than wall time) with the number of colour passes and
shadow maps, and `synthgap render` end to end (1 worker: sampling, rendering, annotation,
PNG writing; set-up included): CPU ms per image and images/s (wall clock, which load from
other processes lowers). Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/render_realism.py [--data ../shared/data/lmo]
        [--images 40] [--max-faces 4000] [--variants plain,colours,shadows]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import trimesh
import yaml

from synthgap.cli.render import prepare_render
from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.look.lighting import emitters, light_passes
from synthgap.generators.parts.assets import simplify_mesh
from synthgap.generators.run.runner import render_dataset

REPO = Path(__file__).resolve().parents[1]
SUN = {"type": "directional", "intensity": [2.5, 3.5], "elevation": [45, 75],
       "azimuth": [0, 360]}
VARIANTS = {
    "plain": ("material", [SUN]),
    "colours": ("auto", [SUN]),
    "shadows": ("auto", [{**SUN, "shadows": True}]),
    "ring8": ("auto", [{**SUN, "shadows": True},
                       {"type": "ring", "intensity": 1.0, "ring_count": 8, "radius": 0.08}]),
    "ring24": ("auto", [{**SUN, "shadows": True},
                        {"type": "ring", "intensity": 1.0, "ring_count": 24, "radius": 0.08}]),
    "dome16": ("auto", [{**SUN, "shadows": True},
                        {"type": "dome", "intensity": 1.5, "count": 16}]),
    "area16": ("auto", [{"type": "area", "intensity": 3.0, "count": 16, "size": [0.3, 0.3],
                         "distance": 0.8, "elevation": 60, "shadows": True,
                         "outer_cone_deg": 50}]),
}
LABELS = {"plain": "plain (one grey material, 1 light)", "colours": "+ mesh colours",
          "shadows": "+ shadows (target scene)", "ring8": "+ ring of 8",
          "ring24": "+ ring of 24", "dome16": "+ dome of 16",
          "area16": "area light of 16, shadowed (instead of the sun)"}


def simplified_models(data: Path, folder: Path, max_faces: int | None) -> list[Path]:
    """The LM-O meshes, or copies simplified to `max_faces` triangles (vertex colours kept)."""
    meshes = sorted((data / "models").glob("obj_*.ply"))
    if not meshes:
        raise SystemExit(f"no obj_*.ply meshes in {data / 'models'}; pass --data")
    if max_faces is None:
        return meshes
    out = []
    for m in meshes:
        small = simplify_mesh(trimesh.load(m, force="mesh", process=False), max_faces)
        out.append(folder / m.name)
        small.export(out[-1])
    return out


def write_scene(data: Path, folder: Path, appearance: str, lights: list[dict],
                meshes: list[Path]) -> Path:
    """An LM-O-like scene file in `folder` for `meshes` (millimetres)."""
    cam = json.loads((data / "camera.json").read_text())
    material = {"appearance": "material", "base_color": [0.5, 0.5, 0.5], "metallic": 0.0,
                "roughness": 0.7} if appearance == "material" else None
    parts = [{"mesh": str(m), "units": "mm", **({"material": material} if material else {})}
             for m in meshes]
    scene = {
        "seed": 0, "image": {"width": cam["width"], "height": cam["height"]},
        "camera": {"intrinsics": {k: cam[k] for k in ("fx", "fy", "cx", "cy")},
                   "pose": {"distance": [0.7, 1.0], "elevation": [35, 80]},
                   "znear": 0.05, "zfar": 5.0},
        "area": [0.6, 0.45], "parts": parts, "lights": lights,
        "background": {"color": [[0.25, 0.22, 0.2], [0.45, 0.42, 0.4]],
                       "ambient": [0.15, 0.15, 0.15]},
    }
    path = folder / "scene.yaml"
    path.write_text(yaml.safe_dump(scene, sort_keys=False))
    return path


def render_cost(scene_path: Path, n: int) -> tuple[float, float, float, float]:
    """(CPU ms per `Renderer.render`, colour passes, shadow maps, part instances) averaged
    over `n` images."""
    source, _ = prepare_render(str(scene_path))
    meshes, sample_fn = source.load()
    params = [sample_fn(i) for i in range(n)]
    scene = source.scene
    with Renderer(scene.image.width, scene.image.height) as r:
        r.render(params[0], meshes)  # context, uploads, shader compilation
        c0 = time.process_time()
        for p in params:
            r.render(p, meshes)
        ms = 1000 * (time.process_time() - c0) / n
    ems = [emitters(p.lights) for p in params]
    passes = sum(len(light_passes(e)) for e in ems) / n
    shadows = sum(sum(x.shadows for x in e) for e in ems) / n
    return ms, passes, shadows, sum(len(p.parts) for p in params) / n


def end_to_end(scene_path: Path, n: int, out: Path) -> tuple[float, float]:
    """(images/s, CPU ms per image of this process) of `synthgap render --workers 1`."""
    source, identity = prepare_render(str(scene_path))
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = time.process_time(), time.perf_counter()
    summary = render_dataset(source, out, identity=identity, count=n, workers=1)
    assert summary.rendered == n
    return n / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="LM-O in BOP format (reads models/*.ply and camera.json only)")
    ap.add_argument("--images", type=int, default=40, help="images per timed run")
    ap.add_argument("--max-faces", type=int, default=None,
                    help="simplify each mesh to this many triangles first (parts.simplify_mesh)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated, from {', '.join(VARIANTS)}")
    args = ap.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    args.data = args.data.resolve()  # scenes are written to a temporary folder
    tmp = Path(tempfile.mkdtemp(prefix="synthgap-realism-"))
    load0 = os.getloadavg()[0]
    rows = []
    try:
        models = simplified_models(args.data, tmp, args.max_faces)
        faces = sum(len(trimesh.load(m, force="mesh", process=False).faces) for m in models)
        for name in names:
            appearance, lights = VARIANTS[name]
            folder = tmp / name
            folder.mkdir()
            path = write_scene(args.data, folder, appearance, lights, models)
            ms, passes, shadows, parts = render_cost(path, args.images)
            rate, cpu = end_to_end(path, args.images, folder / "out")
            rows.append((name, ms, passes, shadows, parts, rate, cpu))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"LM-O-like scene: {len(models)} meshes with vertex colours ({faces} triangles in "
          f"all{'' if args.max_faces is None else f', simplified to <= {args.max_faces} each'}"
          f"), 640x480, {args.images} images per variant; {os.cpu_count()} CPUs, "
          f"PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}, "
          f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print()
    print("| variant | parts per image | colour passes | shadow maps | render CPU ms/image | "
          "vs plain | `synthgap render`: CPU ms/image | images/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[0][1] if rows and rows[0][0] == "plain" else None
    for name, ms, passes, shadows, parts, rate, cpu in rows:
        extra = f"{ms - base:+.0f} ms" if base is not None else ""
        print(f"| {LABELS[name]} | {parts:.1f} | {passes:.0f} | {shadows:.0f} | {ms:.0f} | "
              f"{extra} | {cpu:.0f} | {rate:.2f} |")


if __name__ == "__main__":
    main()
