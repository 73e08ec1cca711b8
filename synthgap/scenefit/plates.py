"""Background plates: the photos with every known part removed, and how much of a render's
crops show real objects.

A render composited over a raw photo shows that photo's real parts behind (and beside) the
rendered ones, unlabelled or under a wrong label. A plate removes them: each known part's
mask (rendered from its pose, `generators.ground_truth`) is dilated and filled, in order:

1. from another photo taken from the same viewpoint (a fixed cell camera: their free pixels
   agree with this photo's), pixel for pixel;
2. for pixels that see the table (the support plane near the parts): from other photos
   through a homography of the table, estimated from ORB features matched on the free table
   of both photos (RANSAC), where that table point is free in the other photo (the table and
   what lies flat on it stays put even when the parts move between photos; what stands on it
   is smeared, as any plane warp does);
3. the rest by inpainting (OpenCV Telea).

`object_pixel_share` measures, over the instance crops of a rendered dataset, the share of
pixels that come from a background photo's real objects (masks given per photo).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from synthgap.data.layout import read_depth, read_image, write_image_atomic
from synthgap.scenefit.observations import PhotoObservation
from synthgap.scenefit.plane import Plane
from synthgap.scenes.io import parse_scene, scene_to_yaml
from synthgap.scenes.schema import Scene

__all__ = [
    "PhotoMasks",
    "PlateReport",
    "ShareStats",
    "feature_homography",
    "fill_plate",
    "object_pixel_share",
    "photo_masks",
    "plane_pixel_mask",
    "views_scene",
    "write_plates",
]

#: Photos whose free pixels differ by less than this (mean absolute, 0-255) show the same place.
SAME_VIEW_DIFF = 10.0


@dataclass(frozen=True, eq=False)
class PhotoMasks:
    """Known-part masks of one photo.

    Attributes:
        instance_mask: `(H, W) uint16`, k + 1 where the photo's parts[k] is the nearest
            surface (rendered from its pose), 0 elsewhere.
        visib_fract: `(n,) float64` visible fraction of each part (rendered).
        categories: class of each part.
    """

    instance_mask: np.ndarray
    visib_fract: np.ndarray
    categories: tuple[str, ...]


def views_scene(template: Scene, K: np.ndarray, obs: Sequence[PhotoObservation]) -> Scene:
    """The template with one pinned `real_views` entry per photo (camera frame = world,
    intrinsics `K`): its parts, materials and lights, no distractors, no support plane, no
    sensor effects (the sensor fit compares the rest with the photos)."""
    data: dict[str, Any] = yaml.safe_load(scene_to_yaml(template))
    data.pop("sensor", None)
    cam = data["camera"]
    for key in ("calibration", "fov_deg"):
        cam.pop(key, None)
    cam["intrinsics"] = {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]),
                         "cy": float(K[1, 2])}
    cam["znear"], cam["zfar"] = 0.01, 50.0
    data["background"] = {"plane": False}
    data["distractors"] = {"count": 0}
    data["real_views"] = [{"photo": str(o.photo), "camera_pose": np.eye(4).tolist(),
                           "parts": [{"part": p.part, "pose": p.pose.tolist()} for p in o.parts]}
                          for o in obs]
    return parse_scene(data, base_dir=Path.cwd(), source="scene fit: photo masks")


def photo_masks(template: Scene, observations: Sequence[PhotoObservation]) -> list[PhotoMasks]:
    """Render each photo's known-part masks (BOP convention: the nearest surface wins).

    Photos are grouped by intrinsics (one scene per matrix). Needs OpenGL (EGL).
    """
    from synthgap.generators.real.ground_truth import iter_view_labels

    out: list[PhotoMasks | None] = [None] * len(observations)
    groups: dict[tuple[float, ...], list[int]] = {}
    for i, o in enumerate(observations):
        groups.setdefault(tuple(np.round(o.K.ravel(), 6)), []).append(i)
    for idx in groups.values():
        with_parts = [i for i in idx if observations[i].parts]
        empty = [i for i in idx if not observations[i].parts]
        for i in empty:
            h, w = read_image(observations[i].photo).shape[:2]
            out[i] = PhotoMasks(np.zeros((h, w), np.uint16), np.zeros(0), ())
        if not with_parts:
            continue
        scene = views_scene(template, observations[with_parts[0]].K,
                             [observations[i] for i in with_parts])
        for lab in iter_view_labels(scene):
            out[with_parts[lab.view_index]] = PhotoMasks(
                instance_mask=lab.instance_mask, visib_fract=lab.visib_fract,
                categories=lab.categories)
    return [m for m in out if m is not None]


def fill_plate(photo: np.ndarray, hole: np.ndarray,
               others: Sequence[tuple[np.ndarray, ...]] = (), *,
               plane_pixels: np.ndarray | None = None,
               inpaint_radius: int = 5) -> tuple[np.ndarray, int, int]:
    """Fill `hole` of `photo`: from `others`, then by inpainting.

    Args:
        photo: `(H, W, 3) uint8`.
        hole: `(H, W) bool`, the pixels to replace (dilated part masks).
        others: `(photo, hole)` pairs of other photos of the same size, used pixel for pixel
            where they are free and only when their free pixels match `photo`'s (mean
            absolute difference under `SAME_VIEW_DIFF` where both are free); or
            `(photo, hole, H)` triples, `H` the `(3, 3)` homography from this photo's pixels
            to the other's (`feature_homography`), used for `plane_pixels` only.
        plane_pixels: `(H, W) bool`, pixels that see the support plane (default: none may be
            filled through a homography).
        inpaint_radius: OpenCV inpainting radius, pixels.

    Returns:
        `(plate, pixels copied from other photos, pixels inpainted)`.
    """
    plate = photo.copy()
    todo = hole.copy()
    copied = 0
    h, w = hole.shape
    for entry in others:
        if not todo.any():
            break
        other, other_hole = entry[0], entry[1]
        if other.shape != photo.shape:
            continue
        if len(entry) > 2:  # through the plane: warp the other photo into this one
            if plane_pixels is None:
                continue
            H = np.asarray(entry[2], float)
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            warped = cv2.warpPerspective(other, H, (w, h), flags=flags)
            free = cv2.warpPerspective((~other_hole).astype(np.uint8), H, (w, h),
                                       flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                       borderValue=0) > 0
            take = todo & plane_pixels & free
        else:
            both = ~hole & ~other_hole
            if not both.any():
                continue
            diff = np.abs(other.astype(np.int16) - photo.astype(np.int16))[both].mean()
            if diff >= SAME_VIEW_DIFF:
                continue
            warped, take = other, todo & ~other_hole
        plate[take] = warped[take]
        copied += int(take.sum())
        todo &= ~take
    painted = int(todo.sum())
    if painted:
        plate = cv2.inpaint(plate, todo.astype(np.uint8) * 255, inpaint_radius, cv2.INPAINT_TELEA)
    return plate, copied, painted


def plane_pixel_mask(K: np.ndarray, normal: np.ndarray, offset: float, size: tuple[int, int],
                     centre: np.ndarray, radius: float) -> np.ndarray:
    """`(H, W) bool`: pixels whose ray meets the plane within `radius` metres of `centre`
    (camera frame), i.e. that see the table around the parts (not the room behind it)."""
    w, h = size
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    denom = rays @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = offset / denom
    pts = rays * depth[..., None]
    return np.asarray((depth > 0) & (np.linalg.norm(pts - centre, axis=-1) <= radius))


@dataclass(frozen=True)
class PlateReport:
    """What `write_plates` did.

    Attributes:
        files: the plate files, in photo order.
        object_share_before: mean share of photo pixels that are known parts (undilated).
        object_share_after: the same in the plates (known-part pixels left unreplaced).
        copied_share, inpainted_share: share of all plate pixels filled each way.
    """

    files: tuple[Path, ...]
    object_share_before: float
    object_share_after: float
    copied_share: float
    inpainted_share: float


def feature_homography(photo_a: np.ndarray, mask_a: np.ndarray, photo_b: np.ndarray,
                       mask_b: np.ndarray, *, min_inliers: int = 40
                       ) -> tuple[np.ndarray | None, int]:
    """`(3, 3)` homography from photo a's pixels to photo b's, from ORB features matched
    inside the masks (e.g. the free table in each), RANSAC (3 px).

    Returns:
        `(H or None, inliers)`; None with fewer than `min_inliers` inliers or under 30 %
        of the matches.
    """
    orb = cv2.ORB_create(3000)  # type: ignore[attr-defined]  # missing from the cv2 stubs
    ga = cv2.cvtColor(photo_a, cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(photo_b, cv2.COLOR_RGB2GRAY)
    ka, da = orb.detectAndCompute(ga, mask_a.astype(np.uint8) * 255)
    kb, db = orb.detectAndCompute(gb, mask_b.astype(np.uint8) * 255)
    if da is None or db is None or len(ka) < min_inliers or len(kb) < min_inliers:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
    if len(good) < min_inliers:
        return None, 0
    pa = np.array([ka[m.queryIdx].pt for m in good], np.float32)
    pb = np.array([kb[m.trainIdx].pt for m in good], np.float32)
    H, inl = cv2.findHomography(pa, pb, cv2.RANSAC, 3.0)
    n = int(np.asarray(inl).sum()) if inl is not None else 0
    if H is None or n < min_inliers or n < 0.3 * len(good):
        return None, n
    return np.asarray(H, float), n


def _sources(i: int, photos: Sequence[np.ndarray], holes: Sequence[np.ndarray],
             tables: Sequence[np.ndarray | None], *, most: int = 6
             ) -> list[tuple[np.ndarray, ...]]:
    """Fill sources of photo i: every other photo pixel for pixel (kept only if it is the
    same view), then up to `most` other photos through the table plane (homographies from
    features on the free table of both photos; most inliers first)."""
    out: list[tuple[np.ndarray, ...]] = [(photos[j], holes[j]) for j in range(len(photos))
                                         if j != i]
    ti = tables[i]
    if ti is None:
        return out
    via = []
    for j in range(len(photos)):
        tj = tables[j]
        if j == i or tj is None:
            continue
        H, n = feature_homography(photos[i], ti & ~holes[i], photos[j], tj & ~holes[j])
        if H is not None:
            via.append((n, photos[j], holes[j], H))
    via.sort(key=lambda e: -e[0])
    return out + [(p, hl, H) for _, p, hl, H in via[:most]]


def write_plates(observations: Sequence[PhotoObservation], masks: Sequence[PhotoMasks],
                 out_dir: str | Path, *, dilate_px: int = 9,
                 planes: Sequence[Plane] | None = None) -> PlateReport:
    """Write one plate PNG per photo (`OUT/<name>.png`) with every known part removed.

    Args:
        observations: the photos.
        masks: their rendered part masks (`photo_masks`).
        out_dir: the plate folder (created; only the plate files are written there).
        dilate_px: mask dilation radius in pixels (pose error, soft edges, contact shadows).
        planes: each photo's support plane (camera frame); with them, table pixels are filled
            through the plane from photos of the same arrangement (`fill_plate`).

    Returns:
        The `PlateReport`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = 2 * dilate_px + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    photos = [read_image(o.photo) for o in observations]
    holes = [cv2.dilate((m.instance_mask > 0).astype(np.uint8), kernel) > 0 for m in masks]
    files, before, after, copied, painted, total = [], [], [], 0, 0, 0
    tables: list[np.ndarray | None] = []
    for i, (o, photo) in enumerate(zip(observations, photos, strict=True)):
        table = None
        if planes is not None and o.parts:
            centre = np.mean([p.pose[:3, 3] for p in o.parts], axis=0)
            radius = max(float(np.linalg.norm(p.pose[:3, 3] - centre)) for p in o.parts) + 0.15
            table = plane_pixel_mask(o.K, planes[i].normal, planes[i].offset,
                                     (photo.shape[1], photo.shape[0]), centre, radius)
        tables.append(table)
    for i, (o, photo) in enumerate(zip(observations, photos, strict=True)):
        plate, c, p = fill_plate(photo, holes[i], _sources(i, photos, holes, tables),
                                 plane_pixels=tables[i])
        path = out / f"{o.name}.png"
        write_image_atomic(path, plate)
        files.append(path)
        obj = masks[i].instance_mask > 0
        before.append(float(obj.mean()))
        after.append(float((obj & ~holes[i]).mean()))
        copied, painted, total = copied + c, painted + p, total + obj.size
    return PlateReport(files=tuple(files), object_share_before=float(np.mean(before)),
                       object_share_after=float(np.mean(after)),
                       copied_share=copied / max(total, 1), inpainted_share=painted / max(total, 1))


@dataclass(frozen=True)
class ShareStats:
    """Real-object pixels in render crops.

    Attributes:
        crops: instance crops measured.
        mean_share: mean share of a crop's pixels that show a real object of a background
            photo.
        share_over_10pct: fraction of crops where that share is at least 10 %.
        other_class_over_10pct: fraction of crops where at least 10 % of the pixels show a
            real object of *another* class than the crop's (None without classes).
    """

    crops: int
    mean_share: float
    share_over_10pct: float
    other_class_over_10pct: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"crops": self.crops, "mean_share": round(self.mean_share, 4),
                "share_over_10pct": round(self.share_over_10pct, 4),
                "other_class_over_10pct": None if self.other_class_over_10pct is None
                else round(self.other_class_over_10pct, 4)}


def _background_labels(mask: np.ndarray, crop: Sequence[float] | None, width: int,
                       height: int) -> np.ndarray:
    """The label mask of a background photo as the compositor crops and resizes it."""
    h, w = mask.shape
    x0, y0, x1, y1 = crop if crop is not None else (0.0, 0.0, 1.0, 1.0)
    c = mask[int(y0 * h):max(int(y1 * h), int(y0 * h) + 1),
             int(x0 * w):max(int(x1 * w), int(x0 * w) + 1)]
    return cv2.resize(c, (width, height), interpolation=cv2.INTER_NEAREST)


def object_pixel_share(dataset: str | Path, photo_masks: Mapping[str, np.ndarray], *,
                       photo_classes: Mapping[str, Sequence[str]] | None = None,
                       indices: Sequence[int] | None = None) -> ShareStats:
    """Share of real-object pixels in the instance crops of a rendered dataset.

    A render pixel shows its background photo where no geometry was drawn (depth 0); it
    shows a real object where that photo's label mask, cropped and resized as the compositor
    did (`records.jsonl` params `background.image` and `image_crop`), is non-zero.

    Args:
        dataset: a raw dataset directory written by `synthgap render` (depth maps needed).
        photo_masks: background photo path (as in the records, resolved) -> `(H, W)` integer
            label mask of its real objects (0 = none; e.g. `PhotoMasks.instance_mask`).
            Photos not listed (e.g. plates) count as object-free.
        photo_classes: photo path -> class of label k + 1, for the other-class share.
        indices: only these images (default all).

    Returns:
        `ShareStats` over every labelled, visible instance's box `[x, y, w, h]`.
    """
    root = Path(dataset)
    masks = {str(Path(k).resolve()): v for k, v in photo_masks.items()}
    classes = {str(Path(k).resolve()): list(v) for k, v in (photo_classes or {}).items()}
    shares, other = [], []
    with open(root / "records.jsonl", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    wanted = None if indices is None else set(indices)
    for rec in records:
        if wanted is not None and rec["index"] not in wanted:
            continue
        bg = rec.get("params", {}).get("background", {})
        key = str(Path(bg["image"]).resolve()) if bg.get("image") else None
        labels = None
        if key in masks:
            depth = read_depth(root / rec["files"]["depth"])
            labels = _background_labels(masks[key], bg.get("image_crop"), rec["width"],
                                        rec["height"])
            labels = np.where(depth > 0, 0, labels)
        for inst in rec["instances"]:
            if len(inst["bbox"]) != 4 or inst["bbox"][2] < 1 or inst["bbox"][3] < 1:
                continue
            x, y, w, h = (int(v) for v in inst["bbox"])
            if labels is None:
                shares.append(0.0)
                other.append(0.0)
                continue
            crop = labels[y:y + h + 1, x:x + w + 1]
            shares.append(float((crop > 0).mean()))
            if key in classes:
                names = np.array(["", *classes[key]])
                wrong = (crop > 0) & (names[np.minimum(crop, len(names) - 1)] != inst["category"])
                other.append(float(wrong.mean()))
    s = np.array(shares)
    o = np.array(other) if photo_classes is not None and len(other) == len(shares) else None
    return ShareStats(crops=len(s), mean_share=float(s.mean()) if len(s) else 0.0,
                      share_over_10pct=float((s >= 0.1).mean()) if len(s) else 0.0,
                      other_class_over_10pct=None if o is None or not len(o)
                      else float((o >= 0.1).mean()))
