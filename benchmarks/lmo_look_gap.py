"""How much of the render-to-photo gap is *look*, and how much of it does each adapter close?

`real_lmo.py` compares training sets that differ in content (random scenes) *and* look
(rendered pixels). This benchmark holds the content fixed: the 20 LM-O `fit` photos are
rendered at their true poses, every part over its own photo (`real_lmo.aligned_fit_data`: the
render scene's lights and sensor), and a classifier is trained on the very same object crops
(the photos' visible boxes) cut

* from the photos themselves (`real`: the `real-only` row of `real_lmo.py`),
* from the renders (`rendered`): same poses, occlusions by the 8 parts, backgrounds and crop
  boxes; only the parts' pixels are drawn by synthgap,
* from the renders adapted by each method, **2-fold over the photos**: an adapter is fitted on
  the renders and photos of one half of the `fit` photos (aligned pairs for `...:aligned`,
  as unpaired sets otherwise) and applied to the renders of the other half, so no render is
  adapted by a model that saw its photo.

All are tested on the real crops of the `test` photos (nothing is chosen on them), with the
same small CNN and budget as `real-only` (several seeds, mean ± std). `real − rendered` is the
look gap: what a perfect pixel adapter could win at most on this content; an adapter's
`closed` share is `(adapted − rendered) / (real − rendered)`. Also per set, on the parts'
pixels of every (held-out) render vs its photo: mean absolute error (0-255) and SSIM of the
grey images (`skimage.metrics.structural_similarity`) averaged over the part pixels; and the
gap metric (`synthgap.gap.measure_gap`, domain-classifier accuracy, 0.5 = indistinguishable)
of each set's crops against 600 `test` crops and of its 20 images against 90 `test` photos,
with its Spearman rank correlation with recognition over the sets.

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_look_gap.py [--data ../shared/data/lmo]
        [--methods histogram,pda,camera,conv-smcae:aligned,camera+conv-smcae:aligned]
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
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_lmo import (  # noqa: E402
    LMO_NAMES,
    MIN_BOX_PX,
    MIN_VISIB,
    _recognition_job,
    accepted,
    aligned_fit_data,
    find_scene_dir,
    log,
    real_truth,
    render_scene_file,
    run_jobs,
    square_crop,
)

DEFAULT_METHODS = "histogram,pda,camera,conv-smcae:aligned,camera+conv-smcae:aligned"


def fit_boxes(bop, names: dict[int, str], classes: list[str]
              ) -> list[list[tuple[tuple[int, int, int, int], int]]]:
    """Per fit photo: (visible box, class index) of the instances `real_lmo` crops."""
    cls_index = {c: i for i, c in enumerate(classes)}
    out = []
    for im in bop.images:
        keep = []
        for o in im.objects:
            if o.bbox_visib is None or o.visib_fract is None:
                sys.exit("lmo_look_gap: the data set needs scene_gt_info.json (visible boxes)")
            if o.visib_fract < MIN_VISIB or min(o.bbox_visib[2], o.bbox_visib[3]) < MIN_BOX_PX:
                continue
            keep.append((tuple(o.bbox_visib), cls_index[names[o.obj_id]]))
        out.append(keep)
    return out


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="BOP data set folder with splits.json (default ../shared/data/lmo)")
    ap.add_argument("--scene", type=Path, default=REPO / "examples" / "lmo_like.yaml",
                    help="render scene template (lights, sensor; as real_lmo.py)")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "lmo_look_gap",
                    help="cache folder (real ground truth, render scene)")
    ap.add_argument("--methods", default=DEFAULT_METHODS,
                    help="comma-separated adapters: METHOD (fitted unpaired on a half's renders "
                         "and photos) or METHOD:aligned (aligned pairs); `none`: no adapters")
    ap.add_argument("--seeds", type=int, default=5, help="training seeds")
    ap.add_argument("--steps", type=int, default=200, help="classifier steps (real_lmo: 200)")
    ap.add_argument("--jobs", type=int, default=2, help="training processes (1 thread each)")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()
    t_start = time.perf_counter()

    from synthgap.scenes.bop import read_bop_scene

    data = args.data.resolve()
    splits_path = data / "splits.json"
    if not splits_path.is_file():
        sys.exit(f"lmo_look_gap: {splits_path} not found; --data must be a BOP data set folder "
                 "with splits.json ({\"fit\": [ids], \"test\": [ids]})")
    splits = json.loads(splits_path.read_text())
    fit_ids, test_ids = [int(i) for i in splits["fit"]], [int(i) for i in splits["test"]]
    bop_all = read_bop_scene(find_scene_dir(data))
    names = {i: LMO_NAMES.get(i, f"obj_{i:06d}") for i in bop_all.obj_ids}
    classes = sorted(names.values())
    out = args.out.resolve()

    truth = real_truth(data, out, classes, names)
    test_c = np.isin(truth["crop_img"], test_ids)
    test_x, test_y = truth["crops"][test_c], truth["crop_cls"][test_c]
    scene_path = render_scene_file(data, out, args.scene, fit_ids, names)
    bop_fit = read_bop_scene(find_scene_dir(data), image_ids=fit_ids)
    fit = aligned_fit_data(data, fit_ids, names, scene_path)
    if len(fit.real) != len(bop_fit.images):
        sys.exit(f"lmo_look_gap: {len(fit.real)} aligned views for {len(bop_fit.images)} photos")
    from synthgap.data.layout import read_image

    for photo, im in zip(fit.real, bop_fit.images, strict=True):  # same order, same pixels
        if not np.array_equal(photo, read_image(im.rgb)):
            sys.exit(f"lmo_look_gap: aligned view order differs from the photos ({im.rgb})")
    boxes = fit_boxes(bop_fit, names, classes)
    masks = fit.real_masks
    log(f"look gap: {len(fit.real)} fit photos, {sum(map(len, boxes))} crops; "
        f"{len(test_y)} test crops")

    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "real": crops_of(fit.real, boxes), "rendered": crops_of(fit.synthetic, boxes)}
    look = {"rendered": part_look(fit.synthetic, fit.real, masks)}
    adapters: dict[str, Any] = {}
    adapted_images: dict[str, list[np.ndarray]] = {}
    failed: dict[str, str] = {}
    methods = [] if args.methods == "none" else [m for m in args.methods.split(",") if m]
    for variant in methods:
        try:
            adapted, info = adapt_two_fold(variant, fit)
        except Exception as exc:  # a broken method is reported, the others still run
            failed[variant] = f"{type(exc).__name__}: {exc}"
            log(f"{variant}: FAILED: {failed[variant]}")
            continue
        sets[variant] = crops_of(adapted, boxes)
        adapted_images[variant] = adapted
        look[variant] = part_look(adapted, fit.real, masks)
        adapters[variant] = info
        log(f"{variant}: fit {info['fit_s']:.0f} s (2 folds)"
            + (f", strengths {info['strength']}" if info["strength"] else "")
            + f", part MAE {look[variant]['mae']}, SSIM {look[variant]['ssim']}")

    from synthgap.gap.metric import GapConfig, measure_gap

    crop_cfg = GapConfig(patch_size=64, patches_per_image=1, max_images=1500,
                         mmd_permutations=0)
    img_cfg = GapConfig(mmd_permutations=0)
    pick = np.random.default_rng(2).choice(len(test_x), size=min(600, len(test_x)),
                                           replace=False)
    gap_ids = sorted(np.random.default_rng(0).choice(test_ids, size=min(90, len(test_ids)),
                                                     replace=False).tolist())
    bop_test = read_bop_scene(find_scene_dir(data), image_ids=gap_ids)
    test_photos = [read_image(im.rgb) for im in bop_test.images]
    images_of = {"real": fit.real, "rendered": fit.synthetic, **adapted_images}
    gap_metric = {}
    for name, (crops, _) in sets.items():
        gap_metric[name] = {
            "crops": round(measure_gap(list(crops), list(test_x[np.sort(pick)]),
                                       rng=np.random.default_rng(0),
                                       config=crop_cfg).domain_accuracy, 4),
            "images": round(measure_gap(list(images_of[name]), test_photos,
                                        rng=np.random.default_rng(0),
                                        config=img_cfg).domain_accuracy, 4)}
    log(f"gap metric: {gap_metric}")

    budget = (args.steps, 48, 3e-3)
    jobs = [(name, seed, [s], test_x, test_y, len(classes), budget, None)
            for seed in range(args.seeds) for name, s in sets.items()]
    log(f"recognition: {len(jobs)} trainings on {args.jobs} processes")
    results = run_jobs(_recognition_job, jobs, args.jobs)
    per: dict[str, dict[int, float]] = {}
    for name, seed, correct, total in results:
        per.setdefault(name, {})[seed] = correct / total
    rec = {k: {"mean": round(float(np.mean(list(v.values()))), 4),
               "std": round(float(np.std(list(v.values()))), 4),
               "seeds": [round(x, 4) for x in v.values()]} for k, v in per.items()}
    if any(not np.isfinite(r["mean"]) for r in rec.values()):
        sys.exit("lmo_look_gap: a recognition result is not finite")
    gap = rec["real"]["mean"] - rec["rendered"]["mean"]

    print(f"\nSame content, rendered vs real look: {len(sets['real'][1])} crops of the "
          f"{len(fit.real)} `fit` photos; recognition of {len(test_y)} `test` crops "
          f"({args.seeds} seeds, {args.steps} steps)\n")
    print("| training crops | recognition | closed | part MAE | part SSIM | gap: crops | "
          "gap: images | strength |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sets:
        r = rec[name]
        closed = ("" if name in ("real", "rendered") or abs(gap) < 1e-9 else
                  f"{(r['mean'] - rec['rendered']['mean']) / gap:+.0%}")
        lk = look.get(name, {"mae": 0.0, "ssim": 1.0})
        st = ",".join(f"{s:g}" for s in adapters.get(name, {}).get("strength", []))
        gm = gap_metric[name]
        print(f"| {name} | {r['mean']:.3f} ± {r['std']:.3f} | {closed} | {lk['mae']:.1f} | "
              f"{lk['ssim']:.3f} | {gm['crops']:.3f} | {gm['images']:.3f} | {st} |")
    order = list(sets)
    rho = {k: round(float(spearmanr([-gap_metric[n][k] for n in order],
                                    [rec[n]["mean"] for n in order]).statistic), 3)
           for k in ("crops", "images")}
    print(f"\nlook gap (real − rendered): {gap:+.3f}; gap metric vs recognition, Spearman: "
          f"crops {rho['crops']}, images {rho['images']}")
    for k, v in failed.items():
        print(f"FAILED {k}: {v}")
    result = {"benchmark": "lmo_look_gap", "n_train_crops": len(sets["real"][1]),
              "n_test_crops": len(test_y), "seeds": args.seeds, "steps": args.steps,
              "recognition": rec, "look_gap": round(gap, 4), "part_look": look,
              "adapters": adapters, "failed": failed, "gap_metric": gap_metric,
              "spearman": rho,
              "seconds": round(time.perf_counter() - t_start, 1)}
    if args.json:
        print(json.dumps(result))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
