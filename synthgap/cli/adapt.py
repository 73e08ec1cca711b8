"""`synthgap adapt fit` and `synthgap adapt apply`: learn a camera's look, apply it to renders."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

_METHODS = ("smcae", "conv-smcae", "histogram", "fda", "pda")


@click.group("adapt")
def adapt() -> None:
    """Make renders look like a real camera's photos (labels stay untouched)."""


@adapt.command("fit")
@click.option("--synthetic", type=click.Path(path_type=Path), default=None,
              help="Dataset directory (uses images/) or a folder of renders.")
@click.option("--real", type=click.Path(path_type=Path), default=None,
              help="Folder of real photos (PNG/JPEG/TIFF/BMP/WebP, any size, grey or colour).")
@click.option("--scene", type=click.Path(path_type=Path), default=None,
              help="With --pairing aligned: a scene file whose real_views pin each photo's "
              "camera and part poses; the matching views are rendered and paired pixel for "
              "pixel (replaces --synthetic/--real).")
@click.option("-o", "--output", "--out", type=click.Path(path_type=Path), required=True,
              help="Model file to write (.safetensors; a .json sidecar is written beside it).")
@click.option("--method", type=click.Choice(_METHODS), default="conv-smcae", show_default=True,
              help="smcae: dense SMCAE on patches; conv-smcae: convolutional SMCAE; "
              "histogram, fda, pda: baselines.")
@click.option("--pairing", type=click.Choice(("nearest", "aligned", "class")), default=None,
              help="How render patches are paired with real patches (SMCAE methods; default "
              "nearest). aligned: render i is pixel-aligned with photo i; class: one "
              "sub-folder per class in both folders.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable files instead of failing.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of every random choice.")
@click.option("--max-images", type=int, default=None,
              help="Use at most this many images of each folder (first by name).")
@click.option("--iterations", type=int, default=None,
              help="Training steps (SMCAE methods; default: the method's own).")
def fit(synthetic: Path | None, real: Path | None, scene: Path | None, output: Path, method: str,
        pairing: str | None, skip_bad: bool, seed: int, max_images: int | None,
        iterations: int | None) -> None:
    """Fit an adapter from renders and real photos; prints a JSON summary."""
    from synthgap.adapt.apply import fit_from_folders
    from synthgap.adapt.photos import PhotoError
    from synthgap.data.layout import DatasetFileError
    from synthgap.scenes import SceneError

    options = {}
    if iterations is not None:
        if method not in ("smcae", "conv-smcae"):
            raise click.BadParameter(f"only the SMCAE methods train iteratively, not {method!r}",
                                     param_hint="--iterations")
        options["iterations"] = iterations
    if scene is None and (synthetic is None or real is None):
        raise click.UsageError("give --synthetic and --real (or --scene with --pairing aligned)")
    if max_images is not None and max_images < 1:
        raise click.BadParameter(f"expected >= 1, got {max_images}", param_hint="--max-images")
    _check_model_output(output)
    try:
        summary = fit_from_folders(method, synthetic, real, output, pairing=pairing,
                                   skip_bad=skip_bad, seed=seed, max_images=max_images,
                                   options=options, scene=scene)
    except PhotoError as exc:
        raise click.BadParameter(str(exc)) from exc
    except (ValueError, SceneError, DatasetFileError) as exc:
        raise click.UsageError(str(exc)) from exc
    for line in summary.skipped:
        click.echo(f"skipped {line}", err=True)
    click.echo(json.dumps(asdict(summary)))


def _check_model_output(output: Path) -> None:
    """Refuse a model path that cannot be written before spending minutes on the fit."""
    hint = "-o"
    if output.suffix != ".safetensors":
        raise click.BadParameter(f"the model file must end in .safetensors (its configuration is "
                                 f"written beside it as .json), got {output}", param_hint=hint)
    if output.is_dir():
        raise click.BadParameter(f"{output} is a folder; give a file name like "
                                 f"{output / 'model.safetensors'}", param_hint=hint)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot create the folder {output.parent}: {exc.strerror}",
                                 param_hint=hint) from exc


@adapt.command("apply")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("src", metavar="IN", type=click.Path(path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar on stderr.")
def apply(model: Path, src: Path, dst: Path, progress: bool) -> None:
    """Adapt every image of dataset directory IN into OUT (same records, masks, depth).

    Resumable: re-running finishes an interrupted job and skips finished images.
    """
    from synthgap.adapt.apply import AdaptedDatasetError, apply_adapter
    from synthgap.adapt.image_base import load_image_adapter
    from synthgap.adapt.modelfile import ModelFileError
    from synthgap.data.layout import DatasetFileError

    try:
        adapter = load_image_adapter(model)
    except ModelFileError as exc:
        raise click.BadParameter(str(exc), param_hint="MODEL") from exc
    try:
        summary = apply_adapter(adapter, src, dst, model_path=model, progress=progress)
    except (AdaptedDatasetError, DatasetFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(asdict(summary)))
