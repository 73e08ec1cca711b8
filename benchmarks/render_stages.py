"""CPU time per image of each stage of `synthgap render`, measured one after another.

Where the ~20-25 ms of dataset work per image that a bare pyrender loop skips goes: sampling,
rendering (both passes; all GL threads count), annotation, sensor effects, PNG encoding and
writing of each layer, record JSON. One thread, stages run in sequence (no overlap), CPU time
of this process (`time.process_time`, so other jobs on the machine do not inflate it).

    PYOPENGL_PLATFORM=egl python benchmarks/render_stages.py [--scene preset:turntable]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import cv2

from synthgap.cli.render import prepare_render
from synthgap.data import DatasetLayout
from synthgap.data.layout import (
    PNG_LABEL_FLAGS,
    PNG_RGB_FLAGS,
    depth_to_mm,
    write_png_atomic,
)
from synthgap.generators.camera.sensor import apply_sensor
from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.run.annotate import annotate
from synthgap.generators.run.runner import reuse_freed_memory

STAGES = ("sample", "render", "annotate", "sensor", "rgb png", "depth png", "mask png",
          "defects png", "record json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="preset:turntable")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    reuse_freed_memory()  # as render worker processes and `synthgap render` do
    source, identity = prepare_render(args.scene, width=args.size, height=args.size)
    meshes, sample_fn = source.load()
    pt = time.process_time
    print(f"scene {args.scene}, {args.size}x{args.size}, {args.images} images, CPU ms per image "
          f"and stage; load average {os.getloadavg()[0]:.1f}")
    print("| stage | " + " | ".join(f"round {r + 1}" for r in range(args.rounds)) + " |")
    print("|---|" + "---:|" * args.rounds)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp, Renderer(args.size, args.size) as renderer:
        layout = DatasetLayout(Path(tmp))
        layout.make_dirs(defects=identity.defects_layer)
        renderer.render(sample_fn(0), meshes)  # warm-up: context and uploads
        for _ in range(args.rounds):
            t = dict.fromkeys(STAGES, 0.0)
            for i in range(args.images):
                a = pt()
                params = sample_fn(i)
                b = pt()
                res = renderer.render(params, meshes)
                c = pt()
                record = annotate(params, res.instance_mask, res.defect_mask,
                                  res.unoccluded_pixels, defects_layer=identity.defects_layer)
                d = pt()
                rgb = apply_sensor(res.rgb, params.sensor)
                e = pt()
                write_png_atomic(layout.image(i), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                 PNG_RGB_FLAGS)
                f = pt()
                write_png_atomic(layout.depth(i), depth_to_mm(res.depth), PNG_LABEL_FLAGS)
                g = pt()
                write_png_atomic(layout.mask(i), res.instance_mask, PNG_LABEL_FLAGS)
                h = pt()
                if identity.defects_layer:
                    write_png_atomic(layout.defects(i), res.defect_mask, PNG_LABEL_FLAGS)
                j = pt()
                record.to_json()
                k = pt()
                for name, dt in zip(STAGES, (b - a, c - b, d - c, e - d, f - e, g - f, h - g,
                                             j - h, k - j), strict=True):
                    t[name] += dt
            rounds.append({n: 1000 * v / args.images for n, v in t.items()})
    for name in (*STAGES, "total"):
        vals = [sum(r.values()) if name == "total" else r[name] for r in rounds]
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")


if __name__ == "__main__":
    main()
