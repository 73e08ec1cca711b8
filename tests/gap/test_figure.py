"""The gap figure: written as PNG, and no two panel titles overlap."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest

from synthgap.gap.figure import gap_figure, gap_plot
from synthgap.gap.metric import GapReport

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _report(rng: np.random.Generator) -> GapReport:
    hist = rng.random((3, 256))
    hist /= hist.sum(axis=1, keepdims=True)
    freq = np.linspace(0.01, 0.5, 20)
    return GapReport(
        domain_accuracy=0.8, domain_accuracy_std=0.05, domain_accuracy_look=0.7,
        domain_accuracy_look_std=0.05, mmd2=0.01, mmd2_p_value=0.01, histogram_distance=0.05,
        histogram_distance_per_channel=[0.05, 0.05, 0.05], spectrum_distance=0.2,
        n_synthetic=12, n_real=12, n_patches_synthetic=96, n_patches_real=96, folds=5,
        domain_auc_ci95=[0.7, 0.9], structure_distance=2.0, structure_worst="edges",
        verdict="told apart",
        curves={"histogram": {"real": hist.tolist(), "synthetic": hist[::-1].tolist()},
                "spectrum": {"frequency": freq.tolist(), "real": (-freq).tolist(),
                             "synthetic": (-2 * freq).tolist()},
                "scores": {"real": rng.random(96).tolist(), "synthetic": rng.random(96).tolist()}})


def title_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of non-empty axes titles of `fig` whose drawn text boxes overlap."""
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes
             for t in (ax.title, ax._left_title, ax._right_title) if t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if box_a.overlaps(box_b)]


@pytest.fixture
def reports():
    rng = np.random.default_rng(0)
    return {"raw renders": _report(rng),
            "adapted with a long method name (conv-smcae, strength auto)": _report(rng)}


def test_panel_titles_do_not_overlap(reports):
    img = np.zeros((48, 64, 3), np.uint8)
    examples = {name: [img] * 3 for name in reports}
    fig = gap_plot(reports, examples=examples, real_examples=[img] * 3,
                   title="synthetic gap of a job with a long name")
    try:
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert len(titles) == 4 + 3 * 3  # four top panels, three examples of three sets
        assert title_overlaps(fig) == []
    finally:
        plt.close(fig)


def test_the_overlap_check_finds_overlapping_titles():
    fig, axes = plt.subplots(1, 6, figsize=(17, 3.6))  # the old titles: 12 pt, one line
    try:
        axes[0].set_title("intensity CDF (R solid, G dashed, B dotted)")
        axes[1].set_title("radial power spectrum (normalised)")
        fig.tight_layout()
        assert title_overlaps(fig) == [("intensity CDF (R solid, G dashed, B dotted)",
                                        "radial power spectrum (normalised)")]
    finally:
        plt.close(fig)


def test_gap_figure_writes_a_png_and_nothing_else(tmp_path, reports):
    out = gap_figure(tmp_path / "gap.png", reports)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gap.png"]
    with pytest.raises(ValueError, match="at least one report"):
        gap_plot({})
