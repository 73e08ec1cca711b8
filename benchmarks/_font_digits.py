"""Synthetic digits rendered from the TrueType fonts that ship with matplotlib, made like UCI.

The UCI optdigits set (`sklearn.datasets.load_digits`) was made from 32×32 binary bitmaps of
size-normalised handwritten digits, divided into non-overlapping 4×4 blocks; each of the 8×8
values counts the ON pixels of a block (0–16). Here each digit is a glyph of a random bundled
font, scaled to a random height, rotated, thickened or thinned, shifted, binarised into a
32×32 bitmap, and block-counted the same way. Rendering uses matplotlib's FreeType wrapper
(`FT2Font`) directly: no display, no network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
from matplotlib import get_data_path
from matplotlib.ft2font import FT2Font

__all__ = ["digit_fonts", "render_digit_bitmap", "render_digits", "to_uci_8x8"]

# Font files without ordinary digit glyphs (symbol, size-variant and fallback fonts).
_SKIP = ("cmex", "cmsy", "cmmi", "STIXSiz", "STIXNonUni", "LastResort", "Display")


@cache
def digit_fonts() -> tuple[Path, ...]:
    """The bundled `.ttf` fonts whose glyphs for 0–9 exist (sorted, so runs are reproducible)."""
    out = []
    for p in sorted((Path(get_data_path()) / "fonts" / "ttf").glob("*.ttf")):
        if any(s in p.name for s in _SKIP):
            continue
        f = FT2Font(str(p))
        if all(f.get_char_index(ord(str(d))) for d in range(10)):
            out.append(p)
    if not out:
        raise RuntimeError("no matplotlib TrueType font with digit glyphs was found under "
                           f"{get_data_path()}/fonts/ttf; reinstall matplotlib")
    return tuple(out)


@cache
def _glyph(font: Path, digit: int) -> np.ndarray:
    """A large binary bitmap of one glyph, cropped to its ink: `(h, w)` bool."""
    f = FT2Font(str(font))
    f.set_size(96, 72)
    f.set_text(str(digit), 0.0)
    f.draw_glyphs_to_bitmap(antialiased=True)
    img = np.asarray(f.get_image()) > 96
    ys, xs = np.nonzero(img)
    return img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def render_digit_bitmap(digit: int, *, rng: np.random.Generator) -> np.ndarray:
    """One synthetic digit as a 32×32 binary bitmap, `(32, 32)` uint8 in {0, 1}.

    Random: font, glyph height (22–32 px, like size-normalised NIST digits), aspect jitter,
    rotation (±12°), stroke width (thin to bold by erosion/dilation) and shift (±2 px).
    """
    fonts = digit_fonts()
    g = _glyph(fonts[int(rng.integers(len(fonts)))], digit).astype(np.uint8) * 255
    h = int(rng.integers(22, 33))
    w = max(2, min(30, round(g.shape[1] * h / g.shape[0] * rng.uniform(0.8, 1.3))))
    g = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((48, 48), np.uint8)
    y0, x0 = (48 - h) // 2, (48 - w) // 2
    canvas[y0:y0 + h, x0:x0 + w] = g
    m = cv2.getRotationMatrix2D((24.0, 24.0), float(rng.uniform(-12, 12)), 1.0)
    m[:, 2] += rng.uniform(-2, 2, size=2)
    canvas = cv2.warpAffine(canvas, m, (48, 48), flags=cv2.INTER_LINEAR)
    ink = (canvas > 127).astype(np.uint8)
    stroke = int(rng.integers(-1, 3))  # -1: thinner, 0: as drawn, 1–2: bolder
    kernel = np.ones((2, 2), np.uint8) if stroke in (-1, 1) else np.ones((3, 3), np.uint8)
    if stroke < 0:
        thin = cv2.erode(ink, kernel)
        ink = thin if thin.sum() > 0.4 * ink.sum() else ink
    elif stroke > 0:
        ink = cv2.dilate(ink, kernel)
    return ink[8:40, 8:40]


def to_uci_8x8(bitmap: np.ndarray) -> np.ndarray:
    """Count ON pixels in non-overlapping 4×4 blocks: `(32, 32)` {0, 1} -> `(8, 8)` in 0–16."""
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))


def render_digits(n_per_class: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_class` synthetic digits of each class 0–9, UCI style.

    Returns:
        `(X (10 n, 64) float64 in 0–16, y (10 n,) int64)`, classes in order 0…9.
    """
    xs, ys = [], []
    for digit in range(10):
        for _ in range(n_per_class):
            xs.append(to_uci_8x8(render_digit_bitmap(digit, rng=rng)).ravel())
            ys.append(digit)
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.int64)
