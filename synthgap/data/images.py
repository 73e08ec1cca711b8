"""Checks and samples of image arrays shared by the adapters and the gap metric.

Images are `(H, W, 3) uint8` RGB arrays (grey `(H, W)` arrays are made 3-channel by
`as_images`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from synthgap.data.layout import MAX_IMAGE_PIXELS

__all__ = ["as_images", "channel_histograms", "sample_patches"]


def as_images(images: Sequence[np.ndarray], *, name: str = "images") -> list[np.ndarray]:
    """Check a sequence of images: each `(H, W, 3) uint8` (or `(H, W)` grey, made 3-channel).

    Raises:
        ValueError: an element of another shape or dtype (names its position).
    """
    out = []
    if len(images) == 0:
        raise ValueError(f"{name}: expected at least one image, got none")
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise ValueError(f"{name}[{i}]: expected uint8 pixels, got {img.dtype}")
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"{name}[{i}]: expected an (H, W, 3) RGB image, got shape {img.shape}")
        out.append(img)
    return out



def sample_patches(images: Sequence[np.ndarray], *, patch_size: int, per_image: int,
                   rng: np.random.Generator, name: str = "images"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Cut `per_image` random square patches from every image.

    Images whose short side is below `patch_size` are scaled up (bilinear) until it fits.

    Args:
        images: `(H, W, 3) uint8` images.
        patch_size: patch side, pixels.
        per_image: patches per image.
        rng: source of the patch positions.
        name: what the images are, for messages.

    Returns:
        `patches` `(N, patch_size, patch_size, 3) uint8` and `groups` `(N,) int64`, the index of
        the image each patch came from; `N = len(images) * per_image`.
    """
    out = np.empty((len(images) * per_image, patch_size, patch_size, 3), np.uint8)
    groups = np.repeat(np.arange(len(images), dtype=np.int64), per_image)
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        if min(h, w) < patch_size:
            s = patch_size / min(h, w)
            size = (max(patch_size, round(w * s)), max(patch_size, round(h * s)))
            if size[0] * size[1] > MAX_IMAGE_PIXELS:
                raise ValueError(f"{name}[{i}]: a {w}x{h} image would be scaled up to "
                                 f"{size[0]}x{size[1]} pixels to cut {patch_size}-pixel patches; "
                                 "remove such thin images or use a smaller patch size")
            img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
            h, w = img.shape[:2]
        ys = rng.integers(0, h - patch_size + 1, per_image)
        xs = rng.integers(0, w - patch_size + 1, per_image)
        for k, (y, x) in enumerate(zip(ys, xs, strict=True)):
            out[i * per_image + k] = img[y:y + patch_size, x:x + patch_size]
    return out, groups


def channel_histograms(images: Sequence[np.ndarray]) -> np.ndarray:
    """Per-channel intensity histograms, each image weighted equally.

    Returns:
        `(3, 256) float64`, each row sums to 1.
    """
    hist = np.zeros((3, 256))
    for img in images:
        for c in range(3):
            h = np.bincount(img[..., c].ravel(), minlength=256).astype(np.float64)
            hist[c] += h / h.sum()
    return hist / len(images)
