"""Geometry defects: `chip`, `missing_hole`, `extra_hole` change the part's shape (no OpenGL).

Unlike the surface patches of `synthgap.generators.defects.surface`, these edit the part's mesh with
manifold3d booleans, in the part's object frame (metres):

* `chip`: subtract an irregular convex blob of about `radius_mm` centred on a point of a sharp
  convex edge (a piece knocked off an edge or corner);
* `extra_hole`: subtract a cylinder of `radius_mm` reaching `depth_mm` into the part along the
  inward surface normal (deeper than the part is thick: drilled through);
* `missing_hole`: union a plug that fills one of the part's round holes
  (`synthgap.generators.defects.features.find_holes`), flush with the hole's ends (1 µm short of
  them, so its caps are exactly the hole's opening).

`apply_geometry_defects(part, defects)` returns the edited mesh with every triangle labelled
(`DefectedMesh`): either part of the original surface (with the original triangle it lies in,
so the renderer carries normals, colours and UVs over exactly and the untouched surface looks
the same as without the defect) or made by defect k's cutter (drawn with that defect's id in
the defect mask). Manifold keeps this provenance through the boolean (`run_original_id`,
`face_id`). Results are cached by (mesh content, defect parameters).

A subtraction can also open a view through the part (onto the table, another object, or the
part's own far side): the renderer finds those pixels by comparing with a segmentation pass of
the defect-free parts and attributes each one to the cutter that removed the surface point it
used to show (`removed_by`).

Blob shapes are pure functions of the defect's sampled parameters (seeded from its
`direction`), like stains and cracks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import trimesh

from synthgap.generators.defects.features import find_holes, mesh_key
from synthgap.generators.params import DefectParams

if TYPE_CHECKING:
    from manifold3d import Manifold  # untyped: Any to mypy

#: A defect's cache key: type, position, normal, direction, sorted sizes.
_DefectKey = tuple[str, tuple[float, ...], tuple[float, ...], tuple[float, ...],
                   tuple[tuple[str, float], ...]]

__all__ = ["GEOMETRY_DEFECT_TYPES", "SUBTRACTIVE_TYPES", "DefectedMesh", "GeometryDefectError",
           "apply_geometry_defects", "corner_attributes", "cutter_mesh", "face_correspondence",
           "geometry_defect_problem", "removed_by", "see_through"]

#: Defect types that edit the mesh (the others are surface patches).
GEOMETRY_DEFECT_TYPES = ("chip", "missing_hole", "extra_hole")
#: Geometry defects that remove material (they can open a view through the part).
SUBTRACTIVE_TYPES = ("chip", "extra_hole")
#: A plug is this much wider than its hole (relative), so its wall never coincides with the
#: hole's (coincident walls give slivers); the overlap lies inside the part's material.
PLUG_MARGIN = 2e-3
#: A plug stops this far (metres) short of each end of its hole: its caps are then cut
#: exactly along the hole's rim, never overlapping the part's own coplanar surface (which
#: would make the defect's faces cover surface that did not change); invisible in an image.
PLUG_RECESS_M = 1e-6
#: Results of `apply_geometry_defects` kept (least recently used dropped).
CACHE_SIZE = 64


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of `v` scaled to unit length (zero rows stay zero)."""
    out: np.ndarray = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-30)
    return out


# --------------------------------------------------------------------------- cutters


#: The smallest size (radius, depth) of a geometry defect's cutter, millimetres.
MIN_SIZE_MM = 0.01


def _size(defect: DefectParams, key: str) -> float:
    value = defect.size.get(key)
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{defect.type} defect: size[{key!r}] must be a positive number of "
                         f"millimetres, got {value!r} (size = {defect.size})")
    if value < MIN_SIZE_MM:
        raise ValueError(f"{defect.type} defect: the sampled {key} {value:g} mm is too small "
                         f"to cut a solid (below {MIN_SIZE_MM} mm); raise the lower end of "
                         f"its range (or narrow a normal distribution)")
    return float(value) / 1000.0


def _axis_frame(defect: DefectParams) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(defect.normal, dtype=float)
    norm = np.linalg.norm(n)
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"{defect.type} defect: normal must be a non-zero vector, got "
                         f"{defect.normal}")
    return np.asarray(defect.position, dtype=float), n / norm


#: Sides of the cylinders of holes and plugs.
CYLINDER_SECTIONS = 48


_UNIT_CYLINDER: list[trimesh.Trimesh] = []


def _cylinder(p0: np.ndarray, p1: np.ndarray, radius: float) -> trimesh.Trimesh:
    """A cylinder from `p0` to `p1` (a unit cylinder built once, scaled and moved: trimesh's
    own builder costs ~5 ms a call)."""
    if not _UNIT_CYLINDER:
        _UNIT_CYLINDER.append(trimesh.creation.cylinder(radius=1.0, height=1.0,
                                                        sections=CYLINDER_SECTIONS))
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    T = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], axis / length)
    T[:3, :3] = T[:3, :3] @ np.diag([radius, radius, length])
    T[:3, 3] = 0.5 * (p0 + p1)
    unit = _UNIT_CYLINDER[0]
    return trimesh.Trimesh(trimesh.transform_points(unit.vertices, T), unit.faces.copy(),
                           process=False)


def cutter_mesh(defect: DefectParams) -> trimesh.Trimesh:
    """The solid a geometry defect subtracts (`chip`, `extra_hole`) or adds (`missing_hole`).

    Args:
        defect: the sampled defect (object frame, sizes in mm).

    Returns:
        A convex watertight mesh in the part's object frame (metres).

    Raises:
        ValueError: not a geometry defect, missing or non-positive size, zero normal.
    """
    p, n = _axis_frame(defect)
    if defect.type == "chip":
        radius = _size(defect, "radius_mm")
        raw = np.ascontiguousarray(defect.direction, dtype=np.float64).tobytes()
        rng = np.random.default_rng(np.frombuffer(raw, dtype=np.uint32).tolist())
        k = 24
        i = np.arange(k) + 0.5
        z = 1.0 - 2.0 * i / k
        phi = np.pi * (3.0 - np.sqrt(5.0)) * i + rng.uniform(0, 2 * np.pi)
        dirs = np.stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z],
                        axis=1)
        dirs = _unit(dirs + rng.normal(0.0, 0.15, dirs.shape))
        pts = p + dirs * radius * rng.uniform(0.55, 1.0, (k, 1))
        hull: trimesh.Trimesh = trimesh.convex.convex_hull(pts)
        return hull
    if defect.type == "extra_hole":
        radius, depth = _size(defect, "radius_mm"), _size(defect, "depth_mm")
        # from just outside the surface (so it opens cleanly) to `depth` inside it
        return _cylinder(p + n * max(radius, 1e-4), p - n * depth, radius)
    if defect.type == "missing_hole":
        radius, length = _size(defect, "radius_mm"), _size(defect, "length_mm")
        # wider than the hole everywhere: its polygon's sides (not only its corners) lie
        # outside the hole's circumcircle, so no sliver of the hole stays open
        r = radius * (1.0 + PLUG_MARGIN) / np.cos(np.pi / CYLINDER_SECTIONS)
        half = length / 2 - PLUG_RECESS_M
        if half <= 0:
            raise ValueError(f"missing_hole defect: the hole is {length * 1e3:g} mm long; "
                             "too short to fill")
        return _cylinder(p - n * half, p + n * half, r)
    raise ValueError(f"defect type {defect.type!r} is not a geometry defect; expected one of "
                     f"{GEOMETRY_DEFECT_TYPES}")


# --------------------------------------------------------------------------- booleans


@dataclass(frozen=True, eq=False)
class DefectedMesh:
    """A part's mesh after its geometry defects, each triangle labelled.

    Attributes:
        vertices: `(V, 3) float64` metres, object frame.
        faces: `(F, 3) int64` outward-wound triangles.
        label: `(F,) int64`: -1 on the original surface, else the index in `defects` of the
            defect whose cutter made the triangle.
        source: `(F,) int64`: for original-surface triangles the index of the original
            triangle it lies in (-1 for defect triangles).
        defects: the geometry defects applied, in order.
        cutters: each defect's solid (`cutter_mesh`), same order.
    """

    vertices: np.ndarray
    faces: np.ndarray
    label: np.ndarray
    source: np.ndarray
    defects: tuple[DefectParams, ...]
    cutters: tuple[trimesh.Trimesh, ...]


def _manifold(mesh: trimesh.Trimesh, what: str) -> tuple[Manifold, int]:
    import manifold3d

    # face_id = the triangle's own index: each output triangle then lies inside the input
    # triangle it names (without it manifold3d numbers coplanar groups, and a triangle may
    # name another triangle of its plane, which breaks the carrying over of colours/UVs)
    mg = manifold3d.Mesh64(vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float64),
                           tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint64),
                           face_id=np.arange(len(mesh.faces), dtype=np.uint64))
    mg.merge()  # join coincident vertices of split seams (keeps triangle indices)
    m = manifold3d.Manifold(mg)
    if m.status() != manifold3d.Error.NoError and what.endswith("cutter"):
        raise ValueError(f"{what} is degenerate (manifold3d: {m.status().name}): its sampled "
                         "size is too small to cut a solid; raise the lower end of its "
                         "radius_mm/depth_mm range (or narrow a normal distribution)")
    if m.status() != manifold3d.Error.NoError:
        raise ValueError(f"{what} is not a closed, consistently wound volume (manifold3d: "
                         f"{m.status().name}); geometry defects need one: repair the mesh "
                         "(e.g. trimesh.repair.fill_holes / fix_normals, or export a closed "
                         "solid from CAD) or use surface defects (scratch, dent, stain, crack)")
    return m, int(m.to_mesh().run_original_id[0])


class GeometryDefectError(ValueError):
    """A part's sampled geometry defects cannot be made (they remove the whole part, miss
    it, or a sampled size is degenerate): a problem of the scene's defect sizes, found while
    rendering (the message names the part and the fix)."""


_CACHE: OrderedDict[tuple[str, tuple[_DefectKey, ...]], DefectedMesh] = OrderedDict()
_PARTS: OrderedDict[str, tuple[Manifold, int]] = OrderedDict()  # mesh key -> (solid, its id)


def _part_manifold(part: trimesh.Trimesh, key: str) -> tuple[Manifold, int]:
    """The part as a manifold3d solid and its original id, cached (a part is converted once,
    not per image)."""
    hit = _PARTS.get(key)
    if hit is None:
        hit = _PARTS[key] = _manifold(part, "the part's mesh")
        while len(_PARTS) > CACHE_SIZE:
            _PARTS.popitem(last=False)
    _PARTS.move_to_end(key)
    return hit


def _defect_key(d: DefectParams) -> _DefectKey:
    return (d.type, tuple(d.position), tuple(d.normal), tuple(d.direction),
            tuple(sorted(d.size.items())))


def apply_geometry_defects(part: trimesh.Trimesh,
                           defects: tuple[DefectParams, ...] | list[DefectParams]
                           ) -> DefectedMesh:
    """Apply geometry defects to a part, in order (cached by mesh content and parameters).

    Args:
        part: the part's mesh (object frame, metres): a closed volume.
        defects: geometry defects (`chip`, `missing_hole`, `extra_hole`) of one instance.

    Returns:
        The edited mesh with each triangle's provenance (`DefectedMesh`).

    Raises:
        ValueError: the part is not a closed volume (says how to fix it), a defect is not a
            geometry defect or has bad sizes, a defect would not change the defect-free part
            (its cutter misses it, or the hole is not there) or they remove the whole part.
            A defect that would change the part but lies wholly inside another defect's
            removed or added material is kept: it makes no faces and has no pixels.
    """
    defects = tuple(defects)
    key = (mesh_key(part), tuple(_defect_key(d) for d in defects))
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    original, part_id = _part_manifold(part, key[0])
    result = original
    cutters, ids, solids = [], [], []
    for k, d in enumerate(defects):
        c = cutter_mesh(d)
        cm, cid = _manifold(c, f"defects[{k}] ({d.type}) cutter")
        result = result - cm if d.type in SUBTRACTIVE_TYPES else result + cm
        cutters.append(c)
        ids.append(cid)
        solids.append(cm)
    out = result.to_mesh64()
    tri = np.asarray(out.tri_verts, dtype=np.int64).reshape(-1, 3)
    if len(tri) == 0:
        raise ValueError(f"the geometry defects {[d.type for d in defects]} remove the whole "
                         f"part (sizes {[d.size for d in defects]}); use smaller sizes")
    verts = np.asarray(out.vert_properties, dtype=np.float64)[:, :3]
    face_id = np.asarray(out.face_id, dtype=np.int64)
    run_index = np.asarray(out.run_index, dtype=np.int64) // 3
    run_ids = np.asarray(out.run_original_id, dtype=np.int64)
    label = np.full(len(tri), -2, np.int64)
    for r, oid in enumerate(run_ids):
        sl = slice(run_index[r], run_index[r + 1])
        label[sl] = -1 if oid == part_id else ids.index(int(oid)) if oid in ids else -2
    if (label == -2).any():
        raise RuntimeError("manifold3d returned triangles of unknown origin")  # never seen
    source = np.where(label == -1, face_id, -1)
    for k, d in enumerate(defects):
        if not (label == k).any() and not _changes(original, solids[k], d):
            # (one that would change the part but lies wholly inside another defect's
            # removed or added material shows nothing, like a hidden surface defect)
            raise ValueError(f"defects[{k}] ({d.type} at {tuple(round(v, 5) for v in d.position)}"
                             f" m, size {d.size}) changes nothing: its cutter misses the part "
                             "or the hole is already filled")
    dm = DefectedMesh(vertices=verts, faces=tri, label=label, source=source,
                      defects=defects, cutters=tuple(cutters))
    _CACHE[key] = dm
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return dm


def _changes(original: Manifold, solid: Manifold, d: DefectParams) -> bool:
    """Whether the defect alone would change the defect-free part (cutter and part overlap
    for a subtraction; the plug is not already inside the part for a union)."""
    overlap = (original ^ solid) if d.type in SUBTRACTIVE_TYPES else (solid - original)
    return bool(overlap.volume() > 1e-15)  # m^3: 1e-6 mm^3


# --------------------------------------------------------------------------- drawing help


def corner_attributes(dm: DefectedMesh, drawn: trimesh.Trimesh, face_map: np.ndarray,
                      attributes: list[np.ndarray | None], which: int
                      ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
    """Per-corner arrays of the triangles of `dm` labelled `which`, to draw them.

    Original-surface triangles (`which == -1`) interpolate the drawn original mesh's
    per-vertex normals and attributes at their corners (barycentric in the original triangle
    they lie in), so the untouched surface shades exactly as without the defect. Defect
    triangles are flat shaded and take the attributes of the nearest drawn vertex.

    Args:
        dm: the edited mesh.
        drawn: the original mesh as drawn (e.g. `smooth_shaded`), per-vertex `vertex_normals`.
        face_map: `(F0,) int64`: original triangle index -> triangle of `drawn` (same corners).
        attributes: per-vertex arrays of `drawn` (`(n, c)`, e.g. colours, UVs) or None.
        which: -1 (the original surface) or a defect index.

    Returns:
        `(positions (3m, 3) float32, normals (3m, 3) float32, attributes (3m, c) float32 or
        None)`, triangle i being corners 3i, 3i + 1, 3i + 2.
    """
    sel = np.flatnonzero(dm.label == which)
    pos = dm.vertices[dm.faces[sel]]  # (m, 3, 3)
    if which == -1:
        src = drawn.faces[face_map[dm.source[sel]]]  # (m, 3) drawn vertex ids
        a = drawn.vertices[src]
        # barycentric coordinates of each corner in its source triangle, clipped (a corner
        # of a re-triangulated flat face may lie just outside it)
        with np.errstate(divide="ignore", invalid="ignore"):  # degenerate sources: NaN
            bary = np.stack([trimesh.triangles.points_to_barycentric(a, pos[:, j])
                             for j in range(3)], axis=1)  # (m, 3 corners, 3 weights)
        bary = np.clip(np.nan_to_num(bary, nan=1 / 3), 0.0, None)
        bary /= np.maximum(bary.sum(axis=2, keepdims=True), 1e-12)

        def interp(values: np.ndarray) -> np.ndarray:
            out: np.ndarray = np.einsum("mjk,mkc->mjc", bary, values[src])
            return out.reshape(-1, values.shape[1])

        normals = _unit(interp(np.asarray(drawn.vertex_normals, dtype=float)))
        attrs = [None if v is None else interp(np.asarray(v, dtype=float)) for v in attributes]
    else:
        fn = _unit(np.cross(pos[:, 1] - pos[:, 0], pos[:, 2] - pos[:, 0]))
        normals = np.repeat(fn, 3, axis=0)
        attrs = [None] * len(attributes)
        if any(v is not None for v in attributes):
            from scipy.spatial import cKDTree

            _, near = cKDTree(drawn.vertices).query(pos.reshape(-1, 3))
            attrs = [None if v is None else np.asarray(v, dtype=float)[near] for v in attributes]
    return (pos.reshape(-1, 3).astype(np.float32), normals.astype(np.float32),
            [None if v is None else v.astype(np.float32) for v in attrs])


def face_correspondence(original: trimesh.Trimesh, drawn: trimesh.Trimesh) -> np.ndarray:
    """`(F,) int64`: for each triangle of `original`, the triangle of `drawn` with the same
    corners (`smooth_shaded` reorders faces).

    Raises:
        ValueError: `drawn` does not hold every triangle of `original`.
    """
    if len(drawn.faces) == len(original.faces) and np.array_equal(
            drawn.vertices[drawn.faces], original.vertices[original.faces]):
        return np.arange(len(original.faces))
    from scipy.spatial import cKDTree

    d, idx = cKDTree(drawn.triangles_center).query(original.triangles_center)
    scale = max(float(original.scale), 1e-12)
    if len(drawn.faces) != len(original.faces) or d.max() > 1e-6 * scale:
        raise ValueError("the drawn mesh does not hold the part's triangles")
    out: np.ndarray = idx
    return out


def removed_by(points: np.ndarray, dm: DefectedMesh) -> np.ndarray:
    """Which subtractive defect removed each point (object frame, metres): the index in
    `dm.defects` of the chip/extra hole whose (convex) cutter holds it deepest, -1 when the
    instance has none.

    Args:
        points: `(n, 3)` surface points of the defect-free part that are no longer seen.
        dm: the edited mesh.

    Returns:
        `(n,) int64` defect indices.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    best = np.full(len(points), np.inf)
    which = np.full(len(points), -1, np.int64)
    for k, (d, c) in enumerate(zip(dm.defects, dm.cutters, strict=True)):
        if d.type not in SUBTRACTIVE_TYPES:
            continue
        # signed distance to a convex solid's boundary, <= 0 inside (exact inside, a lower
        # bound outside): the largest plane distance over its faces
        planes = np.einsum("fj,fj->f", c.face_normals, c.triangles[:, 0])
        depth = (points @ c.face_normals.T - planes).max(axis=1)
        closer = depth < best
        best[closer], which[closer] = depth[closer], k
    return which


#: A pixel whose depth grew by more than this (metres) now shows something behind the
#: surface it showed without the defect (the same geometry gives the same depth to float
#: rounding, ~1e-7 m at working distances).
SEE_THROUGH_M = 1e-4


def see_through(defect_mask: np.ndarray, iid: int, dids: list[int], dm: DefectedMesh, *,
                inst_mask: np.ndarray, depth: np.ndarray, ref_instances: np.ndarray,
                ref_depth: np.ndarray, K: tuple[float, float, float, float],
                cam_pose: np.ndarray, pose: np.ndarray) -> int:
    """Label, in place, the pixels where instance `iid` without its defects was seen and a
    chip or hole of it now lets one see past that surface.

    Such a pixel showed instance `iid` in the defect-free pass (`ref_instances`) and now
    shows another thing or something farther away; it gets the id of the defect whose
    cutter removed the surface point it showed (`removed_by`). Pixels already labelled (a
    defect's own faces, patches) are kept.

    Args:
        defect_mask: `(h, w) uint16` defect ids of the drawn frame, updated in place.
        iid: the instance id (1-based).
        dids: defect ids of `dm.defects`, in order.
        dm: the instance's edited mesh.
        inst_mask, depth: `(h, w)` instance ids and depth (metres along +z, 0 = nothing) of
            the drawn frame.
        ref_instances, ref_depth: the same for the pass with the defect-free instance.
        K: `(fx, fy, cx, cy)` pixels of the (undistorted) render view, OpenCV convention.
        cam_pose: world-from-camera 4x4 (OpenCV frame).
        pose: world-from-object 4x4 of the instance.

    Returns:
        How many pixels were labelled.
    """
    was = (ref_instances == iid) & (defect_mask == 0)
    px = was & ((inst_mask != iid) | (depth - ref_depth > SEE_THROUGH_M))
    if not px.any():
        return 0
    v, u = np.nonzero(px)
    z = ref_depth[v, u].astype(np.float64)
    fx, fy, cx, cy = K
    cam = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z, np.ones_like(z)], axis=1)
    obj = (np.linalg.inv(np.asarray(pose, float)) @ np.asarray(cam_pose, float) @ cam.T).T
    k = removed_by(obj[:, :3], dm)
    ok = k >= 0
    ids = np.asarray(dids, dtype=np.int64)
    defect_mask[v[ok], u[ok]] = ids[k[ok]]
    return int(ok.sum())


def geometry_defect_problem(mesh: trimesh.Trimesh, defect_type: str) -> str | None:
    """Why `defect_type` cannot be applied to `mesh` (a sentence with the fix), or None.

    `chip` and `extra_hole` need a closed volume; `missing_hole` also needs a round hole.
    """
    if defect_type not in GEOMETRY_DEFECT_TYPES:
        return None
    try:
        _manifold(mesh, "the part's mesh")
    except ValueError:
        # (manifold3d's own test: it tolerates the near-coincident vertices that booleans
        # leave and trimesh's watertight test, after merging vertices, does not)
        why = ("it has open edges (not watertight)" if not mesh.is_watertight else
               "its faces are not consistently wound or it intersects itself")
        return (f"{defect_type} changes the part's shape with a boolean, which needs a closed "
                f"volume, but {why}; repair the mesh (e.g. trimesh.repair.fill_holes and "
                "fix_normals, or export a closed solid from CAD) or use a surface defect "
                "(scratch, dent, stain, crack)")
    if defect_type == "missing_hole" and not find_holes(mesh):
        return ("missing_hole fills one of the part's round holes, but this part has none "
                "(holes along its x, y, z or principal axes are looked for); remove the "
                "defect, use extra_hole, or use a part with holes (e.g. procedural: "
                "flanged_washer, l_bracket or hex_nut)")
    return None
