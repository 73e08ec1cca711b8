"""The report of a `synthgap tune` run: `report.json`, `report.md` and `trials.png`.

`trials.png` plots each finished trial's score and the running best (left) and optuna's
parameter importances (right; fANOVA, when at least two trials finished and a knob varied).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from synthgap.tune.space import Knob

__all__ = ["write_report"]


def _importances(study: Any) -> dict[str, float]:
    import optuna

    try:
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}
    return {k: float(v) for k, v in imp.items() if math.isfinite(v)}


def _plot(path: Path, scores: list[tuple[int, float]], importances: dict[str, float],
          objective: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    xs = [n for n, _ in scores]
    ys = [s for _, s in scores]
    best = [min(ys[:i + 1]) for i in range(len(ys))]
    a.plot(xs, ys, "o", ms=4, label="trial")
    a.step(xs, best, where="post", label="best so far")
    a.set_xlabel("trial")
    a.set_ylabel(objective)
    a.legend()
    names = list(importances)[:10][::-1]
    b.barh(range(len(names)), [importances[n] for n in names])
    b.set_yticks(range(len(names)), names, fontsize=7)
    b.set_xlabel("importance (fANOVA)")
    if not names:
        b.text(0.5, 0.5, "too few trials", ha="center", transform=b.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(iv: dict[str, float]) -> str:
    return f"{iv['mean']:.4f} [{iv['lo']:.4f}, {iv['hi']:.4f}]"


def write_report(out: Path, study: Any, *, knobs: list[Knob], config: dict[str, Any],
                 compare: dict[str, Any], best_trial: int, best_values: dict[str, Any],
                 photos: list[str], overlap: list[str]) -> dict[str, Any]:
    """Write `report.json`, `report.md` and `trials.png` into `out`; return the JSON data."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    scores = [(t.number, float(t.value)) for t in done]
    importances = _importances(study) if len(done) >= 2 else {}
    objective = config["objective"]
    data = {"objective": objective, "trials_complete": len(done),
            "trials_finished": sum(t.state.is_finished() for t in study.trials),
            "best_trial": best_trial, "best_score": min(s for _, s in scores),
            "start_score": next((s for n, s in scores if n == 0), None),
            "best_values": best_values, "compare": compare, "importances": importances,
            "search": {k.path: k.to_dict() for k in knobs}, "config": config,
            "photos": photos, "photos_also_backgrounds": overlap}
    (out / "report.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    _plot(out / "trials.png", scores, importances, objective)
    c = compare
    lines = [
        "# synthgap tune report", "",
        f"{len(done)} trials scored by `{objective}` (gap metric, lower is closer to the photos; "
        f"domain accuracy 0.5 = indistinguishable) against {len(photos)} photos; "
        f"{config['renders']} renders of {config['size'][0]}x{config['size'][1]} per trial.",
        "", "| scene | " + objective + " (mean [95 % interval], "
        f"{config['repeats']} fresh seeds) |", "|---|---|",
        f"| start (the scene as given) | {_fmt(c['start'])} |",
        f"| best (trial {best_trial}, `best_scene.yaml`) | {_fmt(c['best'])} |",
        f"| start - best (paired) | {_fmt(c['start_minus_best'])} |", "",
        "Best knob values:", "", "```yaml",
        json.dumps(best_values, indent=1, default=str), "```", "",
        "![score per trial](trials.png)", ""]
    if importances:
        lines += ["Parameter importances (fANOVA): " + ", ".join(
            f"`{k}` {v:.2f}" for k, v in importances.items()), ""]
    if overlap:
        lines += [f"**Warning**: {len(overlap)} of the photos are also the scene's background "
                  "images (or their plates), so renders show them: the score is optimistic and "
                  "mostly measures the backgrounds, not the parts. Compare with photos that are "
                  "not backgrounds.", ""]
    (out / "report.md").write_text("\n".join(lines))
    return data
