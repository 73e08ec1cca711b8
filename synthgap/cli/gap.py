"""`synthgap gap`: measure the synthetic gap between renders (raw or adapted) and real photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from synthgap.adapt.photos import PhotoSet
    from synthgap.gap.metric import GapReport


def _load(path: Path, skip_bad: bool, limit: int | None, what: str) -> PhotoSet:
    from synthgap.adapt.photos import PhotoError, load_photos

    try:
        photos = load_photos(path, skip_bad=skip_bad, limit=limit)
    except PhotoError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from exc
    for bad, why in photos.skipped:
        click.echo(f"skipped {bad}: {why}", err=True)
    return photos


@click.command("gap")
@click.option("--synthetic", "synthetic", type=click.Path(path_type=Path), multiple=True,
              required=True, help="Dataset directory (uses images/) or image folder. Repeat it "
              "to compare several sets, e.g. raw renders and adapted renders.")
@click.option("--real", type=click.Path(path_type=Path), required=True,
              help="Folder of real photos (or a dataset directory).")
@click.option("-o", "--output", "--out", type=click.Path(path_type=Path), default=None,
              help="Write the full report (metrics and curves) as JSON here.")
@click.option("--figure", type=click.Path(path_type=Path), default=None,
              help="Write a PNG figure (distributions, metrics table, examples) here.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of patch positions, folds and permutations.")
@click.option("--patch-size", type=click.IntRange(16, 512), default=64, show_default=True,
              help="Side of the square patches the features are computed on, pixels (16..512; "
              "images smaller than a patch are scaled up to it).")
@click.option("--max-images", type=click.IntRange(1, 100_000), default=300, show_default=True,
              help="Use at most this many images per set (a random subset).")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable image files instead of failing.")
@click.option("--null/--no-null", "null", default=True, show_default=True,
              help="Also measure the real-vs-real null: two disjoint halves of the real photos "
              "(needs >= 4). The synthetic gap is the distance above it.")
def gap(synthetic: tuple[Path, ...], real: Path, output: Path | None, figure: Path | None,
        seed: int, patch_size: int, max_images: int, skip_bad: bool, null: bool) -> None:
    """Measure how far renders are from real photos.

    Prints one JSON line per run on stdout: for every --synthetic set, the domain-classifier
    accuracy (0.5 = indistinguishable, 1.0 = trivially told apart), MMD², the per-channel
    intensity histogram distance and the radial power-spectrum distance; and `real_null`, the
    domain accuracy between two halves of the real photos (the floor a perfect adapter reaches).
    """
    from synthgap.gap.metric import GapConfig, measure_gap, real_null, write_report

    try:
        config = GapConfig(patch_size=patch_size, max_images=max_images)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    real_photos = _load(real, skip_bad, None, "--real")
    names = _unique_names(synthetic)
    reports: dict[str, GapReport] = {}
    examples: dict[str, Sequence[np.ndarray]] = {}
    for name, path in zip(names, synthetic, strict=True):
        photos = _load(path, skip_bad, None, "--synthetic")
        click.echo(f"measuring {path} ({len(photos)} images) vs {real} ({len(real_photos)})",
                   err=True)
        try:
            reports[name] = measure_gap(photos.images, real_photos.images,
                                        rng=np.random.default_rng(seed), config=config)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        examples[name] = photos.images[:3]
    if output is not None:
        write_report(output, reports, real=str(real), extra={"seed": seed})
    if figure is not None:
        from synthgap.gap.figure import gap_figure

        gap_figure(figure, reports, examples=examples, real_examples=real_photos.images[:3])
    summary = {"real": str(real), "seed": seed,
               "synthetic": {k: _short(v.summary()) for k, v in reports.items()}}
    if null and len(real_photos.images) >= 4:
        summary["real_null"] = round(real_null(real_photos.images, rng=np.random.default_rng(seed),
                                               config=config).domain_accuracy, 4)
    elif null:
        summary["real_null"] = None
        click.echo(f"real-vs-real null not measured: {len(real_photos.images)} real photos, it "
                   "needs at least 4", err=True)
    if output is not None:
        summary["report"] = str(output)
    if figure is not None:
        summary["figure"] = str(figure)
    click.echo(json.dumps(summary))


def _short(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("domain_accuracy", "domain_accuracy_std", "domain_accuracy_look", "mmd2",
            "mmd2_p_value", "histogram_distance", "spectrum_distance", "n_synthetic", "n_real")
    return {k: d[k] for k in keys}


def _unique_names(paths: tuple[Path, ...]) -> list[str]:
    """Short, unique labels for the sets: the folder name, or more of the path when needed."""
    names = []
    for p in paths:
        p = Path(p)
        base = p.parent.name if p.name == "images" else p.name
        name, k = base or str(p), 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names
