"""Real-photo benchmark: does a model trained on synthgap's images work on real photos? (LM-O)

The measure of the project, a thin caller of `synthgap.evaluate`. Data (nothing downloaded):
the 200 Linemod-Occluded photos in `../shared/data/lmo` (8 objects, 640×480, Kinect v1);
`splits.json` splits them into `fit` (20: the user's "few real photos") and `test` (180).

Protocol (nothing is fitted, tuned or chosen on the test photos):

* default — **cross-validation on the 20 `fit` photos**: contiguous blocks of photos
  (`--folds`, neighbours of a test block kept out of its training photos); every row is
  tested on held-out `fit` photos. The `test` photos are not even read. Use this to choose.
* `--final` — the report run: trained on the 20 `fit` photos, tested on the 180 `test`
  photos; its JSON records the git commit and the choices it was given (`choices`), and
  adds `upper` (k-fold over blocks of test photos, real-only x2 budget, same test crops).

What runs, every row side by side:

1. **Ground truth** of the photos from their poses (`synthgap.evaluate.bop_reader`); rendered
   visibility is checked against `scene_gt_info.json` (instances off by > 0.2 are ignored in
   segmentation).
2. **Renders** of `--scene` (examples/lmo_like.yaml) over the `fit` photos as backgrounds,
   **cleaned**: their labelled objects filled in (`synthgap.evaluate.contamination`); the
   JSON's `contamination` gives the share of labelled real-object pixels in the render crops
   had they not been cleaned (`before`) and as rendered (`after`).
3. **Adapters** (every registered method, chains, `METHOD:aligned`) fitted under
   `--adapter-seeds` seeds on the first `--fit-renders` renders and the `fit` photos
   (unlabelled), or on the `fit` photos rendered at their poses; training seed s uses adapter
   seed s mod n, so the adapters' variance is in the ±.
4. **Recognition** of real object crops by a small CNN (`synthgap.evaluate.models`): each set
   alone, `SET+real` (pre-trained on the set, fine-tuned on the labelled training photos'
   crops), `real-only`, `real-only x2`; `--seeds` seeds, mean ± std (ddof 1), and per row
   `ci95`: a paired bootstrap (photos and seeds) of its difference to `raw`.
5. **Segmentation** (U-Net, 9 classes at 320×240) for a subset of sets fixed in advance.
6. **Gap metric** (`synthgap.gap.measure_gap`) of each set against the tested photos (crops
   and whole images), with its Spearman correlation with recognition over the synthetic rows
   (chains included) and, separately, with the real rows.

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/real_lmo.py [--quick] [--final] [--json]
        [--methods histogram,pda] [--seeds 5] [--jobs 2] [--figure F.png] [--examples E.png]

`--json` prints one JSON object last: `recognition` {SET: mean, std, seeds, n_seeds, diff,
ci95, significant}, `segmentation`, `gap`, `gap_spearman*`, `real_null`, `contamination`,
`adapters`, `failed`, ... A set that fails exits 1 (after the table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "1")

import cv2
import numpy as np
import yaml

from synthgap.evaluate import bench
from synthgap.evaluate.bench import log
from synthgap.evaluate.contamination import clean_backgrounds
from synthgap.evaluate.crops import real_crops
from synthgap.evaluate.folds import Fold, photo_folds
from synthgap.evaluate.protocol import EvalConfig, TrainingSet, compare, run_recognition, summarise
from synthgap.evaluate.segmentation import SegConfig, run_segmentation
from synthgap.evaluate.stats import spearman_rows

REPO = Path(__file__).resolve().parents[1]
GAP_IMAGES = 90
QUICK_METHODS = "histogram,pda,camera"
#: `--methods aligned`: the SMCAE and its chain with the baselines, all fitted on the render
#: scene's aligned pairs (the `fitted:METHOD` rows when --scene is a fitted scene).
ALIGNED_SET = ("histogram", "pda", "camera", "conv-smcae", "camera+conv-smcae")

#: Scene edits that take one realism feature away (`--ablation`), for rows `raw[NAME]`.
ABLATIONS = {
    # every part in one flat grey material: the renderer before mesh colours were drawn
    "flat": lambda spec: [p.update(material={"appearance": "material"})
                          for p in spec["parts"]],
    # no background photos: a plain dark backdrop behind the parts
    "no-backgrounds": lambda spec: [spec["background"].pop("image_files", None),
                                    spec["background"].update(color=[[0.1, 0.1, 0.1],
                                                                     [0.5, 0.5, 0.5]])],
    # no sensor effects (noise, blur, JPEG, vignetting)
    "no-sensor": lambda spec: spec.pop("sensor", None),
    # features the LM-O scene does not use, added one at a time (row `raw[with-NAME]`):
    # the directional light casts shadows (parts shadow each other; no plane: the desk is a photo)
    "with-shadows": lambda spec: [lt.update(shadows=True) for lt in spec["lights"]
                                  if lt.get("type", "directional") == "directional"],
    # a soft dome of 16 lights from all around (the point light's share of the light)
    "with-dome": lambda spec: spec["lights"].append(
        {"type": "dome", "count": 16, "intensity": [1.0, 3.0], "temperature_k": [4000, 6500]}),
    # an area light with soft shadows instead of the point light
    "with-area": lambda spec: spec.update(lights=[
        *[lt for lt in spec["lights"] if lt.get("type") != "point"],
        {"type": "area", "count": 16, "size": [0.4, 0.4], "intensity": [1.0, 6.0],
         "distance": [1.0, 2.0], "elevation": [30, 80], "shadows": True,
         "temperature_k": [3500, 6000]}]),
    # the studio environment every surface reflects
    "with-environment": lambda spec: spec["lights"].append(
        {"type": "environment", "intensity": [0.2, 0.5]}),
}


def ablated_scene(scene_path: Path, name: str) -> Path:
    """The render scene with one feature taken away (`ABLATIONS[name]`), beside it."""
    spec = yaml.safe_load(scene_path.read_text(encoding="utf-8"))
    ABLATIONS[name](spec)
    path = scene_path.with_name(f"scene_{name}.yaml")
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def scene_backgrounds(scene_path: Path, real: Any, fit_pos: list[int]
                      ) -> tuple[list[Path], dict[str, np.ndarray]]:
    """The render scene's own background photos as plates of the fit photos (`SCENE_ID.png`,
    or `INDEX_ID.png` as a scene fitted from a views file names them; one per fit photo, no
    others) and, by resolved plate path, the labelled-object pixels
    each plate left unchanged (for `contamination` `after`)."""
    from synthgap.data.layout import read_image
    from synthgap.evaluate.contamination import object_masks
    from synthgap.scenes import load_scene

    files = [Path(f).resolve() for f in load_scene(scene_path).background.image_files or ()]
    def ids(name: str) -> tuple[int, ...] | str:  # '000002_000003' and '000002/3' alike
        parts = name.replace("/", "_").split("_")
        return tuple(int(x) for x in parts) if all(x.isdigit() for x in parts) else name

    by_stem = {ids(f.stem): f for f in files}
    keys = [ids(real.photos[i].key) for i in fit_pos]
    if set(by_stem) != set(keys) and all(isinstance(k, tuple) for k in [*keys, *by_stem]):
        # plates of a scene fitted from a views file are named INDEX_PHOTOSTEM: match by the
        # photo's image id when that is unambiguous (one BOP scene)
        last = {k[-1]: f for k, f in by_stem.items()}
        if len(last) == len(files) and len({k[-1] for k in keys}) == len(keys):
            by_stem = {k: last[k[-1]] for k in keys if k[-1] in last}
    if set(by_stem) != set(keys) or len(files) != len(keys):
        sys.exit(f"{scene_path}: background: --keep-scene-background needs one plate per fit "
                 f"photo named SCENE_ID.png ({keys[:2]}...); got {list(by_stem)[:3]}...")
    masks = object_masks(real, fit_pos)
    plates, left = [], {}
    for i, key in zip(fit_pos, keys, strict=True):
        photo = read_image(real.photos[i].path)
        plate = read_image(by_stem[key])
        mask = masks[str(Path(real.photos[i].path).resolve())]
        left[str(by_stem[key])] = mask & np.all(plate == photo, axis=-1)
        plates.append(by_stem[key])
    return plates, left


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="BOP data set folder with splits.json (default ../shared/data/lmo)")
    ap.add_argument("--scene", type=Path, default=REPO / "examples" / "lmo_like.yaml",
                    help="render scene template (its meshes/K/backgrounds come from --data)")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "real_lmo",
                    help="cache folder (cleaned backgrounds, renders)")
    ap.add_argument("--final", action="store_true",
                    help="the report run: train on the fit photos, test on the test photos "
                         "(records the commit and these options); default: CV on fit photos")
    ap.add_argument("--quick", action="store_true",
                    help=f"smaller run: 160 renders, methods {QUICK_METHODS}, 120 steps, "
                         "48-px crops, 2 folds (target ≤ 10 min on 2 cores)")
    ap.add_argument("--renders", type=int, default=None, help="renders (default 400, quick 160)")
    ap.add_argument("--fit-renders", type=int, default=32, help="renders the adapters fit on")
    ap.add_argument("--seeds", type=int, default=5, help="training seeds (≥ 2; default 5)")
    ap.add_argument("--adapter-seeds", type=int, default=2, help="fits per adapter (default 2)")
    ap.add_argument("--folds", type=int, default=None, help="CV folds (default 4, quick 2)")
    ap.add_argument("--render-seed", type=int, default=1)
    ap.add_argument("--methods", default=None,
                    help="comma-separated sets to adapt: METHOD (unpaired on renders + fit "
                         "photos) or METHOD:aligned (fit photos rendered at their poses); "
                         "default: every method, camera+conv-smcae, pda+conv-smcae and the "
                         "aligned camera, conv-smcae, camera+conv-smcae; `none`: raw only; "
                         f"`aligned`: {', '.join(ALIGNED_SET)}, each :aligned")
    ap.add_argument("--ablation", action="append", default=[], choices=sorted(ABLATIONS),
                    help="also train on renders without one realism feature (row raw[NAME])")
    ap.add_argument("--keep-scene-background", action="store_true",
                    help="render over --scene's own background photos when it has some (e.g. "
                         "the plates of `synthgap scene fit` on the fit photos, named "
                         "SCENE_ID.png) instead of the cleaned fit photos")
    ap.add_argument("--rows-as", choices=["fitted"], default=None,
                    help="name the rows for a fitted --scene (with --keep-scene-background): "
                         "raw -> fitted, METHOD:aligned -> fitted:METHOD, raw+real -> "
                         "fitted+real (the table and JSON; --save-rows keeps the raw names)")
    ap.add_argument("--save-rows", type=Path, default=None,
                    help="write every recognition row's per-photo results (NPZ: ROW/correct "
                         "(seeds, photos), ROW/total (photos), photo_ids) for paired comparisons "
                         "across runs; segmentation rows (ROW/conf: per-photo confusion "
                         "matrices) go to the same name with .seg.npz")
    ap.add_argument("--no-seg", action="store_true", help="skip segmentation")
    ap.add_argument("--seg-steps", type=int, default=None,
                    help="U-Net training steps (default 200, quick 120)")
    ap.add_argument("--seg-seed", type=int, default=0,
                    help="U-Net seed (one U-Net per row; rerun with others for their spread)")
    ap.add_argument("--mix-recipe", default="finetune", choices=["batch", "finetune"],
                    help="how `+real` rows combine renders and photos (chosen by "
                         "benchmarks/lmo_fit_cv.py on the fit photos)")
    ap.add_argument("--jobs", type=int, default=2, help="training processes (1 thread each)")
    ap.add_argument("--device", default="cpu", help="torch device for the U-Net")
    ap.add_argument("--figure", type=Path, default=None, help="write the figure (PNG)")
    ap.add_argument("--examples", type=Path, default=None, help="write an example sheet (PNG)")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()
    if args.seeds < 2:
        ap.error("--seeds must be ≥ 2 (a spread needs two)")
    return args


def default_methods(args: argparse.Namespace) -> list[str]:
    from synthgap.adapt.image_base import METHODS

    if args.methods == "none":
        return []
    if args.methods == "aligned":
        return [f"{m}:aligned" for m in ALIGNED_SET]
    if args.methods:
        return [m for m in args.methods.split(",") if m]
    if args.quick:
        return QUICK_METHODS.split(",")
    return [*METHODS, "camera+conv-smcae", "pda+conv-smcae", "camera:aligned",
            "conv-smcae:aligned", "camera+conv-smcae:aligned"]


def build_sets(args: argparse.Namespace, renders: bench.RenderSet, scene_path: Path,
               fit_photos: list[np.ndarray], fit_ids: list[int], crop: int,
               gap_index: set[int]) -> tuple[dict[str, list[dict[str, Any]]], dict, dict]:
    """Training sets (one derived dict per adapter seed), adapter timings, failures."""
    sets: dict[str, list[dict[str, Any]]] = {}
    images = [renders.image(i) for i in range(len(renders))]
    sets["raw"] = [bench.derived(images, renders, gap_index, size=crop)]
    log(f"raw: {len(sets['raw'][0]['labels'])} render crops from {len(renders)} renders")
    for name in args.ablation:
        abl = bench.RenderSet(bench.render(ablated_scene(scene_path, name),
                                           args.out / f"renders_{name}", len(renders),
                                           args.render_seed), renders.classes)
        sets[f"raw[{name}]"] = [bench.derived((abl.image(i) for i in range(len(abl))), abl,
                                              gap_index, size=crop)]
    fit_renders = images[:args.fit_renders]
    aligned_cache: list[Any] = []

    def aligned() -> Any:
        if not aligned_cache:
            aligned_cache.append(bench.aligned_fit_data(args.data, fit_ids, scene_path))
        return aligned_cache[0]

    timings: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for variant in default_methods(args):
        variants, infos = [], []
        try:
            for s in range(args.adapter_seeds):
                adapter, info = bench.fit_adapter(variant, fit_renders, fit_photos, aligned,
                                                  seed=s)
                t = time.perf_counter()
                variants.append(bench.derived((adapter.transform(im) for im in images), renders,
                                              gap_index if s == 0 else set(), size=crop))
                info["apply_ms"] = round(1000 * (time.perf_counter() - t) / len(images), 1)
                infos.append(info)
        except Exception as exc:  # a broken method is reported (exit 1), the others still run
            failed[variant] = f"{type(exc).__name__}: {exc}"
            log(f"{variant}: FAILED: {failed[variant]}")
            continue
        sets[variant] = variants
        timings[variant] = {"fit_s": [i["fit_s"] for i in infos],
                            "apply_ms": infos[0]["apply_ms"]}
        if "strength" in infos[0]:
            timings[variant]["strength"] = [i["strength"] for i in infos]
        log(f"{variant}: {timings[variant]}")
    return sets, timings, failed


def recognition(args: argparse.Namespace, crops: Any, n_photos: int, folds: list[Fold],
                sets: dict[str, list[dict[str, Any]]], cfg: EvalConfig, n_cls: int,
                upper_folds: list[Fold] | None, photo_ids: list[str]) -> dict[str, Any]:
    """Every recognition row, summarised with its interval to `raw` (and `+real` rows also
    to `real-only`)."""
    training = [TrainingSet(name, [v["set"] for v in vs]) for name, vs in sets.items()]
    t = time.perf_counter()
    rows = run_recognition(crops, n_photos, folds, training, cfg, n_classes=n_cls)
    if args.mix_recipe == "finetune":  # as many steps as a fine-tuned row
        rows.update(run_recognition(crops, n_photos, folds, [], cfg, real_name="real-only x2",
                                    real_factor=2, n_classes=n_cls))
    if upper_folds is not None:
        rows.update(run_recognition(crops, n_photos, upper_folds, [], cfg, real_name="upper",
                                    real_factor=2, n_classes=n_cls))
    log(f"recognition: {time.perf_counter() - t:.0f} s")
    if args.save_rows is not None:
        args.save_rows.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save_rows, photo_ids=np.array(photo_ids),
                 **{f"{r}/{k}": getattr(rc, k) for r, rc in rows.items()
                    for k in ("correct", "total")})
    table = summarise(rows, references={r: "raw" for r in rows}, n_boot=2000)
    for r in rows:
        if r.endswith("+real"):
            table[r]["vs_real_only"] = compare(rows[r], rows["real-only"], n_boot=2000)
            if "real-only x2" in rows:  # the same training budget spent on the photos only
                table[r]["vs_real_only_x2"] = compare(rows[r], rows["real-only x2"], n_boot=2000)
    return table


def fitted_name(row: str) -> str:
    """A row's name when `--scene` is a fitted scene (`--rows-as fitted`): `raw` -> `fitted`,
    `METHOD:aligned` -> `fitted:METHOD` (fitted on the fitted scene's aligned pairs), the
    same with `+real`; other rows unchanged."""
    base, plus = (row[:-5], "+real") if row.endswith("+real") else (row, "")
    if base == "raw":
        return f"fitted{plus}"
    if base.endswith(":aligned"):
        return f"fitted:{base[:-len(':aligned')]}{plus}"
    return row


def segmentation(args: argparse.Namespace, real: Any, renders: bench.RenderSet,
                 sets: dict[str, list[dict[str, Any]]], folds: list[Fold], classes: list[str],
                 upper_folds: list[Fold] | None, photo_ids: list[str]) -> dict[str, Any]:
    """The U-Net rows for a subset of sets fixed in advance (not chosen on results)."""
    if args.quick:
        names = ["raw"]
    else:
        names = ["raw", *[m for m in ("histogram", "camera", "conv-smcae", "conv-smcae:aligned",
                                      "camera+conv-smcae:aligned") if m in sets]]
    cfg = SegConfig(steps=args.seg_steps or (120 if args.quick else 200), seed=args.seg_seed,
                    device=args.device)
    seg_sets = {n: (sets[n][0]["seg_x"], renders.seg_y) for n in names}
    jobs = 1 if args.device != "cpu" else args.jobs
    t = time.perf_counter()
    per_photo: dict[str, np.ndarray] = {}
    out = run_segmentation(seg_sets, real.seg_x, real.seg_y, folds, classes, cfg,
                           with_real=["raw"], jobs=jobs, per_photo=per_photo)
    if upper_folds is not None:
        out.update(run_segmentation({}, real.seg_x, real.seg_y, upper_folds, classes, cfg,
                                    real_name="upper", jobs=jobs, per_photo=per_photo))
    log(f"segmentation: {time.perf_counter() - t:.0f} s")
    if args.save_rows is not None:  # per-photo confusions, for lmo_paired_rows.py --seg
        np.savez(seg_rows_path(args.save_rows), photo_ids=np.array(photo_ids),
                 **{f"{r}/conf": c for r, c in per_photo.items()})
    return out


def seg_rows_path(save_rows: Path) -> Path:
    """Where `--save-rows X.npz` keeps the segmentation rows: `X.seg.npz`."""
    return save_rows.with_name(save_rows.stem + ".seg.npz")


def gap_rows(real: Any, crops: Any, sets: dict[str, list[dict[str, Any]]], tested: list[int],
             halves: tuple[list[int], list[int]], train_pos: list[int] | None
             ) -> dict[str, dict[str, float]]:
    """Domain-classifier accuracy of each set against the tested photos: on crops (what the
    task sees) and whole images; `real-only` = one block of photos against another (the
    real-vs-real null)."""
    from synthgap.data.layout import read_image
    from synthgap.gap.metric import GapConfig, measure_gap

    crop_cfg = GapConfig(patch_size=crops.x.shape[1], patches_per_image=1, max_images=1500,
                         mmd_permutations=0)
    img_cfg = GapConfig(mmd_permutations=0)

    def gap_of(a: Any, b: Any, cfg: GapConfig) -> float:
        return round(measure_gap(list(a), list(b), rng=np.random.default_rng(0),
                                 config=cfg).domain_accuracy, 4)

    def sample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
        pick = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
        return x[np.sort(pick)]

    def photos(pos: list[int]) -> list[np.ndarray]:
        step = max(1, len(pos) // GAP_IMAGES)
        return [read_image(real.photos[i].path) for i in pos[::step][:GAP_IMAGES]]

    target_crops = sample(crops.subset(tested).x, 600, 2)
    target_images = photos(tested)
    out = {}
    for name, vs in sets.items():
        out[name] = {"domain_accuracy": gap_of(sample(vs[0]["crops"], 600, 3), target_crops,
                                               crop_cfg),
                     "domain_accuracy_images": gap_of(vs[0]["gap"], target_images, img_cfg)}
    a, b = (train_pos, tested) if train_pos is not None else halves
    out["real-only"] = {"domain_accuracy": gap_of(crops.subset(a).x, sample(
        crops.subset(b).x, 600, 2), crop_cfg),
                        "domain_accuracy_images": gap_of(photos(a), photos(b), img_cfg)}
    if train_pos is not None:
        out["upper"] = {"domain_accuracy": gap_of(crops.subset(halves[0]).x,
                                                  crops.subset(halves[1]).x, crop_cfg),
                        "domain_accuracy_images": gap_of(photos(halves[0]), photos(halves[1]),
                                                         img_cfg)}
    return out


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes."""
    def run(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def print_table(rows: list[str], rec: dict, seg: dict, gap: dict, ref: str = "raw") -> None:
    print(f"{'training set':<28}{'recognition':>16}{f'vs {ref} [95% CI]':>26}{'sig':>5}"
          f"{'seg mIoU':>10}{'gap crops':>10}{'gap img':>9}")
    for r in rows:
        if r not in rec:
            continue
        rc = rec[r]
        std = f"{rc['std']:.3f}" if rc.get("std") is not None else "-"
        ci = (f"{rc['diff']:+.3f} [{rc['ci95'][0]:+.3f},{rc['ci95'][1]:+.3f}]"
              if "ci95" in rc else "")
        sig = ("yes" if rc.get("significant") else "no") if "ci95" in rc else ""
        sg = seg.get(r, {}).get("miou")
        g = gap.get(r, {})
        print(f"{r:<28}{rc['mean']:>9.3f} ± {std}{ci:>26}{sig:>5}"
              f"{(f'{sg:.3f}' if sg is not None else '-'):>10}"
              f"{g.get('domain_accuracy', float('nan')):>10.3f}"
              f"{g.get('domain_accuracy_images', float('nan')):>9.3f}")


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()
    from synthgap.data.layout import read_image

    quick, final = args.quick, args.final
    args.data, args.out = args.data.resolve(), args.out.resolve()
    n_renders = args.renders or (160 if quick else 400)
    crop = 48 if quick else 64
    cfg = EvalConfig(crop=crop, seeds=args.seeds, steps=120 if quick else 200, batch=48,
                     lr=3e-3, recipe=args.mix_recipe, jobs=args.jobs)
    fit_ids, test_ids = bench.read_splits(args.data)
    ids = fit_ids + (test_ids if final else [])
    # 1. real photos (the test photos only with --final)
    real = bench.read_photos(args.data, ids)
    classes, n_cls = real.classes, len(real.classes)
    crops = real_crops(real, size=crop)
    pos = {p.order: i for i, p in enumerate(real.photos)}
    fit_pos = [pos[i] for i in fit_ids]
    test_pos = [pos[i] for i in test_ids] if final else []
    vis = real.visibility
    log(f"real: {len(real.photos)} photos, {len(crops)} crops; visibility check: {vis}")
    # 2. cleaned backgrounds and renders
    backgrounds, left = clean_backgrounds(real, fit_pos, args.out / "backgrounds")
    scene_path = bench.render_scene_file(args.scene, args.out, args.data, fit_ids, backgrounds,
                                         keep_background=args.keep_scene_background)
    if args.keep_scene_background:
        backgrounds, left = scene_backgrounds(scene_path, real, fit_pos)
    renders = bench.RenderSet(bench.render(scene_path, args.out / "renders", n_renders,
                                           args.render_seed), classes)
    contamination = bench.render_contamination(real, fit_pos, backgrounds, left, renders.labels)
    log(f"contamination of render crops by labelled real objects: {contamination}")
    # 3. sets
    gap_index = set(np.random.default_rng(1).choice(
        len(renders), size=min(GAP_IMAGES, len(renders)), replace=False).tolist())
    fit_photos = [read_image(real.photos[i].path) for i in fit_pos]
    sets, timings, failed = build_sets(args, renders, scene_path, fit_photos, fit_ids, crop,
                                       gap_index)
    # 4.-6. folds, tasks, gap
    if final:
        folds = [Fold(train=tuple(fit_pos), test=tuple(test_pos))]
        tp = [real.photos[i] for i in test_pos]
        upper = [Fold(tuple(test_pos[j] for j in f.train), tuple(test_pos[j] for j in f.test))
                 for f in photo_folds([p.group for p in tp], [p.order for p in tp], 5)]
        tested = test_pos
    else:
        k = args.folds or (2 if quick else 4)
        fp = [real.photos[i] for i in fit_pos]
        folds = [Fold(tuple(fit_pos[j] for j in f.train), tuple(fit_pos[j] for j in f.test))
                 for f in photo_folds([p.group for p in fp], [p.order for p in fp], k)]
        upper, tested = None, fit_pos
    rec = recognition(args, crops, len(real.photos), folds, sets, cfg, n_cls, upper,
                      [p.key for p in real.photos])
    seg = {} if args.no_seg else segmentation(args, real, renders, sets, folds, classes, upper,
                                              [p.key for p in real.photos])
    half = len(tested) // 2
    gap = gap_rows(real, crops, sets, tested, (tested[:half], tested[half:]),
                   fit_pos if final else None)
    synth_rows = [r for r in sets if r in rec]
    real_rows = [r for r in ("real-only", "upper") if r in rec]
    rho = spearman_rows({k: v["domain_accuracy"] for k, v in gap.items()},
                        {k: v["mean"] for k, v in rec.items()}, synth_rows, real_rows)
    rho_img = spearman_rows({k: v["domain_accuracy_images"] for k, v in gap.items()},
                            {k: v["mean"] for k, v in rec.items()}, synth_rows, real_rows)
    report(args, locals())


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 3)


def report(args: argparse.Namespace, v: dict[str, Any]) -> None:
    """Print the table and the JSON line; exit 1 when a set failed."""
    rec, seg, gap, sets = v["rec"], v["seg"], v["gap"], v["sets"]
    if args.rows_as == "fitted":
        rec, seg, gap = ({fitted_name(k): x for k, x in d.items()} for d in (rec, seg, gap))
        sets = {fitted_name(k): x for k, x in sets.items()}
    rows = [*sets, *[f"{m}+real" for m in sets], "real-only", "real-only x2", "upper"]
    n_fit = len(v["fit_ids"])
    mode = "final: fit → test photos" if args.final else f"CV over the {n_fit} fit photos"
    print(f"\nReal-photo benchmark ({args.data.name}, {mode}; {len(v['renders'])} renders; "
          f"{args.seeds} seeds, {args.adapter_seeds} adapter seeds; "
          f"{'quick' if args.quick else 'full'}); recipe {args.mix_recipe!r}")
    n_test = int(v["crops"].subset(v["tested"]).y.size)
    print(f"recognition: {n_test} tested crops ({v['crop']} px), chance {1 / v['n_cls']:.3f}; "
          "CI: paired bootstrap over photos and seeds, difference to raw\n")
    print_table(rows, rec, seg, gap, "fitted" if args.rows_as else "raw")
    rho, rho_img = v["rho"], v["rho_img"]
    print(f"\nSpearman (gap vs recognition): crops {rho['synthetic']:.2f} over synthetic sets "
          f"(chains included), {rho['with_real']:.2f} with real rows; images "
          f"{rho_img['synthetic']:.2f} / {rho_img['with_real']:.2f}")
    print(f"contamination (labelled real-object share of render crops): "
          f"{v['contamination']['before']:.3f} had the backgrounds not been cleaned, "
          f"{v['contamination']['after']:.3f} as rendered")
    for m, err in v["failed"].items():
        print(f"{m}: FAILED ({err})")
    if args.figure is not None:
        write_figure(args.figure, rows, rec, gap, rho["with_real"])
    if args.examples is not None:
        write_examples(args.examples, sets, v["real"].seg_x[v["tested"][0]],
                       v["crops"].subset(v["tested"]).x)
    vis = v["vis"]
    result: dict[str, Any] = {
        "benchmark": "real_lmo", "mode": "final" if args.final else "cv", "quick": args.quick,
        "renders": len(v["renders"]), "mix_recipe": args.mix_recipe,
        "fit_renders": args.fit_renders, "seeds": args.seeds,
        "adapter_seeds": args.adapter_seeds, "folds": [len(f.test) for f in v["folds"]],
        "test_crops": n_test,
        "fit_crops": int(v["crops"].subset(v["fit_pos"]).y.size),
        "recognition": rec, "segmentation": seg, "gap": gap,
        "gap_spearman": _num(rho["with_real"]), "gap_spearman_synthetic": _num(rho["synthetic"]),
        "gap_spearman_images": _num(rho_img["with_real"]),
        "gap_spearman_images_synthetic": _num(rho_img["synthetic"]),
        "real_null": gap["real-only"]["domain_accuracy_images"],
        "contamination": v["contamination"],
        "visibility_check": None if vis is None else {
            "checked": vis.checked, "mean_rendered_minus_recorded": round(vis.mean_diff, 4),
            "ignored": vis.ignored},
        "adapters": v["timings"], "failed": v["failed"],
        "seconds": round(time.perf_counter() - v["t_start"]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus"}
    if args.final:
        result["commit"] = git_commit()
        result["choices"] = {k: (str(x) if isinstance(x, Path) else x)
                             for k, x in vars(args).items()}
    if args.json:
        print(json.dumps(result, allow_nan=False))
    if v["failed"]:
        sys.exit(1)


def write_examples(path: Path, sets: dict[str, dict[str, Any]], photo: np.ndarray,
                   real_crops: np.ndarray, n_crops: int = 6) -> None:
    """One row per image set: a 320×240 image and `n_crops` 64-px object crops (the first row
    is real: a test photo and test crops; the others the same render in every set)."""
    def row(name: str, image: np.ndarray, crops: np.ndarray) -> np.ndarray:
        p = (image.shape[0] - crops.shape[1]) // 2
        q = image.shape[0] - crops.shape[1] - p
        strip = np.concatenate([image, *[np.pad(c, ((p, q), (4, 4), (0, 0)),
                                                constant_values=255) for c in crops]], axis=1)
        label = np.full((24, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(label, name, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                    cv2.LINE_AA)
        return np.concatenate([label, strip], axis=0)

    pick = np.linspace(0, len(real_crops) - 1, n_crops).astype(int)
    rows = [row("real test photo and crops", photo, real_crops[pick])]
    for name, s in sets.items():
        rows.append(row(name, s[0]["seg_x"][0], s[0]["crops"][:n_crops]))
    sheet = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet[:, :, ::-1])


def write_figure(path: Path, rows: list[str], recognition: dict, gap: dict, rho: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r in recognition]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.6, 1]})
    means = [recognition[r]["mean"] for r in rows]
    stds = [recognition[r]["std"] or 0.0 for r in rows]
    colours = ["#888" if r in ("real-only", "real-only x2", "upper") else "#4a7"
               if r.endswith("+real")
               else "#47a" for r in rows]
    a1.bar(range(len(rows)), means, yerr=stds, color=colours, capsize=2)
    a1.axhline(recognition["real-only"]["mean"], color="#888", ls="--", lw=1)
    a1.axhline(1 / 8, color="#c33", ls=":", lw=1)  # 8 LM-O classes
    a1.set_xticks(range(len(rows)), rows, rotation=60, ha="right", fontsize=8)
    a1.set_ylabel("accuracy on real test crops")
    a1.set_title("Task 1: recognition of real object crops")
    xs = [gap[r]["domain_accuracy"] for r in rows if r in gap]
    ys = [recognition[r]["mean"] for r in rows if r in gap]
    a2.scatter(xs, ys, c=[c for r, c in zip(rows, colours, strict=True) if r in gap])
    for r, x, y in zip([r for r in rows if r in gap], xs, ys, strict=True):
        a2.annotate(r, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
    a2.set_xlabel("gap: domain-classifier accuracy, crops vs test crops (0.5 = real)")
    a2.set_ylabel("recognition accuracy")
    a2.set_title(f"gap vs task 1 (Spearman {rho:.2f})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
