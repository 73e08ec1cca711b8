"""A mesh's own appearance (vertex colours, UV textures) and the colour jitter applied to it.

Pure NumPy/OpenCV, no OpenGL: `mesh_appearance(mesh)` reads what trimesh loaded (PLY vertex
colours, face colours, OBJ+MTL textures, glTF/GLB metallic-roughness materials with base
colour, metallic-roughness and normal textures, STEP body colours) into a `MeshAppearance`;
the renderer draws it. `jitter_colors` is the brightness/hue/saturation jitter that
`material: {appearance: mesh, ...}` samples.

Colour spaces: files store vertex colours and colour textures display-encoded (sRGB, as
glTF specifies and as every PLY/OBJ exporter writes them). `MeshAppearance.vertex_colors`
holds them converted to *linear* RGB, because pyrender multiplies its shaded linear colour by
the vertex colour without decoding it; textures stay sRGB because pyrender's shader decodes
them (`srgb_to_linear`). Factors (glTF `baseColorFactor`) are linear, as glTF defines them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import trimesh

from synthgap.generators.params import vec4

__all__ = [
    "MESH_METALLIC",
    "MESH_ROUGHNESS",
    "MeshAppearance",
    "jitter_colors",
    "linear_to_srgb",
    "mesh_appearance",
    "srgb_to_linear",
    "vertex_arrays",
]

#: Metalness and roughness of a mesh whose file gives colours but no material (PLY vertex
#: colours, MTL without a glTF material): painted or plastic surfaces.
MESH_METALLIC = 0.0
MESH_ROUGHNESS = 0.7


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear (IEC 61966-2-1, as pyrender's shader decodes).

    Args:
        c: any shape, float, in [0, 1].

    Returns:
        Same shape, float32.
    """
    c = np.asarray(c, dtype=np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear values in [0, 1] -> sRGB-encoded (the inverse of `srgb_to_linear`), float32."""
    c = np.clip(np.asarray(c, dtype=np.float32), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92,
                    1.055 * c ** (1 / 2.4) - 0.055).astype(np.float32)


@dataclass(frozen=True, eq=False)
class MeshAppearance:
    """What a mesh file says its surface looks like.

    Attributes:
        kind: `vertex` (per-vertex colours) or `texture` (UV-mapped base colour texture).
        base_color_factor: `(4,)` linear RGBA factor the colours are multiplied by.
        metallic: metalness in [0, 1] (glTF `metallicFactor`, else `MESH_METALLIC`).
        roughness: roughness in [0, 1] (glTF `roughnessFactor`, else from the MTL `Ns`, else
            `MESH_ROUGHNESS`).
        base_color_texture: `(h, w, 3|4) uint8` sRGB, or None (`vertex` kind).
        metallic_roughness_texture: `(h, w, 3|4) uint8` (glTF: G = roughness, B = metallic),
            or None.
        normal_texture: `(h, w, 3) uint8` tangent-space normal map, or None.
    """

    kind: str
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    metallic: float = MESH_METALLIC
    roughness: float = MESH_ROUGHNESS
    base_color_texture: np.ndarray | None = None
    metallic_roughness_texture: np.ndarray | None = None
    normal_texture: np.ndarray | None = None


def _image(img: object) -> np.ndarray | None:
    """A PIL image / array as a contiguous `(h, w, 3|4) uint8` array (grey -> RGB)."""
    if img is None:
        return None
    a = np.asarray(img.convert("RGBA") if getattr(img, "mode", "RGBA") in ("P", "LA", "L", "I")
                   and hasattr(img, "convert") else img)
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.dtype.kind == "f" else 1.0), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4 and (a[:, :, 3] == 255).all():
        a = a[:, :, :3]
    return np.ascontiguousarray(a)


def _factor(value: float | None, default: float) -> float:
    """A material factor clipped to [0, 1], or `default` when the material has none."""
    if value is None:
        return default
    return float(np.clip(float(value), 0.0, 1.0))


def _rgba(value: object) -> tuple[float, float, float, float]:
    """A trimesh colour (uint8 RGBA or floats) as linear float RGBA (trimesh stores glTF's
    linear `baseColorFactor` as uint8 of the same numbers)."""
    a = np.asarray(value, dtype=np.float64).ravel()
    if np.asarray(value).dtype.kind in "iu" or a.max() > 1.0:
        a = a / 255.0
    a = np.concatenate([a, np.ones(4 - len(a))]) if len(a) < 4 else a[:4]
    return vec4(np.clip(a, 0.0, 1.0))


def mesh_appearance(mesh: trimesh.Trimesh) -> MeshAppearance | None:
    """The mesh's own appearance, or None when the file gives none (STL, plain OBJ/PLY).

    Args:
        mesh: a mesh as `trimesh.load` returned it (its `visual` is read, not changed).

    Returns:
        `vertex` kind for vertex or face colours and for a material with a colour but no
        texture (e.g. a STEP body colour); `texture` kind for UV coordinates plus a base
        colour image; None when there is nothing to draw but the scene's material.
    """
    vis = mesh.visual
    if vis is None:
        return None
    if isinstance(vis, trimesh.visual.ColorVisuals):
        if vis.kind not in ("vertex", "face"):
            return None
        return MeshAppearance(kind="vertex")
    if not isinstance(vis, trimesh.visual.TextureVisuals):
        return None
    mat = vis.material
    if mat is None:
        return None
    has_uv = vis.uv is not None and len(vis.uv) == len(mesh.vertices)
    if isinstance(mat, trimesh.visual.material.PBRMaterial):
        factor = _rgba(mat.baseColorFactor) if mat.baseColorFactor is not None else \
            (1.0, 1.0, 1.0, 1.0)
        tex = _image(mat.baseColorTexture) if has_uv else None
        return MeshAppearance(
            kind="texture" if tex is not None else "vertex",
            base_color_factor=factor,
            metallic=_factor(mat.metallicFactor, 1.0 if tex is not None else MESH_METALLIC),
            roughness=_factor(mat.roughnessFactor, 1.0 if tex is not None else MESH_ROUGHNESS),
            base_color_texture=tex,
            metallic_roughness_texture=_image(mat.metallicRoughnessTexture) if has_uv else None,
            normal_texture=_image(mat.normalTexture) if has_uv else None)
    if isinstance(mat, trimesh.visual.material.SimpleMaterial):
        tex = _image(mat.image) if has_uv else None
        ns = mat.kwargs.get("Ns") if isinstance(getattr(mat, "kwargs", None), dict) else None
        if isinstance(ns, list | tuple | np.ndarray):
            ns = float(np.ravel(ns)[0])
        rough = MESH_ROUGHNESS if ns is None else float((2.0 / (float(ns) + 2.0)) ** 0.25)
        # With a `map_Kd` the texture is the colour: exporters write all sorts of `Kd` beside
        # it (trimesh 0.4, Blender 0.8) and viewers such as MeshLab show the texture as is.
        # Without one, `Kd` (display-encoded like a texture) is the colour.
        kd = np.asarray(_rgba(mat.diffuse))
        if tex is not None:
            kd[:3] = 1.0
        factor = vec4((*srgb_to_linear(kd[:3]), kd[3]))
        return MeshAppearance(kind="texture" if tex is not None else "vertex",
                              base_color_factor=factor,
                              metallic=MESH_METALLIC, roughness=float(np.clip(rough, 0, 1)),
                              base_color_texture=tex)
    return None


def vertex_arrays(mesh: trimesh.Trimesh, appearance: MeshAppearance
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-vertex colour and UV arrays of `mesh` for drawing `appearance`.

    Args:
        mesh: the mesh to draw (e.g. the smooth-shaded copy of the part's mesh, whose visual
            trimesh carries along).
        appearance: `mesh_appearance` of the part.

    Returns:
        `(colors (n, 3) float32 linear RGB or None, uv (n, 2) float32 or None)`: colours for
        the `vertex` kind (vertex colours, face colours averaged at vertices, or white for a
        material colour without texture, which `base_color_factor` then tints), UVs for
        `texture`.

    Raises:
        ValueError: the mesh's visual does not match `appearance` (it lost its colours or UVs).
    """
    n = len(mesh.vertices)
    vis = mesh.visual
    if appearance.kind == "texture":
        uv = getattr(vis, "uv", None)
        if uv is None or len(uv) != n:
            raise ValueError("the mesh lost its UV coordinates (a texture needs one per vertex)")
        return None, np.ascontiguousarray(uv, dtype=np.float32)
    if isinstance(vis, trimesh.visual.ColorVisuals) and vis.kind in ("vertex", "face"):
        rgb = np.asarray(vis.vertex_colors, dtype=np.float32)[:, :3] / 255.0
        if len(rgb) != n:
            raise ValueError(f"the mesh has {len(rgb)} vertex colours for {n} vertices")
        return np.ascontiguousarray(srgb_to_linear(rgb)), None
    if isinstance(vis, trimesh.visual.TextureVisuals):  # a material colour, no texture
        return np.ones((n, 3), np.float32), None
    raise ValueError("the mesh lost its vertex colours")


def jitter_colors(rgb: np.ndarray, *, hue_shift: float = 0.0, saturation: float = 1.0
                  ) -> np.ndarray:
    """Rotate the hue and scale the saturation of colours (HSV of the given values).

    Args:
        rgb: `(..., 3)` float RGB in [0, 1] (linear vertex colours or decoded texels) or
            `(..., 3)` uint8 (texture texels, returned as uint8).
        hue_shift: rotation of the hue, a fraction of the colour circle (0.5 = opposite).
        saturation: multiplier of the HSV saturation (0 = grey, 1 = unchanged), clipped to 1.

    Returns:
        Same shape and dtype as `rgb`; the identity when `hue_shift == 0` and
        `saturation == 1` (an exact copy).
    """
    a = np.asarray(rgb)
    if hue_shift == 0.0 and saturation == 1.0:
        return a.copy()
    is_u8 = a.dtype == np.uint8
    f = a.astype(np.float32) / 255.0 if is_u8 else a.astype(np.float32)
    flat = np.ascontiguousarray(f.reshape(-1, 1, 3))
    hsv = cv2.cvtColor(flat, cv2.COLOR_RGB2HSV)  # H in degrees [0, 360)
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] + 360.0 * hue_shift, 360.0)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * saturation, 0.0, 1.0)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(f.shape)
    if is_u8:
        u8: np.ndarray = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
        return u8
    f_out: np.ndarray = np.clip(out, 0.0, 1.0).astype(a.dtype if a.dtype.kind == "f"
                                                       else np.float32)
    return f_out
