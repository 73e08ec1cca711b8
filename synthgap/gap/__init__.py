"""The synthetic-gap metric: how far a set of renders is from a set of real photos.

`measure_gap` (domain-classifier accuracy and AUC, MMD², histogram and spectrum distances, the
structure distance of `synthgap.gap.structure`, intervals over photos and a verdict from
`synthgap.gap.intervals`),
`real_null` (the real-vs-real reference), `write_report` (JSON) and `gap_figure` (PNG). Its
own package, below the pipeline and beside `adapt`: adapters never import it (the image
helpers both use live in `synthgap.data.images`).
"""

from __future__ import annotations

from synthgap.gap.figure import gap_figure
from synthgap.gap.metric import (
    GapConfig,
    GapReport,
    measure_gap,
    patch_features,
    real_null,
    write_report,
)
from synthgap.gap.structure import ASPECTS, aspect_distances, image_structure

__all__ = ["ASPECTS", "GapConfig", "GapReport", "aspect_distances", "gap_figure",
           "image_structure", "measure_gap", "patch_features", "real_null", "write_report"]
