"""A one-page PNG that shows the synthetic gap: distributions of every set against real, examples.

Top row: per-channel intensity distributions (cumulative, so small shifts are visible), the
radial power spectra and the domain classifier's out-of-fold "real" probabilities — one curve
per synthetic set (e.g. raw renders, then each adapted version), real in black. A table of the
four gap numbers per set sits beside them. Bottom rows: the same example images from every
synthetic set side by side (before/after pairs) and real photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthgap.gap.metric import GapReport

__all__ = ["gap_figure"]


def gap_figure(path: Path, reports: dict[str, GapReport], *,
               examples: dict[str, Sequence[np.ndarray]] | None = None,
               real_examples: Sequence[np.ndarray] = (), title: str = "synthetic gap") -> Path:
    """Draw the gap figure and write it as PNG (atomically).

    Args:
        path: destination `.png`.
        reports: synthetic set name -> its report against the same real set (insertion order
            is the plot order; put raw renders first).
        examples: set name -> a few `(H, W, 3) uint8` images; images at the same position in
            each list should show the same scene (before/after pairs). At most 3 per set are shown.
        real_examples: a few real photos (at most 3 shown).
        title: figure title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not reports:
        raise ValueError("gap_figure: expected at least one report")
    examples = dict(examples or {})
    n_ex = min(3, max([len(v) for v in examples.values()] + [len(real_examples), 0]))
    ex_rows = [(k, list(v)[:n_ex]) for k, v in examples.items() if len(v)]
    if len(real_examples):
        ex_rows.append(("real", list(real_examples)[:n_ex]))
    n_rows = 1 + (int(np.ceil(len(ex_rows) / 2)) if n_ex else 0)
    fig = plt.figure(figsize=(17, 3.6 * n_rows), dpi=90)
    grid = fig.add_gridspec(n_rows, 6)
    colours = plt.get_cmap("tab10")
    names = list(reports)
    first = reports[names[0]]
    x = np.linspace(0.0, 1.0, 256)

    ax = fig.add_subplot(grid[0, 0])
    for c, (ch, style) in enumerate(zip("RGB", ("-", "--", ":"), strict=True)):
        ax.plot(x, np.cumsum(first.curves["histogram"]["real"][c]), "k" + style, lw=1.5,
                label="real" if c == 0 else None)
        for j, name in enumerate(names):
            ax.plot(x, np.cumsum(reports[name].curves["histogram"]["synthetic"][c]), style,
                    color=colours(j), lw=1, label=name if c == 0 else None)
        del ch
    ax.set(title="intensity CDF (R solid, G dashed, B dotted)", xlabel="intensity",
           ylabel="fraction of pixels ≤")
    ax.legend(fontsize=7)

    ax = fig.add_subplot(grid[0, 1])
    sp = first.curves["spectrum"]
    ax.plot(sp["frequency"], sp["real"], "k", lw=1.5, label="real")
    for j, name in enumerate(names):
        s = reports[name].curves["spectrum"]
        ax.plot(s["frequency"], s["synthetic"], color=colours(j), lw=1, label=name)
    ax.set(title="radial power spectrum (normalised)", xlabel="cycles / pixel",
           ylabel="log10 power")
    ax.legend(fontsize=7)

    ax = fig.add_subplot(grid[0, 2])
    bins = np.linspace(0, 1, 21).tolist()
    for j, name in enumerate(names):
        ax.hist(reports[name].curves["scores"]["synthetic"], bins=bins, histtype="step",
                color=colours(j), label=name, density=True)
    ax.hist(first.curves["scores"]["real"], bins=bins, histtype="step", color="k", lw=1.5,
            label="real", density=True)
    ax.set(title="domain classifier: P(real) out of fold", xlabel="P(real)", ylabel="density")
    ax.legend(fontsize=7)

    ax = fig.add_subplot(grid[0, 3:])
    ax.axis("off")
    rows = [[name, f"{r.domain_accuracy:.3f} ± {r.domain_accuracy_std:.3f}", _ci(r.domain_auc_ci95),
             f"{r.structure_distance:.1f} {r.structure_worst}", f"{r.mmd2:.4f}",
             f"{r.histogram_distance:.4f}", f"{r.spectrum_distance:.3f}", r.verdict]
            for name, r in reports.items()]
    table = ax.table(cellText=rows, colLabels=["set", "domain acc. (0.5 best)", "AUC 95 % CI",
                                               "structure (worst)", "MMD²", "hist. W1",
                                               "spectrum (dec.)", "verdict"],
                     loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.4)
    ax.set_title(f"{title}: each set vs {first.n_real} real images")

    for i, (name, imgs) in enumerate(ex_rows):
        row, half = 1 + i // 2, (i % 2) * 3
        for k in range(min(len(imgs), 3)):
            ax = fig.add_subplot(grid[row, half + k])
            ax.imshow(imgs[k])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name} #{k}", fontsize=8)

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def _ci(ci: Sequence[float]) -> str:
    return f"{ci[0]:.2f}-{ci[1]:.2f}" if len(ci) == 2 else "-"
