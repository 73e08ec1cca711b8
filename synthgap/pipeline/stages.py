"""The stages of a job, one function each: render, fit, apply, gap.

Each takes the job and folders, does its work (resuming where a previous run stopped) and
returns a JSON-able summary. They call the library's own entry points (`synthgap.generators`,
`synthgap.adapt`), imported when the stage runs, so this module imports nothing heavy.
`run_job` chains them; tests can pass other functions of the same shape (`Stages`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthgap.pipeline.job import Job

if TYPE_CHECKING:
    from synthgap.gap.metric import GapReport


class PipelineError(RuntimeError):
    """A stage cannot run (the message names the stage and the fix)."""


def _summary(obj: Any) -> dict[str, Any]:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, dict):
        return obj
    return {"result": str(obj)}


def load_job_scene(job: Job) -> Any:
    """The job's validated `Scene`, with the job's `size` and `seed` (same steps as
    `synthgap render --width --height --seed`)."""
    from synthgap.scenes import default_scene, load_scene

    scene = default_scene() if job.scene == "default" else load_scene(job.scene)
    if job.size is not None:
        scene = scene.with_image_size(*job.size)  # scales the intrinsics with the image
    from synthgap.generators.run.preflight import check_renderable

    check_renderable(scene, source=job.scene)
    # a job without `seed:` renders with the scene's own seed (parse_job fills it in)
    return scene.model_copy(update={"seed": scene.seed if job.seed is None else job.seed})


def render_stage(job: Job, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Render `job.images` images of the job's scene into the raw dataset directory `out`
    (finished images of an earlier run are kept)."""
    from tqdm import tqdm

    from synthgap.generators.run.runner import SceneSource, render_dataset
    from synthgap.generators.run.writer import RunIdentity
    scene = load_job_scene(job)
    identity = RunIdentity.for_scene(scene)
    with tqdm(total=job.images, desc="render", unit="img", file=sys.stderr,
              disable=not progress) as bar:
        summary = render_dataset(SceneSource(scene, scene.seed), out, identity=identity,
                                 count=job.images, workers=job.workers, progress=bar.update,
                                 on_start=lambda todo, done: bar.update(done))
    return _summary(summary)


def held_out_photos(job: Job) -> list[str]:
    """Names of the real photos kept out of the fit to measure the gap on (see
    `Job.gap_holdout`): every k-th photo in name order, k = round(1 / gap_holdout), starting
    with the k-th; empty when nothing can be held out (no share, fewer than 4 photos, `class`
    or `aligned` pairing)."""
    from synthgap.adapt.photos import list_photos

    if (job.gap_holdout <= 0 or job.real_photos is None
            or job.adapt.pairing in ("class", "aligned")):
        return []
    names = [p.name for p in list_photos(Path(str(job.real_photos)))]
    if len(names) < 4:
        return []
    k = max(2, round(1 / job.gap_holdout))
    held = names[k - 1::k]
    return held if len(held) >= 2 else names[-2:]


def fit_stage(job: Job, renders: Path, model: Path) -> dict[str, Any]:
    """Fit the job's adapter on the renders in `renders` and the real photos; write `model`."""
    from synthgap.adapt.fitting import fit_adapter, folder_fit_data, scene_fit_data
    from synthgap.scenes import load_scene

    model.parent.mkdir(parents=True, exist_ok=True)
    if job.adapt.pairing == "class":
        return _fit_by_class(job, renders, model)
    seed, options = int(job.seed or 0), dict(job.adapt.options) or None
    if job.adapt.pairing == "aligned":
        # aligned pairs (with their masks) come from the scene file's pinned real views: the
        # same functions as `synthgap adapt fit --scene`
        data = scene_fit_data(load_scene(job.scene), seed=seed, max_views=job.adapt.max_images)
        return _summary(fit_adapter(job.adapt.method, data, model, pairing="aligned", seed=seed,
                                    options=options))
    held = held_out_photos(job)
    data = folder_fit_data(renders, Path(str(job.real_photos)), max_images=job.adapt.max_images,
                           exclude_real=held)
    summary = fit_adapter(job.adapt.method, data, model, pairing=job.adapt.pairing, seed=seed,
                          options=options)
    return {**_summary(summary), "held_out_photos": held}


def _fit_by_class(job: Job, renders: Path, model: Path) -> dict[str, Any]:
    """`class` pairing: each render is labelled with the class of its largest visible part,
    each photo with its sub-folder of `real_photos`; renders of classes without photos are
    left out of the fit."""
    import time

    from synthgap.adapt.image_base import make_image_adapter
    from synthgap.adapt.photos import load_class_photos
    from synthgap.data import read_records
    from synthgap.export.source import open_dataset

    real, real_labels, skipped = load_class_photos(Path(str(job.real_photos)),
                                                   limit=job.adapt.max_images)
    source = open_dataset(renders)
    syn, syn_labels = [], []
    for rec in read_records(renders):
        seen = [i for i in rec.instances if i.visible_pixels > 0]
        if not seen:
            continue
        label = max(seen, key=lambda i: i.visible_pixels).category
        if label in set(real_labels):
            syn.append(source.image(rec))
            syn_labels.append(label)
        if job.adapt.max_images is not None and len(syn) >= job.adapt.max_images:
            break
    if not syn:
        classes = sorted({i.category for r in read_records(renders) for i in r.instances})
        raise ValueError(f"class pairing: no render shows a class that has photos; render "
                         f"classes {classes}, photo sub-folders {sorted(set(real_labels))} "
                         f"of {job.real_photos}: name the sub-folders after the classes")
    adapter = make_image_adapter(job.adapt.method, pairing="class",
                                 options=dict(job.adapt.options) or None)
    t0 = time.perf_counter()
    # class pairing: only the SMCAE fits (and chains of them) take labels
    labels: dict[str, Any] = {"synthetic_labels": syn_labels, "real_labels": real_labels}
    adapter.fit(syn, real, rng=np.random.default_rng(int(job.seed or 0)), **labels)
    seconds = round(time.perf_counter() - t0, 3)
    adapter.save(model)
    return {"model": str(model), "method": job.adapt.method, "pairing": "class",
            "n_synthetic": len(syn), "n_real": len(real), "classes": sorted(set(syn_labels)),
            "skipped": [f"{p}: {why}" for p, why in skipped], "seconds": seconds}


def apply_stage(job: Job, model: Path, renders: Path, adapted: Path, *,
                progress: bool = True) -> dict[str, Any]:
    """Adapt every render of `renders` with `model` into the adapted directory `adapted`."""
    from synthgap.adapt.apply import apply_adapter
    from synthgap.adapt.image_base import load_image_adapter

    adapter = load_image_adapter(model)
    return _summary(apply_adapter(adapter, renders, adapted, model_path=model,
                                  progress=progress))


def photo_folders(job: Job) -> list[Path]:
    """The folders holding the job's real photos: `real_photos` itself, or with `class`
    pairing its class sub-folders (sorted)."""
    root = Path(str(job.real_photos))
    if job.adapt.pairing != "class":
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _dataset_images(root: Path, limit: int, rng: np.random.Generator, *,
                    skip_first: int = 0) -> tuple[list[np.ndarray], bool]:
    """Up to `limit` images of a dataset directory, drawn with `rng`, leaving out the first
    `skip_first` records in index order (the renders a fit used) when at least 2 remain;
    and whether they were left out."""
    from synthgap.data import read_records
    from synthgap.export.source import open_dataset

    source = open_dataset(root)
    records = sorted(read_records(root), key=lambda r: r.index)
    skipped = skip_first > 0 and len(records) - skip_first >= 2
    if skipped:
        records = records[skip_first:]
    if len(records) > limit:
        keep = np.sort(rng.choice(len(records), limit, replace=False))
        records = [records[i] for i in keep]
    return [source.image(r) for r in records], skipped


def gap_stage(job: Job, sets: dict[str, Path], figure: Path, *,
              max_images: int = 64) -> dict[str, Any]:
    """Measure the gap of each image set in `sets` (name -> dataset directory) against the
    job's real photos, draw the figure `figure`; returns name -> scalar metrics.

    The gap is measured on data the fit did not use where there is some: the held-out photos
    (`held_out_photos`) and the renders after the first `adapt.max_images` (the fit reads the
    first by name). Each set's metrics say which (`photos`, `renders`: "held out" or "fit").
    """
    from synthgap.adapt.photos import load_photos
    from synthgap.gap.figure import gap_figure
    from synthgap.gap.metric import measure_gap

    held = held_out_photos(job)
    real: list[np.ndarray] = []
    if held:
        names = set(held)
        everyone = [p.name for p in load_photos(Path(str(job.real_photos))).paths]
        real = load_photos(Path(str(job.real_photos)),
                           exclude=[n for n in everyone if n not in names]).images[:max_images]
    else:
        real = [img for folder in photo_folders(job)
                for img in load_photos(folder, limit=max_images).images][:max_images]
    fitted = job.adapt.method != "none" and job.adapt.pairing != "aligned"
    skip = (job.adapt.max_images or 0) if fitted else 0
    reports: dict[str, GapReport] = {}
    examples: dict[str, Sequence[np.ndarray]] = {}
    used: dict[str, dict[str, str]] = {}
    for name, root in sets.items():
        # the same seed for every set: the same renders (by index) are compared
        images, renders_held = _dataset_images(root, max_images,
                                               np.random.default_rng([int(job.seed or 0), 1]),
                                               skip_first=skip)
        reports[name] = measure_gap(images, real,
                                    rng=np.random.default_rng([int(job.seed or 0), 2]))
        examples[name] = images[:3]
        used[name] = {"photos": f"held out ({len(real)})" if held else
                      f"fit ({len(real)}; too few to hold any out)" if fitted else
                      f"all ({len(real)})",
                      "renders": ("held out" if renders_held else "fit" if skip else "all")}
    gap_figure(figure, reports, examples=examples, real_examples=real[:3],
               title="synthetic gap: renders vs real photos")
    return {name: {**r.summary(), **used[name]} for name, r in reports.items()}


@dataclass(frozen=True)
class Stages:
    """The stage functions `run_job` calls (defaults: the ones of this module).

    Attributes:
        render: `(job, raw_dir, progress=...) -> summary`.
        fit: `(job, raw_dir, model_path) -> summary`.
        apply: `(job, model_path, raw_dir, adapted_dir, progress=...) -> summary`.
        gap: `(job, {name: dataset_dir}, figure_path) -> {name: metrics}`.
    """

    render: Callable[..., dict[str, Any]] = render_stage
    fit: Callable[..., dict[str, Any]] = fit_stage
    apply: Callable[..., dict[str, Any]] = apply_stage
    gap: Callable[..., dict[str, Any]] = gap_stage
