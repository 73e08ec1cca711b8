"""`synthgap adapt fit` and `synthgap adapt apply`: learn a camera's look, apply it to renders."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

_PAIRINGS = ("nearest", "aligned", "region", "class")


def _method(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The method (or chain) with old names replaced, saying so on stderr."""
    import warnings

    from synthgap.adapt.image_base import CHAIN_SEPARATOR, chain_methods

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            names = chain_methods(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("method: ")) from exc
    for w in caught:
        click.echo(f"synthgap adapt fit: --method: {w.message}", err=True)
    return CHAIN_SEPARATOR.join(names)


def _settings(ctx: click.Context, param: click.Parameter,
              values: tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` (value read as YAML, as scene and job files are: numbers such as
    `1e-3`, true/false, [lists]) -> dict."""
    from synthgap.scenes.yamlio import YamlProblem, load_yaml_text

    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item[:60]!r}")
        try:
            value = load_yaml_text(raw)
        except YamlProblem as exc:
            raise click.BadParameter(f"{key}: cannot read {raw[:60]!r} ({exc})") from None
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    return out


@click.group("adapt")
def adapt() -> None:
    """Make renders look like a real camera's photos (labels stay untouched)."""


@adapt.command("fit")
@click.option("--synthetic", type=click.Path(path_type=Path), default=None,
              help="Dataset directory (uses images/, and masks/ with --real-masks) or a folder "
              "of renders.")
@click.option("--real", type=click.Path(path_type=Path), default=None,
              help="Folder of real photos (PNG/JPEG/TIFF/BMP/WebP, any size, grey or colour).")
@click.option("--real-masks", type=click.Path(path_type=Path), default=None,
              help="With --pairing region: folder of label PNGs named like the photos "
              "(0 = background, > 0 = part).")
@click.option("--scene", type=click.Path(path_type=Path), default=None,
              help="A scene file whose real_views pin each photo's camera and part poses: the "
              "matching views are rendered and paired pixel for pixel, with their masks "
              "(replaces --synthetic/--real; default pairing aligned).")
@click.option("--bop", type=click.Path(path_type=Path), default=None,
              help="A BOP scene folder (e.g. lmo/test/000002): its photos' views are rendered "
              "from the ground-truth poses and paired pixel for pixel (with --bop-ids).")
@click.option("--bop-ids", default=None,
              help="With --bop: image ids, '3,61,102' or 'splits.json:fit'.")
@click.option("-o", "--output", "--out", type=click.Path(path_type=Path), required=True,
              help="Model file to write (.safetensors; a .json sidecar is written beside it).")
@click.option("--method", default="pda", show_default=True, callback=_method,
              help="patch-smcae (the paper's dense SMCAE on patches; old name smcae), "
              "conv-smcae (convolutional SMCAE), camera "
              "(camera-model fit), histogram, fda, pda; join with + for a chain fitted and "
              "applied in order, e.g. camera+conv-smcae.")
@click.option("--pairing", type=click.Choice(_PAIRINGS), default=None,
              help="How render patches are paired with real patches (SMCAE methods; default "
              "nearest, or aligned with --scene/--bop). aligned: render i is pixel-aligned "
              "with photo i; region: part with part, background with background "
              "(--real-masks); class: one sub-folder per class in both folders.")
@click.option("--set", "settings", multiple=True, callback=_settings, metavar="KEY=VALUE",
              help="A method option (repeatable), e.g. --set residual=false --set gamma=2; "
              "see docs/adaptation.md for the list.")
@click.option("--sensor-yaml", type=click.Path(path_type=Path), default=None,
              help="Camera fits: also write the fitted values as a scene `sensor:` block here.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable files instead of failing.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of every random choice.")
@click.option("--max-images", type=int, default=None,
              help="Use at most this many images of each folder (first by name).")
@click.option("--iterations", type=int, default=None,
              help="Training steps (SMCAE methods; default: the method's own).")
def fit(synthetic: Path | None, real: Path | None, real_masks: Path | None, scene: Path | None,
        bop: Path | None, bop_ids: str | None, output: Path, method: str, pairing: str | None,
        settings: dict[str, Any], sensor_yaml: Path | None, skip_bad: bool, seed: int,
        max_images: int | None, iterations: int | None) -> None:
    """Fit an adapter from renders and real photos; prints a JSON summary."""
    from synthgap.adapt.fitting import fit_adapter
    from synthgap.adapt.image_base import SMCAE_METHODS, chain_methods
    from synthgap.adapt.photos import PhotoError
    from synthgap.data.layout import DatasetFileError
    from synthgap.scenes import SceneError

    options = dict(settings)
    smcae = [n for n in chain_methods(method) if n in SMCAE_METHODS]
    if iterations is not None:
        if not smcae:
            raise click.BadParameter(f"only the SMCAE methods train iteratively, not {method!r}",
                                     param_hint="--iterations")
        options["iterations"] = iterations
    pairing = _check_fit_sources(synthetic, real, real_masks, scene, bop, bop_ids, method,
                                 pairing, smcae=bool(smcae), skip_bad=skip_bad,
                                 max_images=max_images)
    _check_model_output(output)
    try:
        data = _fit_data(synthetic, real, real_masks, scene, bop, bop_ids, pairing, seed=seed,
                         skip_bad=skip_bad, max_images=max_images)
        if len(data.real) < FEW_PHOTOS:
            click.echo(f"warning: only {len(data.real)} real photo(s) to learn the camera's "
                       f"look from; {FEW_PHOTOS}-50 are recommended (fitting anyway)",
                       err=True)
        summary = fit_adapter(method, data, output, pairing=pairing, seed=seed,
                              options=options, sensor_yaml=sensor_yaml)
    except PhotoError as exc:
        raise click.BadParameter(str(exc)) from exc
    except (ValueError, SceneError, DatasetFileError) as exc:
        raise click.UsageError(str(exc)) from exc
    for line in summary.skipped:
        click.echo(f"skipped {line}", err=True)
    click.echo(json.dumps(asdict(summary), default=str))


#: `adapt fit` warns (and still runs) below this many real photos; README asks for 5-50
FEW_PHOTOS = 5

if TYPE_CHECKING:
    from synthgap.adapt.fitting import FitData


def _check_fit_sources(synthetic: Path | None, real: Path | None, real_masks: Path | None,
                       scene: Path | None, bop: Path | None, bop_ids: str | None, method: str,
                       pairing: str | None, *, smcae: bool, skip_bad: bool,
                       max_images: int | None) -> str | None:
    """Check that `adapt fit` got one source of views (folders, a scene or a BOP scene) and
    options that apply to it (`smcae`: the method has an SMCAE step); returns the pairing to
    use (filled in where implied)."""
    from synthgap.adapt.image_base import chain_methods

    given = [n for n, v in (("--scene", scene), ("--bop", bop)) if v is not None]
    if len(given) > 1:
        raise click.UsageError("give one of --scene and --bop")
    if given and (synthetic is not None or real is not None):
        raise click.UsageError(f"{given[0]} renders the views itself: drop --synthetic/--real")
    if not given and (synthetic is None or real is None):
        raise click.UsageError("give --synthetic and --real (or --scene, or --bop with "
                               "--bop-ids)")
    for flag, value in (("--max-images", max_images), ("--skip-bad", skip_bad or None),
                        ("--real-masks", real_masks)):
        if given and value is not None:  # the views come from the scene/BOP, not folders
            raise click.UsageError(f"{flag} applies to --synthetic/--real folders, not "
                                   f"{given[0]}; remove it")
    if real_masks is not None and pairing is None:
        if smcae:
            pairing = "region"  # the label maps are what region pairing reads
        elif "camera" not in chain_methods(method):
            raise click.BadParameter(f"{method!r} does not use label maps (region pairing of "
                                     "the SMCAE methods and camera fits do)",
                                     param_hint="--real-masks")
    if bop is not None and not bop_ids:
        raise click.UsageError("--bop needs --bop-ids (e.g. --bop-ids splits.json:fit)")
    if real_masks is not None and pairing not in ("region", None):
        raise click.BadParameter("label maps of the photos are for region pairing",
                                 param_hint="--real-masks")
    if pairing == "region" and not given and real_masks is None:
        raise click.UsageError("--pairing region needs --real-masks (label maps of the photos) "
                               "and a dataset directory as --synthetic (its masks/)")
    if given and smcae and pairing is None:
        pairing = "aligned"
    if max_images is not None and max_images < 1:
        raise click.BadParameter(f"expected >= 1, got {max_images}", param_hint="--max-images")
    return pairing


def _fit_data(synthetic: Path | None, real: Path | None, real_masks: Path | None,
              scene: Path | None, bop: Path | None, bop_ids: str | None, pairing: str | None,
              *, seed: int, skip_bad: bool, max_images: int | None) -> FitData:
    """Load the views `adapt fit` learns from (sources checked by `_check_fit_sources`)."""
    from synthgap.adapt.fitting import (
        bop_fit_data,
        class_folder_fit_data,
        folder_fit_data,
        parse_ids,
        scene_fit_data,
    )

    if scene is not None:
        from synthgap.scenes import load_scene

        return scene_fit_data(load_scene(scene), seed=seed)
    if bop is not None:
        assert bop_ids is not None  # checked by _check_fit_sources
        return bop_fit_data(bop, parse_ids(bop_ids), seed=seed)
    assert synthetic is not None and real is not None  # checked by _check_fit_sources
    if pairing == "class":
        return class_folder_fit_data(synthetic, real, skip_bad=skip_bad, max_images=max_images)
    return folder_fit_data(synthetic, real, skip_bad=skip_bad, max_images=max_images,
                           real_masks=real_masks)


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
    from synthgap.data.paths import FolderBusyError

    try:
        adapter = load_image_adapter(model)
    except ModelFileError as exc:
        raise click.BadParameter(str(exc), param_hint="MODEL") from exc
    try:
        summary = apply_adapter(adapter, src, dst, model_path=model, progress=progress)
    except FolderBusyError as exc:  # a folder that cannot be written now: exit 1
        raise click.ClickException(str(exc)) from None
    except (AdaptedDatasetError, DatasetFileError) as exc:  # bad input: exit 2
        raise click.UsageError(str(exc)) from None
    if summary.unchanged:
        click.echo(f"synthgap: {model.name} applies strength 0 (its fit found that changing the "
                   "renders did not bring them closer to the photos): OUT holds unchanged "
                   "copies of IN's images; use IN directly, or refit with another method",
                   err=True)
    click.echo(json.dumps(asdict(summary)))
