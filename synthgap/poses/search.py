"""The search stages of `synthgap.poses.aligner.Aligner`: where to look, which poses to try,
what a hint says about a pose, and the Nelder-Mead refinement (pure functions of their inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from synthgap.poses.config import AlignConfig, BoxHint, PoseHint
from synthgap.poses.features import PhotoFeatures, Roi, edge_term, sample_edges, square_roi
from synthgap.poses.geometry import pose_from_centre, ray_rotation, rot_z, rotation_angle

__all__ = ["Template", "coarse_placements", "hint_cost", "local_hypotheses", "pose_roi",
           "rect_mask", "refine", "region_rect", "sample_nearest"]


@dataclass(frozen=True, eq=False)
class Template:
    """One viewpoint of the coarse search, rendered on the optical axis.

    Attributes:
        rotation: `(3, 3)` camera-from-object rotation of the virtual camera.
        contour: `(n, 2)` silhouette (and inner edge) points, pixels relative to the
            projection of the part's centre.
        angles: `(n,)` edge gradient directions, radians.
        inner: `(m, 2)` sampled mask pixels relative to the centre.
        area: mask pixels.
        extent: `(A, 4)` min/max x/y of the contour relative to the centre per in-plane angle.
    """

    rotation: np.ndarray
    contour: np.ndarray
    angles: np.ndarray
    inner: np.ndarray
    area: float
    extent: np.ndarray


def hint_cost(cfg: AlignConfig, pose: np.ndarray, mask: np.ndarray,
              hint: BoxHint | PoseHint | None, roi: Roi, centre: np.ndarray,
              diameter: float) -> float:
    """What the hint says about a hypothesis. Box: `w_box` (1 - IoU of the render's box
    with the hint box; the hint is the visible box, so occlusion lowers this IoU a
    little at the true pose). Pose: `w_prior` times the squared distance from the hint in
    units of its spread (`local_rot_deg`, `local_shift` diameters), halved."""
    if isinstance(hint, BoxHint) and cfg.w_box > 0:
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return cfg.w_box
        s = roi.scale
        bx, by, bw, bh = hint.box
        a = ((bx - roi.x0) * s, (by - roi.y0) * s, (bx + bw - roi.x0) * s,
             (by + bh - roi.y0) * s)
        b = (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        # the hint is the visible box: a render box that sticks out of it (the part's
        # occluded share) costs only `box_outside` of what a box missing from it costs
        union = (a[2] - a[0]) * (a[3] - a[1]) + cfg.box_outside * (
            (b[2] - b[0]) * (b[3] - b[1]) - inter)
        return float(cfg.w_box * (1.0 - inter / max(union, 1e-9)))
    if isinstance(hint, PoseHint) and cfg.w_prior > 0:
        h = np.asarray(hint.pose, float)
        rot = rotation_angle(pose[:3, :3], h[:3, :3]) / max(np.deg2rad(cfg.local_rot_deg), 1e-6)
        shift = np.linalg.norm((pose[:3, :3] - h[:3, :3]) @ centre + pose[:3, 3] - h[:3, 3])
        shift /= max(cfg.local_shift * diameter, 1e-9)
        return cfg.w_prior * 0.5 * float(rot ** 2 + shift ** 2)
    return 0.0


def _projected_box(K: np.ndarray, mesh: trimesh.Trimesh, pose: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """`(min uv, max uv, mean depth)` of the mesh's bounding-box corners at `pose`."""
    corners = trimesh.bounds.corners(mesh.bounds)
    cam = corners @ np.asarray(pose)[:3, :3].T + np.asarray(pose)[:3, 3]
    if np.any(cam[:, 2] <= 1e-6):
        raise ValueError("hint pose: the part is (partly) behind the camera; give a pose "
                         "with the part in front of it (+z forward, metres)")
    uv = cam[:, :2] / cam[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    return uv.min(0), uv.max(0), float(cam[:, 2].mean())


def region_rect(cfg: AlignConfig, roi: Roi, hint: BoxHint | PoseHint | None, K: np.ndarray,
                mesh: trimesh.Trimesh, diameter: float, candidates: list[np.ndarray]
                ) -> tuple[float, float, float, float]:
    """The GrabCut rectangle in ROI pixels: the box hint, else the projected box of the
    pose hint (or of the best sliding-search candidate) widened by the shift spread."""
    s = roi.scale
    if isinstance(hint, BoxHint):
        x, y, w, h = hint.box
        return ((x - roi.x0) * s, (y - roi.y0) * s, w * s, h * s)
    pose = hint.pose if isinstance(hint, PoseHint) else candidates[0]
    lo, hi, z = _projected_box(K, mesh, pose)
    pad = 0.5 * cfg.local_shift * diameter * K[0, 0] / z
    x0, y0 = lo - pad
    x1, y1 = hi + pad
    return ((x0 - roi.x0) * s, (y0 - roi.y0) * s, (x1 - x0) * s, (y1 - y0) * s)


def pose_roi(cfg: AlignConfig, K: np.ndarray, mesh: trimesh.Trimesh, pose: np.ndarray,
             diameter: float) -> Roi:
    """The window around the part's projection at `pose` (from its bounding-box corners,
    with the margin and the translation spread of the local search)."""
    (x0, y0), (x1, y1), z = _projected_box(K, mesh, pose)
    pad = cfg.local_shift * diameter * K[0, 0] / z
    return square_roi((x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad),
                      margin=0.0, size=cfg.roi_size)


def local_hypotheses(cfg: AlignConfig, pose0: np.ndarray, centre: np.ndarray, diameter: float,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """The hint and `local_samples` seeded perturbations of it (rotation about the part's
    centre up to 1.5 `local_rot_deg`, translation up to `local_shift` diameters)."""
    out = [pose0]
    p0 = pose0[:3, :3] @ centre + pose0[:3, 3]
    for _ in range(cfg.local_samples):
        rv = rng.normal(size=3)
        rv *= np.deg2rad(cfg.local_rot_deg) * rng.uniform(0, 1.5) / np.linalg.norm(rv)
        R = Rotation.from_rotvec(rv).as_matrix() @ pose0[:3, :3]
        p = p0 + rng.uniform(-1, 1, 3) * cfg.local_shift * diameter
        out.append(pose_from_centre(R, p, centre))
    return out


def _placement_costs(cfg: AlignConfig, feats: PhotoFeatures,
                     box_roi: tuple[float, float, float, float], templates: list[Template]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Every template at every in-plane angle scaled to cover the box (ROI pixels `(x, y, w,
    h)`) and moved onto it: `(costs (T, A), placements (T, A, 3) = scale, centre x, y)`."""
    rx0, ry0, rw, rh = box_roi
    A = cfg.inplane_steps
    angles = np.arange(A) * (2 * np.pi / A)
    cosa, sina = np.cos(angles)[:, None], np.sin(angles)[:, None]
    costs = np.empty((len(templates), A))
    region = feats.fg_prob if cfg.coarse_region and cfg.w_region > 0 else None
    p_total = float(region.sum()) if region is not None else 0.0
    place = np.empty((len(templates), A, 3))
    for ti, t in enumerate(templates):
        ext = t.extent  # (A, 4): xmin, xmax, ymin, ymax
        tw = np.maximum(ext[:, 1] - ext[:, 0], 1e-3)
        th = np.maximum(ext[:, 3] - ext[:, 2], 1e-3)
        scale = np.maximum(rw / tw, rh / th)  # the full silhouette covers the visible box
        ox = rx0 + rw / 2 - scale * (ext[:, 0] + ext[:, 1]) / 2
        oy = ry0 + rh / 2 - scale * (ext[:, 2] + ext[:, 3]) / 2
        cx, cy = t.contour[:, 0][None], t.contour[:, 1][None]
        px = scale[:, None] * (cosa * cx - sina * cy) + ox[:, None]
        py = scale[:, None] * (sina * cx + cosa * cy) + oy[:, None]
        d, a = sample_edges(feats, px, py)
        costs[ti] = cfg.w_edge * edge_term(d, a, t.angles[None] + angles[:, None],
                                           feats.tau, cfg.w_orient, cfg.edge_trim)
        if region is not None:  # soft IoU of the placed mask with the colour probability
            ix, iy = t.inner[:, 0][None], t.inner[:, 1][None]
            p_in = sample_nearest(region, scale[:, None] * (cosa * ix - sina * iy) + ox[:, None],
                                  scale[:, None] * (sina * ix + cosa * iy) + oy[:, None]
                                  ).mean(1)
            area = t.area * scale ** 2
            inter = p_in * area
            union = cfg.region_outside * (area - inter) + p_total
            costs[ti] += cfg.w_region * (1.0 - inter / np.maximum(union, 1e-9))
        place[ti] = np.stack([scale, ox, oy], axis=1)
    return costs, place


def coarse_placements(cfg: AlignConfig, feats: PhotoFeatures, K: np.ndarray,
                      box: tuple[float, float, float, float], templates: list[Template],
                      template_geom: tuple[float, float], centre: np.ndarray
                      ) -> list[tuple[float, np.ndarray]]:
    """Score every (viewpoint, in-plane angle) placed on the box by the template edge
    cost; return the best `rescore` diverse ones as (cost, camera-from-object pose).

    Args:
        feats: the window's photo features.
        K: `(3, 3)` intrinsics of the photo. box: the box hint `(x, y, w, h)`, photo pixels.
        templates: the part's templates. template_geom: their `(focal length, depth)`, which
            turn a 2D scale into a depth. centre: the part's centre, object frame.
    """
    f_t, z0 = template_geom
    roi = feats.roi
    Kr = roi.intrinsics(K)
    bx, by, bw, bh = box
    s = roi.scale
    box_roi = ((bx - roi.x0) * s, (by - roi.y0) * s, max(bw * s, 1.0), max(bh * s, 1.0))
    costs, place = _placement_costs(cfg, feats, box_roi, templates)
    A = cfg.inplane_steps
    angles = np.arange(A) * (2 * np.pi / A)
    order = np.argsort(costs, axis=None, kind="stable")
    picked: list[tuple[float, np.ndarray]] = []
    f_roi = 0.5 * (Kr[0, 0] + Kr[1, 1])
    for flat in order:
        ti, ai = divmod(int(flat), A)
        sc, cx0, cy0 = place[ti, ai]
        # template points are relative to the projection of the part's centre, so the
        # similarity puts that centre at (cx0, cy0); the scale gives its distance
        ray = np.linalg.solve(Kr, [cx0, cy0, 1.0])
        ray /= np.linalg.norm(ray)
        R = ray_rotation(ray) @ rot_z(angles[ai]) @ templates[ti].rotation
        pose = pose_from_centre(R, z0 * f_roi / (sc * f_t) * ray, centre)
        if any(rotation_angle(pose[:3, :3], q[:3, :3]) < np.deg2rad(15) for _, q in picked):
            continue  # keep the candidates diverse
        picked.append((float(costs[ti, ai]), pose))
        if len(picked) >= cfg.rescore:
            break
    return picked


def refine(cfg: AlignConfig, pose0: np.ndarray, cost_of: Callable[[np.ndarray], float],
           centre: np.ndarray, Kr: np.ndarray, *, scale: float) -> tuple[float, np.ndarray]:
    """Nelder-Mead on (rotation vector, image shift in ROI pixels, log depth) around
    `pose0`; returns (cost, pose), never worse than `pose0`."""
    p0 = pose0[:3, :3] @ centre + pose0[:3, 3]
    R0 = pose0[:3, :3]
    f = 0.5 * (Kr[0, 0] + Kr[1, 1])

    def pose_of(x: np.ndarray) -> np.ndarray:
        R = Rotation.from_rotvec(x[:3]).as_matrix() @ R0
        p = np.array([p0[0] + x[3] * p0[2] / f, p0[1] + x[4] * p0[2] / f, p0[2]])
        return pose_from_centre(R, p * np.exp(x[5]), centre)

    x0 = np.zeros(6)
    c0 = cost_of(pose0)
    if cfg.refine_evals <= 1:
        return c0, pose0
    steps = np.array([0.15, 0.15, 0.15, 3.0, 3.0, 0.05]) * scale
    simplex = np.vstack([x0, x0 + np.diag(steps)])
    res = minimize(lambda x: cost_of(pose_of(x)), x0, method="Nelder-Mead",
                   options={"maxfev": cfg.refine_evals, "initial_simplex": simplex,
                            "xatol": 1e-3, "fatol": 1e-4})
    if res.fun < c0:
        return float(res.fun), pose_of(res.x)
    return c0, pose0


def sample_nearest(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`img` at the nearest pixel of `x`, `y` (equal shapes); 0 outside it."""
    h, w = img.shape
    xi, yi = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out: np.ndarray = np.where(inside, img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], 0.0)
    return out


def rect_mask(rect: tuple[float, float, float, float], size: int) -> np.ndarray:
    """`(size, size) bool`: True inside `rect` `(x, y, w, h)` (ROI pixels)."""
    x, y, w, h = rect
    m = np.zeros((size, size), bool)
    m[max(0, int(np.floor(y))):max(0, int(np.ceil(y + h))),
      max(0, int(np.floor(x))):max(0, int(np.ceil(x + w)))] = True
    return m
