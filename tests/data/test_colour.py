"""One definition of the grey weights (`synthgap.data.colour`), used wherever grey is taken."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from synthgap.data.colour import GREY_WEIGHTS, to_grey

PACKAGE = Path(__file__).resolve().parents[2] / "synthgap"

#: Files that still spell the weights out (adapt/ is being restructured; the lead moves them
#: to GREY_WEIGHTS after merging). Do not add to this list: import GREY_WEIGHTS instead.
KNOWN_COPIES: set[str] = set()  # every module uses synthgap.data.colour


def test_hand_checked_values():
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    grey = to_grey(rgb)
    assert grey.dtype == np.float32 and grey.shape == (4,)
    np.testing.assert_allclose(grey, [76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 +
                                      0.114 * 30], rtol=1e-6)


def test_agrees_with_opencv():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.abs(np.rint(to_grey(rgb)) - ref).max() <= 1


def test_weights_are_read_only_and_bad_input_is_named():
    with pytest.raises(ValueError, match="read-only"):
        GREY_WEIGHTS[0] = 1.0
    with pytest.raises(ValueError, match="3 channels.*\\(4, 4\\)"):
        to_grey(np.zeros((4, 4)))


def copies(root: Path = PACKAGE) -> set[str]:
    """Files under `root` (relative paths) that spell out the grey weights."""
    pattern = re.compile(r"0\.299\s*,\s*0\.587\s*,\s*0\.114")
    return {p.relative_to(root).as_posix() for p in root.rglob("*.py")
            if p.name != "colour.py" and pattern.search(p.read_text(encoding="utf-8"))}


def test_grey_weights_are_defined_once():
    new = copies() - KNOWN_COPIES
    assert not new, f"{sorted(new)} spell out the grey weights; use synthgap.data.colour"


def test_copy_finder_finds_a_copy(tmp_path):
    (tmp_path / "x.py").write_text("W = [0.299, 0.587, 0.114]\n")
    (tmp_path / "y.py").write_text("from synthgap.data.colour import GREY_WEIGHTS\n")
    assert copies(tmp_path) == {"x.py"}
