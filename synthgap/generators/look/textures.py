"""Procedural surface textures (parts and support plane) and box-projected UVs. Pure NumPy.

`surface_texture(kind, seed)` makes the colour-modulation, roughness and tangent-space normal
maps of a finish (`brushed`, `machined`, `cast`, `painted`): the first two multiply a part's
sampled base colour and roughness, the third tilts its shading normal (brushed: fine grooves
along x; machined: the tool marks; cast: bumps and pits; painted: orange peel);
`plane_texture(kind, seed)` makes a support-plane colour map (`wood`, `belt`, `steel`).
`box_uv(mesh, tile)` gives a mesh UVs by projecting each face onto the plane of its dominant
normal axis (the "box" form of tri-planar mapping), splitting vertices where the
projection changes. Every map is a pure function of `(kind, seed)` (`TEXTURE_VARIANTS` seeds
per kind are used, so the renderer uploads each map once).

Maps are `uint8`: colour maps sRGB-encoded (pyrender decodes them), roughness maps in the
glTF metallic-roughness layout (G = roughness multiplier, B = metallic multiplier), normal
maps in the glTF tangent-space layout (RGB = (n + 1) / 2, +x along u, +y along v = texel rows,
+z out of the surface).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import trimesh

from synthgap.generators.look.appearance import linear_to_srgb

__all__ = [
    "PLANE_TEXTURES",
    "SURFACE_TEXTURES",
    "TEXTURE_SIZE",
    "TEXTURE_VARIANTS",
    "SurfaceMaps",
    "box_uv",
    "normal_map",
    "plane_texture",
    "surface_texture",
]

#: Finishes of `material.texture`.
SURFACE_TEXTURES = ("brushed", "machined", "cast", "painted")
#: Procedural support-plane textures of `background.texture`.
PLANE_TEXTURES = ("wood", "belt", "steel")
#: Different maps per kind (the sampled `texture_seed` is below this).
TEXTURE_VARIANTS = 8
#: Edge of a generated map, texels.
TEXTURE_SIZE = 256


def _noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """`(size, size) float32` smooth tileable noise in about [-1, 1], features ~`scale` texels."""
    n = max(2, round(size / scale))
    coarse = rng.standard_normal((n, n)).astype(np.float32)
    tiled = np.tile(coarse, (3, 3))  # resize the 3x3 tiling, keep the middle: wraps smoothly
    big = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
    out = big[size:2 * size, size:2 * size]
    return out / max(float(np.abs(out).max()), 1e-6)


def _streaks(rng: np.random.Generator, size: int, length: float) -> np.ndarray:
    """`(size, size) float32` in about [-1, 1]: fine lines along x (blurred along x only)."""
    raw = rng.standard_normal((size, size)).astype(np.float32)
    k = max(3, int(length) | 1)
    blurred = cv2.blur(np.tile(raw, (1, 3)), (k, 1))[:, size:2 * size]
    return blurred / max(float(np.abs(blurred).max()), 1e-6)


def _pack(colour: np.ndarray, rough: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rgb = linear_to_srgb(np.clip(colour, 0.0, 1.0))
    base = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    mr = np.zeros((*rough.shape, 3), np.uint8)
    mr[:, :, 1] = np.clip(np.rint(rough * 255.0), 1, 255).astype(np.uint8)
    mr[:, :, 2] = 255
    return np.ascontiguousarray(base), mr


class SurfaceMaps(NamedTuple):
    """The maps of one procedural finish, each `(size, size, 3) uint8`.

    Attributes:
        color: sRGB grey modulation (linear 0.6-1) of the base colour.
        metallic_roughness: G = roughness multiplier (0.3-1), B = 255 (metallic x 1).
        normal: tangent-space normal map, RGB = (n + 1) / 2 (flat = (128, 128, 255)).
    """

    color: np.ndarray
    metallic_roughness: np.ndarray
    normal: np.ndarray


def normal_map(height: np.ndarray, slope: float) -> np.ndarray:
    """Tangent-space normal map of a tileable height field.

    Args:
        height: `(h, w) float32` height, about [-1, 1]; wraps at the edges.
        slope: surface slope per unit of height per texel (the tilt at strength 1).

    Returns:
        `(h, w, 3) uint8`, RGB = (n + 1) / 2 with n = normalize(-slope dh/dx, -slope dh/dy, 1);
        x along columns (u), y along rows (v).
    """
    h = np.asarray(height, np.float32)
    dx = 0.5 * (np.roll(h, -1, axis=1) - np.roll(h, 1, axis=1))
    dy = 0.5 * (np.roll(h, -1, axis=0) - np.roll(h, 1, axis=0))
    n = np.stack([-slope * dx, -slope * dy, np.ones_like(h)], axis=2)
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    return np.ascontiguousarray(np.clip(np.rint((n + 1.0) * 127.5), 0, 255).astype(np.uint8))


def surface_texture(kind: str, seed: int, size: int = TEXTURE_SIZE) -> SurfaceMaps:
    """Maps of a surface finish (`SurfaceMaps`: colour, metallic-roughness, normal).

    The colour map is a grey modulation (linear values 0.6-1) multiplied by the material's
    base colour; the roughness map's G channel (0.3-1) multiplies its roughness; the normal
    map's relief follows the same pattern (grooves where a brushed streak is dark, the tool
    marks, cast bumps and pits, the paint's orange peel), its tilt scaled in the shader by
    the material's `normal_strength`.

    Args:
        kind: one of `SURFACE_TEXTURES`.
        seed: variant, an integer >= 0.
        size: map edge in texels.

    Raises:
        ValueError: unknown `kind`.
    """
    rng = np.random.default_rng([seed, SURFACE_TEXTURES.index(kind)]
                                if kind in SURFACE_TEXTURES else [seed])
    if kind == "brushed":  # long fine streaks, rougher across them
        s = _streaks(rng, size, size / 3)
        grey = 0.85 + 0.12 * s + 0.03 * _noise(rng, size, 32)
        rough = 0.75 + 0.2 * np.abs(s)
        height, slope = s, 1.5  # fine grooves along x
    elif kind == "machined":  # regular turning/milling marks with some chatter
        x = np.arange(size, dtype=np.float32)[None, :] * (2 * np.pi / (size / 24))
        wobble = 0.6 * _noise(rng, size, 48)
        marks = np.sin(x + wobble)
        grey = 0.85 + 0.1 * marks + 0.03 * _noise(rng, size, 8)
        rough = 0.6 + 0.3 * (0.5 + 0.5 * marks)
        height, slope = marks, 0.75  # the straight tool marks (one period ~11 texels)
    elif kind == "cast":  # blotchy, pitted, rough
        blotch = 0.6 * _noise(rng, size, 40) + 0.4 * _noise(rng, size, 10)
        pits = (rng.random((size, size)) < 0.004).astype(np.float32)
        pits = cv2.GaussianBlur(pits, (0, 0), 1.2) * 8.0
        grey = 0.78 + 0.12 * blotch - 0.25 * np.clip(pits, 0, 1)
        rough = 0.9 + 0.1 * blotch
        bumps = 0.5 * _noise(rng, size, 10) + 0.5 * _noise(rng, size, 4)
        height, slope = bumps - 0.6 * np.clip(pits, 0, 1), 3.0  # bumps and pits
    elif kind == "painted":  # nearly uniform, a faint orange peel
        peel = _noise(rng, size, 6)
        grey = 0.96 + 0.03 * peel
        rough = 0.85 + 0.1 * peel
        height, slope = peel, 1.0  # orange peel
    else:
        raise ValueError(f"texture: expected one of {', '.join(SURFACE_TEXTURES)}, got {kind!r}")
    grey = np.clip(grey, 0.6, 1.0)
    base, mr = _pack(np.repeat(grey[:, :, None], 3, axis=2), np.clip(rough, 0.3, 1.0))
    return SurfaceMaps(base, mr, normal_map(height, slope))


def plane_texture(kind: str, seed: int, size: int = TEXTURE_SIZE) -> np.ndarray:
    """`(size, size, 3) uint8` sRGB colour map of a support plane (`wood`, `belt`, `steel`).

    Raises:
        ValueError: unknown `kind`.
    """
    rng = np.random.default_rng([seed, 100 + (PLANE_TEXTURES.index(kind)
                                              if kind in PLANE_TEXTURES else 0)])
    if kind == "wood":  # grain along x: rings distorted by noise
        y = np.arange(size, dtype=np.float32)[:, None] * np.ones((1, size), np.float32)
        grain = np.sin((y / size * 14 + 1.5 * _noise(rng, size, 64)) * 2 * np.pi)
        fine = _streaks(rng, size, size / 4)
        t = 0.5 + 0.35 * grain + 0.15 * fine
        light, dark = np.array([0.55, 0.36, 0.18]), np.array([0.30, 0.17, 0.07])
        colour = dark + (light - dark) * np.clip(t, 0, 1)[:, :, None]
    elif kind == "belt":  # dark rubber: fine grit and faint transverse ribs
        ribs = 0.5 + 0.5 * np.sin(np.arange(size, dtype=np.float32)[None, :]
                                  * (2 * np.pi / 16))
        grit = rng.random((size, size)).astype(np.float32)
        v = 0.035 + 0.012 * ribs + 0.02 * grit + 0.01 * _noise(rng, size, 32)
        colour = np.repeat(v[:, :, None], 3, axis=2) * np.array([1.0, 1.0, 1.05])
    elif kind == "steel":  # brushed plate
        s = _streaks(rng, size, size / 2)
        v = 0.42 + 0.06 * s + 0.04 * _noise(rng, size, 64)
        colour = np.repeat(v[:, :, None], 3, axis=2) * np.array([1.0, 1.0, 1.03])
    else:
        raise ValueError(f"background.texture: expected one of {', '.join(PLANE_TEXTURES)} or "
                         f"an image file, got {kind!r}")
    rgb = linear_to_srgb(np.clip(colour, 0.0, 1.0))
    return np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))


def box_uv(mesh: trimesh.Trimesh, tile: float) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Box-projected UVs: each face takes the two coordinates across its dominant normal axis.

    Args:
        mesh: the mesh to texture (its vertex normals are kept per vertex).
        tile: metres per texture repeat (> 0).

    Returns:
        `(mesh2, uv (n2, 2) float32)`: `mesh2` has the faces of `mesh` in the same order,
        with each vertex split once per projection axis its faces use, and `vertex_normals`
        copied from `mesh`.

    Raises:
        ValueError: `tile` <= 0.
    """
    if not tile > 0:
        raise ValueError(f"texture_scale must be > 0 metres, got {tile}")
    axis = np.abs(mesh.face_normals).argmax(axis=1)  # (F,)
    corner_v = mesh.faces.ravel()
    corner_a = np.repeat(axis, 3)
    key = corner_v.astype(np.int64) * 3 + corner_a
    uniq, inverse = np.unique(key, return_inverse=True)
    src = uniq // 3
    ax = uniq % 3
    verts = mesh.vertices[src]
    drop = np.array([[1, 2], [0, 2], [0, 1]])[ax]  # the two other axes
    uv = np.take_along_axis(verts, drop, axis=1) / tile
    faces = inverse.reshape(-1, 3)
    out = trimesh.Trimesh(verts, faces, vertex_normals=mesh.vertex_normals[src], process=False)
    return out, uv.astype(np.float32)
