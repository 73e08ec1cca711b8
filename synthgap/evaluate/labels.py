"""Readers of labelled photos besides BOP: COCO json, YOLO txt and class folders of crops.

* **COCO**: a `.json` file (or a folder holding exactly one) with `images` (`id`,
  `file_name`), `annotations` (`image_id`, `category_id`, `bbox` `[x, y, w, h]` pixels) and
  `categories` (`id`, `name`); images are found beside the json or in its `images/` folder.
* **YOLO**: a folder with `images/` and `labels/` (the same relative names, `.txt`: one line
  `class cx cy w h` per object, normalised to [0, 1]) and the class names in `data.yaml`
  (`names:` list or mapping) or `classes.txt` (one per line).
* **class folders**: `ROOT/CLASS/*.png|jpg`, every image one object crop of that class.

Every file opened is inside the folder given; a bad field raises `LabelError` naming the
file, the field and the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from synthgap.evaluate.real import LabelError, RealData, RealInstance, RealPhoto

__all__ = ["IMAGE_SUFFIXES", "read_class_folders", "read_coco", "read_real", "read_yolo"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _inside(path: Path, root: Path, file: Path, field: str) -> Path:
    p = path.resolve()
    if not p.is_relative_to(root.resolve()):
        raise LabelError(file, field, f"{path} is outside {root}; keep the images inside it")
    return p


def _order(path: Path, fallback: int) -> int:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else fallback


def _box(value: Any, file: Path, field: str) -> tuple[float, float, float, float]:
    if (not isinstance(value, list) or len(value) != 4 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise LabelError(file, field, f"expected [x, y, w, h] in pixels, got {value!r}")
    x, y, w, h = (float(v) for v in value)
    if w <= 0 or h <= 0:
        raise LabelError(file, field, f"box width and height must be > 0, got {value!r}")
    return x, y, w, h


def read_coco(path: str | Path) -> RealData:
    """Read COCO detection labels (see the module docstring).

    Raises:
        LabelError: a missing json, image or field (file and field named).
    """
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        found = sorted(path.glob("*.json"))
        if len(found) != 1:
            raise LabelError(path, "", f"expected exactly one COCO .json here, found {len(found)}"
                                       "; give the json file itself")
        path = found[0]
    root = path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelError(path, "", f"not readable JSON ({exc})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise LabelError(path, key, "missing list; a COCO file has images, annotations "
                                        "and categories")
    cats: dict[int, str] = {}
    for i, c in enumerate(data["categories"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not isinstance(
                c.get("name"), str):
            raise LabelError(path, f"categories[{i}]", "needs an integer id and a string name")
        cats[c["id"]] = c["name"]
    classes = sorted(set(cats.values()))
    boxes: dict[int, list[RealInstance]] = {}
    for i, a in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(a, dict) or a.get("category_id") not in cats:
            raise LabelError(path, f"{where}.category_id",
                             "missing or not among the categories' ids")
        box = _box(a.get("bbox"), path, f"{where}.bbox")
        boxes.setdefault(a.get("image_id"), []).append(  # type: ignore[arg-type]
            RealInstance(cls=classes.index(cats[a["category_id"]]), box=box))
    photos = []
    for i, im in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(im, dict) or not isinstance(im.get("file_name"), str):
            raise LabelError(path, f"{where}.file_name", "missing")
        cands = [root / im["file_name"], root / "images" / im["file_name"]]
        file = next((c for c in cands if c.is_file()), None)
        if file is None:
            raise LabelError(path, f"{where}.file_name", f"{im['file_name']} not found beside "
                                                         "the json or in its images/ folder")
        file = _inside(file, root, path, f"{where}.file_name")
        inst = tuple(boxes.get(im.get("id"), []))  # type: ignore[arg-type]
        if inst:
            photos.append(RealPhoto(key=im["file_name"], path=file,
                                    group=str(Path(im["file_name"]).parent),
                                    order=_order(file, i), instances=inst))
    return _checked(RealData(classes=classes, photos=photos, source="coco"), path)


def _yolo_names(root: Path) -> list[str]:
    data_yaml, classes_txt = root / "data.yaml", root / "classes.txt"
    if data_yaml.is_file():
        try:
            names = (yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}).get("names")
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError) as exc:
            raise LabelError(data_yaml, "names", f"not readable ({exc})") from None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        if isinstance(names, list):
            return [str(n) for n in names]
        raise LabelError(data_yaml, "names", "expected a list (or {index: name}) of classes")
    if classes_txt.is_file():
        return [ln.strip() for ln in classes_txt.read_text(encoding="utf-8").splitlines()
                if ln.strip()]
    raise LabelError(root, "data.yaml", "no class names: add data.yaml with `names: [...]` "
                                        "or classes.txt (one name per line)")


def read_yolo(root: str | Path) -> RealData:
    """Read YOLO labels (see the module docstring).

    Raises:
        LabelError: a missing names file, a malformed label line (file and line named).
    """
    root = Path(root).expanduser().resolve()
    names = _yolo_names(root)
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise LabelError(root, "", "a YOLO folder holds images/ and labels/")
    photos = []
    files = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    from synthgap.scenes.io import photo_size

    for i, img in enumerate(files):
        rel = img.relative_to(images_dir)
        txt = labels_dir / rel.with_suffix(".txt")
        if not txt.is_file():
            continue
        w, h = photo_size(_inside(img, root, txt, "image"))
        inst = []
        for n, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                c, cx, cy, bw, bh = int(parts[0]), *(float(v) for v in parts[1:5])
            except (ValueError, IndexError):
                raise LabelError(txt, f"line {n}", f"expected `class cx cy w h`, got {line!r}"
                                 ) from None
            if not 0 <= c < len(names):
                raise LabelError(txt, f"line {n}", f"class {c} is not in the {len(names)} names")
            if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < bw <= 1 and 0 < bh <= 1):
                raise LabelError(txt, f"line {n}", "cx cy w h must be normalised to [0, 1]")
            inst.append(RealInstance(cls=c, box=((cx - bw / 2) * w, (cy - bh / 2) * h,
                                                 bw * w, bh * h)))
        if inst:
            photos.append(RealPhoto(key=str(rel), path=img, group=str(rel.parent),
                                    order=_order(img, i), instances=tuple(inst)))
    return _checked(RealData(classes=names, photos=photos, source="yolo"), labels_dir)


def read_class_folders(root: str | Path) -> RealData:
    """Read `ROOT/CLASS/*.png` crops: every image is one object of its folder's class."""
    root = Path(root).expanduser().resolve()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    from synthgap.scenes.io import photo_size

    photos = []
    for c, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for i, f in enumerate(files):
            w, h = photo_size(_inside(f, root, root / name, "crop"))
            photos.append(RealPhoto(key=f"{name}/{f.name}", path=f, group=name, order=i,
                                    instances=(RealInstance(cls=c, box=(0.0, 0.0, w, h)),)))
    return _checked(RealData(classes=classes, photos=photos, source="folders"), root)


def _checked(real: RealData, where: Path) -> RealData:
    if len(real.photos) < 2:
        raise LabelError(where, "", f"{len(real.photos)} labelled photos; the evaluation needs "
                                    "at least 2 (better 10 or more)")
    return real


def read_real(path: str | Path, *, fmt: str = "auto", **bop_options: Any) -> RealData:
    """Read labelled photos in any supported format (`auto` looks at the folder).

    Args:
        path: a BOP data set / scene folder, a COCO json (or its folder), a YOLO folder or a
            folder of class folders.
        fmt: `auto`, `bop`, `coco`, `yolo` or `folders`.
        bop_options: passed to `synthgap.evaluate.bop_reader.read_bop`.

    Raises:
        LabelError: unknown layout or bad labels.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise LabelError(p, "", "not found")
    if fmt == "auto":
        from synthgap.evaluate.bop_reader import find_scene_dirs

        if p.is_file() and p.suffix == ".json":
            fmt = "coco"
        elif p.is_dir() and find_scene_dirs(p.resolve()):
            fmt = "bop"
        elif p.is_dir() and (p / "labels").is_dir():
            fmt = "yolo"
        elif p.is_dir() and len(list(p.glob("*.json"))) == 1:
            fmt = "coco"
        elif p.is_dir() and any(c.is_dir() for c in p.iterdir()):
            fmt = "folders"
        else:
            raise LabelError(p, "", "not a BOP, COCO, YOLO or class-folder layout; see "
                                    "docs/evaluate.md")
    if fmt == "bop":
        from synthgap.evaluate.bop_reader import read_bop

        return read_bop(p, **bop_options)
    readers = {"coco": read_coco, "yolo": read_yolo, "folders": read_class_folders}
    if fmt not in readers:
        raise LabelError(p, "format", f"unknown format {fmt!r}; use bop, coco, yolo or folders")
    return readers[fmt](p)
