"""Geometry defects (chip, missing_hole, extra_hole): their cost and whether their masks are
exactly where the image changed, on sampled images of a scene.

Samples `--images` images of the scene (`examples/geometry_defects.yaml` by default) and
renders each twice with one `Renderer`: as sampled, and with the geometry defects left out
(surface patches kept; same poses, lights and camera). Prints one JSON line:

* `render_cpu_ms`: CPU ms per image of `Renderer.render` (this process, all threads) with
  and without the geometry defects, and `edited_instances_per_image`;
* `mask_vs_changed_depth`: over every image, the pixels carrying a geometry defect's id
  against the pixels whose depth changed (> 10 µm, `DEPTH_TOL_M`) between the two renders:
  `equal` when the two sets are identical in every image, with the pixel counts of each
  difference and of those farther than 1 px from the other set;
* `colour_changed_beyond_1px`: pixels whose colour changed by more than 8 levels farther
  than 1 px from any defect pixel (the colour pass is 4x MSAA), e.g. shadows cast through a
  hole, which the mask does not cover, or an MSAA sample on an edge of the part that the
  boolean split (the two halves' edge equations round differently).

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/geometry_defects.py [--scene SCENE]
        [--images 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import cv2
import numpy as np

from synthgap.generators.defects.geometry import GEOMETRY_DEFECT_TYPES
from synthgap.generators.gl.renderer import Renderer
from synthgap.generators.parts.assets import load_parts
from synthgap.generators.sampling.sample import sample
from synthgap.scenes import load_scene

#: Depth change that counts (metres): above the depth buffer's quantisation where a face was
#: re-triangulated (24 bits: ~0.5 µm a step at 0.28 m with znear = 1 cm; up to ~2 µm
#: measured), far below any defect (tenths of a millimetre and more).
DEPTH_TOL_M = 1e-5


def _without_geometry(params):
    parts = tuple(replace(p, defects=tuple(d for d in p.defects
                                           if d.type not in GEOMETRY_DEFECT_TYPES))
                  for p in params.parts)
    return replace(params, parts=parts)


def _geometry_ids(params) -> list[int]:
    ids, did = [], 0
    for p in params.parts:
        for d in p.defects:
            did += 1
            if d.type in GEOMETRY_DEFECT_TYPES:
                ids.append(did)
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scene", default="examples/geometry_defects.yaml")
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    scene = load_scene(args.scene)
    parts = load_parts(scene)
    meshes = {k: a.mesh for k, a in parts.items()}
    samples = [sample(scene, parts, index=i, seed=args.seed) for i in range(args.images)]
    cpu = {"with": 0.0, "without": 0.0}
    only_mask = only_changed = mask_px = beyond = edited = far = 0
    with Renderer(scene.image.width, scene.image.height) as rend:
        rend.render(samples[0], meshes)  # GL context, shaders, uploads: not timed
        for p in samples:
            t = time.process_time()
            res = rend.render(p, meshes)
            cpu["with"] += time.process_time() - t
            t = time.process_time()
            ref = rend.render(_without_geometry(p), meshes)
            cpu["without"] += time.process_time() - t
            ids = _geometry_ids(p)
            edited += sum(any(d.type in GEOMETRY_DEFECT_TYPES for d in q.defects)
                          for q in p.parts)
            mask = np.isin(res.defect_mask, ids)
            changed = np.abs(res.depth - ref.depth) > DEPTH_TOL_M
            only_mask += int((mask & ~changed).sum())
            only_changed += int((changed & ~mask).sum())
            mask_px += int(mask.sum())
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            near_change = cv2.dilate(changed.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            far += int((changed & ~grown).sum() + (mask & ~near_change).sum())
            colour = np.abs(res.rgb.astype(int) - ref.rgb.astype(int)).max(axis=2) > 8
            beyond += int((colour & ~grown).sum())
    n = len(samples)
    print(json.dumps({
        "scene": args.scene, "images": n, "size": [scene.image.width, scene.image.height],
        "edited_instances_per_image": round(edited / n, 2),
        "render_cpu_ms": {k: round(1000 * v / n, 1) for k, v in cpu.items()},
        "mask_vs_changed_depth": {"equal": only_mask == 0 and only_changed == 0,
                                  "mask_pixels": mask_px, "mask_only": only_mask,
                                  "changed_only": only_changed,
                                  "differences_beyond_1px": far},
        "colour_changed_beyond_1px": beyond,
    }))


if __name__ == "__main__":
    main()
