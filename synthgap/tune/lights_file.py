"""Fit a scene file's lights to photos at known poses and write the scene with them.

`fit_lights_into_scene` takes a scene file (the template: parts, materials, the lights to
beat) and photos at known poses — a BOP scene folder (each photo's objects from
`scene_gt.json`, put on their support plane by `frames.plane_world_scene`) or the template's
own `real_views` (one world frame, +z up) — runs the k-fold light fit (held-out loss of the
template's lights and of the fitted ones), fits on all the photos and writes the template
with `lights` = the fitted key light and `background.ambient` = the fitted ambient.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from synthgap.scenes import load_scene, parse_scene, scene_to_yaml
from synthgap.scenes.schema import Scene
from synthgap.tune.lights import DEFAULT_FIT_SIZE, cross_validate_lights, fit_lights

__all__ = ["fit_lights_into_scene"]


def _bop_views(template: Scene, bop_dir: Path, image_ids: Sequence[int] | None) -> Scene:
    from synthgap.generators.parts.assets import load_parts
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene
    from synthgap.tune.frames import plane_world_scene

    bop = read_bop_scene(bop_dir, image_ids=image_ids)
    data = yaml.safe_load(scene_to_yaml(template))  # plain data that loads back equal
    names: dict[int, str] = {}
    overrides = []
    for part, raw in zip(template.parts, data["parts"], strict=True):
        stem = part.mesh.stem if part.mesh is not None else ""
        if stem.startswith("obj_") and stem[4:].isdigit():
            names[int(stem[4:])] = part.category or stem
            overrides.append({"name": names[int(stem[4:])], "material": raw["material"]})
    extra = {"lights": data["lights"], "parts": overrides,
             "background": {"ambient": data["background"]["ambient"]}}
    scene = bop_scene_to_scene(bop, names=names, extra=extra)
    return plane_world_scene(scene, load_parts(scene)).scene


def fit_lights_into_scene(template_path: Path, out_path: Path, *, bop_dir: Path | None = None,
                          image_ids: Sequence[int] | None = None, folds: int = 2,
                          size: tuple[int, int] = DEFAULT_FIT_SIZE,
                          max_refine: int = 20) -> dict[str, Any]:
    """Fit the lights (module docstring) and write the template with them to `out_path`.

    Args:
        template_path: the scene file.
        out_path: the scene file to write (absolute paths; the fitted values in its header).
        bop_dir: a BOP scene folder with the photos and poses; None: the template's
            `real_views`.
        image_ids: the BOP photos to use (default: all; give only fit photos).
        folds: folds of the held-out check (2 or more; 0 skips it).
        size: render size of the fit (width, height).
        max_refine: directions Nelder-Mead may render after the grid.

    Returns:
        A JSON-ready summary: the fit on all photos, the held-out losses (`cv`), the lights
        block and the output path.

    Raises:
        SceneError: an invalid template; BopFormatError: a bad BOP folder;
        ValueError: no photos at known poses, or too few for the folds.
    """
    template = load_scene(template_path)
    views = _bop_views(template, bop_dir, image_ids) if bop_dir is not None else template
    if not views.real_views:
        raise ValueError(f"{template_path}: real_views: the scene lists no photos at known "
                         "poses; give a BOP folder (--bop) or add real_views")
    cv = None
    if folds:
        cv = cross_validate_lights(views, folds=folds, size=size, max_refine=max_refine)
    fit = fit_lights(views, size=size, max_refine=max_refine)
    block = fit.lights_block()
    data = yaml.safe_load(scene_to_yaml(template))
    data["lights"] = block["lights"]
    data.setdefault("background", {})["ambient"] = block["background"]["ambient"]
    parse_scene(data, base_dir=Path(template_path).resolve().parent, source=str(out_path))
    header = [f"# synthgap: lights fitted to {len(views.real_views)} photos at known poses "
              f"(key light ~{fit.temperature_k:.0f} K; relative L1 on part pixels "
              f"{fit.loss:.3f})"]
    if cv is not None:
        header.append(f"# held-out ({folds}-fold) loss: template's lights "
                      f"{cv['loss_before']:.3f}, fitted {cv['loss_after']:.3f}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(header) + "\n" + yaml.safe_dump(
        data, sort_keys=False, default_flow_style=None, width=100))
    return {"fit": fit.to_dict(), "lights": block, "out": str(out_path),
            "cv": None if cv is None else {k: cv[k] for k in ("loss_before", "loss_after")}}
