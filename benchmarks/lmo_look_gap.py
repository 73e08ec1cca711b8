"""How much of the render-to-photo gap is *look*, and how much of it does each adapter close?

`real_lmo.py` compares training sets that differ in content (random scenes) *and* look
(rendered pixels). This benchmark holds the content fixed: the 20 LM-O `fit` photos are
rendered at their true poses, every part over its own photo (`bench.aligned_fit_data`: the
render scene's lights and sensor), and a classifier is trained on the very same object crops
(the photos' visible boxes) cut

* from the photos themselves (`real`),
* from the renders (`rendered`): same poses, occlusions by the 8 parts, backgrounds and crop
  boxes; only the parts' pixels are drawn by synthgap,
* from the renders adapted by each method, **2-fold inside the training photos**: an adapter
  is fitted on the renders and photos of one half of them (aligned pairs for `...:aligned`,
  with the part masks; as unpaired sets otherwise) and applied to the renders of the other
  half, so no render is adapted by a model that saw its photo. `camera:aligned` gets the same
  part masks as the `camera` step of `camera+conv-smcae:aligned` (a controlled row: the
  chain's gain over it is the SMCAE's).

Protocol (nothing chosen on, or even read from, the `test` photos): cross-validation over the
20 `fit` photos in two contiguous blocks (a block's neighbour frames kept out of training):
every set is built from one block's photos and tested on the real crops of the other; the
same small CNN and budget for every set, 5 seeds (mean ± std, ddof 1). `real − rendered` is the
look gap; an adapter's `closed` share is `(adapted − rendered) / (real − rendered)`. Also per
set, on the parts' pixels of every (held-out) render vs its photo: mean absolute error (0-255)
and SSIM of the grey images averaged over the part pixels; and the gap metric
(`synthgap.gap.measure_gap`, domain-classifier accuracy, 0.5 = indistinguishable) of each
set's crops and images against the held-out block's, with its Spearman rank correlation with
recognition over the adapted sets (chains included; and with `real`).

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_look_gap.py [--data ../shared/data/lmo]
        [--methods histogram,pda,camera,camera:aligned,conv-smcae:aligned,camera+conv-smcae:aligned]
        [--seeds 5] [--json]

Prints a table and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "1")

import numpy as np

from synthgap.evaluate import bench
from synthgap.evaluate.bench import accepted, log, recognition_job, run_jobs
from synthgap.evaluate.crops import square_crop
from synthgap.evaluate.folds import photo_folds
from synthgap.evaluate.stats import spearman_rows

REPO = Path(__file__).resolve().parents[1]
MIN_VISIB, MIN_BOX_PX = 0.3, 6
DEFAULT_METHODS = ("histogram,pda,camera,camera:aligned,conv-smcae:aligned,"
                   "camera+conv-smcae:aligned")


def fit_boxes(real: Any) -> list[list[tuple[tuple[float, float, float, float], int]]]:
    """Per photo: (visible box, class index) of the instances `real_lmo` crops."""
    return [[(r.box, r.cls) for r in p.instances
             if r.visib >= MIN_VISIB and min(r.box[2], r.box[3]) >= MIN_BOX_PX]
            for p in real.photos]


def crops_of(images: list[np.ndarray], boxes) -> tuple[np.ndarray, np.ndarray]:
    crops, labels = [], []
    for img, keep in zip(images, boxes, strict=True):
        for box, c in keep:
            crops.append(square_crop(img, box))
            labels.append(c)
    return np.stack(crops), np.array(labels, np.int64)


def part_look(adapted: list[np.ndarray], photos: list[np.ndarray],
              masks: list[np.ndarray]) -> dict[str, float]:
    """Mean absolute error (0-255) and mean SSIM (grey) over the part pixels."""
    import cv2
    from skimage.metrics import structural_similarity

    err, ssim, n = 0.0, 0.0, 0
    for a, p, m in zip(adapted, photos, masks, strict=True):
        on = m > 0
        if not on.any():
            continue
        err += float(np.abs(a.astype(np.float32) - p.astype(np.float32))[on].sum() / 3.0)
        _, s = structural_similarity(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY),
                                     cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), data_range=255,
                                     full=True)
        ssim += float(s[on].sum())
        n += int(on.sum())
    return {"mae": round(err / n, 2), "ssim": round(ssim / n, 4)}


def adapt_two_fold(variant: str, fit, rng_seed: int = 0
                   ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Every render adapted by a model fitted on the other half of the photos."""
    from synthgap.adapt.image_base import make_image_adapter

    method, _, pairing = variant.partition(":")
    if pairing not in ("", "aligned"):
        raise ValueError(f"unknown variant {variant!r}: use METHOD or METHOD:aligned")
    n = len(fit.synthetic)
    halves = [list(range(0, n, 2)), list(range(1, n, 2))]
    out: list[np.ndarray | None] = [None] * n
    info: dict[str, Any] = {"fit_s": 0.0, "strength": []}
    for a, b in ((0, 1), (1, 0)):
        tr, te = halves[a], halves[b]
        t = time.perf_counter()
        if pairing == "aligned":
            smcae = any(m.endswith("smcae") for m in method.split("+"))
            adapter = make_image_adapter(method, pairing="aligned" if smcae else None)
            kwargs = {"synthetic_masks": [fit.synthetic_masks[i] for i in tr],
                      "real_masks": [fit.real_masks[i] for i in tr]}
            adapter.fit([fit.synthetic[i] for i in tr], [fit.real[i] for i in tr],
                        rng=np.random.default_rng(rng_seed), **accepted(adapter, kwargs))
        else:
            adapter = make_image_adapter(method)
            adapter.fit([fit.synthetic[i] for i in tr], [fit.real[i] for i in tr],
                        rng=np.random.default_rng(rng_seed))
        info["fit_s"] += time.perf_counter() - t
        strengths = [float(st.strength) for st in getattr(adapter, "steps", [adapter])
                     if hasattr(st, "strength")]
        if strengths:
            info["strength"].append(strengths[-1])
        for i in te:
            out[i] = adapter.transform(fit.synthetic[i])
    info["fit_s"] = round(info["fit_s"], 1)
    return [o for o in out if o is not None], info


def subset(fit: Any, idx: list[int]) -> Any:
    """The aligned fit data of these photos only."""
    from synthgap.adapt.fitting import FitData

    pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
    return FitData(pick(fit.synthetic), pick(fit.real), synthetic_masks=pick(fit.synthetic_masks),
                   real_masks=pick(fit.real_masks), source="scene")


def fold_sets(fit: Any, train: list[int], boxes: list, methods: list[str], failed: dict,
              adapters: dict) -> tuple[dict[str, tuple], dict[str, list[np.ndarray]]]:
    """Crops of the training photos: real, rendered and each adapter's (2-fold inside them)."""
    sub = subset(fit, train)
    b = [boxes[i] for i in train]
    sets = {"real": crops_of(sub.real, b), "rendered": crops_of(sub.synthetic, b)}
    images = {"real": sub.real, "rendered": sub.synthetic}
    for variant in methods:
        if variant in failed:
            continue
        try:
            adapted, info = adapt_two_fold(variant, sub)
        except Exception as exc:  # a broken method is reported (exit 1), the others still run
            failed[variant] = f"{type(exc).__name__}: {exc}"
            log(f"{variant}: FAILED: {failed[variant]}")
            continue
        sets[variant] = crops_of(adapted, b)
        images[variant] = adapted
        adapters.setdefault(variant, []).append(info)
        log(f"{variant}: fit {info['fit_s']:.0f} s, strengths {info['strength']}")
    return sets, images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="BOP data set folder with splits.json (default ../shared/data/lmo)")
    ap.add_argument("--scene", type=Path, default=REPO / "examples" / "lmo_like.yaml",
                    help="render scene template (lights, sensor; as real_lmo.py)")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "lmo_look_gap",
                    help="folder for the render scene file")
    ap.add_argument("--methods", default=DEFAULT_METHODS,
                    help="comma-separated adapters: METHOD (fitted unpaired on a half's renders "
                         "and photos) or METHOD:aligned (aligned pairs); `none`: no adapters")
    ap.add_argument("--seeds", type=int, default=5, help="training seeds")
    ap.add_argument("--steps", type=int, default=200, help="classifier steps (real_lmo: 200)")
    ap.add_argument("--jobs", type=int, default=2, help="training processes (1 thread each)")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()
    t_start = time.perf_counter()
    from synthgap.data.layout import read_image

    data = args.data.resolve()
    fit_ids, _ = bench.read_splits(data)
    real = bench.read_photos(data, fit_ids, seg_size=None)
    classes = real.classes
    scene_path = bench.render_scene_file(args.scene, args.out.resolve(), data, fit_ids,
                                         [p.path for p in real.photos])
    fit = bench.aligned_fit_data(data, fit_ids, scene_path)
    for photo, p in zip(fit.real, real.photos, strict=True):  # same order, same pixels
        if not np.array_equal(photo, read_image(p.path)):
            sys.exit(f"lmo_look_gap: aligned view order differs from the photos ({p.path})")
    boxes = fit_boxes(real)
    folds = photo_folds([p.group for p in real.photos], [p.order for p in real.photos], 2)
    methods = [] if args.methods == "none" else [m for m in args.methods.split(",") if m]
    failed: dict[str, str] = {}
    adapters: dict[str, list] = {}
    jobs, looks, gaps = [], {}, {}
    budget = (args.steps, 48, 3e-3)
    for f, fold in enumerate(folds):
        train, test = list(fold.train), list(fold.test)
        sets, images = fold_sets(fit, train, boxes, methods, failed, adapters)
        test_x, test_y = crops_of([fit.real[i] for i in test], [boxes[i] for i in test])
        test_photos = [fit.real[i] for i in test]
        masks = [fit.real_masks[i] for i in train]
        for name, crops in sets.items():
            looks.setdefault(name, []).append(part_look(images[name], images["real"], masks))
            gaps.setdefault(name, []).append(gap_metric(crops[0], images[name], test_x,
                                                        test_photos))
            jobs += [(name, f, seed, [crops], test_x, test_y, len(classes), budget)
                     for seed in range(args.seeds)]
    log(f"recognition: {len(jobs)} trainings on {args.jobs} processes")
    results = run_jobs(_job, jobs, args.jobs)
    rec = bench.accuracy_table(results, "lmo_look_gap")
    report(args, rec, looks, gaps, adapters, failed, folds, t_start)


def _job(args: tuple) -> tuple[str, int, int, int, int]:
    name, fold, seed, parts, test_x, test_y, n_cls, budget = args
    _, _, correct, total = recognition_job((name, seed, parts, test_x, test_y, n_cls, budget,
                                            None))
    return name, fold, seed, correct, total


def gap_metric(crops: np.ndarray, images: list[np.ndarray], test_x: np.ndarray,
               test_photos: list[np.ndarray]) -> dict[str, float]:
    from synthgap.gap.metric import GapConfig, measure_gap

    crop_cfg = GapConfig(patch_size=64, patches_per_image=1, max_images=1500,
                         mmd_permutations=0)
    img_cfg = GapConfig(mmd_permutations=0)
    return {"crops": measure_gap(list(crops), list(test_x), rng=np.random.default_rng(0),
                                 config=crop_cfg).domain_accuracy,
            "images": measure_gap(images, test_photos, rng=np.random.default_rng(0),
                                  config=img_cfg).domain_accuracy}


def report(args: argparse.Namespace, rec: dict, looks: dict, gaps: dict, adapters: dict,
           failed: dict, folds: list, t_start: float) -> None:
    mean = lambda ds, k: round(float(np.mean([d[k] for d in ds])), 4)  # noqa: E731
    look = {n: {"mae": mean(v, "mae"), "ssim": mean(v, "ssim")} for n, v in looks.items()}
    gap_m = {n: {"crops": mean(v, "crops"), "images": mean(v, "images")} for n, v in gaps.items()}
    gap = rec["real"]["mean"] - rec["rendered"]["mean"]
    n = sum(len(f.test) for f in folds)
    print(f"\nSame content, rendered vs real look: 2-fold CV over the {n}"
          f" `fit` photos ({args.seeds} seeds, {args.steps} steps)\n")
    print("| training crops | recognition | closed | part MAE | part SSIM | gap: crops | "
          "gap: images | strength |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rec.items():
        closed = ("" if name in ("real", "rendered") or abs(gap) < 1e-9 else
                  f"{(r['mean'] - rec['rendered']['mean']) / gap:+.0%}")
        st = ",".join(f"{s:g}" for i in adapters.get(name, []) for s in i["strength"])
        print(f"| {name} | {r['mean']:.3f} ± {r['std']:.3f} | {closed} | "
              f"{look[name]['mae']:.1f} | {look[name]['ssim']:.3f} | "
              f"{gap_m[name]['crops']:.3f} | {gap_m[name]['images']:.3f} | {st} |")
    acc = {k: v["mean"] for k, v in rec.items()}
    synth = [k for k in rec if k != "real"]
    rho = {k: spearman_rows({n: gap_m[n][k] for n in gap_m}, acc, synth, ["real"])
           for k in ("crops", "images")}
    print(f"\nlook gap (real − rendered): {gap:+.3f}; gap metric vs recognition, Spearman over "
          f"the synthetic sets / with real: crops {rho['crops']['synthetic']:.2f} / "
          f"{rho['crops']['with_real']:.2f}, images {rho['images']['synthetic']:.2f} / "
          f"{rho['images']['with_real']:.2f}")
    for k, v in failed.items():
        print(f"FAILED {k}: {v}")
    num = lambda x: None if not np.isfinite(x) else round(float(x), 3)  # noqa: E731
    result = {"benchmark": "lmo_look_gap", "protocol": "2-fold CV over the fit photos",
              "folds": [len(f.test) for f in folds], "seeds": args.seeds, "steps": args.steps,
              "recognition": rec, "look_gap": round(gap, 4), "part_look": look,
              "adapters": adapters, "failed": failed, "gap_metric": gap_m,
              "spearman": {k: num(v["with_real"]) for k, v in rho.items()},
              "spearman_synthetic": {k: num(v["synthetic"]) for k, v in rho.items()},
              "seconds": round(time.perf_counter() - t_start, 1)}
    if args.json:
        print(json.dumps(result))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
