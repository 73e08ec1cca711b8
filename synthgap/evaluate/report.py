"""The evaluation report: `report.md` (tables a manager can read), `report.json` (every
number, no NaN) and `report.png` (accuracy against the number of real photos per set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthgap.evaluate.run import Evaluation

__all__ = ["write_report"]


def _fmt(row: dict[str, Any]) -> str:
    std = f" ± {row['std']:.3f}" if row.get("std") is not None else ""
    return f"{row['mean']:.3f}{std}"


def _diff(row: dict[str, Any]) -> tuple[str, str]:
    if "ci95" not in row:
        return "", ""
    lo, hi = row["ci95"]
    return (f"{row['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] vs {row['vs']}",
            "yes" if row["significant"] else "no")


def markdown(ev: Evaluation) -> str:
    """The report as markdown."""
    r, cfg = ev.real, ev.config
    lines = [
        "# Does synthetic data pay on these photos?", "",
        f"Real photos: {r['photos']} ({r['source']}), {r['crops']} labelled object crops of "
        f"{len(r['classes'])} classes ({', '.join(r['classes'])}); leave-photos-out "
        f"cross-validation over {len(r['folds'])} folds of neighbouring photos. Task: recognise "
        f"the class of a {cfg['crop']}-px object crop with a small CNN trained from scratch "
        f"({cfg['steps']} steps, batch {cfg['batch']}); {cfg['seeds']} seeds (mean ± std, "
        "ddof 1). Intervals: 95 % paired bootstrap over the tested photos (and seeds); "
        "**significant** = the interval excludes 0.", ""]
    if "visibility_check" in r:
        v = r["visibility_check"]
        lines += [f"Ground truth from poses: rendered visibility is "
                  f"{v['mean_rendered_minus_recorded']:+.3f} off the recorded one on average; "
                  f"{v['ignored']} of {v['checked']} instances differ by more than "
                  f"{v['tolerance']} (ignored for segmentation).", ""]
    lines += ["## Return table: renders + n photos against n photos alone", "",
              "| training data | " + " | ".join(f"{n} photos" for n in ev.curve) + " |",
              "|---|" + "---|" * len(ev.curve),
              "| real photos only | " + " | ".join(_fmt(ev.rows[f"real-only@{n}"])
                                                   for n in ev.curve) + " |"]
    for name in ev.sets:
        cells = []
        for n in ev.curve:
            row = ev.rows.get(f"{name}+real@{n}")
            cells.append("-" if row is None else _fmt(row) + (" (sig.)" if row.get(
                "significant") else ""))
        lines.append(f"| {name} + photos | " + " | ".join(cells) + " |")
    lines += ["", "(sig.): differs significantly from real photos only with the same photos.",
              "", "## Photos saved", "",
              "| set | renders alone | " + " | ".join(f"+ {n} photos ≈ photos alone"
                                                      for n in ev.curve) + " |",
              "|---|---|" + "---|" * len(ev.curve)]
    for name, info in ev.sets.items():
        eq = info.get("photos_equivalent", {})
        lines.append(f"| {name} | {_fmt(ev.rows[name])} | "
                     + " | ".join(eq.get(str(n), "-") for n in ev.curve) + " |")
    lines += ["", "## Every row", "", "| row | accuracy | difference [95 % CI] | significant |",
              "|---|---|---|---|"]
    for name, row in ev.rows.items():
        d, s = _diff(row)
        lines.append(f"| {name} | {_fmt(row)} | {d} | {s} |")
    lines += ["", "## Compute per set", "", "| set | renders | crops | rendering s | "
              "evaluation training s |", "|---|---|---|---|---|"]
    for name, info in ev.sets.items():
        rs = info.get("render_seconds")
        lines.append(f"| {name} | {info.get('renders', '-')} | {info['crops']} | "
                     f"{'-' if rs is None else f'{rs:.0f}'} | {info['train_seconds']:.0f} |")
    dirty = {k: v["contamination"] for k, v in ev.sets.items() if "contamination" in v}
    if dirty:
        lines += ["", "Labelled real objects inside the render crops (the renders' background "
                  "photos are labelled photos; unlabelled real instances teach the wrong class): "
                  + ", ".join(f"{k} {v['mean_share']:.1%} of instance-box pixels "
                              f"({v['crops_over_10pct']:.0%} of boxes ≥ 10 %)"
                              for k, v in dirty.items())
                  + ". Fill them out of the background photos, or use photos without the "
                  "parts."]
    for name, err in ev.failed.items():
        lines.append(f"\n**{name}: FAILED** — {err}")
    lines += ["", "![accuracy against real photos](report.png)", ""]
    return "\n".join(lines)


def figure(ev: Evaluation, path: Path) -> None:
    """Accuracy against the number of real photos: real only, and each set + photos (error
    bars: std over seeds); each set's renders-only accuracy as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ns = ev.curve

    def series(prefix: str) -> tuple[list[float], list[float]]:
        rows = [ev.rows[f"{prefix}@{n}"] for n in ns]
        return [r["mean"] for r in rows], [r["std"] or 0.0 for r in rows]

    m, s = series("real-only")
    ax.errorbar(ns, m, yerr=s, color="#555", marker="o", capsize=3, label="real photos only")
    for k, name in enumerate(ev.sets):
        colour = f"C{k}"
        if all(f"{name}+real@{n}" in ev.rows for n in ns):
            m, s = series(f"{name}+real")
            ax.errorbar(ns, m, yerr=s, color=colour, marker="s", capsize=3,
                        label=f"{name} + photos")
        ax.axhline(ev.rows[name]["mean"], color=colour, ls="--", lw=1,
                   label=f"{name} alone")
    ax.axhline(1 / max(1, len(ev.real["classes"])), color="#c33", ls=":", lw=1, label="chance")
    ax.set_xlabel("labelled real photos used")
    ax.set_ylabel("recognition accuracy on held-out photos")
    ax.set_xticks(ns)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(ev: Evaluation, out: Path) -> list[Path]:
    """Write `report.md`, `report.json` and `report.png` into `out` (created); returns them.

    Raises:
        ValueError: a NaN or infinite number in the results (never written).
    """
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(ev.to_json(), indent=1, allow_nan=False)
    paths = [out / "report.json", out / "report.md", out / "report.png"]
    paths[0].write_text(text + "\n", encoding="utf-8")
    paths[1].write_text(markdown(ev), encoding="utf-8")
    figure(ev, paths[2])
    return paths
