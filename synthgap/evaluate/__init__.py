"""Does synthetic data pay on real photos? The real-photo evaluation as a library.

Labelled real photos in (`read_real`: BOP, COCO, YOLO, class folders), synthetic datasets in
(`synthgap render` / `synthgap adapt apply` folders); out: per synthetic set, recognition
accuracy of a small CNN trained on the renders alone and on renders + a few real photos,
against real photos alone, cross-validated over the photos, with seeds and paired-bootstrap
intervals (`evaluate`, `dataset_row`). See docs/evaluate.md.
"""

from synthgap.evaluate.crops import (
           CropSet,
           RenderLabels,
           derive,
           read_render_labels,
           real_crops,
           square_crop,
)
from synthgap.evaluate.folds import Fold, photo_folds
from synthgap.evaluate.labels import read_real
from synthgap.evaluate.protocol import (
           EvalConfig,
           RowCounts,
           TrainingSet,
           run_recognition,
           summarise,
)
from synthgap.evaluate.real import LabelError, RealData, RealInstance, RealPhoto
from synthgap.evaluate.stats import paired_bootstrap, seed_summary, spearman_rows

__all__ = ["CropSet", "EvalConfig", "Fold", "LabelError", "RealData", "RealInstance",
           "RealPhoto", "RenderLabels", "RowCounts", "TrainingSet", "derive", "paired_bootstrap",
           "photo_folds", "read_real", "read_render_labels", "real_crops", "run_recognition",
           "seed_summary", "spearman_rows", "square_crop", "summarise"]
