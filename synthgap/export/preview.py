"""Contact sheets a person can check at a glance.

* `contact_sheet`: a grid of images with every part's mask (tinted fill + outline in its class
  colour), box and class name, and every defect (red fill + outline); a legend on top.
* `compare_sheet`: rows of render | adapted render | real photo, side by side, same size.

Both return `(H, W, 3) uint8` RGB arrays drawn with OpenCV (no display needed, no fonts to
find) and are pure functions of their inputs and `seed`: the same call gives the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthgap.data.layout import IMAGE_SUFFIXES
from synthgap.export.base import DEFECT_PREFIX, ExportedSample, ExportError, ExportOptions

#: Class colours (RGB), Okabe-Ito/Tableau-like, distinguishable and not red (red = defect).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 158, 255), (255, 176, 0), (0, 200, 120), (190, 110, 255), (255, 240, 60),
    (0, 230, 230), (255, 120, 200), (150, 220, 60), (120, 150, 255), (255, 150, 90),
)
DEFECT_COLOR = (255, 30, 30)
_BG = (24, 24, 28)
_FG = (235, 235, 235)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX

def class_colors(names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """A fixed colour per part class name (in the given order) and red for every defect."""
    colors = {}
    parts = [n for n in names if not n.startswith(DEFECT_PREFIX)]
    for k, name in enumerate(parts):
        colors[name] = PALETTE[k % len(PALETTE)]
    for name in names:
        if name.startswith(DEFECT_PREFIX):
            colors[name] = DEFECT_COLOR
    return colors


def _text(img: np.ndarray, text: str, org: tuple[int, int], *, scale: float = 0.45,
          color: tuple[int, int, int] = _FG, bg: tuple[int, int, int] | None = _BG) -> int:
    """Draw `text` with its top-left at `org` on an RGB image; returns the text width."""
    import cv2

    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = org
    if bg is not None:
        cv2.rectangle(img, (x, y), (x + w + 4, y + h + base + 2), bg, -1)
    cv2.putText(img, text, (x + 2, y + h + 1), _FONT, scale, color, 1, cv2.LINE_AA)
    return w + 4


def annotate(sample: ExportedSample, colors: dict[str, tuple[int, int, int]], *,
             width: int = 320, alpha: float = 0.35) -> np.ndarray:
    """One tile: the sample's image scaled to `width`, with its objects drawn over it.

    Args:
        sample: image and objects (parts and `defect/<type>` objects).
        colors: category name -> RGB (see `class_colors`).
        width: tile width in pixels (height keeps the aspect ratio).
        alpha: opacity of the mask fill.

    Returns:
        `(h, width, 3) uint8` RGB.
    """
    import cv2

    H, W = sample.image.shape[:2]
    scale = width / W
    height = max(1, round(H * scale))
    tile = cv2.resize(sample.image, (width, height),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    out = tile.astype(np.float32)
    order = sorted(range(len(sample.names)),  # parts first, defects on top
                   key=lambda k: sample.names[k].startswith(DEFECT_PREFIX))
    masks = []
    if sample.masks is not None:
        for k in order:
            m = cv2.resize(sample.masks[k].astype(np.uint8), (width, height),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
            masks.append((k, m))
            a = 0.6 if sample.names[k].startswith(DEFECT_PREFIX) else alpha
            out[m] = (1 - a) * out[m] + a * np.array(colors.get(sample.names[k], _FG), np.float32)
    tile = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    for k, m in masks:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, contours, -1, colors.get(sample.names[k], _FG), 1, cv2.LINE_8)
    placed: list[tuple[int, int, int, int]] = []  # label rectangles drawn so far
    for k in order:
        name = sample.names[k]
        x, y, w, h = (float(v) * scale for v in sample.boxes[k])
        color = colors.get(name, _FG)
        p0, p1 = (round(x), round(y)), (round(x + w) - 1, round(y + h) - 1)
        if name.startswith(DEFECT_PREFIX):
            # a frame at least 12 px wide, so that a hairline scratch is found at a glance
            cx, cy = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
            hw, hh = max(6.0, (p1[0] - p0[0]) / 2 + 2), max(6.0, (p1[1] - p0[1]) / 2 + 2)
            cv2.rectangle(tile, (round(cx - hw), round(cy - hh)), (round(cx + hw), round(cy + hh)),
                          color, 1)
            continue
        cv2.rectangle(tile, p0, p1, color, 1)
        ng = any(sample.names[j].startswith(DEFECT_PREFIX) and
                 sample.instance_ids[j] == sample.instance_ids[k] >= 0
                 for j in range(len(sample.names)))
        label = f"{name} NG" if ng else name
        (tw, th), base = cv2.getTextSize(label, _FONT, 0.4, 1)
        tw, th = tw + 4, th + base + 2
        x0 = max(0, min(p0[0], width - tw))
        # above the box, below it, or inside its top: the first spot no other label covers
        spots = [(x0, p0[1] - th), (x0, p1[1] + 2), (x0, p0[1] + 1)]
        spots = [(x, min(max(y, 0), height - th)) for x, y in spots]
        free = [(x, y) for x, y in spots if not any(
            x < bx + bw and bx < x + tw and y < by + bh and by < y + th
            for bx, by, bw, bh in placed)]
        x, y = (free or spots)[0]
        placed.append((x, y, tw, th))
        _text(tile, label, (x, y), scale=0.4, color=(0, 0, 0), bg=color)
    n_parts = sum(not n.startswith(DEFECT_PREFIX) for n in sample.names)
    n_def = len(sample.names) - n_parts
    head = f"#{sample.index}  {n_parts} part{'s' * (n_parts != 1)}"
    if n_def:
        head += f"  {n_def} defect{'s' * (n_def != 1)}"
    strip = np.full((18, width, 3), _BG, np.uint8)
    _text(strip, head, (2, 0), scale=0.42, bg=None)
    return np.concatenate([strip, tile])


def _grid(tiles: list[np.ndarray], columns: int, pad: int = 4) -> np.ndarray:
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    rows = math.ceil(len(tiles) / columns)
    sheet = np.full((rows * (th + pad) + pad, columns * (tw + pad) + pad, 3), _BG, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
    return sheet


def _title(width: int, title: str, legend: dict[str, tuple[int, int, int]]) -> np.ndarray:
    import cv2

    bar = np.full((44 if legend else 24, width, 3), _BG, np.uint8)
    _text(bar, title, (6, 2), scale=0.5, bg=None)
    x = 8
    for name, color in legend.items():
        if x > width - 60:
            break
        cv2.rectangle(bar, (x, 26), (x + 12, 38), color, -1)
        x += 16 + _text(bar, name, (x + 14, 23), scale=0.42, bg=None)
    return bar


def load_samples(path: Path) -> Sequence[ExportedSample]:
    """Samples of a raw/adapted dataset directory or of a coco/yolo/webdataset export."""
    from synthgap.data import DatasetLayout
    from synthgap.export.base import MANIFEST, read_manifest
    from synthgap.export.objects import source_samples
    from synthgap.export.registry import EXPORTERS
    from synthgap.export.source import open_dataset

    path = Path(path)
    if (path / MANIFEST).is_file() and not DatasetLayout(path).records.is_file():
        import json

        fmt = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("format")
        if fmt not in EXPORTERS:
            raise ExportError(f"{path}: unknown export format {fmt!r}")
        read_manifest(path, fmt)
        return EXPORTERS[fmt].read(path)
    return source_samples(open_dataset(path), ExportOptions(defects=True))


def pick(n_total: int, n: int, *, seed: int) -> list[int]:
    """`min(n, n_total)` distinct positions in `range(n_total)`, sorted, drawn from `seed`."""
    if n < 1:
        raise ValueError(f"n: expected at least 1 image, got {n}")
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_total, size=min(n, n_total), replace=False))


def contact_sheet(dataset: Path | Sequence[ExportedSample], *, n: int = 16, seed: int = 0,
                  tile_width: int = 320, columns: int | None = None,
                  title: str | None = None) -> np.ndarray:
    """A grid of `n` images (chosen by `seed`) with their labels drawn over them.

    Args:
        dataset: a raw/adapted dataset directory, an export folder, or samples.
        n: number of images (fewer if the dataset is smaller).
        seed: which images are shown.
        tile_width: width of each tile in pixels.
        columns: tiles per row (default: about square).
        title: text of the title bar (default: the folder name and counts).

    Returns:
        `(H, W, 3) uint8` RGB.
    """
    samples = load_samples(Path(dataset)) if isinstance(dataset, str | Path) else dataset
    if len(samples) == 0:
        raise ExportError("contact_sheet: the dataset has no images")
    chosen = [samples[i] for i in pick(len(samples), n, seed=seed)]
    names = {x for s in chosen for x in s.names}
    parts = sorted(x for x in names if not x.startswith(DEFECT_PREFIX))
    defects = sorted(x for x in names if x.startswith(DEFECT_PREFIX))
    colors = class_colors(parts + defects)
    tiles = [annotate(s, colors, width=tile_width) for s in chosen]
    cols = columns or math.ceil(math.sqrt(len(tiles)))
    sheet = _grid(tiles, cols)
    if title is None:
        where = Path(dataset).name if isinstance(dataset, str | Path) else "samples"
        title = f"synthgap preview: {where} ({len(chosen)} of {len(samples)} images, seed {seed})"
    legend = {p: colors[p] for p in parts}
    if defects:
        legend["defect: " + ", ".join(d[len(DEFECT_PREFIX):] for d in defects)] = DEFECT_COLOR
    return np.concatenate([_title(sheet.shape[1], title, legend), sheet])


def list_photos(folder: Path) -> list[Path]:
    """Image files of a folder (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such folder of real photos")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise ExportError(f"{folder}: no photos ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return photos


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop `image` to exactly `(height, width)`."""
    import cv2

    h, w = image.shape[:2]
    s = max(width / w, height / h)
    resized = cv2.resize(image, (max(width, round(w * s)), max(height, round(h * s))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0 = (resized.shape[0] - height) // 2
    x0 = (resized.shape[1] - width) // 2
    return resized[y0:y0 + height, x0:x0 + width]


def _check_adapted_from(adapted: Path, rendered: Path) -> None:
    """Raise ExportError unless `adapted/adapt.json` names `rendered` as its source."""
    import json

    info_path = adapted / "adapt.json"
    fix = (f"pass the directory written by `synthgap adapt apply MODEL {rendered} ADAPTED`")
    if not info_path.is_file():
        raise ExportError(f"{adapted}: no adapt.json, so it is not an adapted dataset; {fix}")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        source = info["source"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{info_path}: unreadable or names no source ({e!r}); {fix}") from None
    if not isinstance(source, str) or Path(source).resolve() != rendered.resolve():
        raise ExportError(f"{adapted}: was adapted from {source}, not from {rendered} "
                          f"(adapt.json source); {fix}")


def compare_sheet(rendered: Path, adapted: Path, real: Path | None = None, *, n: int = 4,
                  seed: int = 0, tile_width: int = 320) -> np.ndarray:
    """Rows of render | adapted render | real photo (when `real` is given), same tile size.

    Args:
        rendered: the raw dataset directory.
        adapted: the adapted directory made from it by `synthgap adapt apply` (its
            `adapt.json` source must resolve to `rendered`).
        real: a folder of real photos; one photo per row, chosen by `seed`.
        n: number of rows.
        seed: which images (and photos) are shown.
        tile_width: width of each tile.

    Returns:
        `(H, W, 3) uint8` RGB.
    """
    from synthgap.data import read_image
    from synthgap.export.source import open_dataset

    _check_adapted_from(Path(adapted), Path(rendered))
    raw, ada = open_dataset(rendered), open_dataset(adapted)
    # indices only: the records are read for the rows shown, not held for the whole set
    raw_idx, ada_idx = (np.fromiter(d.indices, dtype=np.int64) for d in (raw, ada))
    common = np.intersect1d(raw_idx, ada_idx)
    if not len(common):
        raise ExportError(f"{adapted}: shares no image index with {rendered}; pass the adapted "
                          "directory made from it")
    shown = [int(common[i]) for i in pick(len(common), n, seed=seed)]
    rows = [(raw.records[int(np.searchsorted(raw_idx, i))],
             ada.records[int(np.searchsorted(ada_idx, i))]) for i in shown]
    photos = list_photos(real) if real is not None else []
    # a different photo on every row while there are enough of them
    picks: np.ndarray | list[int] = np.random.default_rng([seed, 1]).choice(
        len(photos), size=len(rows), replace=len(photos) < len(rows)) if photos else []
    heads = ["render", "adapted"] + (["real photo"] if photos else [])
    tiles = []
    for row_k, (r, r_ada) in enumerate(rows):
        height = round(r.height * tile_width / r.width)
        row = [_fit(raw.image(r), tile_width, height),
               _fit(ada.image(r_ada), tile_width, height)]
        if photos:
            row.append(_fit(read_image(photos[int(picks[row_k])]), tile_width, height))
        for k, t in enumerate(row):
            strip = np.full((18, tile_width, 3), _BG, np.uint8)
            _text(strip, f"{heads[k]}  #{r.index}" if k < 2 else heads[k], (2, 0), scale=0.42,
                  bg=None)
            tiles.append(np.concatenate([strip, t]))
    sheet = _grid(tiles, len(heads))
    title = f"synthgap compare: {Path(rendered).name} -> {Path(adapted).name}"
    if real is not None:
        title += f" vs {Path(real).name}"
    return np.concatenate([_title(sheet.shape[1], title, {}), sheet])


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB sheet as PNG (atomically); returns the path."""
    from synthgap.data import write_image_atomic

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ExportError(f"{path}: the sheet is written as PNG; name it *.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(path, rgb)
    return path
