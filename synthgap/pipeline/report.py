"""The report of a job: `report.json` (everything) and `report.md` (for people)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from synthgap.pipeline.paths import JobPaths

if TYPE_CHECKING:
    from synthgap.pipeline.run import RunReport


def _num(v: Any, digits: int = 3) -> str:
    if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)):
        return f"{v:.{digits}f}"
    return "–"


def markdown(report: RunReport) -> str:
    """The report as Markdown: job, preview sheet, gap table and figures, exports, stages."""
    job = report.job
    adapt = job["adapt"]["method"]
    lines = [f"# synthgap run: `{report.output}`", "",
             f"- scene: `{job['scene']}`, {job['images']} images, seed {job['seed']}"
             + (f", size {job['size'][0]}x{job['size'][1]}" if job.get("size") else ""),
             f"- real photos: `{job['real_photos']}`" if job.get("real_photos") else
             "- real photos: none",
             f"- adaptation: {adapt}", f"- exports: {', '.join(job['export'])} "
             f"(split {job['split']})", f"- synthgap {report.synthgap_version}, "
             f"{report.seconds:.1f} s this run", ""]
    if "preview" in report.files:
        lines += ["## Preview", "", "Instance masks (tinted by class, outlined), boxes, class "
                  "names (`NG` = the part shows a defect) and defect masks (red).", "",
                  f"![preview]({report.files['preview']})", ""]
    if report.gap:
        lines += ["## Synthetic gap", "",
                  "Domain-classifier accuracy: how well a classifier tells renders from real "
                  "photos (0.5 = indistinguishable). Lower distances are closer to the photos. "
                  "Measured on real photos and renders the fit did not use (held out), unless "
                  "the last column says otherwise.",
                  "", "| image set | domain accuracy | MMD² | histogram distance | "
                  "spectrum distance | photos, renders |", "|---|---|---|---|---|---|"]
        for name, m in report.gap.items():
            acc = _num(m.get("domain_accuracy"))
            if isinstance(m.get("domain_accuracy_std"), int | float):
                acc += f" ± {_num(m['domain_accuracy_std'])}"
            lines.append(f"| {name} | {acc} | {_num(m.get('mmd2'), 4)} | "
                         f"{_num(m.get('histogram_distance'), 4)} | "
                         f"{_num(m.get('spectrum_distance'), 3)} | "
                         f"{m.get('photos', '?')}, {m.get('renders', '?')} |")
        lines.append("")
    for key, title in (("compare", "Render, adapted, real photo"), ("gap_figure", "Gap figure")):
        if key in report.files:
            lines += [f"### {title}", "", f"![{key}]({report.files[key]})", ""]
    if report.exports:
        lines += ["## Exports", "", "| format | folder | train | val | test | objects |",
                  "|---|---|---|---|---|---|"]
        for fmt, s in report.exports.items():
            imgs = s.get("images", {})
            lines.append(f"| {fmt} | `{report.files.get('export:' + fmt, '')}` | "
                         f"{imgs.get('train', 0)} | {imgs.get('val', 0)} | "
                         f"{imgs.get('test', 0)} | {sum(s.get('objects', {}).values())} |")
        lines.append("")
    lines += ["## Stages", "", "| stage | status | seconds |", "|---|---|---|"]
    lines += [f"| {s.name} | {s.status} | {s.seconds:.1f} |" for s in report.stages]
    return "\n".join(lines) + "\n"


def write_report(paths: JobPaths, report: RunReport) -> None:
    """Write `report.json` and `report.md` into the job's output folder."""
    paths.report_json.write_text(json.dumps(report.to_dict(), indent=1, default=str) + "\n",
                                 encoding="utf-8")
    paths.report_md.write_text(markdown(report), encoding="utf-8")
