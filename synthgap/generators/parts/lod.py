"""Level of detail: dense meshes drawn with as many triangles as their size on screen can show.

A scanned part (the LM-O models have 12k-46k triangles) that covers a disc of 40 pixels radius
on screen cannot show more than a few thousand triangles: the rest only cost rasteriser time
(Mesa llvmpipe's cost per triangle dominates a frame of dense meshes). Per image and instance,
`lod_level` picks how often the mesh is halved: the fewest triangles that still give
`TRIANGLES_PER_PIXEL` triangles per pixel of the part's projected bounding disc, in steps of
two (level k: `faces / 2**k`, never under `MIN_FACES`). `lod_mesh` makes that version by
quadric decimation (`parts.simplify_mesh`, vertex colours kept), once per mesh and level: kept
in memory and on disk under `cache_dir()`, keyed by a hash of the mesh's content (and of
the versions of trimesh and fast-simplification), so a new
process (a render worker, a Ray task on another node) loads it in milliseconds instead of
simplifying again. Decimation is deterministic, so every process draws the same triangles.

What uses it (see `Renderer`): the colour passes and shadow maps. Labels do not: masks, depth,
defect masks and unoccluded pixel counts come from segmentation passes over the full mesh, so
they are exactly those of the CAD model whatever the level.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import trimesh

__all__ = ["MIN_FACES", "MIN_ROUGHNESS", "TRIANGLES_PER_PIXEL", "bounding_sphere", "cache_dir",
           "lod_level", "lod_mesh"]

#: Triangles kept per pixel of the projected bounding disc (about 4 pixels per front-facing
#: triangle: finer detail is below what shading and 4x MSAA show).
TRIANGLES_PER_PIXEL = 0.5
#: A simplified mesh keeps at least this many triangles; meshes with fewer than twice as
#: many are always drawn in full.
MIN_FACES = 1000
#: Surfaces smoother than this (material roughness) are drawn in full: their highlights are
#: narrow enough to show the facets of a simplified mesh (a polished ball under a ring of 16
#: lights showed 15 highlights instead of 16).
MIN_ROUGHNESS = 0.4
#: At most this many halvings (1/64 of the triangles).
MAX_LEVEL = 6
#: Format of the files in the disk cache (bump when what they hold changes).
_CACHE_FORMAT = "lod-1"

_lock = threading.Lock()
_meshes: dict[tuple[str, int], trimesh.Trimesh] = {}
_keys: dict[int, tuple[trimesh.Trimesh, str]] = {}
_spheres: dict[int, tuple[trimesh.Trimesh, np.ndarray, float]] = {}


def cache_dir() -> Path:
    """Folder of simplified meshes: `$SYNTHGAP_CACHE/lod`, else `$XDG_CACHE_HOME/synthgap/lod`,
    else `~/.cache/synthgap/lod`."""
    root = os.environ.get("SYNTHGAP_CACHE")
    if root:
        return Path(root) / "lod"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "synthgap" / "lod"


def bounding_sphere(mesh: trimesh.Trimesh) -> tuple[np.ndarray, float]:
    """`(centre (3,) float64, radius)` of a sphere holding `mesh` (bounding-box centre, metres);
    cached per mesh object."""
    cached = _spheres.get(id(mesh))
    if cached is None or cached[0] is not mesh:
        v = np.asarray(mesh.vertices, dtype=np.float64)
        centre = 0.5 * (v.min(axis=0) + v.max(axis=0))
        radius = float(np.linalg.norm(v - centre, axis=1).max())
        cached = (mesh, centre, radius)
        _spheres[id(mesh)] = cached
    return cached[1], cached[2]


def lod_level(faces: int, radius_px: float) -> int:
    """How many times to halve a mesh of `faces` triangles whose bounding disc has
    `radius_px` pixels radius on screen: 0 (draw it in full) to `MAX_LEVEL`.

    >>> lod_level(40000, 40.0)  # ~2,500 triangles can show: 40000 / 8 = 5000 kept
    3
    >>> lod_level(1500, 5.0)  # too few triangles to simplify
    0
    """
    if faces < 2 * MIN_FACES or not math.isfinite(radius_px) or radius_px <= 0:
        return 0
    budget = max(TRIANGLES_PER_PIXEL * math.pi * radius_px * radius_px, MIN_FACES)
    level = 0
    while level < MAX_LEVEL and (faces >> (level + 1)) >= budget:
        level += 1
    return level


def _content_key(mesh: trimesh.Trimesh) -> str:
    """SHA-256 of the mesh's vertices, faces and vertex colours (cached per mesh object)."""
    cached = _keys.get(id(mesh))
    if cached is not None and cached[0] is mesh:
        return cached[1]
    h = hashlib.sha256(f"{_CACHE_FORMAT} {_simplifier_versions()}".encode())
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    colours = _vertex_colours(mesh)
    if colours is not None:
        h.update(np.ascontiguousarray(colours).tobytes())
    key = h.hexdigest()
    _keys[id(mesh)] = (mesh, key)
    return key


def _simplifier_versions() -> str:
    """Versions of what simplifies (another version may decimate differently: its cache files
    must not be mixed with this one's)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"trimesh {trimesh.__version__} fast-simplification {version('fast-simplification')}"
    except PackageNotFoundError:
        return f"trimesh {trimesh.__version__}"


def _vertex_colours(mesh: trimesh.Trimesh) -> np.ndarray | None:
    vis = mesh.visual
    if isinstance(vis, trimesh.visual.ColorVisuals) and vis.kind in ("vertex", "face"):
        return np.asarray(vis.vertex_colors, dtype=np.uint8)
    return None


def simplifiable(mesh: trimesh.Trimesh) -> bool:
    """Whether `lod_mesh` can simplify `mesh` (not a UV-textured mesh: decimation would not
    keep its UVs)."""
    return not isinstance(mesh.visual, trimesh.visual.TextureVisuals)


def lod_mesh(mesh: trimesh.Trimesh, level: int) -> trimesh.Trimesh:
    """`mesh` with `len(faces) >> level` triangles (vertex colours kept); `mesh` itself for
    level 0. Cached in memory and in `cache_dir()` by content (thread-safe).

    Raises:
        ValueError: `mesh` has a UV texture (see `simplifiable`) or `level` < 0.
    """
    if level < 0:
        raise ValueError(f"level: expected >= 0, got {level}")
    if level == 0:
        return mesh
    key = _content_key(mesh)
    with _lock:
        out = _meshes.get((key, level))
        if out is None:
            out = _load_or_make(mesh, key, level)
            _meshes[(key, level)] = out
    return out


def _load_or_make(mesh: trimesh.Trimesh, key: str, level: int) -> trimesh.Trimesh:
    from synthgap.generators.parts.assets import simplify_mesh

    path = cache_dir() / f"{key[:32]}-{level}.npz"
    try:
        with np.load(path) as data:
            return _from_arrays(data["vertices"], data["faces"], data["colours"])
    except (OSError, KeyError, ValueError):  # not cached yet, or a damaged file: make it
        pass
    out = simplify_mesh(mesh, max(len(mesh.faces) >> level, 4))
    colours = _vertex_colours(out)
    vertices = np.asarray(out.vertices, dtype=np.float64)
    faces = np.asarray(out.faces, dtype=np.int64)
    colours = colours if colours is not None else np.zeros((0, 4), np.uint8)
    try:  # atomic: a concurrent process on a shared cache sees a whole file or none
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, vertices=vertices, faces=faces, colours=colours)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:  # a read-only home or full disk: keep it in memory only
        pass
    # what a later process loads from disk, so this one draws exactly the same mesh
    return _from_arrays(vertices, faces, colours)


def _from_arrays(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray
                 ) -> trimesh.Trimesh:
    out = trimesh.Trimesh(vertices, faces, process=False)
    if len(colours):
        out.visual = trimesh.visual.ColorVisuals(out, vertex_colors=colours)
    return out
