"""Synthetic photos with known truth: a scene of procedural parts on z = 0, sampled (no GL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgap.generators.parts.assets import load_parts
from synthgap.generators.sampling.sample import sample
from synthgap.scenefit.geometry import part_shape
from synthgap.scenefit.observations import PartObservation, PhotoObservation
from synthgap.scenes import parse_scene

SPEC = {
    "image": {"width": 160, "height": 120},
    "camera": {"fov_deg": 50, "pose": {"distance": [0.3, 0.4], "elevation": [40, 80],
                                       "azimuth": [0, 360], "roll": [-10, 10]}},
    "area": [0.16, 0.16],
    "parts": [{"procedural": "hex_nut", "count": 2}, {"procedural": "l_bracket", "count": 1},
              {"procedural": "flanged_washer", "count": 1}],
}


def synthetic(n: int, tmp: Path, seed: int = 0):
    """`(template, observations, shapes, world-from-camera poses)` of `n` sampled photos."""
    scene = parse_scene(SPEC, base_dir=tmp)
    lib = load_parts(scene)
    obs, cams = [], []
    for i in range(n):
        p = sample(scene, lib, index=i, seed=seed)
        cam = np.asarray(p.camera.pose)
        inv = np.linalg.inv(cam)
        K = np.array([[p.camera.fx, 0, p.camera.cx], [0, p.camera.fy, p.camera.cy], [0, 0, 1.0]])
        parts = tuple(PartObservation(part=q.part, pose=inv @ np.asarray(q.pose)) for q in p.parts)
        obs.append(PhotoObservation(photo=tmp / f"{i}.png", K=K, parts=parts, name=f"p{i}"))
        cams.append(cam)
    shapes = {n_: part_shape(a.mesh) for n_, a in lib.items()}
    return scene, obs, shapes, cams
