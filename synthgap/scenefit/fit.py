"""Fit a scene's distributions to what the photos show (geometry only; no pixels).

`fit_layout(observations, shapes)` turns per-photo plane frames (`geometry`) into:

* the camera pose relative to the plane: aim point (`look_at`) and its spread
  (`look_at_jitter`), `distance`, `elevation`, `azimuth` (relative to the anchor part) and
  `roll`, each a widened observed range;
* each part's resting orientations (clusters of its observed up directions, weighted by how
  often each was seen) and its yaw range (relative to the anchor part);
* parts per photo (`count`, empirical), the placement `area` (the observed positions' extent,
  widened: positions are *drawn* there, never copied) and `overlap` (how close the parts'
  bounding circles came);
* occlusion statistics (visible fractions) for the report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from synthgap.scenefit.geometry import (
    PartShape,
    PhotoGeometry,
    anchor_frames,
    photo_geometry,
    rest_rotation,
    yaw_of,
)
from synthgap.scenefit.observations import PhotoObservation
from synthgap.scenefit.ranges import (
    circular_range,
    cluster_directions,
    count_dist,
    widened_range,
)

__all__ = ["CameraFit", "Layout", "PartFit", "fit_layout", "look_at_roll"]

#: Resting orientations closer than this (degrees between up directions) are one pose.
REST_TOL_DEG = 15.0


@dataclass(frozen=True)
class CameraFit:
    """Fitted camera pose distributions (plane frame; metres, degrees) and what was seen."""

    look_at: tuple[float, float, float]
    jitter: tuple[float, float]
    distance: tuple[float, float]
    elevation: tuple[float, float]
    azimuth: tuple[float, float]
    roll: tuple[float, float]
    observed: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class PartFit:
    """One part's fitted placement: rest poses `(rotation_deg, weight)`, yaw range, count."""

    name: str
    rest_poses: tuple[tuple[tuple[float, float, float], int], ...]
    yaw: tuple[float, float]
    count: int | dict[str, list[int]]
    seen_in: int
    visib: tuple[float, ...]
    heights: tuple[float, ...]


@dataclass(frozen=True)
class Layout:
    """Everything `fit_layout` fitted.

    Attributes:
        camera: the camera pose fit.
        parts: per template part seen in the photos, by name.
        area: `(x, y)` size of the placement rectangle, metres.
        overlap: the scene's `overlap`.
        anchor: the part every frame is turned to (yaw 0), or None.
        photos: number of photos.
        plane_rms: per photo, rms gap of the parts touching the plane, metres.
        touching: per photo, how many of its parts touch the plane.
        positions: per photo, `(n, 2)` part positions relative to `look_at` (for tests and
            reports: the fitted scene does not contain them).
    """

    camera: CameraFit
    parts: dict[str, PartFit]
    area: tuple[float, float]
    overlap: float
    anchor: str | None
    photos: int
    plane_rms: tuple[float, ...]
    touching: tuple[int, ...]
    positions: tuple[np.ndarray, ...]


def _up_hint(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    # the same up direction `generators.sampling` gives a camera at (elevation, azimuth)
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array([-math.sin(e) * math.cos(a), -math.sin(e) * math.sin(a), math.cos(e)])


def look_at_roll(world_from_camera: np.ndarray, aim: np.ndarray, elevation: float,
                 azimuth: float) -> float:
    """Roll (degrees) of a camera about its optical axis relative to the pose the sampler
    builds for (elevation, azimuth) aimed at `aim` (`sampling.look_at_pose` convention)."""
    z = np.asarray(aim, float) - world_from_camera[:3, 3]
    z /= np.linalg.norm(z)
    u = _up_hint(elevation, azimuth)
    u = u - (u @ z) * z
    y = -u / np.linalg.norm(u)
    R0 = np.stack([np.cross(y, z), y, z], axis=1)
    m = R0.T @ world_from_camera[:3, :3]
    return math.degrees(math.atan2(m[1, 0], m[0, 0]))


def _camera(geoms: Sequence[PhotoGeometry], widen: float) -> CameraFit:
    aims = np.array([g.aim() for g in geoms])
    # x, y: the parts' centroid (every frame's origin), under which `area` is centred; the
    # camera's aim points spread around it (`look_at_jitter`); z: the median aim height
    centre = np.array([0.0, 0.0, float(np.median(aims[:, 2]))])
    eyes = np.array([g.world_from_camera[:3, 3] for g in geoms])
    rel = eyes - centre
    dist = np.linalg.norm(rel, axis=1)
    elev = np.degrees(np.arcsin(np.clip(rel[:, 2] / dist, -1.0, 1.0)))
    azim = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
    roll = [look_at_roll(g.world_from_camera, a, e, z)
            for g, a, e, z in zip(geoms, aims, elev, azim, strict=True)]
    dev = float(np.abs(aims - centre).max()) if len(aims) > 1 else 0.0
    j = dev * (1 + widen) + 0.005
    return CameraFit(
        look_at=(float(centre[0]), float(centre[1]), float(centre[2])), jitter=(-j, j),
        distance=widened_range(dist, widen=widen, pad=0.02 * float(np.median(dist)), low=1e-3),
        elevation=widened_range(elev, widen=widen, pad=3.0, low=-90.0, high=90.0),
        azimuth=circular_range(azim, widen=widen, pad=5.0),
        roll=widened_range(roll, widen=widen, pad=3.0),
        observed={"distance": [round(float(v), 4) for v in dist],
                  "elevation": [round(float(v), 2) for v in elev],
                  "azimuth": [round(float(v), 2) for v in azim],
                  "roll": [round(float(v), 2) for v in roll],
                  "aim_deviation_max": [round(dev, 4)]})


def _rests(geoms: Sequence[PhotoGeometry]) -> tuple[dict[str, np.ndarray],
                                                    dict[str, list[np.ndarray]],
                                                    dict[str, np.ndarray]]:
    """Per part: cluster means of up directions, their rest rotations, observation labels."""
    ups: dict[str, list[np.ndarray]] = {}
    for g in geoms:
        for p in g.parts:
            ups.setdefault(p.part, []).append(p.up)
    means, rots, labels = {}, {}, {}
    for name, u in ups.items():
        means[name], labels[name] = cluster_directions(np.array(u), tol_deg=REST_TOL_DEG)
        rots[name] = [rest_rotation(m) for m in means[name]]
    return means, rots, labels


def _euler(R: np.ndarray) -> tuple[float, float, float]:
    """Extrinsic xyz Euler angles (degrees) of `R`; at gimbal lock (a part on its side) the
    angles are not unique but still give `R`, so scipy's warning is not news."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gimbal lock", category=UserWarning)
        a = Rotation.from_matrix(R).as_euler("xyz", degrees=True)
    return (round(float(a[0]), 2), round(float(a[1]), 2), round(float(a[2]), 2))


def _radius(shape: PartShape, rotation: np.ndarray) -> float:
    v = (shape.hull @ rotation.T)[:, :2]
    c = 0.5 * (v.min(axis=0) + v.max(axis=0))
    return float(np.linalg.norm(v - c, axis=1).max())


def _overlap(geoms: Sequence[PhotoGeometry], shapes: Mapping[str, PartShape]) -> float:
    """Median over photos of the largest `1 - d / (r1 + r2)` over pairs of its parts."""
    per_photo = []
    for g in geoms:
        r = [_radius(shapes[p.part], p.rotation) for p in g.parts]
        worst = 0.0
        for i in range(len(g.parts)):
            for k in range(i + 1, len(g.parts)):
                d = float(np.linalg.norm(g.parts[i].position - g.parts[k].position))
                worst = max(worst, 1.0 - d / (r[i] + r[k]))
        per_photo.append(worst)
    # the closest pair of a typical photo (the median photo), not the single closest pair
    typical = float(np.median(per_photo))
    return 0.0 if typical <= 0 else round(min(typical, 0.9), 3)


def fit_layout(observations: Sequence[PhotoObservation], shapes: Mapping[str, PartShape], *,
               part_order: Sequence[str], widen: float = 0.1,
               visib: Mapping[tuple[int, int], float] | None = None) -> Layout:
    """Fit the layout distributions to the photos.

    Args:
        observations: the photos (each with at least one known part).
        shapes: per part name, its hull and candidate resting directions.
        part_order: the template's part names (counts are given for each, 0 when unseen).
        widen: ranges grow by this fraction of their observed span on each side.
        visib: visible fraction by (photo index, part index), overriding the observations'
            (e.g. measured from rendered masks).

    Raises:
        ValueError: no photos, or a photo with no known part or no plane (names it).
    """
    if not observations:
        raise ValueError("no photos to fit")
    geoms = [photo_geometry(o, shapes) for o in observations]
    _, rots, labels = _rests(geoms)
    geoms, anchor = anchor_frames(geoms, {k: v[0] for k, v in rots.items()})
    cam = _camera(geoms, widen)
    centre = np.array(cam.look_at[:2])
    positions = tuple(np.array([p.position - centre for p in g.parts]).reshape(-1, 2)
                      for g in geoms)
    # a typical photo's extent (75th percentile over photos of its largest |x|, |y|): the
    # area where a render's parts spread as a photo's do, not the union of every photo's
    extent = np.array([np.abs(p).max(axis=0) for p in positions if len(p)])
    half = np.percentile(extent, 75, axis=0) * (1 + widen) + 0.01
    seen: dict[str, list[int]] = {}
    yaws: dict[str, list[float]] = {}
    vis: dict[str, list[float]] = {}
    heights: dict[str, list[float]] = {}
    counter: dict[str, int] = {}
    for gi, g in enumerate(geoms):
        for pi, p in enumerate(g.parts):
            k = counter.get(p.part, 0)
            counter[p.part] = k + 1
            label = int(labels[p.part][k])
            yaws.setdefault(p.part, []).append(yaw_of(p.rotation, rots[p.part][label]))
            heights.setdefault(p.part, []).append(p.height)
            v = visib.get((gi, pi)) if visib is not None else None
            v = p.visib_fract if v is None else v
            if v is not None:
                vis.setdefault(p.part, []).append(float(v))
        for name in {p.part for p in g.parts}:
            seen.setdefault(name, []).append(gi)
    parts = {}
    for name in part_order:
        if name not in labels:
            continue
        counts = [sum(p.part == name for p in g.parts) for g in geoms]
        weights = np.bincount(labels[name], minlength=len(rots[name]))
        rest = tuple((_euler(R), int(w)) for R, w in zip(rots[name], weights, strict=True))
        parts[name] = PartFit(name=name, rest_poses=rest,
                              yaw=circular_range(yaws[name], widen=widen, pad=10.0),
                              count=count_dist(counts), seen_in=len(seen[name]),
                              visib=tuple(vis.get(name, ())), heights=tuple(heights[name]))
    return Layout(camera=cam, parts=parts, area=(float(2 * half[0]), float(2 * half[1])),
                  overlap=_overlap(geoms, shapes), anchor=anchor, photos=len(geoms),
                  plane_rms=tuple(g.plane.rms for g in geoms),
                  touching=tuple(int(g.plane.touching.sum()) for g in geoms),
                  positions=positions)


def layout_summary(layout: Layout) -> dict[str, Any]:
    """A JSON-able summary of the fit (for the CLI and reports)."""
    vis = [v for p in layout.parts.values() for v in p.visib]
    return {
        "photos": layout.photos, "anchor": layout.anchor,
        "plane_rms_mm": round(1e3 * float(np.nanmedian(layout.plane_rms)), 2),
        "parts_touching_plane": f"{sum(layout.touching)}/"
                                f"{sum(len(p) for p in layout.positions)}",
        "area_m": [round(a, 3) for a in layout.area], "overlap": layout.overlap,
        "visib_fract_mean": round(float(np.mean(vis)), 3) if vis else None,
        "visib_fract_below_0.5": round(float(np.mean(np.array(vis) < 0.5)), 3) if vis else None,
        "rest_poses": {k: len(p.rest_poses) for k, p in layout.parts.items()},
    }
