"""Fit an image adapter (or a chain) from whatever the user has: what `synthgap adapt fit` runs.

Four ways to give the fit its data, all ending in `fit(renders, photos, masks...)`:

* folders — a render folder (or dataset directory) and a photo folder (`nearest` pairing, or
  any baseline / camera fit);
* folders + label maps — `region` pairing: the renders' `masks/` (dataset directory) and a folder
  of photo label PNGs with the photos' file stems (0 = background, > 0 = part); both are
  binarised (part / background), since instance ids of renders and photos do not correspond;
* a scene file with `real_views` — each photo's view rendered pixel-aligned, with its instance
  mask (`aligned` pairing: part and background patches balanced; masks never move);
* a BOP scene folder (e.g. LM-O `test/000002`) and image ids — converted by
  `synthgap.scenes.bop` to pinned views, parts in their meshes' own colours over their own
  photo, class label maps as masks.

`fit_adapter` returns a `FitReport`; `sensor_yaml` output of a camera fit is written on request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from synthgap.scenes.schema import Scene

__all__ = ["FitData", "FitReport", "bop_fit_data", "class_folder_fit_data", "fit_adapter",
           "folder_fit_data", "parse_ids", "scene_fit_data"]


@dataclass(frozen=True)
class FitData:
    """Images to fit on.

    Attributes:
        synthetic, real: `(H, W, 3) uint8` renders and photos.
        synthetic_masks, real_masks: `(H, W)` integer label maps (0 = background) or None.
        synthetic_labels, real_labels: per-image class names (`class` pairing) or None.
        skipped: unreadable files skipped, as `"path: reason"`.
        source: what the data came from (for the report).
    """

    synthetic: list[np.ndarray]
    real: list[np.ndarray]
    synthetic_masks: list[np.ndarray] | None = None
    real_masks: list[np.ndarray] | None = None
    skipped: list[str] = field(default_factory=list)
    source: str = ""
    synthetic_labels: list[str] | None = None
    real_labels: list[str] | None = None


@dataclass(frozen=True)
class FitReport:
    """What `fit_adapter` did (printed as JSON by the CLI).

    Attributes:
        model: the model file written.
        method: the method (`a+b` for a chain).
        pairing: the SMCAE steps' pairing (None when no step pairs).
        n_synthetic, n_real: images fitted on.
        source: `folders`, `folders+masks`, `scene` or `bop`.
        skipped: unreadable files skipped.
        seconds: fit wall time.
        sensor_yaml: the `sensor:` block file written (camera fits), or None.
        report: per step, what it measured: a camera model's fitted values; a conv SMCAE's
            `n_distinct_targets` and per-stage cost magnitudes.
        strength: the strength the last SMCAE step applies (`strength: auto` chose it on
            held-out images; see docs/adaptation.md), None for methods without one.
        strength_scores: the look distance of each tried strength (lower is closer), when
            `auto` chose it.
    """

    model: str
    method: str
    pairing: str | None
    n_synthetic: int
    n_real: int
    source: str
    skipped: list[str]
    seconds: float
    sensor_yaml: str | None
    report: dict[str, Any]
    strength: float | None = None
    strength_scores: dict[str, float] | None = None


def folder_fit_data(synthetic: Path, real: Path, *, skip_bad: bool = False,
                    max_images: int | None = None, real_masks: Path | None = None,
                    exclude_real: Collection[str] = ()) -> FitData:
    """Renders and photos from folders; with `real_masks`, label maps for `region` pairing.

    Args:
        synthetic: dataset directory (its `images/`, and `masks/` when `real_masks` is given)
            or a folder of renders.
        real: folder of photos.
        skip_bad: skip unreadable files.
        max_images: at most this many images of each folder (first by name).
        real_masks: folder of single-channel label PNGs named like the photos (same stem).

    Raises:
        PhotoError: a folder is missing or empty, or unreadable files (named).
        ValueError: a mask is missing, unreadable or of another size than its image (named).
    """
    from synthgap.adapt.photos import load_photos
    from synthgap.data.layout import DatasetFileError, read_label_png

    s = load_photos(synthetic, skip_bad=skip_bad, limit=max_images)
    r = load_photos(real, skip_bad=skip_bad, limit=max_images, exclude=exclude_real)
    skipped = [f"{p}: {why}" for p, why in [*s.skipped, *r.skipped]]
    if real_masks is None:
        return FitData(s.images, r.images, skipped=skipped, source="folders")
    mask_dir = Path(synthetic) / "masks"
    if not mask_dir.is_dir():
        raise ValueError(f"{synthetic}: region pairing needs the renders' masks; give a dataset "
                         "directory made by `synthgap render` (it has masks/) as --synthetic")

    def masks_for(paths: Sequence[Path], folder: Path, images: Sequence[np.ndarray], what: str
                  ) -> list[np.ndarray]:
        out = []
        for p, im in zip(paths, images, strict=True):
            m = folder / f"{p.stem}.png"
            try:
                lab = read_label_png(m)
            except DatasetFileError as exc:
                raise ValueError(f"{m}: {what} label map of {p.name} missing or unreadable "
                                 f"({exc}); write one single-channel PNG per image, 0 = "
                                 "background, > 0 = part") from exc
            if lab.shape != im.shape[:2]:
                raise ValueError(f"{m}: label map is {lab.shape[1]}x{lab.shape[0]} but "
                                 f"{p.name} is {im.shape[1]}x{im.shape[0]}")
            out.append((lab > 0).astype(np.int32))
        return out

    return FitData(s.images, r.images,
                   synthetic_masks=masks_for(s.paths, mask_dir, s.images, "render"),
                   real_masks=masks_for(r.paths, Path(real_masks), r.images, "photo"),
                   skipped=skipped, source="folders+masks")


def class_folder_fit_data(synthetic: Path, real: Path, *, skip_bad: bool = False,
                          max_images: int | None = None) -> FitData:
    """Renders and photos from `folder/<class>/*` sub-folders, with their class names.

    Raises:
        PhotoError: a folder without class sub-folders, or as `load_photos`.
    """
    from synthgap.adapt.photos import load_class_photos

    def labelled(folder: Path) -> tuple[list[np.ndarray], list[str], list[str]]:
        images, labels, skipped = load_class_photos(folder, skip_bad=skip_bad, limit=max_images)
        return images, labels, [f"{p}: {why}" for p, why in skipped]

    si, sl, ss = labelled(synthetic)
    ri, rl, rs = labelled(real)
    return FitData(si, ri, skipped=ss + rs, source="class folders", synthetic_labels=sl,
                   real_labels=rl)


def scene_fit_data(scene: Scene, *, seed: int = 0, class_masks: bool = False,
                   max_views: int | None = None) -> FitData:
    """Aligned renders, photos and masks of a `Scene`'s `real_views` (masks shared by both).

    Args:
        scene: a `Scene` with `real_views`.
        seed: seed of what the views do not pin (appearance).
        class_masks: label maps hold the part's index in `scene.parts` + 1 (so labels mean the
            same part in every view) instead of the view's instance index + 1.
        max_views: use only the first this many views (as `max_images` takes the first photos
            of a folder).
    """
    from synthgap.generators.real.views import render_aligned_views

    if max_views is not None:
        scene = scene.model_copy(update={"real_views": scene.real_views[:max_views]})

    views = render_aligned_views(scene, seed=seed)
    names = [p.name for p in scene.parts]
    masks = []
    for v in views:
        if class_masks:
            lut = np.zeros(len(v.params.parts) + 1, np.int32)
            for k, inst in enumerate(v.params.parts):
                lut[k + 1] = names.index(inst.part) + 1 if inst.part in names else k + 1
            masks.append(lut[v.instance_mask])
        else:
            masks.append(v.instance_mask.astype(np.int32))
    return FitData([v.render for v in views], [v.real for v in views], synthetic_masks=masks,
                   real_masks=masks, source="scene")


def bop_fit_data(scene_dir: Path, image_ids: Sequence[int], *, seed: int = 0) -> FitData:
    """Aligned fit data from a BOP scene folder's photos `image_ids` (see the module docs).

    Parts are drawn in their meshes' own colours (vertex colours of BOP models) under one
    directional light and ambient light, each over its own photo (so background pixels pair
    with themselves); masks are class label maps (the part's index + 1, same in every view).
    """
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    bop = read_bop_scene(scene_dir, image_ids=image_ids)
    extra = {"background": {"ambient": [0.25, 0.25, 0.25]},
             "lights": [{"type": "directional", "intensity": 3.0, "elevation": 70.0,
                         "azimuth": 30.0}]}
    scene = bop_scene_to_scene(bop, extra=extra, photo_background=True)
    data = scene_fit_data(scene, seed=seed, class_masks=True)
    return FitData(data.synthetic, data.real, data.synthetic_masks, data.real_masks,
                   source="bop")


def parse_ids(text: str) -> list[int]:
    """`"3,61,102"` or `"splits.json:fit"` (a JSON file and the key of an id list) -> ids.

    Raises:
        ValueError: not a list of integers, a missing file or key (names it).
    """
    if ":" in text and not text.replace(",", "").strip().isdigit():
        path, key = text.rsplit(":", 1)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read the id list ({exc})") from exc
        ids = data.get(key) if isinstance(data, dict) else None
        if not isinstance(ids, list) or not ids:
            raise ValueError(f"{path}: no non-empty list under key {key!r}")
    else:
        ids = [t for t in text.split(",") if t.strip()]
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected integer image ids, got {text!r}") from exc


def fit_adapter(method: str, data: FitData, out: Path, *, pairing: str | None = None,
                seed: int = 0, options: dict[str, Any] | None = None,
                sensor_yaml: Path | None = None) -> FitReport:
    """Fit `method` (a name or `a+b` chain) on `data`, save it to `out` (and the sensor block).

    Raises:
        ValueError: a bad method, option or pairing, or `sensor_yaml` without a camera step,
            or pairing that needs masks the data lacks.
    """
    import inspect

    from synthgap.adapt.camera import sensor_yaml as make_sensor_yaml
    from synthgap.adapt.image_base import chain_methods, make_image_adapter
    from synthgap.adapt.strength import strength_steps

    names = chain_methods(method)
    if sensor_yaml is not None and "camera" not in names:
        raise ValueError(f"sensor_yaml: only a camera fit writes a sensor block; {method!r} has "
                         "no camera step (use --method camera or camera+...)")
    adapter = make_image_adapter(method, pairing=pairing, options=options)
    kwargs: dict[str, Any] = {}
    if data.synthetic_labels is not None:
        kwargs = {"synthetic_labels": data.synthetic_labels, "real_labels": data.real_labels}
    if data.synthetic_masks is not None:
        kwargs.update(synthetic_masks=data.synthetic_masks, real_masks=data.real_masks)
    if kwargs:
        takes = inspect.signature(adapter.fit).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in takes.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in takes}
    t0 = time.perf_counter()
    adapter.fit(data.synthetic, data.real, rng=np.random.default_rng(seed), **kwargs)
    seconds = time.perf_counter() - t0
    adapter.save(out)
    report: dict[str, Any] = {}
    steps: Sequence[Any] = getattr(adapter, "steps", (adapter,))  # a chain's, or the one
    for i, step in enumerate(steps):
        key = f"{i}:{step.method}" if len(names) > 1 else step.method
        if step.method == "camera":
            report[key] = step.values
        elif getattr(step, "report", None):
            report[key] = {k: v for k, v in step.report.items()}
    written = None
    if sensor_yaml is not None:
        Path(sensor_yaml).parent.mkdir(parents=True, exist_ok=True)
        Path(sensor_yaml).write_text(make_sensor_yaml(adapter), encoding="utf-8")
        written = str(sensor_yaml)
    pairing_used = next((s.config.pairing for s in steps
                         if hasattr(getattr(s, "config", None), "pairing")), None)
    with_strength = strength_steps(adapter)
    last = with_strength[-1] if with_strength else None
    chosen = (getattr(last, "report", None) or {}).get("strength") if last else None
    return FitReport(model=str(out), method=method, pairing=pairing_used,
                     n_synthetic=len(data.synthetic), n_real=len(data.real), source=data.source,
                     skipped=list(data.skipped), seconds=round(seconds, 3), sensor_yaml=written,
                     report=report, strength=None if last is None else float(last.strength),
                     strength_scores=chosen.get("mmd2") if chosen else None)
