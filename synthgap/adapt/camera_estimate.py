"""Estimators of a real camera's look from a few photos (pure functions, NumPy + OpenCV).

Each estimator takes `(H, W, 3) uint8` RGB images and returns plain numbers; the camera-model
adapter (`synthgap.adapt.camera`) calls them in this order, each on renders already corrected by
the steps before it:

* `white_balance_gains`: per-channel gains (grey world on mid-tone pixels, luma kept at 1).
* `tone_lut`: the monotone luma curve mapping render luma quantiles to photo luma quantiles
  (histogram specification), and `fit_gamma` its `gain · y^gamma` summary.
* `vignetting_strength`: corner darkening `v` of `1 - v·(r/r_corner)²`, from the ratio of the
  photos' and the renders' mean radial luma profiles.
* `noise_curve`: noise std as a function of intensity, `σ(I)² = a + b·I`, from the fine-scale
  residual (Immerkær's operator) of flat pixels, binned by local intensity; the renders' own
  residual level (texture that passes the flatness test) is subtracted in quadrature.
* `blur_sigma_match`: the Gaussian blur sigma that gives the renders the photos' edge sharpness
  (ratio of fine-scale to coarse-scale gradient energy on strong edges).
* `jpeg_quality_estimate`: JPEG quality from 8×8 blockiness and a re-compression search, or None
  when the photos show no block grid (PNG/raw cameras).

Robustness: noise, blur and JPEG are local measurements and hold with a handful of photos.
White balance, tone curve and vignetting compare *global* statistics of photos and renders;
with unpaired images they also absorb content differences (a blue part, a dark background), so
they are only as good as the renders' content is representative. With pixel-aligned pairs
(`real_views`) the content is the same and they measure the camera alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from synthgap.data.colour import GREY_WEIGHTS
from synthgap.generators.camera.sensor import jpeg_round_trip

__all__ = [
    "LUMA",
    "blockiness",
    "blur_sigma_match",
    "edge_sharpness",
    "fit_gamma",
    "jpeg_quality_estimate",
    "luma",
    "noise_curve",
    "radial_profile",
    "tone_lut",
    "vignetting_strength",
    "white_balance_gains",
]

#: ITU-R 601 luma weights of R, G, B.
LUMA = GREY_WEIGHTS

# Immerkær (1996): the response of this kernel to an image is zero on any locally planar
# intensity and sqrt(36) = 6 times the noise std for white noise; E|r| = σ·6·sqrt(2/π).
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def luma(image: np.ndarray) -> np.ndarray:
    """`(H, W, 3) uint8` RGB -> `(H, W) float32` luma in [0, 1]."""
    return (image.astype(np.float32) @ LUMA) / 255.0


def _select(masks: Sequence[np.ndarray] | None, i: int, shape: tuple[int, ...]) -> np.ndarray:
    """Pixels to use of image i: `masks[i] > 0` (part pixels), or all when no masks."""
    if masks is None:
        return np.ones(shape[:2], bool)
    return np.asarray(masks[i]) > 0


def white_balance_gains(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray],
                        *, lo: float = 0.05, hi: float = 0.95,
                        synthetic_masks: Sequence[np.ndarray] | None = None,
                        real_masks: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Per-channel gains that give the renders the photos' mean colour (grey world).

    Only pixels whose luma is within [lo, hi] count, so black and clipped pixels do not bias
    the estimate; with label maps, only part pixels (label > 0) count, so a render's flat
    stand-in background does not either. Gains are normalised so that the luma of a grey pixel
    is unchanged (the tone curve handles brightness).

    Returns:
        `(3,) float64` gains for R, G, B, each in [0.25, 4].
    """
    def mean_rgb(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None
                 ) -> np.ndarray:
        sums, n = np.zeros(3), 0
        for i, im in enumerate(images):
            y = luma(im)
            sel = (y >= lo) & (y <= hi) & _select(masks, i, im.shape)
            sums += im[sel].astype(np.float64).sum(0)
            n += int(sel.sum())
        if n == 0:
            return np.full(3, 128.0)
        return sums / n

    ms, mr = mean_rgb(synthetic, synthetic_masks), mean_rgb(real, real_masks)
    # chromaticities: each mean divided by its own luma
    cs, cr = ms / max(float(ms @ LUMA), 1e-6), mr / max(float(mr @ LUMA), 1e-6)
    gains = cr / np.maximum(cs, 1e-6)
    gains /= float(gains @ LUMA)  # a grey pixel keeps its luma
    return np.clip(gains, 0.25, 4.0)


def _luma_hist(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None) -> np.ndarray:
    h = np.zeros(256)
    for i, im in enumerate(images):
        y = np.clip(np.rint(luma(im) * 255), 0, 255).astype(np.uint8)[_select(masks, i, im.shape)]
        # each image weighted equally, whatever its size
        h += np.bincount(y.ravel(), minlength=256) / max(y.size, 1)
    return h


def tone_lut(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
             synthetic_masks: Sequence[np.ndarray] | None = None,
             real_masks: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The monotone luma curve from the renders' luma distribution to the photos'.

    With label maps, only part pixels (label > 0) enter the two distributions.

    Returns:
        `(256,) float32`, output luma in [0, 1] for each input luma level 0..255
        (non-decreasing; mid-rank histogram specification, as `histogram.match_lut`).
    """
    from synthgap.adapt.histogram import match_lut

    hs, hr = _luma_hist(synthetic, synthetic_masks), _luma_hist(real, real_masks)
    if hs.sum() == 0 or hr.sum() == 0:  # no part pixels at all: fall back to every pixel
        hs, hr = _luma_hist(synthetic, None), _luma_hist(real, None)
    lut = match_lut(hs, hr).astype(np.float32) / 255.0
    return np.maximum.accumulate(lut)


def fit_gamma(lut: np.ndarray) -> tuple[float, float]:
    """Least-squares `out = gain · in^gamma` (both in [0, 1]) over the lut's mid range.

    Returns:
        `(gain, gamma)`; `(1, 1)` when the curve is flat.
    """
    x = (np.arange(256) / 255.0)[16:240]
    y = np.asarray(lut, np.float64)[16:240]
    ok = y > 1e-3
    if ok.sum() < 8:
        return 1.0, 1.0
    gamma, log_gain = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(np.exp(log_gain)), float(gamma)


def radial_profile(images: Sequence[np.ndarray], bins: int = 8,
                   masks: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean luma per radius bin (`r / r_corner` in `bins` equal steps of r²) and pixel counts.

    Each image is weighted equally; images of different sizes share the normalised radius.
    With label maps only part pixels (label > 0) count.

    Returns:
        `(profile, counts)`, each `(bins,)`; a bin without pixels has profile 0.
    """
    from synthgap.generators.camera.sensor import radius2

    prof, total, used = np.zeros(bins), np.zeros(bins), np.zeros(bins)
    for i, im in enumerate(images):
        r2 = radius2(im.shape[0], im.shape[1])
        sel = _select(masks, i, im.shape).ravel()
        idx = np.minimum((r2 * bins).astype(np.int64), bins - 1).ravel()[sel]
        y = luma(im).ravel()[sel]
        s = np.bincount(idx, weights=y, minlength=bins)
        n = np.bincount(idx, minlength=bins)
        prof += np.where(n > 0, s / np.maximum(n, 1), 0.0)
        used += n > 0
        total += n
    return prof / np.maximum(used, 1), total


def vignetting_strength(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray],
                        bins: int = 8, *, synthetic_masks: Sequence[np.ndarray] | None = None,
                        real_masks: Sequence[np.ndarray] | None = None,
                        min_pixels: int = 2000) -> float:
    """Corner darkening `v` of the gain `1 - v·(r/r_corner)²` that the photos show more than
    the renders (least squares on the ratio of the radial luma profiles), clipped to [0, 0.9].

    With label maps (aligned views: the same part pixels in render and photo) only part pixels
    count, and only radius bins with at least `min_pixels` of them; when fewer than 3 bins
    qualify, or the central bin does not, the data cannot tell and 0 is returned.
    """
    ps, ns = radial_profile(synthetic, bins, synthetic_masks)
    pr, nr = radial_profile(real, bins, real_masks)
    ok = (ns >= min_pixels) & (nr >= min_pixels) & (ps > 1e-3)
    if synthetic_masks is None or real_masks is None:
        ok = ps > 1e-3
    if ok.sum() < 3 or not ok[0]:
        return 0.0
    ratio = pr[ok] / ps[ok]
    ratio = ratio / max(ratio[0], 1e-6)
    r2 = ((np.arange(bins) + 0.5) / bins)[ok]
    # ratio ≈ 1 - v·(r2 - r2_0) relative to the first bin  ->  least squares for v
    d = r2 - r2[0]
    v = -float(np.sum(d * (ratio - 1.0)) / max(np.sum(d * d), 1e-12))
    return float(np.clip(v, 0.0, 0.9))


def _flat_residuals(image: np.ndarray, flat_quantile: float) -> tuple[np.ndarray, np.ndarray]:
    """`(local mean luma, |Immerkær residual|)` of the flattest pixels of one image."""
    y = luma(image)
    # per channel: the sensor model adds independent noise to each channel
    rgb = image.astype(np.float32) / 255.0
    r = np.abs(cv2.filter2D(rgb, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT)).mean(2)
    smooth = cv2.GaussianBlur(y, (0, 0), 1.5)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    g = np.hypot(gx, gy)[1:-1, 1:-1]
    r, smooth = r[1:-1, 1:-1], smooth[1:-1, 1:-1]
    sel = g <= np.quantile(g, flat_quantile)
    # clipped pixels have no visible noise: leave them out
    sel &= (smooth > 2 / 255) & (smooth < 253 / 255)
    return smooth[sel], r[sel]


def _sigma_from_abs(r: np.ndarray) -> float:
    return float(np.mean(r) * np.sqrt(np.pi / 2.0) / 6.0) if r.size else 0.0


def noise_curve(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *, bins: int = 8,
                flat_quantile: float = 0.3, min_pixels: int = 200
                ) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Noise std of the photos as a function of intensity, beyond the renders' own residual.

    Returns:
        `(a, b, levels, sigmas)`: the fit `σ(I)² = a + b·I` (σ and I as fractions of full scale,
        a, b >= 0), and the measured `(k,)` bin centres and σ per bin (bins with fewer than
        `min_pixels` flat pixels are left out).
    """
    def binned(images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        means, res = zip(*(_flat_residuals(im, flat_quantile) for im in images), strict=True)
        m, r = np.concatenate(means), np.concatenate(res)
        idx = np.minimum((m * bins).astype(np.int64), bins - 1)
        sig = np.array([_sigma_from_abs(r[idx == k]) for k in range(bins)])
        cnt = np.bincount(idx, minlength=bins)
        return sig, cnt, np.array([_sigma_from_abs(r)])

    sig_r, cnt_r, _ = binned(real)
    _, _, sig_s_all = binned(synthetic)
    levels = (np.arange(bins) + 0.5) / bins
    keep = cnt_r >= min_pixels
    levels, var = levels[keep], np.maximum(sig_r[keep] ** 2 - sig_s_all[0] ** 2, 0.0)
    if len(levels) == 0:
        return 0.0, 0.0, levels, np.sqrt(var)
    if len(levels) == 1:
        return float(var[0]), 0.0, levels, np.sqrt(var)
    from scipy.optimize import nnls

    w = np.sqrt(cnt_r[keep].astype(np.float64))
    (a, b), _ = nnls(np.stack([np.ones_like(levels), levels], 1) * w[:, None], var * w)
    return float(a), float(b), levels, np.sqrt(var)


def edge_sharpness(images: Sequence[np.ndarray], *, edge_quantile: float = 0.95) -> float:
    """Mean ratio of fine-scale to coarse-scale gradient magnitude on strong edges.

    The coarse scale is a Gaussian of sigma 1.5 px; strong edges are the pixels above
    `edge_quantile` of the coarse gradient magnitude. A sharper image has a larger ratio.
    """
    ratios = []
    for im in images:
        y = luma(im)
        coarse = cv2.GaussianBlur(y, (0, 0), 1.5)
        g_f = np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1))
        g_c = np.hypot(cv2.Sobel(coarse, cv2.CV_32F, 1, 0), cv2.Sobel(coarse, cv2.CV_32F, 0, 1))
        sel = g_c >= max(np.quantile(g_c, edge_quantile), 1e-4)
        if sel.any():
            ratios.append(float(g_f[sel].mean() / g_c[sel].mean()))
    return float(np.mean(ratios)) if ratios else 1.0


def blur_sigma_match(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
                     degrade: Callable[[Sequence[np.ndarray], float], list[np.ndarray]]
                     | None = None, sigmas: Sequence[float] | None = None,
                     on_trial: Callable[[], object] | None = None) -> float:
    """The Gaussian blur sigma (px) that brings the renders' edge sharpness to the photos'.

    Args:
        synthetic, real: images.
        degrade: optional `f(images, sigma) -> images` that applies the blur *and* whatever
            follows it in the camera model (noise, JPEG), so both sides are compared after the
            same processing; default: blur only.
        sigmas: candidate sigmas, all tried; default: 0 to 3 px in steps of 0.1, searched
            coarse to fine (every 0.5 px, then every 0.1 px within 0.4 px of the best: 15
            trials instead of 31; sharpness falls steadily with sigma, so the same answer).
        on_trial: called after each trial (a progress bar's `update`).

    Returns:
        The candidate whose sharpness is closest to the photos' (0 when the renders are
        already softer than the photos); ties go to the smaller sigma.
    """
    target = edge_sharpness(real)

    def blur(images: Sequence[np.ndarray], s: float) -> list[np.ndarray]:
        return [cv2.GaussianBlur(im, (0, 0), s) if s > 0 else im for im in images]

    apply = degrade or blur
    errors: dict[float, float] = {}

    def best_of(grid: Sequence[float]) -> float:
        for s in grid:
            if s not in errors:
                errors[s] = abs(edge_sharpness(apply(synthetic, s)) - target)
                if on_trial is not None:
                    on_trial()
        return min(grid, key=lambda s: (errors[s], s))

    if sigmas is not None:
        return float(best_of([float(s) for s in sigmas]))
    coarse = best_of([round(0.5 * i, 1) for i in range(7)])
    fine = [round(coarse + 0.1 * k, 1) for k in range(-4, 5) if 0 <= coarse + 0.1 * k <= 3.0]
    return float(best_of(sorted(set(fine) | {s for s in errors})))


def blockiness(image: np.ndarray) -> float:
    """Mean |luma step| across 8-px block boundaries divided by that inside blocks (>= 0).

    About 1 for images that were never JPEG-compressed, clearly above 1 for JPEG at moderate
    quality (the 8×8 DCT grid leaves steps at the block edges).
    """
    y = luma(image) * 255.0
    dx = np.abs(np.diff(y, axis=1))
    dy = np.abs(np.diff(y, axis=0))
    bx = (np.arange(dx.shape[1]) % 8) == 7
    by = (np.arange(dy.shape[0]) % 8) == 7
    at = dx[:, bx].mean() + dy[by].mean()
    inside = dx[:, ~bx].mean() + dy[~by].mean()
    return float(at / max(inside, 1e-6))


def jpeg_quality_estimate(real: Sequence[np.ndarray], *, threshold: float = 1.06,
                          qualities: Sequence[int] = tuple(range(30, 101, 5))) -> int | None:
    """The JPEG quality the photos were saved at, or None when they show no JPEG block grid.

    A photo decoded from a JPEG of quality q changes little when re-encoded at q and more at
    any other quality below it; the estimate is the candidate that minimises the mean change
    per unit of quality step (the "knee" of the re-compression error), over photos whose
    blockiness is above `threshold`.
    """
    blocky = [im for im in real if blockiness(im) > threshold]
    if len(blocky) * 2 < len(real):  # most photos show no block grid: not a JPEG camera
        return None
    qs = np.asarray(qualities)
    err = np.zeros(len(qs))
    for im in blocky:
        f = im.astype(np.float32)
        err += [float(np.abs(jpeg_round_trip(im, int(q)).astype(np.float32) - f).mean())
                for q in qs]
    err /= len(blocky)
    # the original quality is where the error curve stops falling steeply: the largest drop
    # from the previous candidate, relative to the error left
    drops = (err[:-1] - err[1:]) / np.maximum(err[1:], 1e-6)
    return int(qs[1:][int(np.argmax(drops))])
