"""Write a fitted scene as a plain, commented YAML file the user can read and edit.

The template's own mapping (as the user wrote it; paths made relative to the output file) is
kept for everything the fit does not touch (materials, lights, distractors); the camera pose,
`area`, `overlap`, each observed part's `placement: observed` block and `count`, the
`background` and (optionally) the `sensor` come from the fit, each with a comment saying what
the photos showed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthgap.scenefit.fit import Layout, PartFit

__all__ = ["fitted_mapping", "fitted_yaml", "relative_paths"]


def _r(x: float, nd: int = 3) -> float:
    return float(round(float(x), nd))


def _rng(lo_hi: tuple[float, float], nd: int = 3) -> list[float]:
    return [_r(lo_hi[0], nd), _r(lo_hi[1], nd)]


def relative_paths(data: Any, out_dir: Path) -> Any:
    """`data` with every absolute path field made relative to `out_dir` (scene path fields:
    `mesh`, `calibration`, `images`, `image_files`, `texture_image`, `image`, `photo`)."""
    keys = {"mesh", "calibration", "images", "texture_image", "image", "photo"}
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in keys and isinstance(v, str) and os.path.isabs(v):
                out[k] = os.path.relpath(v, out_dir)
            elif k == "image_files" and isinstance(v, list):
                out[k] = [os.path.relpath(p, out_dir) if os.path.isabs(str(p)) else p for p in v]
            else:
                out[k] = relative_paths(v, out_dir)
        return out
    if isinstance(data, list):
        return [relative_paths(v, out_dir) for v in data]
    return data


def _part_entry(entry: dict[str, Any], fit: PartFit) -> dict[str, Any]:
    e = {k: v for k, v in entry.items()
         if k not in ("placement", "rest_poses", "yaw_deg", "count", "position", "rotation_deg")}
    e["count"] = fit.count
    e["placement"] = "observed"
    e["rest_poses"] = [{"rotation_deg": list(r), "weight": w} for r, w in fit.rest_poses]
    e["yaw_deg"] = _rng(fit.yaw, 1)
    return e


def fitted_mapping(template: Mapping[str, Any], layout: Layout, *, names: list[str],
                   background: Mapping[str, Any] | None = None,
                   sensor: Mapping[str, Any] | None = None,
                   intrinsics: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The fitted scene as a plain mapping (the template's keys, fitted ones replaced).

    Args:
        template: the template scene file's mapping (paths as they should be written).
        layout: the fit.
        names: the template's part names, in `parts` order.
        background: the `background:` block (e.g. plates), or None to keep the template's.
        sensor: the `sensor:` block, or None to keep the template's.
        intrinsics: intrinsics to write when the template has none.
    """
    data = {k: v for k, v in template.items() if k != "real_views"}
    cam = dict(data.get("camera", {}))
    if intrinsics is not None and not any(k in cam for k in ("intrinsics", "calibration")):
        cam.pop("fov_deg", None)
        cam["intrinsics"] = {k: _r(v, 4) for k, v in intrinsics.items()}
    c = layout.camera
    cam["pose"] = {"look_at": [_r(v) for v in c.look_at], "look_at_jitter": _rng(c.jitter),
                   "distance": _rng(c.distance), "elevation": _rng(c.elevation, 1),
                   "azimuth": _rng(c.azimuth, 1), "roll": _rng(c.roll, 1)}
    cam["zfar"] = max(float(cam.get("zfar", 10.0)), _r(2 * c.distance[1] + 1.0, 1))
    data["camera"] = cam
    data["area"] = [_r(a) for a in layout.area]
    data = {k: v for k, v in data.items() if k != "overlap"}
    keys = list(data)
    at = keys.index("area") + 1
    data = {**{k: data[k] for k in keys[:at]}, "overlap": layout.overlap,
            **{k: data[k] for k in keys[at:]}}
    parts = []
    for entry, name in zip(template.get("parts", []), names, strict=True):
        fit = layout.parts.get(name)
        parts.append(dict(entry) if fit is None else _part_entry(dict(entry), fit))
    data["parts"] = parts
    if background is not None:
        data["background"] = dict(background)
    if sensor is not None:
        data["sensor"] = dict(sensor)
    return data


def _dump(key: str, value: Any) -> str:
    flow = None if isinstance(value, dict | list) else False  # `seed: 1`, not `{seed: 1}`
    return str(yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=flow,
                              width=100))


def _comment(lines: list[str], indent: str = "") -> str:
    return "".join(f"{indent}# {line}\n" for line in lines)


def _part_notes(name: str, fit: PartFit | None, photos: int) -> list[str]:
    if fit is None:
        return [f"{name}: not seen in the photos; kept as in the template"]
    notes = [f"{name}: seen in {fit.seen_in}/{photos} photos; {len(fit.rest_poses)} resting "
             f"pose(s) (by weight = photos)"]
    if fit.visib:
        v = np.array(fit.visib)
        notes.append(f"  visible fraction in the photos: mean {v.mean():.2f}, "
                     f"min {v.min():.2f}, max {v.max():.2f}")
    high = [h for h in fit.heights if h > 0.01]
    if high:
        notes.append(f"  {len(high)} observation(s) not on the plane (on another part?): "
                     f"up to {max(high) * 100:.1f} cm above")
    return notes


def fitted_yaml(data: Mapping[str, Any], layout: Layout, *, names: list[str],
                header: list[str], notes: Mapping[str, list[str]] | None = None) -> str:
    """The fitted mapping as commented YAML text.

    Args:
        data: from `fitted_mapping`.
        layout: the fit (for the comments).
        names: part names in `parts` order.
        header: lines for the comment at the top (provenance).
        notes: extra comment lines per top-level key (e.g. `background`, `sensor`).
    """
    notes = dict(notes or {})
    c = layout.camera
    obs = c.observed
    out = [_comment(header)]
    for key in data:
        if key == "camera":
            cam = dict(data["camera"])
            pose = cam.pop("pose")
            text = _dump("camera", cam).rstrip("\n") + "\n  pose:\n"
            why = {
                "look_at": "the parts' centroid on the plane (x, y) at the median aim height",
                "look_at_jitter": f"aim points lay up to {obs['aim_deviation_max'][0]:.3f} m "
                                  "from it",
                "distance": f"observed {min(obs['distance']):.3f}-{max(obs['distance']):.3f} m",
                "elevation": f"observed {min(obs['elevation']):.1f}-"
                             f"{max(obs['elevation']):.1f} deg above the plane",
                "azimuth": "relative to the anchor part"
                           + (f" ({layout.anchor})" if layout.anchor else "")
                           + f"; observed {sorted(round(a) for a in obs['azimuth'])}",
                "roll": f"observed {min(obs['roll']):.1f} to {max(obs['roll']):.1f} deg",
            }
            for k, v in pose.items():
                text += f"    {k}: {yaml.safe_dump(v, default_flow_style=True).strip()}"
                text += f"    # {why[k]}\n" if k in why else "\n"
            out.append(text)
        elif key == "parts":
            out.append("parts:\n")
            for entry, name in zip(data["parts"], names, strict=True):
                out.append(_comment(_part_notes(name, layout.parts.get(name), layout.photos),
                                    "  "))
                item = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None,
                                      width=100)
                out.append("".join("  " + line + "\n" for line in item.splitlines()))
        else:
            if key in notes:
                out.append(_comment(notes[key]))
            out.append(_dump(key, data[key]))
    return "".join(out)
