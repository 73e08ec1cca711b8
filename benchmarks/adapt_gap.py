"""Closing the synthetic gap on images: raw renders vs every image adapter, side by side.

Data (nothing downloaded):

* synthetic: renders of the built-in default scene (`preset:turntable`, a metal bracket on a
  turntable) at 512×512; the first half fits the adapters, the second half is adapted and
  measured;
* real: crops of scikit-image's `coins` photo (a real greyscale photo of metal coins), cut into
  four 96-px vertical stripes: stripes 0 and 2 give the photos the adapters are fitted on;
  stripes 1 and 3 are held back and are the only real data the gap is measured against (no
  pixel of them is seen while fitting or choosing settings).

The SMCAE methods run twice: with their defaults, and ("tuned") with settings chosen by a small
grid search on a validation split of the *fitting* data (`tune`). For each method: the gap
metrics of the adapted evaluation renders against the held-back real
crops (`synthgap.gap.measure_gap`: domain-classifier accuracy, 0.5 = indistinguishable;
the same on look-only features (no HOG: what an adapter that keeps geometry can change); MMD²;
intensity-histogram W1; radial-spectrum distance), the fit time, and the apply speed on
512×512 renders (images/s wall clock with `--threads` torch threads, and CPU ms per image,
which does not depend on what else runs on the machine). A `real (fit half)` row measures
the fit crops against the held-back crops: the floor a perfect adapter could reach.

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/adapt_gap.py [--renders 48] [--crops 24]
        [--crop-size 96] [--seed 0] [--threads 2] [--no-tune] [--figure gap.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np

METHODS = ("histogram", "fda", "pda", "patch-smcae", "conv-smcae")


def render_demo(out: Path, count: int, seed: int, size: int) -> list[np.ndarray]:
    from synthgap.adapt.photos import load_photos
    from synthgap.cli.render import prepare_render
    from synthgap.generators.run.runner import render_dataset

    source, identity = prepare_render("preset:turntable", seed=seed, width=size, height=size)
    render_dataset(source, out, identity=identity, count=count)
    return load_photos(out).images


def coin_crops(split: str, n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` random `size`² crops of one split of skimage's coins photo (303×384), as RGB.

    The photo is cut into 4 vertical stripes of 96 px; `fit` crops come from stripes 0 and 2,
    `held` crops from stripes 1 and 3, so the two splits share no pixel while both span the
    photo's left-to-right illumination gradient. Crops are `size` px tall and at most 96 wide.
    """
    from skimage import data

    coins = data.coins()
    stripes = [coins[:, i * 96:(i + 1) * 96] for i in range(4)]
    mine = stripes[0::2] if split == "fit" else stripes[1::2]
    out = []
    for k in range(n):
        part = mine[k % 2]
        h, w = min(size, part.shape[0]), min(size, part.shape[1])
        y = rng.integers(0, part.shape[0] - h + 1)
        x = rng.integers(0, part.shape[1] - w + 1)
        out.append(np.repeat(part[y:y + h, x:x + w, None], 3, axis=2))
    return out


def apply_speed(adapter, images: list[np.ndarray], repeats: int = 2) -> tuple[float, float]:
    """`(images/s wall clock, CPU ms per image)` of `transform`, best of `repeats` passes.

    CPU time (all threads of this process) is reported because wall-clock speed on a shared
    machine depends on what else runs; `2000 / cpu_ms` bounds the images/s of 2 free cores.
    """
    adapter.transform(images[0])  # warm-up (lazy imports, allocator, oneDNN kernels)
    best_wall, best_cpu = 0.0, float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for img in images:
            adapter.transform(img)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        best_wall = max(best_wall, len(images) / wall)
        best_cpu = min(best_cpu, 1000 * cpu / len(images))
    return best_wall, best_cpu


#: Settings tried by `--tune` (on a validation split of the *fitting* data only).
GRIDS = {
    "conv-smcae": [{"iterations": it, "patch_size": ps, "kernel": k}
                   for it in (600, 2000) for ps in (16, 32) for k in (5, 9)],
    "patch-smcae": [{"iterations": it, "patch_size": ps} for it in (100, 300) for ps in (8, 16)],
}


def tune(method, fit_renders, real_fit, seed):
    """Choose settings on a validation split of the fitting data (never the held-back crops).

    Renders: first half fits, second half is adapted; real: fitting crops from stripe 0 fit,
    those from stripe 2 are the validation reference. Score: |look-only accuracy - 0.5|, then
    |domain accuracy - 0.5|.
    """
    from synthgap.adapt.image_base import make_image_adapter
    from synthgap.gap.metric import measure_gap

    h = len(fit_renders) // 2
    r_fit, r_val = real_fit[0::2], real_fit[1::2]
    scored = []
    for options in GRIDS[method]:
        ad = make_image_adapter(method, options=options)
        ad.fit(fit_renders[:h], r_fit, rng=np.random.default_rng(seed))
        r = measure_gap(ad.transform(fit_renders[h:]), r_val, rng=np.random.default_rng(seed))
        key = (abs(r.domain_accuracy_look - 0.5), abs(r.domain_accuracy - 0.5))
        scored.append((key, options))
        print(f"#   tune {method} {options}: validation look-only acc "
              f"{r.domain_accuracy_look:.3f}, domain acc {r.domain_accuracy:.3f}")
    return min(scored, key=lambda t: t[0])[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--renders", type=int, default=48, help="renders (half fit, half measured)")
    ap.add_argument("--crops", type=int, default=24, help="real crops per coins half")
    ap.add_argument("--crop-size", type=int, default=96)
    ap.add_argument("--size", type=int, default=512, help="render width = height, pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (2 = the target)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--no-tune", action="store_true",
                    help="skip the validation sweep of the SMCAE settings (defaults only)")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()

    import torch

    from synthgap.adapt.image_base import make_image_adapter
    from synthgap.gap.metric import measure_gap

    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        renders = render_demo(Path(tmp) / "demo", args.renders, args.seed, args.size)
        t_render = time.perf_counter() - t0
    half = len(renders) // 2
    fit_renders, eval_renders = renders[:half], renders[half:]
    real_fit = coin_crops("fit", args.crops, args.crop_size, rng)
    real_held = coin_crops("held", args.crops, args.crop_size, rng)

    def gap(images):
        return measure_gap(images, real_held, rng=np.random.default_rng(args.seed))

    rows, reports, examples = {}, {}, {}
    reports["raw"] = gap(eval_renders)
    nan = float("nan")
    rows["raw renders"] = (reports["raw"], nan, (nan, nan))
    examples["raw"] = eval_renders[:3]
    for method in args.methods.split(","):
        adapter = make_image_adapter(method)
        t0 = time.perf_counter()
        adapter.fit(fit_renders, real_fit, rng=np.random.default_rng(args.seed))
        t_fit = time.perf_counter() - t0
        adapted = adapter.transform(eval_renders)
        speed = apply_speed(adapter, eval_renders[:4])
        name = method
        reports[name] = gap(adapted)
        rows[name] = (reports[name], t_fit, speed)
        examples[name] = adapted[:3]
        if method in GRIDS and not args.no_tune:
            options = tune(method, fit_renders, real_fit, args.seed)
            print(f"# {method}: chosen on validation: {options}")
            adapter = make_image_adapter(method, options=options)
            t0 = time.perf_counter()
            adapter.fit(fit_renders, real_fit, rng=np.random.default_rng(args.seed))
            t_fit = time.perf_counter() - t0
            speed = apply_speed(adapter, eval_renders[:4])
            name += " tuned"
            reports[name] = gap(adapter.transform(eval_renders))
            rows[name] = (reports[name], t_fit, speed)
    floor = gap(real_fit)
    rows["real (fit half)"] = (floor, nan, (nan, nan))

    print(f"# load average (1 min) at start {load0:.1f}, at end {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cpus; apply speeds at {args.size}x{args.size}")
    print(f"# adapt_gap: {len(eval_renders)} eval renders {args.size}x{args.size} "
          f"(preset:turntable, seed {args.seed}; {len(fit_renders)} more to fit) vs "
          f"{len(real_held)} held-back coins crops {args.crop_size}px; fit on {len(real_fit)} "
          f"crops of the other half. torch threads={args.threads}, {platform.processor() or '?'}"
          f", {os.cpu_count()} cpus; render {t_render:.1f}s")
    head = (f"{'method':20} {'domain acc':>12} {'look-only acc':>13} {'MMD²':>8} {'hist W1':>8} "
            f"{'spectrum':>8} {'fit s':>7} {'apply img/s':>11} {'CPU ms/img':>10}")
    print(head)
    print("-" * len(head))
    for name, (r, t_fit, speed) in rows.items():
        print(f"{name:20} {r.domain_accuracy:6.3f}±{r.domain_accuracy_std:5.3f} "
              f"{r.domain_accuracy_look:7.3f}±{r.domain_accuracy_look_std:5.3f} "
              f"{r.mmd2:8.4f} {r.histogram_distance:8.4f} "
              f"{r.spectrum_distance:8.3f} {t_fit:7.1f} {speed[0]:11.1f} {speed[1]:10.0f}")
    methods = [n for n in rows if n not in ("raw renders", "real (fit half)")]
    for key in ("domain_accuracy", "domain_accuracy_look"):
        best = min(methods, key=lambda n, k=key: abs(getattr(rows[n][0], k) - 0.5))
        print(f"closest to 0.5 {key}: {best} ({getattr(rows[best][0], key):.3f})")
    if args.figure is not None:
        from synthgap.gap.figure import gap_figure

        gap_figure(args.figure, reports, examples=examples, real_examples=real_held[:3],
                   title="adapt_gap benchmark")
        print(f"figure: {args.figure}")
    if args.json:
        def num(v):
            return None if v != v else v  # NaN -> null (valid JSON)

        print(json.dumps({n: {**r.summary(), "fit_s": num(t), "apply_images_per_s": num(s[0]),
                              "apply_cpu_ms_per_image": num(s[1])}
                          for n, (r, t, s) in rows.items()}))


if __name__ == "__main__":
    main()
