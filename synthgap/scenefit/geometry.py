"""Each photo seen from its support plane: the camera and every part in the plane's frame.

The plane frame of a photo (the fitted scene's world): +z the plane normal (towards the
camera), origin on the plane under the parts' centroid, +x first along the camera's x axis
projected on the plane, then turned about +z so that the *anchor* part (the part seen in most
photos) has yaw 0 in every photo that shows it. Anchoring makes the camera's azimuth and every
other part's yaw *relative to the anchor*, which is what the photos determine; with one static
arrangement photographed from many sides (LM-O) it is the arrangement's own frame, with a
new arrangement per photo (a line) it spreads the azimuths instead.

Rest orientations: a part's orientation relative to the plane is `Rz(yaw) @ R_rest`;
`R_rest` is fixed by the object-frame direction that points up (`up`), yaw is the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from synthgap.scenefit.observations import PhotoObservation
from synthgap.scenefit.plane import Plane, fit_support_plane

__all__ = ["PartShape", "PhotoGeometry", "PlacedPart", "anchor_frames", "part_shape",
           "photo_geometry", "rest_rotation", "yaw_of"]

#: Stable poses of each part used as candidate plane normals (most probable first).
CANDIDATE_POSES = 12


@dataclass(frozen=True, eq=False)
class PartShape:
    """What the fit needs of a part mesh.

    Attributes:
        hull: `(m, 3) float64` convex-hull vertices, object frame, metres.
        up_candidates: `(k, 3)` object-frame up directions of its likeliest resting poses.
    """

    hull: np.ndarray
    up_candidates: np.ndarray


@dataclass(frozen=True, eq=False)
class PlacedPart:
    """One part of one photo in that photo's plane frame.

    Attributes:
        part: template part name.
        rotation: `(3, 3)` plane-from-object rotation.
        centre: `(3,)` centre of its hull's bounding box in the plane frame, metres.
        height: lowest point above the plane, metres (~0 when it rests on it).
        visib_fract: visible fraction when known.
    """

    part: str
    rotation: np.ndarray
    centre: np.ndarray
    height: float
    visib_fract: float | None

    @property
    def position(self) -> np.ndarray:
        """`(2,)` xy of `centre` (where the part stands on the plane), metres."""
        return np.asarray(self.centre[:2], float)

    @property
    def up(self) -> np.ndarray:
        """`(3,)` object-frame direction of the plane normal (the resting orientation)."""
        return np.asarray(self.rotation[2, :], float)


@dataclass(frozen=True, eq=False)
class PhotoGeometry:
    """One photo in its plane frame.

    Attributes:
        name: the observation's name.
        plane: the support plane in the camera frame.
        world_from_camera: `(4, 4)` plane-frame pose of the camera (OpenCV axes).
        parts: the parts, in observation order.
    """

    name: str
    plane: Plane
    world_from_camera: np.ndarray
    parts: tuple[PlacedPart, ...]

    def aim(self) -> np.ndarray:
        """`(3,)` the point of the optical axis nearest the parts' centroid (world, metres)."""
        e = self.world_from_camera[:3, 3]
        z = self.world_from_camera[:3, 2]
        m = np.mean([p.centre for p in self.parts], axis=0) if self.parts else e + z
        return e + float((m - e) @ z) * z


def rest_rotation(up: np.ndarray) -> np.ndarray:
    """`(3, 3)` the smallest rotation taking object-frame `up` to +z."""
    u = np.asarray(up, float) / np.linalg.norm(up)
    if u[2] < -1 + 1e-9:
        return np.diag([1.0, -1.0, -1.0])
    rot, _ = Rotation.align_vectors(np.array([[0.0, 0.0, 1.0]]), u[None])
    return np.asarray(rot.as_matrix())


def yaw_of(rotation: np.ndarray, rest: np.ndarray) -> float:
    """Yaw in degrees of `rotation ~= Rz(yaw) @ rest`."""
    m = np.asarray(rotation) @ np.asarray(rest).T
    return math.degrees(math.atan2(m[1, 0], m[0, 0]))


def _frame(plane: Plane, centroid: np.ndarray) -> np.ndarray:
    """`(4, 4)` camera-from-plane-frame for a plane, origin under `centroid`."""
    z = plane.normal
    x = np.array([1.0, 0.0, 0.0]) - plane.normal[0] * z
    if np.linalg.norm(x) < 1e-6:
        x = np.array([0.0, 1.0, 0.0]) - plane.normal[1] * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    o = centroid - plane.height(centroid[None])[0] * z
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, o
    return T


def photo_geometry(obs: PhotoObservation, shapes: Mapping[str, PartShape]) -> PhotoGeometry:
    """The plane of one photo and the camera and parts in its frame.

    Raises:
        ValueError: the photo shows no known part, or no plane fits (names the photo).
    """
    if not obs.parts:
        raise ValueError(f"{obs.photo}: no known part in this photo; the plane cannot be "
                         "estimated (leave the photo out)")
    hulls, normals = [], []
    for p in obs.parts:
        R, t = p.pose[:3, :3], p.pose[:3, 3]
        hulls.append(shapes[p.part].hull @ R.T + t)
        normals.extend(shapes[p.part].up_candidates @ R.T)
    try:
        plane = fit_support_plane(hulls, normals)
    except ValueError as exc:
        raise ValueError(f"{obs.photo}: {exc}") from None
    centres = np.array([0.5 * (h.min(axis=0) + h.max(axis=0)) for h in hulls])
    c_from_w = _frame(plane, centres.mean(axis=0))
    w_from_c = np.linalg.inv(c_from_w)
    parts = []
    for p, h in zip(obs.parts, hulls, strict=True):
        hw = h @ w_from_c[:3, :3].T + w_from_c[:3, 3]
        R = w_from_c[:3, :3] @ p.pose[:3, :3]
        parts.append(PlacedPart(part=p.part, rotation=R,
                                centre=0.5 * (hw.min(axis=0) + hw.max(axis=0)),
                                height=float(hw[:, 2].min()), visib_fract=p.visib_fract))
    return PhotoGeometry(name=obs.name, plane=plane, world_from_camera=w_from_c,
                         parts=tuple(parts))


def _turn(g: PhotoGeometry, deg: float) -> PhotoGeometry:
    """The same photo with its plane frame turned by `deg` about +z (yaws drop by `deg`)."""
    c, s = math.cos(math.radians(-deg)), math.sin(math.radians(-deg))
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = Rz
    parts = tuple(PlacedPart(part=p.part, rotation=Rz @ p.rotation,
                             centre=Rz @ p.centre, height=p.height,
                             visib_fract=p.visib_fract) for p in g.parts)
    return PhotoGeometry(name=g.name, plane=g.plane, world_from_camera=T @ g.world_from_camera,
                         parts=parts)


def anchor_frames(geoms: Sequence[PhotoGeometry], rests: Mapping[str, np.ndarray]
                  ) -> tuple[list[PhotoGeometry], str | None]:
    """Turn every photo's frame so the anchor part (seen in most photos; ties: first name)
    has yaw 0, measured against `rests[anchor]` (its most frequent rest rotation).

    Returns:
        The turned geometries and the anchor's name (None when no part is seen).
    """
    counts: dict[str, int] = {}
    for g in geoms:
        for name in {p.part for p in g.parts}:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return list(geoms), None
    anchor = sorted(counts, key=lambda k: (-counts[k], k))[0]
    out = []
    for g in geoms:
        first = next((p for p in g.parts if p.part == anchor), None)
        out.append(g if first is None else _turn(g, yaw_of(first.rotation, rests[anchor])))
    return out, anchor


def part_shape(mesh_vertices_hull: np.ndarray, stable_poses: np.ndarray) -> PartShape:
    """A `PartShape` from hull vertices and `(n, 4, 4)` stable poses (most probable first)."""
    ups = np.asarray(stable_poses, float)[:CANDIDATE_POSES, 2, :3]
    return PartShape(hull=np.asarray(mesh_vertices_hull, float), up_candidates=ups)
