"""`synthgap export DIR --format coco|yolo|yolo-seg|folders|webdataset|bop -o OUT`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from synthgap.export.registry import EXPORTERS


def _split(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from synthgap.export.splits import parse_split

    try:
        parse_split(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


#: Options that only some formats read: parameter name -> flag, and the formats.
_FORMAT_FLAGS = {"defects": "--defects/--no-defects", "by": "--by", "crops": "--crops",
                 "crop_margin": "--crop-margin", "shard_size": "--shard-size"}
_FLAG_FORMATS = {"defects": ("coco", "yolo", "yolo-seg", "webdataset"), "by": ("folders",),
                 "crops": ("folders",), "crop_margin": ("folders",),
                 "shard_size": ("webdataset",)}


@click.command("export")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(sorted(EXPORTERS)),
              help="Export format.")
@click.option("-o", "--out", "--output", required=True, type=click.Path(path_type=Path),
              help="Export folder (new, empty, or an earlier export of the same format).")
@click.option("--split", default="0.8,0.1,0.1", show_default=True, callback=_split,
              help="train,val,test fractions (summing to 1).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Split seed.")
@click.option("--defects/--no-defects", default=True, show_default=True,
              help="Export visible defects as objects of category defect/<type>.")
@click.option("--by", type=click.Choice(["ok-ng", "defect", "class"]), default="ok-ng",
              show_default=True, help="folders: what the class folders are.")
@click.option("--crops", is_flag=True, help="folders: one image per part, cropped around it.")
@click.option("--crop-margin", default=0.1, show_default=True, type=float,
              help="folders: margin around a part's box, as a fraction of the box size.")
@click.option("--min-visible-pixels", default=1, show_default=True, type=int,
              help="Leave out parts with fewer visible pixels.")
@click.option("--shard-size", default=1000, show_default=True, type=int,
              help="webdataset: samples per tar shard.")
@click.pass_context
def export(ctx: click.Context, dataset: Path, fmt: str, out: Path, split: str, seed: int,
           defects: bool, by: str, crops: bool, crop_margin: float, min_visible_pixels: int,
           shard_size: int) -> None:
    """Export the dataset directory DATASET (raw or adapted) as a training set.

    An adapted directory (one with adapt.json) exports its adapted images with the original
    labels. Prints a JSON summary (images and objects per split, category ids).
    """
    from synthgap.data.layout import DatasetFileError
    from synthgap.data.paths import FolderBusyError
    from synthgap.export import ExportError, ExportOptions, export_dataset

    for param, flag in _FORMAT_FLAGS.items():  # a flag of another format would do nothing
        given = ctx.get_parameter_source(param) not in (click.core.ParameterSource.DEFAULT,
                                                        None)
        if given and fmt not in _FLAG_FORMATS[param]:
            raise click.UsageError(f"{flag} applies to --format "
                                   f"{' / '.join(_FLAG_FORMATS[param])} only, not {fmt}; "
                                   "remove it")
    try:
        options = ExportOptions(defects=defects, by=by, crops=crops,  # type: ignore[arg-type]
                                crop_margin=crop_margin, min_visible_pixels=min_visible_pixels,
                                shard_size=shard_size)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from tqdm import tqdm

    try:
        with tqdm(desc=f"export ({fmt})", unit="img", file=sys.stderr) as bar:
            summary = export_dataset(dataset, out, format=fmt, split=split, seed=seed,
                                     options=options, progress=bar.update)
    except FolderBusyError as exc:  # a folder that cannot be written now: exit 1
        raise click.ClickException(str(exc)) from None
    except (DatasetFileError, ExportError) as exc:  # bad input: exit 2
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(summary.to_dict(), sort_keys=True))
