"""Lights -> the individual emitters the renderer shades, packed into passes. Pure NumPy.

pyrender's shader takes a fixed number of lights of each type (directional, spot, point) in
one draw: 4 by default, `MAX_PER_PASS` (16) in the renderer, which raises pyrender's limit;
`MAX_SHADOWED_PER_PASS` (4) for lights with shadow maps, which also take texture units.
`emitters(params.lights)` expands every light (a ring, dome or area light into its many
lights) and `light_passes` packs them into as few passes as those limits allow; the renderer
draws one colour pass per group and sums them in linear light, so no light is ever dropped.
Lights that cast shadows and lights that do not never share a type slot in a pass
(pyrender's shadow flag is per type and per draw).

A point light that only lights what is in front of it (the lights of a ring, which sit in
the camera's plane: everything the camera sees is in front of them) may take a free spot
slot as a spot light with a 180° cone, which shades exactly as a point light there.

Frames and units: those of `synthgap.generators.params` (light poses world-from-light,
shining along -z; metres; radians).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from synthgap.generators.params import LightParams, Vec3, vec3

__all__ = ["MAX_PER_PASS", "MAX_SHADOWED_PER_PASS", "Emitter", "as_hemispherical_spot",
           "dome_directions", "emitters", "light_passes"]

#: Lights of each type per draw (pyrender's `MAX_N_LIGHTS` while the renderer draws).
MAX_PER_PASS = 16
#: Shadowed lights of each type per draw (each needs a shadow map texture unit).
MAX_SHADOWED_PER_PASS = 4
#: Cone of a spot light that stands in for a point light in front of it (radians): the
#: shader's attenuation is 1 for every direction within 89.4° of the axis.
_HEMI_OUTER = math.pi / 2
_HEMI_INNER = math.pi / 2 - 0.01


@dataclass(frozen=True, eq=False)
class Emitter:
    """One light as pyrender shades it.

    Attributes:
        type: `directional`, `spot` or `point`.
        color: linear RGB in [0, 1].
        intensity: W/m² (directional) or candela (spot, point).
        pose: `(4, 4) float64` world-from-light, shining along -z.
        inner_cone, outer_cone: spot cone half angles, radians.
        shadows: draw a shadow map for it.
        front_only: a point light that may be drawn as a 180° spot light (see module doc).
        source: index of the `params.lights` entry it comes from.
    """

    type: str
    color: tuple[float, float, float]
    intensity: float
    pose: np.ndarray
    inner_cone: float = 0.0
    outer_cone: float = math.pi / 4
    shadows: bool = False
    front_only: bool = False
    source: int = 0


def dome_directions(count: int) -> np.ndarray:
    """`(count, 3)` unit vectors spread evenly over the upper hemisphere (z > 0), pointing
    from the scene towards each light (a Fibonacci spiral by equal solid angle, from near
    the zenith down to 5° above the horizon)."""
    if count < 1:
        raise ValueError(f"a dome needs count >= 1 lights, got {count}")
    i = np.arange(count) + 0.5
    z = 1.0 - i / count * (1.0 - math.sin(math.radians(5.0)))  # equal solid angle bands
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    phi = i * math.pi * (3.0 - math.sqrt(5.0))  # golden angle
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _aim(position: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """World-from-light pose at `position` shining along unit `direction` (-z)."""
    z = -direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, position
    return T


class _Shared(TypedDict):
    """The fields every emitter of one light shares."""

    color: Vec3
    shadows: bool
    source: int


def emitters(lights: Sequence[LightParams]) -> list[Emitter]:
    """Expand every light into the emitters that make it, in `lights` order.

    Args:
        lights: the sampled lights (`SampleParams.lights`).

    Returns:
        Emitters; a ring, dome or area light of intensity I and n lights gives n emitters of
        intensity I / n each.

    Raises:
        ValueError: a negative or non-finite intensity, a bad ring/dome/area size, or an
            unknown type; the message names `lights[j]`.
    """
    out: list[Emitter] = []
    for j, light in enumerate(lights):
        color = vec3(light.color)
        pose = np.asarray(light.pose, dtype=float)
        if not (np.isfinite(light.intensity) and light.intensity >= 0):
            raise ValueError(f"lights[{j}].intensity: expected >= 0, got {light.intensity!r}")
        if light.shadows and light.type not in ("directional", "spot", "dome", "area"):
            raise ValueError(f"lights[{j}].shadows: shadow maps exist for directional, spot, "
                             f"dome and area lights, not {light.type}")
        kw: _Shared = {"color": color, "shadows": light.shadows, "source": j}
        if light.type in ("directional", "point"):
            out.append(Emitter(light.type, intensity=light.intensity, pose=pose, **kw))
        elif light.type == "spot":
            out.append(Emitter("spot", intensity=light.intensity, pose=pose,
                               inner_cone=float(light.extra.get("inner_cone", 0.0)),
                               outer_cone=float(light.extra.get("outer_cone", math.pi / 4)),
                               **kw))
        elif light.type == "ring":
            count = int(light.extra.get("count", 8))
            radius = float(light.extra.get("radius", 0.05))
            if count < 1 or not radius >= 0:
                raise ValueError(f"lights[{j}] ring: expected count >= 1 and radius >= 0, "
                                 f"got count={count}, radius={radius}")
            for a in np.arange(count) * (2 * np.pi / count):
                p = pose.copy()
                p[:3, 3] = pose[:3, :3] @ [radius * np.cos(a), radius * np.sin(a), 0.0] \
                    + pose[:3, 3]
                out.append(Emitter("point", intensity=light.intensity / count, pose=p,
                                   front_only=True, **kw))
        elif light.type == "dome":
            count = int(light.extra.get("count", 16))
            dirs = dome_directions(count) @ pose[:3, :3].T
            for d in dirs:
                out.append(Emitter("directional", intensity=light.intensity / count,
                                   pose=_aim(pose[:3, 3], -d), **kw))
        elif light.type == "area":
            nx, ny = int(light.extra.get("nx", 4)), int(light.extra.get("ny", 4))
            w, h = float(light.extra.get("width", 0.1)), float(light.extra.get("height", 0.1))
            if nx < 1 or ny < 1 or not (w > 0 and h > 0):
                raise ValueError(f"lights[{j}] area: expected nx, ny >= 1 and a positive size, "
                                 f"got {nx} x {ny}, {w} x {h} m")
            xs = (np.arange(nx) + 0.5) / nx * w - w / 2
            ys = (np.arange(ny) + 0.5) / ny * h - h / 2
            for y in ys:
                for x in xs:
                    p = pose.copy()
                    p[:3, 3] = pose[:3, :3] @ [x, y, 0.0] + pose[:3, 3]
                    out.append(Emitter("spot", intensity=light.intensity / (nx * ny), pose=p,
                                       inner_cone=float(light.extra.get("inner_cone", 0.0)),
                                       outer_cone=float(light.extra.get("outer_cone", 1.0)),
                                       **kw))
        elif light.type == "environment":
            continue  # not an emitter: the renderer shades it in the first colour pass
        else:
            raise ValueError(f"lights[{j}].type: expected directional, point, spot, ring, dome, "
                             f"area or environment, got {light.type!r}")
    return out


def as_hemispherical_spot(e: Emitter) -> Emitter:
    """A `front_only` point light as the 180° spot light that shades the same in front."""
    return Emitter("spot", e.color, e.intensity, e.pose, _HEMI_INNER, _HEMI_OUTER,
                   e.shadows, False, e.source)


def light_passes(ems: Sequence[Emitter], per_pass: int = MAX_PER_PASS,
                 per_pass_shadowed: int = MAX_SHADOWED_PER_PASS) -> list[list[Emitter]]:
    """Pack emitters into passes of at most `per_pass` lights of each pyrender type (at most
    `per_pass_shadowed` of them when they cast shadows).

    Shadowed and unshadowed lights of one type go to different passes (shadowed first);
    `front_only` point lights fill the free spot slots of passes without shadowed spots (as
    `as_hemispherical_spot`). Emitter order within each type is kept: the packing is
    deterministic.

    Returns:
        The passes, at least one (empty when there are no lights).
    """
    def chunks(kind: str) -> list[list[Emitter]]:
        out: list[list[Emitter]] = []
        for shadowed in (True, False):
            sel = [e for e in ems if e.type == kind and e.shadows == shadowed]
            n = per_pass_shadowed if shadowed else per_pass
            out += [sel[i:i + n] for i in range(0, len(sel), n)]
        return out

    dirs, spots = chunks("directional"), chunks("spot")
    points = deque(e for e in ems if e.type == "point")
    passes: list[list[Emitter]] = []
    k = 0
    while k == 0 or k < len(dirs) or k < len(spots) or points:
        spot = list(spots[k]) if k < len(spots) else []
        point = [points.popleft() for _ in range(min(per_pass, len(points)))]
        if not any(e.shadows for e in spot):  # (a point light in a shadowed pass would too)
            while points and len(spot) < per_pass and points[0].front_only:
                spot.append(as_hemispherical_spot(points.popleft()))
        passes.append((dirs[k] if k < len(dirs) else []) + spot + point)
        k += 1
    return passes
