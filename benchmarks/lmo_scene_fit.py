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
import yaml

from synthgap.evaluate import bench as rl

REPO = Path(__file__).resolve().parents[1]


def fit_truth(data: Path, ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real crops, labels and photo ids of the given (fit) photos only, from their poses."""
    from synthgap.evaluate.crops import real_crops

    real = rl.read_photos(data, ids, seg_size=None)
    c = real_crops(real)
    photo_ids = np.array([p.order for p in real.photos])
    return c.x, c.y, photo_ids[c.image]


def random_scene(data: Path, out: Path, ids: list[int], names: dict[int, str]) -> Path:
    """`examples/lmo_like.yaml` with this fold's raw photos as backgrounds (real_lmo.py cleans
    them first; this row keeps them raw)."""
    rgb = rl.scene_dir(data) / "rgb"
    return rl.render_scene_file(REPO / "examples" / "lmo_like.yaml", out, data, ids,
                                [rgb / f"{i:06d}.png" for i in ids])


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "lmo_scene_fit")
    ap.add_argument("--renders", type=int, default=60, help="renders per scene and fold")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds")
    ap.add_argument("--steps", type=int, default=200, help="training steps (real_lmo: 200)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    from synthgap.evaluate.models import TrainBudget, classify, train_classifier

    splits = json.loads((args.data / "splits.json").read_text())
    fit_ids = [int(i) for i in splits["fit"]]  # the test split is never read
    names = {i: rl.LMO_NAMES.get(i, f"obj_{i:06d}") for i in range(1, 16)}
    crops, cls, img = None, None, None
    folds = [fit_ids[0::2], fit_ids[1::2]]
    results: dict[str, dict[int, list[int]]] = {}
    per_photo: dict[str, dict[int, list[float]]] = {}
    shares: dict[str, list[dict]] = {}
    classes: list[str] = []
    for f, ids in enumerate(folds):
        scenes = {"random": random_scene(args.data, args.out / f"fold{f}" / "random", ids, names),
                  "fitted": fitted_scene(args.data, args.out / f"fold{f}" / "fitted", ids, True),
                  "fitted[-plates]": fitted_scene(args.data, args.out / f"fold{f}" / "noplates",
                                                  ids, False)}
        if not classes:
            classes = sorted({p.get("class") for p in yaml.safe_load(
                scenes["random"].read_text())["parts"]})
            crops, cls, img = fit_truth(args.data, fit_ids)
        held = np.isin(img, folds[1 - f])
        for row, scene in scenes.items():
            rdir = rl.render(scene, args.out / f"fold{f}" / f"renders_{row}", args.renders, 1)
            rs = rl.RenderSet(rdir, classes)
            d = rl.derived((rs.image(i) for i in range(len(rs))), rs, set(), seg_size=None)
            shares.setdefault(row, []).append(share(rdir, args.data, ids))
            for seed in range(args.seeds):
                net = train_classifier([(d["crops"], d["labels"])], len(classes), seed=seed,
                                       budget=TrainBudget(args.steps, 48, 3e-3))
                ok = classify(net, crops[held]) == cls[held]
                r = results.setdefault(row, {}).setdefault(seed, [0, 0])
                r[0] += int(ok.sum())
                r[1] += int(ok.size)
                for pid in np.unique(img[held]):
                    per_photo.setdefault(row, {}).setdefault(int(pid), []).append(
                        float(ok[img[held] == pid].mean()))
            rl.log(f"fold {f} {row}: done ({time.perf_counter() - t0:.0f} s)")
    table = {}
    for row, by_seed in results.items():
        v = np.array([c / n for c, n in by_seed.values()])
        share_mean = float(np.mean([s["mean_share"] for s in shares[row]]))
        table[row] = {"mean": round(float(v.mean()), 4),
                      "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else None,
                      "seeds": [round(float(x), 4) for x in v],
                      "object_share": round(share_mean, 4),
                      "other_class_over_10pct": round(float(np.mean(
                          [s["other_class_over_10pct"] or 0.0 for s in shares[row]])), 4)}
    rng = np.random.default_rng(0)
    photos = sorted(per_photo["random"])
    for row in ("fitted", "fitted[-plates]"):
        diff = np.array([np.mean(per_photo[row][p]) - np.mean(per_photo["random"][p])
                         for p in photos])
        boots = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
        table[row]["vs_random"] = {"diff": round(float(diff.mean()), 4),
                                   "ci95": [round(float(np.percentile(boots, 2.5)), 4),
                                            round(float(np.percentile(boots, 97.5)), 4)]}
    print(f"{'row':18s} {'accuracy':>16s} {'object px':>10s} {'other>10%':>10s}  vs random")
    for row, t in table.items():
        vs = t.get("vs_random")
        vs_s = f"{vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}]" if vs else ""
        std = f"{t['std']:.3f}" if t["std"] is not None else "-"
        print(f"{row:18s} {t['mean']:.3f} ± {std}    {t['object_share']:10.3f} "
              f"{t['other_class_over_10pct']:10.3f}  {vs_s}")
    summary = {"benchmark": "lmo_scene_fit", "renders": args.renders, "seeds": args.seeds,
               "steps": args.steps, "test_crops": len(cls),
               "seconds": round(time.perf_counter() - t0, 1), "rows": table}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
