"""The recognition protocol: which model is trained on what, and tested on which photos.

Rows (each trained under every seed, tested on the crops of held-out photos):

* `SET` — a synthetic set alone (renders, or renders adapted by a method): trained once per
  seed, tested on every tested photo.
* `SET+real` — pre-trained on the set, then fine-tuned on the labelled crops of a fold's
  training photos (`recipe="finetune"`; `batch`: half of every batch from each).
* `real-only` — the fold's training photos alone (`x2`: twice the steps, as many as a
  fine-tuned row).

With a `curve` of photo counts, the real rows are trained on the first n photos of a seeded
permutation of the fold's training photos (the same photos for every row of that seed, fold
and n), named `real-only@n` and `SET+real@n`. A synthetic set may hold several variants
(one per adapter seed); training seed s uses variant `s % len(variants)`, so the adapters'
variance is in the seeds' spread.

Every row keeps `correct[seed, photo]`, the photo-by-photo counts the paired bootstrap needs.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthgap.evaluate.crops import CropSet
from synthgap.evaluate.folds import Fold
from synthgap.evaluate.stats import paired_bootstrap, seed_summary

__all__ = ["EvalConfig", "RowCounts", "TrainingSet", "compare", "run_recognition", "summarise"]


@dataclass(frozen=True)
class EvalConfig:
    """Settings of the recognition protocol.

    Attributes:
        crop: crop side in pixels.
        seeds: training seeds (≥ 2 for a spread; the protocol asks ≥ 5).
        steps, batch, lr: one training budget (fine-tuning uses a second one).
        recipe: `finetune` or `batch` (how `SET+real` rows combine renders and photos).
        n_boot: bootstrap draws for intervals.
        jobs: training processes (1 thread each; 1 = in this process).
        min_visib, min_box: which labelled instances are cropped.
    """

    crop: int = 64
    seeds: int = 5
    steps: int = 200
    batch: int = 48
    lr: float = 3e-3
    recipe: str = "finetune"
    n_boot: int = 2000
    jobs: int = 1
    min_visib: float = 0.3
    min_box: float = 6


@dataclass
class TrainingSet:
    """A synthetic training set: crops per variant (adapter seed) and what it cost.

    Attributes:
        name: row name.
        variants: crops of each variant (≥ 1).
        seconds: compute the set cost (rendering, adapting), when known.
    """

    name: str
    variants: list[CropSet]
    seconds: float | None = None


@dataclass
class RowCounts:
    """Per-photo results of one row: `correct (S, P)` and `total (P,)` over all photos
    (0 for photos the row does not test); `photos` = how many real photos it trained on."""

    correct: np.ndarray
    total: np.ndarray
    photos: int | None = None
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Train in this process on one torch thread (as a pool worker does), then restore the
    caller's count: a result must not depend on `jobs`, and several intra-op threads may sum
    in another order."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _per_photo(net: Any, crops: CropSet, n_photos: int) -> np.ndarray:
    from synthgap.evaluate.models import classify

    if not len(crops):
        return np.zeros(n_photos)
    ok = (classify(net, crops.x) == crops.y).astype(float)
    return np.bincount(crops.image, weights=ok, minlength=n_photos)


def _curve_photos(train: Sequence[int], n: int | None, seed: int, fold: int) -> list[int]:
    if n is None:
        return list(train)
    order = np.random.default_rng([seed, fold, 7]).permutation(len(train))
    return [train[i] for i in order[:n]]


def _job(args: tuple[Any, ...]) -> list[tuple[str, int, np.ndarray, float]]:
    """One seed of one synthetic set (pre-train, then every fine-tune), or of real-only.

    Returns `(row, seed, correct per photo, seconds)` tuples.
    """
    import time

    from synthgap.evaluate.models import TrainBudget, train_classifier

    (name, seed, synth, real, tested, folds, curve, n_photos, cfg, real_name, factor,
     n_cls) = args
    budget = TrainBudget(cfg.steps, cfg.batch, cfg.lr)
    out = []
    t = time.perf_counter()
    pre = None
    if synth is not None:
        pre = train_classifier([(synth.x, synth.y)], n_cls, seed=seed, budget=budget)
        out.append((name, seed, _per_photo(pre, real.subset(tested), n_photos),
                    time.perf_counter() - t))
    for f, fold in enumerate(folds):
        test = real.subset(fold.test)
        for n in curve:
            t = time.perf_counter()
            train = real.subset(_curve_photos(fold.train, n, seed, f))
            row = f"{name}+real" if synth is not None else real_name
            row += f"@{n}" if n is not None else ""
            if not len(train):
                raise ValueError(f"{row}: fold {f} has no labelled training crop")
            if pre is not None and cfg.recipe == "finetune":
                net = train_classifier([(train.x, train.y)], n_cls, seed=seed + 7_919,
                                       budget=budget, init=pre)
            elif pre is not None:
                net = train_classifier([(synth.x, synth.y), (train.x, train.y)], n_cls,
                                       seed=seed, budget=budget)
            else:
                net = train_classifier([(train.x, train.y)], n_cls, seed=seed, budget=TrainBudget(
                    cfg.steps * factor, cfg.batch, cfg.lr))
            out.append((row, seed, _per_photo(net, test, n_photos), time.perf_counter() - t))
    return out


def run_recognition(real: CropSet, n_photos: int, folds: Sequence[Fold],
                    sets: Sequence[TrainingSet], cfg: EvalConfig, *,
                    curve: Sequence[int | None] = (None,), real_name: str = "real-only",
                    real_factor: int = 1, real_rows: bool = True,
                    progress: Callable[[int], None] | None = None,
                    n_classes: int | None = None) -> dict[str, RowCounts]:
    """Train and test every row under every seed (see the module docstring).

    Args:
        real: the real crops (`image` indexes the photos, `0..n_photos-1`).
        n_photos: number of real photos.
        folds: train/test photo indices; synthetic-only rows are tested on the union of the
            test photos.
        sets: the synthetic sets (empty: real rows only).
        cfg: the protocol settings.
        curve: real photo counts to train on (`None` = all of the fold's training photos).
        real_name: name of the real-only row (`upper` for the upper bound).
        real_factor: budget factor of the real-only rows (2 = `x2`).
        real_rows: train the real-only rows.
        progress: called with 1 per finished job (one seed of one set).
        n_classes: classes of the task (default: the largest label seen + 1).

    Returns:
        `RowCounts` per row name.

    Raises:
        ValueError: a fold without training crops.
    """
    tested = sorted({i for f in folds for i in f.test})
    n_cls = n_classes or 1 + max([int(real.y.max()), *[int(v.y.max()) for s in sets
                                                        for v in s.variants]])
    jobs: list[tuple[Any, ...]] = []
    for seed in range(cfg.seeds):
        for s in sets:
            v = s.variants[seed % len(s.variants)]
            jobs.append((s.name, seed, v, real, tested, folds, list(curve), n_photos, cfg,
                         real_name, 1, n_cls))
        if real_rows:
            jobs.append((real_name, seed, None, real, tested, folds, list(curve), n_photos,
                         cfg, real_name, real_factor, n_cls))
    results = _run(jobs, cfg.jobs, progress)
    total = np.bincount(real.subset(tested).image, minlength=n_photos).astype(float)
    rows: dict[str, RowCounts] = {}
    by_row: dict[str, dict[int, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for res in results:
        for row, seed, correct, sec in res:
            by_row.setdefault(row, {}).setdefault(seed, np.zeros(n_photos))
            by_row[row][seed] += correct
            seconds[row] = seconds.get(row, 0.0) + sec
    for row, per_seed in by_row.items():
        n = row.rpartition("@")[2] if "@" in row else None
        rows[row] = RowCounts(correct=np.stack([per_seed[s] for s in sorted(per_seed)]),
                              total=total, photos=int(n) if n is not None else None,
                              train_seconds=seconds[row])
    return rows


def _run(jobs: list[tuple[Any, ...]], workers: int,
         progress: Callable[[int], None] | None) -> list[Any]:
    out = []
    if workers <= 1:
        with _one_thread():
            for j in jobs:
                out.append(_job(j))
                if progress is not None:
                    progress(1)
        return out
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker) as pool:
        for res in pool.map(_job, jobs):
            out.append(res)
            if progress is not None:
                progress(1)
    return out


def summarise(rows: dict[str, RowCounts], *, references: Mapping[str, str] | None = None,
              n_boot: int = 2000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per row: `mean`, `std` (ddof 1), `seeds`, `n_seeds` and, against its reference row
    (`references[row]`, when present), `vs`, the paired bootstrap `diff`, `ci95` `[lo, hi]` and
    `significant` (the interval excludes 0).

    Raises:
        ValueError: a non-finite accuracy (never reported as a number).
    """
    out: dict[str, dict[str, Any]] = {}
    for i, (name, r) in enumerate(rows.items()):
        s = seed_summary(r.correct, r.total)
        entry: dict[str, Any] = {"mean": round(s.mean, 4),
                                 "std": round(s.std, 4) if np.isfinite(s.std) else None,
                                 "seeds": [round(a, 4) for a in s.seeds],
                                 "n_seeds": len(s.seeds)}
        if r.photos is not None:
            entry["photos"] = r.photos
        ref_name = (references or {}).get(name)
        if ref_name is not None and ref_name in rows and ref_name != name:
            entry.update(compare(r, rows[ref_name], n_boot=n_boot, seed=(seed, i)))
            entry["vs"] = ref_name
        out[name] = entry
    return out


def compare(a: RowCounts, b: RowCounts, *, n_boot: int = 2000,
            seed: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """`{"diff", "ci95", "significant"}` of row a − row b on the photos both test."""
    keep = (a.total > 0) & (b.total > 0)
    if not keep.any():
        raise ValueError("the two rows share no tested photo")
    d = paired_bootstrap(a.correct[:, keep], b.correct[:, keep], a.total[keep],
                         rng=np.random.default_rng(list(seed)), n_boot=n_boot)
    return {"diff": round(d.diff, 4), "ci95": [round(d.lo, 4), round(d.hi, 4)],
            "significant": d.significant}
