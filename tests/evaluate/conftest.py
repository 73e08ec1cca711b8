"""Fixtures of the evaluation tests: a small BOP data set made from LM-O (two scene folders,
per-image K, OBJ meshes in metres), its labels, and a few renders of its objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthgap.evaluate.bop_reader import read_bop
from synthgap.evaluate.real import RealData
from tests.evaluate.bop_fixture import make_bop_fixture

SCENE = """\
seed: 1
image: {width: 160, height: 120}
camera:
  intrinsics: {fx: 143.1, fy: 143.4, cx: 81.3, cy: 60.5}
  pose: {look_at: [0.0, 0.0, 0.03], distance: [0.5, 0.9], elevation: [20, 80], azimuth: [0, 360]}
parts:
  - {mesh: models/obj_000001.obj, units: m, class: ape, count: 1}
  - {mesh: models/obj_000009.obj, units: m, class: duck, count: 1}
  - {mesh: models/obj_000011.obj, units: m, class: glue, count: 1}
area: [0.3, 0.3]
lights:
  - {type: directional, intensity: [1.5, 4.0], elevation: [40, 90]}
background:
  plane: false
  image_files: [test/000001/rgb/000003.png, test/000001/rgb/000061.png]
"""


@pytest.fixture(scope="session")
def bop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The BOP-layout fixture (see `bop_fixture.make_bop_fixture`)."""
    return make_bop_fixture(tmp_path_factory.mktemp("bop") / "data")


@pytest.fixture(scope="session")
def bop_real(bop_dir: Path) -> RealData:
    """The fixture read with its names file, labels rendered (80×60 class maps)."""
    return read_bop(bop_dir, names_file=bop_dir / "names.json", mesh_units="m",
                    seg_size=(80, 60))


@pytest.fixture(scope="session")
def renders(bop_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 renders of the fixture's three objects over two of its photos (`synthgap render`)."""
    scene = bop_dir / "scene.yaml"
    scene.write_text(SCENE)
    out = tmp_path_factory.mktemp("renders") / "raw"
    subprocess.run([sys.executable, "-m", "synthgap", "render", str(scene), "-n", "12", "-o",
                    str(out), "--seed", "1"], check=True, capture_output=True)
    return out
