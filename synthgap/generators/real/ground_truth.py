"""Labels of real photos from known poses: masks, visible boxes and visible fractions.

A scene's pinned views (`real_views`: a photo with the camera pose and each part's pose, e.g.
from a BOP scene, `synthgap.scenes.bop`) are rendered with synthgap's renderer; the exact
segmentation pass gives each photo's instance masks. A pixel belongs to the nearest rendered
part surface (the BOP convention for models without a measured depth map), so parts hide each
other as in the photo; anything in the photo that is not in the scene (unmodelled clutter,
hands) does not hide them.

Boxes follow BOP's `bbox_visib`: `(x, y, w, h)` with `w = x_max - x_min` and
`h = y_max - y_min` over the visible mask pixels (integers); `(-1, -1, -1, -1)` for an
instance with no visible pixel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from synthgap.generators.parts.assets import PartAsset
from synthgap.generators.real.views import iter_pinned_renders
from synthgap.scenes.schema import Scene

if TYPE_CHECKING:
    from synthgap.generators.gl.renderer import Renderer

__all__ = ["ViewLabels", "iter_view_labels", "mask_boxes"]


@dataclass(frozen=True, eq=False)
class ViewLabels:
    """Labels of one pinned view (one real photo).

    Attributes:
        view_index: index in `scene.real_views`.
        instance_mask: `(H, W) uint16`; k + 1 where `real_views[i].parts[k]` is the nearest
            surface (visible), 0 elsewhere.
        depth: `(H, W) float32` metres of the nearest part surface, 0 where none.
        categories: class label of each instance, in `parts` order.
        boxes_visib: `(n, 4) int64` BOP-style visible boxes `(x, y, w, h)`, -1 if not visible.
        px_visib: `(n,) int64` visible pixels of each instance.
        px_all: `(n,) int64` pixels each instance would cover if nothing hid it (inside the
            image).
    """

    view_index: int
    instance_mask: np.ndarray
    depth: np.ndarray
    categories: tuple[str, ...]
    boxes_visib: np.ndarray
    px_visib: np.ndarray
    px_all: np.ndarray

    @property
    def visib_fract(self) -> np.ndarray:
        """`(n,) float64` visible / unoccluded pixels (0 for an instance outside the image)."""
        return np.where(self.px_all > 0, self.px_visib / np.maximum(self.px_all, 1), 0.0)


def mask_boxes(instance_mask: np.ndarray, n: int) -> np.ndarray:
    """BOP-style boxes `(x, y, w, h)` of ids 1..n in a `(H, W)` integer mask.

    Returns:
        `(n, 4) int64`; row k is the box of id k + 1 (`w = x_max - x_min`), or -1s when the
        id has no pixel.
    """
    boxes = np.full((n, 4), -1, np.int64)
    ys, xs = np.nonzero(instance_mask)
    if len(ys) == 0 or n == 0:
        return boxes
    ids = instance_mask[ys, xs].astype(np.int64) - 1
    keep = ids < n
    ys, xs, ids = ys[keep], xs[keep], ids[keep]
    big = np.iinfo(np.int64).max
    x0 = np.full(n, big)
    y0 = np.full(n, big)
    x1 = np.full(n, -1)
    y1 = np.full(n, -1)
    np.minimum.at(x0, ids, xs)
    np.minimum.at(y0, ids, ys)
    np.maximum.at(x1, ids, xs)
    np.maximum.at(y1, ids, ys)
    seen = x1 >= 0
    boxes[seen] = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[seen]
    return boxes


def iter_view_labels(scene: Scene, *, renderer: Renderer | None = None,
                     parts: dict[str, PartAsset] | None = None,
                     view_indices: list[int] | None = None) -> Iterator[ViewLabels]:
    """Render the labels of `scene.real_views` (in order, or `view_indices`), one at a time.

    Args:
        scene: a loaded scene with `real_views` (e.g. `synthgap.scenes.bop.bop_scene_to_scene`).
        renderer: a `Renderer` of the scene's image size to reuse (default: one is made and
            closed).
        parts: the scene's part library if already loaded.
        view_indices: which views (default all).

    Yields:
        `ViewLabels` per view. Deterministic (geometry only; appearance is not used).

    Raises:
        ValueError: no `real_views`, an index out of range, a renderer of another size.
        synthgap.generators.gl.context.GLUnavailableError: no OpenGL platform works here.
    """
    for i, params, res in iter_pinned_renders(scene, renderer=renderer, parts=parts,
                                              view_indices=view_indices):
        n = len(params.parts)
        px = np.bincount(res.instance_mask.ravel(), minlength=n + 1)[1:n + 1]
        yield ViewLabels(view_index=i, instance_mask=res.instance_mask, depth=res.depth,
                         categories=tuple(p.category for p in params.parts),
                         boxes_visib=mask_boxes(res.instance_mask, n),
                         px_visib=px.astype(np.int64),
                         px_all=np.asarray(res.unoccluded_pixels, np.int64))
