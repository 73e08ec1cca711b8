"""Where each stage of a job writes inside the job's output folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobPaths:
    """The output folder of a job::

        OUT/job.json                 the validated job, paths resolved
        OUT/render/                  raw dataset directory (`synthgap render`)
        OUT/adapt/model.safetensors  the fitted adapter (+ model.json)
        OUT/adapted/                 adapted dataset directory (`synthgap adapt apply`)
        OUT/export/<format>/         one folder per export format
        OUT/preview.png              contact sheet of the exported images
        OUT/compare.png              render | adapted | real photo
        OUT/gap.json, OUT/gap.png    synthetic gap before/after adaptation
        OUT/report.json, report.md   the report
        OUT/.stages/<stage>.json     what each finished stage was run with (for resuming)

    Args:
        root: the job's output folder.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def job_json(self) -> Path:
        return self.root / "job.json"

    @property
    def render(self) -> Path:
        return self.root / "render"

    @property
    def model(self) -> Path:
        return self.root / "adapt" / "model.safetensors"

    @property
    def adapted(self) -> Path:
        return self.root / "adapted"

    def export(self, fmt: str) -> Path:
        return self.root / "export" / fmt

    @property
    def preview(self) -> Path:
        return self.root / "preview.png"

    @property
    def compare(self) -> Path:
        return self.root / "compare.png"

    @property
    def gap_json(self) -> Path:
        return self.root / "gap.json"

    @property
    def gap_png(self) -> Path:
        return self.root / "gap.png"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    def stamp(self, stage: str) -> Path:
        return self.root / ".stages" / f"{stage}.json"
