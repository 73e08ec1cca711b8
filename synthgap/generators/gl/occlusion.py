"""Which part instances might be hidden by something else in an image (pure NumPy, no GL).

The visible fraction of an instance is visible pixels / pixels it would cover with nothing in
front of it. The second count needs a segmentation pass without the occluders, unless nothing
can occlude the instance. `solo_groups` finds the instances that may be occluded (their
projected bounds overlap another object's, or the support plane can be in front of them) and
packs them into as few passes as possible: instances whose projected bounds do not overlap can
share a pass, since none of them can then cover another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synthgap.generators.camera.distortion import RenderView

__all__ = ["Bounds", "solo_groups", "transform_points", "unit_cube_corners"]


@dataclass
class Bounds:
    """A drawn object for the occlusion test.

    Attributes:
        iid: instance id (1-based), 0 for objects that are never instances (distractors).
        points: `(k, 3)` world points (metres) whose convex hull contains the object.
        extra: more such point sets (e.g. the instance's defect patches).
    """

    iid: int
    points: np.ndarray
    extra: list[np.ndarray] = field(default_factory=list)

    def all_points(self) -> np.ndarray:
        return np.concatenate([self.points, *self.extra]) if self.extra else self.points


def unit_cube_corners() -> np.ndarray:
    """`(8, 3)` corners of the cube [-0.5, 0.5]^3."""
    return np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])


def transform_points(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """`(k, 3)` points mapped by a 4x4 rigid (or scaled) transform."""
    out: np.ndarray = points @ pose[:3, :3].T + pose[:3, 3]
    return out


def screen_box(points_w: np.ndarray, cam_from_world: np.ndarray, view: RenderView,
               znear: float = 1e-6) -> tuple[float, float, float, float]:
    """Pixel box `(x0, y0, x1, y1)` of world points in the render view, grown by 1 px; the
    whole plane if any point is at or behind `znear` (projection is not monotonic there)."""
    pc = transform_points(points_w, cam_from_world)
    if np.any(pc[:, 2] <= znear):
        return (-math.inf, -math.inf, math.inf, math.inf)
    u = view.fx * pc[:, 0] / pc[:, 2] + view.cx
    v = view.fy * pc[:, 1] / pc[:, 2] + view.cy
    return (u.min() - 1, v.min() - 1, u.max() + 1, v.max() + 1)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def solo_groups(objects: Sequence[Bounds], view: RenderView, cam_pose: np.ndarray,
                plane: bool) -> list[list[int]]:
    """Instance ids that may be occluded, grouped so no two in a group can overlap on screen.

    Args:
        objects: everything drawn except the support plane.
        view: the render view (intrinsics of the undistorted render).
        cam_pose: `(4, 4)` world-from-camera, OpenCV frame.
        plane: whether the support plane z = 0 is drawn; it can hide an instance only when the
            camera is below it or the instance dips more than 0.1 mm below it.

    Returns:
        Groups of instance ids; each group needs one segmentation pass drawing only its members.
    """
    cam_from_world = np.linalg.inv(cam_pose)
    pts = [o.all_points() for o in objects]
    boxes = [screen_box(p, cam_from_world, view) for p in pts]
    cam_below = cam_pose[2, 3] <= 0
    needs = []
    for i, o in enumerate(objects):
        if o.iid <= 0:
            continue
        occluded = any(_overlap(boxes[i], boxes[j]) for j in range(len(objects)) if j != i)
        if plane and (cam_below or pts[i][:, 2].min() < -1e-4):
            occluded = True
        if occluded:
            needs.append(i)
    groups: list[list[int]] = []
    group_boxes: list[list[tuple[float, ...]]] = []
    for i in needs:
        for g, gb in zip(groups, group_boxes, strict=True):
            if not any(_overlap(boxes[i], b) for b in gb):
                g.append(objects[i].iid)
                gb.append(boxes[i])
                break
        else:
            groups.append([objects[i].iid])
            group_boxes.append([boxes[i]])
    return groups
