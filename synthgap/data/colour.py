"""Colour facts shared by every stage: the grey (luma) weights.

One definition, so the renderer's checks, the adapters and the gap metric agree on what
"grey" means.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GREY_WEIGHTS", "to_grey"]

#: ITU-R BT.601 luma weights of linear-in-code RGB (R, G, B), `(3,) float32`, read-only:
#: grey = 0.299 R + 0.587 G + 0.114 B, as OpenCV's `COLOR_RGB2GRAY`.
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
GREY_WEIGHTS.flags.writeable = False


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """Grey values of RGB pixels.

    Args:
        rgb: `(..., 3)` RGB, any real dtype (uint8 0-255 or float).

    Returns:
        `(...) float32` in the input's scale, `rgb @ GREY_WEIGHTS` (not rounded).

    Raises:
        ValueError: the last axis is not 3 channels.
    """
    a = np.asarray(rgb)
    if a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"to_grey: expected RGB with 3 channels in the last axis, got shape "
                         f"{a.shape}")
    return a.astype(np.float32, copy=False) @ GREY_WEIGHTS
