"""`synthgap demo -o demo_out`: the built-in job on built-in material only."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("-o", "--out", "--output", type=click.Path(path_type=Path), default=Path("demo_out"),
              show_default=True, help="Output folder.")
@click.option("--images", type=click.IntRange(min=2), default=None,
              help="Images to render (default 48).")
@click.option("--method", type=click.Choice(["patch-smcae", "conv-smcae", "histogram", "fda",
                                            "pda", "camera"]),
              default=None,
              help="Adaptation method (default pda: best on real photos, docs/benchmarks.md).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr.")
def demo(out: Path, images: int | None, method: str | None, progress: bool) -> None:
    """Render 4 real objects (a reduced LM-O scene shipped with synthgap: decimated meshes,
    30 real photos with poses) over object-free plates of their desk, adapt the renders to 10
    of the photos, export COCO + YOLO, and write a preview sheet, a gap report and a sheet of
    renders beside real photos of the same objects (objects.png). Under a minute on 2 CPU
    cores; re-running resumes."""
    from synthgap.cli.run import run_and_print
    from synthgap.pipeline.demo import DEMO_IMAGES, DEMO_METHOD, demo_job, finish_demo

    job = demo_job(out, images=images or DEMO_IMAGES, method=method or DEMO_METHOD)
    run_and_print(job, progress=progress)
    finish_demo(job)
    click.echo(f"synthgap: renders beside real photos {Path(str(job.output)) / 'objects.png'}",
               err=True)
