"""Procedural demo parts, built with trimesh primitives and manifold3d booleans.

Every part is a watertight `trimesh.Trimesh` in metres, resting on z = 0 in its natural pose
and centred on the z axis (object frame). They let the built-in scenes run without any file.

====================  ==================================================================
name                  shape
====================  ==================================================================
``l_bracket``         40 x 30 mm base plate and a 25 mm upright, 3 mm sheet, a 7 mm hole
                      in each leg
``flanged_washer``    24 mm flange (1.5 mm thick) with a 14 mm hub, 4 mm tall, 8.4 mm bore
``hex_nut``           M6 nut: 10 mm across flats, 5 mm tall, 6 mm bore
====================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh
from trimesh.creation import annulus, box, cylinder
from trimesh.transformations import rotation_matrix, translation_matrix

__all__ = ["PROCEDURAL", "flanged_washer", "hex_nut", "l_bracket", "make_procedural"]


def _union(meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    out: trimesh.Trimesh = trimesh.boolean.union(meshes, engine="manifold")
    return out


def _difference(meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    out: trimesh.Trimesh = trimesh.boolean.difference(meshes, engine="manifold")
    return out


def l_bracket() -> trimesh.Trimesh:
    """An L-shaped sheet-metal bracket with one hole per leg (about 40 x 30 x 25 mm)."""
    t = 0.003
    base = box([0.040, 0.030, t], transform=translation_matrix([0.0, 0.0, t / 2]))
    upright = box([t, 0.030, 0.025], transform=translation_matrix([-0.020 + t / 2, 0.0, 0.0125]))
    body = _union([base, upright])
    hole_base = cylinder(radius=0.0035, height=4 * t, sections=48,
                         transform=translation_matrix([0.008, 0.0, t / 2]))
    turn = rotation_matrix(np.pi / 2, [0.0, 1.0, 0.0])
    turn[:3, 3] = [-0.020 + t / 2, 0.0, 0.015]
    hole_up = cylinder(radius=0.0035, height=4 * t, sections=48, transform=turn)
    return _difference([body, hole_base, hole_up])


def flanged_washer() -> trimesh.Trimesh:
    """A flanged washer: 24 mm flange, 14 mm hub, 4 mm tall overall, 8.4 mm bore."""
    flange = annulus(r_min=0.0042, r_max=0.012, height=0.0015, sections=96,
                     transform=translation_matrix([0.0, 0.0, 0.00075]))
    hub = annulus(r_min=0.0042, r_max=0.007, height=0.004, sections=96,
                  transform=translation_matrix([0.0, 0.0, 0.002]))
    return _union([flange, hub])


def hex_nut() -> trimesh.Trimesh:
    """An M6 hex nut: 10 mm across flats, 5 mm tall, 6 mm bore."""
    across_corners = 0.010 / np.cos(np.pi / 6)
    prism = cylinder(radius=across_corners / 2, height=0.005, sections=6,
                     transform=translation_matrix([0.0, 0.0, 0.0025]))
    bore = cylinder(radius=0.003, height=0.02, sections=48,
                    transform=translation_matrix([0.0, 0.0, 0.0025]))
    return _difference([prism, bore])


#: Procedural part name -> builder (the names `parts[].procedural` accepts).
PROCEDURAL: dict[str, Callable[[], trimesh.Trimesh]] = {
    "l_bracket": l_bracket,
    "flanged_washer": flanged_washer,
    "hex_nut": hex_nut,
}


def make_procedural(name: str) -> trimesh.Trimesh:
    """Build procedural part `name` (a key of `PROCEDURAL`), a fresh mesh in metres.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        builder = PROCEDURAL[name]
    except KeyError:
        raise ValueError(f"unknown procedural part {name!r}; known: "
                         f"{', '.join(PROCEDURAL)}") from None
    return builder()
