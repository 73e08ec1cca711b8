"""Surface defect geometry (pure trimesh, no OpenGL); for the defects that change the part's
shape (`chip`, `missing_hole`, `extra_hole`) see `synthgap.generators.defects.geometry`.

A defect is drawn as a thin patch that hugs the part surface, lifted `SURFACE_OFFSET_M` along
the surface normal so the depth test puts it in front of the part without z-fighting. The
renderer gives each patch its own segmentation id, which becomes the defect mask.

* `scratch`: a strip `length_mm` long and `width_mm` wide along `direction`, its vertices
  snapped onto the surface (so it follows gentle curvature); it shows `color` (bare metal).
* `dent`: a disc of `radius_mm` snapped onto the surface; its vertex normals are those of a
  paraboloid depression `depth_mm` deep, so the lighting shades it like a dent.
* `stain` (rust, oil, paint): an irregular blob of about `radius_mm` snapped onto the surface,
  showing `color` (rust brown by default) with a matt finish.
* `crack`: a thin dark zig-zag line `length_mm` long and `width_mm` wide along `direction`
  with one or two side branches, snapped onto the surface.

The irregular outline of a stain and the path of a crack are a pure function of the defect's
sampled parameters (seeded from its `direction`), so an image is still reproducible.

Defect ids in an image are 1-based and follow `iter_defects(params)`: part instances in order,
then each instance's defects in order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import trimesh

from synthgap.generators.params import DefectParams, SampleParams

__all__ = ["DEFECT_TYPES", "LAYER_STEP_M", "SURFACE_OFFSET_M", "defect_mesh", "iter_defects"]

#: How far a defect patch floats above the surface (metres): far above the depth buffer's
#: resolution at working distances (~6 µm at 1 m with znear = 1 cm), invisible in the image.
SURFACE_OFFSET_M = 1e-4
#: Extra lift per defect layer, so overlapping defects of one part never z-fight: the later
#: one is on top, whatever order the renderer draws them in.
LAYER_STEP_M = 2e-5
DEFECT_TYPES = ("scratch", "dent", "stain", "crack")


def iter_defects(params: SampleParams) -> Iterator[tuple[int, int, DefectParams]]:
    """Yield `(defect_id, instance_id, defect)` for every defect of an image, ids 1-based."""
    did = 0
    for k, inst in enumerate(params.parts):
        for d in inst.defects:
            did += 1
            yield did, k + 1, d


def defect_mesh(defect: DefectParams, part: trimesh.Trimesh, *,
                layer: int = 0) -> trimesh.Trimesh:
    """The patch of one defect, in the part's object frame (metres).

    Args:
        defect: the sampled defect (position/normal/direction in the object frame, sizes mm).
        part: the part's mesh (object frame, metres); the patch is snapped onto it.
        layer: stacking order among the part's defects (0 = lowest); the patch floats
            `SURFACE_OFFSET_M + layer * LAYER_STEP_M` above the surface.

    Returns:
        A small open mesh whose faces point away from the surface, with its `vertex_normals`
        set (for dents: the normals of the depression).

    Raises:
        ValueError: unknown type, missing or non-positive size (names the key).
    """
    if layer < 0:
        raise ValueError(f"defect layer must be >= 0, got {layer}")
    lift = SURFACE_OFFSET_M + layer * LAYER_STEP_M
    if defect.type == "scratch":
        length = _size(defect, "length_mm") / 1000.0
        width = _size(defect, "width_mm") / 1000.0
        return _scratch(defect, part, length, width, lift)
    if defect.type == "dent":
        radius = _size(defect, "radius_mm") / 1000.0
        depth = _size(defect, "depth_mm") / 1000.0
        return _dent(defect, part, radius, depth, lift)
    if defect.type == "stain":
        return _stain(defect, part, _size(defect, "radius_mm") / 1000.0, lift)
    if defect.type == "crack":
        length = _size(defect, "length_mm") / 1000.0
        width = _size(defect, "width_mm") / 1000.0
        return _crack(defect, part, length, width, lift)
    if defect.type in ("chip", "missing_hole", "extra_hole"):
        raise ValueError(f"{defect.type} is a geometry defect, not a surface patch: "
                         "synthgap.generators.defects.geometry.apply_geometry_defects draws it")
    raise ValueError(f"defect type {defect.type!r} is not known; expected one of {DEFECT_TYPES}")


def _size(defect: DefectParams, key: str) -> float:
    value = defect.size.get(key)
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{defect.type} defect: size[{key!r}] must be a positive number of "
                         f"millimetres, got {value!r} (size = {defect.size})")
    return float(value)


def _frame(defect: DefectParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normal n, tangent t (the scratch direction, made orthogonal to n), side = n × t."""
    n = np.asarray(defect.normal, dtype=float)
    norm = np.linalg.norm(n)
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"{defect.type} defect: normal must be a non-zero vector, got "
                         f"{defect.normal}")
    n = n / norm
    t = np.asarray(defect.direction, dtype=float)
    t = t - np.dot(t, n) * n
    if np.linalg.norm(t) < 1e-9:  # direction along the normal: any tangent will do
        t = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    t = t / np.linalg.norm(t)
    return n, t, np.cross(n, t)


def _snap(points: np.ndarray, part: trimesh.Trimesh, n: np.ndarray) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Closest surface points and their face normals (flipped to agree with `n`)."""
    closest, _, tri = trimesh.proximity.closest_point(part, points)
    normals = part.face_normals[tri]
    normals = np.where((normals @ n)[:, None] < 0, -normals, normals)
    return closest, normals


def _scratch(defect: DefectParams, part: trimesh.Trimesh, length: float, width: float,
             lift: float) -> trimesh.Trimesh:
    n, t, side = _frame(defect)
    p = np.asarray(defect.position, dtype=float)
    segments = int(np.clip(np.ceil(length / 0.5e-3), 1, 32))
    s = np.linspace(-length / 2, length / 2, segments + 1)
    centre = p + s[:, None] * t
    verts = np.concatenate([centre - side * width / 2, centre + side * width / 2])
    surf, normals = _snap(verts, part, n)
    verts = surf + normals * lift
    m = segments + 1
    quads: list[list[int]] = []
    for i in range(segments):
        a, b, c, d = i, i + 1, m + i, m + i + 1
        quads += [[a, b, d], [a, d, c]]
    faces = _face_out(np.array(quads), verts, normals)
    return trimesh.Trimesh(verts, faces, vertex_normals=normals, process=False)


def _dent(defect: DefectParams, part: trimesh.Trimesh, radius: float, depth: float,
          lift: float) -> trimesh.Trimesh:
    n, t, side = _frame(defect)
    p = np.asarray(defect.position, dtype=float)
    rings, sectors = 4, 24
    ang = np.linspace(0, 2 * np.pi, sectors, endpoint=False)
    radii = np.linspace(radius / rings, radius, rings)
    offs = np.array([np.zeros(3)]
                    + [r * (np.cos(a) * t + np.sin(a) * side) for r in radii for a in ang])
    surf, normals = _snap(p + offs, part, n)
    # Paraboloid depression h(s) = -depth (1 - s²/r²): its slope 2·depth·s/r² tilts the normal
    # towards the centre of the dent.
    slope = 2.0 * depth / radius**2
    tilted = normals - slope * offs
    tilted /= np.linalg.norm(tilted, axis=1, keepdims=True)
    verts = surf + normals * lift
    faces = _face_out(_disc_faces(sectors, rings), verts, normals)
    return trimesh.Trimesh(verts, faces, vertex_normals=tilted, process=False)


def _disc_faces(sectors: int, rings: int) -> np.ndarray:
    """Triangles of a disc mesh: vertex 0 at the centre, then `rings` rings of `sectors`
    vertices each (inner first); `(sectors * (2 * rings - 1), 3) int64`."""
    faces = [[0, 1 + (j + 1) % sectors, 1 + j] for j in range(sectors)]
    for i in range(rings - 1):
        a0, b0 = 1 + i * sectors, 1 + (i + 1) * sectors
        for j in range(sectors):
            j1 = (j + 1) % sectors
            faces += [[a0 + j, a0 + j1, b0 + j1], [a0 + j, b0 + j1, b0 + j]]
    return np.array(faces)


def _shape_rng(defect: DefectParams) -> np.random.Generator:
    """A generator seeded by the defect's sampled direction: shapes are pure functions of it."""
    raw = np.ascontiguousarray(defect.direction, dtype=np.float64).tobytes()
    return np.random.default_rng(np.frombuffer(raw, dtype=np.uint32).tolist())


def _stain(defect: DefectParams, part: trimesh.Trimesh, radius: float,
           lift: float) -> trimesh.Trimesh:
    n, t, side = _frame(defect)
    p = np.asarray(defect.position, dtype=float)
    rng = _shape_rng(defect)
    sectors = 32
    ang = np.linspace(0, 2 * np.pi, sectors, endpoint=False)
    wobble = np.ones(sectors)
    for k in (2, 3, 5):  # a few low harmonics make the blob irregular but star-shaped
        wobble += rng.uniform(0.05, 0.25) / k * 2 * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    r = radius * np.clip(wobble, 0.4, 1.6)
    rings = 3
    offs = [np.zeros(3)] + [f * r[j] * (np.cos(a) * t + np.sin(a) * side)
                            for f in np.linspace(1 / rings, 1.0, rings)
                            for j, a in enumerate(ang)]
    surf, normals = _snap(p + np.array(offs), part, n)
    verts = surf + normals * lift
    faces = _face_out(_disc_faces(sectors, rings), verts, normals)
    return trimesh.Trimesh(verts, faces, vertex_normals=normals, process=False)


def _polyline_strip(points: np.ndarray, width: float, n: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices `(2k, 3)` and faces of a strip of `width` along the `(k, 3)` polyline."""
    d = np.gradient(points, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    side = np.cross(n, d)
    verts = np.concatenate([points - side * width / 2, points + side * width / 2])
    k = len(points)
    faces = []
    for i in range(k - 1):
        a, b, c, e = i, i + 1, k + i, k + i + 1
        faces += [[a, b, e], [a, e, c]]
    return verts, np.array(faces)


def _crack(defect: DefectParams, part: trimesh.Trimesh, length: float, width: float,
           lift: float) -> trimesh.Trimesh:
    n, t, side = _frame(defect)
    p = np.asarray(defect.position, dtype=float)
    rng = _shape_rng(defect)
    steps = int(np.clip(np.ceil(length / 0.4e-3), 4, 40))
    s = np.linspace(-length / 2, length / 2, steps + 1)
    jag = np.cumsum(rng.normal(0.0, 0.12 * length / np.sqrt(steps), steps + 1))
    jag -= np.linspace(jag[0], jag[-1], steps + 1)  # ends on the axis: length is kept
    main = p + s[:, None] * t + jag[:, None] * side
    strips = [(main, width)]
    for _ in range(int(rng.integers(1, 3))):  # side branches, thinner and shorter
        i = int(rng.integers(1, steps))
        angle = rng.uniform(0.4, 1.0) * rng.choice([-1.0, 1.0])
        direction = np.cos(angle) * t + np.sin(angle) * side
        bl = rng.uniform(0.2, 0.4) * length
        m = max(2, steps // 3)
        strips.append((main[i] + np.linspace(0.0, bl, m + 1)[:, None] * direction, width * 0.6))
    verts, faces, offset = [], [], 0
    for pts, w in strips:
        v, f = _polyline_strip(pts, w, n)
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
    allv = np.concatenate(verts)
    surf, normals = _snap(allv, part, n)
    allv = surf + normals * lift
    faces_out = _face_out(np.concatenate(faces), allv, normals)
    return trimesh.Trimesh(allv, faces_out, vertex_normals=normals, process=False)


def _face_out(faces: np.ndarray, verts: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Flip triangles whose winding points into the surface (back faces are culled)."""
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("ij,ij->i", fn, normals[faces].mean(axis=1)) < 0
    faces = faces.copy()
    faces[inward] = faces[inward][:, ::-1]
    return faces
