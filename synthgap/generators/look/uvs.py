"""UV atlases by xatlas for procedural finishes on meshes without UVs (`material.uv: xatlas`).

`atlas_uv(mesh)` unwraps a mesh into charts packed in [0, 1]^2 (xatlas.parametrize: slow on
big meshes, so callers compute it once per mesh); `atlas_tiled(mesh, atlas, tile)` turns
it into a mesh and UVs for a repeating texture of `tile` metres per repeat, the same contract
as `textures.box_uv`. xatlas is imported on first use.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import trimesh

__all__ = ["MAX_XATLAS_FACES", "Atlas", "atlas_tiled", "atlas_uv"]

#: Most faces `material.uv: xatlas` unwraps: xatlas takes tens of seconds and then often fails
#: on bigger meshes (327k faces: 22 s, then an error); `uv: box` is instant at any size.
#: `validate` (`synthgap.generators.run.preflight`) says so before any render.
MAX_XATLAS_FACES = 100_000


class Atlas(NamedTuple):
    """An xatlas unwrap of a mesh.

    Attributes:
        vmapping: `(n2,) int64` index into the mesh's vertices of each atlas vertex (a
            vertex on a chart seam appears once per chart).
        faces: `(F, 3) int64` atlas vertex indices of the mesh's faces, in the same order.
        uv: `(n2, 2) float32` in [0, 1], one per atlas vertex.
        metres_per_uv: surface length (m) that one unit of `uv` spans, on average
            (sqrt of the mesh area over the charts' UV area).
    """

    vmapping: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    metres_per_uv: float


def atlas_uv(mesh: trimesh.Trimesh) -> Atlas:
    """Unwrap `mesh` with xatlas (`xatlas.parametrize`, default chart and pack options).

    Args:
        mesh: a triangle mesh, metres.

    Raises:
        ValueError: xatlas is not installed, fails on the mesh, or returns UVs that do not
            cover its faces (the message says to use `uv: box`).
    """
    try:
        import xatlas
    except ImportError as exc:
        raise ValueError(f"uv: xatlas needs the xatlas package (pip install xatlas): {exc}; "
                         "or use uv: box") from None
    if len(mesh.faces) == 0:
        raise ValueError("uv: xatlas: the mesh has no faces")
    if len(mesh.faces) > MAX_XATLAS_FACES:  # `validate` says so too, before any render
        raise ValueError(f"uv: xatlas cannot unwrap a mesh of {len(mesh.faces)} faces in "
                         f"useful time (at most {MAX_XATLAS_FACES}); use uv: box for this part")
    try:
        vmapping, faces, uv = xatlas.parametrize(
            np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            np.ascontiguousarray(mesh.faces, dtype=np.uint32))
    except Exception as exc:  # xatlas raises RuntimeError/ValueError from C++
        raise ValueError(f"uv: xatlas failed on a mesh of {len(mesh.faces)} faces "
                         f"({type(exc).__name__}: {exc}); use uv: box for this part") from None
    vmapping = np.asarray(vmapping, np.int64)
    faces = np.asarray(faces, np.int64)
    uv = np.asarray(uv, np.float32)
    if faces.shape != mesh.faces.shape or not np.array_equal(vmapping[faces], mesh.faces) \
            or not np.all(np.isfinite(uv)):
        raise ValueError(f"uv: xatlas returned an atlas that does not match the mesh's "
                         f"{len(mesh.faces)} faces; use uv: box for this part")
    corners = uv[faces]  # (F, 3, 2)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    uv_area = 0.5 * float(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum())
    if not uv_area > 0:
        raise ValueError("uv: xatlas returned charts of zero area; use uv: box for this part")
    return Atlas(vmapping, faces, uv, float(np.sqrt(mesh.area / uv_area)))


def atlas_tiled(mesh: trimesh.Trimesh, atlas: Atlas, tile: float
                ) -> tuple[trimesh.Trimesh, np.ndarray]:
    """The mesh split along the atlas seams and its UVs in texture repeats.

    Args:
        mesh: the mesh `atlas` was made from (its vertex normals are kept per vertex).
        atlas: `atlas_uv(mesh)`.
        tile: metres per texture repeat (> 0).

    Returns:
        `(mesh2, uv (n2, 2) float32)`: `mesh2` has the faces of `mesh` in the same order (same
        corner positions), one vertex per atlas vertex, `vertex_normals` copied from `mesh`;
        `uv` is the atlas UV times `metres_per_uv / tile`.

    Raises:
        ValueError: `tile` <= 0.
    """
    if not tile > 0:
        raise ValueError(f"texture_scale must be > 0 metres, got {tile}")
    src = atlas.vmapping
    out = trimesh.Trimesh(mesh.vertices[src], atlas.faces,
                          vertex_normals=mesh.vertex_normals[src], process=False)
    return out, (atlas.uv * (atlas.metres_per_uv / tile)).astype(np.float32)
