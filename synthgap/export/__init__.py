"""Export a raw or adapted dataset directory as COCO, YOLO, BOP, class folders or WebDataset shards.

    >>> from synthgap.export import export_dataset
    >>> export_dataset("out/", "coco_out/", format="coco", split="0.8,0.1,0.1", seed=0)

Every format is an `Exporter` in the plain dict `EXPORTERS` (name -> write/read functions).
Splits are assigned per image from (seed, index); see `synthgap.export.splits`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthgap.data.paths import resolve_folder
from synthgap.export.base import (
    ExportedSample,
    Exporter,
    ExportError,
    ExportOptions,
    ExportSummary,
    write_manifest,
)
from synthgap.export.registry import EXPORTERS
from synthgap.export.source import DatasetSource, open_dataset
from synthgap.export.splits import SplitMap, SplitRatios, assign_splits, parse_split
from synthgap.export.swap import swap_export


def export_dataset(src: Path | str | DatasetSource, out: Path | str, *, format: str,
                   split: str | SplitRatios = "0.8,0.1,0.1", seed: int = 0,
                   options: ExportOptions | None = None,
                   progress: Callable[[int], None] | None = None) -> ExportSummary:
    """Export the dataset directory `src` into the folder `out` in `format`.

    Args:
        src: a raw or adapted dataset directory (or an already opened `DatasetSource`). For an
            adapted directory the adapted images are exported with the original labels.
        out: export folder; must be empty, new, or an earlier export of the same format (which
            is replaced, keeping its category ids).
        format: a key of `EXPORTERS` (`coco`, `yolo`, `yolo-seg`, `folders`, `webdataset`,
            `bop`).
        split: train,val,test ratios (`"0.8,0.1,0.1"`) or a `SplitRatios`.
        seed: split seed; image i's split depends only on (seed, i, ratios).
        options: format options (`ExportOptions()` by default).
        progress: called with 1 after each exported image (e.g. `tqdm(...).update`).

    Returns:
        What was written; also saved as `out/export.json`.

    Raises:
        ExportError: unknown format, or `out` holds something else.
        ValueError: a bad split string.
        DatasetFileError: `src` is not a dataset directory.
    """
    if format not in EXPORTERS:
        raise ExportError(f"format: unknown export format {format!r}; choose one of "
                          f"{', '.join(sorted(EXPORTERS))}")
    ratios = split if isinstance(split, SplitRatios) else parse_split(split)
    source = src if isinstance(src, DatasetSource) else open_dataset(src)
    out = Path(out)
    real_out = resolve_folder(out, what="export folder")
    root = resolve_folder(source.root, what="dataset directory")
    if real_out == root or root in real_out.parents:
        raise ExportError(f"{out}: the export folder must lie outside the dataset directory "
                          f"{source.root}")
    if progress is not None:
        source = replace(source, progress=progress)
    # computed per image when asked for: no mapping of every index held
    splits = SplitMap(np.fromiter(source.indices, dtype=np.int64), ratios, seed=seed)
    summaries: list[ExportSummary] = []

    def write(tmp: Path) -> None:
        summaries.append(EXPORTERS[format].write(
            source, tmp, splits=splits, ratios=ratios, seed=int(seed),
            options=options or ExportOptions()))
        summaries[0] = replace(summaries[0], out=str(out))

    # written next to `out` and swapped in when complete: a failure keeps the earlier export
    swap_export(out, format, write,
                lambda tmp, files: write_manifest(tmp, summaries[0], source, files))
    return summaries[0]


__all__ = [
    "EXPORTERS",
    "DatasetSource",
    "ExportError",
    "ExportOptions",
    "ExportSummary",
    "ExportedSample",
    "Exporter",
    "SplitRatios",
    "assign_splits",
    "export_dataset",
    "open_dataset",
    "parse_split",
]
