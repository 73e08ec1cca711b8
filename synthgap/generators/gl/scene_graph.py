"""The pyrender scene of a `Renderer`: nodes made once per part, distractor and plane, reused.

A `SceneGraph` holds a pyrender `Scene` and the nodes uploaded to it: each part's geometry
once per (part, instance slot, look), unit distractor primitives, the support plane, uploaded
texture maps (least recently used of 64 dropped), and the nodes of one frame only (defects,
capsules, recoloured parts) and of one pass (lights). A frame hides what it does not use
and poses what it does; the GL upload happens on the first draw.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import trimesh

import synthgap.generators.gl.pyrender_compat as compat
from synthgap.generators.defects.geometry import (
    DefectedMesh,
    corner_attributes,
    face_correspondence,
)
from synthgap.generators.look.appearance import (
    MeshAppearance,
    jitter_colors,
    mesh_appearance,
    vertex_arrays,
)
from synthgap.generators.look.environment import environment_layers, load_environment
from synthgap.generators.look.lighting import Emitter
from synthgap.generators.look.textures import PLANE_TEXTURES, box_uv, plane_texture, surface_texture
from synthgap.generators.look.uvs import Atlas, atlas_tiled, atlas_uv
from synthgap.generators.params import MaterialParams

__all__ = ["DEFECT_FINISH", "Look", "SceneGraph", "material", "prim_from", "upload_texture"]

log = logging.getLogger(__name__)

#: (metallic, roughness) of each defect type's patch: scratches and dents show bare metal.
DEFECT_FINISH = {"scratch": (0.9, 0.35), "dent": (0.9, 0.35), "stain": (0.0, 0.9),
                 "crack": (0.0, 1.0)}


class SceneGraph:
    """The nodes of one pyrender scene, made once and reused across frames.

    Args:
        pr: the pyrender module (`context.open_offscreen`).
        scene: the pyrender `Scene` the nodes live in.
    """

    def __init__(self, pr: ModuleType, scene: Any) -> None:
        self.pr = pr
        self.scene = scene
        # (part name, slot, look kind, texture tile) -> (node, primitive, mesh it was made
        # from, object-frame corners)
        self._part_slots: dict[tuple[str, int, str, float],
                               tuple[Any, Any, trimesh.Trimesh, np.ndarray]] = {}
        self._maps: OrderedDict[tuple[str, int], tuple[Any, ...]] = OrderedDict()
        self._prim_slots: dict[tuple[str, int], tuple[Any, Any]] = {}
        # part name -> its drawn appearance (per-vertex arrays, uploaded textures)
        self._looks: dict[str, Look] = {}
        # (part, look kind, tile) -> (part mesh, the mesh drawn, part -> drawn faces)
        self._face_maps: dict[tuple[str, str, float],
                              tuple[trimesh.Trimesh, trimesh.Trimesh, np.ndarray]] = {}
        self._plane: tuple[Any, Any, float] | None = None
        # part name -> (mesh, its xatlas unwrap); (image, projection) -> GL texture
        self._atlases: dict[str, tuple[trimesh.Trimesh, Atlas]] = {}
        self._env_maps: dict[tuple[str, str], int] = {}
        #: seconds spent unwrapping (xatlas) and pre-filtering environment maps, by stage
        self.stage_seconds: dict[str, float] = {}
        #: whether synthgap's patched shaders are in use (normal strength, environment)
        self.patched_shaders = True
        self.frame_nodes: list[Any] = []  # defects, capsules, recoloured parts of a frame
        self.light_nodes: list[Any] = []  # the lights of the last pass

    def begin_frame(self) -> None:
        """Remove the last frame's own nodes and hide every cached part and distractor."""
        for node in self.frame_nodes:
            self.scene.remove_node(node)
        self.frame_nodes = []
        for node, *_ in self._part_slots.values():
            node.mesh.is_visible = False
        for node, _ in self._prim_slots.values():
            node.mesh.is_visible = False

    def hide_plane(self) -> None:
        """Hide the support plane (for a frame without one)."""
        if self._plane is not None:
            self._plane[0].mesh.is_visible = False

    def add_frame_mesh(self, prim: Any, pose: np.ndarray) -> Any:
        """Add a one-frame node of primitive `prim` at `pose` (world-from-object)."""
        node = self.scene.add(self.pr.Mesh([prim]), pose=pose)
        self.frame_nodes.append(node)
        return node

    def part_node(self, name: str, slot: int, mesh: trimesh.Trimesh, kind: str = "plain",
                   tile: float = 0.0) -> tuple[Any, Any, np.ndarray]:
        """The cached node of instance `slot` of part `name`. `kind`: `own` (the mesh's
        vertex colours / UVs), `tex` (box-projected UVs, `tile` metres per repeat), `atlas`
        (xatlas UVs, `tile` metres per repeat), `plain` geometry, or `label`: positions only,
        for segmentation passes (no smooth-shading split, no normals: a dense mesh's
        `smooth_shaded` costs seconds)."""
        key = (name, slot, kind, tile)
        cached = self._part_slots.get(key)
        if cached is not None and cached[2] is mesh:
            return cached[0], cached[1], cached[3]
        pr, scene = self.pr, self.scene
        if cached is not None:  # same name, another mesh: drop the old geometry
            scene.remove_node(cached[0])
        if len(mesh.faces) == 0:
            raise ValueError(f"part {name!r}: the mesh has no faces")
        look = self._look(name, mesh) if kind == "own" else None
        shaded = look.shaded if look is not None else mesh if kind == "label" \
            else mesh.smooth_shaded
        # (smooth_shaded splits at sharp edges: CAD edges stay crisp)
        colors, uv = (look.colors, look.uv) if look is not None else (None, None)
        if kind == "tex":
            shaded, uv = box_uv(shaded, tile)
        elif kind == "atlas":
            shaded, uv = atlas_tiled(shaded, self._atlas(name, mesh, shaded), tile)
        prim = pr.Primitive(positions=shaded.vertices.astype(np.float32),
                            normals=None if kind == "label"
                            else shaded.vertex_normals.astype(np.float32),
                            indices=shaded.faces.astype(np.uint32),
                            color_0=colors, texcoord_0=uv,
                            material=pr.MetallicRoughnessMaterial())
        node = scene.add(pr.Mesh([prim]))
        # Convex hull vertices bound the part tightly for the screen-space occlusion test.
        try:
            corners = np.asarray(mesh.convex_hull.vertices, dtype=float)
        except Exception:  # degenerate (flat) meshes have no 3D hull; all vertices will do
            corners = np.asarray(mesh.vertices, dtype=float)
        self._part_slots[key] = (node, prim, mesh, corners)
        return node, prim, corners

    def defected_part(self, look: tuple[str, str, float], dm: DefectedMesh,
                      mesh: trimesh.Trimesh, prim: Any, pose: np.ndarray,
                      defect_materials: list[Any]) -> tuple[Any, list[Any]]:
        """One-frame nodes of a part edited by geometry defects, dressed like `prim`.

        Args:
            look: `(part name, look kind, texture tile)` of `prim` (as for `part_node`); with
                box-projected UVs (`tex`) and a tile > 0 the UVs are projected onto the
                defect's faces as well; xatlas UVs (`atlas`) are carried over (a defect's
                new faces take those of the nearest original vertex).
            dm: the edited mesh (`apply_geometry_defects`).
            mesh: the part's original mesh (object frame, metres).
            prim: the part's dressed primitive (its normals, colours, UVs and material are
                carried over to the untouched surface).
            pose: world-from-object.
            defect_materials: per defect in `dm.defects`, the material of the faces it made
                (None: `prim`'s material, with colours/UVs of the nearest original vertex).

        Returns:
            `(surface node, [node of each defect's faces])`.
        """
        pr = self.pr
        tile = look[2]
        drawn, face_map = self._drawn(look, mesh, prim)
        attrs = [prim.color_0, prim.texcoord_0]

        def node(which: int, mat: Any, keep_attrs: bool) -> Any:
            pos, normals, (colors, uv) = corner_attributes(
                dm, drawn, face_map, attrs if keep_attrs else [None, None], which)
            if keep_attrs and tile > 0 and look[1] == "tex":
                # box projection, as `textures.box_uv` computes it (xatlas UVs are carried)
                sel = np.flatnonzero(dm.label == which)
                fn = (drawn.face_normals[face_map[dm.source[sel]]] if which == -1 else
                      normals[::3])  # an untouched triangle projects like the one it lies in
                axis = np.repeat(np.abs(fn).argmax(axis=1), 3)
                drop = np.array([[1, 2], [0, 2], [0, 1]])[axis]
                corners = dm.vertices[dm.faces[sel]].reshape(-1, 3)
                uv = (np.take_along_axis(corners, drop, axis=1) / tile).astype(np.float32)
            idx = np.arange(len(pos), dtype=np.uint32).reshape(-1, 3)
            p = pr.Primitive(positions=pos, normals=normals, indices=idx, color_0=colors,
                             texcoord_0=uv, material=mat)
            return self.add_frame_mesh(p, pose)

        surface = node(-1, prim.material, True)
        made = [node(k, prim.material if m is None else m, m is None)
                for k, m in enumerate(defect_materials)]
        return surface, made

    def _drawn(self, look: tuple[str, str, float], mesh: trimesh.Trimesh, prim: Any
               ) -> tuple[trimesh.Trimesh, np.ndarray]:
        """The mesh a part primitive draws and the map from `mesh`'s faces to its faces
        (cached per look of the part: every slot's primitive draws the same mesh)."""
        hit = self._face_maps.get(look)
        if hit is not None and hit[0] is mesh and len(hit[1].vertices) == len(prim.positions):
            return hit[1], hit[2]
        drawn = trimesh.Trimesh(np.asarray(prim.positions, dtype=np.float64),
                                np.asarray(prim.indices, dtype=np.int64).reshape(-1, 3),
                                vertex_normals=np.asarray(prim.normals, dtype=np.float64),
                                process=False)
        face_map = face_correspondence(mesh, drawn)
        self._face_maps[look] = (mesh, drawn, face_map)
        return drawn, face_map

    def distractor_node(self, j: int, dist: Any,
                         used: dict[str, int]) -> tuple[Any, np.ndarray]:
        """The distractor's node and the world-from-unit-cube matrix that bounds it."""
        pr, scene = self.pr, self.scene
        size = np.asarray(dist.size, dtype=float)
        if size.shape != (3,) or not np.all(np.isfinite(size)) or np.any(size <= 0):
            raise ValueError(f"distractors[{j}].size: expected 3 positive numbers (metres), got "
                             f"{dist.size}")
        pose = np.asarray(dist.pose, dtype=float)
        kind = dist.primitive
        if kind == "capsule":  # hemispheres must stay round: build it at its size
            r, h = size[0], max(size[2], 2 * size[0])
            m = trimesh.creation.capsule(height=h - 2 * r, radius=r, count=[16, 16])
            node = self.add_frame_mesh(prim_from(pr, m, material(pr, dist.material)), pose)
            return node, pose @ np.diag([2 * r, 2 * r, h, 1.0])
        if kind == "box":
            scale = size
        elif kind == "cylinder":
            scale = np.array([2 * size[0], 2 * size[1], size[2]])
        elif kind == "sphere":
            scale = 2 * size
        else:
            raise ValueError(f"distractors[{j}].primitive: expected box, cylinder, sphere or "
                             f"capsule, got {kind!r}")
        slot = used.get(kind, 0)
        used[kind] = slot + 1
        key = (kind, slot)
        if key not in self._prim_slots:
            unit = {"box": lambda: trimesh.creation.box([1.0, 1.0, 1.0]),
                    "cylinder": lambda: trimesh.creation.cylinder(0.5, 1.0, sections=32),
                    "sphere": lambda: trimesh.creation.icosphere(3, 0.5)}[kind]()
            prim = prim_from(pr, unit, pr.MetallicRoughnessMaterial())
            self._prim_slots[key] = (scene.add(pr.Mesh([prim])), prim)
        node, prim = self._prim_slots[key]
        prim.material = material(pr, dist.material)
        node.mesh.is_visible = True
        scaled = pose @ np.diag([*scale, 1.0])
        scene.set_pose(node, scaled)
        return node, scaled

    def plane_node(self, bg: Any) -> Any:
        pr, scene = self.pr, self.scene
        size = bg.plane_size
        if not (np.isfinite(size) and size > 0):
            raise ValueError(f"background.plane_size: expected a positive number of metres, got "
                             f"{size!r}")
        repeat = float(size / bg.texture_size) if bg.texture is not None else 0.0
        if self._plane is None or self._plane[2] != repeat:
            if self._plane is not None:
                scene.remove_node(self._plane[0])
            quad = trimesh.Trimesh([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]],
                                   [[0, 1, 2], [0, 2, 3]], process=False)
            uv = (quad.vertices[:, :2] + 0.5) * repeat if repeat else None
            prim = pr.Primitive(positions=quad.vertices.astype(np.float32),
                                normals=quad.vertex_normals.astype(np.float32),
                                indices=quad.faces.astype(np.uint32),
                                texcoord_0=None if uv is None else uv.astype(np.float32),
                                material=pr.MetallicRoughnessMaterial())
            self._plane = (scene.add(pr.Mesh([prim])), prim, repeat)
        node, prim, _ = self._plane
        if bg.texture is None:
            prim.material = material(pr, MaterialParams(tuple(bg.color), 0.0, 0.9))
        else:
            prim.material = material(pr, MaterialParams((1.0, 1.0, 1.0), 0.0, 0.9),
                                      self._plane_map(bg.texture, bg.texture_seed))
        node.mesh.is_visible = True
        scene.set_pose(node, np.diag([size, size, 1.0, 1.0]))
        return node

    def surface_maps(self, kind: str, seed: int) -> tuple[Any, ...]:
        """Uploaded colour, metallic-roughness and normal maps of a procedural finish
        (cached)."""
        key = (kind, int(seed))
        if key not in self._maps:
            maps = surface_texture(kind, int(seed))
            self._cache_map(key, tuple(upload_texture(self.pr, m) for m in maps))
        self._maps.move_to_end(key)
        return self._maps[key]

    def _atlas(self, name: str, mesh: trimesh.Trimesh, shaded: trimesh.Trimesh) -> Atlas:
        """The xatlas unwrap of `shaded` (the part's smooth-shaded mesh), once per mesh."""
        cached = self._atlases.get(name)
        if cached is not None and cached[0] is mesh:
            return cached[1]
        t0 = time.perf_counter()
        try:
            atlas = atlas_uv(shaded)
        except ValueError as exc:
            raise ValueError(f"part {name!r}: material.{exc}") from None
        self._add_seconds("xatlas", time.perf_counter() - t0)
        self._atlases[name] = (mesh, atlas)
        return atlas

    def environment_map(self, offscreen: Any, image: str, projection: str) -> int:
        """The GL texture of an environment photo's pre-filtered layers (made once)."""
        key = (image, projection)
        if key not in self._env_maps:
            t0 = time.perf_counter()
            layers = environment_layers(load_environment(image, projection))
            self._add_seconds("environment prefilter", time.perf_counter() - t0)
            self._env_maps[key] = compat.upload_environment(offscreen, layers)
        return self._env_maps[key]

    def _add_seconds(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        log.info("%s: %.3f s", stage, seconds)

    def _plane_map(self, texture: str, seed: int) -> Any:
        """Uploaded colour map of the plane: procedural (`wood`, ...) or an image file."""
        key = (texture, int(seed))
        if key not in self._maps:
            if texture in PLANE_TEXTURES:
                img = plane_texture(texture, int(seed))
            else:
                data = np.fromfile(texture, dtype=np.uint8) if os.path.isfile(texture) else None
                bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size \
                    else None
                if bgr is None:
                    raise ValueError(f"background.texture_image {texture!r}: missing or not a "
                                     "readable image")
                img = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            self._cache_map(key, (upload_texture(self.pr, img), None))
        self._maps.move_to_end(key)
        return self._maps[key][0]

    def _cache_map(self, key: tuple[str, int], value: tuple[Any, ...]) -> None:
        self._maps[key] = value
        while len(self._maps) > 64:
            self._maps.popitem(last=False)

    def set_lights(self, group: list[Emitter]) -> int:
        """Put the lights of one pass in the scene; returns the pass's render flags."""
        pr, scene = self.pr, self.scene
        for node in self.light_nodes:
            scene.remove_node(node)
        self.light_nodes = []
        flags: int = pr.RenderFlags.RGBA
        for e in group:
            color = np.asarray(e.color, dtype=float)
            if e.type == "directional":
                light = pr.DirectionalLight(color=color, intensity=e.intensity)
                if e.shadows:
                    flags |= pr.RenderFlags.SHADOWS_DIRECTIONAL
            elif e.type == "spot":
                light = pr.SpotLight(color=color, intensity=e.intensity,
                                     innerConeAngle=e.inner_cone, outerConeAngle=e.outer_cone)
                if e.shadows:
                    flags |= pr.RenderFlags.SHADOWS_SPOT
                    compat.set_spot_shadow_camera(light, e.pose, scene.focus)
            else:
                light = pr.PointLight(color=color, intensity=e.intensity)
            self.light_nodes.append(scene.add(light, pose=e.pose))
        return flags

    def _look(self, name: str, mesh: trimesh.Trimesh) -> Look:
        """The part's own appearance, prepared for drawing (cached per mesh)."""
        look = self._looks.get(name)
        if look is not None and look.mesh is mesh:
            return look
        appearance = mesh_appearance(mesh)
        if appearance is None:
            raise ValueError(f"part {name!r}: material source 'mesh' but the mesh has no vertex "
                             "colours or texture (sample with the part library it was "
                             "loaded into)")
        shaded = mesh.smooth_shaded
        try:
            colors, uv = vertex_arrays(shaded, appearance)
        except ValueError:  # this trimesh version dropped the visual: draw unsplit
            shaded = mesh
            colors, uv = vertex_arrays(mesh, appearance)
        look = Look(mesh=mesh, appearance=appearance, shaded=shaded, colors=colors, uv=uv,
                     textures=_textures(self.pr, appearance))
        self._looks[name] = look
        return look

    def own_look(self, name: str, node: Any, prim: Any, m: MaterialParams) -> tuple[Any, Any]:
        """Dress a part node in its mesh's own appearance, jittered by `m`. Hue/saturation
        jitter of vertex colours draws a recoloured copy for this frame only."""
        pr, scene = self.pr, self.scene
        look = self._looks[name]
        a = look.appearance
        jitter = (m.hue_shift, m.saturation) != (0.0, 1.0)
        base_tex, mr_tex, normal_tex = look.textures
        if jitter and a.base_color_texture is not None:
            img = a.base_color_texture.copy()
            img[:, :, :3] = jitter_colors(img[:, :, :3], hue_shift=m.hue_shift,
                                          saturation=m.saturation)
            base_tex = pr.Texture(source=img, source_channels="RGBA"[:img.shape[2]])
        factor = np.asarray(a.base_color_factor, dtype=float).copy()
        if jitter and a.base_color_texture is None:  # a material colour without texture
            factor[:3] = jitter_colors(factor[:3].astype(np.float32), hue_shift=m.hue_shift,
                                       saturation=m.saturation)
        factor[:3] *= m.brightness
        # the file's normal map at its own strength (the patched shaders read it here)
        emissive = compat.normal_strength_factor(1.0) \
            if normal_tex is not None and self.patched_shaders else None
        material = pr.MetallicRoughnessMaterial(
            baseColorFactor=factor, metallicFactor=float(m.metallic),
            roughnessFactor=float(m.roughness), baseColorTexture=base_tex,
            metallicRoughnessTexture=mr_tex, normalTexture=normal_tex,
            emissiveFactor=emissive)
        if jitter and look.colors is not None and a.base_color_texture is None \
                and not np.all(look.colors == 1.0):
            node.mesh.is_visible = False
            colors = jitter_colors(look.colors, hue_shift=m.hue_shift, saturation=m.saturation)
            prim = pr.Primitive(positions=prim.positions, normals=prim.normals,
                                indices=prim.indices, color_0=colors, material=material)
            node = scene.add(pr.Mesh([prim]))
            self.frame_nodes.append(node)
            return node, prim
        prim.material = material
        return node, prim


def material(pr: ModuleType, m: MaterialParams, base_map: Any = None,
             mr_map: Any = None, normal_map: Any = None) -> Any:
    """A pyrender metallic-roughness material of `m` (linear RGB), with optional maps.

    `normal_map` is used when `m.normal_strength` > 0, its tilt scaled by that strength (read
    by synthgap's patched shaders: `pyrender_compat.normal_strength_factor`).
    """
    bump = normal_map is not None and m.normal_strength > 0
    return pr.MetallicRoughnessMaterial(
        baseColorFactor=[*map(float, m.base_color), 1.0], metallicFactor=float(m.metallic),
        roughnessFactor=float(m.roughness), baseColorTexture=base_map,
        metallicRoughnessTexture=mr_map, normalTexture=normal_map if bump else None,
        emissiveFactor=compat.normal_strength_factor(m.normal_strength) if bump else None)


def upload_texture(pr: ModuleType, img: np.ndarray) -> Any:
    """A pyrender texture of a `(h, w, 3|4) uint8` map (repeating, mipmapped)."""
    return pr.Texture(source=img, source_channels="RGBA"[:img.shape[2]])


def prim_from(pr: ModuleType, m: trimesh.Trimesh, material: Any) -> Any:
    """A pyrender primitive of mesh `m` (object frame, metres) with `material`."""
    return pr.Primitive(positions=m.vertices.astype(np.float32),
                        normals=m.vertex_normals.astype(np.float32),
                        indices=m.faces.astype(np.uint32), material=material)


@dataclass(frozen=True, eq=False)
class Look:
    """A part's own appearance ready to draw: the smooth-shaded mesh, its per-vertex linear
    colours or UVs, and its textures uploaded once (base colour, metallic-roughness, normal)."""

    mesh: trimesh.Trimesh
    appearance: MeshAppearance
    shaded: trimesh.Trimesh
    colors: np.ndarray | None
    uv: np.ndarray | None
    textures: tuple[Any, Any, Any]


def _textures(pr: ModuleType, a: MeshAppearance) -> tuple[Any, Any, Any]:
    def tex(img: np.ndarray | None) -> Any:
        return None if img is None else upload_texture(pr, img)

    return (tex(a.base_color_texture), tex(a.metallic_roughness_texture),
            tex(a.normal_texture))
