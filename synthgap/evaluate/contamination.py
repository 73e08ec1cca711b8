"""Real objects in training renders: measure them, and clean the background photos.

Renders composited over the user's photos (`background.image_files`) show whatever those
photos show behind the parts: when the photos are the labelled photos, real instances of the
very classes being learnt, unlabelled, inside the renders' crops. `contamination` measures the
share of crop pixels that show a labelled real object (from the photos' ground truth and each
render's recorded background crop); `clean_backgrounds` writes copies of the photos with the
labelled objects' pixels filled in from their surroundings (`cv2.inpaint`), for rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from synthgap.evaluate.crops import RenderLabels, square_crop
from synthgap.evaluate.real import RealData

__all__ = ["Contamination", "clean_backgrounds", "contamination", "object_masks"]


@dataclass(frozen=True)
class Contamination:
    """Labelled real-object pixels in training render crops.

    Attributes:
        mean_share: mean over crops of the share of crop pixels that show a labelled real
            object of a background photo.
        crops_over_10pct: share of crops with at least 10 % such pixels.
        crops: crops measured.
    """

    mean_share: float
    crops_over_10pct: float
    crops: int


def object_masks(real: RealData, indices: Sequence[int]) -> dict[str, np.ndarray]:
    """Full-size boolean masks of labelled-object pixels of these photos (from `seg_y`,
    ignored instances included), keyed by the resolved photo path."""
    if real.seg_y is None:
        raise ValueError("the real photos have no pixel labels (only BOP data has them)")
    from synthgap.scenes.io import photo_size

    out = {}
    for i in indices:
        w, h = photo_size(real.photos[i].path)
        small = (real.seg_y[i] != 0).astype(np.uint8)
        out[str(Path(real.photos[i].path).resolve())] = cv2.resize(
            small, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return out


def _background_mask(mask: np.ndarray, crop: tuple[float, float, float, float], width: int,
                     height: int) -> np.ndarray:
    """The part of a photo mask a render's background shows, as the compositor crops it."""
    h, w = mask.shape
    x0, y0, x1, y1 = crop
    c = mask[int(y0 * h):max(int(y1 * h), int(y0 * h) + 1),
             int(x0 * w):max(int(x1 * w), int(x0 * w) + 1)]
    return cv2.resize(c.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)


def contamination(labels: RenderLabels, masks: Mapping[str, np.ndarray], *,
                  size: int = 32) -> Contamination:
    """Measure labelled real-object pixels in the renders' crops.

    Args:
        labels: the synthetic dataset's labels (backgrounds recorded per render).
        masks: labelled-object masks of background photos, by resolved path
            (`object_masks`); backgrounds not in it count as clean.
        size: resolution the share is measured at.

    Returns:
        The measure (0 crops: shares 0).
    """
    from synthgap.data.layout import read_label_png

    shares: list[float] = []
    for i, boxes in enumerate(labels.boxes):
        if not boxes:
            continue
        bg = labels.backgrounds[i]
        mask = masks.get(str(Path(bg[0]).resolve())) if bg is not None else None
        if bg is None or mask is None:
            shares += [0.0] * len(boxes)
            continue
        own = read_label_png(labels.masks[i])
        seen = _background_mask(mask, bg[1], own.shape[1], own.shape[0]) * (own == 0)
        img = np.repeat((seen * 255).astype(np.uint8)[:, :, None], 3, axis=2)
        for box, _ in boxes:
            shares.append(float(square_crop(img, box, size)[:, :, 0].mean() / 255.0))
    arr = np.array(shares)
    return Contamination(mean_share=float(arr.mean()) if len(arr) else 0.0,
                         crops_over_10pct=float((arr >= 0.1).mean()) if len(arr) else 0.0,
                         crops=len(arr))


def clean_backgrounds(real: RealData, indices: Sequence[int], out_dir: Path, *,
                      dilate: int = 9) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Copies of these photos with labelled objects filled in from their surroundings.

    Args:
        real: BOP photos with pixel labels.
        indices: photos to clean.
        out_dir: folder for the cleaned PNGs (`SCENE_ID.png`; created).
        dilate: pixels the object masks are grown by before filling (mask edges, shadows).

    Returns:
        The cleaned files (in `indices` order) and, by resolved cleaned path, the mask of
        labelled-object pixels left unfilled (empty unless the fill missed some), for
        `contamination` of renders over them.
    """
    from synthgap.data.layout import read_image, write_image_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    masks = object_masks(real, indices)
    kernel = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
    files, left = [], {}
    for i in indices:
        photo = real.photos[i]
        mask = masks[str(Path(photo.path).resolve())]
        fill = cv2.dilate(mask.astype(np.uint8), kernel)
        img = read_image(photo.path)
        clean = cv2.inpaint(img, fill, 5, cv2.INPAINT_TELEA)
        path = (out_dir / f"{photo.key.replace('/', '_')}.png").resolve()
        write_image_atomic(path, clean)
        files.append(path)
        left[str(path)] = mask & (fill == 0)
    return files, left
