"""How a trial's scene is scored: its renders against the photos, by the gap metric.

`gap_metrics` is the one place `synthgap tune` calls `synthgap.gap` (its public API); the
metric is being improved in parallel, so nothing else here depends on its report's shape.
`TrialRenderer` renders a scene's first `n` images of a fixed seed at a small size (every
trial sees the same random stream: common random numbers make trials comparable), reusing
one renderer and the part library, which knobs never change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.generators.parts.assets import PartAsset, load_parts
from synthgap.scenes.schema import Scene

__all__ = ["OBJECTIVES", "PHOTO_SUFFIXES", "TrialRenderer", "gap_metrics", "list_photos",
           "read_photos", "t_interval"]

#: Gap numbers a search may minimise (all: 0 or 0.5 = renders look like the photos).
OBJECTIVES = ("domain_accuracy", "domain_accuracy_look", "mmd2", "histogram_distance",
              "spectrum_distance")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def gap_metrics(renders: Sequence[np.ndarray], photos: Sequence[np.ndarray], *, seed: int,
                patch_size: int) -> dict[str, float]:
    """The gap between renders and photos (`synthgap.gap.measure_gap`), as plain numbers.

    Args:
        renders, photos: `(H, W, 3) uint8` images, at least 2 of each.
        seed: seed of patch positions and folds.
        patch_size: patch side, pixels.

    Returns:
        `{name: value}` for every name in `OBJECTIVES`.
    """
    from synthgap.gap import GapConfig, measure_gap

    report = measure_gap(list(renders), list(photos), rng=np.random.default_rng(seed),
                         config=GapConfig(patch_size=patch_size, patches_per_image=16,
                                          mmd_permutations=0,
                                          spectrum_bins=min(16, patch_size // 2)))
    summary = report.summary()
    return {name: float(summary[name]) for name in OBJECTIVES}


def t_interval(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95 % Student-t interval of repeated measurements (at least 2).

    Returns:
        `{"mean", "lo", "hi", "values"}`.
    """
    from scipy import stats

    x = np.asarray(values, float)
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return {"mean": float(x.mean()), "lo": float(x.mean() - half), "hi": float(x.mean() + half),
            "values": [float(v) for v in x]}


def list_photos(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted (links that leave it are refused).

    Raises:
        ValueError: not a folder, a link out of it, or fewer than 2 images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of photos")
    root = folder.resolve()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    for p in paths:
        if not p.resolve().is_relative_to(root):
            raise ValueError(f"{p}: links out of {folder}; copy the photo into the folder")
    if len(paths) < 2:
        raise ValueError(f"{folder}: found {len(paths)} photos (.png/.jpg/...); the gap needs "
                         "at least 2")
    return paths


def read_photos(paths: Sequence[Path], size: tuple[int, int]) -> list[np.ndarray]:
    """Read photos and reduce them to `size` (width, height) by area averaging."""
    import cv2

    from synthgap.data.layout import read_image

    out = []
    for p in paths:
        img = read_image(p)
        if img.shape[1::-1] != size:
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        out.append(img)
    return out


class TrialRenderer:
    """Renders scenes that share one part library, at one size."""

    def __init__(self, scene: Scene, size: tuple[int, int]) -> None:
        self.size = size
        self.parts: dict[str, PartAsset] = load_parts(scene)
        self.meshes = {name: asset.mesh for name, asset in self.parts.items()}
        self._renderer: object | None = None

    def render(self, scene: Scene, *, n: int, seed: int) -> list[np.ndarray]:
        """Images 0..n-1 of `scene` with run seed `seed`, at `size`, sensor effects applied."""
        from synthgap.generators.camera.sensor import apply_sensor
        from synthgap.generators.gl.renderer import Renderer
        from synthgap.generators.sampling.sample import sample

        if self._renderer is None:
            self._renderer = Renderer(*self.size)
        assert isinstance(self._renderer, Renderer)
        small = scene.with_image_size(*self.size)
        out = []
        for i in range(n):
            params = sample(small, self.parts, index=i, seed=seed)
            res = self._renderer.render(params, self.meshes)
            out.append(apply_sensor(res.rgb, params.sensor))
        return out

    def close(self) -> None:
        """Release the renderer."""
        if self._renderer is not None:
            self._renderer.close()  # type: ignore[attr-defined]
            self._renderer = None
