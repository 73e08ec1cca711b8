"""A one-page PNG that shows the synthetic gap: distributions of every set against real, examples.

Top row: per-channel intensity distributions (cumulative, so small shifts are visible), the
radial power spectra and the domain classifier's out-of-fold "real" probabilities — one curve
per synthetic set (e.g. raw renders, then each adapted version), real in black. A table of the
four gap numbers per set sits beside them. Bottom rows: the same example images from every
synthetic set side by side (before/after pairs) and real photos.

Panel titles are short and wrapped to their panel's width, so no two overlap
(`tests/gap/test_figure.py` measures their boxes).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.gap.metric import GapReport

__all__ = ["gap_figure", "gap_plot"]

#: characters per title line of one panel (a sixth of the 17-inch figure) at `_TITLE_PT`;
#: example titles use `_EXAMPLE_PT` and `_EXAMPLE_CHARS`, legend entries (7 pt, beside their
#: line sample) `_LEGEND_CHARS`, so a long set name cannot make a panel wider than its cell
_TITLE_CHARS, _TITLE_PT, _EXAMPLE_CHARS, _EXAMPLE_PT, _LEGEND_CHARS = 30, 10, 40, 8, 22


def gap_figure(path: Path, reports: dict[str, GapReport], *,
               examples: dict[str, Sequence[np.ndarray]] | None = None,
               real_examples: Sequence[np.ndarray] = (), title: str = "synthetic gap") -> Path:
    """Draw the gap figure (`gap_plot`) and write it as PNG (atomically).

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
    import matplotlib.pyplot as plt

    fig = gap_plot(reports, examples=examples, real_examples=real_examples, title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        fig.savefig(tmp)
    finally:
        plt.close(fig)
    tmp.replace(path)
    return path


def gap_plot(reports: dict[str, GapReport], *,
             examples: dict[str, Sequence[np.ndarray]] | None = None,
             real_examples: Sequence[np.ndarray] = (), title: str = "synthetic gap") -> Any:
    """The gap figure as a matplotlib `Figure` (Agg backend; the caller closes it).

    Args: as `gap_figure`, without the path.

    Returns:
        A `matplotlib.figure.Figure`, laid out (17 inches wide, 3.6 inches per row).

    Raises:
        ValueError: no reports.
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
    _cdf_panel(fig.add_subplot(grid[0, 0]), reports, colours)
    _spectrum_panel(fig.add_subplot(grid[0, 1]), reports, colours)
    _scores_panel(fig.add_subplot(grid[0, 2]), reports, colours)
    _table_panel(fig.add_subplot(grid[0, 3:]), reports, title)
    for i, (name, imgs) in enumerate(ex_rows):
        row, half = 1 + i // 2, (i % 2) * 3
        for k in range(min(len(imgs), 3)):
            ax = fig.add_subplot(grid[row, half + k])
            ax.imshow(imgs[k])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(_wrap(f"{name} #{k}", _EXAMPLE_CHARS), fontsize=_EXAMPLE_PT)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int = _TITLE_CHARS) -> str:
    """`text` broken into lines of at most `width` characters (long words are split)."""
    return textwrap.fill(text, width=width, break_long_words=True)


def _titled(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(_wrap(title), fontsize=_TITLE_PT)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=7)


def _cdf_panel(ax: Any, reports: dict[str, GapReport], colours: Any) -> None:
    """Cumulative per-channel intensity distributions, real in black."""
    first = next(iter(reports.values()))
    x = np.linspace(0.0, 1.0, 256)
    for c, style in enumerate(("-", "--", ":")):
        ax.plot(x, np.cumsum(first.curves["histogram"]["real"][c]), "k" + style, lw=1.5,
                label="real" if c == 0 else None)
        for j, (name, report) in enumerate(reports.items()):
            ax.plot(x, np.cumsum(report.curves["histogram"]["synthetic"][c]), style,
                    color=colours(j), lw=1, label=_wrap(name, _LEGEND_CHARS) if c == 0 else None)
    _titled(ax, "intensity CDF (R solid, G dashed, B dotted)", "intensity",
            "fraction of pixels ≤")


def _spectrum_panel(ax: Any, reports: dict[str, GapReport], colours: Any) -> None:
    """Radial power spectra, real in black."""
    sp = next(iter(reports.values())).curves["spectrum"]
    ax.plot(sp["frequency"], sp["real"], "k", lw=1.5, label="real")
    for j, (name, report) in enumerate(reports.items()):
        s = report.curves["spectrum"]
        ax.plot(s["frequency"], s["synthetic"], color=colours(j), lw=1,
                label=_wrap(name, _LEGEND_CHARS))
    _titled(ax, "radial power spectrum (normalised)", "cycles / pixel", "log10 power")


def _scores_panel(ax: Any, reports: dict[str, GapReport], colours: Any) -> None:
    """Histograms of the domain classifier's out-of-fold P(real), real in black."""
    bins = np.linspace(0, 1, 21).tolist()
    for j, (name, report) in enumerate(reports.items()):
        ax.hist(report.curves["scores"]["synthetic"], bins=bins, histtype="step",
                color=colours(j), label=_wrap(name, _LEGEND_CHARS), density=True)
    ax.hist(next(iter(reports.values())).curves["scores"]["real"], bins=bins, histtype="step",
            color="k", lw=1.5, label="real", density=True)
    _titled(ax, "domain classifier: P(real) out of fold", "P(real)", "density")


def _table_panel(ax: Any, reports: dict[str, GapReport], title: str) -> None:
    """The gap numbers of every set, one row each."""
    ax.axis("off")
    rows = [[name, f"{r.domain_accuracy:.3f} ± {r.domain_accuracy_std:.3f}", _ci(r.domain_auc_ci95),
             f"{r.structure_distance:.1f} {r.structure_worst}", f"{r.mmd2:.4f}",
             f"{r.histogram_distance:.4f}", f"{r.spectrum_distance:.3f}", r.verdict]
            for name, r in reports.items()]
    table = ax.table(cellText=rows, colLabels=["set", "acc. (0.5 best)", "AUC 95 % CI",
                                               "structure (worst)", "MMD²", "hist. W1",
                                               "spectrum (dec.)", "verdict"],
                     loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.4)
    n_real = next(iter(reports.values())).n_real
    ax.set_title(_wrap(f"{title}: each set vs {n_real} real images", 3 * _TITLE_CHARS),
                 fontsize=_TITLE_PT + 1)


def _ci(ci: Sequence[float]) -> str:
    return f"{ci[0]:.2f}-{ci[1]:.2f}" if len(ci) == 2 else "-"
