"""Class folders for image classification (torchvision `ImageFolder` layout).

Layout::

    OUT/export.json                 includes `categories`: folder name -> class index
    OUT/train/OK/000042.png         a whole image (or, with crops, `000042_03.png`: instance 3)
    OUT/train/NG/000043.png

Labels (`by`):

* `ok-ng`: `NG` when a defect is visible (in the image, or on the cropped part), else `OK`.
  The label follows what the camera sees: a defect hidden by an occluder does not make an
  image NG.
* `defect`: `ok`, or the visible defect types joined with `+` (`dent+scratch`).
* `class`: the part's class (crops only).

With `crops`, each visible part becomes one image cut around its box, grown by `crop_margin`
times the box size on every side and clipped to the image. Class indices are the sorted folder
names from 0, kept stable across re-exports into the same folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthgap.data.paths import safe_name
from synthgap.export.base import (
    ExportedSample,
    ExportError,
    ExportOptions,
    ExportSummary,
    LazySamples,
    copy_file,
    empty_counts,
    prepare_output,
    read_manifest,
    stable_ids,
)
from synthgap.export.objects import ImageObject, image_objects
from synthgap.export.source import DatasetSource
from synthgap.export.splits import SPLITS, SplitRatios

NAME = "folders"


def _label(by: str, part: ImageObject | None, defects: list[ImageObject]) -> str:
    types = sorted({d.name.split("/", 1)[1] for d in defects})
    if by == "ok-ng":
        return "NG" if types else "OK"
    if by == "defect":
        label = "+".join(types) if types else "ok"
    else:
        assert part is not None  # by="class" requires crops (checked by ExportOptions)
        label = part.name
    # labels come from the records: a crafted one (`../../x`, a NUL byte) must not become a path
    try:
        return safe_name(label, what=f"folders --by {by}: label")
    except ValueError as exc:
        raise ExportError(f"{exc} (from the dataset's records or scene.yaml); rename the class "
                          "or defect type and render again") from None


def crop_box(bbox: list[int], margin: float, width: int, height: int) -> tuple[int, int, int,
                                                                               int]:
    """`(x0, y0, x1, y1)` (x1, y1 exclusive) of a part's box grown by `margin` on every side,
    clipped to the image."""
    x, y, w, h = bbox
    mx, my = round(margin * w), round(margin * h)
    return max(0, x - mx), max(0, y - my), min(width, x + w + mx), min(height, y + h + my)


def write(source: DatasetSource, out: Path, *, splits: Mapping[int, str], ratios: SplitRatios,
          seed: int, options: ExportOptions) -> ExportSummary:
    """Write `source` as class folders (see the module docstring)."""
    import cv2

    out = Path(out)
    previous = prepare_output(out, NAME, [*SPLITS, "export.json"])
    opts = replace(options, defects=True)  # the labels need the defects
    images, objects = empty_counts(), empty_counts()
    labels: set[str] = {"NG", "OK"} if options.by == "ok-ng" else set()
    for record in source.iter_records():
        split = splits[record.index]
        objs = image_objects(source, record, opts)
        parts = [o for o in objs if o.kind == "part"]
        defects = [o for o in objs if o.kind == "defect"]
        if not options.crops:
            label = _label(options.by, None, defects)
            folder = out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            src = source.image_path(record)
            copy_file(src, folder / f"{record.index:06d}{src.suffix.lower() or '.png'}")
            labels.add(label)
            images[split] += 1
            objects[split] += 1
            continue
        if not parts:
            continue
        rgb = source.image(record)
        for part in parts:
            mine = [d for d in defects if d.instance_id == part.instance_id]
            label = _label(options.by, part, mine)
            x0, y0, x1, y1 = crop_box(part.bbox, options.crop_margin, record.width,
                                      record.height)
            folder = out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{record.index:06d}_{part.instance_id:02d}.png"
            crop = np.ascontiguousarray(rgb[y0:y1, x0:x1, ::-1])
            if not cv2.imwrite(str(path), crop):
                raise OSError(f"could not write {path}")
            labels.add(label)
            images[split] += 1
            objects[split] += 1
    ids = stable_ids(sorted(labels), (previous or {}).get("categories"), start=0)
    return ExportSummary(format=NAME, out=str(out), images=images, objects=objects,
                         categories=ids, seed=seed, split=ratios.as_tuple(),
                         extra={"by": options.by, "crops": options.crops,
                                "crop_margin": options.crop_margin})


def read(out: Path) -> LazySamples:
    """Read class folders back: one sample per file, its folder name as its one label.

    Each sample has one object: the folder label with a whole-image box `[0, 0, W, H]`, so
    `names`, `boxes` and `instance_ids` have the same length (as every other reader).
    """
    from synthgap.data import read_image

    out = Path(out)
    read_manifest(out, NAME)
    entries = [(split, path) for split in SPLITS if (out / split).is_dir()
               for path in sorted((out / split).glob("*/*")) if path.is_file()]

    def load(entry: tuple[str, Path]) -> ExportedSample:
        split, path = entry
        stem = path.stem
        index, _, inst = stem.partition("_")
        image = read_image(path)
        # the folder label covers the whole file: one object, one whole-image box
        box = np.array([[0.0, 0.0, image.shape[1], image.shape[0]]])
        return ExportedSample(key=stem, index=int(index), split=split, image=image,
                              names=(path.parent.name,), boxes=box, masks=None,
                              instance_ids=np.array([int(inst) if inst else -1], np.int64))

    return LazySamples(entries, load)
