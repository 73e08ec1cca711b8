"""Structure aspects of whole images: what blotches, colour noise and flat renders change.

The patch features of `synthgap.gap.metric` (HOG, colour moments, radial spectrum, gradient
energy) describe 64-pixel patches one at a time. A linear classifier on them can call FDA's
blotchy images *closer* to cluttered photos than clean renders are: a coloured blotch inside a
patch looks like texture. The aspects here are measured on the whole image (resized to
`WORK_WIDTH` pixels wide) and compare how intensity and colour *vary across it*:

* `blotchiness`: share of the coarse band-pass energy (difference of Gaussians, σ = 2 and 8
  px, colour) that lies away from edges (grey gradient > 0.03, dilated by 4 px). Photos
  change colour at edges; blotches change it in the open.
* `colour_noise`: log10 of fine-scale chroma energy over fine-scale luma energy (residual of a
  σ = 1 px blur). Cameras and JPEG keep chroma smooth; per-channel noise and colour fringes do not.
* `edge_density`: share of pixels with grey gradient magnitude > 0.03 (flat renders: low).
* `local_contrast`: median log10 local standard deviation of grey (5×5 windows).
* `gradient_sparsity`: log10 kurtosis of the gradient magnitude (sparse, sharp edges: high;
  noise-like texture: low).
* `high_frequency`: log10 of fine-scale grey energy over the grey variance.

Each aspect's distance between a synthetic and a real set is the 1-Wasserstein distance
between the per-image values, in units of the real photos' standard deviation (never below
the aspect's `FLOORS` value, so two near-identical photos cannot blow it up). The set's
`structure_distance` is the **largest** aspect distance: a set is only as close as its worst
aspect, so fixing some aspects cannot hide a ruined one.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy.stats import wasserstein_distance

from synthgap.data.colour import GREY_WEIGHTS

__all__ = ["ASPECTS", "FLOORS", "WORK_WIDTH", "aspect_distances", "image_structure", "real_spread"]

#: Aspect names, in column order of `image_structure`.
ASPECTS = ("blotchiness", "colour_noise", "edge_density", "local_contrast",
           "gradient_sparsity", "high_frequency")
#: Smallest real spread each aspect's distance is divided by (same order as `ASPECTS`).
FLOORS = np.array([0.005, 0.03, 0.01, 0.03, 0.03, 0.03])
#: Images are resized to this width before the aspects are measured, pixels.
WORK_WIDTH = 160
_EDGE = 0.03


def _aspects(img: np.ndarray) -> list[float]:
    h, w = img.shape[:2]
    size = (WORK_WIDTH, max(8, round(WORK_WIDTH * h / w)))
    x = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    g = np.ascontiguousarray(x @ GREY_WEIGHTS.astype(np.float32))
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    gm = np.hypot(gx, gy)
    edge = (gm > _EDGE).astype(np.uint8)
    zone = cv2.dilate(edge, np.ones((9, 9), np.uint8)) > 0
    dog = cv2.GaussianBlur(x, (0, 0), 2.0) - cv2.GaussianBlur(x, (0, 0), 8.0)
    e = (dog ** 2).sum(axis=2)
    blot = float(e[~zone].sum() / (e.sum() + 1e-9))

    def fine(c: np.ndarray) -> float:
        return float(((c - cv2.GaussianBlur(c, (0, 0), 1.0)) ** 2).mean())

    a = np.ascontiguousarray(x[..., 0] - x[..., 1])
    b = np.ascontiguousarray(0.5 * (x[..., 0] + x[..., 1]) - x[..., 2])
    fg = fine(g)
    colour_noise = float(np.log10((fine(a) + fine(b) + 1e-6) / (fg + 1e-6)))
    m, m2 = cv2.blur(g, (5, 5)), cv2.blur(g * g, (5, 5))
    local = float(np.median(np.log10(np.sqrt(np.maximum(m2 - m * m, 0.0)) + 1e-3)))
    g2 = float((gm ** 2).mean())
    sparsity = float(np.log10((gm ** 4).mean() / (g2 ** 2 + 1e-12) + 1e-6))
    high = float(np.log10(fg / (float(g.var()) + 1e-9) + 1e-6))
    return [blot, colour_noise, float(edge.mean()), local, sparsity, high]


def image_structure(images: Sequence[np.ndarray]) -> np.ndarray:
    """The structure aspects of every image (see the module docstring).

    Args:
        images: `(H, W, 3) uint8` RGB images (any sizes).

    Returns:
        `(N, len(ASPECTS)) float64`, columns in `ASPECTS` order.
    """
    return np.array([_aspects(np.asarray(img)) for img in images], np.float64).reshape(
        len(images), len(ASPECTS))


def real_spread(real: np.ndarray) -> np.ndarray:
    """`(A,)` the unit of each aspect's distance: `max(std(real, ddof=1), FLOORS)`.

    Args:
        real: `(N, A)` aspects of the real photos, N >= 2.
    """
    if len(real) < 2:
        raise ValueError(f"real: the structure distance needs at least 2 photos, got {len(real)}")
    spread: np.ndarray = np.maximum(real.std(axis=0, ddof=1), FLOORS)
    return spread


def aspect_distances(synthetic: np.ndarray, real: np.ndarray, *,
                     spread: np.ndarray | None = None) -> np.ndarray:
    """Per aspect, the 1-Wasserstein distance between the sets' values over the real spread.

    Args:
        synthetic: `(M, A)` aspects of the synthetic images (`image_structure`).
        real: `(N, A)` aspects of the real photos, N >= 2.
        spread: `(A,)` units (default `real_spread(real)`).

    Returns:
        `(A,) float64` distances in units of `spread`.
    """
    spread = real_spread(real) if spread is None else spread
    return np.array([wasserstein_distance(synthetic[:, j], real[:, j]) / spread[j]
                     for j in range(real.shape[1])])
