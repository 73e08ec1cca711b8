"""Photo features and the silhouette cost that `synthgap.poses.aligner` minimises (no OpenGL).

Everything here works in a square region of interest (ROI) of the photo resampled to
`size x size` pixels: the ROI is the hint box enlarged by a margin, and a crop + scale of the
image is an exact change of the intrinsics (`Roi.intrinsics`), so a render with the ROI's
intrinsics lands pixel for pixel on the resampled photo.

The cost of a pose hypothesis (lower is better, in [0, w_edge + w_region]):

- edge term: the mean distance (pixels of the ROI, truncated at `tau`, divided by `tau`) from
  the rendered silhouette contour and depth discontinuities to the nearest photo edge (Canny
  with thresholds from the ROI's own gradient percentiles): a one-sided truncated chamfer;
- orientation: the edge term also counts |sin| of the angle between the rendered edge's
  normal and the nearest photo edge's gradient (an oriented chamfer), so a contour does not
  settle on texture or clutter edges that cross it;
- region term: 1 - soft IoU of the rendered mask with the photo's per-pixel probability of
  belonging to the part: a GrabCut cut (`with_grabcut`), the mesh file's own colours against
  the window background's (`with_mesh_colours`), or histograms learnt from the photo inside
  and outside a good hypothesis (`with_region_model`);
- appearance (optional): the part drawn unlit in its own colours, correlated with the photo
  inside the rendered mask (`appearance_term`).

Pixel convention: OpenCV (pixel centres at integer coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import trimesh

__all__ = [
    "PhotoFeatures",
    "Roi",
    "appearance_term",
    "colour_bins",
    "edge_term",
    "mesh_colours",
    "photo_features",
    "pose_cost",
    "sample_edges",
    "silhouette_points",
    "square_roi",
    "with_grabcut",
    "with_mesh_colours",
    "with_region_model",
]

#: HSV histogram bins (hue, saturation, value) of the colour model.
_BINS = (12, 4, 4)


@dataclass(frozen=True)
class Roi:
    """A square window of the photo and its resampling to `size x size` pixels.

    Attributes:
        x0, y0: top-left corner in photo pixels (may lie outside the photo).
        side: window side in photo pixels (> 0).
        size: side of the resampled window in pixels.
    """

    x0: float
    y0: float
    side: float
    size: int

    @property
    def scale(self) -> float:
        """ROI pixels per photo pixel."""
        return self.size / self.side

    def affine(self) -> np.ndarray:
        """`(2, 3) float64` map photo pixel -> ROI pixel (for `cv2.warpAffine`)."""
        s = self.scale
        return np.array([[s, 0.0, -self.x0 * s], [0.0, s, -self.y0 * s]])

    def intrinsics(self, K: np.ndarray) -> np.ndarray:
        """`(3, 3)` intrinsics of the ROI camera, given the photo's `(3, 3)` `K`."""
        A = np.vstack([self.affine(), [0.0, 0.0, 1.0]])
        out: np.ndarray = A @ np.asarray(K, float)
        return out


def square_roi(box: tuple[float, float, float, float], *, margin: float, size: int) -> Roi:
    """The square ROI around a box `(x, y, w, h)` (photo pixels), each side enlarged by
    `margin` times the box's larger side."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    return Roi(x0=cx - side / 2.0, y0=cy - side / 2.0, side=max(side, 1.0), size=int(size))


@dataclass(frozen=True, eq=False)
class PhotoFeatures:
    """What the cost needs from the photo in one ROI.

    Attributes:
        roi: the window.
        dist: `(size, size) float32` distance in ROI pixels to the nearest photo edge,
            truncated at `tau`.
        tau: truncation distance, ROI pixels.
        edges: `(size, size) bool` the photo edges (for the overlay and tests).
        edge_angle: `(size, size) float32` gradient direction (radians, mod pi) of the
            nearest photo edge pixel.
        crop: `(size, size, 3) uint8` the resampled photo window.
        fg_prob: `(size, size) float32` probability in [0, 1] that a pixel shows the part
            (`with_region_model`), or None before one is learnt.
    """

    roi: Roi
    dist: np.ndarray
    tau: float
    edges: np.ndarray
    edge_angle: np.ndarray
    crop: np.ndarray
    fg_prob: np.ndarray | None


def _hsv_bins(rgb: np.ndarray) -> np.ndarray:
    """Flat histogram bin index of each RGB uint8 pixel (any leading shape)."""
    hsv = cv2.cvtColor(rgb.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int64)
    h = np.minimum(hsv[:, 0] * _BINS[0] // 180, _BINS[0] - 1)
    s = np.minimum(hsv[:, 1] * _BINS[1] // 256, _BINS[1] - 1)
    v = np.minimum(hsv[:, 2] * _BINS[2] // 256, _BINS[2] - 1)
    return (h * _BINS[1] + s) * _BINS[2] + v


#: colour bins of the mesh-colour model: 4 brightness x 16 x 16 chromaticity (r, g) bins.
_COLOUR_BINS = (4, 16, 16)
_N_COLOUR_BINS = int(np.prod(_COLOUR_BINS))
_BRIGHTNESS_EDGES = np.array([40.0, 100.0, 170.0])
#: grabCut's rectangle argument when it starts from a mask (then OpenCV ignores the rectangle).
_NO_RECT = (0, 0, 0, 0)


def colour_bins(rgb: np.ndarray) -> np.ndarray:
    """Colour bin of each RGB uint8 pixel (any leading shape, flattened): chromaticity
    `r = R / (R + G + B)`, `g = G / (R + G + B)` in 16 x 16 bins, which a brighter or dimmer
    light does not change, and 4 coarse brightness bins (mean of R, G, B: < 40, < 100, < 170,
    above) that keep black, grey and white apart.

    Returns:
        `(n,) int64` bin indices in `[0, 1024)`.
    """
    x = np.asarray(rgb, np.float64).reshape(-1, 3)
    total = x.sum(axis=1) + 3.0  # a small offset keeps near-black pixels grey
    _, nr, ng = _COLOUR_BINS
    ri = np.minimum(((x[:, 0] + 1.0) / total * nr).astype(np.int64), nr - 1)
    gi = np.minimum(((x[:, 1] + 1.0) / total * ng).astype(np.int64), ng - 1)
    bi = np.searchsorted(_BRIGHTNESS_EDGES, x.mean(axis=1), side="right")
    index: np.ndarray = (bi * nr + ri) * ng + gi
    return index


def _smooth_hist(hist: np.ndarray) -> np.ndarray:
    """Spread each bin over its neighbours (Gaussian, one bin), so a slightly different camera
    or light still lands on the part's colours."""
    from scipy.ndimage import gaussian_filter

    h = gaussian_filter(hist.astype(np.float64).reshape(_COLOUR_BINS), sigma=(0.7, 1.0, 1.0),
                        mode="nearest")
    out: np.ndarray = h.ravel()
    return out


def mesh_colours(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray] | None:
    """The colours a mesh file carries (vertex colours, face colours or a texture sampled at
    the vertices), with the surface area each stands for.

    Args:
        mesh: a `trimesh.Trimesh`.

    Returns:
        `(colours (n, 3) uint8 RGB, weights (n,) float64 m^2)`, or None for a plain CAD mesh
        (no colours, or one uniform default colour).
    """
    visual: Any = getattr(mesh, "visual", None)
    kind = getattr(visual, "kind", None)
    if kind is None:
        return None
    try:
        if kind == "texture":
            visual = visual.to_color()
        if kind == "face" or getattr(visual, "kind", None) == "face":
            cols = np.asarray(visual.face_colors)[:, :3]
            w = np.asarray(mesh.area_faces, float)
        else:
            cols = np.asarray(visual.vertex_colors)[:, :3]
            faces = np.asarray(mesh.faces)
            w = np.zeros(len(cols))
            np.add.at(w, faces.ravel(), np.repeat(np.asarray(mesh.area_faces, float) / 3.0,
                                                   3))
    except (AttributeError, ValueError, IndexError):
        return None
    if len(cols) == 0 or len(np.unique(cols, axis=0)) < 2 or w.sum() <= 0:
        return None
    return cols.astype(np.uint8), w


def with_mesh_colours(feats: PhotoFeatures, colours: np.ndarray, weights: np.ndarray,
                      background: np.ndarray) -> PhotoFeatures:
    """The features plus a per-pixel probability that a pixel shows the part, from the mesh's
    own colours against the window's background colours.

    The part's colour histogram (`colour_bins`, area-weighted) comes from the mesh file; the
    background's from the window pixels in `background` (outside the hint); a pixel's
    probability is the part histogram's share of its bin (both smoothed). Robust to the
    light's brightness (coloured pixels are binned by hue and saturation only); a part
    coloured like its background gives probabilities near 0.5 there, i.e. little evidence.

    Args:
        feats: from `photo_features`.
        colours, weights: `mesh_colours(mesh)`.
        background: `(size, size) bool` window pixels that are (mostly) not the part.

    Returns:
        A copy with `fg_prob`; unchanged when `background` has fewer than 20 pixels.
    """
    if background.sum() < 20:
        return feats
    n = _N_COLOUR_BINS
    fg = _smooth_hist(np.bincount(colour_bins(colours), weights=weights, minlength=n))
    bins = colour_bins(feats.crop).reshape(feats.crop.shape[:2])
    bg = _smooth_hist(np.bincount(bins[background], minlength=n))
    fg = (fg + 1e-3 * fg.sum() / n) / fg.sum()
    bg = (bg + 1e-3 * bg.sum() / n) / bg.sum()
    prob = (fg / (fg + bg))[bins].astype(np.float32)
    prob = cv2.GaussianBlur(prob, (0, 0), 1.0)
    return replace(feats, fg_prob=prob)


def appearance_term(render: np.ndarray, mask: np.ndarray, crop: np.ndarray) -> float:
    """How unlike the photo a render in the mesh's own colours looks, in [0, 1].

    1 minus the zero-mean normalised cross-correlation of the two images over the rendered
    mask (RGB, each channel's mean removed, both blurred by 1 pixel), halved: 0 = the photo
    varies exactly like the part's colours there, 0.5 = unrelated, 1 = inverted. A global
    change of brightness, contrast or colour cast of the light does not change it.

    Args:
        render: `(size, size, 3) uint8` the part drawn unlit in its own colours.
        mask: `(size, size) bool` its pixels.
        crop: `(size, size, 3) uint8` the photo window (`PhotoFeatures.crop`).

    Returns:
        The term; 1.0 when the mask has fewer than 20 pixels or either side is uniform.
    """
    if mask.sum() < 20:
        return 1.0
    a = cv2.GaussianBlur(render, (0, 0), 1.0)[mask].astype(np.float64)
    b = cv2.GaussianBlur(crop, (0, 0), 1.0)[mask].astype(np.float64)
    a -= a.mean(axis=0)
    b -= b.mean(axis=0)
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den < 1e-6:
        return 1.0
    return float(0.5 * (1.0 - (a * b).sum() / den))


def photo_features(photo: np.ndarray, roi: Roi, *, tau: float,
                   edge_percentile: float = 70.0) -> PhotoFeatures:
    """Resample the photo's ROI and compute its edge distance map (no colour model yet).

    Args:
        photo: `(H, W, 3) uint8` RGB.
        roi: the window (parts outside the photo repeat the border).
        tau: truncation of the distance map, ROI pixels (> 0).
        edge_percentile: Canny's high threshold is this percentile of the window's gradient
            magnitude (the low one 0.4 times it): lower finds fainter edges.

    Returns:
        The `PhotoFeatures`.
    """
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo: expected an (H, W, 3) uint8 RGB array, got {photo.shape} "
                         f"{photo.dtype}")
    s = roi.size
    # Low-pass before shrinking so edges do not alias (area-like resampling).
    shrink = 1.0 / roi.scale
    src = cv2.GaussianBlur(photo, (0, 0), 0.5 * shrink) if shrink > 1.5 else photo
    crop = cv2.warpAffine(src, roi.affine(), (s, s), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.GaussianBlur(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy)
    hi = float(np.percentile(mag, edge_percentile))
    hi = max(hi, 8.0)
    edges = cv2.Canny(grey, 0.4 * hi, hi, L2gradient=True) > 0
    dist, labels = cv2.distanceTransformWithLabels((~edges).astype(np.uint8), cv2.DIST_L2, 3,
                                                   labelType=cv2.DIST_LABEL_PIXEL)
    dist = np.minimum(dist, np.float32(tau)).astype(np.float32)
    # orientation of the nearest edge pixel (labels number the edge pixels in raster order)
    angle = np.mod(np.arctan2(gy, gx), np.pi).astype(np.float32)
    ey, ex = np.nonzero(edges)
    if len(ey):
        lut = np.concatenate([[0.0], angle[ey, ex]]).astype(np.float32)
        edge_angle = lut[np.clip(labels, 0, len(ey))]
    else:
        edge_angle = np.zeros_like(dist)
    return PhotoFeatures(roi=roi, dist=dist, tau=float(tau), edges=edges,
                         edge_angle=edge_angle, crop=crop, fg_prob=None)


def with_grabcut(feats: PhotoFeatures, rect: tuple[float, float, float, float], *,
                 prior: np.ndarray | None = None, band: int = 8,
                 iterations: int = 4, cv_seed: int = 0,
                 seed_prob: np.ndarray | None = None) -> PhotoFeatures:
    """The features plus a segmentation of the part by GrabCut.

    GrabCut (Rother et al. 2004, OpenCV) fits colour mixtures to the part and background
    pixels and cuts the window into the two; the cut becomes `fg_prob` (1 part, 0 background,
    smoothed over 1 pixel). Started from `rect` (the part is inside, the rest is background),
    or, with `prior` (a rendered mask of an approximate pose), from "probably part" on the
    mask, "probably background" within `band` pixels of it and background elsewhere.
    GrabCut starts its colour mixtures with k-means++ drawn from OpenCV's thread-local random
    generator; it is reseeded with `cv_seed` right before the cut (OpenCV offers no other
    handle), so the cut is a pure function of the inputs.

    Args:
        feats: from `photo_features`.
        rect: `(x, y, w, h)` in ROI pixels that holds the visible part.
        prior: `(size, size) bool` approximate part mask, or None.
        band: width of the uncertain band around `prior`, ROI pixels.
        iterations: GrabCut iterations.
        cv_seed: seed for OpenCV's generator (draw it from the caller's `rng`).
        seed_prob: `(size, size) float32` a part probability (e.g. `with_mesh_colours`'s)
            that splits the start: inside `rect` (or the `prior` band), pixels at >= 0.5
            start as "probably part", the others as "probably background".

    Returns:
        A copy with `fg_prob`; unchanged when the start is degenerate or the cut is empty.
    """
    size = feats.crop.shape[0]
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    img = cv2.cvtColor(feats.crop, cv2.COLOR_RGB2BGR)
    if prior is not None and 20 <= prior.sum() < prior.size - 20:
        m = prior.astype(np.uint8)
        near = cv2.dilate(m, np.ones((2 * band + 1, 2 * band + 1), np.uint8)) > 0
        mask = np.full((size, size), cv2.GC_BGD, np.uint8)
        mask[near] = cv2.GC_PR_BGD
        mask[prior] = cv2.GC_PR_FGD
        if seed_prob is not None:
            likely = near & (seed_prob >= 0.5)
            if 20 <= likely.sum() < near.sum() - 20:
                mask[near] = np.where(likely[near], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        cv2.setRNGSeed(int(cv_seed))
        cv2.grabCut(img, mask, _NO_RECT, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    else:
        x, y, w, h = rect
        x0, y0 = int(max(0, np.floor(x))), int(max(0, np.floor(y)))
        x1, y1 = int(min(size - 1, np.ceil(x + w))), int(min(size - 1, np.ceil(y + h)))
        if x1 - x0 < 4 or y1 - y0 < 4 or (x0 == 0 and y0 == 0 and x1 == size - 1
                                           and y1 == size - 1):
            return feats
        mask = np.zeros((size, size), np.uint8)
        cv2.setRNGSeed(int(cv_seed))
        inside = np.zeros((size, size), bool)
        inside[y0:y1, x0:x1] = True
        likely_in = inside & (seed_prob >= 0.5) if seed_prob is not None else None
        if likely_in is not None and 20 <= likely_in.sum() < inside.sum() - 20:
            mask[inside] = cv2.GC_PR_BGD
            mask[likely_in] = cv2.GC_PR_FGD
            cv2.grabCut(img, mask, _NO_RECT, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
        else:
            cv2.grabCut(img, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, iterations,
                        cv2.GC_INIT_WITH_RECT)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)
    if fg.sum() < 10:
        return feats
    return replace(feats, fg_prob=cv2.GaussianBlur(fg, (0, 0), 1.0))


def with_region_model(feats: PhotoFeatures, mask: np.ndarray) -> PhotoFeatures:
    """The features plus a colour model of the part learnt from the photo itself.

    Pixels well inside `mask` (eroded) give the part's HSV histogram, pixels well outside it
    (dilated) the background's; `fg_prob` is the part histogram's share at each pixel. Learnt
    once from a good hypothesis and then held fixed, so a wrong pose cannot redefine "part".

    Args:
        feats: from `photo_features`.
        mask: `(size, size) bool` a rendered hypothesis in the same ROI.

    Returns:
        A copy with `fg_prob`; unchanged when either side has fewer than 20 pixels.
    """
    m = mask.astype(np.uint8)
    k = np.ones((5, 5), np.uint8)
    inner = cv2.erode(m, k) > 0
    outer = cv2.dilate(m, k, iterations=2) == 0
    if inner.sum() < 20 or outer.sum() < 20:
        return feats
    n = int(np.prod(_BINS))
    bins = _hsv_bins(feats.crop).reshape(mask.shape)
    fg = np.bincount(bins[inner], minlength=n).astype(np.float64)
    bg = np.bincount(bins[outer], minlength=n).astype(np.float64)
    fg = (fg + 0.5) / (fg.sum() + 0.5 * n)
    bg = (bg + 0.5) / (bg.sum() + 0.5 * n)
    prob = (fg / (fg + bg))[bins].astype(np.float32)
    return replace(feats, fg_prob=prob)


def silhouette_points(mask: np.ndarray, depth: np.ndarray | None = None, *,
                      depth_step: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Contour pixels of a rendered silhouette, plus inner depth discontinuities.

    Args:
        mask: `(h, w) bool` rendered part pixels.
        depth: `(h, w) float32` metres (0 = no surface), or None.
        depth_step: a jump of at least this many metres between neighbours is an edge.

    Returns:
        `(points (n, 2) float32 pixel coordinates (x, y), angles (n,) float32 radians mod pi)`:
        the direction of the silhouette's (or depth's) gradient at each point, comparable with
        `PhotoFeatures.edge_angle`. Empty arrays for an empty mask.
    """
    m = mask.astype(np.uint8)
    eroded = np.asarray(cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                                  borderValue=0), np.uint8)
    edge = m & ~eroded
    edge = edge.astype(bool)
    mf = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(mf, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(mf, cv2.CV_32F, 0, 1)
    if depth is not None:
        d = np.where(mask, depth, 0.0).astype(np.float32)
        jump = np.zeros_like(mask, dtype=bool)
        jump[:, 1:] |= np.abs(np.diff(d, axis=1)) > depth_step
        jump[1:, :] |= np.abs(np.diff(d, axis=0)) > depth_step
        inner = jump & mask & ~edge
        if inner.any():
            dx = cv2.Sobel(d, cv2.CV_32F, 1, 0)
            dy = cv2.Sobel(d, cv2.CV_32F, 0, 1)
            gx = np.where(inner, dx, gx)
            gy = np.where(inner, dy, gy)
        edge |= inner
    ys, xs = np.nonzero(edge)
    pts = np.stack([xs, ys], axis=1).astype(np.float32)
    return pts, np.mod(np.arctan2(gy[ys, xs], gx[ys, xs]), np.pi).astype(np.float32)


def sample_edges(feats: PhotoFeatures, x: np.ndarray, y: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Edge distance and edge direction at pixel coordinates `x`, `y` (any equal shapes);
    points outside the window count as far from every edge (distance `tau`), so a pose cannot
    lower its cost by leaving the window."""
    size_y, size_x = feats.dist.shape
    xi = np.rint(x).astype(np.int64)
    yi = np.rint(y).astype(np.int64)
    inside = (xi >= 0) & (xi < size_x) & (yi >= 0) & (yi < size_y)
    xi = np.clip(xi, 0, size_x - 1)
    yi = np.clip(yi, 0, size_y - 1)
    return (np.where(inside, feats.dist[yi, xi], np.float32(feats.tau)),
            feats.edge_angle[yi, xi])


def edge_term(dist: np.ndarray, angle_at: np.ndarray, angles: np.ndarray, tau: float,
              w_orient: float, trim: float = 1.0) -> np.ndarray:
    """Oriented truncated chamfer per hypothesis (mean over points, last axis), in [0, 1].

    Args:
        dist: `(..., n)` distances to the nearest photo edge (already truncated at `tau`).
        angle_at: `(..., n)` that edge's gradient direction, radians.
        angles: `(..., n)` the rendered edge's gradient direction, radians.
        tau: truncation distance. w_orient: weight of the orientation term (|sin| of the
            angle between the two directions; 1 where no edge is within `tau`).
        trim: share of the points that count, in (0, 1]: the mean is taken over the
            best-matching `trim` of them (a trimmed chamfer: a partly occluded part is not
            pushed off its visible outline by the hidden one).
    """
    far = dist >= tau
    orient = np.where(far, 1.0, np.abs(np.sin(angle_at - angles)))
    per = (dist / tau + w_orient * orient) / (1.0 + w_orient)
    n = per.shape[-1]
    keep = max(1, int(np.ceil(trim * n)))
    if keep < n:
        per = np.partition(per, keep - 1, axis=-1)[..., :keep]
    out: np.ndarray = per.mean(axis=-1)
    return out


def pose_cost(points: np.ndarray, angles: np.ndarray, mask: np.ndarray, feats: PhotoFeatures,
              *, w_edge: float = 1.0, w_region: float = 1.0, w_orient: float = 1.0,
              trim: float = 1.0, outside: float = 1.0) -> tuple[float, float, float]:
    """Cost of one rendered hypothesis in the ROI.

    Args:
        points, angles: the render's edge pixels `(n, 2)` `(x, y)` and gradient directions
            `(n,)` (`silhouette_points`).
        mask: `(size, size) bool` rendered part pixels.
        feats: the photo's features in the same ROI.
        w_edge, w_region, w_orient: term weights (the region term is 0 without a colour
            model).
        trim: share of the edge points that count (`edge_term`).
        outside: weight in [0, 1] of rendered pixels the colour model says are not the
            part, in the soft IoU's union (1 = the plain soft IoU; lower forgives the
            occluded part of a true silhouette).

    Returns:
        `(cost, edge term in [0, 1], soft IoU in [0, 1])`; an empty render costs
        `w_edge + w_region` with edge term 1 and IoU 0.
    """
    if len(points) == 0 or not mask.any():
        return float(w_edge + w_region), 1.0, 0.0
    d, a = sample_edges(feats, points[:, 0], points[:, 1])
    edge = float(edge_term(d, a, angles, feats.tau, w_orient, trim))
    if feats.fg_prob is None or w_region == 0:
        return w_edge * edge, edge, 0.0
    p = feats.fg_prob
    inter = float(p[mask].sum())
    iou = inter / max(outside * (float(mask.sum()) - inter) + float(p.sum()), 1e-9)
    return w_edge * edge + w_region * (1.0 - iou), edge, iou
