"""Geometry of `synthgap.poses.aligner`: viewpoints, rotations, poses from a part's centre,
candidate boxes of the sliding search (plain numpy, no OpenGL).

Frames: OpenCV camera frame (+x right, +y down, +z forward), metres; poses are
camera-from-object `(4, 4) float64`.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

__all__ = [
    "centre_diameter",
    "fibonacci_directions",
    "look_rotation",
    "pose_from_centre",
    "ray_rotation",
    "rot_z",
    "rotation_angle",
    "sliding_boxes",
]


def fibonacci_directions(n: int) -> np.ndarray:
    """`(n, 3) float64` unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    i = np.arange(n, dtype=float) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def look_rotation(direction: np.ndarray) -> np.ndarray:
    """Camera-from-object rotation of a camera on `direction` (object frame) looking at the
    origin (OpenCV frame: +z forward)."""
    z = -direction / np.linalg.norm(direction)
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.95 else np.array([0.0, 1.0, 0.0])
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])  # rows: camera axes in object coordinates


def ray_rotation(d: np.ndarray) -> np.ndarray:
    """The smallest rotation taking +z onto the unit vector `d`."""
    d = d / np.linalg.norm(d)
    axis = np.cross([0.0, 0.0, 1.0], d)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3)
    rot: np.ndarray = Rotation.from_rotvec(axis / s * np.arctan2(s, d[2])).as_matrix()
    return rot


def rot_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])



def pose_from_centre(R: np.ndarray, centre_cam: np.ndarray, centre_obj: np.ndarray) -> np.ndarray:
    """Camera-from-object pose with rotation `R` that puts `centre_obj` at `centre_cam`."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(centre_cam, float) - R @ centre_obj
    return T


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    c = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def centre_diameter(mesh: trimesh.Trimesh) -> tuple[np.ndarray, float]:
    b = np.asarray(mesh.bounds, float)
    return 0.5 * (b[0] + b[1]), float(np.linalg.norm(b[1] - b[0]))


def sliding_boxes(K: np.ndarray, mesh: trimesh.Trimesh, depth: tuple[float, float],
                   size: tuple[int, int], n_depths: int
                   ) -> list[tuple[float, float, float, float]]:
    """Square candidate boxes of the part's expected projected size at `n_depths` depths,
    sliding over the image with half-box strides."""
    _, diameter = centre_diameter(mesh)
    w, h = size
    boxes = []
    for z in np.geomspace(depth[0], depth[1], n_depths):
        side = 0.7 * diameter * 0.5 * (K[0, 0] + K[1, 1]) / z
        step = max(side / 2.0, 4.0)
        for y in np.arange(-side / 4, h - side * 3 / 4 + 1e-9, step):
            for x in np.arange(-side / 4, w - side * 3 / 4 + 1e-9, step):
                boxes.append((float(x), float(y), float(side), float(side)))
    return boxes
