"""`synthgap tune`: search a scene's knobs so that its renders come closest to the photos.

Each trial (optuna, `TPESampler(seed)`) sets the knobs of the search space
(`synthgap.tune.space`), validates the scene, renders its first `renders` images of one fixed
seed at a small size and scores them against the given photos by the gap metric
(`synthgap.tune.score.gap_metrics`; the `objective`, default the domain-classifier accuracy:
0.5 = the classifier cannot tell renders from photos). The first trial is the scene as given
(when the knobs can express it).

Everything lives in the output folder: `study.journal` (optuna's journal storage: a rerun
with the same scene, search space, photos and settings continues the study up to `trials`
trials in all; anything else is refused), `trials.jsonl` (one line per finished trial: the
knob values, every gap number, the seconds it took and the trial's full scene as YAML),
`search_space.yaml` (the space searched), and at the end `best_scene.yaml` and the report
(`synthgap.tune.report`): start vs best re-measured on `repeats` fresh render and patch
seeds, with 95 % intervals.

Only the photos given are read as photos (and the scene's own files: meshes, backgrounds):
give it the fit photos, never test photos.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.scenes import parse_scene, scene_to_yaml
from synthgap.scenes.errors import SceneError
from synthgap.scenes.schema import Scene
from synthgap.scenes.yamlio import YamlProblem, read_yaml_file
from synthgap.tune.score import OBJECTIVES, TrialRenderer, gap_metrics, read_photos, t_interval
from synthgap.tune.space import (
    Knob,
    apply_values,
    check_search,
    default_search,
    load_search,
    parse_search,
    start_values,
)

__all__ = ["TuneConfig", "TuneError", "run_tune"]

STUDY = "synthgap-tune"


class TuneError(ValueError):
    """The output folder holds another study, or the inputs cannot be tuned."""


@dataclass(frozen=True)
class TuneConfig:
    """Settings of a search.

    Attributes:
        trials: trials in all (a rerun runs the missing ones).
        timeout_s: stop starting trials after this many seconds (None: no limit).
        renders: images rendered per trial.
        size: render size (width, height); the photos are reduced to it. None: 320 pixels
            wide, the scene's aspect ratio.
        seed: sampler seed, render seed and gap seed.
        objective: the gap number minimised (`score.OBJECTIVES`).
        patch_size: gap patch side, pixels.
        repeats: fresh seeds the start and best scenes are re-measured on at the end.
    """

    trials: int = 30
    timeout_s: float | None = None
    renders: int = 24
    size: tuple[int, int] | None = None
    seed: int = 0
    objective: str = "domain_accuracy"
    patch_size: int = 32
    repeats: int = 3

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective: expected one of {', '.join(OBJECTIVES)}, got "
                             f"{self.objective!r}")
        if self.trials < 1 or self.renders < 2 or self.repeats < 2:
            raise ValueError("trials >= 1, renders >= 2 and repeats >= 2 are needed")
        if (self.size is not None and min(self.size) < 16) or self.patch_size < 16 \
                or self.patch_size % 4:
            raise ValueError("size must be at least 16x16 and patch_size a multiple of 4, >= 16")


def _suggest(trial: Any, knob: Knob) -> Any:
    if knob.kind == "choice":
        return knob.bounds[trial.suggest_categorical(knob.path, list(range(len(knob.bounds))))]
    lo, hi = knob.bounds
    if knob.kind == "scale":
        return trial.suggest_float(knob.path, lo, hi, log=True)
    if knob.kind == "value":
        if knob.integer:
            return trial.suggest_int(knob.path, math.ceil(lo), math.floor(hi), log=knob.log)
        return trial.suggest_float(knob.path, lo, hi, log=knob.log)
    centre = trial.suggest_float(f"{knob.path}:centre", lo, hi)
    width = trial.suggest_float(f"{knob.path}:width", 0.0, hi - lo)
    a, b = max(lo, centre - width / 2), min(hi, centre + width / 2)
    if knob.integer:
        a, b = round(a), round(b)
    return [a, b] if b > a else a


def _start_params(knobs: Sequence[Knob], data: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for knob in knobs:
        ok, v = start_values(knob, data)
        if not ok:
            continue
        if knob.kind == "choice":
            params[knob.path] = list(knob.bounds).index(v)
        elif knob.kind == "range":
            params[f"{knob.path}:centre"] = (v[0] + v[1]) / 2
            params[f"{knob.path}:width"] = v[1] - v[0]
        else:
            params[knob.path] = v
    return params


def _fingerprint(data: dict[str, Any], knobs: Sequence[Knob], photos: Sequence[Path],
                 config: TuneConfig) -> str:
    cfg = {k: v for k, v in asdict(config).items() if k not in ("trials", "timeout_s",
                                                                  "repeats")}
    blob = json.dumps({"scene": data, "search": {k.path: k.to_dict() for k in knobs},
                       "photos": [str(Path(p).resolve()) for p in photos], "config": cfg},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _knobs_for(scene_path: Path, data: dict[str, Any], search: Path | None
               ) -> tuple[list[Knob], dict[str, Any]]:
    base = scene_path.resolve().parent
    if search is not None:
        knobs = load_search(search, data, base_dir=base)
        return knobs, read_yaml_file(search, what="search file")
    raw = default_search(data)
    knobs = parse_search(raw, "(default search space)")
    check_search(knobs, data, base_dir=base, file="(default search space)")
    return knobs, raw


def _open_study(out: Path, fingerprint: str, seed: int) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                load_if_exists=True)
    old = study.user_attrs.get("fingerprint")
    if old is not None and old != fingerprint:
        raise TuneError(f"{out}: holds a study of another scene, search space, photo set or "
                        "settings; give another --out (or the same inputs to continue it)")
    study.set_user_attr("fingerprint", fingerprint)
    return study


def run_tune(scene_path: Path, photos: Sequence[Path], out: Path, *,
             search: Path | None = None, config: TuneConfig | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Search the scene's knobs (module docstring); return the report's data.

    Args:
        scene_path: the scene file (YAML).
        photos: the photos to compare with (the fit photos; at least 2).
        out: output folder (created; a rerun continues the study there).
        search: a search file (default: `space.default_search` of the scene).
        config: settings (default `TuneConfig()`).
        log: progress lines.

    Raises:
        SceneError: the scene file is invalid.
        SearchSpaceError: the search file is invalid (file, knob, fix).
        TuneError: `out` holds another study, or fewer than 2 photos.
    """
    import optuna

    from synthgap.tune.report import write_report

    config = config or TuneConfig()
    scene_path = Path(scene_path)
    if len(photos) < 2:
        raise TuneError(f"photos: the gap needs at least 2, got {len(photos)}")
    try:
        data = read_yaml_file(scene_path, what="scene file")
    except YamlProblem as exc:
        raise SceneError(str(scene_path), [("", str(exc))]) from None
    base = scene_path.resolve().parent
    start = parse_scene(data, base_dir=base, source=str(scene_path))
    if config.size is None:
        w0, h0 = start.image.width, start.image.height
        config = replace(config, size=(320, max(16, round(320 * h0 / w0))))
    size: tuple[int, int] = config.size  # type: ignore[assignment]
    knobs, raw_search = _knobs_for(scene_path, data, search)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_space.yaml").write_text(yaml.safe_dump(raw_search, sort_keys=False))
    study = _open_study(out, _fingerprint(data, knobs, photos, config), config.seed)
    if not study.trials:
        study.enqueue_trial(_start_params(knobs, data), skip_if_exists=True)
    run = _Run(data=data, base=base, knobs=knobs, config=config,
               renderer=TrialRenderer(start, size), real=read_photos(photos, size),
               log_path=out / "trials.jsonl", log=log)
    try:
        done = sum(t.state.is_finished() for t in study.trials)
        todo = max(0, config.trials - done)
        log(f"{done} trials done, running {todo} more ({len(knobs)} knobs, "
            f"{len(photos)} photos, {config.renders} renders of {size[0]}x{size[1]} per "
            "trial)")
        if todo:
            study.optimize(run.objective, n_trials=todo, timeout=config.timeout_s)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            raise TuneError("no trial finished (every scene was invalid or the time budget "
                            "ended first); see trials.jsonl")
        best = min(complete, key=lambda t: t.value)
        best_data, _ = apply_values(data, knobs, best.user_attrs["values"])
        best_scene = parse_scene(best_data, base_dir=base, source="best trial")
        (out / "best_scene.yaml").write_text(
            f"# synthgap tune: best of {len(complete)} trials (trial {best.number}, "
            f"{config.objective} {best.value:.4f})\n" + scene_to_yaml(best_scene))
        compare = run.compare(start, best_scene)
    finally:
        run.renderer.close()
    return write_report(out, study, knobs=knobs, config=asdict(config), compare=compare,
                        best_trial=best.number, best_values=best.user_attrs["values"],
                        photos=[str(p) for p in photos],
                        overlap=_overlap(start, photos))


@dataclass
class _Run:
    """What every trial of one search shares."""

    data: dict[str, Any]
    base: Path
    knobs: list[Knob]
    config: TuneConfig
    renderer: TrialRenderer
    real: list[np.ndarray]
    log_path: Path
    log: Callable[[str], None]

    def score(self, scene: Scene, seed: int) -> dict[str, float]:
        imgs = self.renderer.render(scene, n=self.config.renders, seed=seed)
        return gap_metrics(imgs, self.real, seed=seed, patch_size=self.config.patch_size)

    def objective(self, trial: Any) -> float:
        """One trial: set the knobs, validate, render, score, log."""
        import optuna

        t0 = time.perf_counter()
        values = {k.path: _suggest(trial, k) for k in self.knobs}
        new, inactive = apply_values(self.data, self.knobs, values)
        record: dict[str, Any] = {"trial": trial.number, "values": values, "inactive": inactive}
        try:
            scene = parse_scene(new, base_dir=self.base, source=f"trial {trial.number}")
        except SceneError as exc:
            record.update(state="invalid", error=str(exc))
            _append(self.log_path, record)
            raise optuna.TrialPruned(str(exc)) from None
        metrics = self.score(scene, self.config.seed)
        score = metrics[self.config.objective]
        trial.set_user_attr("values", values)
        record.update(state="complete", score=score, metrics=metrics,
                      seconds=round(time.perf_counter() - t0, 2), scene=scene_to_yaml(scene))
        _append(self.log_path, record)
        self.log(f"trial {trial.number}: {self.config.objective} {score:.4f} "
                 f"({record['seconds']:.1f} s)")
        return score

    def compare(self, start: Scene, best: Scene) -> dict[str, Any]:
        """Start and best re-measured on `repeats` fresh seeds (t-intervals, paired)."""
        scores: dict[str, list[float]] = {"start": [], "best": []}
        for name, scene in (("start", start), ("best", best)):
            for r in range(self.config.repeats):
                s = self.config.seed + 1 + r
                scores[name].append(self.score(scene, s)[self.config.objective])
        return {"start": t_interval(scores["start"]), "best": t_interval(scores["best"]),
                "start_minus_best": t_interval([a - b for a, b in zip(
                    scores["start"], scores["best"], strict=True)])}


def _overlap(scene: Any, photos: Sequence[Path]) -> list[str]:
    """Photos that are also the scene's background images, or whose plates are (`synthgap
    scene fit` names the plate of photo `P.jpg` `<label>_P.png`): their renders show them."""
    files = [Path(p).resolve() for p in scene.background.image_files]
    paths, stems = set(files), {f.stem for f in files}

    def shown(photo: Path) -> bool:
        stem = photo.stem
        return (photo.resolve() in paths or stem in stems
                or any(s.endswith(f"_{stem}") for s in stems))

    return [str(p) for p in photos if shown(Path(p))]


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")
