"""Load a folder of real photos (or the images of a dataset directory) for fitting and measuring.

Photos may have any common format (PNG, JPEG, BMP, TIFF, WebP, PNM) and any size; grey photos
are repeated to three channels and flagged, 16-bit photos are scaled to 8 bits, an alpha channel
is dropped. Files are read in sorted name order, so every run sees the same photos in the same
order. A file that cannot be decoded is an error naming the file, unless the caller asks to skip
bad files (`skip_bad=True`, the CLI's `--skip-bad`); skipped files are listed in the result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthgap.data.images import as_images
from synthgap.data.layout import IMAGE_SUFFIXES, DatasetFileError, read_image

__all__ = ["PHOTO_SUFFIXES", "PhotoError", "PhotoSet", "as_images", "image_folder",
           "is_grey", "list_photos", "load_class_photos", "load_photos"]

#: File name endings (lower case) treated as photos; other files in the folder are ignored.
PHOTO_SUFFIXES: tuple[str, ...] = IMAGE_SUFFIXES


#: Smallest photo side (pixels) read for fitting or measuring: a 1-pixel-tall photo has no
#: neighbourhood to measure blur or noise on, and would be scaled up to a patch's size.
MIN_PHOTO_SIDE = 8


class PhotoError(ValueError):
    """A photo folder is missing or empty, or holds photos that cannot be read."""


@dataclass(frozen=True)
class PhotoSet:
    """Photos read from one folder, in sorted file-name order.

    Attributes:
        images: `(H_i, W_i, 3) uint8` RGB arrays, sizes may differ between photos.
        paths: the file each image came from (same order as `images`).
        grey: per image, True when the photo has no colour (single channel or R == G == B).
        skipped: `(path, reason)` for every file that was unreadable and skipped.
    """

    images: list[np.ndarray]
    paths: list[Path]
    grey: list[bool]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def all_grey(self) -> bool:
        """True when every photo is grey (then adapters may treat the camera as monochrome)."""
        return bool(self.grey) and all(self.grey)


def image_folder(path: Path) -> Path:
    """The folder holding the images of `path`: `path/images` for a dataset directory, else `path`.

    A dataset directory is recognised by its `records.jsonl` (or an `images/` folder).

    Raises:
        PhotoError: `path` does not exist or is not a folder.
    """
    path = Path(path)
    if not path.is_dir():
        raise PhotoError(f"{path}: no such folder; pass a folder of photos or a dataset "
                         "directory made by `synthgap render`")
    if (path / "records.jsonl").is_file() or (path / "images").is_dir():
        return path / "images"
    return path


def list_photos(folder: Path) -> list[Path]:
    """Image files directly inside `folder` (by suffix, case-insensitive), sorted by name.

    Hidden files (names starting with `.`, e.g. temporary files of an interrupted write) are
    ignored.

    Raises:
        PhotoError: `folder` is missing or holds no image file.
    """
    folder = image_folder(folder)
    if not folder.is_dir():
        raise PhotoError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise PhotoError(f"{folder}: no photos found (looked for {', '.join(PHOTO_SUFFIXES)})")
    return files


def is_grey(rgb: np.ndarray) -> bool:
    """True when an `(H, W, 3)` image has no colour (R == G == B everywhere)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return bool(np.array_equal(r, g) and np.array_equal(g, b))


def load_photos(folder: Path, *, skip_bad: bool = False, limit: int | None = None,
                min_size: int = MIN_PHOTO_SIDE, exclude: Collection[str] = ()) -> PhotoSet:
    """Read every photo in `folder` (or a dataset directory's `images/`).

    Args:
        folder: a folder of photos, or a dataset directory.
        skip_bad: skip unreadable files (listed in `PhotoSet.skipped`) instead of failing.
        limit: read at most this many photos (the first in name order).
        min_size: photos whose height or width is below this many pixels count as bad.
        exclude: file names (not paths) to leave out, before `limit` applies (e.g. photos
            held back to measure the gap on).

    Returns:
        The photos, in sorted file-name order.

    Raises:
        PhotoError: the folder is missing or empty, or (without `skip_bad`) some files are not
            readable images; the message names every bad file. Also when every file was bad.
    """
    paths = [p for p in list_photos(folder) if p.name not in set(exclude)]
    if not paths:
        raise PhotoError(f"{image_folder(folder)}: every photo is excluded; keep some for the fit")
    if limit is not None:
        if limit < 1:
            raise PhotoError(f"limit: expected a positive number of photos, got {limit}")
        paths = paths[:limit]
    images, kept, grey, bad = [], [], [], []
    for path in paths:
        try:
            rgb = read_image(path)
        except DatasetFileError as exc:
            # the listing below says what to do for all of them at once
            why = str(exc).removeprefix(f"{path}: ").removesuffix("; replace or remove it")
            bad.append((path, why))
            continue
        if min(rgb.shape[:2]) < min_size:
            bad.append((path, f"{rgb.shape[1]}x{rgb.shape[0]} px is smaller than the "
                              f"{min_size} px needed"))
            continue
        images.append(rgb)
        kept.append(path)
        grey.append(is_grey(rgb))
    if bad and not skip_bad:
        listing = "; ".join(f"{p}: {why}" for p, why in bad)
        raise PhotoError(f"{len(bad)} unreadable photo(s): {listing}. Replace or remove them, or "
                         "skip them (--skip-bad on the command line)")
    if not images:
        raise PhotoError(f"{image_folder(folder)}: none of the {len(paths)} photo file(s) could be "
                         "read")
    return PhotoSet(images=images, paths=kept, grey=grey, skipped=bad)


def load_class_photos(folder: Path, *, skip_bad: bool = False, limit: int | None = None
                      ) -> tuple[list[np.ndarray], list[str], list[tuple[Path, str]]]:
    """Images of `folder/<class>/*` with their class names (for `class` pairing).

    Args:
        folder: a folder (or dataset directory) with one sub-folder of images per class.
        skip_bad, limit: as `load_photos`, per class.

    Returns:
        `(images, labels, skipped)`: the images in class then name order, the class (sub-folder)
        name of each, and the `(file, why)` pairs skipped as unreadable.

    Raises:
        PhotoError: no class sub-folder, or as `load_photos`.
    """
    root = image_folder(folder)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise PhotoError(f"{root}: class pairing needs one sub-folder of images per class "
                         "(e.g. real/bracket/*.jpg), found none")
    images: list[np.ndarray] = []
    labels: list[str] = []
    skipped: list[tuple[Path, str]] = []
    for c in classes:
        photos = load_photos(c, skip_bad=skip_bad, limit=limit)
        images += photos.images
        labels += [c.name] * len(photos)
        skipped += photos.skipped
    return images, labels, skipped
