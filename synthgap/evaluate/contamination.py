"""Real objects in training renders: measure them, and clean the background photos.

Renders composited over the user's photos (`background.image_files`) show whatever those
photos show behind the parts: when the photos are the labelled photos, real instances of the
very classes being learnt, unlabelled, inside the renders' crops. `contamination` measures the
share of instance-box pixels that show a labelled real object (the photos' ground truth, as
each render's recorded background crop shows it: `synthgap.scenefit.plates.object_pixel_share`);
`clean_backgrounds` writes plates of the photos, the labelled objects filled in
(`synthgap.scenefit.plates.fill_plate`: from other photos of the same view, else inpainted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from synthgap.evaluate.crops import RenderLabels
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


def contamination(labels: RenderLabels, masks: Mapping[str, np.ndarray]) -> Contamination:
    """Measure labelled real-object pixels in the renders' instance boxes.

    Args:
        labels: the synthetic dataset's labels (its folder holds the records and depth maps).
        masks: labelled-object masks of background photos, by resolved path
            (`object_masks`); backgrounds not in it count as clean.

    Returns:
        The measure (0 crops: shares 0).
    """
    from synthgap.scenefit.plates import object_pixel_share

    stats = object_pixel_share(labels.root, {k: v.astype(np.uint8) for k, v in masks.items()})
    return Contamination(mean_share=stats.mean_share, crops_over_10pct=stats.share_over_10pct,
                         crops=stats.crops)


def clean_backgrounds(real: RealData, indices: Sequence[int], out_dir: Path, *,
                      dilate: int = 9) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Copies of these photos with labelled objects filled in from their surroundings.

    Args:
        real: BOP photos with pixel labels.
        indices: photos to clean.
        out_dir: folder for the cleaned PNGs (`SCENE_ID.png`; created).
        dilate: pixels the object masks are grown by before filling (pose error, mask edges,
            contact shadows).

    Returns:
        The cleaned files (in `indices` order) and, by resolved cleaned path, the mask of
        labelled-object pixels left unfilled (empty unless the fill missed some), for
        `contamination` of renders over them.
    """
    from synthgap.data.layout import read_image, write_image_atomic
    from synthgap.scenefit.plates import fill_plate

    out_dir.mkdir(parents=True, exist_ok=True)
    masks = object_masks(real, indices)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    photos = [read_image(real.photos[i].path) for i in indices]
    objects = [masks[str(Path(real.photos[i].path).resolve())] for i in indices]
    holes = [cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in objects]
    files, left = [], {}
    for k, i in enumerate(indices):
        others = [(photos[j], holes[j]) for j in range(len(photos)) if j != k]
        plate, _, _ = fill_plate(photos[k], holes[k], others)
        path = (out_dir / f"{real.photos[i].key.replace('/', '_')}.png").resolve()
        write_image_atomic(path, plate)
        files.append(path)
        left[str(path)] = objects[k] & ~holes[k]
    return files, left
