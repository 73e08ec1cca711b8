"""The settings, hints and result of pose estimation (`synthgap.poses.aligner.Aligner`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from synthgap.poses.features import Roi

__all__ = ["AlignConfig", "AlignResult", "BoxHint", "PoseHint", "check_inputs"]


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
            magnitude (`synthgap.poses.features.photo_features`).
        w_box: weight of the box-hint term (1 - IoU of the render's box with the hint box).
        w_prior: weight of the pose-hint prior (squared distance from the hint in units of
            `local_rot_deg` and `local_shift`).
        mesh_colours: when the mesh file has colours (vertex/face colours or a texture), the
            region term also uses the per-pixel probability that the photo shows them
            (`synthgap.poses.features.with_mesh_colours`), averaged with GrabCut's cut (or alone
            when GrabCut finds none). Plain meshes: GrabCut only.
        w_appearance: weight of the appearance term when the mesh file has colours: the
            part drawn unlit in its own colours against the photo inside the rendered mask
            (`synthgap.poses.features.appearance_term`); costs a second (colour) render per
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
            best-matching ones (`synthgap.poses.features.edge_term`; 1 = all, the plain chamfer).
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




def check_inputs(photo: np.ndarray, K: np.ndarray, mesh: trimesh.Trimesh,
                  hint: BoxHint | PoseHint | None, depth: tuple[float, float] | None
                  ) -> np.ndarray:
    """`K` as a float array, after checking the photo, K, mesh, hint and depth of one `align`
    call (`ValueError` naming the bad one and the fix)."""
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


