"""One job, one command: render -> adapt -> export -> report (`synthgap run job.yaml`).

    >>> from synthgap.pipeline import load_job, run_job
    >>> report = run_job(load_job("examples/jobs/bin_picking.yaml"))
"""

from synthgap.pipeline.job import Job, JobError, load_job, parse_job
from synthgap.pipeline.paths import JobPaths
from synthgap.pipeline.run import RunReport, StageResult, run_job
from synthgap.pipeline.stages import PipelineError, Stages

__all__ = [
    "Job",
    "JobError",
    "JobPaths",
    "PipelineError",
    "RunReport",
    "StageResult",
    "Stages",
    "load_job",
    "parse_job",
    "run_job",
]
