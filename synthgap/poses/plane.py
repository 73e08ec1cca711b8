"""Parts resting on one support plane: the plane from every part's pose in a photo, then each
part re-searched among the poses in which it rests on that plane.

Parts in inspection photos mostly lie on one table. `Aligner` estimates each part on its own,
so a part whose silhouette is ambiguous often ends tilted, floating or sunk. This step:

1. **Resting poses.** Each part's mesh gets its stable poses (`trimesh`'s
   `compute_stable_poses` on the convex hull): the object-frame up direction `u_j` of each,
   and how low the part reaches along it.
2. **Plane.** Every (hypothesis, resting pose) pair proposes a plane normal `R_i u_j` (camera
   frame, towards the camera); a part agrees with a normal when one of its own resting
   poses' up directions is within `angle_tol_deg` of it and its lowest point along it lies
   within `height_tol` of the plane's height (the median lowest point of the agreeing parts).
   The normal most parts agree with wins (ties: the smaller angular residual); it is then
   averaged over the agreeing parts. Fewer than `min_parts` agreeing parts: no plane, poses
   unchanged.
3. **Re-search on the plane.** For every part: each resting pose x `yaw_steps` rotations
   about the normal, placed so the part touches the plane and its centre projects where the
   free estimate's did, is scored with the part's own `align` cost; the best two are refined
   by Nelder-Mead on (yaw, image position of the centre) and, at a penalty (`w_lean`), a
   small tilt and lift. The plane pose replaces the free one unless the free one is cheaper
   by more than `keep_margin` (a part may lean on another).

Each part's hypotheses for the plane are its estimate and its other refined candidates
(`Aligner.alternatives()`), so a part whose best fit is flipped can still vote with a
resting alternative.

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
from scipy.spatial.transform import Rotation

__all__ = ["PlaneChoice", "PlaneConfig", "RestModel", "SupportPlane", "agreeing_parts",
           "on_plane_pose", "rest_model", "snap_part", "snap_to_plane", "support_plane"]


@dataclass(frozen=True)
class PlaneConfig:
    """Settings of the plane step (`keep_margin` and `height_tol` chosen on fold 0 of the LM-O
    `fit` photos, the rest set by hand; docs/align.md has the measurements).

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
        w_lean: the refinement on the plane may also tilt the part and lift it off the
            plane (the estimated plane is a few degrees off; parts are not perfect): each
            costs `w_lean` x (tilt / `angle_tol_deg`)^2 and x (lift / `height_tol`)^2,
            added to the plane pose's cost. 0 = tilt and lift fixed at 0.
    """

    min_parts: int = 3
    angle_tol_deg: float = 12.0
    height_tol: float = 0.04
    yaw_steps: int = 24
    max_rests: int = 6
    min_rest_prob: float = 0.02
    refine_evals: int = 80
    keep_margin: float = 0.3
    w_lean: float = 0.2

    def __post_init__(self) -> None:
        checks = [("min_parts", self.min_parts >= 2, ">= 2"),
                  ("angle_tol_deg", 0 < self.angle_tol_deg < 90, "0 < a < 90"),
                  ("height_tol", self.height_tol > 0, "> 0"),
                  ("yaw_steps", self.yaw_steps >= 1, ">= 1"),
                  ("max_rests", self.max_rests >= 1, ">= 1"),
                  ("min_rest_prob", 0 <= self.min_rest_prob < 1, "0..1"),
                  ("refine_evals", self.refine_evals >= 0, ">= 0"),
                  ("keep_margin", self.keep_margin >= 0, ">= 0"),
                  ("w_lean", self.w_lean >= 0, ">= 0")]
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


def _agreement(normal: np.ndarray, hyps: Sequence[Sequence[np.ndarray]],
               models: Sequence[RestModel], cfg: PlaneConfig
               ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(agreeing `(n,) bool`, each part's matching up direction `(n, 3)`, the plane offset,
    each part's lowest point along `normal` `(n,)`) for one candidate normal. A part agrees
    when one of its pose hypotheses `hyps[i]` rests on the normal (an up direction within
    `angle_tol_deg`) at the height most parts share (within `height_tol`; ties: the lowest)."""
    cos_tol = np.cos(np.radians(cfg.angle_tol_deg))
    n = len(hyps)
    best_up, lows = np.zeros((n, 3)), np.zeros(n)
    ok: list[list[tuple[float, np.ndarray]]] = []  # per part: (low, up) of resting hyps
    for i, (alts, m) in enumerate(zip(hyps, models, strict=True)):
        best = -2.0
        ok.append([])
        for p in alts:
            cam_up = (p[:3, :3] @ m.up.T).T  # (r, 3)
            c = cam_up @ normal
            j = int(np.argmax(c))
            low = float(((m.hull @ p[:3, :3].T + p[:3, 3]) @ normal).min())
            if c[j] >= cos_tol:
                ok[i].append((low, cam_up[j]))
            if c[j] > best:
                best, best_up[i], lows[i] = float(c[j]), cam_up[j], low
    cand = [low for o in ok for low, _ in o]
    if not cand:
        return np.zeros(n, bool), best_up, float("nan"), lows

    def near(d: float) -> list[int]:
        return [i for i, o in enumerate(ok) if any(abs(low - d) <= cfg.height_tol
                                                   for low, _ in o)]

    d0 = min(cand, key=lambda d: (-len(near(d)), d))
    for i in near(d0):
        lows[i], best_up[i] = min(ok[i], key=lambda t: abs(t[0] - d0))
    offset = float(np.median(lows[near(d0)]))
    agree = np.zeros(n, bool)
    for i in near(offset):
        lows[i], best_up[i] = min(ok[i], key=lambda t: abs(t[0] - offset))
        agree[i] = True
    return agree, best_up, offset, lows


def _hyps(poses: Sequence[np.ndarray], alternatives: Sequence[Sequence[np.ndarray]] | None
          ) -> list[list[np.ndarray]]:
    """Each part's pose hypotheses: its estimate, then its alternatives."""
    if alternatives is None:
        return [[np.asarray(p, float)] for p in poses]
    return [[np.asarray(p, float)] + [np.asarray(q, float) for q in alts]
            for p, alts in zip(poses, alternatives, strict=True)]


def agreeing_parts(normal: np.ndarray, poses: Sequence[np.ndarray],
                   models: Sequence[RestModel], cfg: PlaneConfig) -> np.ndarray:
    """`(n,) bool`: the parts resting on a plane of this `normal` (camera frame) in one of
    their resting poses, at the height most of them share (a diagnostic: how many parts of a
    photo lie on one common plane)."""
    return _agreement(np.asarray(normal, float), _hyps(poses, None), models, cfg)[0]


def support_plane(poses: Sequence[np.ndarray], models: Sequence[RestModel],
                  cfg: PlaneConfig, *,
                  alternatives: Sequence[Sequence[np.ndarray]] | None = None
                  ) -> SupportPlane | None:
    """The plane most parts rest on, from their camera-from-object `poses` `(4, 4)` and
    `RestModel`s; None when fewer than `cfg.min_parts` agree on one.

    Args:
        alternatives: per part, other pose hypotheses (e.g. `Aligner.alternatives()`); a
            part agrees with a plane when any of its hypotheses rests on it, and each
            hypothesis proposes normals.
    """
    if len(poses) < cfg.min_parts:
        return None
    hyps = _hyps(poses, alternatives)
    best: tuple[tuple[int, float], SupportPlane] | None = None
    for alts, m in zip(hyps, models, strict=True):
        for p in alts:
            centre = p[:3, :3] @ m.centre + p[:3, 3]
            for u in m.up:
                n = p[:3, :3] @ u
                if n @ centre >= 0:  # the camera would be under this plane
                    continue
                agree, ups, offset, _ = _agreement(n, hyps, models, cfg)
                if agree.sum() < cfg.min_parts:
                    continue
                normal = ups[agree].mean(axis=0)
                normal /= np.linalg.norm(normal)
                agree2, ups2, offset2, _ = _agreement(normal, hyps, models, cfg)
                if agree2.sum() >= agree.sum():
                    agree, ups, offset, n = agree2, ups2, offset2, normal
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
    """Re-search one part on the plane (resting poses x yaw, then Nelder-Mead on yaw, the
    image position of its centre and, penalised by `w_lean`, a small tilt and lift) and
    choose between that and the free estimate.

    Args:
        cost_of: the part's `align` cost of a camera-from-object pose (lower is better).
        model: its `rest_model`. plane: the photo's `support_plane`.
        K: `(3, 3)` intrinsics of the photo, pixels (undistorted).
        free_pose: `(4, 4)` the free estimate; free_cost: its cost.
        cfg: the settings.

    Returns:
        The `PlaneChoice`; a plane pose's cost includes its lean penalty.
    """
    centre = free_pose[:3, :3] @ model.centre + free_pose[:3, 3]
    pix0 = (K @ centre)[:2] / centre[2]
    yaws = np.arange(cfg.yaw_steps) * (2 * np.pi / cfg.yaw_steps)
    scored: list[tuple[float, int, float]] = []
    for j in range(len(model.up)):
        for yaw in yaws:
            q = on_plane_pose(model, j, float(yaw), plane, pix0, K)
            if q is not None:
                scored.append((cost_of(q), j, float(yaw)))
    evals = len(scored)
    if not scored:
        return PlaneChoice(free_pose, free_cost, free_cost, False, evals)
    scored.sort(key=lambda t: t[0])
    best_cost, best_pose = np.inf, free_pose
    for c0, j, yaw0 in scored[:2]:
        cost, q, n = _refine_on_plane(cost_of, model, plane, K, pix0, j, yaw0, c0,
                                      _pixel_size(model, centre, K), cfg)
        evals += n
        if cost < best_cost:
            best_cost, best_pose = cost, q
    if free_cost < best_cost - cfg.keep_margin:
        return PlaneChoice(free_pose, free_cost, free_cost, False, evals, best_pose,
                           float(best_cost))
    return PlaneChoice(best_pose, float(best_cost), free_cost, True, evals, best_pose,
                       float(best_cost))


def _refine_on_plane(cost_of: Callable[[np.ndarray], float], model: RestModel,
                     plane: SupportPlane, K: np.ndarray, pix0: np.ndarray, rest: int,
                     yaw0: float, c0: float, size_px: float, cfg: PlaneConfig
                     ) -> tuple[float, np.ndarray, int]:
    """Nelder-Mead from one on-plane start over (yaw, centre pixel shift (2,), tilt (2,)
    radians about the plane's axes, lift metres); (penalised cost, pose, evaluations)."""
    basis = _plane_basis(plane.normal)
    tol = float(np.radians(cfg.angle_tol_deg))

    def pose_of(x: np.ndarray) -> np.ndarray | None:
        q = on_plane_pose(model, rest, yaw0 + float(x[0]), plane, pix0 + x[1:3], K)
        if q is None or cfg.w_lean == 0:
            return q
        c = q[:3, :3] @ model.centre + q[:3, 3]
        R = Rotation.from_rotvec(basis[:, :2] @ x[3:5]).as_matrix() @ q[:3, :3]
        q[:3, :3] = R
        q[:3, 3] = c - R @ model.centre + x[5] * plane.normal
        return q

    def f(x: np.ndarray) -> float:
        q = pose_of(x)
        if q is None:
            return 1e3
        if cfg.w_lean == 0:
            return cost_of(q)
        lean = float(np.sum(x[3:5] ** 2)) / tol**2 + (float(x[5]) / cfg.height_tol) ** 2
        return cost_of(q) + cfg.w_lean * lean

    x0 = np.zeros(6 if cfg.w_lean > 0 else 3)
    q0 = pose_of(x0)
    assert q0 is not None  # the start was scored, so its ray meets the plane
    if cfg.refine_evals <= 1:
        return c0, q0, 0
    step = np.array([np.pi / cfg.yaw_steps, 0.03 * size_px, 0.03 * size_px, 0.5 * tol,
                     0.5 * tol, 0.25 * cfg.height_tol])[:len(x0)]
    res = minimize(f, x0, method="Nelder-Mead",
                   options={"maxfev": cfg.refine_evals, "xatol": 1e-4, "fatol": 1e-4,
                            "initial_simplex": np.vstack([x0, x0 + np.diag(step)])})
    q = pose_of(res.x) if res.fun < c0 else None
    if q is None:
        return c0, q0, int(res.nfev)
    return float(res.fun), q, int(res.nfev)


def _pixel_size(model: RestModel, centre: np.ndarray, K: np.ndarray) -> float:
    """The part's apparent size (its hull's diameter) at `centre`'s depth, pixels."""
    diameter = float(np.linalg.norm(model.hull.max(axis=0) - model.hull.min(axis=0)))
    return float(K[0, 0] * diameter / max(float(centre[2]), 1e-6))


def snap_to_plane(K: np.ndarray, models: Sequence[RestModel], poses: Sequence[np.ndarray],
                  costs: Sequence[float], cost_fns: Sequence[Callable[[np.ndarray], float]],
                  cfg: PlaneConfig, *,
                  alternatives: Sequence[Sequence[np.ndarray]] | None = None
                  ) -> tuple[SupportPlane | None, list[PlaneChoice]]:
    """The plane step for one photo: the support plane from the free estimates, then every
    part re-searched on it (`snap_part`). No plane (fewer than `min_parts` agree): every part
    keeps its free pose.

    Args:
        K: `(3, 3)` intrinsics, pixels. models: each part's `RestModel`.
        poses: `(4, 4)` free camera-from-object estimates. costs: their costs.
        cost_fns: each part's cost of a pose (`Aligner.cost_function()` after its `align`).
        cfg: the settings.
        alternatives: per part, other hypotheses for the plane (`Aligner.alternatives()`).
    """
    plane = support_plane(poses, models, cfg, alternatives=alternatives)
    if plane is None:
        return None, [PlaneChoice(np.asarray(p, float), float(c), float(c), False, 0)
                      for p, c in zip(poses, costs, strict=True)]
    out = [snap_part(fn, m, plane, K, np.asarray(p, float), float(c), cfg)
           for fn, m, p, c in zip(cost_fns, models, poses, costs, strict=True)]
    return plane, out
