"""`synthgap run job.yaml`: render -> adapt -> export -> report, resuming an earlier run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from synthgap.cli.options import progress_option


def run_and_print(job: object, *, progress: bool) -> None:
    """Run a validated job, log stages to stderr, print the JSON summary on stdout."""
    from synthgap.pipeline import PipelineError, run_job

    try:
        report = run_job(job, progress=progress,  # type: ignore[arg-type]
                         echo=lambda line: click.echo(f"synthgap: {line}", err=True))
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    out = Path(report.output)
    click.echo(f"synthgap: report {out / 'report.md'}; preview {out / 'preview.png'}",
               err=True)
    click.echo(json.dumps({"output": report.output, "seconds": report.seconds,
                           "files": report.files,
                           "stages": {s.name: s.status for s in report.stages},
                           "gap": {k: v.get("domain_accuracy") for k, v in report.gap.items()}},
                          default=str))


@click.command("run")
@click.argument("job_file", type=click.Path(path_type=Path))
@click.option("--output", "-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Override the job's output folder.")
@progress_option
def run(job_file: Path, output: Path | None, progress: bool) -> None:
    """Run the job in JOB_FILE: render, adapt to the real photos, export, report.

    The job file names the scene, the number of images, the real photo folder, the
    adaptation method, the export formats and the output folder (see
    examples/jobs/bin_picking.yaml).
    Re-running it resumes: finished images and stages are kept.
    """
    from synthgap.pipeline import JobError, load_job

    try:
        job = load_job(job_file)
    except JobError as exc:
        raise click.UsageError(str(exc)) from None
    if output is not None:
        from synthgap.data.layout import DatasetFileError
        from synthgap.data.paths import resolve_folder

        try:
            job = job.model_copy(update={"output": str(resolve_folder(output,
                                                                      what="output folder"))})
        except DatasetFileError as exc:
            raise click.BadParameter(str(exc), param_hint="-o") from None
    run_and_print(job, progress=progress)
