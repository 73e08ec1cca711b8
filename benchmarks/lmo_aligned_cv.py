"""Choose how aligned SMCAE fits are made, on the `fit` photos only (2-fold CV).

`lmo_look_gap.py` shows that an aligned `camera+conv-smcae` closes half of the look gap on
renders made like the ones it was fitted on (the `fit` photos' own views, lights and sensor at
their midpoints), yet in `real_lmo.py` the same fit, applied to renders whose lights and sensor
are *drawn* from the scene's ranges, trains no better than the raw renders. One suspect: the
adapter never saw renders lit like the ones it is applied to. A real view's `appearance:
sample` draws its lights, materials and sensor from the scene's distributions (`draws` times
per photo: each photo paired with several renders of its view under different draws).

This script decides such settings without the `test` photos: 2-fold over the 20 `fit` photos,
each aligned adapter is fitted on one half's views and applied to `real_lmo.py`'s 400 renders
(cached under --out); a classifier is trained on those adapted renders alone and tested on the
real crops of the *other* half. Rows, side by side with the same seeds: `raw`, `histogram`
(unpaired, on 32 renders + the half's photos), and `METHOD:aligned[APPEARANCE]` for each
`--methods` entry and each of `midpoint`, `sampleK` (`--draws K`).

Usage (after a `real_lmo.py` run has cached the renders and the real ground truth):

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_aligned_cv.py [--data ../shared/data/lmo]
        [--methods camera+conv-smcae,conv-smcae] [--draws 4] [--seeds 3] [--json]

Caveat (as in `lmo_fit_cv.py`): the renders' backgrounds are the 20 `fit` photos, so a render
may show a held-out photo behind its parts; no label of those photos is used.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from synthgap.evaluate import bench as rl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    rl.FitSplit.add_arguments(ap)
    ap.add_argument("--fit-renders", type=int, default=32)
    ap.add_argument("--methods", default="camera+conv-smcae,conv-smcae",
                    help="comma-separated aligned adapters (each tried at every appearance)")
    ap.add_argument("--draws", type=int, default=4, help="renders per photo with `sample`")
    args = ap.parse_args()
    t0 = time.perf_counter()

    from synthgap.adapt.image_base import make_image_adapter

    fs = rl.FitSplit(args.data, args.out, args.scene, args.renders)
    data, classes, renders = fs.data, fs.classes, fs.renders
    scene_path, folds = fs.scene_path, fs.folds
    images = [renders.image(i) for i in range(len(renders))]
    raw = rl.derived(images, renders, set())
    budget = (args.steps, 48, 3e-3)  # real_lmo.py: 200 steps
    methods = [m for m in args.methods.split(",") if m]
    appearances = ["midpoint", f"sample{args.draws}"]

    jobs, fits = [], {}
    for f, train_ids in enumerate(folds):
        test_x, test_y = fs.held_out(f)
        fold_sets = {"raw": raw}
        hist = make_image_adapter("histogram")
        hist.fit(images[:args.fit_renders], [fs.photo(i) for i in train_ids],
                 rng=np.random.default_rng(0))
        fold_sets["histogram"] = rl.derived((hist.transform(im) for im in images), renders,
                                            set())
        for app in appearances:
            fd = rl.aligned_fit_data(data, train_ids, scene_path, draws=args.draws,
                                     appearance="midpoint" if app == "midpoint" else "sample")
            for m in methods:
                t = time.perf_counter()
                smcae = any(s.endswith("smcae") for s in m.split("+"))
                adapter = make_image_adapter(m, pairing="aligned" if smcae else None)
                kwargs = {"synthetic_masks": fd.synthetic_masks, "real_masks": fd.real_masks}
                adapter.fit(fd.synthetic, fd.real, rng=np.random.default_rng(0),
                            **rl.accepted(adapter, kwargs))
                strengths = [float(st.strength) for st in getattr(adapter, "steps", [adapter])
                             if hasattr(st, "strength")]
                row = f"{m}:aligned[{app}]"
                fits.setdefault(row, []).append({"fold": f, "pairs": len(fd.synthetic),
                                                 "strength": strengths[-1] if strengths else None,
                                                 "fit_s": round(time.perf_counter() - t, 1)})
                fold_sets[row] = rl.derived((adapter.transform(im) for im in images), renders,
                                            set())
                rl.log(f"fold {f}: {row} fitted on {len(fd.synthetic)} pairs, strength "
                       f"{fits[row][-1]['strength']}")
        for seed in range(args.seeds):
            for name, s in fold_sets.items():
                jobs.append((name, seed, [(s["crops"], s["labels"])], test_x, test_y,
                             len(classes), budget, None))
    rl.log(f"{len(jobs)} trainings on {args.jobs} processes")
    results = rl.run_jobs(rl.recognition_job, jobs, args.jobs)

    table = rl.accuracy_table(results, "lmo_aligned_cv")
    print(f"\nfit-split 2-fold CV ({len(fs.fit_ids)} fit photos, {args.seeds} seeds), recognition "
          "of the held-out half's real crops by a classifier trained on renders alone:")
    print("| training set | recognition | strength (fold 0, 1) |\n|---|---|---|")
    for row, r in table.items():
        st = ", ".join(f"{x['strength']:g}" for x in fits.get(row, []) if x["strength"] is not None)
        print(f"| {row} | {r['mean']:.3f} ± {r['std']:.3f} | {st} |")
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.json:
        print(json.dumps({"benchmark": "lmo_aligned_cv", "recognition": table, "fits": fits,
                          "seeds": args.seeds, "draws": args.draws,
                          "folds": [len(f) for f in folds],
                          "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
