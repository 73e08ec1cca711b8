"""The part library: meshes of a scene's `parts`, in metres, with their stable resting poses.

`load_parts(scene)` reads every part entry once (STL, OBJ, PLY, GLB/glTF, OFF through trimesh;
STEP through the optional `cascadio` package; or a procedural part), converts units to metres,
checks the mesh and precomputes trimesh stable poses. Files that hold several meshes (OBJ
groups, glTF scenes) are merged into one rigid part. A STEP assembly with `assembly: split`
(the default) becomes one part per body, named `ENTRY/BODY` (body = the STEP product/node
name, e.g. `as1/NUT::3_5`); each body keeps the assembly's coordinate frame; `select` keeps
the bodies whose names match its glob patterns. With `assembly: merge` the whole file is one
part.

Object frame: the mesh file's own frame after unit conversion (metres); nothing is re-centred,
so 6D pose labels refer to the CAD frame.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import trimesh

from synthgap.generators.defects.features import bounded_put as _bounded_put
from synthgap.generators.defects.geometry import geometry_defect_problem
from synthgap.generators.look.appearance import MeshAppearance, mesh_appearance
from synthgap.generators.parts.procedural import make_procedural
from synthgap.scenes.errors import SceneError
from synthgap.scenes.schema import PartConfig, Scene

__all__ = ["MAX_SIZE_M", "MIN_SIZE_M", "PartAsset", "PartError", "load_parts", "simplify_mesh",
           "stable_poses"]

#: Plausible part sizes (largest extent, metres); outside them `load_parts` errors (units hint).
MIN_SIZE_M = 0.5e-3
MAX_SIZE_M = 5.0
#: At most this many stable poses are kept (the most probable ones).
MAX_STABLE_POSES = 24
#: Stable poses are computed on a hull of at most this many vertices (`decimated_hull`).
STABLE_HULL_POINTS = 1000

_UNITS_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "in": 0.0254}


class PartError(SceneError):
    """A part's mesh cannot be used; the message names the file and the scene field."""


@dataclass(frozen=True, eq=False)
class PartAsset:
    """One part of the library.

    Attributes:
        name: key in the library (entry name, or `ENTRY/BODY` for split STEP assemblies).
        category: class label.
        mesh: the mesh in metres, object frame (treat as read-only).
        entry: index of the part entry in `scene.parts`.
        source: the mesh file (absolute) or `procedural:NAME`.
        appearance: the file's own colours/texture (`mesh.visual` holds the per-vertex
            colours or UVs), or None when it has none.

    `stable_poses` and `stable_probs` are computed on first use (only `placement: stable`
    needs them), cached by mesh content.
    """

    name: str
    category: str
    mesh: trimesh.Trimesh
    entry: int
    source: str
    appearance: MeshAppearance | None = None

    @property
    def stable_poses(self) -> np.ndarray:
        """`(n, 4, 4) float64` transforms that put the mesh at rest on z = 0 (its lowest point
        at z = 0), most probable first."""
        return stable_poses(self.mesh)[0]

    @property
    def stable_probs(self) -> np.ndarray:
        """`(n,) float64` probability of each resting pose, summing to 1."""
        return stable_poses(self.mesh)[1]

    @property
    def radius_xy(self) -> float:
        """Largest distance (m) of a vertex from the z axis through the bounding-box centre,
        over the stable poses: the radius of a circle that holds the part lying in any of them."""
        best = 0.0
        for T in self.stable_poses:
            v = trimesh.transform_points(self.mesh.vertices, T)[:, :2]
            c = 0.5 * (v.min(axis=0) + v.max(axis=0))
            best = max(best, float(np.linalg.norm(v - c, axis=1).max()))
        return best


_STABLE_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _mesh_key(mesh: trimesh.Trimesh) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    return h.hexdigest()


def stable_poses(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Resting poses of `mesh` on z = 0 (trimesh `compute_stable_poses`), cached by content.

    Returns:
        `(poses (n, 4, 4) float64, probs (n,) float64)`: most probable first, at most
        `MAX_STABLE_POSES`, probabilities renormalised to sum to 1, each pose's lowest vertex
        exactly at z = 0. Non-watertight meshes use their convex hull's centre of mass.
    """
    key = _mesh_key(mesh)
    if key not in _STABLE_CACHE:
        spread = np.linalg.svd(mesh.vertices - mesh.vertices.mean(axis=0), compute_uv=False)
        if len(spread) < 3 or spread[2] <= 1e-9 * spread[0]:
            poses, probs = _flat_poses(mesh)  # a sheet: lies on either face (no hull volume)
        else:
            com = mesh.center_mass if mesh.is_volume else mesh.convex_hull.center_mass
            # trimesh's cost grows ~n^1.7 with hull faces (a 327k-face hull: > 10 min); a
            # hull of at most STABLE_HULL_POINTS support points rests the same way
            poses, probs = trimesh.poses.compute_stable_poses(decimated_hull(mesh),
                                                              center_mass=com)
            poses = np.asarray(poses, dtype=np.float64)
            probs = np.asarray(probs, dtype=np.float64)
            if len(poses) == 0 or not np.isfinite(probs).all() or probs.sum() <= 0:
                poses, probs = _flat_poses(mesh)
        order = np.argsort(-probs, kind="stable")[:MAX_STABLE_POSES]
        poses, probs = poses[order], probs[order]
        for T in poses:  # remove numerical drift: lowest point exactly on the plane
            T[2, 3] -= trimesh.transform_points(mesh.vertices, T)[:, 2].min()
        probs = probs / probs.sum()
        poses.setflags(write=False)
        probs.setflags(write=False)
        _bounded_put(_STABLE_CACHE, key, (poses, probs))
    return _STABLE_CACHE[key]


def decimated_hull(mesh: trimesh.Trimesh, points: int | None = None) -> trimesh.Trimesh:
    """The convex hull of `mesh`, or for a large hull the hull of its support points in
    `points` directions spread evenly over the sphere (inscribed in the true hull, touching it
    in each of those directions; at most `2 * points` faces)."""
    points = points or STABLE_HULL_POINTS
    hull: trimesh.Trimesh = mesh.convex_hull
    if len(hull.vertices) <= points:
        return hull
    i = np.arange(points) + 0.5
    z = 1.0 - 2.0 * i / points  # Fibonacci sphere: even directions, no randomness
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    dirs = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    v = np.asarray(hull.vertices)
    support = np.unique(np.argmax(v @ dirs.T, axis=0))
    inscribed: trimesh.Trimesh = trimesh.convex.convex_hull(v[support])
    return inscribed


def _flat_poses(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Two poses (face up, face down) that put the direction of least extent along z."""
    v = mesh.vertices - mesh.vertices.mean(axis=0)
    _, _, vt = np.linalg.svd(v, full_matrices=False)
    R = vt.copy()  # rows: principal axes, the last one has the least spread
    if np.linalg.det(R) < 0:
        R[0] *= -1
    up = np.eye(4)
    up[:3, :3] = R
    flip = np.diag([1.0, -1.0, -1.0, 1.0]) @ up
    return np.stack([up, flip]), np.array([0.5, 0.5])


def load_parts(scene: Scene) -> dict[str, PartAsset]:
    """Load every part entry of `scene` (in order) into the part library.

    Returns:
        Part name -> `PartAsset`, in entry order (split STEP bodies in file order).

    Raises:
        PartError: unreadable, empty, non-finite or implausibly sized mesh, a STEP file
            without cascadio installed, a `select` that matches no body, or a geometry
            defect the mesh cannot take (not a closed volume; `missing_hole` on a part
            without round holes); the message names the file and the scene field
            (`parts[i].mesh`, `parts[i].defects[j]`).
    """
    library: dict[str, PartAsset] = {}
    for i, entry in enumerate(scene.parts):
        for name, mesh, source in _entry_meshes(i, entry):
            field = f"parts[{i}].mesh" if entry.mesh is not None else f"parts[{i}].procedural"
            mesh = _checked(mesh, entry, source, field)
            category = entry.category or (name.split("/", 1)[1] if "/" in name else name)
            look = mesh_appearance(mesh)
            if look is None and entry.material.appearance == "mesh":
                raise PartError(source, [(f"parts[{i}].material.appearance",
                                          "appearance: mesh, but the file has no vertex "
                                          "colours, face colours or texture; use appearance: "
                                          "material (or auto) and give base_color")])
            for j, defect in enumerate(entry.defects):
                if problem := geometry_defect_problem(mesh, defect.type):
                    raise PartError(source, [(f"parts[{i}].defects[{j}]",
                                              f"part {name!r}: {problem}")])
            library[name] = PartAsset(name=name, category=category, mesh=mesh, entry=i,
                                      source=source, appearance=look)
    return library


def _entry_meshes(i: int, entry: PartConfig) -> list[tuple[str, trimesh.Trimesh, str]]:
    name = entry.default_name()
    if entry.procedural is not None:
        mesh = make_procedural(entry.procedural)
        return [(name, mesh, f"procedural:{entry.procedural}")]
    assert entry.mesh is not None
    path = entry.mesh
    field = f"parts[{i}].mesh"
    if path.suffix.lower() in (".step", ".stp"):
        bodies = _load_step(path, field)
        if entry.select is not None:
            bodies = [(b, m) for b, m in bodies
                      if any(fnmatch.fnmatchcase(b, pat) for pat in entry.select)]
            if not bodies:
                known = ", ".join(b for b, _ in _load_step(path, field))
                raise PartError(str(path), [(f"parts[{i}].select", f"no body matches "
                                             f"{list(entry.select)}; bodies: {known}")])
        if entry.assembly == "merge" or len(bodies) == 1:
            mesh = cast(trimesh.Trimesh, trimesh.util.concatenate([m for _, m in bodies]))
            return [(name, mesh, str(path))]
        return [(f"{name}/{b}", m, str(path)) for b, m in bodies]
    try:
        # process=False: keep NaN vertices so `_checked` can report them (processing drops them)
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many kinds; report them all the same way
        raise PartError(str(path), [(field, f"cannot read the mesh ({type(exc).__name__}: "
                                            f"{exc})")]) from exc
    if not isinstance(loaded, trimesh.Trimesh):
        raise PartError(str(path), [(field, "the file holds no triangle mesh (point cloud or "
                                            "empty scene?)")])
    return [(name, loaded, str(path))]


_STEP_CACHE: dict[tuple[str, int, int], list[tuple[str, trimesh.Trimesh]]] = {}


def _has_cascadio() -> bool:
    return importlib.util.find_spec("cascadio") is not None


def _load_step(path: Path, field: str) -> list[tuple[str, trimesh.Trimesh]]:
    """Bodies `(node name, mesh in metres in the assembly frame)` of a STEP file, cached."""
    if not _has_cascadio():
        raise PartError(str(path), [(field, "STEP files need the optional cascadio package: "
                                            "pip install 'synthgap[step]' (or convert the part "
                                            "to STL/OBJ/PLY/GLB)")])
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _STEP_CACHE:
        try:
            sc = trimesh.load_scene(str(path))
        except Exception as exc:  # cascadio/OCC errors come in many types
            # OpenCASCADE gives no reason for an invalid file: its converter just writes no
            # output, which surfaces as a missing temporary .glb; say what that means instead.
            why = ("OpenCASCADE could not convert it: empty, truncated or not STEP"
                   if isinstance(exc, FileNotFoundError) else f"{type(exc).__name__}: {exc}")
            raise PartError(str(path), [(field, f"cannot read the STEP file ({why}); re-export "
                                                "it from the CAD tool")]) from exc
        bodies = []
        for node in sc.graph.nodes_geometry:
            T, geom = sc.graph[node]
            g = sc.geometry.get(geom)
            if isinstance(g, trimesh.Trimesh) and len(g.faces):
                bodies.append((str(node), g.copy().apply_transform(T)))
        if not bodies:
            raise PartError(str(path), [(field, "the STEP file holds no solid bodies")])
        _bounded_put(_STEP_CACHE, key, bodies)
    return [(b, m.copy()) for b, m in _STEP_CACHE[key]]


def _checked(mesh: trimesh.Trimesh, entry: PartConfig, source: str, field: str) -> trimesh.Trimesh:
    """Unit-convert and sanity-check a mesh; returns a new mesh in metres."""
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise PartError(source, [(field, "no triangles could be read: the file is empty, "
                                         "corrupt or not in the format its suffix says")])
    if not np.isfinite(mesh.vertices).all():
        bad = int((~np.isfinite(mesh.vertices)).any(axis=1).sum())
        raise PartError(source, [(field, f"the mesh has {bad} vertices with NaN or inf "
                                         "coordinates; repair or re-export it")])
    reach = float(np.abs(mesh.vertices).max()) * entry.unit_scale
    if reach > 1e3:  # before any arithmetic on them overflows (an "0 m across" part)
        raise PartError(source, [(field, f"vertex coordinates reach {reach:.3g} m from the "
                                         f"mesh origin (read as {entry.units or 'mm'}, scale "
                                         f"{entry.scale:g}); parts must be {MIN_SIZE_M * 1e3:g} "
                                         f"mm to {MAX_SIZE_M:g} m near their origin: check the "
                                         "units or re-export the mesh")])
    mesh = mesh.copy()
    mesh.process()  # merge duplicate vertices, drop degenerate faces
    mesh.apply_scale(entry.unit_scale)
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise PartError(source, [(field, "the mesh has only degenerate (zero-area) triangles")])
    size = float(mesh.extents.max())
    if not (MIN_SIZE_M <= size <= MAX_SIZE_M):
        raw = size / entry.unit_scale
        units = entry.units or "mm"
        plausible = [u for u, f in _UNITS_TO_M.items()
                     if 5e-3 <= raw * f * entry.scale <= 2.0 and u != units]
        hint = f"; did you mean units: {plausible[0]}?" if plausible and entry.mesh is not None \
            and entry.mesh.suffix.lower() not in (".step", ".stp") else ""
        raise PartError(source, [(field, f"the part is {size:.4g} m across ({raw:.4g} in file "
                                         f"units, read as {units}, scale {entry.scale:g}); "
                                         f"parts must be {MIN_SIZE_M * 1e3:g} mm to "
                                         f"{MAX_SIZE_M:g} m{hint}")])
    if mesh.area <= 0:
        raise PartError(source, [(field, "the mesh has zero surface area (degenerate triangles)")])
    if len(mesh.vertices) < 4:
        # placing and occlusion-testing a part needs its convex hull (Qhull: >= 4 points)
        raise PartError(source, [(field, f"the mesh has only {len(mesh.vertices)} vertices (a "
                                         "single triangle); a part needs at least 4 (e.g. "
                                         "two triangles)")])
    try:
        with warnings.catch_warnings():  # a flat hull has no volume: trimesh warns, that is fine
            warnings.simplefilter("ignore", RuntimeWarning)
            mesh.convex_hull  # noqa: B018 - computed (and cached on the mesh) here, not mid-render
    except Exception as exc:  # Qhull raises its own error types
        raise PartError(source, [(field, f"no convex hull can be built ({type(exc).__name__});"
                                         " the mesh is degenerate: repair or re-export it")]
                        ) from None
    return mesh


def simplify_mesh(mesh: trimesh.Trimesh, max_faces: int) -> trimesh.Trimesh:
    """A copy of `mesh` with at most `max_faces` triangles (quadric decimation), keeping its
    vertex colours: each new vertex takes the colour of the nearest original vertex.

    For dense scanned meshes (the LM-O models have 12k-45k triangles) that cover ~100 pixels
    in an image, where the rasteriser's per-triangle cost dominates: simplify once, offline,
    and point the scene at the result (e.g. `mesh.export("part_4k.ply")`).

    Args:
        mesh: a mesh without UV texture (vertex colours, face colours or none).
        max_faces: target triangle count, >= 4; a mesh with fewer is returned as a copy.

    Raises:
        ValueError: `max_faces` < 4, or the mesh has a UV texture (decimation would not
            keep its UVs).
        ImportError: the `fast-simplification` package is missing (pip install it).
    """
    if max_faces < 4:
        raise ValueError(f"max_faces must be >= 4, got {max_faces}")
    if isinstance(mesh.visual, trimesh.visual.TextureVisuals):
        raise ValueError("simplify_mesh: the mesh has a UV texture, which quadric decimation "
                         "does not keep; simplify it in a tool that re-bakes textures")
    if len(mesh.faces) <= max_faces:
        return mesh.copy()
    from scipy.spatial import cKDTree

    out = mesh.simplify_quadric_decimation(face_count=max_faces)
    out = trimesh.Trimesh(out.vertices, out.faces, process=False)
    vis = mesh.visual
    if isinstance(vis, trimesh.visual.ColorVisuals) and vis.kind in ("vertex", "face"):
        _, nearest = cKDTree(mesh.vertices).query(out.vertices)
        out.visual = trimesh.visual.ColorVisuals(out, vertex_colors=vis.vertex_colors[nearest])
    return out
