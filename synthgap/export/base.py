"""Types shared by every exporter: options, the summary, read-back samples, output folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from synthgap.export.source import DatasetSource

#: Name of the manifest every export writes at its root.
MANIFEST = "export.json"

#: Prefix of defect category names (`defect/scratch`), so they never clash with a part class.
DEFECT_PREFIX = "defect/"


class ExportError(ValueError):
    """An export cannot be written or read (the message names the folder and the fix)."""


@dataclass(frozen=True)
class ExportOptions:
    """Options of the exporters; each exporter reads the ones that concern it.

    Attributes:
        defects: coco, yolo, yolo-seg, webdataset: also export each visible defect as an object
            of its own category `defect/<type>` (COCO: linked to its part by
            `attributes.instance_id`).
        by: folders: class folders by `ok-ng` (`OK`/`NG`), `defect` (`ok` or the defect types
            present, joined with `+`) or `class` (part class; needs `crops`).
        crops: folders: one image per visible part, cropped around its box, instead of one per
            image.
        crop_margin: folders: margin around a part's box, as a fraction of the box size.
        min_visible_pixels: every format: parts with fewer visible pixels are left out.
        shard_size: webdataset: samples per tar shard.
    """

    defects: bool = True
    by: Literal["ok-ng", "defect", "class"] = "ok-ng"
    crops: bool = False
    crop_margin: float = 0.1
    min_visible_pixels: int = 1
    shard_size: int = 1000

    def __post_init__(self) -> None:
        if self.by not in ("ok-ng", "defect", "class"):
            raise ValueError(f"by: expected 'ok-ng', 'defect' or 'class', got {self.by!r}")
        if self.by == "class" and not self.crops:
            raise ValueError("by='class' sorts part crops by class; it needs crops=True "
                             "(--crops)")
        if not (0 <= self.crop_margin <= 10):
            raise ValueError(f"crop_margin: expected a fraction in [0, 10], got "
                             f"{self.crop_margin!r}")
        if int(self.min_visible_pixels) < 1:
            raise ValueError(f"min_visible_pixels: expected >= 1, got {self.min_visible_pixels!r}")
        if int(self.shard_size) < 1:
            raise ValueError(f"shard_size: expected >= 1 samples per shard, got "
                             f"{self.shard_size!r}")


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote.

    Attributes:
        format: exporter name.
        out: the export folder.
        images: number of images (or crops) per split.
        objects: number of annotated objects (parts + defects) per split.
        categories: category name -> id as written (ids are format-specific: COCO from 1,
            YOLO from 0).
        seed: split seed.
        split: (train, val, test) ratios.
    """

    format: str
    out: str
    images: dict[str, int]
    objects: dict[str, int]
    categories: dict[str, int]
    seed: int
    split: tuple[float, float, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExportedSample:
    """One sample read back from an export (for checks and `SynthgapDataset`).

    Attributes:
        key: sample name, unique in the export (`000042`, or `000042_03` for a crop).
        index: the source image index.
        split: `train`, `val` or `test`.
        image: `(H, W, 3) uint8` RGB.
        names: category name of each object (`defect/<type>` for defects); for class folders
            the one folder label.
        boxes: `(N, 4) float64` `[x, y, w, h]` pixels (pixel edges: a one-pixel object at
            column 3 has x = 3, w = 1).
        masks: `(N, H, W) bool`, or None when the format carries no masks.
        instance_ids: `(N,) int64` the part's instance id in the source image, or -1 when the
            format does not keep it.
    """

    key: str
    index: int
    split: str
    image: np.ndarray
    names: tuple[str, ...]
    boxes: np.ndarray
    masks: np.ndarray | None
    instance_ids: np.ndarray


class LazySamples(Sequence[ExportedSample]):
    """A read-back export: `len()` and indexing load one sample at a time.

    Args:
        entries: one tuple per sample, its first item the sample's split.
        load: entry -> `ExportedSample` (reads the files).
    """

    def __init__(self, entries: list[tuple[Any, ...]],
                 load: Callable[[Any], ExportedSample]) -> None:
        self._entries = entries
        self._load = load

    @property
    def splits(self) -> list[str]:
        """The split of every sample, without loading any image."""
        return [e[0] for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i: int) -> ExportedSample:  # type: ignore[override]
        if isinstance(i, slice):
            raise TypeError("LazySamples does not support slices; index one sample at a time")
        return self._load(self._entries[i])

    def __iter__(self) -> Iterator[ExportedSample]:
        for e in self._entries:
            yield self._load(e)


@dataclass(frozen=True)
class Exporter:
    """A registered export format.

    Attributes:
        name: the `--format` value.
        description: one line for `--help`.
        write: `write(source, out, splits=..., seed=..., ratios=..., options=...)`.
        read: `read(out) -> LazySamples` (a sequence of `ExportedSample`).
        masks: `exact` (masks read back pixel-exact), `polygon` (from outlines; edges may differ
            by a pixel) or None (no masks).
        per_image: True when there is one sample per source image (False: one per part crop).
        defects: True when the format can carry defects as objects (`ExportOptions.defects`).
    """

    name: str
    description: str
    write: Callable[..., ExportSummary]
    read: Callable[[Path], LazySamples]
    masks: Literal["exact", "polygon"] | None
    per_image: bool = True
    defects: bool = True


def prepare_output(out: Path, fmt: str, managed: Sequence[str]) -> dict[str, Any] | None:
    """Make `out` ready for a `fmt` export; return the previous manifest when re-exporting.

    A missing or empty folder is used as is. A folder holding an earlier export of the same
    format has its managed entries removed (its category ids are kept by the caller). Anything
    else is refused, so an export never deletes files it did not write.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder; choose a folder for the export")
    previous = None
    if out.is_dir() and any(out.iterdir()):
        manifest = out / MANIFEST
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = None
        if not isinstance(previous, dict) or previous.get("format") != fmt:
            found = previous.get("format") if isinstance(previous, dict) else None
            what = f"a {found} export" if found else "not a synthgap export"
            raise ExportError(f"{out}: folder is not empty and is {what}; export {fmt} into an "
                              "empty or new folder")
        for name in managed:
            for path in sorted(out.glob(name)):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return previous


def stable_ids(names: Sequence[str], previous: dict[str, int] | None, *, start: int) -> dict[str,
                                                                                            int]:
    """Category ids that never change once given: earlier ids are kept, new names get the next
    free ids in the order of `names` (the caller sorts them), the first id being `start`."""
    ids = {str(k): int(v) for k, v in (previous or {}).items()}
    nxt = max(ids.values(), default=start - 1) + 1
    for name in names:
        if name not in ids:
            ids[name] = nxt
            nxt += 1
    return dict(sorted(ids.items(), key=lambda kv: kv[1]))


def object_names(source: DatasetSource, options: ExportOptions) -> list[str]:
    """Category names in id order: part classes, then `defect/<type>` when defects are on."""
    names = list(source.categories)
    if options.defects:
        names += [DEFECT_PREFIX + t for t in source.defect_types]
    return names


def write_manifest(out: Path, summary: ExportSummary, source: DatasetSource,
                   files: Sequence[str] | None = None) -> None:
    """Write `out/export.json`: the summary plus where the data came from.

    `files` (relative paths) lists what the export wrote: the only files a later re-export
    into the same folder may delete.
    """
    from synthgap import __version__

    data = summary.to_dict()
    data.update(synthgap_version=__version__, source=source.root.name,
                adapted=source.adapted, render_seed=source.seed)
    if files is not None:
        data["files"] = []  # streamed below: one line per file, no copy of the list
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    key = '\n  "files": []'
    with open(Path(out) / MANIFEST, "w", encoding="utf-8") as f:
        if not files:
            f.write(text)
            return
        head, tail = text.split(key, 1)  # one top-level key "files": the list goes there
        f.write(head + '\n  "files": [')
        for k, name in enumerate(files):
            f.write(("\n    " if k == 0 else ",\n    ") + json.dumps(name))
        f.write("\n  ]" + tail)


def read_manifest(out: Path, fmt: str) -> dict[str, Any]:
    """Read `out/export.json` and check it is a `fmt` export."""
    path = Path(out) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{out}: no {MANIFEST}; not a synthgap export") from None
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else None
        raise ExportError(f"{out}: is a {found!r} export, not {fmt!r}")
    return data


def mask_bbox(mask: np.ndarray) -> list[int]:
    """Tight `[x, y, w, h]` pixel box of a boolean mask (`[]` when empty)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return []
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1)]


def copy_file(src: Path, dst: Path) -> None:
    """Copy one file's bytes (the folder must exist)."""
    shutil.copyfile(src, dst)


def empty_counts() -> dict[str, int]:
    return {"train": 0, "val": 0, "test": 0}
