"""Build the surgical instrument meshes of examples/instruments_table.yaml.

Simple but recognisable shapes, in millimetres, lying flat on z = 0 (x along the instrument):

* ``scissors.stl`` - straight operating scissors, 140 mm: two blades crossing at a pivot screw,
  slightly open, two shanks and two finger rings;
* ``forceps.stl`` - tissue forceps, 125 mm: two tapered arms joined at one end, opening
  towards the tips, with grip grooves;
* ``scalpel.stl`` - a No. 3 scalpel handle, 125 mm flat bar with a ribbed grip, carrying a
  No. 10 blade.

Each mesh is one watertight solid (boolean union, trimesh's ``manifold`` engine), written as a
binary STL of a few thousand triangles (< 200 KB). The script is deterministic (no random
numbers): the same trimesh/manifold3d versions write the same files. Regenerate them with

    python examples/parts/make_instruments.py            # writes examples/parts/*.stl
    python examples/parts/make_instruments.py -o OUTDIR  # somewhere else
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import shapely.affinity
import trimesh
from shapely.geometry import Point, Polygon

HERE = Path(__file__).resolve().parent


def _slab(poly: Polygon, z0: float, z1: float) -> trimesh.Trimesh:
    """`poly` (mm, xy plane) extruded from z0 to z1."""
    mesh = trimesh.creation.extrude_polygon(poly, z1 - z0)
    mesh.apply_translation([0.0, 0.0, z0])
    return mesh


def _ring(cx: float, cy: float, r_out: float, r_in: float, *, stretch: float = 1.0,
          sections: int = 40) -> Polygon:
    """An (optionally oval, stretched along x) annulus outline centred at (cx, cy)."""
    outer = Point(0, 0).buffer(r_out, quad_segs=sections // 4)
    inner = Point(0, 0).buffer(r_in, quad_segs=sections // 4)
    ring = outer.difference(inner)
    ring = shapely.affinity.scale(ring, xfact=stretch, yfact=1.0, origin=(0, 0))
    return shapely.affinity.translate(ring, cx, cy)


def _union(meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    out = trimesh.boolean.union(meshes, engine="manifold")
    out.merge_vertices()
    if not out.is_watertight:
        raise RuntimeError("the union is not watertight; check manifold3d is installed")
    return out


def _rotate_z(mesh: trimesh.Trimesh, degrees: float, about=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    mesh.apply_transform(trimesh.transformations.rotation_matrix(
        np.radians(degrees), [0, 0, 1], point=about))
    return mesh


def scissors() -> trimesh.Trimesh:
    """Straight scissors, 140 mm, pivot at the origin, blades towards +x, open 7 degrees."""
    t = 1.8  # thickness of one half, mm
    halves = []
    for side, (z0, z1) in ((+1, (0.0, t)), (-1, (t, 2 * t))):
        # blade: straight cutting edge along y = 0, curved back, rounded tip
        back = [(x, side * (5.0 * (1 - (x / 64.0) ** 1.6) + 0.6)) for x in np.linspace(0, 62, 14)]
        blade = Polygon([(-6.0, 0.0), (63.0, 0.0), *back[::-1][:-1], (0.0, side * 5.6),
                         (-6.0, side * 5.6)]).buffer(0.4, quad_segs=2)
        # shank from the pivot to the finger ring, bending away from the axis
        shank = Polygon([(-4.0, side * 0.5), (-4.0, side * 5.5), (-48.0, side * 13.0),
                         (-52.0, side * 9.0)])
        ring = _ring(-62.0, side * 15.0, 10.5, 7.5, stretch=1.25)
        parts = [_slab(blade.union(shank), z0, z1), _slab(ring, 0.0, 2 * t)]
        half = _union(parts)
        # open the scissors: each half turns about the pivot
        halves.append(_rotate_z(half, side * 3.5))
    screw = trimesh.creation.cylinder(radius=3.2, height=2 * t + 1.0, sections=24)
    screw.apply_translation([0.0, 0.0, t])
    return _union([*halves, screw])


def forceps() -> trimesh.Trimesh:
    """Tissue forceps, 125 mm, joined at x = 0, arms opening 9 mm at the tips (+x)."""
    t = 1.6
    length = 125.0

    def arm() -> trimesh.Trimesh:
        """One arm, lying on z = 0, with grip grooves cut into its outer (lower) face."""
        outline = Polygon([(0.0, -4.5), (70.0, -3.6), (length - 3, -1.1), (length, 0.0),
                           (length - 3, 1.1), (70.0, 3.6), (0.0, 4.5)])
        grooves = [_slab(Polygon([(x, -5.0), (x + 0.8, -5.0), (x + 0.8, 5.0), (x, 5.0)]),
                         -1.0, 0.35) for x in np.arange(45.0, 75.0, 2.0)]
        out = trimesh.boolean.difference([_slab(outline, 0.0, t), *grooves], engine="manifold")
        out.merge_vertices()
        return out

    low = arm()
    # the upper arm: the same arm turned upside down (grooves outside), lying on the lower one
    # at the joint and tilted up about it so the tips open
    up = arm()
    up.apply_transform(trimesh.transformations.reflection_matrix([0, 0, t / 2], [0, 0, 1]))
    up.apply_translation([0.0, 0.0, t])
    up.apply_transform(trimesh.transformations.rotation_matrix(
        np.arctan2(9.0, length), [0, -1, 0], point=[12.0, 0.0, t]))
    joint = _slab(Polygon([(-2.0, -4.5), (14.0, -4.5), (14.0, 4.5), (-2.0, 4.5)]), 0.0, 2 * t)
    return _union([low, up, joint])


def scalpel() -> trimesh.Trimesh:
    """A No. 3 scalpel handle (125 mm) with a No. 10 blade towards +x."""
    t = 2.6
    handle = Polygon([(0.0, -4.8), (95.0, -4.8), (118.0, -2.6), (125.0, -2.0), (125.0, 2.0),
                      (118.0, 2.6), (95.0, 4.8), (0.0, 4.8)]).buffer(0.6, quad_segs=2)
    body = _slab(handle, 0.0, t)
    # ribbed grip on the upper face
    ribs = [_slab(Polygon([(x, -3.6), (x + 1.0, -3.6), (x + 1.0, 3.6), (x, 3.6)]),
                  t, t + 0.35) for x in np.arange(20.0, 70.0, 2.5)]
    # the blade: straight back, curved belly, pointed tip (0.45 mm steel on the handle's nub)
    belly = [(125.0 + 34.0 * s, -2.0 - 6.0 * np.sin(np.pi * s) * (1 - 0.35 * s))
             for s in np.linspace(0, 1, 16)]
    blade = Polygon([(118.0, 2.2), (150.0, 2.2), (159.0, -0.5), *belly[::-1], (118.0, -2.2)])
    blade_mesh = _slab(blade, t - 0.45, t)
    return _union([body, *ribs, blade_mesh])


BUILDERS = {"scissors": scissors, "forceps": forceps, "scalpel": scalpel}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=HERE, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in BUILDERS.items():
        mesh = build()
        path = args.out / f"{name}.stl"
        mesh.export(path)
        ext = mesh.extents
        print(f"{path}: {len(mesh.faces)} triangles, {path.stat().st_size / 1024:.0f} KB, "  # noqa: T201
              f"{ext[0]:.0f} x {ext[1]:.0f} x {ext[2]:.1f} mm")


if __name__ == "__main__":
    main()
