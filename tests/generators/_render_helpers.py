"""Hand-made `SampleParams` and meshes for renderer tests (no scene file, no sampling)."""

from __future__ import annotations

import numpy as np
import trimesh

from synthgap.generators.params import (
    BackgroundParams,
    CameraParams,
    DefectParams,
    DistractorParams,
    LightParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
)

GREY = MaterialParams((0.6, 0.6, 0.62), 0.5, 0.5)


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World-from-camera, OpenCV frame (+z towards `target`, +y down)."""
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    if np.linalg.norm(x) < 1e-9:
        x = np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def translation(x, y, z) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = [x, y, z]
    return T


def meshes() -> dict[str, trimesh.Trimesh]:
    box = trimesh.creation.box([0.04, 0.03, 0.02])
    box.apply_translation([0, 0, 0.01])  # rests on z = 0
    washer = trimesh.creation.annulus(r_min=0.006, r_max=0.015, height=0.004, sections=64)
    washer.apply_translation([0, 0, 0.002])
    return {"block": box, "washer": washer}


def camera(width=96, height=72, *, distortion=(0.0,) * 5, eye=(0.0, 0.0, 0.3), f=None,
           cx=None, cy=None, target=(0.0, 0.0, 0.0)) -> CameraParams:
    f = f if f is not None else 1.6 * width
    return CameraParams(width=width, height=height, fx=f, fy=f,
                        cx=(width - 1) / 2 if cx is None else cx,
                        cy=(height - 1) / 2 if cy is None else cy,
                        distortion=tuple(distortion), pose=as_matrix4(look_at(eye, target)))


def params(*, parts=None, cam=None, distractors=(), plane=True, image=None, index=0, seed=0,
           defects=(), lights=None) -> SampleParams:
    cam = cam or camera()
    if parts is None:
        parts = (PartInstanceParams("block", "block", as_matrix4(translation(-0.025, 0, 0)), GREY,
                                    tuple(defects)),
                 PartInstanceParams("washer", "washer", as_matrix4(translation(0.03, 0.005, 0)),
                                    MaterialParams((0.8, 0.5, 0.2), 0.9, 0.3)))
    if lights is None:
        lights = (LightParams("ring", (1.0, 1.0, 1.0), 0.05, cam.pose, 5500.0,
                              {"radius": 0.05, "count": 8}),
                  LightParams("directional", (1.0, 0.95, 0.9), 1.0, as_matrix4(np.eye(4))))
    return SampleParams(index=index, seed=seed, camera=cam, parts=tuple(parts),
                        lights=tuple(lights),
                        background=BackgroundParams((0.2, 0.25, 0.3), plane=plane, plane_size=1.0,
                                                    image=image),
                        distractors=tuple(distractors))


def scratch(position=(0.0, 0.0, 0.02), length_mm=20.0, width_mm=3.0) -> DefectParams:
    return DefectParams("scratch", position, (0.0, 0.0, 1.0), (1.0, 0.0, 0.0),
                        {"length_mm": length_mm, "width_mm": width_mm}, (0.95, 0.95, 0.95))


def dent(position=(0.005, 0.0, 0.02), radius_mm=4.0, depth_mm=0.8) -> DefectParams:
    return DefectParams("dent", position, (0.0, 0.0, 1.0), (1.0, 0.0, 0.0),
                        {"radius_mm": radius_mm, "depth_mm": depth_mm}, (0.3, 0.3, 0.3))


def box_distractor(pose, size=(0.03, 0.03, 0.03)) -> DistractorParams:
    return DistractorParams("box", tuple(size), as_matrix4(pose), GREY)


class HandSource:
    """A picklable `SampleSource` without scene files: random poses of the two test parts."""

    def __init__(self, seed: int = 0, width: int = 64, height: int = 48, defects: bool = True,
                 distortion=(0.0,) * 5) -> None:
        self.seed, self.width, self.height = seed, width, height
        self.defects, self.distortion = defects, tuple(distortion)

    def load(self):
        ms = meshes()

        def sample_fn(index: int) -> SampleParams:
            rng = np.random.default_rng([self.seed, index])
            parts = []
            for k in range(int(rng.integers(1, 4))):
                name = ("block", "washer")[k % 2]
                pose = translation(*rng.uniform(-0.04, 0.04, 2), 0.0)
                a = rng.uniform(0, 2 * np.pi)
                pose[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
                mat = MaterialParams(tuple(rng.uniform(0.2, 0.9, 3)), float(rng.uniform()),
                                     float(rng.uniform(0.2, 0.8)))
                dfs = (scratch(length_mm=float(rng.uniform(5, 20))),) if (
                    self.defects and name == "block" and rng.uniform() < 0.7) else ()
                parts.append(PartInstanceParams(name, name, as_matrix4(pose), mat, dfs))
            eye = (*rng.uniform(-0.05, 0.05, 2), 0.3)
            cam = camera(self.width, self.height, eye=eye, distortion=self.distortion)
            from synthgap.generators.params import SensorParams
            p = params(parts=parts, cam=cam, index=index, seed=self.seed)
            return SampleParams(index=p.index, seed=p.seed, camera=p.camera, parts=p.parts,
                                lights=p.lights, background=p.background,
                                sensor=SensorParams(0.2, 0.5, 0.01, 90, int(rng.integers(2**31))))

        return ms, sample_fn
