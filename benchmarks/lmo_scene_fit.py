"""Random-scene renders vs renders of the scene fitted from the photos, on the LM-O `fit` photos.

2-fold cross-validation over the 20 `fit` photos (never the `test` photos): for each fold, the
scenes are built from that fold's 10 photos only (backgrounds, and for `fitted` the fit itself)
and a crop classifier trained on their renders alone is tested on the real crops of the other
fold's photos. Rows:

* `random`: `examples/lmo_like.yaml` (guessed ranges), the fold's raw photos as backgrounds;
* `fitted`: `synthgap scene fit` on the fold's photos and true poses (BOP `scene_gt`), with
  background plates (parts removed);
* `fitted[-plates]`: the same fit with the raw photos as backgrounds.

Also printed: the share of real-object pixels in the render crops (`object_pixel_share`).

    PYOPENGL_PLATFORM=egl nice -n 10 python benchmarks/lmo_scene_fit.py [--renders 60]
        [--seeds 2] [--out bench_out/lmo_scene_fit] [--json]
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


def fitted_scene(data: Path, out: Path, ids: list[int], plates: bool) -> Path:
    """`synthgap scene fit` on this fold's photos (true poses)."""
    path = out / "fitted.yaml"
    if path.is_file():
        return path
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "synthgap", "scene", "fit",
           str(REPO / "examples" / "lmo_like.yaml"),
           "--bop", str(rl.scene_dir(data)), "--image-ids", ",".join(map(str, ids)),
           "-o", str(path), "--force", *([] if plates else ["--no-plates"])]
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


ROWS = ("random", "fitted", "fitted[-plates]", "fitted[align]")


def make_scene(row: str, args: argparse.Namespace, fold: Path, ids: list[int],
               names: dict[int, str]) -> Path:
    """The scene file of one row for one fold (built from the fold's photos only)."""
    if row == "random":
        return random_scene(args.data, fold / "random", ids, names)
    if row == "fitted[align]":
        views = align_views_file(args.data, fold / "align", ids, args.align_min_visib)
        return fitted_from_views(views, fold / "align")
    return fitted_scene(args.data, fold / ("fitted" if row == "fitted" else "noplates"), ids,
                        row == "fitted")


def row_result(args: argparse.Namespace, f: int, row: str, scene: Path, ids: list[int],
               classes: list[str], test: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict:
    """Accuracy per seed, per held-out photo, and the object share of one (fold, row);
    cached in the fold folder (same renders, seeds, steps)."""
    from synthgap.evaluate.models import TrainBudget, classify, train_classifier

    key = {"renders": args.renders, "seeds": args.seeds, "steps": args.steps}
    cache = args.out / f"fold{f}" / f"result_{row}.json"
    if cache.is_file():
        got = json.loads(cache.read_text())
        if got.get("key") == key:
            return got
    crops, cls, img = test
    rdir = rl.render(scene, args.out / f"fold{f}" / f"renders_{row}", args.renders, 1)
    rs = rl.RenderSet(rdir, classes)
    d = rl.derived((rs.image(i) for i in range(len(rs))), rs, set())
    res: dict = {"key": key, "share": share(rdir, args.data, ids), "seeds": {}, "photos": {}}
    for seed in range(args.seeds):
        net = train_classifier([(d["crops"], d["labels"])], len(classes), seed=seed,
                               budget=TrainBudget(args.steps, 48, 3e-3))
        ok = classify(net, crops) == cls
        res["seeds"][str(seed)] = [int(ok.sum()), int(ok.size)]
        for pid in np.unique(img):
            res["photos"].setdefault(str(int(pid)), []).append(float(ok[img == pid].mean()))
    cache.write_text(json.dumps(res), encoding="utf-8")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "lmo_scene_fit")
    ap.add_argument("--renders", type=int, default=60, help="renders per scene and fold")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds")
    ap.add_argument("--steps", type=int, default=200, help="training steps (real_lmo: 200)")
    ap.add_argument("--rows", default="random,fitted,fitted[-plates]",
                    help=f"comma-separated rows of {', '.join(ROWS)} (fitted[align] runs "
                         "`synthgap align` on every fit photo first: ~10-20 min)")
    ap.add_argument("--align-min-visib", type=float, default=0.3,
                    help="fitted[align]: align the parts at least this visible")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    if any(r not in ROWS for r in rows) or "random" not in rows:
        sys.exit(f"--rows: choose from {', '.join(ROWS)} (random is the reference, always in)")
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    splits = json.loads((args.data / "splits.json").read_text())
    fit_ids = [int(i) for i in splits["fit"]]  # the test split is never read
    names = {i: rl.LMO_NAMES.get(i, f"obj_{i:06d}") for i in range(1, 16)}
    folds = [fit_ids[0::2], fit_ids[1::2]]
    results: dict[str, list[dict]] = {}
    classes: list[str] = []
    truth = None
    for f, ids in enumerate(folds):
        fold = args.out / f"fold{f}"
        if truth is None:
            classes = sorted(names[i] for i in (1, 5, 6, 8, 9, 10, 11, 12))
            truth = fit_truth(args.data, fit_ids, classes, names)
        held = np.isin(truth[2], folds[1 - f])
        test = (truth[0][held], truth[1][held], truth[2][held])
        for row in rows:
            scene = make_scene(row, args, fold, ids, names)
            results.setdefault(row, []).append(
                row_result(args, f, row, scene, ids, classes, test))
            rl.log(f"fold {f} {row}: done ({time.perf_counter() - t0:.0f} s)")
    table = summarise(results)
    print(f"{'row':18s} {'accuracy':>16s} {'object px':>10s} {'other>10%':>10s}  "
          "vs random (per-photo paired bootstrap, 95 %)")
    for row, t in table.items():
        vs = t.get("vs_random")
        vs_s = f"{vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}]" if vs else ""
        print(f"{row:18s} {t['mean']:.3f} ± {t['std']:.3f}    {t['object_share']:10.3f} "
              f"{t['other_class_over_10pct']:10.3f}  {vs_s}")
    summary = {"benchmark": "lmo_scene_fit", "renders": args.renders, "seeds": args.seeds,
               "steps": args.steps, "test_crops": len(truth[1]) if truth else 0,
               "seconds": round(time.perf_counter() - t0, 1), "rows": table}
    print(json.dumps(summary))


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per row: pooled accuracy per seed (mean ± std), object shares, and the paired
    bootstrap (over held-out photos, 2,000 draws) of the difference to `random`."""
    table: dict[str, dict] = {}
    photo_acc: dict[str, dict[str, float]] = {}
    for row, folds in results.items():
        seeds = sorted({s for r in folds for s in r["seeds"]})
        v = np.array([sum(r["seeds"][s][0] for r in folds) / sum(r["seeds"][s][1] for r in folds)
                      for s in seeds])
        photo_acc[row] = {p: float(np.mean(a)) for r in folds for p, a in r["photos"].items()}
        table[row] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                      "seeds": [round(float(x), 4) for x in v],
                      "object_share": round(float(np.mean(
                          [r["share"]["mean_share"] for r in folds])), 4),
                      "other_class_over_10pct": round(float(np.mean(
                          [r["share"]["other_class_over_10pct"] or 0.0 for r in folds])), 4)}
    rng = np.random.default_rng(0)
    photos = sorted(photo_acc["random"])
    for row in table:
        if row == "random":
            continue
        diff = np.array([photo_acc[row][p] - photo_acc["random"][p] for p in photos])
        boots = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
        table[row]["vs_random"] = {"diff": round(float(diff.mean()), 4),
                                   "ci95": [round(float(np.percentile(boots, 2.5)), 4),
                                            round(float(np.percentile(boots, 97.5)), 4)]}
    return table


if __name__ == "__main__":
    main()
