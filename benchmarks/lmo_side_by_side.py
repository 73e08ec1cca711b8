"""Side-by-side picture: LM-O `fit` photos next to pinned renders of the same views.

Each photo's BOP ground truth (camera at the world origin, `cam_R_m2c`/`cam_t_m2c` part
poses in mm) becomes a `real_views` entry of a scene written to a temporary folder; the
renders use the meshes' own vertex colours and a shadowed directional light
(`synthgap.generators.real.views.render_aligned_views`). Only `fit` photos are used. Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_side_by_side.py [--data ../shared/data/lmo]
        [--views 2] [--appearance auto|material] -o lmo_side_by_side.jpg
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import cv2
import numpy as np
import yaml

from synthgap.generators.real.views import render_aligned_views
from synthgap.scenes import load_scene

REPO = Path(__file__).resolve().parents[1]


def scene_dict(data: Path, ids: list[int], appearance: str) -> dict:
    """A scene with one pinned view per LM-O image id (scene 000002)."""
    folder = data / "test" / "000002"
    gt = json.loads((folder / "scene_gt.json").read_text())
    cam = json.loads((data / "camera.json").read_text())
    views, objs = [], set()
    for k in ids:
        parts = []
        for o in gt[str(k)]:
            u, _, vt = np.linalg.svd(np.asarray(o["cam_R_m2c"], float).reshape(3, 3))
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = u @ vt, o["cam_t_m2c"]
            parts.append({"part": f"obj_{o['obj_id']:06d}", "pose": T.tolist()})
            objs.add(o["obj_id"])
        views.append({"photo": str(folder / "rgb" / f"{k:06d}.png"), "units": "mm",
                      "camera_pose": np.eye(4).tolist(), "parts": parts,
                      "background": {"plane": False, "color": [0.3, 0.3, 0.3],
                                     "ambient": [0.25, 0.25, 0.25]}})
    material = {} if appearance == "auto" else {
        "material": {"base_color": [0.5, 0.5, 0.5], "metallic": 0.0, "roughness": 0.7}}
    return {"image": {"width": cam["width"], "height": cam["height"]},
            "camera": {"intrinsics": {k: cam[k] for k in ("fx", "fy", "cx", "cy")},
                       "znear": 0.05, "zfar": 5.0},
            "parts": [{"mesh": str(data / "models" / f"obj_{i:06d}.ply"), "units": "mm",
                       **material} for i in sorted(objs)],
            "lights": [{"type": "directional", "intensity": 3.0, "elevation": 60,
                        "azimuth": 200, "shadows": True}],
            "real_views": views}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--views", type=int, default=2, help="how many fit photos")
    ap.add_argument("--appearance", choices=("auto", "material"), default="auto",
                    help="auto: the meshes' own colours; material: one grey material")
    ap.add_argument("-o", "--out", type=Path, required=True, help="picture to write")
    args = ap.parse_args()
    fit = json.loads((args.data / "splits.json").read_text())["fit"][:args.views]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.yaml"
        path.write_text(yaml.safe_dump(scene_dict(args.data, fit, args.appearance)))
        views = render_aligned_views(load_scene(path))
    rows = [np.concatenate([v.real, v.render], axis=1) for v in views]
    picture = np.concatenate(rows, axis=0)[::2, ::2]
    cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    print(json.dumps({"out": str(args.out), "views": fit}))


if __name__ == "__main__":
    main()
