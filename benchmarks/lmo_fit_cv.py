"""Choose how renders and a few labelled real photos are combined, on the `fit` photos only.

`benchmarks/real_lmo.py` trains each `+real` row on renders plus the labelled crops of the 20
`fit` photos. How the two are combined (`synthgap.evaluate.models.MIX_RECIPES`: `batch`, half
of every batch from each; `finetune`, train on the renders then on the real crops from those
weights)
is a choice, and choices are made here, by cross-validation over the 20 `fit` photos (two
contiguous blocks of photos; a block's neighbour frames are left out of its training photos),
never on the `test` photos.

Rows, every one trained side by side with the same seeds: `real-only` (one budget),
`real-only x2` (two budgets: the step count of `finetune`), and `SET+real[RECIPE]` for the raw
renders and each `--methods` adapter fitted on the training fold's photos only.

Usage (after one `real_lmo.py` run has cached the renders and real ground truth under --out):

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_fit_cv.py [--data ../shared/data/lmo]
        [--methods pda] [--seeds 3] [--jobs 2] [--json]

Caveat: the renders' backgrounds are the 20 `fit` photos with their labelled objects filled in
(as in `real_lmo.py`), so a render may show a held-out fold's desk behind its parts; no label
of those photos is used.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from synthgap.evaluate import bench as rl


def _job(args: tuple) -> tuple[str, int, int, int, int]:
    """One training; returns (row, fold, seed, correct, total)."""
    from synthgap.evaluate.models import TrainBudget, classify, train_classifier, train_mixed

    row, fold, seed, renders, real, test_x, test_y, n_cls, budget, recipe = args
    b = TrainBudget(*budget)
    if recipe == "real-only":
        net = train_classifier([real], n_cls, seed=seed, budget=b)
    elif recipe == "real-only-x2":
        net = train_classifier([real], n_cls, seed=seed,
                               budget=TrainBudget(2 * b.steps, b.batch, b.lr))
    else:
        net = train_mixed(renders, real, n_cls, seed=seed, budget=b, recipe=recipe)
    pred = classify(net, test_x)
    return row, fold, seed, int((pred == test_y).sum()), len(test_y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    rl.FitSplit.add_arguments(ap)
    ap.add_argument("--fit-renders", type=int, default=32)
    ap.add_argument("--methods", default="", help="comma-separated adapters besides raw")
    args = ap.parse_args()
    t0 = time.perf_counter()

    from synthgap.adapt.image_base import make_image_adapter
    from synthgap.evaluate.models import MIX_RECIPES

    fs = rl.FitSplit(args.data, args.out, args.scene, args.renders)
    classes, renders, truth, folds = fs.classes, fs.renders, fs.truth, fs.folds
    fit_ids = fs.fit_ids
    sets = {"raw": rl.derived((renders.image(i) for i in range(len(renders))), renders, set())}
    budget = (args.steps, 48, 3e-3)  # real_lmo.py: 200 steps
    methods = [m for m in args.methods.split(",") if m]

    jobs = []
    for f, train_ids in enumerate(folds):
        tr = np.isin(truth["crop_img"], train_ids)
        real = (truth["crops"][tr], truth["crop_cls"][tr])
        test_x, test_y = fs.held_out(f)
        fold_sets = dict(sets)
        for m in methods:  # adapters see the training fold's photos only
            adapter = make_image_adapter(m)
            adapter.fit([renders.image(i) for i in range(args.fit_renders)],
                        [fs.photo(i) for i in train_ids],
                        rng=np.random.default_rng(0))
            fold_sets[m] = rl.derived((adapter.transform(renders.image(i))
                                       for i in range(len(renders))), renders, set())
            rl.log(f"fold {f}: {m} fitted on {len(train_ids)} photos")
        for seed in range(args.seeds):
            for recipe in ("real-only", "real-only-x2"):
                row = "real-only" if recipe == "real-only" else "real-only x2"
                jobs.append((row, f, seed, None, real, test_x, test_y, len(classes), budget,
                             recipe))
            for name, s in fold_sets.items():
                for recipe in MIX_RECIPES:
                    jobs.append((f"{name}+real[{recipe}]", f, seed, (s["crops"], s["labels"]),
                                 real, test_x, test_y, len(classes), budget, recipe))
    rl.log(f"{len(jobs)} trainings on {args.jobs} processes")
    results = rl.run_jobs(_job, jobs, args.jobs)

    table = rl.accuracy_table(results, "lmo_fit_cv")
    print(f"\nfit-split 2-fold CV ({len(fit_ids)} fit photos, {args.seeds} seeds), recognition:")
    for row, r in table.items():
        print(f"  {row:<32} {r['mean']:.3f} ± {r['std']:.3f}")
    best = max((r for r in table if "+real[" in r), key=lambda r: table[r]["mean"])
    print(f"best combination: {best}  ({time.perf_counter() - t0:.0f} s)")
    if args.json:
        print(json.dumps({"recognition": table, "best": best, "seeds": args.seeds,
                          "folds": [len(f) for f in folds]}))


if __name__ == "__main__":
    main()
