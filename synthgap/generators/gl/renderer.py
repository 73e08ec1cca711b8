"""The renderer: `SampleParams` + part meshes -> pixels, drawn with pyrender's public API.

Only `synthgap.generators.gl.pyrender_compat` imports pyrender/OpenGL: it holds every use of
pyrender internals (patched shaders, read-back, light sets, module constants), checked
against one pinned pyrender version. This module and `scene_graph` (the nodes of the
scene) use pyrender's public API through the module object `open_offscreen` returns;
`compositing` combines the passes without GL.

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

Lights (`synthgap.generators.look.lighting`): every light is shaded. A ring, dome or area light is
expanded into its lights (the whole light's intensity shared by them); pyrender's shader takes
a fixed number of lights of each type per draw (raised here from 4 to 16; 4 with shadow
maps), so the colour pass is drawn once per such group and the passes are summed in linear
light (ambient in the first only). Lights with `shadows`
get pyrender's shadow maps (directional and spot), their cameras fitted to the objects and
the visible part of the support plane.

Appearance: a part whose material `source` is `mesh` is drawn with its mesh's own vertex
colours (converted from sRGB to linear: pyrender multiplies by them undecoded) or UV
textures (sRGB, decoded by the shader), times `brightness`; hue/saturation jitter recolours
the texture, or draws a recoloured copy of the vertex colours for that frame. A procedural
finish (`MaterialParams.texture`) is drawn with box-projected or xatlas UVs (`uv`) and its
normal map at `normal_strength` (0: none). An `environment` light with an `image` binds its
pre-filtered map (made once per image, `SceneGraph.environment_map`) for the first colour
pass, which then uses the `image` shader variant (`pyrender_compat.SHADER_MODES`).

Platform: EGL (headless Mesa llvmpipe or a GPU) unless `PYOPENGL_PLATFORM` says otherwise;
when EGL cannot make a context and the user did not choose a platform, OSMesa is tried.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import trimesh

import synthgap.generators.gl.pyrender_compat as compat
from synthgap.generators.camera.distortion import distort_linear, distort_nearest, render_view
from synthgap.generators.defects.geometry import (
    GEOMETRY_DEFECT_TYPES,
    SUBTRACTIVE_TYPES,
    DefectedMesh,
    GeometryDefectError,
    apply_geometry_defects,
    see_through,
)
from synthgap.generators.defects.surface import defect_mesh, iter_defects
from synthgap.generators.gl.compositing import (
    BackgroundImages,
    environment,
    passes_flat,
    shadow_focus,
    sum_passes,
)
from synthgap.generators.gl.context import open_offscreen
from synthgap.generators.gl.occlusion import (
    Bounds,
    solo_groups,
    transform_points,
    unit_cube_corners,
)
from synthgap.generators.gl.scene_graph import DEFECT_FINISH, SceneGraph, material
from synthgap.generators.look.lighting import MAX_PER_PASS, emitters, light_passes
from synthgap.generators.params import DefectParams, MaterialParams, SampleParams, Vec3
from synthgap.generators.parts.lod import MIN_FACES as LOD_MIN_FACES
from synthgap.generators.parts.lod import MIN_ROUGHNESS as LOD_MIN_ROUGHNESS
from synthgap.generators.parts.lod import bounding_sphere, lod_level, lod_mesh, simplifiable

__all__ = ["RenderResult", "Renderer"]

#: OpenCV camera frame -> OpenGL camera frame (flip y and z).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
#: Shadow map edge, texels.
_SHADOW_MAP_SIZE = 1024
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


@dataclass(frozen=True, eq=False)
class _Edited:
    """A part instance drawn with its geometry defects: instance id, the ids of those
    defects, the edited mesh, world-from-object pose, the hidden defect-free node, the node
    of the untouched surface and the node of each defect's faces."""

    iid: int
    dids: list[int]
    dm: DefectedMesh
    pose: np.ndarray
    original: Any
    surface: Any
    made: list[Any]


def _defect_ids(params: SampleParams) -> list[list[int]]:
    """Defect ids (`iter_defects` numbering) of each instance's defects, in order."""
    ids: list[list[int]] = [[] for _ in params.parts]
    for did, iid, _ in iter_defects(params):
        ids[iid - 1].append(did)
    return ids


def _surface_colour(d: DefectParams) -> Vec3:
    """A surface defect's colour (the scene schema gives every surface defect type one)."""
    if d.color is None:
        raise ValueError(f"a {d.type} defect has no colour; surface defects need one")
    return d.color


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
        lod: draw dense meshes in the colour passes and shadow maps with as many triangles
            as their size on screen can show (`synthgap.generators.parts.lod`); labels (masks,
            depth, unoccluded counts) always come from the full mesh. Instances with
            defects or a glossy material (roughness < `lod.MIN_ROUGHNESS`), and UV-textured
            meshes, are always drawn in full.
    """

    def __init__(self, width: int, height: int, *, fast_readback: bool = True,
                 lod: bool = True) -> None:
        if int(width) < 1 or int(height) < 1:
            raise ValueError(f"Renderer: width and height must be >= 1, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self._fast_readback = fast_readback
        self._lod = lod
        self.platform: str | None = None
        self._pr: ModuleType | None = None
        self._offscreen: Any = None
        self._cam_node: Any = None
        self._graph: SceneGraph | None = None  # the pyrender scene and its cached nodes
        self._shaders: tuple[Any, ...] | None = None  # patched shader caches, per mode
        self._backgrounds = BackgroundImages()

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
        self._offscreen = self._cam_node = self._graph = None

    def _ensure_gl(self) -> None:
        if self._offscreen is not None:
            return
        self._pr, self._offscreen, self.platform = open_offscreen(self.width, self.height)
        pr = self._pr
        self._shaders = compat.install_shaders(self._offscreen)
        if self._fast_readback:
            compat.install_fast_readback(self._offscreen)
        scene = compat.focused_scene_class(pr)(bg_color=[0.0, 0.0, 0.0, 0.0])
        # lights bound to shader slots in the order of `params.lights`, in every process
        compat.use_ordered_light_sets(scene)
        self._cam_node = scene.add(pr.IntrinsicsCamera(1.0, 1.0, 0.0, 0.0))
        self._graph = SceneGraph(pr, scene)
        self._graph.patched_shaders = self._shaders is not None

    def _add_stage(self, stage: str, seconds: float) -> None:
        """Accumulate a per-image pass's time into `stage_seconds` (no log line per image)."""
        if self._graph is not None:
            times = self._graph.stage_seconds
            times[stage] = times.get(stage, 0.0) + seconds

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Seconds of work done inside `render` so far, by stage: `xatlas` (UV unwraps, once
        per mesh), `environment prefilter` (once per environment image), and per image with
        geometry defects `geometry_defects` (the booleans) and `see_through` (the
        defect-free comparison pass)."""
        return dict(self._graph.stage_seconds) if self._graph is not None else {}

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
            GLUnavailableError: no OpenGL platform works on this machine (`gl.context`).
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
        pr, graph = self._pr, self._graph
        assert pr is not None and graph is not None  # set by _ensure_gl
        scene = graph.scene
        graph.begin_frame()

        # Camera (OpenCV pixel centres are at integers, OpenGL's at half-integers).
        self._cam_node.camera = pr.IntrinsicsCamera(view.fx, view.fy, view.cx + 0.5,
                                                    view.cy + 0.5, znear=cam.znear,
                                                    zfar=cam.zfar)
        cam_pose = np.asarray(cam.pose, dtype=float)
        scene.set_pose(self._cam_node, cam_pose @ _CV_TO_GL)
        self._offscreen.viewport_width = view.width
        self._offscreen.viewport_height = view.height

        # Parts (geometry defects applied), their defect patches, distractors, plane.
        objects, nodes, edited, labels = self._place_parts(params, meshes, view, cam_pose)
        defect_nodes = self._place_defects(params, meshes, objects)
        for e in edited:
            defect_nodes.update({nd: (e.iid, did) for nd, did in zip(e.made, e.dids,
                                                                      strict=True)})
        if len(defect_nodes) > 255:
            raise ValueError(f"{len(defect_nodes)} defects in one image; at most 255 are "
                             "supported (defect ids are 8-bit in the segmentation pass)")
        used_prims: dict[str, int] = {}
        for j, dist in enumerate(params.distractors):
            node, box = graph.distractor_node(j, dist, used_prims)
            objects.append(Bounds(0, transform_points(unit_cube_corners(), box)))
            nodes.append(node)

        bg = params.background
        plane_node = None
        if bg.plane:
            plane_node = graph.plane_node(bg)
        else:
            graph.hide_plane()

        rgb = self._colour_passes(params, objects, view, cam_pose)  # 1. colour
        for node in labels:  # parts drawn simplified: their full mesh gives the labels
            node.mesh.is_visible = True

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
        opened = [e for e in edited if any(d.type in SUBTRACTIVE_TYPES for d in e.dm.defects)]
        if opened:  # 2b. where a chip or hole lets one see through: compare with no defects
            t0 = time.perf_counter()
            self._see_through(opened, seg_map, inst_mask, depth, defect_mask, view, cam_pose)
            self._add_stage("see_through", time.perf_counter() - t0)

        # 3. unoccluded pixel counts
        mask_out = distort_nearest(inst_mask, view)
        groups = (solo_groups(objects, view, cam_pose, plane_node is not None)
                  if params.parts else [])
        unoccluded = self._unoccluded(len(params.parts), groups, mask_out, objects, nodes,
                                      defect_nodes, seg_map, view)
        return RenderResult(
            rgb=distort_linear(rgb, view),
            depth=distort_nearest(depth.astype(np.float32, copy=False), view),
            instance_mask=mask_out,
            defect_mask=distort_nearest(defect_mask, view),
            unoccluded_pixels=unoccluded,
            extra_passes=len(groups),
        )

    def _unoccluded(self, n: int, groups: list[list[int]], mask_out: np.ndarray,
                    objects: list[Bounds], nodes: list[Any],
                    defect_nodes: dict[Any, tuple[int, int]],
                    seg_map: dict[Any, tuple[int, int, int]], view: Any) -> np.ndarray:
        """`(n,)` int64 pixels each instance would cover with nothing in front of it: its
        visible pixels in `mask_out` (the distorted instance mask), or for the instances of
        each of `groups` (ids that may be occluded) a segmentation pass of the group alone."""
        pr = self._pr
        assert pr is not None and self._graph is not None
        visible = np.bincount(mask_out.ravel(), minlength=n + 1)[1:n + 1]
        unoccluded = np.zeros(n, np.int64)
        unoccluded[:] = visible
        for group in groups:
            solo_map = {nd: seg_map[nd] for o, nd in zip(objects, nodes, strict=True)
                        if o.iid in group}
            solo_map.update({nd: seg_map[nd] for nd, (iid, _) in defect_nodes.items()
                             if iid in group})
            solo, _ = self._offscreen.render(self._graph.scene, pr.RenderFlags.SEG, solo_map)
            solo_ids = solo[:, :, 0].astype(np.uint16) | (solo[:, :, 1].astype(np.uint16) << 8)
            counts = np.bincount(distort_nearest(solo_ids, view).ravel(), minlength=n + 1)
            for iid in group:
                unoccluded[iid - 1] = max(int(counts[iid]), int(visible[iid - 1]))
        return unoccluded

    def _see_through(self, opened: list[_Edited], seg_map: dict[Any, tuple[int, int, int]],
                     inst_mask: np.ndarray, depth: np.ndarray, defect_mask: np.ndarray,
                     view: Any, cam_pose: np.ndarray) -> None:
        """Add to `defect_mask` (in place) the pixels where the defect-free instance was seen
        and a chip or hole now lets one see past it: one segmentation pass with the
        original meshes of `opened`, everything else as drawn."""
        pr = self._pr
        assert pr is not None
        ref_map = dict(seg_map)
        for e in opened:
            for nd in (e.surface, *e.made):
                ref_map.pop(nd, None)
            e.original.mesh.is_visible = True
            ref_map[e.original] = (e.iid & 255, e.iid >> 8, 0)
        try:
            assert self._graph is not None
            ref, ref_depth = self._offscreen.render(self._graph.scene, pr.RenderFlags.SEG,
                                                    ref_map)
        finally:
            for e in opened:
                e.original.mesh.is_visible = False
        ref_inst = ref[:, :, 0].astype(np.uint16) | (ref[:, :, 1].astype(np.uint16) << 8)
        K = (view.fx, view.fy, view.cx, view.cy)
        for e in opened:
            see_through(defect_mask, e.iid, e.dids, e.dm, inst_mask=inst_mask, depth=depth,
                        ref_instances=ref_inst, ref_depth=ref_depth, K=K, cam_pose=cam_pose,
                        pose=e.pose)

    def _place_parts(self, params: SampleParams, meshes: Mapping[str, trimesh.Trimesh],
                     view: Any, cam_pose: np.ndarray,
                     ) -> tuple[list[Bounds], list[Any], list[_Edited], list[Any]]:
        """Pose and dress the part instances; their bounds (ids k + 1) and label nodes (what
        the segmentation passes draw), in order, the instances whose geometry defects edit
        their mesh, and the hidden full-mesh label nodes of the parts drawn simplified (to
        show after the colour passes)."""
        pr, graph = self._pr, self._graph
        assert pr is not None and graph is not None
        scene = graph.scene
        objects: list[Bounds] = []  # everything drawn but the plane, for the occlusion test
        nodes: list[Any] = []  # their nodes, in the same order
        used: dict[tuple[str, str, float], int] = {}
        edited: list[_Edited] = []
        labels: list[Any] = []
        dids = _defect_ids(params)
        for k, inst in enumerate(params.parts):
            m = inst.material
            kind = "own" if m.source == "mesh" else "plain" if m.texture == "none" \
                else "atlas" if m.uv == "xatlas" else "tex"
            tile = float(m.texture_scale) if kind in ("tex", "atlas") else 0.0
            pose = np.asarray(inst.pose, dtype=float)
            mesh = meshes[inst.part]
            level = self._lod_level(mesh, pose, view, cam_pose) \
                if not inst.defects and m.roughness >= LOD_MIN_ROUGHNESS else 0
            name = inst.part if level == 0 else f"{inst.part}\x00lod{level}"
            slot = used.get((name, kind, tile), 0)
            used[(name, kind, tile)] = slot + 1
            node, prim, corners = graph.part_node(name, slot, lod_mesh(mesh, level), kind,
                                                  tile)
            label = None
            if level:  # the full mesh, hidden in the colour passes, drawn for the labels
                label_slot = used.get((inst.part, "\x00label", 0.0), 0)
                used[(inst.part, "\x00label", 0.0)] = label_slot + 1
                label, _, corners = graph.part_node(f"{inst.part}\x00label", label_slot, mesh,
                                                    "label")
                label.mesh.is_visible = False  # (a node made just now is visible)
                scene.set_pose(label, pose)
                labels.append(label)
            if kind == "own":
                node, prim = graph.own_look(name, node, prim, m)
            elif kind in ("tex", "atlas"):
                if m.normal_strength > 0 and not graph.patched_shaders:
                    raise ValueError(f"parts[{k}].material.normal_strength: normal maps need "
                                     "synthgap's patched shaders, which do not apply to this "
                                     "pyrender version; set normal_strength: 0")
                base, mr, bump = graph.surface_maps(m.texture, m.texture_seed)
                prim.material = material(pr, m, base, mr, bump)
            else:
                prim.material = material(pr, m)
            geo = [(dids[k][j], d) for j, d in enumerate(inst.defects)
                   if d.type in GEOMETRY_DEFECT_TYPES]
            if geo:
                scene.set_pose(node, pose)  # the defect-free look, for `_see_through`
                node = self._edit_part(k, inst, meshes[inst.part], node, prim,
                                       (inst.part, kind, tile), pose, geo, edited)
            else:
                node.mesh.is_visible = True
                scene.set_pose(node, pose)
            objects.append(Bounds(k + 1, transform_points(corners, pose)))
            nodes.append(node if label is None else label)

        return objects, nodes, edited, labels

    def _lod_level(self, mesh: trimesh.Trimesh, pose: np.ndarray, view: Any,
                   cam_pose: np.ndarray) -> int:
        """Level of detail of `mesh` at world-from-object `pose` in this view (0: full)."""
        if not self._lod or len(mesh.faces) < 2 * LOD_MIN_FACES or not simplifiable(mesh):
            return 0
        centre, radius = bounding_sphere(mesh)
        world = pose[:3, :3] @ centre + pose[:3, 3]
        depth = float((world - cam_pose[:3, 3]) @ cam_pose[:3, 2])  # along the optical axis
        if depth <= radius:  # the camera is inside or at the bounding sphere: draw it all
            return 0
        return lod_level(len(mesh.faces), radius * max(view.fx, view.fy) / (depth - radius))

    def _edit_part(self, k: int, inst: Any, mesh: trimesh.Trimesh, node: Any, prim: Any,
                   look: tuple[str, str, float], pose: np.ndarray,
                   geo: list[tuple[int, Any]], edited: list[_Edited]) -> Any:
        """Draw instance k with its geometry defects applied (instead of its cached node,
        which stays hidden); returns the node of its untouched surface."""
        pr, graph = self._pr, self._graph
        assert pr is not None and graph is not None
        node.mesh.is_visible = False  # shown only in the defect-free comparison pass
        original = node
        t0 = time.perf_counter()
        try:
            dm = apply_geometry_defects(mesh, [d for _, d in geo])
        except ValueError as exc:
            raise GeometryDefectError(
                f"part '{inst.part}' (instance {k + 1}): its sampled geometry defects cannot "
                f"be made: {exc} (scene field: that part's `defects`)") from exc
        self._add_stage("geometry_defects", time.perf_counter() - t0)
        m = inst.material
        mats = [None if d.color is None else material(pr, MaterialParams(
            tuple(d.color), m.metallic, m.roughness)) for _, d in geo]
        surface, made = graph.defected_part(look, dm, mesh, prim, pose, mats)
        edited.append(_Edited(iid=k + 1, dids=[did for did, _ in geo], dm=dm, pose=pose,
                              original=original, surface=surface, made=made))
        return surface

    def _place_defects(self, params: SampleParams, meshes: Mapping[str, trimesh.Trimesh],
                       objects: list[Bounds]) -> dict[Any, tuple[int, int]]:
        """Add this frame's defect patches; node -> (instance id, defect id). Extends each
        instance's bounds in `objects` by its patches."""
        pr, graph = self._pr, self._graph
        assert pr is not None and graph is not None
        defect_nodes: dict[Any, tuple[int, int]] = {}
        layers: dict[int, int] = {}
        for did, iid, d in iter_defects(params):
            if d.type in GEOMETRY_DEFECT_TYPES:
                continue  # drawn by `_edit_part`
            inst = params.parts[iid - 1]
            layers[iid] = layer = layers.get(iid, -1) + 1  # later defects lie on top
            dm = defect_mesh(d, meshes[inst.part], layer=layer)
            prim = pr.Primitive(positions=dm.vertices.astype(np.float32),
                                normals=dm.vertex_normals.astype(np.float32),
                                indices=dm.faces.astype(np.uint32),
                                material=material(pr, MaterialParams(
                                    _surface_colour(d), *DEFECT_FINISH.get(d.type, (0.9, 0.35)))))
            pose = np.asarray(inst.pose, dtype=float)
            node = graph.add_frame_mesh(prim, pose)
            defect_nodes[node] = (iid, did)
            objects[iid - 1].extra.append(transform_points(dm.vertices, pose))
        if len(params.parts) > 65535:
            raise ValueError(f"{len(params.parts)} part instances; at most 65535 per image")

        return defect_nodes

    def _colour_passes(self, params: SampleParams, objects: list[Bounds], view: Any,
                       cam_pose: np.ndarray) -> np.ndarray:
        """The colour of the frame, `(h, w, 3) uint8` at the render view's size, composited."""
        graph = self._graph
        assert graph is not None
        scene, cam, bg = graph.scene, params.camera, params.background
        # 1. colour passes, over transparent black: the resolved colour is premultiplied by
        # coverage, so anything behind (clear colour or image) is composited exactly. Lights
        # are drawn in passes of at most 4 per type, summed in linear light; ambient once.
        passes = light_passes(emitters(params.lights))
        if any(e.shadows for e in passes_flat(passes)):
            scene.focus = shadow_focus(objects, view, cam_pose, cam,
                                        bg.plane_size if bg.plane else None)
        scene.bg_color = [0.0, 0.0, 0.0, 0.0]
        layers_rgba = []
        compat.skip_depth(self._offscreen, True)
        try:
            env = environment(params)
            mode = "plain" if env is None else "studio"
            image = next(((light.image, light.projection) for light in params.lights
                          if light.type == "environment" and light.image is not None), None)
            if image is not None:
                mode = "image"
                if self._shaders is None:
                    compat.use_shader_cache(self._offscreen, None, mode)  # raises
                compat.bind_environment(self._offscreen, graph.environment_map(
                    self._offscreen, image[0], image[1] or "auto"))
            for p, group in enumerate(passes):
                ambient = np.asarray(bg.ambient, dtype=float) if p == 0 else np.zeros(3)
                compat.use_shader_cache(self._offscreen, self._shaders,
                                        mode if p == 0 else "plain")
                scene.ambient_light = ambient + env if env is not None and p == 0 else ambient
                flags = graph.set_lights(group)
                rgba, _ = self._offscreen.render(scene, flags)
                layers_rgba.append(rgba)
        finally:
            compat.skip_depth(self._offscreen, False)
            compat.use_shader_cache(self._offscreen, self._shaders, False)
            scene.focus = None
        rgba = layers_rgba[0] if len(layers_rgba) == 1 else sum_passes(layers_rgba)
        return self._backgrounds.composite(rgba, bg.image, bg.image_crop, bg.color)
