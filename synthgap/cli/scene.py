"""`synthgap scene fit TEMPLATE (--bop DIR... | --views FILE) -o fitted.yaml [--no-plates]
[--no-sensor]`: a scene fitted from the photos and their part poses."""

from __future__ import annotations

import json
from pathlib import Path

import click

from synthgap.cli.options import image_ids as parse_image_ids


@click.group("scene")
def scene() -> None:
    """Scene files from photos (`scene fit`)."""



@scene.command("fit")
@click.argument("template", metavar="TEMPLATE")
@click.option("--bop", "bop", multiple=True, type=click.Path(path_type=Path),
              help="BOP scene folder with the photos and their poses (scene_gt.json, "
                   "scene_camera.json); repeat for several.")
@click.option("--image-ids", default=None, metavar="IDS|SPLITS.json",
              help="BOP image ids to use: '3,61,102' or a splits.json (its 'fit' list).")
@click.option("--views", type=click.Path(path_type=Path), default=None,
              help="YAML with real_views (e.g. `synthgap align -o views.yaml`); default: "
                   "TEMPLATE's own real_views when --bop is not given.")
@click.option("-o", "--out", "--output", required=True, type=click.Path(path_type=Path),
              help="The fitted scene file to write.")
@click.option("--plates/--no-plates", default=True, show_default=True,
              help="Background plates with the known parts removed (--no-plates: the raw "
                   "photos as backgrounds).")
@click.option("--plates-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the plates (default: <OUT stem>_plates beside OUT).")
@click.option("--sensor/--no-sensor", default=True, show_default=True,
              help="Fit the sensor: block with the camera model (renders each photo's view; "
                   "seconds); --no-sensor keeps the template's block.")
@click.option("--widen", default=0.1, show_default=True, type=click.FloatRange(0.0, 2.0),
              help="Ranges grow by this fraction of their observed span on each side.")
@click.option("--dilate", default=9, show_default=True, type=click.IntRange(0, 100),
              help="Plate mask dilation, pixels.")
@click.option("--table-fill/--no-table-fill", default=False, show_default=True,
              help="Fill plate pixels that see the table from other photos (feature "
                   "homography of the table) before inpainting; slower.")
@click.option("--ignore-object", "ignore", multiple=True, type=click.IntRange(min=0),
              help="BOP object id to leave out (repeat).")
@click.option("--force", is_flag=True, help="Replace OUT when it exists.")
def fit(template: str, bop: tuple[Path, ...], image_ids: str | None, views: Path | None,
        out: Path, plates: bool, plates_dir: Path | None, sensor: bool, widen: float,
        dilate: int, table_fill: bool, ignore: tuple[int, ...], force: bool) -> None:
    """Fit TEMPLATE's camera pose, resting poses, counts, placement area, overlap and
    background to the photos: writes a commented scene file (`synthgap render OUT`).

    Prints one JSON summary line (plane fit, occlusion, plates, timings).
    """
    from synthgap.scenefit.api import SceneFitConfig, fit_scene
    from synthgap.scenefit.observations import FitInputError
    from synthgap.scenes import SceneError

    if bop and views is not None:
        raise click.UsageError("give either --bop or --views, not both")
    for b in bop:
        if not b.is_dir():
            raise click.BadParameter(f"{b}: not a folder; give a BOP scene folder such as "
                                     "lmo/test/000002", param_hint="--bop")
    if image_ids is not None and not bop:
        raise click.BadParameter("applies to --bop folders only", param_hint="--image-ids")
    ids = parse_image_ids(image_ids)
    cfg = SceneFitConfig(template=template, out=out, bop=bop, image_ids=ids,
                         views=views, plates=plates, plates_dir=plates_dir, sensor=sensor,
                         widen=widen, dilate_px=dilate, table_fill=table_fill,
                         ignore_objects=ignore, force=force,
                         progress=lambda m: click.echo(f"synthgap: scene fit: {m}", err=True))
    try:
        result = fit_scene(cfg)
    except FitInputError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field or "input") from None
    except SceneError as exc:
        raise click.BadParameter(str(exc), param_hint="TEMPLATE/--views/--bop") from None
    except FileExistsError as exc:
        raise click.BadParameter(str(exc), param_hint="-o") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result.summary))
