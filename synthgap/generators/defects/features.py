"""Features of a part's mesh that defects are placed on: round holes and sharp edges (no GL).

* `find_holes(mesh)`: the round holes a `missing_hole` defect fills (circular inner rings of
  cross-sections of the mesh, their ends from the hole's wall faces);
* `chip_site(mesh, rng=...)`: a point on a sharp convex edge where a `chip` is knocked off.

Both are cached by mesh content (computed once per part).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from synthgap.generators.params import vec3

__all__ = ["SHARP_EDGE_RAD", "Hole", "chip_site", "find_holes", "mesh_key", "sharp_edges"]

#: Edges whose faces meet at more than this angle (radians) are sharp: chips sit on them.
SHARP_EDGE_RAD = np.radians(30.0)


#: Entries each module cache of meshes keeps (the oldest goes first), so a long-lived process
#: that loads many meshes holds a bounded amount of them (parts' resting poses and STEP
#: bodies, features' holes and sharp edges).
CACHE_ENTRIES = 64


def bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """`cache[key] = value`, dropping the oldest entries beyond `CACHE_ENTRIES`."""
    while len(cache) >= CACHE_ENTRIES:
        cache.pop(next(iter(cache)))
    cache[key] = value


def mesh_key(mesh: trimesh.Trimesh) -> str:
    """SHA-256 of the mesh's vertices and faces (the key of caches by mesh content)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    return h.hexdigest()


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-30)
    return out


# --------------------------------------------------------------------------- holes


@dataclass(frozen=True)
class Hole:
    """A round hole of a part (object frame).

    Attributes:
        centre: (3,) metres, on the hole's axis halfway between its ends.
        axis: (3,) unit vector along the hole.
        radius: metres, the largest distance of the hole wall's vertices from the axis.
        length: metres, from one end of the hole wall to the other.
    """

    centre: tuple[float, float, float]
    axis: tuple[float, float, float]
    radius: float
    length: float


_HOLES: dict[str, tuple[Hole, ...]] = {}


def find_holes(mesh: trimesh.Trimesh) -> tuple[Hole, ...]:
    """The round holes of `mesh` whose axis is along the object x, y or z axis or one of the
    mesh's principal axes of inertia (cached by mesh content).

    A hole is found as a circular inner ring of cross-sections of the mesh (sections across
    each candidate axis, midway between the distinct heights of the mesh's vertices); its
    extent is that of the wall faces around the ring's axis. Slots and other non-circular
    openings are not holes here.

    Args:
        mesh: the part (object frame, metres), a closed volume.

    Returns:
        The holes, largest first; empty when there are none.
    """
    key = mesh_key(mesh)
    if key not in _HOLES:
        bounded_put(_HOLES, key, _find_holes(mesh))
    return _HOLES[key]


def _axes(mesh: trimesh.Trimesh) -> list[np.ndarray]:
    cands = [*np.eye(3)]
    try:
        cands += [*np.asarray(mesh.principal_inertia_vectors, dtype=float)]
    except Exception:  # degenerate inertia (flat meshes): the object axes will do
        pass
    out: list[np.ndarray] = []
    for a in cands:
        a = _unit(np.asarray(a, dtype=float))
        if np.all(np.isfinite(a)) and all(abs(a @ b) < 0.999 for b in out):
            out.append(a)
    return out


def _levels(heights: np.ndarray, cap: int = 12) -> np.ndarray:
    """Section heights midway between consecutive distinct vertex heights (at most `cap`)."""
    span = heights.max() - heights.min()
    distinct = np.unique(np.round(heights / max(span, 1e-12), 6)) * span
    if len(distinct) < 2:
        return np.zeros(0)
    mids: np.ndarray = 0.5 * (distinct[1:] + distinct[:-1])
    if len(mids) > cap:
        mids = mids[np.linspace(0, len(mids) - 1, cap).round().astype(int)]
    return mids


def _find_holes(mesh: trimesh.Trimesh) -> tuple[Hole, ...]:
    rings: list[tuple[np.ndarray, np.ndarray, float]] = []  # (axis, centre, radius)
    verts = np.asarray(mesh.vertices, dtype=float)
    for a in _axes(mesh):
        for h in _levels(verts @ a):
            try:
                sec = mesh.section(plane_origin=a * h, plane_normal=a)
                if sec is None:
                    continue
                to_2d = getattr(sec, "to_2D", None) or sec.to_planar  # renamed in trimesh 4.5
                planar, to_3d = to_2d(check=False)
                polygons = planar.polygons_full
            except Exception:  # a degenerate section: no hole to see at this height
                continue
            for poly in polygons:
                for interior in poly.interiors:
                    ring = np.asarray(interior.coords, dtype=float)[:-1]
                    if len(ring) < 6:
                        continue
                    # least-squares circle (Kasa): |x|^2 = 2 c.x + (r^2 - |c|^2)
                    lsq = np.column_stack([2 * ring, np.ones(len(ring))])
                    sol = np.linalg.lstsq(lsq, (ring ** 2).sum(axis=1), rcond=None)[0]
                    r = np.linalg.norm(ring - sol[:2], axis=1)
                    if r.mean() > 0 and r.std() < 0.05 * r.mean():
                        c = trimesh.transform_points(np.array([[*sol[:2], 0.0]]), to_3d)[0]
                        rings.append((a, c, float(r.max())))
    holes: list[Hole] = []
    for a, c, r in rings:
        if any(abs(np.dot(a, h.axis)) > 0.999 and abs(h.radius - r) < 0.1 * r
               and np.linalg.norm(np.cross(c - np.asarray(h.centre), a)) < 0.1 * r
               for h in holes):
            continue  # the same hole, seen in another section
        hole = _hole_extent(mesh, a, c, r)
        if hole is not None:
            holes.append(hole)
    return tuple(sorted(holes, key=lambda h: -h.radius))


def _hole_extent(mesh: trimesh.Trimesh, a: np.ndarray, c: np.ndarray,
                 r: float) -> Hole | None:
    """The hole of radius `r` around the line (c, a): its wall faces give its two ends."""
    tri = mesh.triangles
    cen = tri.mean(axis=1)
    off = cen - c
    radial = np.linalg.norm(off - np.outer(off @ a, a), axis=1)
    wall = (radial > 0.8 * r) & (radial < 1.02 * r) & (np.abs(mesh.face_normals @ a) < 0.2)
    if not wall.any():
        return None
    t = (tri[wall].reshape(-1, 3) - c) @ a
    t0, t1 = float(t.min()), float(t.max())
    if t1 - t0 <= 1e-9:
        return None
    centre = c + a * 0.5 * (t0 + t1)
    return Hole(centre=vec3(centre), axis=vec3(a),
                radius=float(r), length=t1 - t0)


# --------------------------------------------------------------------------- sharp edges


_SHARP: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def sharp_edges(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's sharp convex edges (faces meeting at more than `SHARP_EDGE_RAD`):
    `(edges (k, 2, 3) float64 metres, outward bisector normals (k, 3) unit)`, cached."""
    key = mesh_key(mesh)
    if key not in _SHARP:
        angles = mesh.face_adjacency_angles
        sharp = (angles > SHARP_EDGE_RAD) & mesh.face_adjacency_convex
        adj = mesh.face_adjacency[sharp]
        edges = mesh.vertices[mesh.face_adjacency_edges[sharp]]
        normals = _unit(mesh.face_normals[adj[:, 0]] + mesh.face_normals[adj[:, 1]])
        bounded_put(_SHARP, key, (np.asarray(edges, dtype=float), normals))
    return _SHARP[key]


def chip_site(mesh: trimesh.Trimesh, *, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """A point where a chip is knocked off: uniform along the mesh's sharp convex edges (faces
    meeting at more than 30 degrees), else (a smooth part) uniform over its surface.

    Args:
        mesh: the part (object frame, metres).
        rng: the generator to draw from.

    Returns:
        `(position (3,) metres, normal (3,) unit)`: on an edge the normal bisects its two faces.
    """
    edges, normals = sharp_edges(mesh)
    lengths = np.linalg.norm(edges[:, 1] - edges[:, 0], axis=1) if len(edges) else np.zeros(0)
    if lengths.sum() <= 0:
        p, f = trimesh.sample.sample_surface(mesh, 1, seed=int(rng.integers(2**31 - 1)))
        return np.asarray(p[0], float), np.asarray(mesh.face_normals[f[0]], float)
    k = int(rng.choice(len(edges), p=lengths / lengths.sum()))
    s = float(rng.uniform())
    return edges[k, 0] + s * (edges[k, 1] - edges[k, 0]), normals[k]
