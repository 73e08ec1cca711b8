"""`synthgap evaluate`: does synthetic data pay on my labelled photos? (a return table)"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _sets(values: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for v in values:
        name, sep, path = v.partition("=")
        p = Path(path if sep else v).expanduser()
        name = name if sep else p.name
        if not (p / "records.jsonl").is_file():
            raise click.BadParameter(f"{p}: no records.jsonl; give a `synthgap render` or "
                                     "`synthgap adapt apply` output folder (NAME=DIR or DIR)",
                                     param_hint="--synthetic")
        if name in out or name.startswith("real-only"):
            raise click.BadParameter(f"set name {name!r} given twice or reserved; name sets "
                                     "as NAME=DIR", param_hint="--synthetic")
        out[name] = p
    return out


def _curve(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected photo counts such as 5,10,20",
                                 param_hint="--curve") from None
    if not values or min(values) < 1:
        raise click.BadParameter("photo counts must be >= 1", param_hint="--curve")
    return values


def _bars(enabled: bool) -> Callable[[str, int], Callable[[int], None]] | None:
    if not enabled:
        return None
    from tqdm import tqdm

    def make(desc: str, total: int) -> Callable[[int], None]:
        bar = tqdm(total=total or None, desc=desc, file=sys.stderr, dynamic_ncols=True,
                   leave=False)

        def update(n: int) -> None:
            bar.update(n)
            if total and bar.n >= total:
                bar.close()
        return update
    return make


@click.command("evaluate")
@click.option("--real", "real_path", type=click.Path(path_type=Path), required=True,
              help="Labelled real photos: a BOP data set or scene folder, a COCO .json, a YOLO "
              "folder (images/, labels/, data.yaml) or a folder of class folders of crops.")
@click.option("--format", "fmt", type=click.Choice(["auto", "bop", "coco", "yolo", "folders"]),
              default="auto", show_default=True, help="Layout of --real.")
@click.option("--names", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="BOP: JSON/YAML {obj_id: class name} (default: models_info.json names, "
              "else obj_000001...). Must match the synthetic sets' class names.")
@click.option("--mesh-units", type=click.Choice(["mm", "cm", "m", "in"]), default="mm",
              show_default=True, help="BOP: units of the model files.")
@click.option("--synthetic", "synthetic", multiple=True, required=True,
              help="A synthetic dataset folder (`synthgap render` / `adapt apply` output), as "
              "DIR or NAME=DIR; repeat for several sets (the first is the baseline).")
@click.option("-o", "--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for report.md, report.json and report.png.")
@click.option("--seeds", type=click.IntRange(2, 50), default=None,
              help="Training seeds [default: 5; --quick 3].")
@click.option("--steps", type=click.IntRange(1, 100_000), default=None,
              help="Training steps per model [default: 200; --quick 60].")
@click.option("--folds", type=click.IntRange(2, 50), default=None,
              help="Leave-photos-out folds [default: 5; --quick 3].")
@click.option("--curve", default="5,10,20", show_default=True,
              help="Numbers of real photos to train on (comma-separated).")
@click.option("--crop", type=click.IntRange(16, 256), default=None,
              help="Crop side in pixels [default: 64; --quick 48].")
@click.option("--recipe", type=click.Choice(["finetune", "batch"]), default="finetune",
              show_default=True, help="Renders + photos: pre-train on renders then fine-tune "
              "on the photos, or half of every batch from each.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Training processes (one thread each).")
@click.option("--quick", is_flag=True, help="A fast look (fewer seeds, steps and folds, "
              "smaller crops); numbers are noisier.")
@click.option("--no-progress", is_flag=True, help="No progress bars on stderr.")
def evaluate(real_path: Path, fmt: str, names: Path | None, mesh_units: str,
             synthetic: tuple[str, ...], out: Path, seeds: int | None, steps: int | None,
             folds: int | None, curve: str, crop: int | None, recipe: str, jobs: int,
             quick: bool, no_progress: bool) -> None:
    """Measure what synthetic sets add to a few labelled real photos.

    Cross-validates over the real photos: a small CNN recognises object crops when trained on
    the photos alone, on each synthetic set alone, and pre-trained on the set then fine-tuned
    on n photos, for each n of --curve. Writes report.md / report.json / report.png and prints
    one JSON line (the report's path and headline numbers). Exit 2: bad input; exit 1: a set
    failed (the report still lists the others).
    """
    import torch

    from synthgap.evaluate.labels import read_real
    from synthgap.evaluate.protocol import EvalConfig
    from synthgap.evaluate.real import LabelError
    from synthgap.evaluate.report import write_report
    from synthgap.evaluate.run import Evaluator

    torch.set_num_threads(1)
    sets = _sets(synthetic)
    counts = _curve(curve)
    cfg = EvalConfig(crop=crop or (48 if quick else 64), seeds=seeds or (3 if quick else 5),
                     steps=steps or (60 if quick else 200), recipe=recipe, jobs=jobs,
                     n_boot=1000 if quick else 2000)
    bars = _bars(not no_progress)
    try:
        # BOP: small class maps from the poses, for the contamination of render backgrounds
        real = read_real(real_path, fmt=fmt, names_file=names, mesh_units=mesh_units,
                         seg_size=(160, 120)) if fmt in ("auto", "bop") else read_real(
                             real_path, fmt=fmt)
        ev = Evaluator(real, cfg, folds=folds or (3 if quick else 5), curve=counts, bars=bars)
    except LabelError as exc:
        raise click.BadParameter(str(exc), param_hint="--real") from None
    for name, path in sets.items():
        try:
            ev.add_dataset(name, path)
        except LabelError as exc:
            raise click.BadParameter(str(exc), param_hint="--synthetic") from None
        except (RuntimeError, ValueError) as exc:  # a set that cannot be trained on
            ev.failed[name] = f"{type(exc).__name__}: {exc}"
            click.echo(f"{name}: FAILED: {ev.failed[name]}", err=True)
    result = ev.result()
    try:
        paths = write_report(result, out)
    except ValueError as exc:
        raise click.ClickException(f"no report written: {exc}") from None
    summary: dict[str, Any] = {"report": str(paths[1]), "curve": result.curve,
                               "real_only": {n: result.rows[f"real-only@{n}"]["mean"]
                                             for n in result.curve},
                               "sets": {k: {"alone": result.rows[k]["mean"], **{
                                   f"+{n}": result.rows[f"{k}+real@{n}"]["mean"]
                                   for n in result.curve}} for k in result.sets},
                               "failed": result.failed}
    click.echo(json.dumps(summary, allow_nan=False))
    if result.failed:
        raise SystemExit(1)
