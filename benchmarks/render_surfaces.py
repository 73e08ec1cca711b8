"""Cost of the surface realism features: xatlas UVs, normal maps, an environment photo.

Prints three tables:

1. `xatlas.parametrize` seconds per LM-O mesh (full scan and simplified to `--max-faces`),
   the one-time cost `material.uv: xatlas` adds per mesh and process;
2. the one-time cost of an environment photo (decode + pre-filter into 6 layers);
3. render CPU ms per image (`Renderer.render`, after a warm-up render that pays the one-time
   costs) of an LM-O-like scene (the 8 LM-O meshes with a `brushed` finish, 640x480,
   one sun with shadows) adding one feature at a time.

    PYOPENGL_PLATFORM=egl python benchmarks/render_surfaces.py --data ../shared/data/lmo \
        --images 20 --max-faces 4000
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

import cv2
import numpy as np
import trimesh
import yaml

from synthgap.cli.render import prepare_render
from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.look.environment import environment_layers, load_environment
from synthgap.generators.look.uvs import atlas_uv
from synthgap.generators.parts.assets import simplify_mesh

REPO = Path(__file__).resolve().parents[1]
SUN = {"type": "directional", "intensity": [2.5, 3.5], "elevation": [45, 75], "shadows": True}
VARIANTS = {  # name -> (material extras, extra lights)
    "finish": ({"normal_strength": 0}, []),
    "normal": ({"normal_strength": 1}, []),
    "xatlas": ({"normal_strength": 1, "uv": "xatlas"}, []),
    "studio": ({"normal_strength": 1}, [{"type": "environment", "intensity": 0.5}]),
    "image": ({"normal_strength": 1}, [{"type": "environment", "intensity": 0.5,
                                        "image": "env.png"}]),
}
LABELS = {"finish": "brushed finish, no normal map (box UVs)", "normal": "+ normal map",
          "xatlas": "+ normal map, xatlas UVs", "studio": "+ normal map + studio environment",
          "image": "+ normal map + environment photo"}


def env_photo(path: Path) -> None:
    """A deterministic 1024x512 panorama: bright sky with lamps, grey walls, dark floor."""
    rng = np.random.default_rng(0)
    h, w = 512, 1024
    img = np.zeros((h, w, 3), np.float32)
    img[: h // 2] = np.linspace(1.0, 0.5, h // 2)[:, None, None] * np.array([0.9, 0.92, 1.0])
    img[h // 2:] = 0.12
    for x in rng.integers(0, w, 6):
        cv2.circle(img, (int(x), h // 6), 12, (1.0, 1.0, 1.0), -1)
    img += 0.03 * rng.standard_normal((h, w, 3)).astype(np.float32)
    cv2.imwrite(str(path), np.clip(img[:, :, ::-1] * 255, 0, 255).astype(np.uint8))


def xatlas_table(data: Path, max_faces: int) -> list[tuple[str, int, float, int, float]]:
    rows = []
    for f in sorted((data / "models").glob("obj_*.ply")):
        mesh = trimesh.load(f, force="mesh", process=False)
        mesh.apply_scale(1e-3)
        t0 = time.perf_counter()
        atlas_uv(mesh.smooth_shaded)
        full = time.perf_counter() - t0
        small = simplify_mesh(mesh, max_faces)
        t0 = time.perf_counter()
        atlas_uv(small.smooth_shaded)
        rows.append((f.stem, len(mesh.faces), full, len(small.faces), time.perf_counter() - t0))
    return rows


def write_scene(data: Path, folder: Path, meshes: list[Path], extras: dict,
                lights: list[dict]) -> Path:
    cam = json.loads((data / "camera.json").read_text())
    material = {"base_color": [0.75, 0.75, 0.77], "metallic": 1.0, "roughness": 0.4,
                "texture": "brushed", "texture_scale": 0.03, **extras}
    scene = {
        "seed": 0, "image": {"width": cam["width"], "height": cam["height"]},
        "camera": {"intrinsics": {k: cam[k] for k in ("fx", "fy", "cx", "cy")},
                   "pose": {"distance": [0.7, 1.0], "elevation": [35, 80]},
                   "znear": 0.05, "zfar": 5.0},
        "area": [0.6, 0.45],
        "parts": [{"mesh": str(m), "units": "mm", "material": material} for m in meshes],
        "lights": [SUN, *lights],
        "background": {"color": [[0.25, 0.22, 0.2], [0.45, 0.42, 0.4]],
                       "ambient": [0.15, 0.15, 0.15]},
    }
    path = folder / "scene.yaml"
    path.write_text(yaml.safe_dump(scene, sort_keys=False))
    return path


def render_cost(path: Path, n: int) -> tuple[float, float, dict[str, float]]:
    """(first render s, CPU ms per later render, one-time stage seconds)."""
    source, _ = prepare_render(str(path))
    meshes, sample_fn = source.load()
    params = [sample_fn(i) for i in range(n + 1)]
    scene = source.scene
    with Renderer(scene.image.width, scene.image.height) as r:
        t0 = time.perf_counter()
        r.render(params[0], meshes)  # context, uploads, shaders, xatlas, pre-filtering
        first = time.perf_counter() - t0
        c0 = time.process_time()
        for p in params[1:]:
            r.render(p, meshes)
        return first, 1000 * (time.process_time() - c0) / n, r.stage_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--max-faces", type=int, default=4000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="synthgap-surfaces-"))
    load0 = os.getloadavg()[0]
    try:
        xa = xatlas_table(args.data, args.max_faces)
        env_photo(tmp / "env.png")
        t0 = time.perf_counter()
        layers = environment_layers(load_environment(tmp / "env.png"))
        env_s = time.perf_counter() - t0
        models = []
        for f in sorted((args.data / "models").glob("obj_*.ply")):
            small = simplify_mesh(trimesh.load(f, force="mesh", process=False), args.max_faces)
            models.append(tmp / f.name)
            small.export(models[-1])
        rows = []
        for name, (extras, lights) in VARIANTS.items():
            folder = tmp / name
            folder.mkdir()
            shutil.copy(tmp / "env.png", folder / "env.png")
            rows.append((name, *render_cost(write_scene(args.data, folder, models, extras,
                                                        lights), args.images)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{os.cpu_count()} CPUs, PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}, "
          f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print("\n| LM-O mesh | triangles | xatlas s | simplified triangles | xatlas s |")
    print("|---|---:|---:|---:|---:|")
    for stem, nf, s_full, ns, s_small in xa:
        print(f"| {stem} | {nf} | {s_full:.2f} | {ns} | {s_small:.2f} |")
    tot = [sum(r[i] for r in xa) for i in (1, 2, 3, 4)]
    print(f"| all | {tot[0]} | {tot[1]:.2f} | {tot[2]} | {tot[3]:.2f} |")
    print(f"\nenvironment photo 1024x512 -> {layers.shape[0]} layers of "
          f"{layers.shape[2]}x{layers.shape[1]}: {env_s:.2f} s (once per photo and process)")
    print(f"\nLM-O-like scene, {len(models)} meshes <= {args.max_faces} triangles, 640x480, "
          f"{args.images} images per variant after a warm-up render")
    print("\n| variant | first render s | one-time stages s | render CPU ms/image | vs finish |")
    print("|---|---:|---:|---:|---:|")
    base = rows[0][2]
    for name, first, ms, stages in rows:
        st = ", ".join(f"{k} {v:.2f}" for k, v in stages.items()) or "-"
        print(f"| {LABELS[name]} | {first:.2f} | {st} | {ms:.0f} | {ms - base:+.0f} ms |")


if __name__ == "__main__":
    main()
