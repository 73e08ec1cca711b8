"""`Aligner`: the 6D pose of a CAD part in a real photo, from its silhouette and edges.

Most users have a few photos of their parts but no poses. Given the photo, the part's mesh,
the camera intrinsics and a coarse hint, `Aligner.align` estimates the part's pose (camera
frame) by matching renders of the part to the photo:

1. **Region of interest.** The hint fixes a square window of the photo (a box hint: the box
   enlarged by `AlignConfig.margin`; a pose hint: the projected box of the part at that pose
   plus its translation spread; no hint: a sliding window, see below). The window is
   resampled to `roi_size` pixels and renders use the window's own intrinsics, so render and
   photo stay pixel-aligned while every render stays small; meshes are decimated to about
   `max_faces` faces for alignment.
2. **Coarse search.** Box hint: the part is rendered once from each of `views` viewpoints
   spread evenly over the sphere (templates, cached per part); each template is rotated in the
   image plane in `inplane_steps` steps, scaled so its box covers the hint box and moved onto
   it; every such 2D placement is a 3D pose (rotation about the optical axis = image rotation,
   scale = depth) scored by the oriented chamfer of its contour
   (`synthgap.poses.features.edge_term`) without rendering; the best `rescore` distinct ones
   are kept. Pose hint: the hint and `local_samples` seeded rotations and translations around
   it.
3. **Rescoring.** The candidates are rendered and scored on the full cost: oriented chamfer +
   (1 - soft IoU with the part probability of the window) + the hint term (box: 1 - IoU of
   the render's box with the hint box; pose: a prior around the hint). The part probability
   is a GrabCut segmentation started from the hint and, when the mesh file has colours, the
   probability that a pixel has the mesh's colours rather than the window background's
   (`synthgap.poses.features.with_mesh_colours`; it also seeds GrabCut). Optional: an
   appearance term (`w_appearance`: the part drawn unlit in its own colours against the photo).
4. **Refinement.** The `top_k` best are refined on 6 DoF by Nelder-Mead on that cost
   (rotation about the part's centre, image-plane shift, log depth), then once more from the
   best with a smaller simplex; the lowest cost wins.

No hint (`align(..., hint=None, depth=(near, far))`): square windows of the part's expected
size at `depth_samples` depths slide over the photo with half-window strides; each window runs
the box-hint coarse search and the best placement overall is refined. Its cost grows with the
number of windows (about (W/side)*(H/side)*4 per depth): tens of seconds to minutes per part
on 2 cores for a 640x480 photo, against seconds with a box hint (docs/align.md has the
measured numbers).

Determinism: the randomness (pose-hint samples, the seed of GrabCut's k-means start, which
OpenCV draws from its thread-local generator) comes from the `rng` passed in; the same inputs
and seed give the same pose. Frames: OpenCV camera frame (+x right, +y down,
+z forward), metres; poses are camera-from-object `(4, 4) float64`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import trimesh

from synthgap.generators.params import vec4, vec5
from synthgap.poses.config import AlignConfig, AlignResult, BoxHint, PoseHint, check_inputs
from synthgap.poses.features import (
    PhotoFeatures,
    Roi,
    appearance_term,
    mesh_colours,
    photo_features,
    pose_cost,
    silhouette_points,
    square_roi,
    with_grabcut,
    with_mesh_colours,
)
from synthgap.poses.geometry import (
    centre_diameter,
    fibonacci_directions,
    look_rotation,
    pose_from_centre,
    sliding_boxes,
)
from synthgap.poses.render import (
    NO_DISTORTION,
    colour_params,
    contour_overlay,
    project_mask,
    zfar_for,
)
from synthgap.poses.search import (
    Template,
    coarse_placements,
    hint_cost,
    local_hypotheses,
    pose_roi,
    rect_mask,
    refine,
    region_rect,
)

if TYPE_CHECKING:
    from synthgap.generators.gl.renderer import Renderer

# the public names of pose estimation, importable from here (their home modules: config,
# render, geometry)
__all__ = [
    "AlignConfig",
    "AlignResult",
    "Aligner",
    "BoxHint",
    "PoseHint",
    "contour_overlay",
    "fibonacci_directions",
    "project_mask",
]

#: Colours of a mesh file and the area each stands for (`synthgap.poses.features.mesh_colours`).
Colours = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class CostState:
    """What one part's `align` cost depends on: the window's photo features, its intrinsics
    `Kr` `(3, 3)`, the part and the hint (`Aligner.cost_state`)."""

    feats: PhotoFeatures
    Kr: np.ndarray
    part: _Part
    hint: BoxHint | PoseHint | None


@dataclass(frozen=True, eq=False)
class _Part:
    """One `align` call's part: its meshes, the camera's distortion and its size."""

    name: str
    mesh: trimesh.Trimesh  # as given
    work: trimesh.Trimesh  # decimated for alignment
    painted: trimesh.Trimesh | None  # `work` in the file's colours, for the appearance term
    distortion: tuple[float, float, float, float, float]
    centre: np.ndarray  # bounding-box centre, object frame
    diameter: float  # bounding-box diagonal, metres


class Aligner:
    """Estimates part poses in photos; holds the renderer of the window size and the
    per-part coarse-search templates (reuse one for many photos of the same camera).

    Args:
        config: the settings.
        renderer: a `Renderer` of `roi_size x roi_size` to reuse (default: made on first use,
            freed by `close`).
    """

    def __init__(self, config: AlignConfig | None = None, *,
                 renderer: Renderer | None = None) -> None:
        self.config = config or AlignConfig()
        self._renderer = renderer
        self._own = renderer is None
        self._templates: dict[tuple[str, int], list[Template]] = {}
        # template focal length and depth per part: turn a 2D scale into a depth
        self._template_geoms: dict[tuple[str, int], tuple[float, float]] = {}
        self._renders = 0
        self._decimated: dict[int, tuple[trimesh.Trimesh, trimesh.Trimesh]] = {}
        self._colours: dict[int, tuple[trimesh.Trimesh,
                                       tuple[np.ndarray, np.ndarray] | None]] = {}
        self._coloured: dict[int, tuple[trimesh.Trimesh, trimesh.Trimesh | None]] = {}
        self._last_cost: Callable[[np.ndarray], float] | None = None
        self._alternatives: list[np.ndarray] = []
        self._last_state: CostState | None = None

    def __enter__(self) -> Aligner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the renderer if this aligner made it."""
        if self._own and self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def last_cost(self, pose: np.ndarray) -> float:
        """The cost the last `align` call minimised, at another camera-from-object `pose`
        `(4, 4)` metres (a diagnostic: is the true pose cheaper than the estimate?).

        Raises:
            RuntimeError: before any `align` call.
        """
        if self._last_cost is None:
            raise RuntimeError("Aligner.last_cost: call align first")
        return float(self._last_cost(np.asarray(pose, float)))

    def cost_function(self) -> Callable[[np.ndarray], float]:
        """The cost the last `align` call minimised, as a function of a camera-from-object
        pose `(4, 4)` metres (keep one per part to score other poses of it later, e.g. the
        plane step, `synthgap.poses.plane.snap_to_plane`).

        Raises:
            RuntimeError: before any `align` call.
        """
        if self._last_cost is None:
            raise RuntimeError("Aligner.cost_function: call align first")
        return self._last_cost

    def cost_state(self) -> CostState:
        """What the last `align` call's cost depends on (picklable plain data): keep it to
        score poses of that part later, in this or another process (`cost_of_state`).

        Raises:
            RuntimeError: before any `align` call.
        """
        if self._last_state is None:
            raise RuntimeError("Aligner.cost_state: call align first")
        return self._last_state

    def cost_of_state(self, state: CostState) -> Callable[[np.ndarray], float]:
        """The cost of a `cost_state()` as a function of a camera-from-object pose `(4, 4)`
        (rendered by this aligner; its config must be the one the state was made with)."""
        def cost_of(q: np.ndarray) -> float:
            return self._score(q, state.feats, state.Kr, state.part, state.hint)[0]

        return cost_of

    def alternatives(self) -> list[np.ndarray]:
        """The last `align` call's refined hypotheses `(4, 4)`, best first (the estimate,
        then the other `top_k - 1` refined candidates): other poses that fit the photo,
        e.g. for the plane step to pick the one resting on the table."""
        return [q.copy() for q in self._alternatives]

    # ------------------------------------------------------------------ rendering
    def _renderer_now(self) -> Renderer:
        """The renderer of `roi_size`, made on first use; counts one render."""
        s = self.config.roi_size
        if self._renderer is None:
            from synthgap.generators.gl.renderer import Renderer

            self._renderer = Renderer(s, s)
        if (self._renderer.width, self._renderer.height) != (s, s):
            raise ValueError(f"Aligner: the renderer is {self._renderer.width}x"
                             f"{self._renderer.height} but roi_size is {s}; pass a Renderer("
                             f"{s}, {s})")
        self._renders += 1
        return self._renderer

    def _render(self, K: np.ndarray, distortion: Sequence[float], mesh: trimesh.Trimesh,
                pose: np.ndarray, part: str) -> tuple[np.ndarray, np.ndarray]:
        return project_mask(self._renderer_now(), K, distortion, mesh, pose, part=part)

    def _colours_for(self, mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray] | None:
        """The mesh file's own colours and their areas (`mesh_colours`, cached), or None."""
        cached = self._colours.get(id(mesh))
        if cached is not None and cached[0] is mesh:
            return cached[1]
        out = mesh_colours(mesh)
        self._colours[id(mesh)] = (mesh, out)
        return out

    def _render_colour(self, K: np.ndarray, distortion: Sequence[float],
                       mesh: trimesh.Trimesh, pose: np.ndarray, part: str
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_render` plus the part drawn unlit in its own colours `(size, size, 3) uint8`."""
        renderer = self._renderer_now()
        s = self.config.roi_size
        res = renderer.render(colour_params(K, (s, s), distortion, pose, part,
                                            zfar_for(mesh, pose)), {part: mesh})
        return res.instance_mask == 1, res.depth, res.rgb

    def _coloured_work(self, mesh: trimesh.Trimesh, work: trimesh.Trimesh
                       ) -> trimesh.Trimesh | None:
        """The alignment mesh with the file's vertex colours (carried over from the nearest
        original vertex when decimated; cached), or None for a mesh without colours."""
        cached = self._coloured.get(id(mesh))
        if cached is not None and cached[0] is mesh:
            return cached[1]
        out = None
        src = mesh_colours(mesh)
        if src is not None and len(src[0]) == len(mesh.vertices):
            from scipy.spatial import cKDTree

            if work is mesh:
                cols = src[0]
            else:
                _, idx = cKDTree(np.asarray(mesh.vertices)).query(np.asarray(work.vertices))
                cols = src[0][idx]
            out = trimesh.Trimesh(vertices=np.asarray(work.vertices),
                                  faces=np.asarray(work.faces), process=False)
            out.visual = trimesh.visual.ColorVisuals(
                out, vertex_colors=np.concatenate([cols, np.full((len(cols), 1), 255,
                                                                 np.uint8)], axis=1))
        self._coloured[id(mesh)] = (mesh, out)
        return out

    def _mesh_for(self, mesh: trimesh.Trimesh) -> trimesh.Trimesh:
        """The mesh decimated to about `max_faces` faces (cached; the mesh itself when small
        or when the decimation package is missing)."""
        cached = self._decimated.get(id(mesh))
        if cached is not None and cached[0] is mesh:
            return cached[1]
        out = mesh
        n = self.config.max_faces
        if n and len(mesh.faces) > 1.5 * n:
            try:
                out = mesh.simplify_quadric_decimation(face_count=n)
            except (ImportError, ValueError):  # no fast_simplification: render the full mesh
                out = mesh
            if len(out.faces) == 0:
                out = mesh
        self._decimated[id(mesh)] = (mesh, out)
        return out

    def _templates_for(self, part: str, mesh: trimesh.Trimesh) -> list[Template]:
        key = (part, id(mesh))
        cached = self._templates.get(key)
        if cached is not None:
            return cached
        cfg = self.config
        s = cfg.roi_size
        centre, diameter = centre_diameter(mesh)
        z0 = 10.0 * diameter
        f = 0.6 * s * z0 / diameter
        c = (s - 1) / 2.0
        K = np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])
        angles = np.arange(cfg.inplane_steps) * (2 * np.pi / cfg.inplane_steps)
        rot2 = np.stack([[np.cos(angles), -np.sin(angles)], [np.sin(angles), np.cos(angles)]])
        out = []
        pick = np.random.default_rng(0)  # fixed subsampling of interior pixels, not a seed
        for d in fibonacci_directions(cfg.views):
            R = look_rotation(d)
            pose = pose_from_centre(R, np.array([0.0, 0.0, z0]), centre)
            mask, depth = self._render(K, NO_DISTORTION, mesh, pose, part)
            pts, ang = silhouette_points(mask, depth if cfg.inner_edges else None,
                                         depth_step=0.05 * diameter)
            if len(pts) == 0:
                continue
            ys, xs = np.nonzero(mask)
            inner = np.stack([xs, ys], axis=1).astype(np.float32)
            if len(inner) > 300:
                inner = inner[pick.choice(len(inner), 300, replace=False)]
            if len(pts) > 250:
                keep = np.linspace(0, len(pts) - 1, 250).astype(int)
                pts, ang = pts[keep], ang[keep]
            rel = pts - c
            rot = np.einsum("ija,nj->ain", rot2, rel)  # (A, 2, n)
            extent = np.stack([rot[:, 0].min(1), rot[:, 0].max(1), rot[:, 1].min(1),
                               rot[:, 1].max(1)], axis=1)
            out.append(Template(rotation=R, contour=rel, angles=ang, inner=inner - c,
                                 area=float(mask.sum()), extent=extent))
        if not out:
            raise ValueError(f"part {part!r}: the mesh rendered empty from every viewpoint "
                             "(degenerate mesh?)")
        self._templates[key] = out
        self._template_geoms[key] = (f, z0)
        return out


    # ------------------------------------------------------------------ public
    def align(self, photo: np.ndarray, K: np.ndarray, mesh: trimesh.Trimesh, *,
              hint: BoxHint | PoseHint | None, rng: np.random.Generator,
              distortion: Sequence[float] = NO_DISTORTION, part: str = "part",
              depth: tuple[float, float] | None = None) -> AlignResult:
        """Estimate the pose of `mesh` in `photo`.

        Args:
            photo: `(H, W, 3) uint8` RGB, as taken (distorted as `distortion` says).
            K: `(3, 3)` intrinsics of the photo, pixels.
            mesh: the part, object frame, metres.
            hint: a `BoxHint` (visible box), a `PoseHint` (approximate pose) or None (sliding
                search; needs `depth`).
            rng: the random stream (pose-hint sampling).
            distortion: OpenCV `(k1, k2, p1, p2, k3)` of the camera.
            part: a name for messages and the renderer's mesh cache.
            depth: `(near, far)` metres from the camera to the part's centre, for `hint=None`.

        Returns:
            The `AlignResult`.

        Raises:
            ValueError: a malformed photo, K, hint or depth (the message names it and the fix).
        """
        t0 = time.perf_counter()
        self._renders = 0
        K = check_inputs(photo, K, mesh, hint, depth)
        cfg = self.config
        work = self._mesh_for(mesh)
        centre, diameter = centre_diameter(mesh)
        p = _Part(name=part, mesh=mesh, work=work,
                  painted=self._coloured_work(mesh, work) if cfg.w_appearance > 0 else None,
                  distortion=vec5(distortion), centre=centre, diameter=diameter)
        colours = self._colours_for(mesh) if cfg.w_region > 0 and cfg.mesh_colours else None
        roi, feats, candidates = self._candidates(photo, K, p, hint, depth, colours, rng)
        Kr = roi.intrinsics(K)
        if cfg.w_region > 0:
            feats = self._part_region(feats, roi, K, p, hint, colours, candidates, rng)

        def cost_of(q: np.ndarray) -> float:
            return self._score(q, feats, Kr, p, hint)[0]

        self._last_cost = cost_of
        # the state keeps the alignment mesh only (the cost never renders the full one)
        self._last_state = CostState(feats=feats, Kr=Kr, part=replace(p, mesh=work), hint=hint)
        pose = self._best(candidates, cost_of, centre, Kr)
        mask, dep = self._render(Kr, p.distortion, work, pose, part)
        pts, ang = silhouette_points(mask, dep if cfg.inner_edges else None,
                                     depth_step=0.05 * diameter)
        cost, edge, iou = pose_cost(pts, ang, mask, feats, w_edge=cfg.w_edge,
                                    w_region=cfg.w_region, w_orient=cfg.w_orient,
                                    trim=cfg.edge_trim, outside=cfg.region_outside)
        return AlignResult(pose=pose, cost=cost, edge=edge, region_iou=iou, roi=roi,
                           renders=self._renders, seconds=time.perf_counter() - t0)

    # ------------------------------------------------------------------ stages
    def _score(self, pose: np.ndarray, feats: PhotoFeatures, Kr: np.ndarray, p: _Part,
               hint: BoxHint | PoseHint | None) -> tuple[float, np.ndarray]:
        """The full cost of one pose (renders it) and its mask."""
        cfg = self.config
        if p.painted is not None:
            mask, dep, rgb = self._render_colour(Kr, p.distortion, p.painted, pose, p.name)
        else:
            mask, dep = self._render(Kr, p.distortion, p.work, pose, p.name)
        pts, ang = silhouette_points(mask, dep if cfg.inner_edges else None,
                                     depth_step=0.05 * p.diameter)
        cost = pose_cost(pts, ang, mask, feats, w_edge=cfg.w_edge, w_region=cfg.w_region,
                         w_orient=cfg.w_orient, trim=cfg.edge_trim,
                         outside=cfg.region_outside)[0]
        if p.painted is not None:
            cost += cfg.w_appearance * appearance_term(rgb, mask, feats.crop)
        return cost + hint_cost(cfg, pose, mask, hint, feats.roi, p.centre, p.diameter), mask

    def _candidates(self, photo: np.ndarray, K: np.ndarray, p: _Part,
                    hint: BoxHint | PoseHint | None, depth: tuple[float, float] | None,
                    colours: Colours | None, rng: np.random.Generator
                    ) -> tuple[Roi, PhotoFeatures, list[np.ndarray]]:
        """The window, its photo features and the poses to rescore: around a pose hint, or
        the coarse search's best placements on the box hint (or on the best sliding window)."""
        cfg = self.config
        if isinstance(hint, PoseHint):
            pose0 = np.asarray(hint.pose, float)
            roi = pose_roi(cfg, K, p.work, pose0, p.diameter)
            feats = photo_features(photo, roi, tau=cfg.tau, edge_percentile=cfg.edge_percentile)
            return roi, feats, local_hypotheses(cfg, pose0, p.centre, p.diameter, rng)
        if hint is None:
            assert depth is not None  # check_inputs: no hint needs a depth range
            h, w = photo.shape[:2]
            boxes = sliding_boxes(K, p.mesh, depth, (w, h), cfg.depth_samples)
        else:
            boxes = [vec4(hint.box)]
        found: list[tuple[float, np.ndarray, Roi]] = []
        rois: dict[int, PhotoFeatures] = {}
        for box in boxes:
            roi = square_roi(box, margin=cfg.margin, size=cfg.roi_size)
            feats = photo_features(photo, roi, tau=cfg.tau, edge_percentile=cfg.edge_percentile)
            if colours is not None:  # the part's colours: known before any pose
                s = roi.scale
                feats = with_mesh_colours(feats, *colours, ~rect_mask(
                    ((box[0] - roi.x0) * s, (box[1] - roi.y0) * s, box[2] * s, box[3] * s),
                    cfg.roi_size))
            rois[id(roi)] = feats
            templates = self._templates_for(p.name, p.work)
            geom = self._template_geoms[(p.name, id(p.work))]
            for cost, pose in coarse_placements(cfg, feats, K, box, templates, geom,
                                                centre_diameter(p.work)[0]):
                found.append((cost, pose, roi))
        found.sort(key=lambda t: t[0])
        roi = found[0][2]
        return roi, rois[id(roi)], [q for _, q, r in found if r is roi]

    def _part_region(self, feats: PhotoFeatures, roi: Roi, K: np.ndarray, p: _Part,
                     hint: BoxHint | PoseHint | None, colours: Colours | None,
                     candidates: list[np.ndarray], rng: np.random.Generator) -> PhotoFeatures:
        """The features with the part's region in the window (`fg_prob`): GrabCut from the
        hint's box (the pose hint: the part's projected box there), blended with the mesh
        colours' probability; held fixed while the pose moves."""
        cfg = self.config
        Kr = roi.intrinsics(K)
        prior = None
        if isinstance(hint, PoseHint):
            prior, _ = self._render(Kr, p.distortion, p.work, hint.pose, p.name)
        band = max(2, round(cfg.local_shift * p.diameter * Kr[0, 0]
                            / float(candidates[0][2, 3])))
        rect = region_rect(cfg, roi, hint, K, p.work, p.diameter, candidates)
        cv_seed = int(rng.integers(2**31 - 1))
        if colours is not None and isinstance(hint, PoseHint) and prior is not None:
            k = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
            outside = cv2.dilate(prior.astype(np.uint8), k) == 0
            feats = with_mesh_colours(feats, *colours, outside)
        if colours is not None and feats.fg_prob is None:
            feats = with_mesh_colours(feats, *colours, ~rect_mask(rect, cfg.roi_size))
        colour_prob = feats.fg_prob if colours is not None else None
        cut = with_grabcut(replace(feats, fg_prob=None), rect, prior=prior, band=band,
                           cv_seed=cv_seed,
                           seed_prob=colour_prob if cfg.colour_grabcut else None)
        if colour_prob is None or cut.fg_prob is None:
            return cut if colour_prob is None else feats
        return replace(feats, fg_prob=(1.0 - cfg.colour_share) * cut.fg_prob
                       + cfg.colour_share * colour_prob)

    def _best(self, candidates: list[np.ndarray], cost_of: Callable[[np.ndarray], float],
              centre: np.ndarray, Kr: np.ndarray) -> np.ndarray:
        """Rescore the candidates, refine the `top_k` best, refine the best once more with a
        smaller simplex; the lowest-cost pose."""
        cfg = self.config
        scored = sorted(((cost_of(q), q) for q in candidates), key=lambda t: t[0])
        refined = [refine(cfg, q, cost_of, centre, Kr, scale=1.0) for _, q in scored[:cfg.top_k]]
        refined.sort(key=lambda t: t[0])
        best = refine(cfg, refined[0][1], cost_of, centre, Kr, scale=0.3)[1]
        self._alternatives = [best] + [q for _, q in refined[1:]]
        return best
