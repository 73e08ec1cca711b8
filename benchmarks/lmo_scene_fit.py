"""Random-scene renders vs renders of the scene fitted from the photos, on the LM-O `fit` photos.

2-fold cross-validation over the 20 `fit` photos (never the `test` photos): for each fold, the
scenes are built from that fold's 10 photos only (backgrounds, and for `fitted` the fit itself)
and a crop classifier trained on their renders alone is tested on the real crops of the other
fold's photos. Rows:

* `random`: `examples/lmo_like.yaml` (guessed ranges), the fold's raw photos as backgrounds;
* `fitted`: the fitted pipeline on the fold's photos and true poses (BOP `scene_gt`):
  `synthgap scene fit` (background plates, parts removed; `sensor:` block fitted by the
  camera model), then `synthgap lights` (key and ambient light fitted to the same photos);
* `fitted[-lights]`: `synthgap scene fit` alone (the template's lights);
* `fitted[-plates]`: `fitted` with the raw photos as backgrounds (same fitted lights);
* `fitted[-sensor]`: `fitted` with `scene fit --no-sensor` (the template's `sensor:` block
  instead of the fitted one);
* `fitted+tune`: `fitted` searched by `synthgap tune` (default search space, `--tune-trials`
  trials of 16 renders, gap metric against the fold's 10 photos); its best scene is taken
  only when tune's report finds it closer beyond seed noise (start − best interval above 0),
  as docs/tune.md advises; `fitted+tune(blind)`: the best scene regardless;
* `fitted+jitter`: `fitted` with mild per-image colour jitter of the parts (`JITTER`:
  brightness 0.8-1.25, hue ±0.03, saturation 0.8-1.2; fixed in advance);
* `fitted[align]`: `synthgap scene fit` from `synthgap align`'s poses (template's lights);
* `fitted:METHOD`: the renders of `fitted`, adapted by METHOD fitted on the fitted scene's
  *aligned pairs*: the fold's photos rendered at their own poses with the fitted scene's
  look (lights, ambient, sensor at its midpoint), paired with the photos, part masks from the
  poses (`synthgap.evaluate.bench.aligned_fit_data` / `fit_adapter`, as real_lmo.py's
  `METHOD:aligned` rows);
* `fitted+real`: pre-trained on `fitted`'s renders, fine-tuned on the fold's labelled crops;
* `real-only x2`: the fold's labelled crops alone, twice the steps (as `fitted+real`).

Also printed: the share of real-object pixels in the render crops (`object_pixel_share`).

    PYOPENGL_PLATFORM=egl nice -n 10 python benchmarks/lmo_scene_fit.py [--renders 60]
        [--seeds 2] [--rows ...] [--out bench_out/lmo_scene_fit] [--json]

`--write-scene ROW` builds one row's scene from all 20 `fit` photos instead (in `OUT/all`)
and prints its path, for a final `real_lmo.py --scene ... --keep-scene-background` run.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from synthgap.evaluate import bench as rl
from synthgap.evaluate.crops import square_crop

REPO = Path(__file__).resolve().parents[1]
# the real crops real_lmo uses (synthgap.evaluate.crops.real_crops defaults)
MIN_VISIB, MIN_BOX_PX = 0.3, 6


def fit_truth(data: Path, ids: list[int], classes: list[str], names: dict[int, str]):
    """Real crops, labels and photo ids of the given (fit) photos only, from their poses."""
    from synthgap.data.layout import read_image
    from synthgap.generators.real.ground_truth import iter_view_labels
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    bop = read_bop_scene(rl.scene_dir(data), image_ids=ids)
    scene = bop_scene_to_scene(bop, names=names)
    cls_index = {c: i for i, c in enumerate(classes)}
    crops, cls, img = [], [], []
    labelled = [im for im in bop.images if im.objects]
    for lab in iter_view_labels(scene):
        im = labelled[lab.view_index]
        photo = read_image(im.rgb)
        for k, o in enumerate(im.objects):
            box, fract = o.bbox_visib, o.visib_fract
            if box is None or fract is None:
                box, fract = tuple(lab.boxes_visib[k]), float(lab.visib_fract[k])
            if fract < MIN_VISIB or min(box[2], box[3]) < MIN_BOX_PX:
                continue
            crops.append(square_crop(photo, box))
            cls.append(cls_index[lab.categories[k]])
            img.append(im.image_id)
    return np.stack(crops), np.array(cls), np.array(img)


def random_scene(data: Path, out: Path, ids: list[int], names: dict[int, str]) -> Path:
    """`examples/lmo_like.yaml` with this fold's raw photos as backgrounds (real objects and
    all: the contamination the fitted scene's plates remove)."""
    rgb = rl.scene_dir(data) / "rgb"
    photos = [next(rgb.glob(f"{i:06d}.*")) for i in ids]
    return rl.render_scene_file(REPO / "examples" / "lmo_like.yaml", out, data, ids, photos)


def fitted_scene(data: Path, out: Path, ids: list[int], plates: bool,
                 sensor: bool = True) -> Path:
    """`synthgap scene fit` on this fold's photos (true poses); `sensor` False: `--no-sensor`
    (the template's sensor block)."""
    path = out / "fitted.yaml"
    if path.is_file():
        return path
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "synthgap", "scene", "fit",
           str(REPO / "examples" / "lmo_like.yaml"),
           "--bop", str(rl.scene_dir(data)), "--image-ids", ",".join(map(str, ids)),
           "-o", str(path), "--force", *([] if plates else ["--no-plates"]),
           *([] if sensor else ["--no-sensor"])]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if res.returncode:
        sys.exit(f"scene fit failed: {res.stderr[-2000:]}")
    rl.log(f"scene fit: {res.stdout.strip()[:300]}")
    return path


@functools.lru_cache(maxsize=4)
def _masks(data: Path, ids: tuple[int, ...]) -> tuple:
    from synthgap.scenefit.observations import from_bop
    from synthgap.scenefit.plates import photo_masks
    from synthgap.scenes import load_scene

    tpl = load_scene(REPO / "examples" / "lmo_like.yaml")
    obs = from_bop([rl.scene_dir(data)], tpl, image_ids=ids)
    return obs, photo_masks(tpl, obs)


def share(render_dir: Path, data: Path, ids: list[int]) -> dict:
    """Real-object pixel share in the render crops (masks of this fold's raw photos)."""
    from synthgap.scenefit.plates import object_pixel_share

    obs, masks = _masks(data, tuple(ids))
    return object_pixel_share(
        render_dir, {str(o.photo): m.instance_mask for o, m in zip(obs, masks, strict=True)},
        photo_classes={str(o.photo): m.categories for o, m in zip(obs, masks, strict=True)},
    ).as_dict()


def align_views_file(data: Path, out: Path, ids: list[int], min_visib: float) -> Path:
    """`synthgap align` poses of the fold's photos (box hint: each part's true visible box,
    what a person would draw), written as a `real_views` file (cached)."""
    from synthgap.poses.views import align_views, views_yaml
    from synthgap.scenes import load_scene
    from synthgap.scenes.bop import read_bop_scene

    path = out / "align_views.yaml"
    if path.is_file():
        return path
    tpl = load_scene(REPO / "examples" / "lmo_like.yaml")
    bop = read_bop_scene(rl.scene_dir(data), image_ids=ids)
    views: list = []
    t = time.perf_counter()
    for im in bop.images:
        objs = [o for o in im.objects if o.visib_fract is not None and o.bbox_visib is not None
                and o.visib_fract >= min_visib and min(o.bbox_visib[2:]) >= MIN_BOX_PX]
        if not objs:
            continue
        v, _ = align_views(tpl, [im.rgb], [f"obj_{o.obj_id:06d}" for o in objs],
                           boxes=[tuple(float(b) for b in o.bbox_visib) for o in objs], seed=0)
        views.extend(v)
        rl.log(f"align: photo {im.image_id}, {len(objs)} parts ({time.perf_counter() - t:.0f} s)")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(views_yaml(views), encoding="utf-8")
    return path


def fitted_from_views(views: Path, out: Path) -> Path:
    """`synthgap scene fit --views` (the poses `synthgap align` estimated)."""
    path = out / "fitted.yaml"
    if path.is_file():
        return path
    cmd = [sys.executable, "-m", "synthgap", "scene", "fit",
           str(REPO / "examples" / "lmo_like.yaml"), "--views", str(views), "-o", str(path),
           "--force"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if res.returncode:
        sys.exit(f"scene fit --views failed: {res.stderr[-2000:]}")
    rl.log(f"scene fit (align poses): {res.stdout.strip()[:300]}")
    return path


def lit_scene(fitted: Path, out: Path, data: Path, ids: list[int]) -> Path:
    """`synthgap lights` on the fitted scene and this fold's photos (true poses; no held-out
    check inside): the fitted scene with the fitted key and ambient light (cached)."""
    path = out / "fitted_lit.yaml"
    if path.is_file():
        return path
    cmd = [sys.executable, "-m", "synthgap", "lights", str(fitted), "--bop",
           str(rl.scene_dir(data)), "--image-ids", ",".join(map(str, ids)), "-o", str(path),
           "--folds", "0", "--force"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if res.returncode:
        sys.exit(f"synthgap lights failed: {res.stderr[-2000:]}")
    rl.log(f"lights: {res.stdout.strip()[:400]}")
    return path


def tuned_scene(lit: Path, out: Path, data: Path, ids: list[int], trials: int,
                blind: bool) -> Path:
    """`synthgap tune` of the fitted, lit scene against the fold's photos (its default search
    space, the fold's photos only): its best scene when the report's re-measured start − best
    interval is above 0 (docs/tune.md, "Reading the report"), else the scene as given;
    `blind`: the best scene regardless (cached)."""
    best = out / "tune" / "best_scene.yaml"
    if not best.is_file():
        run_tune(lit, out, data, ids, trials)
    gain = json.loads((out / "tune" / "report.json").read_text())["compare"][
        "start_minus_best"]
    adopt = blind or gain["lo"] > 0
    rl.log(f"tune: start - best {gain['mean']:+.4f} [{gain['lo']:+.4f}, {gain['hi']:+.4f}]: "
           f"{'best scene' if adopt else 'scene as given'}")
    return best if adopt else lit


def run_tune(lit: Path, out: Path, data: Path, ids: list[int], trials: int) -> None:
    """Run `synthgap tune` on `lit` against the fold's photos, into `out/tune`."""
    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    rgb = rl.scene_dir(data) / "rgb"
    for i in ids:
        src = next(rgb.glob(f"{i:06d}.*"))
        (photos / src.name).write_bytes(src.read_bytes())
    cmd = [sys.executable, "-m", "synthgap", "tune", str(lit), "--photos", str(photos),
           "-o", str(out / "tune"), "--trials", str(trials), "--renders", "16"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if res.returncode:
        sys.exit(f"synthgap tune failed: {res.stderr[-2000:]}")
    rl.log(f"tune: {res.stdout.strip()[-400:]}")


#: `fitted+jitter`: mild per-image colour jitter of every part, fixed in advance (not tuned)
JITTER = {"brightness": [0.8, 1.25], "hue_shift": [-0.03, 0.03], "saturation": [0.8, 1.2]}


def jittered(scene: Path, out: Path) -> Path:
    """`scene` with `JITTER` in every part's material, written as `out`."""
    import yaml

    spec = yaml.safe_load(scene.read_text(encoding="utf-8"))
    for part in spec["parts"]:
        part.setdefault("material", {}).update({k: list(v) for k, v in JITTER.items()})
    out.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return out


def with_lights(scene: Path, lit: Path, out: Path) -> Path:
    """`scene` with the lights and ambient of `lit`, written beside `scene` as `out`."""
    import yaml

    spec = yaml.safe_load(scene.read_text(encoding="utf-8"))
    src = yaml.safe_load(lit.read_text(encoding="utf-8"))
    spec["lights"] = src["lights"]
    spec.setdefault("background", {})["ambient"] = src["background"]["ambient"]
    out.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return out


#: Adapters fitted on the fitted scene's aligned pairs (rows `fitted:METHOD`).
ADAPTERS = ("histogram", "pda", "camera", "conv-smcae", "camera+conv-smcae")
ROWS = ("random", "fitted", "fitted[-lights]", "fitted[-plates]", "fitted[-sensor]",
        "fitted+tune", "fitted+tune(blind)", "fitted+jitter", "fitted[align]",
        *[f"fitted:{m}" for m in ADAPTERS], "fitted+real", "real-only x2")
DEFAULT_ROWS = ("random,fitted,fitted[-lights],fitted[-plates],fitted[-sensor],fitted+tune,"
                + ",".join(f"fitted:{m}" for m in ADAPTERS) + ",fitted+real,real-only x2")


def base_row(row: str) -> str:
    """The row whose renders a row trains on (`fitted:METHOD`, `fitted+real`: `fitted`)."""
    return "fitted" if row.startswith("fitted:") or row == "fitted+real" else row


def make_scene(row: str, args: argparse.Namespace, fold: Path, ids: list[int],
               names: dict[int, str]) -> Path:
    """The scene file of one row for one fold (built from the fold's photos only)."""
    row = base_row(row)
    if row == "random":
        return random_scene(args.data, fold / "random", ids, names)
    if row == "fitted[align]":
        views = align_views_file(args.data, fold / "align", ids, args.align_min_visib)
        return fitted_from_views(views, fold / "align")
    if row == "fitted[-sensor]":
        plain = fitted_scene(args.data, fold / "nosensor", ids, True, sensor=False)
        return lit_scene(plain, fold / "nosensor", args.data, ids)
    plated = fitted_scene(args.data, fold / "fitted", ids, True)
    if row == "fitted[-lights]":
        return plated
    lit = lit_scene(plated, fold / "fitted", args.data, ids)
    if row == "fitted":
        return lit
    if row == "fitted+jitter":
        return jittered(lit, lit.with_name("fitted_jitter.yaml"))
    if row in ("fitted+tune", "fitted+tune(blind)"):
        return tuned_scene(lit, fold / "fitted", args.data, ids, args.tune_trials,
                           blind=row.endswith("(blind)"))
    raw = fitted_scene(args.data, fold / "noplates", ids, False)
    return with_lights(raw, lit, raw.with_name("fitted_lit.yaml"))


def training_data(args: argparse.Namespace, f: int, row: str, scene: Path, ids: list[int],
                  classes: list[str]) -> tuple[dict, dict]:
    """The render crops a row trains on and its object share; `fitted:METHOD` fits METHOD
    on the aligned pairs of the fold's photos with `scene`'s look and adapts the renders."""
    rdir = rl.render(scene, args.out / f"fold{f}" / f"renders_{base_row(row)}", args.renders, 1)
    rs = rl.RenderSet(rdir, classes)
    info: dict = {"share": share(rdir, args.data, ids)}
    images = (rs.image(i) for i in range(len(rs)))
    if row.startswith("fitted:"):
        adapter, fit_info = rl.fit_adapter(f"{row.split(':', 1)[1]}:aligned", [], [],
                                           lambda: rl.aligned_fit_data(args.data, ids, scene),
                                           seed=0)
        info["adapter"] = fit_info
        images = (adapter.transform(im) for im in images)
    return rl.derived(images, rs, set()), info


def row_result(args: argparse.Namespace, f: int, row: str, scene: Path | None, ids: list[int],
               classes: list[str], test: tuple[np.ndarray, np.ndarray, np.ndarray],
               train_real: tuple[np.ndarray, np.ndarray]) -> dict:
    """Accuracy per seed, per held-out photo, and the object share of one (fold, row);
    cached in the fold folder (same renders, seeds, steps)."""
    from synthgap.evaluate.models import TrainBudget, classify, train_classifier, train_mixed

    key = {"renders": args.renders, "seeds": args.seeds, "steps": args.steps}
    cache = args.out / f"fold{f}" / f"result_{row}.json"
    if cache.is_file():
        got = json.loads(cache.read_text())
        if got.get("key") == key:
            return got
    crops, cls, img = test
    res: dict = {"key": key, "seeds": {}, "photos": {},
                 "share": {"mean_share": float("nan"), "other_class_over_10pct": float("nan")}}
    d: dict = {}
    if scene is not None:
        d, info = training_data(args, f, row, scene, ids, classes)
        res.update(info)
    budget = TrainBudget(args.steps, 48, 3e-3)
    for seed in range(args.seeds):
        if row == "real-only x2":
            net = train_classifier([train_real], len(classes), seed=seed,
                                   budget=TrainBudget(2 * args.steps, 48, 3e-3))
        elif row.endswith("+real"):
            net = train_mixed((d["crops"], d["labels"]), train_real, len(classes), seed=seed,
                              budget=budget, recipe="finetune")
        else:
            net = train_classifier([(d["crops"], d["labels"])], len(classes), seed=seed,
                                   budget=budget)
        ok = classify(net, crops) == cls
        res["seeds"][str(seed)] = [int(ok.sum()), int(ok.size)]
        for pid in np.unique(img):  # [correct, crops] per seed
            res["photos"].setdefault(str(int(pid)), []).append(
                [int(ok[img == pid].sum()), int((img == pid).sum())])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(res), encoding="utf-8")
    return res


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "lmo_scene_fit")
    ap.add_argument("--renders", type=int, default=60, help="renders per scene and fold")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds")
    ap.add_argument("--steps", type=int, default=200, help="training steps (real_lmo: 200)")
    ap.add_argument("--rows", default=DEFAULT_ROWS,
                    help=f"comma-separated rows of {', '.join(ROWS)} (fitted[align] runs "
                         "`synthgap align` on every fit photo first: ~10-20 min)")
    ap.add_argument("--tune-trials", type=int, default=20,
                    help="fitted+tune: synthgap tune trials per fold (16 renders each)")
    ap.add_argument("--align-min-visib", type=float, default=0.3,
                    help="fitted[align]: align the parts at least this visible")
    ap.add_argument("--write-scene", metavar="ROW", default=None,
                    help="only build ROW's scene file from all 20 fit photos (in OUT/all) and "
                         "print its path: the scene a final real_lmo.py run renders")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.write_scene is not None and (args.write_scene not in ROWS
                                         or args.write_scene == "real-only x2"):
        ap.error(f"--write-scene: a row with a scene, one of {', '.join(ROWS[:-1])}")
    args.row_list = [r for r in args.rows.split(",") if r]
    if any(r not in ROWS for r in args.row_list) or "random" not in args.row_list:
        ap.error(f"--rows: choose from {', '.join(ROWS)} (random is the reference, always in)")
    args.data, args.out = args.data.resolve(), args.out.resolve()
    return args


def main() -> None:
    args = parse_args()
    rows = args.row_list
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    splits = json.loads((args.data / "splits.json").read_text())
    fit_ids = [int(i) for i in splits["fit"]]  # the test split is never read
    names = {i: rl.LMO_NAMES.get(i, f"obj_{i:06d}") for i in range(1, 16)}
    if args.write_scene is not None:
        print(make_scene(args.write_scene, args, args.out / "all", fit_ids, names))
        return
    folds = [fit_ids[0::2], fit_ids[1::2]]
    classes = sorted(names[i] for i in (1, 5, 6, 8, 9, 10, 11, 12))
    truth = fit_truth(args.data, fit_ids, classes, names)
    results: dict[str, list[dict]] = {}
    for f, ids in enumerate(folds):
        fold = args.out / f"fold{f}"
        held = np.isin(truth[2], folds[1 - f])
        test = (truth[0][held], truth[1][held], truth[2][held])
        train_real = (truth[0][~held], truth[1][~held])
        for row in rows:
            scene = None if row == "real-only x2" else make_scene(row, args, fold, ids, names)
            results.setdefault(row, []).append(
                row_result(args, f, row, scene, ids, classes, test, train_real))
            rl.log(f"fold {f} {row}: done ({time.perf_counter() - t0:.0f} s)")
    table = summarise(results)
    print_table(table)
    summary = {"benchmark": "lmo_scene_fit", "renders": args.renders, "seeds": args.seeds,
               "steps": args.steps, "test_crops": len(truth[1]),
               "seconds": round(time.perf_counter() - t0, 1), "rows": table}
    if args.json:
        print(json.dumps(summary))


def _interval(d: dict | None) -> str:
    return f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d else ""


def print_table(table: dict[str, dict]) -> None:
    """Rows: accuracy mean ± std over seeds, object shares, intervals vs random and fitted."""
    print(f"{'row':24s} {'accuracy':>14s} {'object px':>10s} {'other>10%':>10s}  "
          f"{'vs random [95 %]':>26s}  {'vs fitted [95 %]':>26s}")
    for row, t in table.items():
        print(f"{row:24s} {t['mean']:.3f} ± {t['std']:.3f} {t['object_share']:10.3f} "
              f"{t['other_class_over_10pct']:10.3f}  {_interval(t.get('vs_random')):>26s}  "
              f"{_interval(t.get('vs_fitted')):>26s}")


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per row: pooled accuracy per seed (mean ± std, ddof 0), object shares, and the paired
    bootstrap of its difference to `random` and to `fitted` (held-out photos resampled
    together, seeds independently per row, 2,000 draws: `synthgap.evaluate.stats`)."""
    from synthgap.evaluate.stats import paired_bootstrap

    table: dict[str, dict] = {}
    per_photo: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for row, folds in results.items():
        photos = {p: np.array(v) for r in folds for p, v in r["photos"].items()}
        order = sorted(photos, key=int)
        correct = np.stack([photos[p][:, 0] for p in order], axis=1)  # (seeds, photos)
        per_photo[row] = (correct, np.array([photos[p][0, 1] for p in order]))
        v = correct.sum(1) / per_photo[row][1].sum()
        table[row] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                      "seeds": [round(float(x), 4) for x in v],
                      "object_share": round(float(np.mean(
                          [r["share"]["mean_share"] for r in folds])), 4),
                      "other_class_over_10pct": round(float(np.mean(
                          [r["share"]["other_class_over_10pct"] or 0.0 for r in folds])), 4)}
        adapters = [r["adapter"] for r in folds if "adapter" in r]
        if adapters:
            table[row]["adapter"] = adapters
    for row in table:
        for ref in ("random", "fitted"):
            if row != ref and ref in per_photo:
                d = paired_bootstrap(per_photo[row][0], per_photo[ref][0], per_photo[ref][1],
                                     rng=np.random.default_rng(0), n_boot=2000)
                table[row][f"vs_{ref}"] = {"diff": round(d.diff, 4),
                                           "ci95": [round(d.lo, 4), round(d.hi, 4)]}
    return table


if __name__ == "__main__":
    main()
