"""`fit_scene(config)`: template + photos + poses -> a fitted, commented scene file (and plates).

What `synthgap scene fit` runs; see docs/scene_fit.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.scenefit.fit import Layout, fit_layout, layout_summary
from synthgap.scenefit.geometry import part_shape
from synthgap.scenefit.observations import (
    FitInputError,
    PhotoObservation,
    from_bop,
    from_real_views,
    from_views_file,
    part_names,
)
from synthgap.scenefit.writer import fitted_mapping, fitted_yaml, relative_paths
from synthgap.scenes.io import load_scene, scene_to_yaml
from synthgap.scenes.schema import Scene

__all__ = ["SceneFitConfig", "SceneFitResult", "fit_scene", "template_mapping"]

_PATH_KEYS = ("mesh", "calibration", "images", "texture_image", "image", "photo")


@dataclass(frozen=True)
class SceneFitConfig:
    """What to fit.

    Attributes:
        template: scene file (or `preset:NAME`) with the parts, materials, intrinsics, lights.
        out: the fitted scene file to write.
        bop: BOP scene folders with the photos' poses (else `views`, else the template's
            `real_views`).
        image_ids: BOP image ids to use (default all).
        views: a YAML with `real_views:` (e.g. `synthgap align` output).
        plates: write background plates (parts removed) and use them as the background;
            False uses the raw photos as backgrounds (the `[-plates]` ablation).
        plates_dir: where the plates go (default: `<out stem>_plates/` beside `out`).
        sensor: fit the `sensor:` block with the camera model (renders each photo's view);
            False keeps the template's block (the `[-sensor]` ablation).
        widen: ranges grow by this fraction of their observed span on each side.
        dilate_px: plate mask dilation, pixels.
        table_fill: fill plate pixels that see the table from other photos through a
            feature homography before inpainting (`plates.fill_plate`; slower, not measured
            on a benchmark yet, so off by default).
        ignore_objects: BOP object ids to leave out.
        force: overwrite `out` when it exists.
        progress: called with a short line as each slow stage starts (masks, plates, sensor
            fit); the CLI prints them on stderr.
    """

    template: str
    out: Path
    bop: tuple[Path, ...] = ()
    image_ids: tuple[int, ...] | None = None
    views: Path | None = None
    plates: bool = True
    plates_dir: Path | None = None
    sensor: bool = True
    widen: float = 0.1
    dilate_px: int = 9
    table_fill: bool = False
    ignore_objects: tuple[int, ...] = ()
    force: bool = False
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class SceneFitResult:
    """What `fit_scene` wrote and found: the scene file, its layout fit and a summary."""

    out: Path
    scene: Scene
    layout: Layout
    summary: dict[str, Any] = field(default_factory=dict)


def _absolute(data: Any, base: Path) -> Any:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in _PATH_KEYS and isinstance(v, str) and not v.startswith("preset:"):
                out[k] = str((base / Path(v).expanduser()).resolve())
            elif k == "image_files" and isinstance(v, list):
                out[k] = [str((base / Path(str(p)).expanduser()).resolve()) for p in v]
            else:
                out[k] = _absolute(v, base)
        return out
    if isinstance(data, list):
        return [_absolute(v, base) for v in data]
    return data


def template_mapping(template: str) -> dict[str, Any]:
    """The template's mapping as written (paths absolute), or a preset's full mapping."""
    if template.startswith("preset:"):
        data: dict[str, Any] = yaml.safe_load(scene_to_yaml(load_scene(template)))
        return data
    path = Path(template).expanduser()
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(_absolute(raw, path.resolve().parent))


def _observations(cfg: SceneFitConfig, template: Scene) -> list[PhotoObservation]:
    if cfg.bop:
        return from_bop(list(cfg.bop), template, image_ids=cfg.image_ids,
                        ignore_objects=cfg.ignore_objects)
    if cfg.views is not None:
        return from_views_file(cfg.views, template)[1]
    return from_real_views(template, source=cfg.template)


def _background(cfg: SceneFitConfig, template: dict[str, Any], obs: list[PhotoObservation],
                plates: list[Path] | None) -> dict[str, Any]:
    bg = {k: v for k, v in dict(template.get("background", {})).items()
          if k not in ("images", "image_files", "color", "texture", "texture_image")}
    bg["plane"] = False
    # the camera distances are the photos', so the backgrounds stay near the photos' own
    # scale (a small crop would magnify the desk around parts drawn at their true size)
    bg["crop"] = [0.8, 1.0]
    if plates is not None:
        bg["images"] = str(plates[0].parent.resolve())
    else:
        bg["image_files"] = [str(o.photo) for o in obs]
    return bg


def _plates(cfg: SceneFitConfig, out: Path, obs: list[PhotoObservation], masks: Any,
            layout: Any) -> tuple[list[Path] | None, dict[str, Any] | None, str]:
    """Write the plates when asked: (plate files, their summary, the background note)."""
    if not (cfg.plates and masks is not None):
        return None, None, ("the raw photos (they still show the real parts: run without "
                            "--no-plates for plates without them)")
    from synthgap.scenefit.plates import write_plates

    pdir = cfg.plates_dir or out.parent / f"{out.stem}_plates"
    rep = write_plates(obs, masks, pdir, dilate_px=cfg.dilate_px,
                       planes=layout.planes if cfg.table_fill else None)
    summary = {"folder": str(pdir), "files": len(rep.files),
               "object_share_before": round(rep.object_share_before, 4),
               "object_share_after": round(rep.object_share_after, 4),
               "copied_share": round(rep.copied_share, 4),
               "inpainted_share": round(rep.inpainted_share, 4)}
    note = (f"plates: the {len(obs)} photos with every known part removed (masks from the "
            f"poses, dilated {cfg.dilate_px} px; {100 * rep.copied_share:.1f} % of pixels from "
            f"other photos (same view, or the table through the plane from photos of the same "
            f"arrangement), {100 * rep.inpainted_share:.1f} % inpainted); known-part "
            f"pixels {100 * rep.object_share_before:.1f} % of a photo -> "
            f"{100 * rep.object_share_after:.1f} % of a plate")
    return list(rep.files), summary, note


def _sensor(cfg: SceneFitConfig, template: Scene, obs: list[PhotoObservation]
            ) -> tuple[dict[str, Any] | None, str]:
    """The fitted `sensor:` block when asked (else None) and its note."""
    if not cfg.sensor:
        return None, "from the template (`--no-sensor`; the default fits it to the photos)"
    from synthgap.scenefit.sensor import fit_sensor

    sensor, values = fit_sensor(template, obs)
    return sensor, (f"fitted by the camera model on renders of the {len(obs)} photos' views "
                    f"(part pixels); white balance {values['white_balance']}, tone ~ "
                    f"{values['tone_gain']} * luma ^ {values['tone_gamma']} (no sensor field: "
                    "the lights and materials carry them)")


def _write(cfg: SceneFitConfig, out: Path, data: dict[str, Any], layout: Any, names: list[str],
           n_photos: int, notes: dict[str, list[str]]) -> Scene:
    """Write the fitted scene file (atomically) with its header and notes; load it back."""
    out.parent.mkdir(parents=True, exist_ok=True)
    data = relative_paths(data, out.resolve().parent)
    src = (", ".join(str(b) for b in cfg.bop) if cfg.bop else str(cfg.views or cfg.template))
    header = [f"Scene fitted by `synthgap scene fit` from {n_photos} photos and their part "
              f"poses ({src}).",
              f"Template: {cfg.template}. Ranges cover every observed value, widened by "
              f"{int(100 * cfg.widen)} % of their span.",
              "Part positions are drawn at random in `area` (centred under look_at): no "
              "photo's arrangement is copied.",
              "Frame: +z the fitted support plane's normal, origin under the parts' centroid, "
              f"x turned so the anchor part ({layout.anchor}) has yaw 0."]
    text = fitted_yaml(data, layout, names=names, header=header, notes=notes)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return load_scene(out)


def fit_scene(cfg: SceneFitConfig) -> SceneFitResult:
    """Fit a scene to the photos and write it (and its plates).

    Raises:
        FitInputError: unusable input (names file, field and fix); `SceneError` for an
            invalid template or views file; `FileExistsError` when `out` exists without
            `force`.
    """
    from synthgap.generators.parts.assets import load_parts

    t0 = time.perf_counter()
    out = Path(cfg.out).expanduser()
    if out.exists() and not cfg.force:
        raise FileExistsError(f"{out}: exists; choose another -o or pass --force to replace it")
    template = load_scene(cfg.template)
    raw = template_mapping(cfg.template)
    obs = [o for o in _observations(cfg, template) if o.parts]
    if not obs:
        raise FitInputError(cfg.views or (cfg.bop[0] if cfg.bop else cfg.template), "parts",
                            "no photo shows a known part; nothing to fit")
    names = list(part_names(template))
    shapes = {n: part_shape(a.mesh) for n, a in load_parts(template).items()}
    timings: dict[str, float] = {"load": time.perf_counter() - t0}

    def lap(key: str) -> None:
        timings[key] = time.perf_counter() - t0 - sum(timings.values())

    def say(msg: str) -> None:
        if cfg.progress is not None:
            cfg.progress(f"{msg} ({time.perf_counter() - t0:.0f} s)")

    say(f"{len(obs)} photos with known parts")

    masks, visib = None, None
    if cfg.plates or any(p.visib_fract is None for o in obs for p in o.parts):
        from synthgap.scenefit.plates import photo_masks

        say(f"rendering the part masks of {len(obs)} photos")
        masks = photo_masks(template, obs)
        visib = {(i, k): float(v) for i, m in enumerate(masks) for k, v in enumerate(m.visib_fract)
                 if obs[i].parts[k].visib_fract is None}
        lap("masks")
    layout = fit_layout(obs, shapes, part_order=names, widen=cfg.widen, visib=visib)
    summary: dict[str, Any] = {"output": str(out), **layout_summary(layout)}
    if cfg.plates:
        say(f"writing {len(obs)} plates (parts removed)")
    plate_files, plates_summary, bg_note = _plates(cfg, out, obs, masks, layout)
    if plates_summary is not None:
        summary["plates"] = plates_summary
        lap("plates")
    if cfg.sensor:
        say(f"fitting the sensor block on renders of {len(obs)} photos' views")
    sensor, sensor_note = _sensor(cfg, template, obs)
    if sensor is not None:
        summary["sensor"] = sensor
        lap("sensor")
    notes: dict[str, list[str]] = {"area": [
        "placement area: a typical photo's spread of part positions, widened; overlap: the "
        "parts' bounding circles came this close in the median photo"],
        "lights": ["from the template, not fitted (`synthgap lights` fits them)"],
        "distractors": ["from the template, not fitted (unlabelled clutter primitives)"],
        "background": [bg_note], "sensor": [sensor_note]}
    k = np.median(np.array([o.K for o in obs]), axis=0)
    data = fitted_mapping(raw, layout, names=names,
                          background=_background(cfg, raw, obs, plate_files), sensor=sensor,
                          intrinsics={"fx": k[0, 0], "fy": k[1, 1], "cx": k[0, 2],
                                      "cy": k[1, 2]})
    scene = _write(cfg, out, data, layout, names, len(obs), notes)
    timings["total"] = time.perf_counter() - t0
    summary["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    return SceneFitResult(out=out, scene=scene, layout=layout, summary=summary)
