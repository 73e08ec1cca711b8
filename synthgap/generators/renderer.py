"""The renderer: `SampleParams` + part meshes -> pixels, drawn with pyrender's public API.

This module and `synthgap.generators.pyrender_compat` are the only ones that touch
pyrender/OpenGL; the import statements and every use of pyrender internals (patched shaders,
read-back, light sets, module constants) live in `pyrender_compat`, checked against one
pinned pyrender version. The pyrender module object comes from `open_offscreen`.

One `Renderer` per process holds one pyrender `OffscreenRenderer` (created lazily on the first
render) and a persistent pyrender scene in which each part's geometry is uploaded once and
reused: a frame only moves nodes, swaps materials and replaces the lights.

Per frame it draws, all at the render view's size (`distortion.render_view`):

1. the colour pass (pyrender's PBR shader, 4x MSAA, RGBA so a background image can be
   composited behind anti-aliased edges);
2. the exact segmentation pass (`RenderFlags.SEG`, no MSAA): instance ids, defect ids and the
   depth of every layer, so a mask pixel always has a depth;
3. only when an instance may be hidden by something else (its projected box overlaps another
   object's, or the support plane could be in front of it): segmentation passes without the
   occluders, several non-overlapping instances per pass, for its unoccluded pixel count.

Then every layer is resampled into the distorted output (bilinear for colour, nearest for the
rest). Frames follow `synthgap.generators.params`: camera pose is world-from-camera in the
OpenCV frame; the OpenGL camera is that pose times diag(1, -1, -1).

Lights (`synthgap.generators.lighting`): every light is shaded. A ring, dome or area light is
expanded into its lights (the whole light's intensity shared by them); pyrender's shader takes
a fixed number of lights of each type per draw (raised here from 4 to 16; 4 with shadow
maps), so the colour pass is drawn once per such group and the passes are summed in linear
light (ambient in the first only). Lights with `shadows`
get pyrender's shadow maps (directional and spot), their cameras fitted to the objects and
the visible part of the support plane.

Appearance: a part whose material `source` is `mesh` is drawn with its mesh's own vertex
colours (converted from sRGB to linear: pyrender multiplies by them undecoded) or UV
textures (sRGB, decoded by the shader), times `brightness`; hue/saturation jitter recolours
the texture, or draws a recoloured copy of the vertex colours for that frame.

Platform: EGL (headless Mesa llvmpipe or a GPU) unless `PYOPENGL_PLATFORM` says otherwise;
when EGL cannot make a context and the user did not choose a platform, OSMesa is tried.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import trimesh

from synthgap.generators import pyrender_compat as compat
from synthgap.generators.appearance import (
    MeshAppearance,
    jitter_colors,
    mesh_appearance,
    vertex_arrays,
)
from synthgap.generators.defects import defect_mesh, iter_defects
from synthgap.generators.distortion import distort_linear, distort_nearest, render_view
from synthgap.generators.lighting import MAX_PER_PASS, Emitter, emitters, light_passes
from synthgap.generators.occlusion import (
    Bounds,
    solo_groups,
    transform_points,
    unit_cube_corners,
)
from synthgap.generators.params import MaterialParams, SampleParams
from synthgap.generators.textures import PLANE_TEXTURES, box_uv, plane_texture, surface_texture

__all__ = ["GLUnavailableError", "RenderResult", "Renderer"]

#: OpenCV camera frame -> OpenGL camera frame (flip y and z).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
#: (metallic, roughness) of each defect type's patch: scratches and dents show bare metal.
_DEFECT_FINISH = {"scratch": (0.9, 0.35), "dent": (0.9, 0.35), "stain": (0.0, 0.9),
                  "crack": (0.0, 1.0)}
#: Shadow map edge, texels.
_SHADOW_MAP_SIZE = 1024
_GL_PACKAGES = ("libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri (EGL), or libosmesa6 with "
                "PYOPENGL_PLATFORM=osmesa")


class GLUnavailableError(RuntimeError):
    """No OpenGL platform (EGL, OSMesa) could create an offscreen context."""


@dataclass(frozen=True, eq=False)
class RenderResult:
    """The layers of one rendered image (output size, after distortion, before sensor effects).

    Attributes:
        rgb: `(H, W, 3) uint8` RGB (display-encoded, as pyrender's shader writes it).
        depth: `(H, W) float32` metres along the camera +z axis; 0 where there is no surface.
        instance_mask: `(H, W) uint16`; k + 1 where part instance `params.parts[k]` is visible
            (its defects included), 0 for background, support plane and distractors.
        defect_mask: `(H, W) uint16` defect ids (`defects.iter_defects` order), 0 elsewhere.
        unoccluded_pixels: `(n_instances,) int64` pixels each instance would cover if nothing
            hid it (same frame and image bounds as `instance_mask`; the visible fraction's
            denominator).
        extra_passes: segmentation passes drawn for `unoccluded_pixels` (0 when nothing can
            occlude anything).
    """

    rgb: np.ndarray
    depth: np.ndarray
    instance_mask: np.ndarray
    defect_mask: np.ndarray
    unoccluded_pixels: np.ndarray
    extra_passes: int = 0


# --------------------------------------------------------------------------- GL platform


def _open_platform(platform: str, width: int, height: int) -> tuple[ModuleType, Any]:
    pyrender = compat.import_pyrender(platform)
    return pyrender, pyrender.OffscreenRenderer(width, height)


def open_offscreen(width: int, height: int,
                   opener: Callable[[str, int, int], tuple[ModuleType, Any]] = _open_platform,
                   ) -> tuple[ModuleType, Any, str]:
    """Create an offscreen GL context: EGL by default, OSMesa as the fallback.

    `PYOPENGL_PLATFORM` set by the user is respected (no fallback). Otherwise EGL is tried
    first and OSMesa second.

    Returns:
        `(pyrender module, OffscreenRenderer, platform name)`.

    Raises:
        GLUnavailableError: no platform worked; lists each error and the packages to install.
    """
    chosen = os.environ.get("PYOPENGL_PLATFORM")
    platforms = [chosen] if chosen else ["egl", "osmesa"]
    errors = []
    for platform in platforms:
        try:
            pyrender, offscreen = opener(platform, width, height)
            return pyrender, offscreen, platform
        except Exception as exc:  # any failure means "this platform does not work here"
            errors.append(f"{platform}: {type(exc).__name__}: {exc}")
    raise GLUnavailableError(
        "could not create an offscreen OpenGL context (" + "; ".join(errors) + "). On "
        f"Debian/Ubuntu install {_GL_PACKAGES} (`make setup` does it as root); without a GPU, "
        "Mesa's llvmpipe renders on the CPU.")


# --------------------------------------------------------------------------- the renderer


class Renderer:
    """Turns `SampleParams` into a `RenderResult`; reusable, one per process.

    Constructing it touches no GL; the offscreen context is created on the first `render`.
    Use it as a context manager (or call `close`) to free the context. Not thread-safe: call
    it from one thread. Several renderers may live in one process (closing one leaves the
    others working), but one per process is the intended use.

    Args:
        width, height: output image size in pixels; every `params.camera` must match it.
        fast_readback: read the colour pass without its depth buffer (unused: depth comes
            from the segmentation pass) and convert depth in place; the layers are
            bit-identical to pyrender's own read-back, which `False` uses.
    """

    def __init__(self, width: int, height: int, *, fast_readback: bool = True) -> None:
        if int(width) < 1 or int(height) < 1:
            raise ValueError(f"Renderer: width and height must be >= 1, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self._fast_readback = fast_readback
        self.platform: str | None = None
        self._pr: ModuleType | None = None
        self._offscreen: Any = None
        self._scene: Any = None
        self._cam_node: Any = None
        # (part name, slot, look kind, texture tile) -> (node, primitive, mesh it was made
        # from, object-frame corners)
        self._part_slots: dict[tuple[str, int, str, float],
                               tuple[Any, Any, trimesh.Trimesh, np.ndarray]] = {}
        self._maps: OrderedDict[tuple[str, int], tuple[Any, Any]] = OrderedDict()
        self._prim_slots: dict[tuple[str, int], tuple[Any, Any]] = {}
        # part name -> its drawn appearance (per-vertex arrays, uploaded textures)
        self._looks: dict[str, _Look] = {}
        self._plane: tuple[Any, Any, float] | None = None
        self._frame_nodes: list[Any] = []  # defects, capsules, recoloured parts of a frame
        self._light_nodes: list[Any] = []  # the lights of the last pass
        self._shaders: tuple[Any, Any] | None = None  # patched shader caches (plain, env)
        self._bg_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    # -- lifecycle
    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the GL context and every uploaded mesh (the renderer can be used again)."""
        if self._offscreen is not None:
            if self.platform == "egl":  # other Renderers in this process share the display
                compat.keep_egl_display(self._offscreen)
            self._offscreen.delete()
        self._offscreen = self._scene = self._cam_node = self._plane = None
        self._light_nodes = []
        self._part_slots.clear()
        self._prim_slots.clear()
        self._looks.clear()
        self._maps.clear()
        self._frame_nodes.clear()

    def _ensure_gl(self) -> None:
        if self._offscreen is not None:
            return
        self._pr, self._offscreen, self.platform = open_offscreen(self.width, self.height)
        pr = self._pr
        self._shaders = compat.install_shaders(self._offscreen)
        if self._fast_readback:
            compat.install_fast_readback(self._offscreen)
        self._scene = compat.focused_scene_class(pr)(bg_color=[0.0, 0.0, 0.0, 0.0])
        # lights bound to shader slots in the order of `params.lights`, in every process
        compat.use_ordered_light_sets(self._scene)
        self._cam_node = self._scene.add(pr.IntrinsicsCamera(1.0, 1.0, 0.0, 0.0))

    # -- the frame
    def render(self, params: SampleParams,
               meshes: Mapping[str, trimesh.Trimesh]) -> RenderResult:
        """Render one image.

        Args:
            params: everything sampled for the image (`params.camera` size must match).
            meshes: part meshes by `PartInstanceParams.part`, object frame, metres.

        Returns:
            The image's layers; see `RenderResult`.

        Raises:
            ValueError: camera size differs from the renderer's, a part is missing from
                `meshes`, a bad distractor/light/defect (names the field).
            GLUnavailableError: no OpenGL platform works on this machine.
        """
        cam = params.camera
        if (cam.width, cam.height) != (self.width, self.height):
            raise ValueError(f"camera size {cam.width}x{cam.height} differs from the renderer's "
                             f"{self.width}x{self.height}; make one Renderer per image size")
        for k, inst in enumerate(params.parts):
            if inst.part not in meshes:
                raise ValueError(f"parts[{k}].part = {inst.part!r} is not among the meshes "
                                 f"given ({sorted(meshes)})")
        self._ensure_gl()
        # Shadow maps are fitted to the visible region (`shadow_focus`), so 1024 texels a side
        # are finer than pyrender's 2048 over the whole scene, at a quarter of the cost; 16
        # lights of each type per draw instead of 4: a ring of 24 or a dome of 16 is one
        # colour pass, not 3-4 (uniform arrays of 16 fit every GL 3.3 implementation's limit).
        with compat.pyrender_settings(max_lights=MAX_PER_PASS,
                                      shadow_map_size=_SHADOW_MAP_SIZE):
            return self._draw(params, meshes)

    def _draw(self, params: SampleParams, meshes: Mapping[str, trimesh.Trimesh]) -> RenderResult:
        """`render` once its arguments are checked and the GL context exists."""
        cam = params.camera
        view = render_view(cam)
        pr, scene = self._pr, self._scene
        assert pr is not None and scene is not None  # set by _ensure_gl

        for node in self._frame_nodes:
            scene.remove_node(node)
        self._frame_nodes = []

        # Camera (OpenCV pixel centres are at integers, OpenGL's at half-integers).
        self._cam_node.camera = pr.IntrinsicsCamera(view.fx, view.fy, view.cx + 0.5,
                                                    view.cy + 0.5, znear=cam.znear,
                                                    zfar=cam.zfar)
        cam_pose = np.asarray(cam.pose, dtype=float)
        scene.set_pose(self._cam_node, cam_pose @ _CV_TO_GL)
        self._offscreen.viewport_width = view.width
        self._offscreen.viewport_height = view.height

        # Parts, their defects, distractors, plane.
        objects: list[Bounds] = []  # everything drawn but the plane, for the occlusion test
        nodes: list[Any] = []  # their nodes, in the same order
        for node, *_ in self._part_slots.values():
            node.mesh.is_visible = False
        used: dict[tuple[str, str, float], int] = {}
        for k, inst in enumerate(params.parts):
            m = inst.material
            kind = "own" if m.source == "mesh" else "tex" if m.texture != "none" else "plain"
            tile = float(m.texture_scale) if kind == "tex" else 0.0
            slot = used.get((inst.part, kind, tile), 0)
            used[(inst.part, kind, tile)] = slot + 1
            node, prim, corners = self._part_node(inst.part, slot, meshes[inst.part], kind,
                                                  tile)
            pose = np.asarray(inst.pose, dtype=float)
            if kind == "own":
                node, prim = self._own_look(inst.part, node, prim, m)
            elif kind == "tex":
                base, mr = self._surface_maps(m.texture, m.texture_seed)
                prim.material = _material(pr, m, base, mr)
            else:
                prim.material = _material(pr, m)
            node.mesh.is_visible = True
            scene.set_pose(node, pose)
            objects.append(Bounds(k + 1, transform_points(corners, pose)))
            nodes.append(node)

        defect_nodes: dict[Any, tuple[int, int]] = {}
        layers: dict[int, int] = {}
        for did, iid, d in iter_defects(params):
            inst = params.parts[iid - 1]
            layers[iid] = layer = layers.get(iid, -1) + 1  # later defects lie on top
            dm = defect_mesh(d, meshes[inst.part], layer=layer)
            prim = pr.Primitive(positions=dm.vertices.astype(np.float32),
                                normals=dm.vertex_normals.astype(np.float32),
                                indices=dm.faces.astype(np.uint32),
                                material=_material(pr, MaterialParams(
                                    tuple(d.color), *_DEFECT_FINISH.get(d.type, (0.9, 0.35)))))
            pose = np.asarray(inst.pose, dtype=float)
            node = scene.add(pr.Mesh([prim]), pose=pose)
            self._frame_nodes.append(node)
            defect_nodes[node] = (iid, did)
            objects[iid - 1].extra.append(transform_points(dm.vertices, pose))
        if len(defect_nodes) > 255:
            raise ValueError(f"{len(defect_nodes)} defects in one image; at most 255 are "
                             "supported (defect ids are 8-bit in the segmentation pass)")
        if len(params.parts) > 65535:
            raise ValueError(f"{len(params.parts)} part instances; at most 65535 per image")

        for node, _ in self._prim_slots.values():
            node.mesh.is_visible = False
        used_prims: dict[str, int] = {}
        for j, dist in enumerate(params.distractors):
            node, box = self._distractor_node(j, dist, used_prims)
            objects.append(Bounds(0, transform_points(unit_cube_corners(), box)))
            nodes.append(node)

        bg = params.background
        plane_node = None
        if bg.plane:
            plane_node = self._plane_node(bg)
        elif self._plane is not None:
            self._plane[0].mesh.is_visible = False

        # 1. colour passes, over transparent black: the resolved colour is premultiplied by
        # coverage, so anything behind (clear colour or image) is composited exactly. Lights
        # are drawn in passes of at most 4 per type, summed in linear light; ambient once.
        passes = light_passes(emitters(params.lights))
        if any(e.shadows for e in passes_flat(passes)):
            scene.focus = _shadow_focus(objects, view, cam_pose, cam,
                                        bg.plane_size if bg.plane else None)
        scene.bg_color = [0.0, 0.0, 0.0, 0.0]
        layers_rgba = []
        compat.skip_depth(self._offscreen, True)
        try:
            env = _environment(params)
            for p, group in enumerate(passes):
                ambient = np.asarray(bg.ambient, dtype=float) if p == 0 else np.zeros(3)
                compat.use_shader_cache(self._offscreen, self._shaders, env is not None and p == 0)
                scene.ambient_light = ambient + env if env is not None and p == 0 else ambient
                flags = self._set_lights(group)
                rgba, _ = self._offscreen.render(scene, flags)
                layers_rgba.append(rgba)
        finally:
            compat.skip_depth(self._offscreen, False)
            compat.use_shader_cache(self._offscreen, self._shaders, False)
            scene.focus = None
        rgba = layers_rgba[0] if len(layers_rgba) == 1 else _sum_passes(layers_rgba)
        rgb = self._composite(rgba, bg.image, bg.image_crop, bg.color)

        # 2. segmentation pass: (instance low byte, instance high byte, defect id)
        seg_map: dict[Any, tuple[int, int, int]] = {}
        for o, node in zip(objects, nodes, strict=True):
            seg_map[node] = (o.iid & 255, o.iid >> 8, 0)
        for node, (iid, did) in defect_nodes.items():
            seg_map[node] = (iid & 255, iid >> 8, did)
        if plane_node is not None:
            seg_map[plane_node] = (0, 0, 0)
        seg, depth = self._offscreen.render(scene, pr.RenderFlags.SEG, seg_map)
        inst_mask = seg[:, :, 0].astype(np.uint16) | (seg[:, :, 1].astype(np.uint16) << 8)
        defect_mask = seg[:, :, 2].astype(np.uint16)

        # 3. unoccluded pixel counts
        n = len(params.parts)
        groups = solo_groups(objects, view, cam_pose, plane_node is not None) if n else []
        unoccluded = np.zeros(n, np.int64)
        mask_out = distort_nearest(inst_mask, view)
        visible = np.bincount(mask_out.ravel(), minlength=n + 1)[1:n + 1]
        unoccluded[:] = visible
        for group in groups:
            solo_map = {nd: seg_map[nd] for o, nd in zip(objects, nodes, strict=True)
                        if o.iid in group}
            solo_map.update({nd: seg_map[nd] for nd, (iid, _) in defect_nodes.items()
                             if iid in group})
            solo, _ = self._offscreen.render(scene, pr.RenderFlags.SEG, solo_map)
            solo_ids = solo[:, :, 0].astype(np.uint16) | (solo[:, :, 1].astype(np.uint16) << 8)
            counts = np.bincount(distort_nearest(solo_ids, view).ravel(), minlength=n + 1)
            for iid in group:
                unoccluded[iid - 1] = max(int(counts[iid]), int(visible[iid - 1]))

        return RenderResult(
            rgb=distort_linear(rgb, view),
            depth=distort_nearest(depth.astype(np.float32, copy=False), view),
            instance_mask=mask_out,
            defect_mask=distort_nearest(defect_mask, view),
            unoccluded_pixels=unoccluded,
            extra_passes=len(groups),
        )

    # -- scene building helpers
    def _part_node(self, name: str, slot: int, mesh: trimesh.Trimesh, kind: str = "plain",
                   tile: float = 0.0) -> tuple[Any, Any, np.ndarray]:
        """The cached node of instance `slot` of part `name`. `kind`: `own` (the mesh's
        vertex colours / UVs), `tex` (box-projected UVs, `tile` metres per repeat) or `plain`
        geometry."""
        key = (name, slot, kind, tile)
        cached = self._part_slots.get(key)
        if cached is not None and cached[2] is mesh:
            return cached[0], cached[1], cached[3]
        pr, scene = self._pr, self._scene
        if cached is not None:  # same name, another mesh: drop the old geometry
            scene.remove_node(cached[0])
        if len(mesh.faces) == 0:
            raise ValueError(f"part {name!r}: the mesh has no faces")
        look = self._look(name, mesh) if kind == "own" else None
        shaded = look.shaded if look is not None else mesh.smooth_shaded
        # (smooth_shaded splits at sharp edges: CAD edges stay crisp)
        colors, uv = (look.colors, look.uv) if look is not None else (None, None)
        if kind == "tex":
            shaded, uv = box_uv(shaded, tile)
        prim = pr.Primitive(positions=shaded.vertices.astype(np.float32),
                            normals=shaded.vertex_normals.astype(np.float32),
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

    def _distractor_node(self, j: int, dist: Any,
                         used: dict[str, int]) -> tuple[Any, np.ndarray]:
        """The distractor's node and the world-from-unit-cube matrix that bounds it."""
        pr, scene = self._pr, self._scene
        size = np.asarray(dist.size, dtype=float)
        if size.shape != (3,) or not np.all(np.isfinite(size)) or np.any(size <= 0):
            raise ValueError(f"distractors[{j}].size: expected 3 positive numbers (metres), got "
                             f"{dist.size}")
        pose = np.asarray(dist.pose, dtype=float)
        kind = dist.primitive
        if kind == "capsule":  # hemispheres must stay round: build it at its size
            r, h = size[0], max(size[2], 2 * size[0])
            m = trimesh.creation.capsule(height=h - 2 * r, radius=r, count=[16, 16])
            node = scene.add(pr.Mesh([_prim_from(pr, m, _material(pr, dist.material))]),
                             pose=pose)
            self._frame_nodes.append(node)
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
            prim = _prim_from(pr, unit, pr.MetallicRoughnessMaterial())
            self._prim_slots[key] = (scene.add(pr.Mesh([prim])), prim)
        node, prim = self._prim_slots[key]
        prim.material = _material(pr, dist.material)
        node.mesh.is_visible = True
        scaled = pose @ np.diag([*scale, 1.0])
        scene.set_pose(node, scaled)
        return node, scaled

    def _plane_node(self, bg: Any) -> Any:
        pr, scene = self._pr, self._scene
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
            prim.material = _material(pr, MaterialParams(tuple(bg.color), 0.0, 0.9))
        else:
            prim.material = _material(pr, MaterialParams((1.0, 1.0, 1.0), 0.0, 0.9),
                                      self._plane_map(bg.texture, bg.texture_seed))
        node.mesh.is_visible = True
        scene.set_pose(node, np.diag([size, size, 1.0, 1.0]))
        return node

    def _surface_maps(self, kind: str, seed: int) -> tuple[Any, Any]:
        """Uploaded colour and metallic-roughness maps of a procedural finish (cached)."""
        key = (kind, int(seed))
        if key not in self._maps:
            base, mr = surface_texture(kind, int(seed))
            self._cache_map(key, (_texture(self._pr, base), _texture(self._pr, mr)))
        self._maps.move_to_end(key)
        return self._maps[key]

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
            self._cache_map(key, (_texture(self._pr, img), None))
        self._maps.move_to_end(key)
        return self._maps[key][0]

    def _cache_map(self, key: tuple[str, int], value: tuple[Any, Any]) -> None:
        self._maps[key] = value
        while len(self._maps) > 64:
            self._maps.popitem(last=False)

    def _set_lights(self, group: list[Emitter]) -> int:
        """Put the lights of one pass in the scene; returns the pass's render flags."""
        pr, scene = self._pr, self._scene
        for node in self._light_nodes:
            scene.remove_node(node)
        self._light_nodes = []
        flags = pr.RenderFlags.RGBA
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
            self._light_nodes.append(scene.add(light, pose=e.pose))
        return flags

    def _look(self, name: str, mesh: trimesh.Trimesh) -> _Look:
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
        look = _Look(mesh=mesh, appearance=appearance, shaded=shaded, colors=colors, uv=uv,
                     textures=_textures(self._pr, appearance))
        self._looks[name] = look
        return look

    def _own_look(self, name: str, node: Any, prim: Any, m: MaterialParams) -> tuple[Any, Any]:
        """Dress a part node in its mesh's own appearance, jittered by `m`. Hue/saturation
        jitter of vertex colours draws a recoloured copy for this frame only."""
        pr, scene = self._pr, self._scene
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
        material = pr.MetallicRoughnessMaterial(
            baseColorFactor=factor, metallicFactor=float(m.metallic),
            roughnessFactor=float(m.roughness), baseColorTexture=base_tex,
            metallicRoughnessTexture=mr_tex, normalTexture=normal_tex)
        if jitter and look.colors is not None and a.base_color_texture is None \
                and not np.all(look.colors == 1.0):
            node.mesh.is_visible = False
            colors = jitter_colors(look.colors, hue_shift=m.hue_shift, saturation=m.saturation)
            prim = pr.Primitive(positions=prim.positions, normals=prim.normals,
                                indices=prim.indices, color_0=colors, material=material)
            node = scene.add(pr.Mesh([prim]))
            self._frame_nodes.append(node)
            return node, prim
        prim.material = material
        return node, prim

    def _composite(self, rgba: np.ndarray, path: str | None,
                   crop: tuple[float, float, float, float] | None,
                   color: tuple[float, float, float]) -> np.ndarray:
        """Composite the premultiplied colour pass over a background image crop, or over the
        clear colour (linear RGB, display-encoded like the shader's output)."""
        alpha = rgba[:, :, 3]
        if path is None and alpha.min() == 255:  # e.g. the support plane fills the view
            return np.ascontiguousarray(rgba[:, :, :3])
        if path is None:
            back = np.array([float(c) ** (1 / 2.2) * 255.0 for c in color], np.float32)
        else:
            back = self._background_crop(path, crop, rgba.shape[1], rgba.shape[0])
            back = back.astype(np.float32)
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        out = rgba[:, :, :3].astype(np.float32) + back * (1.0 - a)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _background_crop(self, path: str, crop: tuple[float, float, float, float] | None,
                         width: int, height: int) -> np.ndarray:
        img = self._bg_cache.get(path)
        if img is None:
            data = np.fromfile(path, dtype=np.uint8) if os.path.isfile(path) else None
            img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
            if img is None:
                raise ValueError(f"background.image {path!r}: missing or not a readable image")
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            self._bg_cache[path] = img
            if len(self._bg_cache) > 32:
                self._bg_cache.popitem(last=False)
        h, w = img.shape[:2]
        x0, y0, x1, y1 = crop if crop is not None else (0.0, 0.0, 1.0, 1.0)
        c = img[int(y0 * h):max(int(y1 * h), int(y0 * h) + 1),
                int(x0 * w):max(int(x1 * w), int(x0 * w) + 1)]
        interp = cv2.INTER_AREA if c.shape[1] > width else cv2.INTER_LINEAR
        return cv2.resize(c, (width, height), interpolation=interp)


# --------------------------------------------------------------------------- helpers


def _material(pr: ModuleType, m: MaterialParams, base_map: Any = None,
              mr_map: Any = None) -> Any:
    return pr.MetallicRoughnessMaterial(baseColorFactor=[*map(float, m.base_color), 1.0],
                                        metallicFactor=float(m.metallic),
                                        roughnessFactor=float(m.roughness),
                                        baseColorTexture=base_map,
                                        metallicRoughnessTexture=mr_map)


def _texture(pr: ModuleType, img: np.ndarray) -> Any:
    """A pyrender texture of a `(h, w, 3|4) uint8` map (repeating, mipmapped)."""
    return pr.Texture(source=img, source_channels="RGBA"[:img.shape[2]])


def _prim_from(pr: ModuleType, m: trimesh.Trimesh, material: Any) -> Any:
    return pr.Primitive(positions=m.vertices.astype(np.float32),
                        normals=m.vertex_normals.astype(np.float32),
                        indices=m.faces.astype(np.uint32), material=material)


# --------------------------------------------------------------------------- appearance


@dataclass(frozen=True, eq=False)
class _Look:
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
        return None if img is None else _texture(pr, img)

    return (tex(a.base_color_texture), tex(a.metallic_roughness_texture),
            tex(a.normal_texture))


# --------------------------------------------------------------------------- passes, shadows


def _environment(params: SampleParams) -> np.ndarray | None:
    """Summed radiance `(3,)` of the `environment` lights (linear RGB x intensity), or None."""
    env = [np.asarray(light.color, float) * light.intensity for light in params.lights
           if light.type == "environment"]
    return np.sum(env, axis=0) if env else None


def passes_flat(passes: list[list[Emitter]]) -> list[Emitter]:
    """Every emitter of every pass, in order."""
    return [e for group in passes for e in group]


#: decode table of the shader's output encoding (pow 1/2.2, not sRGB)
_DECODE = ((np.arange(256, dtype=np.float64) / 255.0) ** 2.2).astype(np.float32)


def _sum_passes(layers: list[np.ndarray]) -> np.ndarray:
    """Sum premultiplied, display-encoded RGBA colour passes of one geometry in linear light.

    Every pass has the same coverage (alpha); each pass's colour is un-premultiplied,
    decoded (the shader wrote `pow(c, 1/2.2)`), summed, re-encoded and premultiplied again.

    Args:
        layers: `(H, W, 4) uint8` passes, at least two.

    Returns:
        `(H, W, 4) uint8`, alpha of the first pass.
    """
    alpha = layers[0][:, :, 3]
    if alpha.min() == 255:  # opaque everywhere (the plane fills the view): table lookups
        lin = _DECODE[layers[0][:, :, :3]]
        for layer in layers[1:]:
            lin += _DECODE[layer[:, :, :3]]
        a = None
    else:
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        safe = np.maximum(a, 1.0 / 255.0)
        lin = np.zeros((*layers[0].shape[:2], 3), np.float32)
        for layer in layers:
            lin += np.clip(layer[:, :, :3].astype(np.float32) / 255.0 / safe, 0.0, 1.0) ** 2.2
    out = np.minimum(lin, 1.0) ** (1 / 2.2)
    if a is not None:
        out *= a
    rgba = np.empty_like(layers[0])
    rgba[:, :, :3] = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    rgba[:, :, 3] = alpha
    return rgba


def _shadow_focus(objects: list[Bounds], view: Any, cam_pose: np.ndarray, cam: Any,
                  plane_size: float | None) -> tuple[np.ndarray, float]:
    """`(centroid (3,), scale)` of the region shadows must cover: every object and the part
    of the support plane the camera sees (clipped to the plane)."""
    pts = [o.all_points() for o in objects]
    if plane_size is not None:
        half = plane_size / 2
        u = np.array([0.0, view.width - 1.0, view.width - 1.0, 0.0])
        v = np.array([0.0, 0.0, view.height - 1.0, view.height - 1.0])
        rays = np.stack([(u - view.cx) / view.fx, (v - view.cy) / view.fy, np.ones(4)], axis=1)
        d = rays @ cam_pose[:3, :3].T
        o = cam_pose[:3, 3]
        hits = []
        for di in d:
            if di[2] < -1e-9:
                t = min(-o[2] / di[2], cam.zfar)
                hits.append(o + t * di)
            else:  # looking above the horizon: the plane reaches its edge
                hits.append(o + cam.zfar * di)
        h = np.asarray(hits)
        h[:, :2] = np.clip(h[:, :2], -half, half)
        h[:, 2] = 0.0
        pts.append(h)
    if not pts:
        return np.zeros(3), 1.0
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    return 0.5 * (lo + hi), max(float(np.linalg.norm(hi - lo)), 1e-3)
