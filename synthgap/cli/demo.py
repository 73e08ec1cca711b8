"""`synthgap demo -o demo_out`: the built-in job on built-in material only."""

from __future__ import annotations

from pathlib import Path

import click

from synthgap.cli.options import progress_option


@click.command("demo")
@click.option("-o", "--out", "--output", type=click.Path(path_type=Path), default=Path("demo_out"),
              show_default=True, help="Output folder.")
@click.option("--images", type=click.IntRange(2, 10_000_000), default=None,
              help="Images to render (default 48).")
@click.option("--method", type=click.Choice(["patch-smcae", "conv-smcae", "histogram", "fda",
                                            "pda", "camera"]),
              default=None,
              help="Adaptation method (default pda: best on real photos, docs/benchmarks.md).")
@progress_option
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Train the recognition evaluation on the 20 held-out photos (the return "
              "table; about a minute on 2 idle cores).")
def demo(out: Path, images: int | None, method: str | None, progress: bool,
         evaluate: bool) -> None:
    """Render 4 real objects (a reduced LM-O scene shipped with synthgap: decimated meshes,
    30 real photos with poses) over object-free plates of their desk, adapt the renders to 10
    of the photos, export COCO + YOLO, and write a preview sheet, a gap report and a sheet of
    renders beside real photos of the same objects (objects.png), and the return table of
    `synthgap evaluate` on 20 held-out photos (renders + n photos against n photos alone).
    A minute or two on 2 CPU cores; re-running resumes the job (the evaluation reruns)."""
    from synthgap.cli.run import run_and_print
    from synthgap.pipeline.demo import (
        DEMO_IMAGES,
        DEMO_METHOD,
        DEMO_STAGES,
        demo_job,
        evaluate_stage,
        finish_demo,
    )

    job = demo_job(out, images=images or DEMO_IMAGES, method=method or DEMO_METHOD)
    run_and_print(job, progress=progress)
    stages = [s for s in DEMO_STAGES if evaluate or s is not evaluate_stage]
    if evaluate:
        click.echo("synthgap: evaluating recognition on the 20 held-out photos ...", err=True)
    finish_demo(job, stages=stages)
    click.echo(f"synthgap: renders beside real photos {Path(str(job.output)) / 'objects.png'}",
               err=True)
