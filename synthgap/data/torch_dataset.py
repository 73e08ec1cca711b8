"""`SynthgapDataset`: a `torch.utils.data.Dataset` over a raw, adapted or exported directory.

    >>> ds = SynthgapDataset("out/")                  # raw or adapted dataset directory
    >>> ds = SynthgapDataset("coco_out/", split="train")  # a coco, yolo(-seg) or webdataset export
    >>> image, target = ds[0]

Each item is `(image, target)` as torchvision's detection models take it:

* `image`: `(3, H, W) float32` RGB in [0, 1] (`image_dtype="uint8"`: `(3, H, W) uint8`);
* `target["boxes"]`: `(N, 4) float32` `[x0, y0, x1, y1]` pixels, pixel edges (a one-pixel
  object at column 3 has x0 = 3, x1 = 4);
* `target["labels"]`: `(N,) int64` indices into `dataset.classes`, where `classes[0]` is
  `"__background__"` and 1.. are the part classes sorted by name (the COCO category ids of the
  same data), then `defect/<type>` classes when `defects=True`;
* `target["masks"]`: `(N, H, W) bool` visible masks (absent for a YOLO detection export, which
  has none: see `has_masks`);
* `target["image_id"]`: `int64` scalar, the source image index;
* `target["instance_ids"]`: `(N,) int64` instance id in the source mask (-1 when unknown).

Only this module imports torch; `synthgap.data` loads it on first use of `SynthgapDataset`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from synthgap.data.layout import DatasetFileError, DatasetLayout

if TYPE_CHECKING:  # types only: synthgap.data must not import the export layer at run time
    from synthgap.export.base import ExportedSample, LazySamples

BACKGROUND = "__background__"


class SynthgapDataset(Dataset[tuple[torch.Tensor, dict[str, Any]]]):
    """Images with their instance masks, boxes and labels, from any synthgap directory.

    Args:
        root: a raw or adapted dataset directory (`records.jsonl`), or an export folder
            (`export.json`) of format coco, yolo, yolo-seg or webdataset.
        split: `train`, `val` or `test` to keep one split, or None for all images. For a raw or
            adapted directory the split is computed as `synthgap export` does, from
            `split_ratios` and `split_seed` (so it matches an export made with the same ones).
        split_ratios: `train,val,test` fractions (raw/adapted directories only).
        split_seed: split seed (raw/adapted directories only).
        defects: also return defects as objects (labels after the part classes).
        image_dtype: `float32` (RGB in [0, 1]) or `uint8`.
        transform: optional albumentations `Compose` (2.0.x; `bbox_params` and masks are
            handled): applied to the `(H, W, 3) uint8` image, the masks and the boxes together
            before they become tensors; boxes are then the tight boxes of the transformed
            masks and objects cropped away are dropped (`synthgap.data.augment`). With a
            seeded Compose (`seed=...`) item i's augmentation is a pure function of (seed,
            epoch, source index), whatever the DataLoader workers; call `set_epoch` each epoch
            to get new ones. Import albumentations with `NO_ALBUMENTATIONS_UPDATE=1` set.
        transforms: optional `transforms(image, target) -> (image, target)` applied last
            (e.g. a torchvision v2 transform).

    Attributes:
        classes: label index -> name; `classes[0]` is `"__background__"`.
        has_masks: False only for a YOLO detection export.
    """

    def __init__(self, root: Path | str, *, split: str | None = None,
                 split_ratios: str = "0.8,0.1,0.1", split_seed: int = 0,
                 defects: bool = False, image_dtype: Literal["float32", "uint8"] = "float32",
                 transform: Callable[..., dict[str, Any]] | None = None,
                 transforms: Callable[[torch.Tensor, dict[str, Any]],
                                      tuple[torch.Tensor, dict[str, Any]]] | None = None) -> None:
        from synthgap.export import EXPORTERS
        from synthgap.export.base import DEFECT_PREFIX, MANIFEST

        if split not in (None, "train", "val", "test"):
            raise ValueError(f"split: expected 'train', 'val', 'test' or None, got {split!r}")
        if image_dtype not in ("float32", "uint8"):
            raise ValueError(f"image_dtype: expected 'float32' or 'uint8', got {image_dtype!r}")
        for name, fn in (("transform", transform), ("transforms", transforms)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name}: expected a callable (e.g. an albumentations Compose), "
                                f"got {type(fn).__name__}")
        self.root = Path(root)
        self.image_dtype = image_dtype
        self.transform = transform
        self.transforms = transforms
        self.defects = defects
        self.epoch = 0
        manifest = self.root / MANIFEST
        if DatasetLayout(self.root).records.is_file():
            self._samples, names = _raw_samples(self.root, split, split_ratios, split_seed,
                                                defects)
            self.has_masks = True
        elif manifest.is_file():
            info = json.loads(manifest.read_text(encoding="utf-8"))
            fmt = info.get("format")
            if fmt == "folders":
                raise ValueError(f"{self.root}: a class-folders export has no boxes or masks; "
                                 "load it with torchvision.datasets.ImageFolder")
            if fmt not in EXPORTERS:
                raise ValueError(f"{self.root}: unknown export format {fmt!r} in {MANIFEST}")
            samples = EXPORTERS[fmt].read(self.root)
            self._samples = _Filtered(samples, split)
            if fmt == "bop":  # ids are objects (meshes); the samples name their classes
                names = list(info.get("extra", {}).get("classes", []))
            else:
                by_id = sorted(info["categories"].items(), key=lambda kv: kv[1])
                offset = 1 - min((v for _, v in by_id), default=1)  # YOLO ids start at 0
                names = [""] * max((v + offset for _, v in by_id), default=0)
                for name, cid in by_id:
                    names[cid + offset - 1] = name
            self.has_masks = EXPORTERS[fmt].masks is not None
        else:
            raise DatasetFileError(f"{self.root}: neither a dataset directory (records.jsonl) "
                                   f"nor a synthgap export ({MANIFEST})")
        if not defects:
            names = [n for n in names if not n.startswith(DEFECT_PREFIX)]
        self.classes: tuple[str, ...] = (BACKGROUND, *names)
        self._label = {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self._samples)

    def set_epoch(self, epoch: int) -> None:
        """Use the seeded `transform`'s augmentations of epoch `epoch` (0 at construction)."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        from synthgap.export.base import DEFECT_PREFIX

        s = self._samples[i]
        keep = [k for k, n in enumerate(s.names) if self.defects or
                not n.startswith(DEFECT_PREFIX)]
        rgb = s.image
        h, w = rgb.shape[:2]
        xywh = s.boxes[keep].reshape(-1, 4)
        masks = s.masks[keep].reshape(-1, h, w) if s.masks is not None else None
        labels = np.array([self._label[s.names[k]] for k in keep], np.int64)
        instance_ids = s.instance_ids[keep].astype(np.int64)
        if self.transform is not None:
            from synthgap.data.augment import apply_transform

            seed = getattr(self.transform, "seed", None)
            rng = (np.random.default_rng([int(seed), self.epoch, int(s.index)])
                   if seed is not None else None)
            aug = apply_transform(self.transform, rgb, masks, xywh, rng=rng)
            rgb, masks, xywh = aug.image, aug.masks, aug.boxes
            labels, instance_ids = labels[aug.kept], instance_ids[aug.kept]
        image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
        if self.image_dtype == "float32":
            image = image.to(torch.float32) / 255.0
        xywh = xywh.astype(np.float32).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        target: dict[str, Any] = {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.from_numpy(labels),
            "image_id": torch.tensor(s.index, dtype=torch.int64),
            "instance_ids": torch.from_numpy(instance_ids),
        }
        if masks is not None:
            target["masks"] = torch.from_numpy(np.ascontiguousarray(masks))
        if self.transforms is not None:
            result = self.transforms(image, target)
            if not (isinstance(result, tuple) and len(result) == 2):
                got = "None" if result is None else type(result).__name__
                raise TypeError(f"transforms returned {got}; it must return the pair "
                                "(image, target)")
            image, target = result
        return image, target


class _Filtered(Sequence["ExportedSample"]):
    """The samples of one split of a read-back export (all when `split` is None)."""

    def __init__(self, samples: LazySamples, split: str | None) -> None:
        self._samples = samples
        splits = samples.splits if split is not None else []
        self._keep = [k for k in range(len(samples)) if split is None or splits[k] == split]

    def __len__(self) -> int:
        return len(self._keep)

    # int indices only, where Sequence also takes slices
    def __getitem__(self, i: int) -> ExportedSample:  # type: ignore[override]
        return self._samples[self._keep[i]]


def _raw_samples(root: Path, split: str | None, ratios: str, seed: int, defects: bool
                 ) -> tuple[_Filtered, list[str]]:
    from synthgap.export.base import DEFECT_PREFIX, ExportOptions
    from synthgap.export.objects import source_samples
    from synthgap.export.source import open_dataset
    from synthgap.export.splits import assign_splits, parse_split

    source = open_dataset(root)
    splits = assign_splits(source.indices, parse_split(ratios), seed=seed)  # no record read
    samples = source_samples(source, ExportOptions(defects=defects), splits=splits)
    names = list(source.categories) + [DEFECT_PREFIX + t for t in source.defect_types]
    return _Filtered(samples, split), names
