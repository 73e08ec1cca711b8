"""Adaptation on LM-O's `fit` photos only: a quick proxy until `benchmarks/real_lmo.py` exists.

The 20 `fit` photos of `splits.json` (never the `test` split) are split in two halves by
position: A (fitted on) and B (held out), and (`--folds 2`, the default) the other way round;
the metrics are the mean of both folds. Each photo's exact view is rendered from its BOP
pose (`synthgap.scenes.bop`, `generators.real.views.render_aligned_views`), parts coloured with the
mean vertex colour of their mesh (the renderer does not draw vertex colours), background a flat
grey (`synthgap.adapt.fitting.bop_fit_data`). Each adapter is fitted on A (renders + photos,
with the renders' class label maps) and applied to the renders of B; on B it prints:

* `part_l1`: mean |adapted - photo| over part pixels (0-255; lower is better, raw = the gap);
* `chroma`: mean chroma (max - min of R, G, B) of adapted part pixels / that of the photos'
  part pixels (1 = as colourful as the camera; a greyed output is well below 1);
* `obj_colour`: mean over object instances of the distance between the adapted and the photo
  mean colour of the instance's pixels (0-255);
* `crop_acc`: a logistic-regression classifier of the 8 objects trained on crops of the adapted
  renders (A and B views), tested on the photo crops of B (chance 0.125);
* `gap`: `measure_gap` domain-classifier accuracy, adapted renders of B vs photos of B (0.5 =
  indistinguishable);
* fit time, the conv SMCAE's `n_distinct_targets` and its cost magnitudes (balance / costs).

    PYTHONPATH=. PYOPENGL_PLATFORM=egl .venv/bin/python benchmarks/adapt_lmo_proxy.py \
        --out /tmp/lmo_proxy [--methods raw,camera,conv-smcae] [--data ../shared/data/lmo]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: name -> (method, pairing, options)
VARIANTS: dict[str, tuple[str, str | None, dict]] = {
    "raw": ("", None, {}),
    "histogram": ("histogram", None, {}),
    "fda": ("fda", None, {}),
    "pda": ("pda", None, {}),
    "camera": ("camera", None, {}),
    # the default conv SMCAE (stacked, normalised balance, residual, sparsity, no moment term,
    # 1,500 fine-tuning steps) on aligned pairs, and one change at a time
    "conv-smcae": ("conv-smcae", "aligned", {}),
    "conv-smcae/end-to-end": ("conv-smcae", "aligned", {"training": "end-to-end"}),
    "conv-smcae/raw-balance": ("conv-smcae", "aligned", {"balance": "raw", "gamma": 10.0}),
    "conv-smcae/no-residual": ("conv-smcae", "aligned", {"residual": False}),
    "conv-smcae/moment": ("conv-smcae", "aligned", {"moment_weight": 1.0}),
    "conv-smcae/no-sparsity": ("conv-smcae", "aligned", {"beta": 0.0}),
    "conv-smcae/600-steps": ("conv-smcae", "aligned", {"iterations": 600}),
    # unpaired: region pairing (class label maps of renders and photos), nearest pairing
    "conv-smcae/region": ("conv-smcae", "region", {}),
    "conv-smcae/region+moment": ("conv-smcae", "region", {"moment_weight": 1.0}),
    "conv-smcae/nearest+moment": ("conv-smcae", "nearest", {"moment_weight": 1.0}),
    # the configuration before issue 9 (end to end, raw γ = 10, no residual, no moment,
    # no sparsity, 600 steps, nearest pairing)
    "conv-smcae/landed": ("conv-smcae", "nearest", {
        "training": "end-to-end", "balance": "raw", "gamma": 10.0, "residual": False,
        "moment_weight": 0.0, "beta": 0.0, "iterations": 600}),
    "camera+conv-smcae": ("camera+conv-smcae", "aligned", {}),
    "histogram+conv-smcae": ("histogram+conv-smcae", "aligned", {}),
}


def render_views(data: Path, ids: list[int], seed: int):
    """`(renders, photos, class maps, n classes)` of the chosen photo ids (aligned views)."""
    from synthgap.adapt.fitting import bop_fit_data

    d = bop_fit_data(data / "test" / "000002", ids, seed=seed)
    n_classes = int(max(int(m.max()) for m in d.synthetic_masks))
    return d.synthetic, d.real, d.synthetic_masks, n_classes


def crops(images, classes, n_classes: int, size: int = 24, min_px: int = 200):
    """Bounding-box crops of every visible object, `(n, size·size·3) float32` and labels."""
    import cv2

    x, y = [], []
    for im, cm in zip(images, classes, strict=True):
        for c in range(1, n_classes + 1):
            ys, xs = np.nonzero(cm == c)
            if len(ys) < min_px:
                continue
            crop = im[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            x.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).ravel())
            y.append(c)
    return np.asarray(x, np.float32) / 255.0, np.asarray(y)


def crop_accuracy(train_imgs, train_cls, test_imgs, test_cls, n_classes: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xa, ya = crops(train_imgs, train_cls, n_classes)
    xb, yb = crops(test_imgs, test_cls, n_classes)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    clf.fit(xa, ya)
    return float((clf.predict(xb) == yb).mean())


def part_metrics(adapted, photos, classes) -> dict[str, float]:
    l1, ch_a, ch_r, obj = [], [], [], []
    for a, r, cm in zip(adapted, photos, classes, strict=True):
        m = cm > 0
        pa, pr = a[m].astype(np.float64), r[m].astype(np.float64)
        l1.append(np.abs(pa - pr).mean())
        ch_a.append((pa.max(1) - pa.min(1)).mean())
        ch_r.append((pr.max(1) - pr.min(1)).mean())
        for c in np.unique(cm[m]):
            s = cm == c
            obj.append(np.linalg.norm(a[s].mean(0) - r[s].mean(0)))
    return {"part_l1": float(np.mean(l1)), "chroma": float(np.mean(ch_a) / np.mean(ch_r)),
            "obj_colour": float(np.mean(obj))}


def run(args) -> dict:
    from synthgap.adapt.image_base import make_image_adapter
    from synthgap.gap.metric import GapConfig, measure_gap

    splits = json.loads((args.data / "splits.json").read_text())
    fit_ids = sorted(int(i) for i in splits["fit"])  # the test split is never read
    cache = args.out / f"views_seed{args.seed}.npz"
    if cache.is_file():  # the aligned renders of a previous run (same ids and seed)
        z = np.load(cache)
        renders, photos, classes = list(z["renders"]), list(z["photos"]), list(z["classes"])
        n_classes = int(z["n_classes"])
    else:
        renders, photos, classes, n_classes = render_views(args.data, fit_ids, args.seed)
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, renders=np.stack(renders), photos=np.stack(photos),
                            classes=np.stack(classes), n_classes=n_classes)
    halves = [list(range(0, len(fit_ids), 2)), list(range(1, len(fit_ids), 2))]

    def pick(xs, idx):
        return [xs[i] for i in idx]

    def one_fold(name: str, a_idx: list[int], b_idx: list[int]):
        """Fit on views `a_idx`, measure on views `b_idx`: `(row, report, adapted_all)`."""
        import inspect

        method, pairing, options = VARIANTS[name]
        options = {**options, **({"iterations": args.iterations} if args.iterations and
                                 "smcae" in method else {})}
        if args.set and "smcae" in method:
            options.update(args.set)
        t0 = time.perf_counter()
        report: dict = {}
        if method:
            ad = make_image_adapter(method, pairing=pairing, options=options)
            masks = {"synthetic_masks": pick(classes, a_idx), "real_masks": pick(classes, a_idx)}
            takes = inspect.signature(ad.fit).parameters
            if not any(p.kind == p.VAR_KEYWORD for p in takes.values()):
                masks = {k: v for k, v in masks.items() if k in takes}
            ad.fit(pick(renders, a_idx), pick(photos, a_idx), rng=np.random.default_rng(args.seed),
                   **masks)
            for step in getattr(ad, "steps", (ad,)):
                report.update(getattr(step, "report", {}) or {})
                if step.method == "camera":
                    report["camera"] = step.values
            adapted_all = ad.transform(list(renders))
        else:
            adapted_all = list(renders)
        fit_s = time.perf_counter() - t0
        adapted_b = pick(adapted_all, b_idx)
        row = part_metrics(adapted_b, pick(photos, b_idx), pick(classes, b_idx))
        row["crop_acc"] = crop_accuracy(adapted_all, classes, pick(photos, b_idx),
                                        pick(classes, b_idx), n_classes)
        gap = measure_gap(adapted_b, pick(photos, b_idx), rng=np.random.default_rng(args.seed),
                          config=GapConfig(mmd_permutations=0, patches_per_image=16))
        row["gap"] = float(gap.domain_accuracy)
        row["fit_s"] = round(fit_s, 1)
        return row, report, adapted_all

    results = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.methods:
        rows, reports = [], []
        for fold in range(args.folds):
            a_idx, b_idx = halves[fold], halves[1 - fold]
            row, report, adapted_all = one_fold(name, a_idx, b_idx)
            rows.append(row)
            reports.append(report)
            if args.png and fold == 0:
                import cv2

                sheet = np.concatenate([np.concatenate([renders[i], adapted_all[i], photos[i]],
                                                       1) for i in b_idx[:2]], 0)
                cv2.imwrite(str(args.out / f"{name.replace('/', '_')}.png"),
                            cv2.resize(sheet, None, fx=0.5, fy=0.5)[:, :, ::-1])
        row = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        report = reports[0]
        if "n_distinct_targets" in report:
            row["distinct_targets"] = f"{report['n_distinct_targets']}/{report['n_pairs']}"
            ft = report["costs"].get("fine_tune") or report["costs"].get("end_to_end")
            row["balance/costs"] = ft["balance_over_costs"]
        results[name] = {"metrics": row, "folds": rows, "report": reports}
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                for k, v in row.items()}), file=sys.stderr, flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--methods", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=None,
                    help="override the SMCAE fine-tuning steps (quick runs)")
    ap.add_argument("--png", action="store_true", help="write render | adapted | photo sheets")
    ap.add_argument("--folds", type=int, choices=(1, 2), default=2,
                    help="2: also fit on the odd half and measure on the even one; mean of both")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an option for every SMCAE variant (value read as YAML)")
    args = ap.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    import yaml

    args.set = {k: yaml.safe_load(v) for k, _, v in (x.partition("=") for x in args.set)}
    for m in args.methods:
        if m not in VARIANTS:
            ap.error(f"--methods: unknown {m!r}; known: {', '.join(VARIANTS)}")
    results = run(args)
    width = max(len(n) for n in results)
    cols = ["part_l1", "chroma", "obj_colour", "crop_acc", "gap", "fit_s", "distinct_targets",
            "balance/costs"]
    print(f"{'variant':<{width}}  " + "  ".join(f"{c:>14}" for c in cols))
    for n, r in results.items():
        m = r["metrics"]
        cells = [f"{m[c]:>14.3f}" if isinstance(m.get(c), float) else f"{m.get(c, '-')!s:>14}"
                 for c in cols]
        print(f"{n:<{width}}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
