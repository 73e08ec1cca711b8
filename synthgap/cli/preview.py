"""`synthgap preview DIR -o sheet.png [--n 16] [--seed 0] [--compare ADAPTED [--real PHOTOS]]`."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("preview")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("-o", "--out", "--output", required=True, type=click.Path(path_type=Path),
              help="The sheet to write (.png).")
@click.option("--n", "n", type=click.IntRange(1, 256), default=None,
              help="Images on the sheet (default 16; rows with --compare, default 4).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Which images are shown.")
@click.option("--tile-width", default=320, show_default=True, type=click.IntRange(32, 4096),
              help="Width of each tile in pixels (32..4096).")
@click.option("--compare", "adapted", type=click.Path(path_type=Path), default=None,
              help="An adapted directory made from DATASET: show render | adapted side by side.")
@click.option("--real", type=click.Path(path_type=Path), default=None,
              help="With --compare: a folder of real photos for a third column.")
def preview(dataset: Path, out: Path, n: int | None, seed: int, tile_width: int,
            adapted: Path | None, real: Path | None) -> None:
    """Draw a contact sheet of DATASET with masks, boxes, class names and defects.

    DATASET is a raw or adapted dataset directory, or a coco / yolo / yolo-seg / webdataset
    export. Prints a JSON line with the sheet's path and size.
    """
    from synthgap.data.layout import DatasetFileError
    from synthgap.export.base import ExportError
    from synthgap.export.preview import compare_sheet, contact_sheet, write_png

    if real is not None and adapted is None:
        raise click.UsageError("--real needs --compare ADAPTED_DIR (the photos form the third "
                               "column of the comparison)")
    try:
        if adapted is not None:
            sheet = compare_sheet(dataset, adapted, real, n=n or 4, seed=seed,
                                  tile_width=tile_width)
        else:
            sheet = contact_sheet(dataset, n=n or 16, seed=seed, tile_width=tile_width)
        path = write_png(out, sheet)
    except (DatasetFileError, ExportError) as exc:  # bad input: exit 2 (docs/safety.md)
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps({"sheet": str(path), "width": int(sheet.shape[1]),
                           "height": int(sheet.shape[0])}))
