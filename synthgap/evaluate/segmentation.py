"""The segmentation task: a small U-Net per training set, scored by mIoU on held-out photos.

Rows, like recognition's (`synthgap.evaluate.protocol`), over the same photo folds: `SET`
(trained once on the set's images, tested on every tested photo), `SET+real` (half of every
batch from the set, half from the fold's training photos) and `real-only` (the fold's training
photos). Ground-truth pixels marked `IGNORE` (instances whose rendered visibility disagrees
with the recorded one) are neither trained on nor scored. One seed (the U-Net is the slow
part); confusion matrices are summed over folds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgap.evaluate.folds import Fold

__all__ = ["SegConfig", "run_segmentation"]


@dataclass(frozen=True)
class SegConfig:
    """U-Net training settings: steps, batch, learning rate, seed, torch device."""

    steps: int = 200
    batch: int = 8
    lr: float = 3e-3
    seed: int = 0
    device: str = "cpu"


def _job(args: tuple[Any, ...]) -> tuple[str, np.ndarray, np.ndarray]:
    """Train one row's U-Net; its `(tested photos, K, K)` confusion matrices, one per photo."""
    from synthgap.evaluate.models import TrainBudget, confusion, segment, train_segmenter

    name, parts, test_x, test_y, n_classes, cfg, photos = args
    net = train_segmenter(parts, n_classes, seed=cfg.seed,
                          budget=TrainBudget(cfg.steps, cfg.batch, cfg.lr), device=cfg.device)
    pred = segment(net, test_x, device=cfg.device)
    return name, np.asarray(photos), np.stack(
        [confusion(p, t, n_classes) for p, t in zip(pred, test_y, strict=True)])


def run_segmentation(sets: Mapping[str, tuple[np.ndarray, np.ndarray]], real_x: np.ndarray,
                     real_y: np.ndarray, folds: Sequence[Fold], classes: Sequence[str],
                     cfg: SegConfig, *, with_real: Sequence[str] = (), real_rows: bool = True,
                     real_name: str = "real-only", jobs: int = 1,
                     per_photo: dict[str, np.ndarray] | None = None
                     ) -> dict[str, dict[str, Any]]:
    """Train and score the rows (see the module docstring).

    Args:
        sets: per synthetic set, `(images (N, h, w, 3) uint8, class maps (N, h, w) uint8)`.
        real_x, real_y: the real photos and class maps at the same size (255 = ignore).
        folds: photo indices to train on / test on.
        classes: object class names (map value k + 1 is `classes[k]`, 0 background).
        cfg: training settings.
        with_real: sets that also get a `SET+real` row.
        real_rows: train the `real_name` row.
        real_name: its name (`upper` for an upper bound over other folds).
        jobs: training processes.
        per_photo: when given, filled with each row's `(len(real_x), K, K)` int64 confusion
            matrices, one per real photo (zero for photos the row did not test): what
            `synthgap.evaluate.stats.paired_miou_bootstrap` resamples.

    Returns:
        Per row: `miou` (mean IoU over the classes present) and `per_class` IoU.
    """
    from synthgap.evaluate.bench import run_jobs
    from synthgap.evaluate.stats import iou_per_class, mean_iou

    n = len(classes) + 1
    tested = sorted({i for f in folds for i in f.test})
    todo: list[tuple[Any, ...]] = []
    for name, (x, y) in sets.items():
        todo.append((name, [(x, y)], real_x[tested], real_y[tested], n, cfg, tested))
    for f in folds:
        train = (real_x[list(f.train)], real_y[list(f.train)])
        test = (real_x[list(f.test)], real_y[list(f.test)])
        for name in with_real:
            todo.append((f"{name}+real", [sets[name], train], *test, n, cfg, list(f.test)))
        if real_rows:
            todo.append((real_name, [train], *test, n, cfg, list(f.test)))
    confs: dict[str, np.ndarray] = {}
    for name, photos, conf in run_jobs(_job, todo, jobs):
        rows = confs.setdefault(name, np.zeros((len(real_x), n, n), np.int64))
        rows[photos] += conf
    if per_photo is not None:
        per_photo.update(confs)
    out = {}
    for name, conf_photos in confs.items():
        conf = conf_photos.sum(0)
        iou = iou_per_class(conf)
        if not np.isfinite(iou).any():
            raise ValueError(f"{name}: no class present in the scored pixels")
        out[name] = {"miou": round(mean_iou(conf), 4),
                     "per_class": {c: (round(float(v), 4) if np.isfinite(v) else None)
                                   for c, v in zip(["background", *classes], iou, strict=True)}}
    return out
