"""`synthgap tune`: search a scene's knobs so that its renders come closest to the photos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

#: The gap numbers a search may minimise (synthgap.tune.score.OBJECTIVES; kept here so that
#: `synthgap --help` imports nothing heavy).
_OBJECTIVES = ("domain_accuracy", "domain_accuracy_look", "mmd2", "histogram_distance",
               "spectrum_distance")


def _size(ctx: click.Context, param: click.Parameter, value: str | None
          ) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)x(\d+)", value.strip())
    if m is None or min(int(m[1]), int(m[2])) < 16:
        raise click.BadParameter(f"expected WIDTHxHEIGHT of at least 16x16, e.g. 320x240, "
                                 f"got {value!r}")
    return int(m[1]), int(m[2])


@click.command("tune")
@click.argument("scene", type=click.Path(path_type=Path))
@click.option("--photos", type=click.Path(path_type=Path), required=True,
              help="Folder of the photos to compare with: your fit photos only, never test "
                   "photos (nothing else is read as a photo).")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Output folder: study journal, trials.jsonl, best_scene.yaml, report. "
                   "Rerun with the same inputs to continue the study there.")
@click.option("--search", type=click.Path(path_type=Path), default=None,
              help="Search file (YAML, `search:` block; docs/tune.md). Default: light "
                   "intensities, ambient, an environment light, the sensor block, camera "
                   "distance and part brightness.")
@click.option("--trials", type=click.IntRange(1, 100_000), default=30, show_default=True,
              help="Trials in all (a rerun runs the missing ones).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1.0), default=None,
              help="Time budget, seconds: no trial starts after it.")
@click.option("--renders", type=click.IntRange(2, 10_000), default=24, show_default=True,
              help="Images rendered per trial.")
@click.option("--size", callback=_size, default=None,
              help="Render size WIDTHxHEIGHT (the photos are reduced to it). Default: 320 "
                   "pixels wide, the scene's aspect ratio.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sampler, render and gap seed.")
@click.option("--objective", type=click.Choice(_OBJECTIVES), default="domain_accuracy",
              show_default=True, help="Gap number to minimise.")
@click.option("--patch-size", type=click.IntRange(16, 512), default=32, show_default=True,
              help="Gap patch side, pixels (a multiple of 4).")
@click.option("--repeats", type=click.IntRange(2, 100), default=3, show_default=True,
              help="Fresh seeds the start and best scenes are re-measured on (intervals).")
def tune(scene: Path, photos: Path, out: Path, search: Path | None, trials: int,
         timeout_s: float | None, renders: int, size: tuple[int, int] | None, seed: int,
         objective: str, patch_size: int, repeats: int) -> None:
    """Search SCENE's knobs (lights, sensor, environment, ...) so its renders come closest
    to the photos by the gap metric; write the best scene and a report.

    Prints one JSON line on stdout: start and best scores with 95 % intervals and the
    output files.
    """
    from synthgap.scenes.errors import SceneError
    from synthgap.tune.score import list_photos
    from synthgap.tune.search import TuneConfig, TuneError, run_tune
    from synthgap.tune.space import SearchSpaceError

    try:
        config = TuneConfig(trials=trials, timeout_s=timeout_s, renders=renders, size=size,
                            seed=seed, objective=objective, patch_size=patch_size,
                            repeats=repeats)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        paths = list_photos(photos)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--photos") from exc
    if search is not None and not search.is_file():
        raise click.BadParameter(f"{search}: no such file", param_hint="--search")
    try:
        report = run_tune(scene, paths, out, search=search, config=config,
                          log=lambda s: click.echo(s, err=True))
    except SearchSpaceError as exc:
        raise click.BadParameter(str(exc), param_hint="--search") from exc
    except SceneError as exc:
        raise click.BadParameter(str(exc), param_hint="SCENE") from exc
    except TuneError as exc:
        raise click.BadParameter(str(exc), param_hint="--out") from exc
    c = report["compare"]
    click.echo(json.dumps({
        "objective": objective, "trials": report["trials_complete"],
        "best_trial": report["best_trial"],
        "start": {k: c["start"][k] for k in ("mean", "lo", "hi")},
        "best": {k: c["best"][k] for k in ("mean", "lo", "hi")},
        "best_scene": str(out / "best_scene.yaml"), "report": str(out / "report.md")}))
