"""Do per-part colour corrections measured on aligned photos help? (2-fold CV on `fit` photos)

`lmo_look_gap.py` shows the parts' colours are where renders look most wrong (LM-O's scanned
vertex colours: a nearly grey driller that is green in the photos, a pinkish-grey watering can
that is cream). A pixel adapter applied to whole images cannot know which part a pixel
belongs to; the renderer can: each part's `material` takes `brightness`, `hue_shift` and
`saturation` applied to its own colours. This script measures them per part from aligned
pairs (each `fit` photo rendered at its true poses, the scene's lights and sensor at their
midpoints) by comparing the statistics of the part's pixels (masks eroded by 3 px, so small
pose errors do not mix in the background), in linear RGB: brightness = ratio of median
values, saturation = ratio of median HSV saturations, hue shift = difference of the
saturation-weighted circular mean hues. No pixel-to-pixel alignment is needed.

2-fold over the 20 `fit` photos: corrections measured on one half's views, the 400 renders of
`real_lmo.py`'s scene rendered again with them, a classifier trained on those renders alone and
tested on the real crops of the other half; beside the cached raw renders (same seeds).

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_part_colour_cv.py [--seeds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import yaml

from synthgap.evaluate import bench as rl


def _linear(rgb: np.ndarray) -> np.ndarray:
    from synthgap.generators.look.appearance import srgb_to_linear

    return srgb_to_linear(rgb.astype(np.float32) / 255.0)


def _stats(pixels: np.ndarray) -> tuple[float, float, float]:
    """(median value, median saturation, saturation-weighted circular mean hue in turns) of
    `(N, 3)` linear RGB pixels."""
    hsv = cv2.cvtColor(np.ascontiguousarray(pixels.reshape(-1, 1, 3), np.float32),
                       cv2.COLOR_RGB2HSV).reshape(-1, 3)
    h, s, v = np.deg2rad(hsv[:, 0]), hsv[:, 1], hsv[:, 2]
    hue = float(np.arctan2((s * np.sin(h)).sum(), (s * np.cos(h)).sum()) / (2 * np.pi))
    return float(np.median(v)), float(np.median(s)), hue


def part_corrections(fit, n_parts: int) -> dict[int, dict[str, float]]:
    """Per part label (1-based index in the scene's parts): brightness, hue_shift, saturation."""
    kernel = np.ones((7, 7), np.uint8)
    pix: dict[int, tuple[list, list]] = {}
    for r, p, m in zip(fit.synthetic, fit.real, fit.synthetic_masks, strict=True):
        for c in range(1, n_parts + 1):
            on = cv2.erode((m == c).astype(np.uint8), kernel) > 0
            if on.sum() < 50:
                continue
            a, b = pix.setdefault(c, ([], []))
            a.append(_linear(r[on]))
            b.append(_linear(p[on]))
    out = {}
    for c, (a, b) in pix.items():
        vr, sr, hr = _stats(np.concatenate(a))
        vp, sp, hp = _stats(np.concatenate(b))
        dh = (hp - hr + 0.5) % 1.0 - 0.5
        out[c] = {"brightness": round(float(np.clip(vp / max(vr, 1e-4), 0.2, 5.0)), 3),
                  "hue_shift": round(float(np.clip(dh, -0.5, 0.5)), 3),
                  "saturation": round(float(np.clip(sp / max(sr, 1e-4), 0.0, 5.0)), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    rl.FitSplit.add_arguments(ap)
    ap.add_argument("--terms", default="brightness,hue_shift,saturation",
                    help="which corrections to apply (the others stay at their identity)")
    args = ap.parse_args()
    t0 = time.perf_counter()

    from synthgap.scenes.bop import read_bop_scene

    fs = rl.FitSplit(args.data, args.out, args.scene, args.renders)
    data, names, classes, out, scene_path = fs.data, fs.names, fs.classes, fs.out, fs.scene_path
    raw = rl.derived((fs.renders.image(i) for i in range(len(fs.renders))), fs.renders, set())
    folds = fs.folds
    budget = (args.steps, 48, 3e-3)
    jobs, corrections = [], {}
    for f, train_ids in enumerate(folds):
        test_x, test_y = fs.held_out(f)
        fd = rl.aligned_fit_data(data, train_ids, scene_path)
        spec = yaml.safe_load(scene_path.read_text(encoding="utf-8"))
        # the aligned scene's parts: the objects seen in these photos, sorted by id
        used = sorted({o.obj_id for im in read_bop_scene(rl.scene_dir(data),
                                                         image_ids=train_ids).images
                       for o in im.objects})
        corr = part_corrections(fd, len(used))
        terms = set(args.terms.split(","))
        corrections[f] = {names[used[c - 1]]: {k: x for k, x in v.items() if k in terms}
                          for c, v in sorted(corr.items())}
        rl.log(f"fold {f}: corrections {corrections[f]}")
        for part in spec["parts"]:
            if part["class"] in corrections[f]:
                part["material"] = {"appearance": "mesh", **corrections[f][part["class"]]}
        tag = "" if len(terms) == 3 else "_" + "-".join(sorted(terms))
        path = out / f"scene_partcolour{f}{tag}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        rs = rl.RenderSet(rl.render(path, out / f"renders_partcolour{f}{tag}", args.renders, 1),
                          classes)
        pc = rl.derived((rs.image(i) for i in range(len(rs))), rs, set())
        for seed in range(args.seeds):
            for name, s in (("raw", raw), ("part-colour", pc)):
                jobs.append((name, seed, [(s["crops"], s["labels"])], test_x, test_y,
                             len(classes), budget, None))
    rl.log(f"{len(jobs)} trainings on {args.jobs} processes")
    results = rl.run_jobs(rl.recognition_job, jobs, args.jobs)
    table = rl.accuracy_table(results, "lmo_part_colour_cv")
    print("\n| renders (fit-split 2-fold CV) | recognition |\n|---|---|")
    for row, r in table.items():
        print(f"| {row} | {r['mean']:.3f} ± {r['std']:.3f} |")
    if args.json:
        print(json.dumps({"benchmark": "lmo_part_colour_cv", "recognition": table,
                          "corrections": corrections, "seeds": args.seeds,
                          "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
