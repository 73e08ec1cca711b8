"""`run_job`: render -> fit -> adapt -> export -> preview -> gap -> report, resumable.

Re-running a job picks up where it stopped: rendering and adapting skip finished images, and
the fit, each export and the gap measurement are skipped when `.stages/<stage>.json` shows
they already ran with the same inputs. Changing the adaptation settings or the photos refits
the model and re-adapts every image; changing only `images` renders and adapts the new ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthgap.data.layout import DatasetFileError
from synthgap.data.paths import folder_lock, foreign_dataset_files, remove_dataset_files
from synthgap.pipeline.job import Job
from synthgap.pipeline.paths import JobPaths
from synthgap.pipeline.stages import PipelineError, Stages

log = logging.getLogger("synthgap.pipeline")


@dataclass(frozen=True)
class StageResult:
    """One stage of a run.

    Attributes:
        name: stage name (`render`, `fit`, `apply`, `export:coco`, ...).
        status: `done` (ran now), `resumed` (skipped: already done with the same inputs).
        seconds: wall time of this run's part.
        summary: what the stage reported.
    """

    name: str
    status: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunReport:
    """What `run_job` did; also written as `report.json` (and `report.md`)."""

    output: str
    job: dict[str, Any]
    stages: list[StageResult]
    exports: dict[str, dict[str, Any]]
    gap: dict[str, dict[str, Any]]
    files: dict[str, str]
    synthgap_version: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fingerprint(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _photo_listing(folder: str | None) -> list[list[Any]]:
    if folder is None:
        return []
    root = Path(folder)  # with class pairing the photos are in sub-folders: list them too
    return [[p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(root.rglob("*")) if p.is_file()]


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _count(root: Path) -> int:
    from synthgap.data import read_records

    return len(read_records(root))


class _Runner:
    def __init__(self, job: Job, paths: JobPaths, progress: bool,
                 echo: Callable[[str], None]) -> None:
        self.job, self.paths, self.progress, self.echo = job, paths, progress, echo
        self.results: list[StageResult] = []

    def stage(self, name: str, key: dict[str, Any] | None,
              fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `fn` unless a stamp with the same `key` says it already ran (key None: always
        run; the stage resumes by itself)."""
        stamp = self.paths.stamp(name.replace(":", "-"))
        fp = _fingerprint(key) if key is not None else None
        if fp is not None and stamp.is_file():
            old = json.loads(stamp.read_text(encoding="utf-8"))
            if old.get("key") == fp:
                self.echo(f"{name}: already done, skipped")
                self.results.append(StageResult(name, "resumed", 0.0, old.get("summary", {})))
                summary: dict[str, Any] = old.get("summary", {})
                return summary
        self.echo(f"{name} ...")
        t = time.perf_counter()
        try:
            summary = fn()
        except PipelineError:
            raise
        except ImportError as exc:
            raise PipelineError(f"stage {name}: a part of synthgap it needs is missing from "
                                f"this installation ({exc}); reinstall synthgap") from exc
        except (ValueError, OSError, RuntimeError) as exc:
            # synthgap's errors (bad scene, photos or folders, no OpenGL, ...) are
            # ValueError/RuntimeError subclasses whose message names the problem and the fix
            raise PipelineError(f"stage {name}: {exc}") from exc
        seconds = round(time.perf_counter() - t, 3)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"key": fp, "summary": summary}, indent=1, default=str),
                         encoding="utf-8")
        self.results.append(StageResult(name, "done", seconds, summary))
        self.echo(f"{name}: done in {seconds:.1f} s")
        return summary


def run_job(job: Job, *, stages: Stages | None = None, progress: bool = True,
            echo: Callable[[str], None] | None = None) -> RunReport:
    """Run a job end to end (resuming an earlier run of it) and write its report.

    Args:
        job: a validated job (`load_job`), paths absolute.
        stages: the stage functions (default: the library's).
        progress: show progress bars on stderr.
        echo: called with one line per stage event (default: logging at INFO).

    Returns:
        The report (also in `job.output/report.json` and `report.md`).

    Raises:
        PipelineError: a stage failed (the message names the stage and the cause).
    """
    stages = stages or Stages()
    paths = JobPaths(Path(job.output))
    try:  # one run per output folder: a second would race on every stage's files
        with folder_lock(paths.root, command="synthgap run"):
            return _run_locked(job, paths, stages, progress, echo)
    except DatasetFileError as exc:  # busy, or a symbolic link loop
        raise PipelineError(str(exc)) from None


def _clear_adapted(adapted: Path) -> None:
    """Delete the adapted dataset the job made earlier; refuse when the folder holds files
    synthgap did not write (nothing is deleted then)."""
    if not (adapted / "adapt.json").is_file() and any(adapted.iterdir()):
        raise PipelineError(f"{adapted}: the folder was not made by `synthgap adapt apply` "
                            "(no adapt.json), so the job does not replace it; move it away "
                            "and run the job again")
    theirs = foreign_dataset_files(adapted)
    if theirs:
        raise PipelineError(f"{adapted}: the model was refitted, so the adapted images are "
                            f"redone, but the folder holds files synthgap did not write "
                            f"({', '.join(theirs[:3])}); move them out and run the job again "
                            "(nothing was deleted)")
    remove_dataset_files(adapted)


def _fit_and_apply(run: _Runner, stages: Stages, scene_sha: str) -> None:
    """The `fit` stage (skipped when its stamp matches) and the `apply` stage (resumes); a
    refit first clears the adapted images an older model made."""
    job, paths = run.job, run.paths
    fit_key = {"adapt": job.adapt.model_dump(), "seed": job.seed, "scene": scene_sha,
               "gap_holdout": job.gap_holdout,
               "photos": _photo_listing(job.real_photos), "model": str(paths.model)}
    stamp = paths.stamp("fit")
    refit = not (stamp.is_file() and paths.model.is_file() and
                 json.loads(stamp.read_text()).get("key") == _fingerprint(fit_key))
    if refit and paths.adapted.exists():
        _clear_adapted(paths.adapted)  # made by an older model: adapt everything again
    run.stage("fit", fit_key, lambda: stages.fit(job, paths.render, paths.model))
    run.stage("apply", None, lambda: stages.apply(job, paths.model, paths.render,
                                                  paths.adapted, progress=run.progress))


def _previews(job: Job, paths: JobPaths, final: Path, n_images: int, *, seed: int,
              adapted: bool) -> dict[str, Any]:
    """The `preview` stage: a contact sheet of the `final` dataset, and with adaptation a
    render / adapted / real photo comparison; the summary names the files."""
    from synthgap.export.preview import compare_sheet, contact_sheet, write_png

    sheet = contact_sheet(final, n=job.preview.n, seed=seed,
                          tile_width=job.preview.tile_width,
                          title=f"synthgap: {paths.root.name}/{final.name} "
                                f"({min(job.preview.n, n_images)} of {n_images} images)")
    write_png(paths.preview, sheet)
    out = {"preview": paths.preview.name}
    if adapted:
        from synthgap.pipeline.stages import photo_folders

        write_png(paths.compare, compare_sheet(paths.render, paths.adapted,
                                               photo_folders(job)[0], n=4, seed=seed,
                                               tile_width=job.preview.tile_width))
        out["compare"] = paths.compare.name
    return out


def _files(job: Job, paths: JobPaths) -> dict[str, str]:
    """The report's `files`: name -> path (relative to the job folder) of what exists."""
    return {name: p.name if p.parent == paths.root else str(p.relative_to(paths.root))
            for name, p in [("job", paths.job_json), ("render", paths.render),
                            ("adapted", paths.adapted), ("model", paths.model),
                            ("preview", paths.preview), ("compare", paths.compare),
                            ("gap", paths.gap_json), ("gap_figure", paths.gap_png),
                            *[(f"export:{f}", paths.export(f)) for f in job.export]]
            if p.exists()}


def _run_locked(job: Job, paths: JobPaths, stages: Stages, progress: bool,
                echo: Callable[[str], None] | None) -> RunReport:
    from synthgap import __version__
    from synthgap.export import export_dataset
    paths.job_json.write_text(job.model_dump_json(indent=2) + "\n", encoding="utf-8")
    run = _Runner(job, paths, progress, echo or log.info)
    t0 = time.perf_counter()

    run.stage("render", None, lambda: stages.render(job, paths.render, progress=progress))
    n_images = _count(paths.render)
    scene_sha = _file_sha(paths.render / "scene.yaml")

    adapted = job.adapt.method != "none"
    if adapted:
        _fit_and_apply(run, stages, scene_sha)
    final = paths.adapted if adapted else paths.render
    model_sha = _file_sha(paths.model) if adapted else "raw"

    seed = int(job.seed or 0)  # parse_job has filled it in (the scene's seed when not given)
    exports: dict[str, dict[str, Any]] = {}
    for fmt in job.export:
        key: dict[str, Any] = {"format": fmt, "split": job.split, "seed": job.seed,
                               "images": n_images, "model": model_sha, "scene": scene_sha}

        def export(fmt: str = fmt) -> dict[str, Any]:
            return export_dataset(final, paths.export(fmt), format=fmt, split=job.split,
                                  seed=seed).to_dict()

        exports[fmt] = run.stage(f"export:{fmt}", key, export)

    run.stage("preview", None, lambda: _previews(job, paths, final, n_images, seed=seed,
                                                 adapted=adapted))

    gap: dict[str, dict[str, Any]] = {}
    if job.gap and job.real_photos is not None:
        sets = {"raw renders": paths.render}
        if adapted:
            sets[f"adapted ({job.adapt.method})"] = paths.adapted
        key = {"images": n_images, "model": model_sha, "scene": scene_sha,
               "photos": _photo_listing(job.real_photos), "sets": sorted(sets),
               "gap_holdout": job.gap_holdout}
        gap = run.stage("gap", key, lambda: stages.gap(job, sets, paths.gap_png))
        paths.gap_json.write_text(json.dumps(gap, indent=1, default=str) + "\n",
                                  encoding="utf-8")

    report = RunReport(output=str(paths.root), job=json.loads(job.model_dump_json()),
                       stages=run.results, exports=exports, gap=gap,
                       files=_files(job, paths),
                       synthgap_version=__version__,
                       seconds=round(time.perf_counter() - t0, 3))
    from synthgap.pipeline.report import write_report

    write_report(paths, report)
    return report
