"""`synthgap demo -o demo_out`: the built-in job on built-in material only."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("-o", "--out", "--output", type=click.Path(path_type=Path), default=Path("demo_out"),
              show_default=True, help="Output folder.")
@click.option("--images", type=click.IntRange(2, 10_000_000), default=None,
              help="Images to render (default 48).")
@click.option("--method", type=click.Choice(["patch-smcae", "conv-smcae", "histogram", "fda",
                                            "pda", "camera"]),
              default=None,
              help="Adaptation method (default pda: best on real photos, docs/benchmarks.md).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr.")
def demo(out: Path, images: int | None, method: str | None, progress: bool) -> None:
    """Render the built-in scene (a procedural metal bracket), adapt it to the look of a real
    photo (crops of scikit-image's `coins`), export COCO + YOLO, and write a preview sheet and
    a gap report. Runs in a few minutes on 2 CPU cores; re-running resumes."""
    from synthgap.cli.run import run_and_print
    from synthgap.pipeline.demo import DEMO_IMAGES, DEMO_METHOD, demo_job

    job = demo_job(out, images=images or DEMO_IMAGES, method=method or DEMO_METHOD)
    run_and_print(job, progress=progress)
