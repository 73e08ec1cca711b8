"""The support plane of one photo, estimated from the poses of the parts resting on it.

A part rests on the plane when its lowest point along the plane normal touches it. Each part's
resting poses (trimesh stable poses of its mesh) give a candidate normal in the camera frame;
the candidate under which most parts touch one common plane, with none sinking through it
and the camera above it, wins (RANSAC over a small, exhaustive hypothesis set), then the
plane is refined by least squares on the contact points of the parts that touch it.

Frames and units: camera frame (OpenCV, the camera at the origin), metres. A plane is
`{x : normal . x = offset}` with `normal` a unit vector pointing to the camera's side
(`offset < 0`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Plane", "fit_support_plane", "part_gaps"]

#: Parts within this distance (metres) of the plane touch it.
TOUCH_TOL = 0.01
#: Hull vertices within this height (metres) of a part's lowest point are its contact points.
CONTACT_BAND = 0.0015


@dataclass(frozen=True, eq=False)
class Plane:
    """A support plane in one photo's camera frame.

    Attributes:
        normal: `(3,) float64` unit normal pointing to the camera's side.
        offset: plane is `normal . x = offset`, metres (< 0: the camera is above it).
        touching: `(n,) bool`, parts whose lowest point lies within `TOUCH_TOL` of the plane.
        rms: root-mean-square gap of the touching parts' lowest points, metres.
    """

    normal: np.ndarray
    offset: float
    touching: np.ndarray
    rms: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """`(m,)` signed heights above the plane of `(m, 3)` camera-frame points, metres."""
        heights: np.ndarray = np.asarray(points, float) @ self.normal - self.offset
        return heights


def part_gaps(normal: np.ndarray, hulls: Sequence[np.ndarray]) -> np.ndarray:
    """`(n,)` lowest value of `normal . v` over each part's `(m_i, 3)` hull vertices."""
    return np.array([float((h @ normal).min()) for h in hulls])


def _best_offset(gaps: np.ndarray, tol: float) -> tuple[float, int, int]:
    """The offset with most parts touching (ties: the lowest plane) and (touching, sinking)."""
    best = (-np.inf, 0, 0, 0.0)
    for d in gaps:
        touch = int((np.abs(gaps - d) <= tol).sum())
        sink = int((gaps < d - tol).sum())
        score = touch - 2 * sink
        if (score, -d) > (best[0], -best[3]):
            best = (score, touch, sink, float(d))
    return best[3], best[1], best[2]


def _refine(normal: np.ndarray, hulls: Sequence[np.ndarray], touching: np.ndarray
            ) -> np.ndarray:
    """Least-squares normal through the touching parts' contact points (kept when they do
    not span a plane, e.g. one part standing on an edge)."""
    pts = []
    for h, t in zip(hulls, touching, strict=True):
        if t:
            z = h @ normal
            pts.append(h[z <= z.min() + CONTACT_BAND])
    if not pts:
        return normal
    p = np.concatenate(pts)
    if len(p) < 3:
        return normal
    _, s, vt = np.linalg.svd(p - p.mean(axis=0))
    if s[1] < 1e-3 * max(s[0], 1e-12) or s[1] < 5e-3 * np.sqrt(len(p)):
        return normal  # collinear contact points: no plane of its own
    n = vt[2] / np.linalg.norm(vt[2])
    n = n if n @ normal > 0 else -n
    return n if n @ normal > np.cos(np.radians(20.0)) else normal


def fit_support_plane(hulls: Sequence[np.ndarray], normals: Sequence[np.ndarray], *,
                      tol: float = TOUCH_TOL, iterations: int = 3) -> Plane:
    """The plane the parts of one photo rest on.

    Args:
        hulls: per part, `(m_i, 3)` convex-hull vertices in the camera frame, metres.
        normals: candidate plane normals `(3,)` in the camera frame (e.g. each part's
            resting-pose up directions); each is tried with both signs.
        tol: parts whose lowest point is within `tol` metres of the plane touch it.
        iterations: least-squares refinements.

    Returns:
        The `Plane` (camera above it).

    Raises:
        ValueError: no part, no candidate normal, or no candidate puts the camera above
            a plane under the parts.
    """
    if not hulls or not normals:
        raise ValueError("the support plane needs at least one part and one candidate normal")
    best: tuple[tuple[int, float], np.ndarray, float] | None = None
    for cand in normals:
        n = np.asarray(cand, float)
        n = n / np.linalg.norm(n)
        for sign in (1.0, -1.0):
            ns = sign * n
            d, touch, sink = _best_offset(part_gaps(ns, hulls), tol)
            if d >= 0:  # the camera (origin) would be below the plane
                continue
            spread = float(np.std(part_gaps(ns, hulls)))
            key = (touch - 2 * sink, -spread)
            if best is None or key > best[0]:
                best = (key, ns, d)
    if best is None:
        raise ValueError("no candidate plane has the camera above it and the parts on it")
    n, d = best[1], best[2]
    for _ in range(iterations):
        touching = np.abs(part_gaps(n, hulls) - d) <= tol
        n2 = _refine(n, hulls, touching)
        d2, touch2, sink2 = _best_offset(part_gaps(n2, hulls), tol)
        if d2 >= 0 or touch2 - 2 * sink2 < int(touching.sum()):
            break  # the refinement would lose parts: keep the plane as it is
        n, d = n2, d2
        gaps = part_gaps(n, hulls)
        near = np.abs(gaps - d) <= tol
        d = float(np.median(gaps[near]))
    gaps = part_gaps(n, hulls)
    touching = np.abs(gaps - d) <= tol
    rms = float(np.sqrt(np.mean((gaps[touching] - d) ** 2))) if touching.any() else float("nan")
    return Plane(normal=n, offset=d, touching=touching, rms=rms)
