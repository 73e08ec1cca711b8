"""What the LM-O benchmark scripts (`benchmarks/real_lmo.py`, `benchmarks/lmo_*.py`) share:
the data set's splits, the render scene made from a template, cached renders, adapters
fitted under several seeds, and the fit-split cross-validation set-up (`FitSplit`).

The benchmark protocol: every choice is made by cross-validation over the `fit` photos
(`FitSplit`: contiguous blocks of photos, neighbours of a test block kept out of training);
the `test` photos are read only by `real_lmo.py --final`. Render backgrounds are the `fit`
photos with their labelled objects filled in (`clean_backgrounds`), so no render crop shows a
real instance of a class it is not labelled as.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.adapt.strength import applied_strengths
from synthgap.evaluate.bop_reader import find_scene_dirs, read_bop
from synthgap.evaluate.contamination import Contamination, clean_backgrounds, contamination
from synthgap.evaluate.contamination import object_masks as photo_object_masks
from synthgap.evaluate.crops import CropSet, RenderLabels, derive, read_render_labels, real_crops
from synthgap.evaluate.folds import photo_folds
from synthgap.evaluate.real import LabelError, RealData

__all__ = ["LMO_NAMES", "FitSplit", "RenderSet", "accepted", "accuracy_table", "aligned_fit_data",
           "derived", "fit_adapter", "log", "read_photos", "read_splits", "recognition_job",
           "render", "render_contamination", "render_scene_file", "run_jobs", "scene_dir"]

#: LM-O object names by BOP id: the benchmark's data set only (other data: a names file).
LMO_NAMES = {1: "ape", 5: "can", 6: "cat", 8: "driller", 9: "duck", 10: "eggbox", 11: "glue",
             12: "holepuncher"}
CROP = 64
SEG_SIZE = (320, 240)
REPO = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    """A time-stamped line on stderr."""
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def read_splits(data: Path) -> tuple[list[int], list[int]]:
    """`(fit ids, test ids)` from `data/splits.json` (LabelError when missing or shared)."""
    path = data / "splits.json"
    if not path.is_file():
        raise LabelError(path, "", 'not found; the data set needs {"fit": [ids], "test": [ids]}')
    splits = json.loads(path.read_text())
    fit, test = [int(i) for i in splits["fit"]], [int(i) for i in splits["test"]]
    if set(fit) & set(test):
        raise LabelError(path, "fit", "fit and test share photos")
    return fit, test


def scene_dir(data: Path) -> Path:
    """The data set's (first) BOP scene folder."""
    dirs = find_scene_dirs(data.resolve())
    if not dirs:
        raise LabelError(data, "", "no BOP scene (test/*/scene_gt.json); pass --data")
    return dirs[0]


def read_photos(data: Path, ids: Sequence[int], *, seg_size: tuple[int, int] | None = SEG_SIZE
                ) -> RealData:
    """The photos `ids` of the data set's scene, labelled from their poses (LM-O names)."""
    sd = scene_dir(data)
    return read_bop(data, names=LMO_NAMES, seg_size=seg_size, image_ids={sd.name: list(ids)})


def render_scene_file(template: Path, out: Path, data: Path, ids: Sequence[int],
                      backgrounds: Sequence[Path], *, name: str = "scene.yaml",
                      keep_background: bool = False) -> Path:
    """The render scene: the template's look and pose ranges; this data set's meshes, median
    intrinsics and the given background photos. Each part keeps the template part of its
    class (material, count, ...), else the template's first part's settings.

    With `keep_background`, a template that has its own background photos (`images` folder or
    `image_files`, e.g. the plates of `synthgap scene fit`) keeps them (made absolute) instead
    of `backgrounds`; a template without any still gets `backgrounds`."""
    from synthgap.scenes.bop import read_bop_scene

    bop = read_bop_scene(scene_dir(data), image_ids=list(ids))
    spec = yaml.safe_load(template.read_text(encoding="utf-8"))
    K = np.median(np.stack([im.K for im in bop.images]), axis=0)
    spec["image"] = {"width": bop.width, "height": bop.height}
    spec["camera"]["intrinsics"] = {"fx": float(K[0, 0]), "fy": float(K[1, 1]),
                                    "cx": float(K[0, 2]), "cy": float(K[1, 2])}
    by_class = {p.get("class"): p for p in spec["parts"]}
    first = spec["parts"][0]
    parts = []
    for i in bop.obj_ids:
        cls = LMO_NAMES.get(i, f"obj_{i:06d}")
        base = by_class.get(cls, first)
        parts.append({**{k: v for k, v in base.items() if k not in ("mesh", "class", "name")},
                      "mesh": str(bop.models[i]), "class": cls})
    spec["parts"] = parts
    bg = spec.setdefault("background", {})
    own = bg.get("images") is not None or bool(bg.get("image_files"))
    if keep_background and own:
        base = template.resolve().parent
        if bg.get("images") is not None:
            bg["images"] = str((base / bg["images"]).resolve())
            bg.pop("image_files", None)
        else:
            bg["image_files"] = [str((base / f).resolve()) for f in bg["image_files"]]
    else:
        bg["image_files"] = [str(p) for p in backgrounds]
        bg.pop("images", None)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def render(scene_path: Path, out: Path, count: int, seed: int) -> Path:
    """Render `count` images of a scene file into `out` (resumed when cached there)."""
    from synthgap.generators.run.preflight import check_renderable
    from synthgap.generators.run.runner import SceneSource, render_dataset
    from synthgap.generators.run.writer import DatasetConflictError, RunIdentity
    from synthgap.scenes import load_scene

    scene = load_scene(scene_path).model_copy(update={"seed": seed})
    check_renderable(scene, source=str(scene_path))
    source, identity = SceneSource(scene, scene.seed), RunIdentity.for_scene(scene)
    t = time.perf_counter()
    try:
        summary = render_dataset(source, out, identity=identity, count=count)
    except DatasetConflictError as exc:  # another scene or seed: this cache is ours to redo
        log(f"renders: cache of another scene ({str(exc)[:120]}...): rendering again")
        summary = render_dataset(source, out, identity=identity, count=count, overwrite=True)
    log(f"renders: {summary.rendered} rendered, {summary.skipped} resumed "
        f"({time.perf_counter() - t:.0f} s) in {out}")
    return out


class RenderSet:
    """A rendered dataset's labels, with its images read lazily."""

    def __init__(self, root: Path, classes: list[str],
                 seg_size: tuple[int, int] | None = SEG_SIZE) -> None:
        self.root = root
        self.classes = list(classes)
        self.labels: RenderLabels = read_render_labels(root, classes, seg_size=seg_size)
        self.seg_y = self.labels.seg_y

    def image(self, i: int) -> np.ndarray:
        """Render i, `(H, W, 3) uint8`."""
        from synthgap.data.layout import read_image

        return read_image(self.labels.images[i])

    def __len__(self) -> int:
        return len(self.labels.images)


def derived(images: Iterable[np.ndarray], renders: RenderSet, gap_index: set[int] | None = None,
            *, size: int = CROP, seg_size: tuple[int, int] | None = SEG_SIZE
            ) -> dict[str, Any]:
    """Crops, segmentation-size images and gap images of one training set (full images in
    render order): `{"crops", "labels", "set": CropSet, "seg_x", "gap"}`."""
    gap: list[np.ndarray] = []
    keep = gap_index or set()

    def tee() -> Iterable[np.ndarray]:
        for i, img in enumerate(images):
            if i in keep:
                gap.append(img)
            yield img

    d = derive(tee(), renders.labels, size=size, seg_size=seg_size)
    return {"crops": d.crops.x, "labels": d.crops.y, "set": d.crops, "seg_x": d.seg_x,
            "gap": gap}


def aligned_fit_data(data: Path, ids: Sequence[int], scene_path: Path, *,
                     appearance: str = "midpoint", draws: int = 1) -> Any:
    """Photos `ids` and their renders at the true poses (each over its own photo; the render
    scene's lights and sensor), with class masks (`synthgap.adapt.fitting.FitData`);
    `appearance="sample"`: `draws` renders per photo with appearance drawn per render."""
    from synthgap.adapt.fitting import FitData, scene_fit_data
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    spec = yaml.safe_load(scene_path.read_text(encoding="utf-8"))
    bop = read_bop_scene(scene_dir(data), image_ids=list(ids))
    extra = {"lights": spec["lights"], "sensor": spec.get("sensor", {}),
             "background": {"ambient": spec["background"].get("ambient", [0.05] * 3)}}
    scene = bop_scene_to_scene(bop, names=LMO_NAMES, extra=extra, photo_background=True)
    if appearance == "midpoint":
        return scene_fit_data(scene, seed=0, class_masks=True)
    scene = scene.model_copy(update={"real_views": tuple(
        v.model_copy(update={"appearance": "sample"}) for v in scene.real_views)})
    syn: list[np.ndarray] = []
    real: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for d in range(draws):
        fd = scene_fit_data(scene, seed=d, class_masks=True)
        syn += fd.synthetic
        real += fd.real
        masks += list(fd.synthetic_masks or [])
    return FitData(syn, real, synthetic_masks=masks, real_masks=masks, source="scene")


def accepted(adapter: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments `adapter.fit` takes (chains pass on what their steps take)."""
    params = inspect.signature(adapter.fit).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def fit_adapter(variant: str, fit_renders: list[np.ndarray], fit_photos: list[np.ndarray],
                aligned: Callable[[], Any], *, seed: int) -> tuple[Any, dict[str, Any]]:
    """Fit `METHOD` (unpaired: renders + photos) or `METHOD:aligned` (the photos rendered at
    their poses, `aligned()`; SMCAE steps pair aligned patches, every step gets the masks).

    Returns:
        The fitted adapter and `{"fit_s", "strength"?}`.
    """
    from synthgap.adapt.image_base import make_image_adapter

    method, _, pairing = variant.partition(":")
    t = time.perf_counter()
    if pairing == "aligned":
        fd = aligned()
        smcae = any(m.endswith("smcae") for m in method.split("+"))
        adapter = make_image_adapter(method, pairing="aligned" if smcae else None)
        kwargs = {"synthetic_masks": fd.synthetic_masks, "real_masks": fd.real_masks}
        adapter.fit(fd.synthetic, fd.real, rng=np.random.default_rng(seed),
                    **accepted(adapter, kwargs))
    elif pairing:
        raise ValueError(f"unknown variant {variant!r}: use METHOD or METHOD:aligned")
    else:
        adapter = make_image_adapter(method)
        adapter.fit(fit_renders, fit_photos, rng=np.random.default_rng(seed))
    info: dict[str, Any] = {"fit_s": round(time.perf_counter() - t, 1)}
    strengths = applied_strengths(adapter)
    if strengths:
        info["strength"] = strengths[-1]
    return adapter, info


def render_contamination(real: RealData, positions: Iterable[int], backgrounds: Sequence[Path],
                         left: dict[str, np.ndarray], labels: RenderLabels) -> dict[str, float]:
    """Labelled real-object share of render crops: `before`, as if the backgrounds (the
    photos at `positions`, cleaned into `backgrounds`) had not been cleaned, and `after`, as
    rendered (`left`: what the cleaning left of the objects)."""
    pos = list(positions)
    masks = photo_object_masks(real, pos)
    orig = {str(b): masks[str(Path(real.photos[i].path).resolve())]
            for b, i in zip(backgrounds, pos, strict=True)}
    before: Contamination = contamination(labels, orig)
    after: Contamination = contamination(labels, left)
    return {"before": round(before.mean_share, 4),
            "before_crops_over_10pct": round(before.crops_over_10pct, 4),
            "after": round(after.mean_share, 4),
            "after_crops_over_10pct": round(after.crops_over_10pct, 4), "crops": before.crops}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def run_jobs(fn: Callable[[Any], Any], jobs: list[Any], workers: int) -> list[Any]:
    """`[fn(j) for j in jobs]`, on `workers` spawned processes (one torch thread each)."""
    if workers <= 1:
        _init_worker()
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker) as pool:
        return list(pool.map(fn, jobs))


def recognition_job(args: tuple[Any, ...]) -> tuple[str, int, int, int]:
    """Train one classifier: `(name, seed, parts, test_x, test_y, n_classes, (steps, batch,
    lr), recipe)`; two parts (renders, real crops) are combined by `recipe`. Returns
    `(name, seed, correct, total)`."""
    from synthgap.evaluate.models import TrainBudget, classify, train_classifier, train_mixed

    name, seed, parts, test_x, test_y, n_classes, budget, recipe = args
    if len(parts) == 2:
        net = train_mixed(parts[0], parts[1], n_classes, seed=seed, budget=TrainBudget(*budget),
                          recipe=recipe)
    else:
        net = train_classifier(parts, n_classes, seed=seed, budget=TrainBudget(*budget))
    pred = classify(net, test_x)
    return name, seed, int((pred == test_y).sum()), len(test_y)


def accuracy_table(results: list[tuple[Any, ...]], script: str) -> dict[str, dict[str, Any]]:
    """Per row: mean and std (ddof 1) over seeds of the pooled accuracy (folds summed per
    seed). `results` holds `(row, ..., seed, correct, total)`; a non-finite accuracy exits."""
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
        table[row] = {"mean": round(float(v.mean()), 4),
                      "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else None,
                      "seeds": [round(float(x), 4) for x in v], "n_seeds": len(v)}
    return table


class FitSplit:
    """The fit-split CV set-up: the `fit` photos (labels from poses), their crops, cleaned
    backgrounds, the render scene and its cached renders, and block folds over the photos.

    Attributes:
        fit_ids: the `fit` image ids; folds[f]: the training ids of fold f, tests[f] its test
        ids (a contiguous block; its neighbours are in neither).
    """

    def __init__(self, data: Path, out: Path, scene: Path, n_renders: int, *, folds: int = 2,
                 render_seed: int = 1) -> None:
        self.data, self.out = data.resolve(), out.resolve()
        self.fit_ids, _ = read_splits(self.data)
        self.real = read_photos(self.data, self.fit_ids)
        self.names = dict(LMO_NAMES)
        self.classes = self.real.classes
        self.crops = real_crops(self.real, size=CROP)
        self.backgrounds, self.left = clean_backgrounds(self.real, range(len(self.real.photos)),
                                                        self.out / "backgrounds")
        self.scene_path = render_scene_file(scene, self.out, self.data, self.fit_ids,
                                            self.backgrounds)
        self.renders = RenderSet(render(self.scene_path, self.out / "renders", n_renders,
                                        render_seed), self.classes)
        ids = [p.order for p in self.real.photos]
        fl = photo_folds([p.group for p in self.real.photos], ids, folds, buffer=1)
        self.folds = [[ids[i] for i in f.train] for f in fl]
        self.tests = [[ids[i] for i in f.test] for f in fl]

    @property
    def truth(self) -> dict[str, np.ndarray]:
        """Real crops as arrays: `crops`, `crop_cls`, `crop_img` (image ids)."""
        ids = np.array([p.order for p in self.real.photos])
        return {"crops": self.crops.x, "crop_cls": self.crops.y, "crop_img": ids[self.crops.image]}

    def photo(self, image_id: int) -> np.ndarray:
        """The `fit` photo with this image id, `(H, W, 3) uint8`."""
        from synthgap.data.layout import read_image

        return read_image(next(p.path for p in self.real.photos if p.order == image_id))

    def crops_of(self, ids: Sequence[int]) -> CropSet:
        """Real crops of the photos with these image ids."""
        pos = [i for i, p in enumerate(self.real.photos) if p.order in set(ids)]
        return self.crops.subset(pos)

    def held_out(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """The real crops and labels of fold `fold`'s test photos."""
        c = self.crops_of(self.tests[fold])
        return c.x, c.y

    def contamination(self) -> dict[str, float]:
        """`render_contamination` of the cached renders."""
        return render_contamination(self.real, range(len(self.real.photos)), self.backgrounds,
                                    self.left, self.renders.labels)

    @staticmethod
    def add_arguments(ap: argparse.ArgumentParser) -> None:
        """The options every fit-split CV script takes (data, cache, scene, seeds, ...)."""
        ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                        help="BOP data set folder with splits.json (default ../shared/data/lmo)")
        ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "real_lmo",
                        help="cache folder (cleaned backgrounds, renders)")
        ap.add_argument("--scene", type=Path, default=REPO / "examples" / "lmo_like.yaml",
                        help="render scene template (as real_lmo.py)")
        ap.add_argument("--renders", type=int, default=400, help="renders (real_lmo's cache)")
        ap.add_argument("--seeds", type=int, default=5, help="training seeds")
        ap.add_argument("--steps", type=int, default=200, help="classifier steps (real_lmo: 200)")
        ap.add_argument("--jobs", type=int, default=2, help="training processes (1 thread each)")
        ap.add_argument("--json", action="store_true", help="print one JSON object last")
