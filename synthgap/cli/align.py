"""`synthgap align SCENE PHOTO... --part NAME [--hint-box x,y,w,h | --hint-pose FILE]
[--depth NEAR,FAR] -o views.yaml [--preview DIR] [--seed 0] [--plane auto|off] [--no-colours]`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click


def _numbers(value: str, n: int, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value.split(","))
    except ValueError:
        out = ()
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise click.BadParameter(f"expected {n} comma-separated numbers (finite), got "
                                 f"{value[:60]!r}", param_hint=name)
    return out


def _read_hints(path: Path) -> list[Any]:
    """`poses.views.read_pose_hints`, its one-line error as a bad `--hint-pose`."""
    from synthgap.poses.views import read_pose_hints

    try:
        return read_pose_hints(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--hint-pose") from None


def _check_box(box: tuple[float, ...], photos: tuple[Path, ...]) -> None:
    """A hint box must be finite and overlap every photo (sizes read from the headers)."""
    from PIL import Image

    x, y, w, h = box
    sizes = []
    for p in photos:
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
        except Exception:
            continue
    big_w = max((s[0] for s in sizes), default=8192)
    big_h = max((s[1] for s in sizes), default=8192)
    if not all(abs(v) < 1e9 for v in box) or not (
            2 <= w <= big_w and 2 <= h <= big_h and -w < x < big_w and -h < y < big_h):
        raise click.BadParameter(f"{','.join(f'{v:g}' for v in box)} is not a box inside a "
                                 f"{big_w}x{big_h} photo; give x,y,w,h in pixels (w, h >= 2)",
                                 param_hint="--hint-box")


@click.command("align")
@click.argument("scene", metavar="SCENE")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--part", "parts", multiple=True, required=True,
              help="Part to align (a name of the scene's part library); repeat for several.")
@click.option("--hint-box", "boxes", multiple=True, metavar="X,Y,W,H",
              help="Visible box of the part in the photo, pixels; one per photo and part, "
                   "photo by photo, parts in --part order.")
@click.option("--hint-pose", type=click.Path(path_type=Path), default=None,
              help="YAML with approximate real_views (e.g. a previous align output); photos "
                   "matched by file name.")
@click.option("--depth", default=None, metavar="NEAR,FAR",
              help="No hint: distance range (m) from the camera to the part for a sliding "
                   "search over the whole photo (tens of seconds per part).")
@click.option("-o", "--out", "--output", required=True, type=click.Path(path_type=Path),
              help="Write the real_views YAML here.")
@click.option("--preview", type=click.Path(path_type=Path), default=None,
              help="Folder for one overlay PNG per photo (estimated contours over the photo).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the pose-hint search.")
@click.option("--views", default=300, show_default=True, type=click.IntRange(1, 5000),
              help="Viewpoints of the coarse search (box hint, no hint).")
@click.option("--refine-evals", default=150, show_default=True, type=click.IntRange(0, 5000),
              help="Renders per local refinement.")
@click.option("--plane", "plane_mode", type=click.Choice(["auto", "off"]), default="auto",
              show_default=True,
              help="auto: estimate each photo's support plane from all its parts' poses and "
                   "re-search every part resting on it (kept free when that fits clearly "
                   "worse); needs 3+ parts per photo agreeing on a plane, else no change. "
                   "off: each part on its own (docs/align.md).")
@click.option("--colours/--no-colours", default=True, show_default=True,
              help="Use the mesh file's own colours (vertex colours or texture), when it has "
                   "them, for the region and appearance terms; --no-colours: edges and "
                   "GrabCut only.")
def align(scene: str, photos: tuple[Path, ...], parts: tuple[str, ...], boxes: tuple[str, ...],
          hint_pose: Path | None, depth: str | None, out: Path, preview: Path | None,
          seed: int, views: int, refine_evals: int, plane_mode: str, colours: bool) -> None:
    """Estimate the pose of each --part in each PHOTO and write SCENE's real_views.

    Renders of the part are matched to the photo's edges and colours (coarse search over
    views, then local refinement); the YAML can be pasted into SCENE so `adapt` pairs each
    photo with the render of the same view. Check the --preview overlays. Prints one JSON line
    per (photo, part) and a summary line.
    """
    from synthgap.data.layout import DatasetFileError
    from synthgap.poses.aligner import AlignConfig
    from synthgap.poses.plane import PlaneConfig
    from synthgap.poses.views import align_views, views_yaml
    from synthgap.scenes import SceneError, load_scene

    if boxes and hint_pose is not None:
        raise click.UsageError("give either --hint-box or --hint-pose, not both")
    box_list = [_numbers(b, 4, "--hint-box") for b in boxes] if boxes else None
    for b in box_list or []:
        _check_box(b, photos)
    depth_range = _numbers(depth, 2, "--depth") if depth is not None else None
    if depth_range is not None and not 0 < depth_range[0] <= depth_range[1] <= 1e3:
        raise click.BadParameter(f"expected 0 < NEAR <= FAR <= 1000 metres, got {depth}",
                                 param_hint="--depth")
    for p in photos:
        if not p.is_file():
            raise click.BadParameter(f"{p}: no such photo file", param_hint="PHOTO")
    try:
        loaded = load_scene(scene)
        hints = _read_hints(hint_pose) if hint_pose is not None else None
        config = AlignConfig(views=views, refine_evals=refine_evals, mesh_colours=colours,
                             w_appearance=AlignConfig.w_appearance if colours else 0.0)
        base = Path(scene).resolve().parent if not scene.startswith("preset:") else None
        result, aligned = align_views(
            loaded, list(photos), list(parts), boxes=box_list, pose_hints=hints,
            depth=depth_range, config=config, seed=seed, preview_dir=preview,
            base_dir=base, plane=PlaneConfig() if plane_mode == "auto" else None)
    except (SceneError, DatasetFileError, ValueError) as exc:  # bad input: exit 2
        raise click.UsageError(str(exc).replace("\n", "; ")) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(views_yaml(result))
    for a in aligned:
        r = a.result
        click.echo(json.dumps({"photo": str(a.photo), "part": a.part, "cost": round(r.cost, 4),
                               "edge": round(r.edge, 4), "region_iou": round(r.region_iou, 4),
                               "renders": r.renders, "seconds": round(r.seconds, 2),
                               **({"on_plane": a.snapped} if a.free_pose is not None else {})
                               }))
    click.echo(json.dumps({"output": str(out), "photos": len(photos), "parts": len(parts),
                           "preview": str(preview) if preview is not None else None}))
