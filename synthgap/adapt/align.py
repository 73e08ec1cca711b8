"""`align`: the 6D pose of a CAD part in a real photo, from its silhouette and edges.

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
   scale = depth) scored by the oriented chamfer of its contour (`align_features.edge_term`)
   without rendering; the best `rescore` distinct ones are kept. Pose hint: the hint and
   `local_samples` seeded rotations and translations around it.
3. **Rescoring.** The candidates are rendered and scored on the full cost: oriented chamfer +
   (1 - soft IoU with the part probability of the window) + the hint term (box: 1 - IoU of
   the render's box with the hint box; pose: a prior around the hint). The part probability
   is a GrabCut segmentation started from the hint and, when the mesh file has colours, the
   probability that a pixel has the mesh's colours rather than the window background's
   (`align_features.with_mesh_colours`; it also seeds GrabCut). Optional: an appearance term
   (`w_appearance`: the part drawn unlit in its own colours against the photo).
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
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from synthgap.adapt.align_features import (
    PhotoFeatures,
    Roi,
    appearance_term,
    edge_term,
    mesh_colours,
    photo_features,
    pose_cost,
    sample_edges,
    silhouette_points,
    square_roi,
    with_grabcut,
    with_mesh_colours,
)
from synthgap.adapt.align_geometry import (
    centre_diameter,
    fibonacci_directions,
    look_rotation,
    pose_from_centre,
    ray_rotation,
    rot_z,
    rotation_angle,
    sliding_boxes,
)
from synthgap.generators.params import (
    BackgroundParams,
    CameraParams,
    MaterialParams,
    PartInstanceParams,
    SampleParams,
    as_matrix4,
    vec4,
    vec5,
)

if TYPE_CHECKING:
    from synthgap.generators.renderer import Renderer

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

_NO_DISTORTION = (0.0, 0.0, 0.0, 0.0, 0.0)
_GREY = MaterialParams((0.6, 0.6, 0.6), 0.0, 0.5)


@dataclass(frozen=True)
class AlignConfig:
    """Settings of `Aligner` (defaults: the ones measured in docs/align.md).

    Attributes:
        roi_size: side of the resampled window, pixels (32..512).
        margin: box hint enlarged by this fraction of its larger side on each side (>= 0).
        views: viewpoints of the coarse search over the sphere (>= 1).
        inplane_steps: in-plane rotations per viewpoint (>= 1; 24 = every 15 degrees).
        top_k: coarse hypotheses refined (>= 1).
        refine_evals: render evaluations per Nelder-Mead run (>= 0).
        local_samples: pose-hint hypotheses around the hint (>= 0).
        local_rot_deg: spread of the pose-hint rotation samples, degrees.
        local_shift: spread of the pose-hint translation samples, fraction of the part's
            diameter.
        rescore: coarse placements rendered and rescored before refinement (>= top_k).
        tau: edge-distance truncation, ROI pixels (> 0).
        w_edge, w_region, w_orient: weights of the edge, colour-region and edge-orientation
            terms (>= 0; `w_region` 2 since the mesh-colour probability: docs/align.md).
        max_faces: meshes are decimated to about this many faces for alignment (silhouettes
            barely change; renders get much cheaper). 0 = never.
        depth_samples: depths tried by the sliding search (no hint).
        edge_percentile: Canny's high threshold as a percentile of the window's gradient
            magnitude (`align_features.photo_features`).
        w_box: weight of the box-hint term (1 - IoU of the render's box with the hint box).
        w_prior: weight of the pose-hint prior (squared distance from the hint in units of
            `local_rot_deg` and `local_shift`).
        mesh_colours: when the mesh file has colours (vertex/face colours or a texture), the
            region term also uses the per-pixel probability that the photo shows them
            (`align_features.with_mesh_colours`), averaged with GrabCut's cut (or alone when
            GrabCut finds none). Plain meshes: GrabCut only.
        w_appearance: weight of the appearance term when the mesh file has colours: the
            part drawn unlit in its own colours against the photo inside the rendered mask
            (`align_features.appearance_term`); costs a second (colour) render per
            evaluation. 0 = off (the default: it did not help on LM-O, docs/align.md);
            plain meshes never use it.
        region_outside: weight in [0, 1] of rendered pixels that the photo does not show
            as the part, in the region term's soft IoU (1 = plain soft IoU; lower forgives
            the occluded share of a true silhouette).
        box_outside: weight in [0, 1] of the render's box area outside the hint box in the
            box term (1 = 1 - IoU of the boxes; 0 = only the share of the hint box the
            render's box misses: the hint is the visible box, occlusion shrinks it).
        colour_grabcut: with mesh colours, GrabCut starts from the colour probability
            (pixels of the hint box at >= 0.5 "probably part") instead of the whole box.
        colour_share: with mesh colours, the part probability is this share of the colour
            probability plus the rest of GrabCut's cut (where GrabCut finds one).
        edge_trim: share of the rendered edge points the edge term counts, the
            best-matching ones (`align_features.edge_term`; 1 = all, the plain chamfer).
        inner_edges: also match the render's inner depth discontinuities (not only the
            silhouette contour) with photo edges.
        coarse_region: the box-hint coarse search also scores each placement's region
            overlap (template mask points against the mesh-colour probability; only with
            mesh colours; off by default: it added search failures on LM-O).
    """

    roi_size: int = 128
    margin: float = 0.25
    views: int = 300
    inplane_steps: int = 24
    top_k: int = 4
    refine_evals: int = 150
    local_samples: int = 60
    local_rot_deg: float = 15.0
    local_shift: float = 0.2
    rescore: int = 12
    tau: float = 10.0
    w_edge: float = 1.0
    w_region: float = 2.0
    w_orient: float = 1.0
    max_faces: int = 3000
    depth_samples: int = 3
    w_box: float = 1.0
    edge_percentile: float = 70.0
    w_prior: float = 0.3
    mesh_colours: bool = True
    edge_trim: float = 1.0
    w_appearance: float = 0.0
    region_outside: float = 1.0
    box_outside: float = 1.0
    colour_grabcut: bool = True
    colour_share: float = 0.5
    inner_edges: bool = True
    coarse_region: bool = False

    def __post_init__(self) -> None:
        checks = [("roi_size", 32 <= self.roi_size <= 512, "32..512"),
                  ("margin", 0 <= self.margin <= 4, "0..4"),
                  ("views", self.views >= 1, ">= 1"),
                  ("inplane_steps", self.inplane_steps >= 1, ">= 1"),
                  ("top_k", self.top_k >= 1, ">= 1"),
                  ("refine_evals", self.refine_evals >= 0, ">= 0"),
                  ("local_samples", self.local_samples >= 0, ">= 0"),
                  ("local_rot_deg", 0 <= self.local_rot_deg <= 180, "0..180"),
                  ("local_shift", 0 <= self.local_shift <= 10, "0..10"),
                  ("rescore", self.rescore >= self.top_k, ">= top_k"),
                  ("tau", self.tau > 0, "> 0"),
                  ("w_orient", self.w_orient >= 0, ">= 0"),
                  ("max_faces", self.max_faces >= 0, ">= 0"),
                  ("w_edge", self.w_edge >= 0, ">= 0"),
                  ("w_region", self.w_region >= 0, ">= 0"),
                  ("depth_samples", self.depth_samples >= 1, ">= 1"),
                  ("w_box", self.w_box >= 0, ">= 0"),
                  ("edge_percentile", 1 <= self.edge_percentile <= 99.9, "1..99.9"),
                  ("w_prior", self.w_prior >= 0, ">= 0"),
                  ("w_appearance", self.w_appearance >= 0, ">= 0"),
                  ("region_outside", 0 <= self.region_outside <= 1, "0..1"),
                  ("box_outside", 0 <= self.box_outside <= 1, "0..1"),
                  ("colour_share", 0 <= self.colour_share <= 1, "0..1"),
                  ("edge_trim", 0 < self.edge_trim <= 1, "0 < edge_trim <= 1")]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"AlignConfig.{name}: expected {rule}, got "
                                 f"{getattr(self, name)!r}")


@dataclass(frozen=True)
class BoxHint:
    """The part's visible box in the photo, `(x, y, w, h)` pixels (e.g. drawn by hand)."""

    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class PoseHint:
    """An approximate camera-from-object pose `(4, 4)`, metres (e.g. a previous `align`)."""

    pose: np.ndarray


@dataclass(frozen=True, eq=False)
class AlignResult:
    """The estimated pose of one part in one photo.

    Attributes:
        pose: `(4, 4) float64` camera-from-object, metres, OpenCV camera frame.
        cost: final `pose_cost` (lower is better).
        edge: edge term in [0, 1] (mean truncated contour-to-edge distance / tau).
        region_iou: soft IoU with the colour model (0 without one).
        roi: the window the cost was measured in.
        renders: renders made for this part (templates excluded).
        seconds: wall time.
    """

    pose: np.ndarray
    cost: float
    edge: float
    region_iou: float
    roi: Roi
    renders: int
    seconds: float


@dataclass(frozen=True, eq=False)
class _Template:
    """One viewpoint of the coarse search, rendered on the optical axis."""

    rotation: np.ndarray  # (3, 3) camera-from-object of the virtual camera
    contour: np.ndarray  # (n, 2) pixels relative to the template centre
    angles: np.ndarray  # (n,) edge gradient directions, radians
    inner: np.ndarray  # (m, 2) sampled mask pixels relative to the centre
    area: float  # mask pixels
    extent: np.ndarray  # (2, 4) min/max x/y relative to the centre per in-plane angle


def _params(K: np.ndarray, size: tuple[int, int], distortion: Sequence[float], pose: np.ndarray,
            part: str, zfar: float) -> SampleParams:
    """`SampleParams` of one part at `pose` (camera frame) and nothing else (no plane, no
    lights: only the silhouette and depth are used)."""
    cam = CameraParams(width=size[0], height=size[1], fx=float(K[0, 0]), fy=float(K[1, 1]),
                       cx=float(K[0, 2]), cy=float(K[1, 2]),
                       distortion=vec5(distortion),
                       pose=as_matrix4(np.eye(4)), znear=0.01, zfar=float(zfar))
    inst = PartInstanceParams(part=part, category=part, pose=as_matrix4(pose), material=_GREY)
    return SampleParams(index=0, seed=0, camera=cam, parts=(inst,), lights=(),
                        background=BackgroundParams(color=(0.0, 0.0, 0.0), plane=False))


_ALBEDO = MaterialParams((1.0, 1.0, 1.0), 0.0, 1.0, source="mesh")


def _colour_params(K: np.ndarray, size: tuple[int, int], distortion: Sequence[float],
                   pose: np.ndarray, part: str, zfar: float) -> SampleParams:
    """`_params` with the part drawn unlit in its own colours (ambient light 1, no lights)."""
    p = _params(K, size, distortion, pose, part, zfar)
    inst = replace(p.parts[0], material=_ALBEDO)
    return replace(p, parts=(inst,), background=BackgroundParams(
        color=(0.0, 0.0, 0.0), plane=False, ambient=(1.0, 1.0, 1.0)))


def project_mask(renderer: Renderer, K: np.ndarray, distortion: Sequence[float],
                 mesh: trimesh.Trimesh, pose: np.ndarray, *, part: str = "part"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Render the silhouette of `mesh` at camera-from-object `pose` with intrinsics `K`.

    Args:
        renderer: a `Renderer`; its size is the image size.
        K: `(3, 3)` intrinsics, pixels. distortion: OpenCV `(k1, k2, p1, p2, k3)`.
        mesh: object frame, metres. pose: `(4, 4)` camera-from-object, metres.

    Returns:
        `(mask (H, W) bool, depth (H, W) float32 metres, 0 = none)`.
    """
    zfar = max(10.0, float(pose[2, 3]) + 2.0 * float(np.ptp(mesh.bounds, axis=0).max()) + 1.0)
    params = _params(K, (renderer.width, renderer.height), distortion, pose, part, zfar)
    res = renderer.render(params, {part: mesh})
    return res.instance_mask == 1, res.depth


def contour_overlay(photo: np.ndarray, mask: np.ndarray, *,
                    color: tuple[int, int, int] = (0, 255, 0), thickness: int = 2
                    ) -> np.ndarray:
    """The photo with the contour of `mask` drawn over it.

    Args:
        photo: `(H, W, 3) uint8` RGB. mask: `(H, W) bool`.

    Returns:
        `(H, W, 3) uint8` RGB copy with the outline (RGB `color`).
    """
    out = np.ascontiguousarray(photo.copy())
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), thickness)
    return out


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
        self._templates: dict[tuple[str, int], list[_Template]] = {}
        # template focal length and depth per part: turn a 2D scale into a depth
        self._template_geoms: dict[tuple[str, int], tuple[float, float]] = {}
        self._renders = 0
        self._decimated: dict[int, tuple[trimesh.Trimesh, trimesh.Trimesh]] = {}
        self._colours: dict[int, tuple[trimesh.Trimesh,
                                       tuple[np.ndarray, np.ndarray] | None]] = {}
        self._coloured: dict[int, tuple[trimesh.Trimesh, trimesh.Trimesh | None]] = {}
        self._last_cost: Callable[[np.ndarray], float] | None = None

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

    # ------------------------------------------------------------------ rendering
    def _renderer_now(self) -> Renderer:
        """The renderer of `roi_size`, made on first use; counts one render."""
        s = self.config.roi_size
        if self._renderer is None:
            from synthgap.generators.renderer import Renderer

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
        zfar = max(10.0, float(pose[2, 3]) + 2.0 * float(np.ptp(mesh.bounds, axis=0).max())
                   + 1.0)
        s = self.config.roi_size
        res = renderer.render(_colour_params(K, (s, s), distortion, pose, part, zfar),
                              {part: mesh})
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

    def _templates_for(self, part: str, mesh: trimesh.Trimesh) -> list[_Template]:
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
            mask, depth = self._render(K, _NO_DISTORTION, mesh, pose, part)
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
            out.append(_Template(rotation=R, contour=rel, angles=ang, inner=inner - c,
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
              distortion: Sequence[float] = _NO_DISTORTION, part: str = "part",
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
        K = _check_inputs(photo, K, mesh, hint, depth)
        cfg = self.config
        work = self._mesh_for(mesh)
        centre, diameter = centre_diameter(mesh)
        h, w = photo.shape[:2]
        dist = tuple(float(v) for v in distortion)

        painted = self._coloured_work(mesh, work) if cfg.w_appearance > 0 else None

        def score(pose: np.ndarray, feats: PhotoFeatures, Kr: np.ndarray
                  ) -> tuple[float, np.ndarray]:
            if painted is not None:
                mask, dep, rgb = self._render_colour(Kr, dist, painted, pose, part)
            else:
                mask, dep = self._render(Kr, dist, work, pose, part)
            pts, ang = silhouette_points(mask, dep if cfg.inner_edges else None,
                                         depth_step=0.05 * diameter)
            cost = pose_cost(pts, ang, mask, feats, w_edge=cfg.w_edge, w_region=cfg.w_region,
                             w_orient=cfg.w_orient, trim=cfg.edge_trim,
                             outside=cfg.region_outside)[0]
            if painted is not None:
                cost += cfg.w_appearance * appearance_term(rgb, mask, feats.crop)
            return cost + self._hint_cost(pose, mask, hint, feats.roi, centre, diameter), mask

        colours = self._colours_for(mesh) if cfg.w_region > 0 and cfg.mesh_colours else None
        if isinstance(hint, PoseHint):
            pose0 = np.asarray(hint.pose, float)
            roi = self._pose_roi(K, work, pose0, diameter)
            feats = photo_features(photo, roi, tau=cfg.tau, edge_percentile=cfg.edge_percentile)
            candidates = self._local_hypotheses(pose0, centre, diameter, rng)
        else:
            if hint is None:
                assert depth is not None  # _check_inputs: no hint needs a depth range
                boxes = sliding_boxes(K, mesh, depth, (w, h), cfg.depth_samples)
            else:
                boxes = [vec4(hint.box)]
            found: list[tuple[float, np.ndarray, Roi]] = []
            rois: dict[int, PhotoFeatures] = {}
            for box in boxes:
                roi = square_roi(box, margin=cfg.margin, size=cfg.roi_size)
                feats = photo_features(photo, roi, tau=cfg.tau, edge_percentile=cfg.edge_percentile)
                if colours is not None:  # the part's colours: known before any pose
                    s = roi.scale
                    feats = with_mesh_colours(feats, *colours, ~_rect_mask(
                        ((box[0] - roi.x0) * s, (box[1] - roi.y0) * s, box[2] * s, box[3] * s),
                        cfg.roi_size))
                rois[id(roi)] = feats
                for cost, pose in self._coarse(feats, K, box, work, part):
                    found.append((cost, pose, roi))
            found.sort(key=lambda t: t[0])
            roi = found[0][2]
            feats = rois[id(roi)]
            candidates = [p for _, p, r in found if r is roi]
        Kr = roi.intrinsics(K)
        # the part's region in the photo: GrabCut from the hint's box (the pose hint: the
        # part's projected box there), held fixed while the pose moves
        if cfg.w_region > 0:
            prior = None
            if isinstance(hint, PoseHint):
                prior, _ = self._render(Kr, dist, work, hint.pose, part)
            band = max(2, round(cfg.local_shift * diameter * Kr[0, 0]
                                / float(candidates[0][2, 3])))
            rect = self._region_rect(roi, hint, K, work, diameter, candidates)
            cv_seed = int(rng.integers(2**31 - 1))
            if colours is not None and isinstance(hint, PoseHint) and prior is not None:
                k = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
                outside = cv2.dilate(prior.astype(np.uint8), k) == 0
                feats = with_mesh_colours(feats, *colours, outside)
            if colours is not None and feats.fg_prob is None:
                feats = with_mesh_colours(feats, *colours, ~_rect_mask(rect, cfg.roi_size))
            colour_prob = feats.fg_prob if colours is not None else None
            cut = with_grabcut(replace(feats, fg_prob=None), rect, prior=prior, band=band,
                               cv_seed=cv_seed,
                               seed_prob=colour_prob if cfg.colour_grabcut else None)
            if colour_prob is None or cut.fg_prob is None:
                feats = cut if colour_prob is None else feats
            else:
                feats = replace(feats, fg_prob=(1.0 - cfg.colour_share) * cut.fg_prob
                                + cfg.colour_share * colour_prob)
        self._last_cost = lambda q: score(q, feats, Kr)[0]
        scored = []
        for pose in candidates:
            c, _ = score(pose, feats, Kr)
            scored.append((c, pose))
        scored.sort(key=lambda t: t[0])
        refined = [self._refine(p, lambda q: score(q, feats, Kr)[0], centre, Kr, scale=1.0)
                   for _, p in scored[:cfg.top_k]]
        refined.sort(key=lambda t: t[0])
        cost, pose = self._refine(refined[0][1], lambda q: score(q, feats, Kr)[0], centre, Kr,
                                  scale=0.3)
        mask, dep = self._render(Kr, dist, work, pose, part)
        pts, ang = silhouette_points(mask, dep if cfg.inner_edges else None,
                                     depth_step=0.05 * diameter)
        cost, edge, iou = pose_cost(pts, ang, mask, feats, w_edge=cfg.w_edge,
                                    w_region=cfg.w_region, w_orient=cfg.w_orient,
                                    trim=cfg.edge_trim, outside=cfg.region_outside)
        return AlignResult(pose=pose, cost=cost, edge=edge, region_iou=iou, roi=roi,
                           renders=self._renders, seconds=time.perf_counter() - t0)

    # ------------------------------------------------------------------ stages
    def _hint_cost(self, pose: np.ndarray, mask: np.ndarray, hint: BoxHint | PoseHint | None,
                   roi: Roi, centre: np.ndarray, diameter: float) -> float:
        """What the hint says about a hypothesis. Box: `w_box` (1 - IoU of the render's box
        with the hint box; the hint is the visible box, so occlusion lowers this IoU a
        little at the true pose). Pose: `w_prior` times the squared distance from the hint in
        units of its spread (`local_rot_deg`, `local_shift` diameters), halved."""
        cfg = self.config
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

    def _region_rect(self, roi: Roi, hint: BoxHint | PoseHint | None, K: np.ndarray,
                     mesh: trimesh.Trimesh, diameter: float, candidates: list[np.ndarray]
                     ) -> tuple[float, float, float, float]:
        """The GrabCut rectangle in ROI pixels: the box hint, else the projected box of the
        pose hint (or of the best sliding-search candidate) widened by the shift spread."""
        s = roi.scale
        if isinstance(hint, BoxHint):
            x, y, w, h = hint.box
            return ((x - roi.x0) * s, (y - roi.y0) * s, w * s, h * s)
        pose = hint.pose if isinstance(hint, PoseHint) else candidates[0]
        corners = trimesh.bounds.corners(mesh.bounds)
        cam = corners @ np.asarray(pose)[:3, :3].T + np.asarray(pose)[:3, 3]
        uv = cam[:, :2] / cam[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
        pad = 0.5 * self.config.local_shift * diameter * K[0, 0] / float(cam[:, 2].mean())
        x0, y0 = uv.min(0) - pad
        x1, y1 = uv.max(0) + pad
        return ((x0 - roi.x0) * s, (y0 - roi.y0) * s, (x1 - x0) * s, (y1 - y0) * s)

    def _pose_roi(self, K: np.ndarray, mesh: trimesh.Trimesh, pose: np.ndarray,
                  diameter: float) -> Roi:
        """The window around the part's projection at `pose` (from its bounding-box corners,
        with the margin and the translation spread of the local search)."""
        corners = trimesh.bounds.corners(mesh.bounds)
        cam = corners @ pose[:3, :3].T + pose[:3, 3]
        if np.any(cam[:, 2] <= 1e-6):
            raise ValueError("hint pose: the part is (partly) behind the camera; give a pose "
                             "with the part in front of it (+z forward, metres)")
        uv = cam[:, :2] / cam[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
        x0, y0 = uv.min(0)
        x1, y1 = uv.max(0)
        pad = self.config.local_shift * diameter * K[0, 0] / float(cam[:, 2].mean())
        return square_roi((x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad),
                          margin=0.0, size=self.config.roi_size)

    def _local_hypotheses(self, pose0: np.ndarray, centre: np.ndarray, diameter: float,
                          rng: np.random.Generator) -> list[np.ndarray]:
        """The hint and `local_samples` seeded perturbations of it (rotation about the part's
        centre up to 1.5 `local_rot_deg`, translation up to `local_shift` diameters)."""
        cfg = self.config
        out = [pose0]
        p0 = pose0[:3, :3] @ centre + pose0[:3, 3]
        for _ in range(cfg.local_samples):
            rv = rng.normal(size=3)
            rv *= np.deg2rad(cfg.local_rot_deg) * rng.uniform(0, 1.5) / np.linalg.norm(rv)
            R = Rotation.from_rotvec(rv).as_matrix() @ pose0[:3, :3]
            p = p0 + rng.uniform(-1, 1, 3) * cfg.local_shift * diameter
            out.append(pose_from_centre(R, p, centre))
        return out

    def _coarse(self, feats: PhotoFeatures, K: np.ndarray, box: tuple[float, float, float, float],
                mesh: trimesh.Trimesh, part: str) -> list[tuple[float, np.ndarray]]:
        """Score every (viewpoint, in-plane angle) placed on the box by the template edge
        cost; return the best `rescore` diverse ones as (cost, camera-from-object pose)."""
        cfg = self.config
        templates = self._templates_for(part, mesh)
        f_t, z0 = self._template_geoms[(part, id(mesh))]
        roi = feats.roi
        Kr = roi.intrinsics(K)
        bx, by, bw, bh = box
        s = roi.scale
        rx0, ry0 = (bx - roi.x0) * s, (by - roi.y0) * s  # the box in ROI pixels
        rw, rh = max(bw * s, 1.0), max(bh * s, 1.0)
        A = cfg.inplane_steps
        angles = np.arange(A) * (2 * np.pi / A)
        cosa, sina = np.cos(angles)[:, None], np.sin(angles)[:, None]
        centre, _ = centre_diameter(mesh)
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
                p_in = _sample(region, scale[:, None] * (cosa * ix - sina * iy) + ox[:, None],
                               scale[:, None] * (sina * ix + cosa * iy) + oy[:, None]).mean(1)
                area = t.area * scale ** 2
                inter = p_in * area
                union = cfg.region_outside * (area - inter) + p_total
                costs[ti] += cfg.w_region * (1.0 - inter / np.maximum(union, 1e-9))
            place[ti] = np.stack([scale, ox, oy], axis=1)
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

    def _refine(self, pose0: np.ndarray, cost_of: Callable[[np.ndarray], float],
                centre: np.ndarray, Kr: np.ndarray, *, scale: float
                ) -> tuple[float, np.ndarray]:
        """Nelder-Mead on (rotation vector, image shift in ROI pixels, log depth) around
        `pose0`; returns (cost, pose), never worse than `pose0`."""
        cfg = self.config
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


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`img` at the nearest pixel of `x`, `y` (equal shapes); 0 outside it."""
    h, w = img.shape
    xi, yi = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    return np.where(inside, img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], 0.0)


def _rect_mask(rect: tuple[float, float, float, float], size: int) -> np.ndarray:
    """`(size, size) bool`: True inside `rect` `(x, y, w, h)` (ROI pixels)."""
    x, y, w, h = rect
    m = np.zeros((size, size), bool)
    m[max(0, int(np.floor(y))):max(0, int(np.ceil(y + h))),
      max(0, int(np.floor(x))):max(0, int(np.ceil(x + w)))] = True
    return m


def _check_inputs(photo: np.ndarray, K: np.ndarray, mesh: trimesh.Trimesh,
                  hint: BoxHint | PoseHint | None, depth: tuple[float, float] | None
                  ) -> np.ndarray:
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo: expected an (H, W, 3) uint8 RGB array, got shape "
                         f"{photo.shape} dtype {photo.dtype}; read it with "
                         "synthgap.data.layout.read_image")
    K = np.asarray(K, float)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K: expected a (3, 3) intrinsics matrix with fx, fy > 0, got {K!r}")
    if len(getattr(mesh, "faces", ())) == 0:
        raise ValueError("mesh: the part mesh has no faces")
    h, w = photo.shape[:2]
    if isinstance(hint, BoxHint):
        box = np.asarray(hint.box, float)
        if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] < 2 or box[3] < 2:
            raise ValueError(f"hint box: expected (x, y, w, h) pixels with w, h >= 2, got "
                             f"{hint.box!r}")
        if box[0] + box[2] <= 0 or box[1] + box[3] <= 0 or box[0] >= w or box[1] >= h:
            raise ValueError(f"hint box {tuple(float(v) for v in box)} lies outside the "
                             f"{w}x{h} photo; give the box in the photo's pixels (x, y, w, h)")
    elif isinstance(hint, PoseHint):
        pose = np.asarray(hint.pose, float)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            raise ValueError(f"hint pose: expected a (4, 4) camera-from-object matrix, got "
                             f"shape {pose.shape}")
        R = pose[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise ValueError("hint pose: the rotation part is not a rotation (R R^T != I or "
                             "det < 0)")
    elif hint is None:
        if depth is None or not (0 < depth[0] <= depth[1]):
            raise ValueError(f"no hint: give depth=(near, far) in metres, 0 < near <= far "
                             f"(the distance range from the camera to the part), got {depth!r}; "
                             "or give a box or pose hint")
    else:
        raise ValueError(f"hint: expected a BoxHint, a PoseHint or None, got "
                         f"{type(hint).__name__}")
    return K

