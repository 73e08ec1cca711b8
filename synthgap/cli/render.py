"""`synthgap render SCENE -n N -o OUT`: render a labelled raw dataset directory."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from synthgap.cli.options import progress_option
from synthgap.scenes import SceneError, load_scene

if TYPE_CHECKING:
    from synthgap.generators.run.runner import RenderSummary, SceneSource
    from synthgap.generators.run.writer import RunIdentity


def prepare_render(scene_arg: str, *, seed: int | None = None, width: int | None = None,
                   height: int | None = None) -> tuple[Any, Any]:
    """Load a scene (file or `preset:NAME`) with CLI overrides; `(SceneSource, RunIdentity)`.

    Raises:
        SceneError: the scene is invalid (names file and field).
        ValueError: a bad override value.
    """
    from synthgap.generators.run.runner import SceneSource
    from synthgap.generators.run.writer import RunIdentity

    scene = load_scene(scene_arg)
    if width is not None and height is not None:
        scene = scene.with_image_size(width, height)
    if seed is not None:
        scene = scene.model_copy(update={"seed": seed})
    from synthgap.generators.run.preflight import check_renderable

    check_renderable(scene, source=scene_arg)  # before any folder is touched
    return SceneSource(scene, scene.seed), RunIdentity.for_scene(scene)


def _positive(name: str, value: int | None, lo: int = 1) -> None:
    if value is not None and value < lo:
        raise click.BadParameter(f"must be >= {lo}, got {value}", param_hint=name)


@click.command("render")
@click.argument("scene", metavar="SCENE")
@click.option("-n", "--count", type=int, required=True, help="Images in the dataset (0..N-1).")
@click.option("-o", "--out", "--output", type=click.Path(path_type=Path), required=True,
              help="Output folder (created; a run of the same scene and seed resumes).")
@click.option("--seed", type=int, default=None, help="Run seed (default: the scene's seed).")
@click.option("--width", type=int, default=None, help="Image width override (with --height).")
@click.option("--height", type=int, default=None, help="Image height override (with --width).")
@click.option("--overwrite", is_flag=True,
              help="Replace a dataset of another scene/seed in OUT (deletes only synthgap files).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Render processes, each with its own OpenGL context (local backend).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where to render: this machine, or Ray tasks "
              "(pip install synthgap[ray]).")
@click.option("--address", default=None, metavar="HOST:PORT",
              help="Ray cluster head (with --backend ray; default: a local Ray instance). OUT "
              "and the scene's mesh files must be on a filesystem shared by all nodes.")
@click.option("--tasks", type=int, default=None,
              help="Ray tasks, each rendering a contiguous range of indices "
              "(default: 4 per CPU slot of the cluster).")
@click.option("--task-cpus", type=float, default=1.0, show_default=True,
              help="CPUs each Ray task reserves.")
@progress_option
def render(scene: str, count: int, out: Path, seed: int | None, width: int | None,
           height: int | None, overwrite: bool, workers: int, backend: str,
           address: str | None, tasks: int | None, task_cpus: float, progress: bool) -> None:
    """Render N labelled images of SCENE (a YAML file or preset:NAME) into OUT.

    Writes images/, depth/ (uint16 mm), masks/ (uint16 instance ids), defects/, records.jsonl,
    scene.yaml and run.json. Re-running the same command resumes; the same scene and seed give
    byte-identical files for any --workers. Progress on stderr, a JSON summary on stdout.
    """
    _check_options(count=count, seed=seed, width=width, height=height, workers=workers,
                   backend=backend, address=address, tasks=tasks, task_cpus=task_cpus)
    try:
        source, identity = prepare_render(scene, seed=seed, width=width, height=height)
    except SceneError as exc:
        raise click.BadParameter(str(exc), param_hint="SCENE") from None
    summary = _render(scene, source, identity, out, count=count, overwrite=overwrite,
                      progress=progress, workers=workers, backend=backend, address=address,
                      tasks=tasks, task_cpus=task_cpus)
    click.echo(json.dumps(asdict(summary)))


def _check_options(*, count: int, seed: int | None, width: int | None, height: int | None,
                   workers: int, backend: str, address: str | None, tasks: int | None,
                   task_cpus: float) -> None:
    """Refuse option values out of range or not used together (click.BadParameter)."""
    from synthgap.scenes.limits import MAX_IMAGES

    _positive("-n/--count", count)
    if count > MAX_IMAGES:
        raise click.BadParameter(f"at most {MAX_IMAGES} images per dataset, got {count}; "
                                 "render several datasets", param_hint="-n/--count")
    _positive("--workers", workers)
    _positive("--seed", seed, lo=0)
    _positive("--tasks", tasks)
    if backend != "ray":
        for name, value, default in (("--address", address, None), ("--tasks", tasks, None),
                                     ("--task-cpus", task_cpus, 1.0)):
            if value != default:
                raise click.BadParameter("only used with --backend ray", param_hint=name)
    elif workers != 1:
        raise click.BadParameter("with --backend ray use --tasks/--task-cpus instead",
                                 param_hint="--workers")
    if task_cpus <= 0:
        raise click.BadParameter(f"must be > 0, got {task_cpus}", param_hint="--task-cpus")
    if (width is None) != (height is None):
        raise click.BadParameter("give both --width and --height (or neither)",
                                 param_hint="--width/--height")
    _positive("--width", width, lo=8)
    _positive("--height", height, lo=8)
    if width is not None and height is not None:
        from synthgap.scenes.limits import image_size_problem

        if bad := image_size_problem(width, height):
            raise click.BadParameter(bad, param_hint="--width/--height")
    if workers > 256:
        raise click.BadParameter(f"at most 256 render processes, got {workers}",
                                 param_hint="--workers")


def _render(scene: str, source: SceneSource, identity: RunIdentity, out: Path, *, count: int,
            overwrite: bool, progress: bool, **backend: Any) -> RenderSummary:
    """`render_dataset` with a progress bar (hidden without `progress`), its errors turned
    into click errors; returns its summary."""
    from tqdm import tqdm

    from synthgap.generators.defects.geometry import GeometryDefectError
    from synthgap.generators.gl.context import GLUnavailableError
    from synthgap.generators.run.ray_backend import RayAddressError, RayBackendError
    from synthgap.generators.run.runner import render_dataset, reuse_freed_memory
    from synthgap.generators.run.writer import DatasetConflictError

    # This process exists to render: keep freed image-sized blocks (process-wide, permanent).
    reuse_freed_memory()
    bar = tqdm(total=0, unit="img", file=sys.stderr, desc="render", dynamic_ncols=True,
               disable=not progress)

    def on_start(todo: int, done: int) -> None:
        bar.reset(total=todo)
        if done:
            click.echo(f"resuming: {done} of {count} images already in {out}", err=True)

    try:
        return render_dataset(source, out, identity=identity, count=count,
                              overwrite=overwrite, progress=bar.update, on_start=on_start,
                              **backend)
    except DatasetConflictError as exc:
        raise click.BadParameter(str(exc), param_hint="-o/--out") from None
    except RayAddressError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    except SceneError as exc:  # the scene's fault, found while rendering (names the file)
        raise click.UsageError(str(exc)) from None
    except GeometryDefectError as exc:
        raise click.UsageError(f"{scene}: {exc}") from None
    except (GLUnavailableError, RayBackendError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
