"""`synthgap validate SCENE`: check a scene file (and load its parts) without rendering."""

from __future__ import annotations

import json
from collections import Counter

import click

from synthgap.scenes import SceneError, load_scene


def validate_scene(path: str) -> dict[str, object]:
    """Load and check scene `path` (a file or `preset:NAME`) and its parts; a JSON-able summary.

    Returns:
        `{"scene", "ok", "parts": {name: category}, "classes": [...], "count": {class: [lo, hi]}
        (instances per image before overlap rejection), "image": [w, h], "lights",
        "distractors": [lo, hi], "background_images"}`.

    Raises:
        SceneError: the scene or one of its meshes is invalid (`PartError` is a `SceneError`).
    """
    from synthgap.generators.parts.assets import load_parts
    from synthgap.generators.run.preflight import check_parts_renderable, check_renderable

    scene = load_scene(path)
    check_renderable(scene, source=str(path))
    parts = load_parts(scene)
    check_parts_renderable(scene, parts, source=str(path))
    bodies = Counter(a.entry for a in parts.values())
    counts: dict[str, list[int]] = {}
    for asset in parts.values():
        lo, hi = scene.parts[asset.entry].count.support()
        c = counts.setdefault(asset.category, [0, 0])
        # a split STEP entry shares its count among its bodies: any one may get none or all
        c[0] += int(lo) if bodies[asset.entry] == 1 else 0
        c[1] += int(hi)
    dlo, dhi = scene.distractors.count.support()
    return {
        "scene": str(path),
        "ok": True,
        "parts": {name: a.category for name, a in parts.items()},
        "classes": sorted({a.category for a in parts.values()}),
        "count": counts,
        "image": [scene.image.width, scene.image.height],
        "lights": len(scene.lights),
        "distractors": [int(dlo), int(dhi)],
        "background_images": len(scene.background.image_files),
    }


@click.command("validate")
@click.argument("scene", metavar="SCENE")
def validate(scene: str) -> None:
    """Check SCENE (a YAML file or preset:NAME) without rendering; print a JSON summary.

    Exit code 2 and a message naming the file and field when the scene or a mesh is invalid.
    """
    try:
        summary = validate_scene(scene)
    except SceneError as exc:
        raise click.BadParameter(str(exc), param_hint="SCENE") from None
    click.echo(json.dumps(summary, separators=(",", ":")))
