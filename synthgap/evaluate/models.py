"""The two downstream models of the evaluation: a crop classifier and a small U-Net.

Both are trained from scratch with a fixed architecture, step budget and augmentation for
every training set, seeded (`torch.Generator` for initialisation, batch order, augmentation
and dropout; nothing global), so that the only thing that changes between rows is the
training data. A model is reproduced bit for bit by the same seed, data and torch intra-op
thread count (several threads split sums and change their rounding: 0.009 of weight after 20
steps with 2 threads against 1), which is why the protocol trains and tests on one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from synthgap.evaluate.stats import iou_per_class  # re-exported: the one IoU formula

__all__ = ["IGNORE", "MIX_RECIPES", "CropNet", "SmallUNet", "TrainBudget", "classify",
           "confusion", "iou_per_class", "segment", "train_classifier", "train_mixed",
           "train_segmenter"]

_Net = TypeVar("_Net", bound=nn.Module)

#: Label of pixels the segmentation neither trains nor scores (unsure ground truth).
IGNORE = 255


# --------------------------------------------------------------------------- recognition
class CropNet(nn.Module):
    """64×64 RGB crop -> class logits: 4 conv stages (16-32-64-128), global pooling, dropout,
    linear.

    The dropout draws its mask from the `generator` given to `forward` (training needs one):
    never from torch's process-wide RNG, whose state depends on whatever ran before in the
    process (in a pool, on which jobs a worker happened to get), so results would too.
    """

    def __init__(self, n_classes: int, dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in (16, 32, 64, 128):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.dropout = dropout
        self.head = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """`(B, 3, S, S)` float in [0, 1] -> `(B, n_classes)` logits.

        Raises:
            ValueError: in training mode without a `generator` (the dropout's masks).
        """
        h = self.features(x).mean(dim=(2, 3))
        if self.training and self.dropout > 0:
            if generator is None:
                raise ValueError("CropNet: training needs a torch.Generator for its dropout "
                                 "(forward(x, generator=g)); the global RNG is not used")
            keep = torch.rand(h.shape, generator=generator, device=generator.device)
            h = h * (keep >= self.dropout).to(h.device) / (1.0 - self.dropout)
        out: torch.Tensor = self.head(h)
        return out


@dataclass(frozen=True)
class TrainBudget:
    """Training budget of one model: optimiser steps, batch size, peak learning rate."""

    steps: int
    batch: int
    lr: float


def _augment_crops(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Fixed augmentation: random shift (±4 px, reflect pad), horizontal flip, brightness,
    contrast and per-channel gain jitter; `(B, 3, S, S)` float in [0, 1]."""
    b = x.shape[0]
    pad = F.pad(x, (4, 4, 4, 4), mode="reflect")
    ox = torch.randint(0, 9, (b,), generator=g)
    oy = torch.randint(0, 9, (b,), generator=g)
    h, w = x.shape[2:]
    x = torch.stack([pad[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(b)])
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    bright = 1.0 + 0.4 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    gain = 1.0 + 0.2 * (torch.rand(b, 3, 1, 1, generator=g) - 0.5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1.0 + 0.4 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    x = (x - mean) * contrast + mean
    return (x * bright * gain).clamp(0.0, 1.0)


def _batches(n_sets: list[int], batch: int, g: torch.Generator) -> list[torch.Tensor]:
    """Indices of one batch drawn equally from each of the given sets (offset into the
    concatenation)."""
    out: list[torch.Tensor] = []
    offset = 0
    share = [batch // len(n_sets)] * len(n_sets)
    share[0] += batch - sum(share)
    for n, k in zip(n_sets, share, strict=True):
        out.append(offset + torch.randint(0, n, (k,), generator=g))
        offset += n
    return out


#: How a training set of renders and a few labelled real crops is used (`train_mixed`):
#: `batch` draws half of every batch from each for one budget; `finetune` trains on the
#: renders for one budget, then on the real crops alone for a second budget from those weights.
MIX_RECIPES = ("batch", "finetune")


def _seeded(make: Callable[[], _Net], seed: int) -> _Net:
    """`make()` with every parameter drawn from `seed`: convolution and linear weights
    Kaiming-normal, their biases 0, batch norms 1 and 0 (their default).

    The layers' own default initialisation draws from torch's process-wide RNG: it is
    overwritten here, and drawn inside a forked RNG so the caller's global state is untouched.
    """
    g = torch.Generator().manual_seed(seed + 1_000_003)
    with torch.random.fork_rng(devices=[]):
        net = make()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, generator=g)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return net


def train_classifier(parts: list[tuple[np.ndarray, np.ndarray]], n_classes: int, *,
                     seed: int, budget: TrainBudget, init: CropNet | None = None) -> CropNet:
    """Train `CropNet` on one or more (crops `(N, S, S, 3) uint8`, labels `(N,)`) sets.

    With several sets (e.g. renders and real crops), each batch draws equally from each set,
    so a small real set is not drowned by thousands of renders. With `init`, training starts
    from a copy of those weights (fine-tuning) instead of a seeded initialisation.
    """
    g = torch.Generator().manual_seed(seed)
    net = _seeded(lambda: CropNet(n_classes), seed)
    if init is not None:
        net.load_state_dict(init.state_dict())
    xs = torch.from_numpy(np.concatenate([p[0] for p in parts])).permute(0, 3, 1, 2)
    ys = torch.from_numpy(np.concatenate([p[1] for p in parts]).astype(np.int64))
    sizes = [len(p[1]) for p in parts]
    opt = torch.optim.AdamW(net.parameters(), lr=budget.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=budget.lr, total_steps=budget.steps)
    net.train()
    for _ in range(budget.steps):
        idx = torch.cat(_batches(sizes, budget.batch, g))
        x = _augment_crops(xs[idx].float() / 255.0, g)
        loss = F.cross_entropy(net(x, g), ys[idx], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    if not torch.isfinite(loss):
        raise RuntimeError("classifier training diverged (non-finite loss)")
    net.eval()
    return net


def train_mixed(renders: tuple[np.ndarray, np.ndarray], real: tuple[np.ndarray, np.ndarray],
                n_classes: int, *, seed: int, budget: TrainBudget, recipe: str) -> CropNet:
    """Train on renders plus a few labelled real crops by one of `MIX_RECIPES`."""
    if recipe == "batch":
        return train_classifier([renders, real], n_classes, seed=seed, budget=budget)
    if recipe == "finetune":
        pre = train_classifier([renders], n_classes, seed=seed, budget=budget)
        return train_classifier([real], n_classes, seed=seed + 7_919, budget=budget, init=pre)
    raise ValueError(f"unknown mix recipe {recipe!r}; use one of {MIX_RECIPES}")


@torch.no_grad()
def classify(net: CropNet, crops: np.ndarray) -> np.ndarray:
    """Predicted class per crop, `(N,) int64`."""
    out = []
    for i in range(0, len(crops), 256):
        x = torch.from_numpy(crops[i:i + 256]).permute(0, 3, 1, 2).float() / 255.0
        out.append(net(x).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# --------------------------------------------------------------------------- segmentation
def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """A 4-level U-Net (8-16-32-64 channels) for `(B, 3, H, W)` -> `(B, K, H, W)` logits."""

    def __init__(self, n_classes: int, width: int = 8) -> None:
        super().__init__()
        c = [width, 2 * width, 4 * width, 8 * width]
        self.down = nn.ModuleList([_block(3, c[0]), _block(c[0], c[1]), _block(c[1], c[2]),
                                   _block(c[2], c[3])])
        self.up = nn.ModuleList([_block(c[3] + c[2], c[2]), _block(c[2] + c[1], c[1]),
                                 _block(c[1] + c[0], c[0])])
        self.out = nn.Conv2d(c[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W)` float in [0, 1] -> `(B, K, H, W)` logits."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < 3:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        out: torch.Tensor = self.out(x)
        return out


def _augment_seg(x: torch.Tensor, y: torch.Tensor, g: torch.Generator, crop: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random `crop`² window (the net is fully convolutional: it is tested on whole images),
    horizontal flip, brightness and per-channel gain jitter."""
    b, _, h, w = x.shape
    oy = torch.randint(0, h - crop + 1, (b,), generator=g)
    ox = torch.randint(0, w - crop + 1, (b,), generator=g)
    x = torch.stack([x[i, :, oy[i]:oy[i] + crop, ox[i]:ox[i] + crop] for i in range(b)])
    y = torch.stack([y[i, oy[i]:oy[i] + crop, ox[i]:ox[i] + crop] for i in range(b)])
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    y = torch.where(flip[:, None, None], y.flip(2), y)
    bright = 1.0 + 0.4 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    gain = 1.0 + 0.2 * (torch.rand(b, 3, 1, 1, generator=g) - 0.5)
    return (x * bright * gain).clamp(0.0, 1.0), y


def train_segmenter(parts: list[tuple[np.ndarray, np.ndarray]], n_classes: int, *, seed: int,
                    budget: TrainBudget, device: str = "cpu", crop: int = 128) -> SmallUNet:
    """Train `SmallUNet` on (images `(N, H, W, 3) uint8`, labels `(N, H, W) uint8`) sets,
    on random `crop`² windows; each batch draws equally from each set. Class weights:
    background 0.25, objects 1; label `IGNORE` (255) pixels are not counted."""
    g = torch.Generator().manual_seed(seed)
    net = _seeded(lambda: SmallUNet(n_classes), seed)
    net.to(device)
    xs = torch.from_numpy(np.concatenate([p[0] for p in parts])).permute(0, 3, 1, 2)
    ys = torch.from_numpy(np.concatenate([p[1] for p in parts]).astype(np.int64))
    sizes = [len(p[1]) for p in parts]
    crop = min(crop, xs.shape[2], xs.shape[3])  # images smaller than the window: whole images
    weight = torch.ones(n_classes, device=device)
    weight[0] = 0.25
    opt = torch.optim.AdamW(net.parameters(), lr=budget.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=budget.lr, total_steps=budget.steps)
    net.train()
    for _ in range(budget.steps):
        idx = torch.cat(_batches(sizes, budget.batch, g))
        x, y = _augment_seg(xs[idx].float() / 255.0, ys[idx], g, crop)
        loss = F.cross_entropy(net(x.to(device)), y.to(device), weight=weight,
                               ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    if not torch.isfinite(loss):
        raise RuntimeError("segmentation training diverged (non-finite loss)")
    net.eval()
    return net


@torch.no_grad()
def segment(net: SmallUNet, images: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Predicted label map per image, `(N, H, W) uint8`."""
    out = []
    for i in range(0, len(images), 8):
        x = torch.from_numpy(images[i:i + 8]).permute(0, 3, 1, 2).float().to(device) / 255.0
        out.append(net(x).argmax(1).to(torch.uint8).cpu().numpy())
    return np.concatenate(out)


def confusion(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """`(K, K) int64` confusion matrix (rows truth, columns prediction); `IGNORE` pixels of
    `truth` are left out."""
    keep = truth.ravel() != IGNORE
    t = truth.ravel()[keep].astype(np.int64)
    p = pred.ravel()[keep].astype(np.int64)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


