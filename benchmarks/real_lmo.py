"""Real-photo benchmark: does a model trained on synthgap's images work on real photos? (LM-O)

The measure of the project. Data (nothing downloaded): a BOP scene with real photos, their
intrinsics and 6D poses, and the object meshes; by default the 200 Linemod-Occluded photos in
`../shared/data/lmo` (8 objects, 640×480, Kinect v1). `splits.json` splits the photos into
`fit` (20: the user's "few real photos") and `test` (180: used for nothing but the numbers
printed here; nothing is fitted, tuned or chosen on them).

What it does, all in one run, every row side by side:

1. **Ground truth of the real photos** from the poses (`synthgap.scenes.bop` +
   `synthgap.generators.ground_truth`): per-pixel class maps and object crops.
2. **Renders**: `examples/lmo_like.yaml` (the 8 meshes, the photos' K, distances/elevations of
   the photos, every object once per image hiding the others, clutter, the 20 `fit` photos as
   backgrounds) with the data paths pointed at `--data`; `--renders` images.
3. **Adapters**: every image adaptation method (`histogram`, `fda`, `pda`, `smcae`,
   `conv-smcae`, and any newer registered one) fitted on the first `--fit-renders` renders and
   the 20 `fit` photos (unlabelled), then applied to every render.
4. **Task 1, recognition**: 8-way classification of object crops (visible box, visible fraction
   ≥ 0.3, square, 64 px) by a small CNN trained from scratch, the same architecture, budget and
   augmentation for every training set; `--seeds` seeds, mean ± std. Training sets: `raw`
   renders; each adapter's renders; each of those `+real` (with the labelled crops of the 20
   `fit` photos, by `--mix-recipe`: `finetune`, trained on the renders then fine-tuned on the
   real crops, chosen on the fit photos by `benchmarks/lmo_fit_cv.py`; or `batch`, half of
   every batch from each); `real-only` (the `fit` crops; with `finetune` also `real-only x2`,
   as many steps as a fine-tuned mix); `upper` (2-fold over the test
   photos: train on half, test on the other half). Tested on the crops of the test photos.
5. **Task 2, segmentation**: 9-class per-pixel segmentation (8 objects + background) of the test
   photos by a small U-Net trained from scratch at 320×240; mIoU and per-class IoU.
6. **The gap metric** (`synthgap.gap.measure_gap`) of every training set against the test
   photos, twice: on the object crops the task sees (each training set's crops vs the test
   crops) and on whole images (as `synthgap gap` measures folders); the Spearman rank
   correlation of each with task-1 accuracy across the training sets; and the real-vs-real null
   (the `fit` photos vs the test photos: disjoint photos of one camera).

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/real_lmo.py [--data ../shared/data/lmo]
        [--quick] [--renders 400] [--seeds 3] [--jobs 2] [--device cpu]
        [--figure docs/real_lmo.png] [--examples docs/real_lmo_examples.png] [--json]

Prints a table per task and, with `--json`, one JSON object last:
`{"recognition": {SET: {"mean", "std"}}, "segmentation": {SET: {"miou", "per_class"}},
"gap": {SET: {"domain_accuracy"}}, "gap_spearman", "real_null", ...}`.
Renders and the real ground truth are cached under `--out` (re-runs resume).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "1")

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: LM-O object names (BOP ids); other BOP data sets get `obj_XXXXXX`.
LMO_NAMES = {1: "ape", 5: "can", 6: "cat", 8: "driller", 9: "duck", 10: "eggbox", 11: "glue",
             12: "holepuncher"}
CROP = 64
SEG_SIZE = (320, 240)
MIN_VISIB = 0.3
MIN_BOX_PX = 6
GAP_IMAGES = 90


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data
def square_crop(image: np.ndarray, box: tuple[float, float, float, float],
                size: int = CROP) -> np.ndarray:
    """Square crop around an `(x, y, w, h)` box (side = 1.15 × the longer edge, edge pixels
    replicated outside the image), resized to `size`²."""
    x, y, w, h = box
    side = max(w, h) * 1.15 + 2
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = round(side)
    H, W = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - W, y0 + s - H)
    src = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    patch = src[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def seg_image(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, SEG_SIZE, interpolation=cv2.INTER_AREA)


def seg_labels(instance_mask: np.ndarray, class_of_instance: np.ndarray) -> np.ndarray:
    """`(H, W)` instance ids -> class map (0 = background) at `SEG_SIZE`, nearest."""
    lut = np.zeros(max(int(instance_mask.max()), len(class_of_instance)) + 1, np.uint8)
    lut[1:len(class_of_instance) + 1] = class_of_instance
    return cv2.resize(lut[instance_mask], SEG_SIZE, interpolation=cv2.INTER_NEAREST)


def find_scene_dir(data: Path) -> Path:
    scenes = sorted(p for p in (data / "test").glob("*") if (p / "scene_gt.json").is_file())
    if not scenes:
        sys.exit(f"real_lmo: no BOP scene (test/*/scene_gt.json) under {data}; pass --data")
    return scenes[0]


def real_truth(data: Path, out: Path, classes: list[str], names: dict[int, str]
               ) -> dict[str, Any]:
    """Crops, class maps (320×240) and photos (for the gap) of every photo, from the poses.
    Cached in `out/real_truth.npz` (keyed by the annotation files' contents)."""
    from synthgap.data.layout import read_image
    from synthgap.generators.ground_truth import iter_view_labels
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    scene_dir = find_scene_dir(data)
    key = hashlib.sha256()
    for name in ("scene_gt.json", "scene_camera.json", "scene_gt_info.json"):
        p = scene_dir / name
        key.update(p.read_bytes() if p.is_file() else b"-")
    key.update(f"{CROP}{SEG_SIZE}{MIN_VISIB}{MIN_BOX_PX}v1".encode())
    cache = out / "real_truth.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["key"]) == key.hexdigest():
            log(f"real ground truth: cached {cache}")
            return {k: z[k] for k in z.files}
    bop = read_bop_scene(scene_dir)
    scene = bop_scene_to_scene(bop, names=names)
    cls_index = {c: i for i, c in enumerate(classes)}
    crops, crop_cls, crop_img = [], [], []
    seg_x, seg_y, ids = [], [], []
    log(f"real ground truth: rendering the labels of {len(bop.images)} photos from their poses")
    labelled = [im for im in bop.images if im.objects]
    for lab in iter_view_labels(scene):
        im = labelled[lab.view_index]
        photo = read_image(im.rgb)
        cls = np.array([cls_index[c] + 1 for c in lab.categories], np.uint8)
        seg_x.append(seg_image(photo))
        seg_y.append(seg_labels(lab.instance_mask, cls))
        ids.append(im.image_id)
        for k, o in enumerate(im.objects):
            # BOP's own visibility (from the measured depth) when the folder has it: it also
            # counts occluders that are not among the models.
            if o.bbox_visib is not None and o.visib_fract is not None:
                box, fract = o.bbox_visib, o.visib_fract
            else:
                box, fract = tuple(lab.boxes_visib[k]), float(lab.visib_fract[k])
            if fract < MIN_VISIB or min(box[2], box[3]) < MIN_BOX_PX:
                continue
            crops.append(square_crop(photo, box))
            crop_cls.append(cls[k] - 1)
            crop_img.append(im.image_id)
    res = {"key": np.array(key.hexdigest()), "crops": np.stack(crops),
           "crop_cls": np.array(crop_cls, np.int64), "crop_img": np.array(crop_img, np.int64),
           "seg_x": np.stack(seg_x), "seg_y": np.stack(seg_y), "ids": np.array(ids, np.int64)}
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "real_truth.tmp.npz"
    np.savez_compressed(tmp, **res)
    tmp.replace(cache)
    return res


def render_scene_file(data: Path, out: Path, scene_template: Path, fit_ids: list[int],
                      names: dict[int, str]) -> Path:
    """Write the render scene: the template's look and camera pose ranges, this data set's
    meshes, intrinsics and `fit` photos (as backgrounds)."""
    from synthgap.scenes.bop import read_bop_scene

    bop = read_bop_scene(find_scene_dir(data), image_ids=fit_ids)
    spec = yaml.safe_load(scene_template.read_text(encoding="utf-8"))
    K = bop.images[0].K
    spec["image"] = {"width": bop.width, "height": bop.height}
    spec["camera"]["intrinsics"] = {"fx": float(K[0, 0]), "fy": float(K[1, 1]),
                                    "cx": float(K[0, 2]), "cy": float(K[1, 2])}
    template_parts = spec["parts"]
    extra = {k: v for k, v in template_parts[0].items() if k not in ("mesh", "class", "name")}
    spec["parts"] = [{"mesh": str(bop.models[i]), "class": names[i], **extra}
                     for i in bop.obj_ids]
    spec["background"]["image_files"] = [str(im.rgb) for im in bop.images]
    spec["background"].pop("images", None)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scene.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


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


def render(scene_path: Path, out: Path, count: int, seed: int) -> Path:
    from synthgap.cli.render import prepare_render
    from synthgap.generators.runner import render_dataset
    from synthgap.generators.writer import DatasetConflictError

    source, identity = prepare_render(str(scene_path), seed=seed)
    t = time.perf_counter()
    try:  # resume the cache: renders of the same scene, seed and input files are kept
        summary = render_dataset(source, out, identity=identity, count=count)
    except DatasetConflictError as exc:  # another scene or seed: this folder is ours to redo
        log(f"renders: cache of another scene ({str(exc)[:120]}...): rendering again")
        summary = render_dataset(source, out, identity=identity, count=count, overwrite=True)
    log(f"renders: {summary.rendered} rendered, {summary.skipped} resumed "
        f"({time.perf_counter() - t:.0f} s) in {out}")
    return out


class RenderSet:
    """The renders' images (read lazily), crop boxes and class maps."""

    def __init__(self, root: Path, classes: list[str]) -> None:
        from synthgap.data.layout import read_label_png
        from synthgap.data.records import read_records

        self.root = root
        self.records = sorted(read_records(root), key=lambda r: r.index)
        cls_index = {c: i for i, c in enumerate(classes)}
        self.boxes: list[list[tuple[tuple[int, int, int, int], int]]] = []
        self.seg_y = []
        for rec in self.records:
            mask = read_label_png(root / rec.files["mask"])
            cls = np.zeros(max([i.id for i in rec.instances], default=0), np.uint8)
            keep = []
            for inst in rec.instances:
                cls[inst.id - 1] = cls_index[inst.category] + 1
                if (inst.visible_fraction >= MIN_VISIB and inst.bbox
                        and min(inst.bbox[2], inst.bbox[3]) >= MIN_BOX_PX):
                    keep.append((tuple(inst.bbox), cls_index[inst.category]))
            self.boxes.append(keep)
            self.seg_y.append(seg_labels(mask, cls))
        self.seg_y = np.stack(self.seg_y)

    def image(self, i: int) -> np.ndarray:
        from synthgap.data.layout import read_image

        return read_image(self.root / self.records[i].files["image"])

    def __len__(self) -> int:
        return len(self.records)


def derived(images, renders: RenderSet, gap_index: set[int]) -> dict[str, Any]:
    """Crops, 320×240 images and gap images of one training set (an iterable of full images
    in render order)."""
    crops, labels, seg_x, gap = [], [], [], []
    for i, img in enumerate(images):
        for box, c in renders.boxes[i]:
            crops.append(square_crop(img, box))
            labels.append(c)
        seg_x.append(seg_image(img))
        if i in gap_index:
            gap.append(img)
    return {"crops": np.stack(crops), "labels": np.array(labels, np.int64),
            "seg_x": np.stack(seg_x), "gap": gap}


def aligned_fit_data(data: Path, fit_ids: list[int], names: dict[int, str], scene_path: Path):
    """The fit photos and their pinned renders (true poses, the render scene's lights and
    sensor at their midpoints, each photo as its own background), with class label maps."""
    from synthgap.adapt.fitting import scene_fit_data
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    spec = yaml.safe_load(scene_path.read_text(encoding="utf-8"))
    bop = read_bop_scene(find_scene_dir(data), image_ids=fit_ids)
    extra = {"lights": spec["lights"], "sensor": spec.get("sensor", {}),
             "background": {"ambient": spec["background"].get("ambient", [0.05] * 3)}}
    scene = bop_scene_to_scene(bop, names=names, extra=extra, photo_background=True)
    return scene_fit_data(scene, seed=0, class_masks=True)


def accepted(adapter, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments `adapter.fit` takes (chains pass on what their steps take)."""
    import inspect

    params = inspect.signature(adapter.fit).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


# --------------------------------------------------------------------------- workers
def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _recognition_job(args: tuple) -> tuple[str, int, int, int]:
    """Train one classifier; returns (set, seed, correct, total) on its test crops. Two
    training sets (renders, real crops) are combined by the mix recipe (`train_mixed`)."""
    from synthgap.evaluate.models import TrainBudget, classify, train_classifier, train_mixed

    name, seed, parts, test_x, test_y, n_classes, budget, recipe = args
    if len(parts) == 2:
        net = train_mixed(parts[0], parts[1], n_classes, seed=seed,
                          budget=TrainBudget(*budget), recipe=recipe)
    else:
        net = train_classifier(parts, n_classes, seed=seed, budget=TrainBudget(*budget))
    pred = classify(net, test_x)
    return name, seed, int((pred == test_y).sum()), len(test_y)


def _segmentation_job(args: tuple) -> tuple[str, np.ndarray]:
    """Train one U-Net; returns (set, confusion matrix) on its test images."""
    from synthgap.evaluate.models import TrainBudget, segment, train_segmenter

    name, seed, parts, test_x, test_y, n_classes, budget, device = args
    net = train_segmenter(parts, n_classes, seed=seed, budget=TrainBudget(*budget),
                          device=device)
    pred = segment(net, test_x, device=device)
    conf = np.bincount(test_y.ravel().astype(np.int64) * n_classes + pred.ravel(),
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return name, conf


def run_jobs(fn, jobs: list[tuple], workers: int) -> list:
    if workers <= 1:
        _init_worker()
        return [fn(j) for j in jobs]
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker) as pool:
        return list(pool.map(fn, jobs))


class FitSplit:
    """What the `fit`-split CV scripts share: the data set's `fit` photos and classes, the real
    ground truth, the render scene and `real_lmo.py`'s cached renders."""

    def __init__(self, data: Path, out: Path, scene: Path, n_renders: int) -> None:
        from synthgap.scenes.bop import read_bop_scene

        self.data, self.out = data.resolve(), out.resolve()
        splits = json.loads((self.data / "splits.json").read_text())
        self.fit_ids = [int(i) for i in splits["fit"]]
        self.bop = read_bop_scene(find_scene_dir(self.data), image_ids=self.fit_ids)
        self.names = {i: LMO_NAMES.get(i, f"obj_{i:06d}") for i in self.bop.obj_ids}
        self.classes = sorted(self.names.values())
        self.truth = real_truth(self.data, self.out, self.classes, self.names)
        self.scene_path = render_scene_file(self.data, self.out, scene, self.fit_ids,
                                            self.names)
        self.renders = RenderSet(render(self.scene_path, self.out / "renders", n_renders, 1),
                                 self.classes)
        self.folds = [self.fit_ids[0::2], self.fit_ids[1::2]]

    @staticmethod
    def add_arguments(ap: argparse.ArgumentParser) -> None:
        """The options every fit-split CV script takes (data, cache, scene, seeds, ...)."""
        ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                        help="BOP data set folder with splits.json (default ../shared/data/lmo)")
        ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "real_lmo",
                        help="real_lmo.py's cache folder (renders, real ground truth)")
        ap.add_argument("--scene", type=Path, default=REPO / "examples" / "lmo_like.yaml",
                        help="render scene template (as real_lmo.py)")
        ap.add_argument("--renders", type=int, default=400, help="renders (real_lmo's cache)")
        ap.add_argument("--seeds", type=int, default=3, help="training seeds")
        ap.add_argument("--jobs", type=int, default=2, help="training processes (1 thread each)")
        ap.add_argument("--json", action="store_true", help="print one JSON object last")

    def held_out(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """The real crops and labels of the photos *not* in fold `fold`."""
        te = np.isin(self.truth["crop_img"], self.folds[1 - fold])
        return self.truth["crops"][te], self.truth["crop_cls"][te]


def accuracy_table(results: list[tuple], script: str) -> dict[str, dict[str, Any]]:
    """Per row: mean and std over seeds of the pooled accuracy (folds summed per seed).

    `results` holds `(row, ..., seed, correct, total)` tuples; a non-finite accuracy exits.
    """
    acc: dict[str, dict[int, list[int]]] = {}
    for r in results:
        row, (seed, correct, total) = r[0], r[-3:]
        a = acc.setdefault(row, {}).setdefault(seed, [0, 0])
        a[0] += correct
        a[1] += total
    table = {}
    for row, by_seed in acc.items():
        v = np.array([c / n if n else float("nan") for c, n in by_seed.values()])
        if not np.isfinite(v).all():
            sys.exit(f"{script}: {row}: non-finite accuracy")
        table[row] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                      "seeds": [round(float(x), 4) for x in v]}
    return table


def _num(x: float) -> float | None:
    """A JSON-safe rounded number (None for NaN: too few sets to rank)."""
    return None if not np.isfinite(x) else round(float(x), 3)


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="BOP data set folder with splits.json (default ../shared/data/lmo)")
    ap.add_argument("--scene", type=Path, default=REPO / "examples" / "lmo_like.yaml",
                    help="render scene template (its meshes/K/backgrounds come from --data)")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "real_lmo",
                    help="cache folder (renders, real ground truth)")
    ap.add_argument("--quick", action="store_true", help="smaller run (≤ 10 min on 2 cores)")
    ap.add_argument("--renders", type=int, default=None, help="renders (default 400, quick 160)")
    ap.add_argument("--fit-renders", type=int, default=32, help="renders the adapters fit on")
    ap.add_argument("--seeds", type=int, default=None, help="training seeds (default 3, quick 2)")
    ap.add_argument("--render-seed", type=int, default=1)
    ap.add_argument("--methods", default=None,
                    help="comma-separated training sets to adapt: a method or chain as `synthgap "
                         "adapt fit --method` spells it, fitted unpaired on renders + fit photos, "
                         "or METHOD:aligned, fitted on the fit photos rendered at their true poses "
                         "(default: every method, camera+conv-smcae, pda+conv-smcae, and the "
                         "aligned camera, conv-smcae and camera+conv-smcae; `none`: raw renders "
                         "only)")
    ap.add_argument("--ablation", action="append", default=[], choices=sorted(ABLATIONS),
                    help="also render the scene without one realism feature and train on those "
                         "raw renders (row `raw[NAME]`); repeatable")
    ap.add_argument("--no-seg", action="store_true", help="skip task 2 (segmentation)")
    ap.add_argument("--mix-recipe", default="finetune", choices=["batch", "finetune"],
                    help="how `+real` rows combine renders and the fit crops: `finetune` "
                         "(train on the renders, then on the real crops; chosen by "
                         "benchmarks/lmo_fit_cv.py on the fit photos) or `batch` (half of "
                         "every batch from each; the rule before); recognition only")
    ap.add_argument("--jobs", type=int, default=2, help="training processes (1 thread each)")
    ap.add_argument("--device", default="cpu", help="torch device for the U-Net (cpu, cuda)")
    ap.add_argument("--figure", type=Path, default=None, help="write the figure (PNG)")
    ap.add_argument("--examples", type=Path, default=None,
                    help="write a sheet (PNG): a real test photo and its crops, then the same "
                         "render and crops from every training set")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()
    t_start = time.perf_counter()

    from synthgap.adapt.image_base import METHODS, make_image_adapter
    from synthgap.data.layout import read_image
    from synthgap.gap.metric import GapConfig, measure_gap
    from synthgap.scenes.bop import read_bop_scene

    quick = args.quick
    n_renders = args.renders or (160 if quick else 400)
    seeds = list(range(args.seeds or (2 if quick else 3)))
    rec_budget = (120, 48, 3e-3) if quick else (200, 48, 3e-3)
    seg_budget = (120, 8, 3e-3) if quick else (200, 8, 3e-3)
    methods = ([] if args.methods == "none" else args.methods.split(",") if args.methods else
               [*METHODS, "camera+conv-smcae", "pda+conv-smcae", "camera:aligned",
                "conv-smcae:aligned", "camera+conv-smcae:aligned"])

    data = args.data.resolve()
    splits_path = data / "splits.json"
    if not splits_path.is_file():
        sys.exit(f"real_lmo: {splits_path} not found; --data must be a BOP data set folder with "
                 "splits.json ({\"fit\": [ids], \"test\": [ids]})")
    splits = json.loads(splits_path.read_text())
    fit_ids, test_ids = [int(i) for i in splits["fit"]], [int(i) for i in splits["test"]]
    if set(fit_ids) & set(test_ids):
        sys.exit("real_lmo: splits.json fit and test share photos")
    bop_all = read_bop_scene(find_scene_dir(data))
    names = {i: LMO_NAMES.get(i, f"obj_{i:06d}") for i in bop_all.obj_ids}
    classes = sorted(names.values())
    n_cls = len(classes)
    out = args.out.resolve()

    # 1. real ground truth
    truth = real_truth(data, out, classes, names)
    pos = {int(i): k for k, i in enumerate(truth["ids"])}
    fit_img = [pos[i] for i in fit_ids if i in pos]
    test_img = [pos[i] for i in test_ids if i in pos]
    crop_in = lambda ids: np.isin(truth["crop_img"], ids)  # noqa: E731
    fit_c, test_c = crop_in(fit_ids), crop_in(test_ids)
    real_fit = (truth["crops"][fit_c], truth["crop_cls"][fit_c])
    real_test = (truth["crops"][test_c], truth["crop_cls"][test_c])
    log(f"real crops: {fit_c.sum()} fit, {test_c.sum()} test (visible fraction ≥ {MIN_VISIB})")
    fit_photos = [read_image(bop_all.image(i).rgb) for i in fit_ids]
    rng = np.random.default_rng(0)
    test_gap_ids = sorted(rng.choice(test_ids, size=min(GAP_IMAGES, len(test_ids)),
                                     replace=False).tolist())
    test_photos = [read_image(bop_all.image(i).rgb) for i in test_gap_ids]

    # 2. renders
    scene_path = render_scene_file(data, out, args.scene, fit_ids, names)
    renders = RenderSet(render(scene_path, out / "renders", n_renders, args.render_seed),
                        classes)
    gap_index = set(np.random.default_rng(1).choice(
        len(renders), size=min(GAP_IMAGES, len(renders)), replace=False).tolist())
    sets: dict[str, dict[str, Any]] = {}
    sets["raw"] = derived((renders.image(i) for i in range(len(renders))), renders, gap_index)
    log(f"raw: {len(sets['raw']['labels'])} render crops from {len(renders)} renders")
    for name in args.ablation:
        abl = RenderSet(render(ablated_scene(scene_path, name), out / f"renders_{name}",
                               n_renders, args.render_seed), classes)
        sets[f"raw[{name}]"] = derived((abl.image(i) for i in range(len(abl))), abl, gap_index)

    # 3. adapters: unpaired fits on the first renders + the fit photos, or aligned fits on the
    # fit photos rendered at their true poses (each photo's own background behind the parts)
    fit_renders = [renders.image(i) for i in range(min(args.fit_renders, len(renders)))]
    aligned_data = None
    timings: dict[str, dict[str, float]] = {}
    failed: dict[str, str] = {}
    for variant in methods:
        method, _, pairing = variant.partition(":")
        t = time.perf_counter()
        try:
            if pairing == "aligned":
                if aligned_data is None:
                    aligned_data = aligned_fit_data(data, fit_ids, names, scene_path)
                    log(f"aligned pairs: {len(aligned_data.real)} fit photos rendered at their "
                        "poses")
                smcae = any(m.endswith("smcae") for m in method.split("+"))
                adapter = make_image_adapter(method, pairing="aligned" if smcae else None)
                kwargs = {"synthetic_masks": aligned_data.synthetic_masks,
                          "real_masks": aligned_data.real_masks}
                adapter.fit(aligned_data.synthetic, aligned_data.real,
                            rng=np.random.default_rng(0), **accepted(adapter, kwargs))
            elif pairing:
                raise ValueError(f"unknown variant {variant!r}: use METHOD or METHOD:aligned")
            else:
                adapter = make_image_adapter(method)
                adapter.fit(fit_renders, fit_photos, rng=np.random.default_rng(0))
        except Exception as exc:  # a broken method is reported, the others still run
            failed[variant] = f"{type(exc).__name__}: {exc}"
            log(f"{variant}: fit FAILED: {failed[variant]}")
            continue
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        sets[variant] = derived((adapter.transform(renders.image(i))
                                 for i in range(len(renders))), renders, gap_index)
        timings[variant] = {"fit_s": round(t_fit, 1),
                            "apply_ms": round(1000 * (time.perf_counter() - t) / len(renders), 1)}
        strengths = [float(st.strength) for st in getattr(adapter, "steps", [adapter])
                     if hasattr(st, "strength")]
        if strengths:  # the SMCAE step's strength (`strength: auto` chose it)
            timings[variant]["strength"] = strengths[-1]
        log(f"{variant}: fit {t_fit:.0f} s, apply {timings[variant]['apply_ms']:.0f} ms/img"
            + (f", strength {strengths[-1]:g}" if strengths else ""))
    synth_names = list(sets)

    # 4. recognition
    jobs: list[tuple] = []
    test_x, test_y = real_test
    for seed in seeds:
        for name in synth_names:
            s = sets[name]
            jobs.append((name, seed, [(s["crops"], s["labels"])], test_x, test_y, n_cls,
                         rec_budget, None))
            jobs.append((f"{name}+real", seed, [(s["crops"], s["labels"]), real_fit], test_x,
                         test_y, n_cls, rec_budget, args.mix_recipe))
        jobs.append(("real-only", seed, [real_fit], test_x, test_y, n_cls, rec_budget, None))
        if args.mix_recipe == "finetune":  # as many steps as a fine-tuned mix
            jobs.append(("real-only x2", seed, [real_fit], test_x, test_y, n_cls,
                         (2 * rec_budget[0], *rec_budget[1:]), None))
        halves = [test_ids[0::2], test_ids[1::2]]
        for a, b in ((0, 1), (1, 0)):
            tr, te = crop_in(halves[a]), crop_in(halves[b])
            jobs.append(("upper", seed, [(truth["crops"][tr], truth["crop_cls"][tr])],
                         truth["crops"][te], truth["crop_cls"][te], n_cls, rec_budget, None))
    log(f"recognition: {len(jobs)} trainings on {args.jobs} processes")
    t = time.perf_counter()
    results = run_jobs(_recognition_job, jobs, args.jobs)
    log(f"recognition: {time.perf_counter() - t:.0f} s")
    per_seed: dict[str, dict[int, list[int]]] = {}
    for name, seed, correct, total in results:
        acc = per_seed.setdefault(name, {}).setdefault(seed, [0, 0])
        acc[0] += correct
        acc[1] += total
    recognition = {}
    for name, by_seed in per_seed.items():
        accs = np.array([c / n for c, n in by_seed.values()])
        recognition[name] = {"mean": round(float(accs.mean()), 4),
                             "std": round(float(accs.std()), 4),
                             "seeds": [round(float(a), 4) for a in accs]}

    # 5. segmentation
    segmentation: dict[str, Any] = {}
    if not args.no_seg:
        seg_test_x = truth["seg_x"][test_img]
        seg_test_y = truth["seg_y"][test_img]
        seg_fit = (truth["seg_x"][fit_img], truth["seg_y"][fit_img])
        # a subset fixed in advance (not chosen on the results): raw, the simplest baseline,
        # the camera fit, the SMCAE unpaired and aligned, and the references
        seg_sets = ["raw", *[m for m in ("histogram", "camera", "conv-smcae",
                                         "conv-smcae:aligned", "camera+conv-smcae:aligned")
                             if m in sets], "real-only", "raw+real"]
        seg_jobs = []
        for name in seg_sets:
            base = name.removesuffix("+real")
            parts = [] if name == "real-only" else [(sets[base]["seg_x"], renders.seg_y)]
            if name == "real-only" or name.endswith("+real"):
                parts.append(seg_fit)
            seg_jobs.append((name, 0, parts, seg_test_x, seg_test_y, n_cls + 1, seg_budget,
                             args.device))
        halves = [[pos[i] for i in test_ids[0::2]], [pos[i] for i in test_ids[1::2]]]
        for a, b in ((0, 1), (1, 0)):
            seg_jobs.append(("upper", 0, [(truth["seg_x"][halves[a]], truth["seg_y"][halves[a]])],
                             truth["seg_x"][halves[b]], truth["seg_y"][halves[b]], n_cls + 1,
                             seg_budget, args.device))
        log(f"segmentation: {len(seg_jobs)} trainings")
        t = time.perf_counter()
        workers = 1 if args.device != "cpu" else args.jobs
        confs: dict[str, np.ndarray] = {}
        for name, conf in run_jobs(_segmentation_job, seg_jobs, workers):
            confs[name] = confs.get(name, 0) + conf
        log(f"segmentation: {time.perf_counter() - t:.0f} s")
        for name, conf in confs.items():
            inter = np.diag(conf).astype(float)
            union = conf.sum(0) + conf.sum(1) - np.diag(conf)
            iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
            segmentation[name] = {
                "miou": round(float(np.nanmean(iou)), 4),
                "per_class": {c: round(float(v), 4)
                              for c, v in zip(["background", *classes], iou, strict=True)}}

    # 6. gap: on the object crops the task sees (what recognition depends on), and on whole
    # images (what `synthgap gap` measures by default); both against the test photos.
    crop_cfg = GapConfig(patch_size=CROP, patches_per_image=1, max_images=1500,
                         mmd_permutations=0)
    img_cfg = GapConfig(mmd_permutations=0)
    t = time.perf_counter()

    def gap_of(images: list[np.ndarray] | np.ndarray, real: list[np.ndarray] | np.ndarray,
               cfg: GapConfig, seed: int = 0) -> float:
        rep = measure_gap(list(images), list(real), rng=np.random.default_rng(seed), config=cfg)
        return round(rep.domain_accuracy, 4)

    def crop_sample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
        pick = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
        return x[np.sort(pick)]

    test_crops_gap = crop_sample(real_test[0], 600, 2)
    gap: dict[str, dict[str, float]] = {}
    for name in synth_names:
        crops = crop_sample(sets[name]["crops"], 600, 3)
        mix = np.concatenate([crops[:max(2, len(crops) - len(real_fit[0]))], real_fit[0]])
        images = sets[name]["gap"]
        mix_images = images[:max(2, len(images) - len(fit_photos))] + fit_photos
        gap[name] = {"domain_accuracy": gap_of(crops, test_crops_gap, crop_cfg),
                     "domain_accuracy_images": gap_of(images, test_photos, img_cfg)}
        gap[f"{name}+real"] = {"domain_accuracy": gap_of(mix, test_crops_gap, crop_cfg),
                               "domain_accuracy_images": gap_of(mix_images, test_photos,
                                                                img_cfg)}
    gap["real-only"] = {"domain_accuracy": gap_of(real_fit[0], test_crops_gap, crop_cfg),
                        "domain_accuracy_images": gap_of(fit_photos, test_photos, img_cfg)}
    real_null = gap["real-only"]["domain_accuracy_images"]
    halves_c = [crop_in(test_ids[0::2]), crop_in(test_ids[1::2])]
    half_a = [read_image(bop_all.image(i).rgb) for i in test_ids[0::2][:GAP_IMAGES // 2]]
    half_b = [read_image(bop_all.image(i).rgb) for i in test_ids[1::2][:GAP_IMAGES // 2]]
    gap["upper"] = {"domain_accuracy": gap_of(truth["crops"][halves_c[0]],
                                              truth["crops"][halves_c[1]], crop_cfg),
                    "domain_accuracy_images": gap_of(half_a, half_b, img_cfg)}
    log(f"gap: {time.perf_counter() - t:.0f} s")
    common = [k for k in recognition if k in gap]

    def rank_corr(key: str, names: list[str]) -> float:
        if len(names) < 3:
            return float("nan")
        return spearman([-gap[k][key] for k in names], [recognition[k]["mean"] for k in names])

    synth_only = [k for k in common if "+" not in k and k not in ("real-only", "upper")]
    rho = rank_corr("domain_accuracy", common)
    rho_synth = rank_corr("domain_accuracy", synth_only)
    rho_images = rank_corr("domain_accuracy_images", common)
    rho_images_synth = rank_corr("domain_accuracy_images", synth_only)

    # report
    order = ["raw", *[m for m in synth_names if m != "raw"]]
    rows = [*order, *[f"{m}+real" for m in order], "real-only", "real-only x2", "upper"]
    print(f"\nReal-photo benchmark ({data.name}: {len(fit_ids)} fit photos, {len(test_ids)} test "
          f"photos; {len(renders)} renders; {len(seeds)} seeds; "
          f"{'quick' if quick else 'full'})")
    print(f"`+real` recognition rows: mix recipe {args.mix_recipe!r}")
    print(f"task 1: {len(test_y)} test crops, chance {1 / n_cls:.3f}; task 2: 9-class mIoU at "
          f"{SEG_SIZE[0]}x{SEG_SIZE[1]}; gap: domain-classifier accuracy vs the test crops / "
          "test photos (0.5 = indistinguishable)\n")
    print(f"{'training set':<22}{'recognition':>18}{'seg mIoU':>10}{'gap crops':>10}"
          f"{'gap images':>11}")
    for r in rows:
        if r not in recognition:
            continue
        rc = recognition[r]
        sg = segmentation.get(r, {}).get("miou")
        print(f"{r:<22}{rc['mean']:>11.3f} ± {rc['std']:.3f}"
              f"{(f'{sg:.3f}' if sg is not None else '-'):>10}"
              f"{gap.get(r, {}).get('domain_accuracy', float('nan')):>10.3f}"
              f"{gap.get(r, {}).get('domain_accuracy_images', float('nan')):>11.3f}")
    best_synth = max((k for k in order if k in recognition), key=lambda k: recognition[k]["mean"])
    print(f"\nreal-vs-real null (fit photos vs test photos): {real_null:.3f} (images), "
          f"{gap['real-only']['domain_accuracy']:.3f} (crops)")
    print(f"gap vs recognition, Spearman (lower gap = higher accuracy is +1): crops {rho:.2f} "
          f"over all sets, {rho_synth:.2f} over synthetic-only sets; whole images "
          f"{rho_images:.2f} / {rho_images_synth:.2f}")
    print(f"best synthetic-only set: {best_synth} ({recognition[best_synth]['mean']:.3f}); "
          f"real-only {recognition['real-only']['mean']:.3f}; upper "
          f"{recognition['upper']['mean']:.3f}")
    for m, err in failed.items():
        print(f"{m}: FAILED ({err})")
    total_s = time.perf_counter() - t_start

    if args.figure is not None:
        write_figure(args.figure, rows, recognition, gap, rho)
    if args.examples is not None:
        write_examples(args.examples, sets, truth["seg_x"][test_img[0]], real_test[0])
    if args.json:
        print(json.dumps({
            "benchmark": "real_lmo", "quick": quick, "renders": len(renders),
            "mix_recipe": args.mix_recipe,
            "fit_renders": len(fit_renders), "seeds": len(seeds),
            "test_crops": len(test_y), "fit_crops": len(real_fit[1]),
            "recognition": recognition, "segmentation": segmentation, "gap": gap,
            "gap_spearman": _num(rho), "gap_spearman_synthetic": _num(rho_synth),
            "gap_spearman_images": _num(rho_images),
            "gap_spearman_images_synthetic": _num(rho_images_synth),
            "real_null": real_null, "adapters": timings, "failed": failed,
            "seconds": round(total_s), "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        }))


def write_examples(path: Path, sets: dict[str, dict[str, Any]], photo: np.ndarray,
                   real_crops: np.ndarray, n_crops: int = 6) -> None:
    """One row per image set: a 320×240 image and `n_crops` 64-px object crops (the first row
    is real: a test photo and test crops; the others the same render in every set)."""
    def row(name: str, image: np.ndarray, crops: np.ndarray) -> np.ndarray:
        strip = np.concatenate([image, *[np.pad(c, ((88, 88), (4, 4), (0, 0)),
                                                constant_values=255) for c in crops]], axis=1)
        label = np.full((24, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(label, name, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                    cv2.LINE_AA)
        return np.concatenate([label, strip], axis=0)

    pick = np.linspace(0, len(real_crops) - 1, n_crops).astype(int)
    rows = [row("real test photo and crops", photo, real_crops[pick])]
    for name, s in sets.items():
        rows.append(row(name, s["seg_x"][0], s["crops"][:n_crops]))
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
    stds = [recognition[r]["std"] for r in rows]
    colours = ["#888" if r in ("real-only", "real-only x2", "upper") else "#4a7"
               if r.endswith("+real")
               else "#47a" for r in rows]
    a1.bar(range(len(rows)), means, yerr=stds, color=colours, capsize=2)
    a1.axhline(recognition["real-only"]["mean"], color="#888", ls="--", lw=1)
    a1.axhline(1 / 8, color="#c33", ls=":", lw=1)
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
