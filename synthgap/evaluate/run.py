"""`Evaluator`: real photos read once, then one row group per synthetic set.

    real = read_real("my_photos/")                       # BOP / COCO / YOLO / class folders
    ev = Evaluator(real, EvalConfig(seeds=5), folds=5, curve=(5, 10, 20))
    ev.add_dataset("raw", "out/renders")                 # a synthgap render / adapt output
    ev.add_crops("fitted", crop_set)                     # or crops made elsewhere
    result = ev.result()                                  # rows with intervals, timings

Rows (cross-validated over the photos, `synthgap.evaluate.protocol`): `real-only@n` for each
n of the curve (computed once), `SET` (renders only) and `SET+real@n` per set. Intervals:
every `SET+real@n` against `real-only@n` (what the renders add to n photos), every `SET`
against the first set added (the baseline, e.g. raw renders).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.evaluate.crops import CropSet, derive, read_render_labels, real_crops
from synthgap.evaluate.folds import Fold, photo_folds
from synthgap.evaluate.protocol import (
    EvalConfig,
    RowCounts,
    TrainingSet,
    compare,
    run_recognition,
    summarise,
)
from synthgap.evaluate.real import LabelError, RealData

__all__ = ["Evaluation", "Evaluator"]

#: A progress-bar factory: `(description, total) -> update(n)` (None: no bars).
BarFactory = Callable[[str, int], Callable[[int], None]]


@dataclass
class Evaluation:
    """The result of an evaluation (what the report shows).

    Attributes:
        rows: summarised rows (`synthgap.evaluate.protocol.summarise` plus `vs`/`ci95`).
        sets: per synthetic set: `crops`, `renders`, `render_seconds` (its `run.json`, if
            any), `train_seconds`, and `photos_equivalent` per curve point.
        curve: the photo counts of the curve actually used.
        real: what was read (`source`, `photos`, `crops`, `classes`, `folds`, visibility).
        config: the protocol settings.
        failed: set name -> error, for sets that could not be evaluated.
        counts: the raw per-photo counts per row (not serialised).
    """

    rows: dict[str, dict[str, Any]]
    sets: dict[str, dict[str, Any]]
    curve: list[int]
    real: dict[str, Any]
    config: dict[str, Any]
    failed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, RowCounts] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (no NaN: a row without a number is left out)."""
        return {"rows": self.rows, "sets": self.sets, "curve": self.curve, "real": self.real,
                "config": self.config, "failed": self.failed}


class Evaluator:
    """Evaluate synthetic sets against labelled real photos (see the module docstring).

    Args:
        real: the labelled photos.
        cfg: protocol settings.
        folds: number of leave-photos-out folds (contiguous blocks per scene; `buffer`
            neighbouring frames of a test block are kept out of its training photos).
        curve: real photo counts (clipped to what every fold can train on).
        buffer: see `folds`.
        bars: progress-bar factory (None: silent).

    Raises:
        LabelError: fewer labelled photos than folds, or no usable crop.
    """

    def __init__(self, real: RealData, cfg: EvalConfig, *, folds: int = 5,
                 curve: Sequence[int] = (5, 10, 20), buffer: int = 1,
                 bars: BarFactory | None = None) -> None:
        self.real, self.cfg, self.bars = real, cfg, bars
        self.crops = real_crops(real, size=cfg.crop, min_visib=cfg.min_visib,
                                min_box=cfg.min_box, progress=self._bar("real crops",
                                                                        len(real.photos)))
        with_crops = sorted(set(self.crops.image.tolist()))
        if len(with_crops) < max(2, folds):
            raise LabelError(real.photos[0].path.parent, "", f"{len(with_crops)} photos with a "
                             f"usable label; {folds} folds need at least {folds}")
        photos = [real.photos[i] for i in with_crops]
        raw_folds = photo_folds([p.group for p in photos], [p.order for p in photos], folds,
                                buffer=buffer)
        self.folds = [Fold(train=tuple(with_crops[i] for i in f.train),
                           test=tuple(with_crops[i] for i in f.test)) for f in raw_folds]
        pool = min(len(f.train) for f in self.folds)
        self.curve = sorted({min(int(n), pool) for n in curve if n > 0})
        self.counts: dict[str, RowCounts] = {}
        self.sets: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, str] = {}
        self.baseline: str | None = None
        self._masks: dict[str, np.ndarray] | None = None
        self._n_classes = len(real.classes)
        t = time.perf_counter()
        self.counts.update(self._recognition([], "real-only"))
        self.real_seconds = time.perf_counter() - t

    def _bar(self, desc: str, total: int) -> Callable[[int], None] | None:
        return self.bars(desc, total) if self.bars is not None else None

    def _recognition(self, sets: list[TrainingSet], desc: str) -> dict[str, RowCounts]:
        jobs = self.cfg.seeds * (len(sets) + (0 if sets else 1))
        return run_recognition(self.crops, len(self.real.photos), self.folds, sets, self.cfg,
                               curve=self.curve, real_rows=not sets,
                               progress=self._bar(desc, jobs), n_classes=self._n_classes)

    def add_dataset(self, name: str, root: str | Path) -> dict[str, dict[str, Any]]:
        """Evaluate a `synthgap render` / `adapt apply` output folder as set `name`.

        Returns:
            The set's summarised rows (`name`, `name+real@n`).

        Raises:
            LabelError: not a dataset folder, or classes that are not the photos'.
        """
        from synthgap.data.layout import read_image

        labels = read_render_labels(root, self.real.classes, min_visib=self.cfg.min_visib,
                                    min_box=self.cfg.min_box,
                                    progress=self._bar(f"{name}: labels", 0))
        t = time.perf_counter()
        derived = derive((read_image(p) for p in labels.images), labels, size=self.cfg.crop)
        info: dict[str, Any] = {"renders": len(labels.images), "render_seconds": labels.seconds,
                                "crop_seconds": round(time.perf_counter() - t, 1)}
        if self.real.seg_y is not None:  # labelled real objects in the renders' backgrounds
            from synthgap.evaluate.contamination import contamination, object_masks

            if self._masks is None:
                self._masks = object_masks(self.real, range(len(self.real.photos)))
            c = contamination(labels, self._masks)
            info["contamination"] = {"mean_share": round(c.mean_share, 4),
                                     "crops_over_10pct": round(c.crops_over_10pct, 4)}
        return self.add_crops(name, derived.crops, info=info)

    def add_crops(self, name: str, crops: CropSet | Sequence[CropSet], *,
                  info: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Evaluate a set given as crops (one `CropSet` per variant, e.g. adapter seed).

        Returns:
            The set's summarised rows (`name`, `name+real@n`), each with `vs`, `diff`,
            `ci95`, `significant` against its reference.
        """
        if name in self.sets or name.startswith("real-only"):
            raise ValueError(f"set name {name!r} is taken")
        variants = [crops] if isinstance(crops, CropSet) else list(crops)
        t = time.perf_counter()
        rows = self._recognition([TrainingSet(name, variants)], name)
        self.counts.update(rows)
        if self.baseline is None:
            self.baseline = name
        self.sets[name] = {**(info or {}), "crops": len(variants[0]),
                           "variants": len(variants),
                           "train_seconds": round(time.perf_counter() - t, 1)}
        summary = summarise(rows, n_boot=self.cfg.n_boot)
        for row in rows:
            ref = self._reference(row)
            if ref is not None and ref in self.counts and ref != row:
                summary[row].update(compare(rows[row], self.counts[ref], n_boot=self.cfg.n_boot),
                                    vs=ref)
        return summary

    def _reference(self, row: str) -> str | None:
        if "+real@" in row:
            return "real-only@" + row.rpartition("@")[2]
        if row.startswith("real-only"):
            return None
        return self.baseline

    def result(self) -> Evaluation:
        """Every row so far, summarised, with the photo-equivalents of each set."""
        rows = summarise(self.counts, references={r: ref for r in self.counts
                                                  if (ref := self._reference(r)) is not None},
                         n_boot=self.cfg.n_boot)
        real_curve = [(n, rows[f"real-only@{n}"]["mean"]) for n in self.curve]
        for name, info in self.sets.items():
            info["photos_equivalent"] = {
                str(n): equivalent_photos(rows[f"{name}+real@{n}"]["mean"], real_curve)
                for n in self.curve if f"{name}+real@{n}" in rows}
        vis = self.real.visibility
        real = {"source": self.real.source, "photos": len(self.real.photos),
                "photos_with_crops": len(set(self.crops.image.tolist())),
                "crops": len(self.crops), "classes": self.real.classes,
                "folds": [len(f.test) for f in self.folds],
                "real_only_seconds": round(self.real_seconds, 1)}
        if vis is not None:
            real["visibility_check"] = {"checked": vis.checked,
                                        "mean_rendered_minus_recorded": round(vis.mean_diff, 3),
                                        "ignored": vis.ignored, "tolerance": vis.tolerance}
        cfg = {k: getattr(self.cfg, k) for k in self.cfg.__dataclass_fields__}
        return Evaluation(rows=rows, sets=self.sets, curve=self.curve, real=real, config=cfg,
                          failed=self.failed, counts=dict(self.counts))


def equivalent_photos(accuracy: float, real_curve: list[tuple[int, float]]) -> str:
    """How many real photos alone reach `accuracy`, read off the real-only curve by linear
    interpolation: a number, `<N` (below the first point) or `>N` (above the last)."""
    ns = [n for n, _ in real_curve]
    accs = np.maximum.accumulate([a for _, a in real_curve])  # a curve that never falls
    if accuracy < accs[0]:
        return f"<{ns[0]}"
    if accuracy > accs[-1]:
        return f">{ns[-1]}"
    for (n0, a0), (n1, a1) in zip(zip(ns, accs, strict=True), zip(ns[1:], accs[1:],
                                                                  strict=True), strict=False):
        if a0 <= accuracy <= a1:
            frac = 0.0 if a1 == a0 else (accuracy - a0) / (a1 - a0)
            return f"{n0 + frac * (n1 - n0):.0f}"
    return f"{ns[-1]}"
