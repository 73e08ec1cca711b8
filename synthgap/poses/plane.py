"""Parts resting on one support plane: the plane from every part's pose in a photo, then each
part re-searched among the poses in which it rests on that plane.

Parts in inspection photos mostly lie on one table. `Aligner` estimates each part on its own,
so a part whose silhouette is ambiguous often ends tilted, floating or sunk. This step:

1. **Resting poses.** Each part's mesh gets its stable poses (`trimesh`'s
   `compute_stable_poses` on the convex hull): the object-frame up direction `u_j` of each,
   and how low the part reaches along it.
2. **Plane.** Every (part, resting pose) pair proposes a plane normal `R_i u_j` (camera
   frame, towards the camera); a part agrees with a normal when one of its own resting
   poses' up directions is within `angle_tol_deg` of it and its lowest point along it lies
   within `height_tol` of the plane's height (the median lowest point of the agreeing parts).
   The normal most parts agree with wins (ties: the smaller angular residual); it is then
   averaged over the agreeing parts. Fewer than `min_parts` agreeing parts: no plane, poses
   unchanged.
3. **Re-search on the plane.** For every part: each resting pose x `yaw_steps` rotations
   about the normal, placed so the part touches the plane and its centre projects where the
   free estimate's did, is scored with the part's own `align` cost; the best two are refined
   by Nelder-Mead on (yaw, image position of the centre). The plane pose replaces the free
   one unless the free one is cheaper by more than `keep_margin` (a part may lean on
   another).

Frames and units: OpenCV camera frame (camera at the origin, +z forward), metres; poses are
camera-from-object `(4, 4) float64`; a plane is `{x : normal . x = offset}` with `normal` a
unit vector towards the camera (`offset < 0`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.optimize import minimize

__all__ = ["PlaneChoice", "PlaneConfig", "RestModel", "SupportPlane", "agreeing_parts",
           "on_plane_pose", "rest_model", "snap_part", "snap_to_plane", "support_plane"]


@dataclass(frozen=True)
class PlaneConfig:
    """Settings of the plane step (defaults: docs/align.md, chosen on LM-O `fit` photos).

    Attributes:
        min_parts: parts that must agree on a plane before it is used (>= 2).
        angle_tol_deg: a part rests on a normal when one of its resting up directions is
            within this angle of it, degrees.
        height_tol: ... and its lowest point is within this distance of the plane, metres.
        yaw_steps: rotations about the normal tried per resting pose (>= 1).
        max_rests: most probable resting poses tried per part (>= 1).
        min_rest_prob: resting poses less probable than this (trimesh's quasi-static
            probability) are not tried.
        refine_evals: cost evaluations per Nelder-Mead refinement on the plane (>= 0).
        keep_margin: the free pose is kept when its cost is lower than the plane pose's by
            more than this (cost units of `synthgap.poses.features.pose_cost`).
    """

    min_parts: int = 3
    angle_tol_deg: float = 12.0
    height_tol: float = 0.02
    yaw_steps: int = 24
    max_rests: int = 6
    min_rest_prob: float = 0.02
    refine_evals: int = 60
    keep_margin: float = 0.1

    def __post_init__(self) -> None:
        checks = [("min_parts", self.min_parts >= 2, ">= 2"),
                  ("angle_tol_deg", 0 < self.angle_tol_deg < 90, "0 < a < 90"),
                  ("height_tol", self.height_tol > 0, "> 0"),
                  ("yaw_steps", self.yaw_steps >= 1, ">= 1"),
                  ("max_rests", self.max_rests >= 1, ">= 1"),
                  ("min_rest_prob", 0 <= self.min_rest_prob < 1, "0..1"),
                  ("refine_evals", self.refine_evals >= 0, ">= 0"),
                  ("keep_margin", self.keep_margin >= 0, ">= 0")]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"PlaneConfig.{name}: expected {rule}, got "
                                 f"{getattr(self, name)!r}")


@dataclass(frozen=True, eq=False)
class RestModel:
    """A part's resting poses on a plane (object frame, metres).

    Attributes:
        rotations: `(r, 3, 3)` plane-from-object rotations, the plane's up = +z.
        up: `(r, 3)` object-frame unit up direction of each resting pose.
        low: `(r,)` lowest `up . v` over the hull vertices `v`.
        hull: `(m, 3)` convex-hull vertices.
        centre: `(3,)` bounding-box centre.
    """

    rotations: np.ndarray
    up: np.ndarray
    low: np.ndarray
    hull: np.ndarray
    centre: np.ndarray


@dataclass(frozen=True, eq=False)
class SupportPlane:
    """The plane of one photo (camera frame): `normal . x = offset`, `normal` towards the
    camera; `agree` `(n,) bool` marks the parts that rested on it as estimated."""

    normal: np.ndarray
    offset: float
    agree: np.ndarray


@dataclass(frozen=True, eq=False)
class PlaneChoice:
    """One part after the plane step: the chosen `pose` `(4, 4)` and its `cost`, the free
    estimate's `free_cost`, whether the plane pose won (`snapped`), the cost evaluations
    the step made (`evals`), and the best pose found on the plane with its cost (None / inf
    when there was none), chosen or not."""

    pose: np.ndarray
    cost: float
    free_cost: float
    snapped: bool
    evals: int
    plane_pose: np.ndarray | None = None
    plane_cost: float = float("inf")


def rest_model(mesh: trimesh.Trimesh, cfg: PlaneConfig) -> RestModel:
    """The resting poses of `mesh` (its convex hull's stable poses, the `max_rests` most
    probable of at least `min_rest_prob`; always the most probable one).

    Raises:
        ValueError: the mesh has no volume (no stable pose).
    """
    hull = mesh.convex_hull
    transforms, probs = hull.compute_stable_poses()
    if len(transforms) == 0:
        raise ValueError("plane step: the part mesh has no stable resting pose (flat or "
                         "degenerate mesh?)")
    order = np.argsort(-np.asarray(probs))
    keep = [int(i) for i in order[:cfg.max_rests] if probs[i] >= cfg.min_rest_prob]
    keep = keep or [int(order[0])]
    rots = np.stack([np.asarray(transforms[i], float)[:3, :3] for i in keep])
    up = rots[:, 2, :]  # R^T e_z: the object direction that points up
    verts = np.asarray(hull.vertices, float)
    lo, hi = mesh.bounds
    return RestModel(rotations=rots, up=up, low=(verts @ up.T).min(axis=0), hull=verts,
                     centre=(np.asarray(lo) + np.asarray(hi)) / 2.0)


def _agreement(normal: np.ndarray, poses: Sequence[np.ndarray], models: Sequence[RestModel],
               cfg: PlaneConfig) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(agreeing `(n,) bool`, each part's best-matching up direction `(n, 3)`, the plane
    offset, each part's lowest point along `normal` `(n,)`) for one candidate normal."""
    cos_tol = np.cos(np.radians(cfg.angle_tol_deg))
    best_up = np.zeros((len(poses), 3))
    angle_ok = np.zeros(len(poses), bool)
    lows = np.zeros(len(poses))
    for i, (p, m) in enumerate(zip(poses, models, strict=True)):
        cam_up = (p[:3, :3] @ m.up.T).T  # (r, 3)
        c = cam_up @ normal
        j = int(np.argmax(c))
        best_up[i], angle_ok[i] = cam_up[j], bool(c[j] >= cos_tol)
        lows[i] = float(((m.hull @ p[:3, :3].T + p[:3, 3]) @ normal).min())
    if not angle_ok.any():
        return angle_ok, best_up, float("nan"), lows
    # the height most angle-agreeing parts share (ties: the lowest plane)
    cand = lows[angle_ok]
    counts = [int((np.abs(cand - d) <= cfg.height_tol).sum()) for d in cand]
    top = max(counts)
    d0 = min(float(d) for d, c in zip(cand, counts, strict=True) if c == top)
    near = angle_ok & (np.abs(lows - d0) <= cfg.height_tol)
    offset = float(np.median(lows[near]))
    agree = angle_ok & (np.abs(lows - offset) <= cfg.height_tol)
    return agree, best_up, offset, lows


def agreeing_parts(normal: np.ndarray, poses: Sequence[np.ndarray],
                   models: Sequence[RestModel], cfg: PlaneConfig) -> np.ndarray:
    """`(n,) bool`: the parts resting on a plane of this `normal` (camera frame) in one of
    their resting poses, at the height most of them share (a diagnostic: how many parts of a
    photo lie on one common plane)."""
    return _agreement(np.asarray(normal, float), poses, models, cfg)[0]


def support_plane(poses: Sequence[np.ndarray], models: Sequence[RestModel],
                  cfg: PlaneConfig) -> SupportPlane | None:
    """The plane most parts rest on, from their camera-from-object `poses` `(4, 4)` and
    `RestModel`s; None when fewer than `cfg.min_parts` agree on one."""
    if len(poses) < cfg.min_parts:
        return None
    best: tuple[tuple[int, float], SupportPlane] | None = None
    for p, m in zip(poses, models, strict=True):
        centre = p[:3, :3] @ m.centre + p[:3, 3]
        for u in m.up:
            n = p[:3, :3] @ u
            if n @ centre >= 0:  # the camera would be under this plane
                continue
            agree, ups, offset, _ = _agreement(n, poses, models, cfg)
            if agree.sum() < cfg.min_parts:
                continue
            normal = ups[agree].mean(axis=0)
            normal /= np.linalg.norm(normal)
            agree2, _, offset2, _ = _agreement(normal, poses, models, cfg)
            if agree2.sum() >= agree.sum():
                agree, offset, n = agree2, offset2, normal
            resid = float(np.mean(np.arccos(np.clip(ups[agree] @ n, -1.0, 1.0))))
            key = (int(agree.sum()), -resid)
            if offset < 0 and (best is None or key > best[0]):
                best = (key, SupportPlane(normal=n, offset=offset, agree=agree))
    return None if best is None else best[1]


def _plane_basis(normal: np.ndarray) -> np.ndarray:
    """`(3, 3)` camera-from-plane rotation whose third column is `normal`."""
    a = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(a, normal)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(normal, e1), normal], axis=1)


def on_plane_pose(model: RestModel, rest: int, yaw: float, plane: SupportPlane,
                  pixel: np.ndarray, K: np.ndarray) -> np.ndarray | None:
    """The camera-from-object pose `(4, 4)` of the part in resting pose `rest`, turned by
    `yaw` radians about the normal, touching the plane, its centre on the ray through
    `pixel` `(2,)` (undistorted pixels of intrinsics `K`); None when that ray misses the
    plane in front of the camera."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    R = _plane_basis(plane.normal) @ rz @ model.rotations[rest]
    ray = np.linalg.solve(K, np.array([pixel[0], pixel[1], 1.0]))
    n = plane.normal
    denom = float(n @ ray)
    if abs(denom) < 1e-9:
        return None
    lam = (plane.offset - model.low[rest] + n @ R @ model.centre) / denom
    if lam <= 0:
        return None
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = lam * ray - R @ model.centre
    return T


def snap_part(cost_of: Callable[[np.ndarray], float], model: RestModel, plane: SupportPlane,
              K: np.ndarray, free_pose: np.ndarray, free_cost: float, cfg: PlaneConfig
              ) -> PlaneChoice:
    """Re-search one part on the plane (resting poses x yaw, then Nelder-Mead on yaw and
    the image position of its centre) and choose between that and the free estimate.

    Args:
        cost_of: the part's `align` cost of a camera-from-object pose (lower is better).
        model: its `rest_model`. plane: the photo's `support_plane`.
        K: `(3, 3)` intrinsics of the photo, pixels (undistorted).
        free_pose: `(4, 4)` the free estimate; free_cost: its cost.
        cfg: the settings.
    """
    centre = free_pose[:3, :3] @ model.centre + free_pose[:3, 3]
    pix0 = (K @ centre)[:2] / centre[2]
    yaws = np.arange(cfg.yaw_steps) * (2 * np.pi / cfg.yaw_steps)
    evals = 0
    scored: list[tuple[float, int, float]] = []
    for j in range(len(model.up)):
        for yaw in yaws:
            q = on_plane_pose(model, j, float(yaw), plane, pix0, K)
            if q is not None:
                scored.append((cost_of(q), j, float(yaw)))
                evals += 1
    if not scored:
        return PlaneChoice(free_pose, free_cost, free_cost, False, evals)
    scored.sort(key=lambda t: t[0])
    best_cost, best_pose = np.inf, free_pose
    for c0, j, yaw0 in scored[:2]:
        def pose_of(x: np.ndarray, j: int = j, yaw0: float = yaw0) -> np.ndarray | None:
            return on_plane_pose(model, j, yaw0 + float(x[0]), plane, pix0 + x[1:], K)

        def f(x: np.ndarray, pose_of: Callable[[np.ndarray], np.ndarray | None] = pose_of
              ) -> float:
            q = pose_of(x)
            return 1e3 if q is None else cost_of(q)

        x0 = np.zeros(3)
        cost, x = c0, x0
        if cfg.refine_evals > 1:
            step = np.array([np.pi / cfg.yaw_steps, 0.03 * _pixel_size(model, centre, K),
                             0.03 * _pixel_size(model, centre, K)])
            res = minimize(f, x0, method="Nelder-Mead",
                           options={"maxfev": cfg.refine_evals, "xatol": 1e-3, "fatol": 1e-4,
                                    "initial_simplex": np.vstack([x0, x0 + np.diag(step)])})
            evals += int(res.nfev)
            if res.fun < c0:
                cost, x = float(res.fun), res.x
        q = pose_of(x)
        if q is not None and cost < best_cost:
            best_cost, best_pose = cost, q
    if best_cost == np.inf:
        return PlaneChoice(free_pose, free_cost, free_cost, False, evals)
    if free_cost < best_cost - cfg.keep_margin:
        return PlaneChoice(free_pose, free_cost, free_cost, False, evals, best_pose,
                           float(best_cost))
    return PlaneChoice(best_pose, float(best_cost), free_cost, True, evals, best_pose,
                       float(best_cost))


def _pixel_size(model: RestModel, centre: np.ndarray, K: np.ndarray) -> float:
    """The part's apparent size (its hull's diameter) at `centre`'s depth, pixels."""
    diameter = float(np.linalg.norm(model.hull.max(axis=0) - model.hull.min(axis=0)))
    return float(K[0, 0] * diameter / max(float(centre[2]), 1e-6))


def snap_to_plane(K: np.ndarray, models: Sequence[RestModel], poses: Sequence[np.ndarray],
                  costs: Sequence[float], cost_fns: Sequence[Callable[[np.ndarray], float]],
                  cfg: PlaneConfig) -> tuple[SupportPlane | None, list[PlaneChoice]]:
    """The plane step for one photo: the support plane from the free estimates, then every
    part re-searched on it (`snap_part`). No plane (fewer than `min_parts` agree): every part
    keeps its free pose.

    Args:
        K: `(3, 3)` intrinsics, pixels. models: each part's `RestModel`.
        poses: `(4, 4)` free camera-from-object estimates. costs: their costs.
        cost_fns: each part's cost of a pose (`Aligner.cost_function()` after its `align`).
        cfg: the settings.
    """
    plane = support_plane(poses, models, cfg)
    if plane is None:
        return None, [PlaneChoice(np.asarray(p, float), float(c), float(c), False, 0)
                      for p, c in zip(poses, costs, strict=True)]
    out = [snap_part(fn, m, plane, K, np.asarray(p, float), float(c), cfg)
           for fn, m, p, c in zip(cost_fns, models, poses, costs, strict=True)]
    return plane, out
