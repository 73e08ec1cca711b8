"""`synthgap lights`: fit a scene's key and ambient light to photos at known poses."""

from __future__ import annotations

import json
from pathlib import Path

import click

from synthgap.cli.options import image_ids as parse_image_ids


@click.command("lights")
@click.argument("scene", type=click.Path(path_type=Path))
@click.option("--bop", type=click.Path(path_type=Path), default=None,
              help="BOP scene folder with the photos and their poses; default: SCENE's own "
                   "real_views (one world frame, +z up).")
@click.option("--image-ids", default=None, metavar="IDS|SPLITS.json",
              help="BOP image ids: '3,61,102' or a splits.json (its 'fit' list). Give fit "
                   "photos only.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="The scene file to write: SCENE with the fitted lights.")
@click.option("--folds", type=click.IntRange(0, 20), default=2, show_default=True,
              help="Held-out check: fit on all folds but one, measure on it (0: skip).")
@click.option("--max-refine", type=click.IntRange(0, 500), default=20, show_default=True,
              help="Light directions rendered after the coarse grid.")
@click.option("--force", is_flag=True, help="Replace OUT when it exists.")
def lights(scene: Path, bop: Path | None, image_ids: str | None, out: Path, folds: int,
           max_refine: int, force: bool) -> None:
    """Fit one directional key light (direction, intensity, colour) and the ambient light to
    photos at known poses by render-and-compare on the parts' pixels; write SCENE with them.

    Prints one JSON line: the fitted values, the held-out loss of SCENE's lights and of the
    fitted ones, and the output file.
    """
    from synthgap.scenes import SceneError
    from synthgap.tune.lights_file import fit_lights_into_scene

    if out.exists() and not force:
        raise click.BadParameter(f"{out} exists; give another path or --force", param_hint="-o")
    if bop is not None and not bop.is_dir():
        raise click.BadParameter(f"{bop}: not a folder; give a BOP scene folder such as "
                                 "lmo/test/000002", param_hint="--bop")
    if image_ids is not None and bop is None:
        raise click.BadParameter("applies to --bop only", param_hint="--image-ids")
    try:
        ids = parse_image_ids(image_ids)
        summary = fit_lights_into_scene(scene, out, bop_dir=bop, image_ids=ids, folds=folds,
                                        max_refine=max_refine)
    except SceneError as exc:
        raise click.BadParameter(str(exc), param_hint="SCENE/--bop") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SCENE/--bop/--folds") from None
    click.echo(json.dumps(summary, default=str))
