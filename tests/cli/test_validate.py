"""`synthgap validate SCENE`: JSON summary on stdout, clean exit 2 on bad scenes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from synthgap.cli import main
from synthgap.cli.validate import validate_scene

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_validate(path):
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["classes"]


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"bracket_turntable.yaml", "bin_picking.yaml"} <= names


def test_summary_of_a_preset():
    result = CliRunner().invoke(main, ["validate", "preset:bin"])
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert "\n" not in line
    summary = json.loads(line)
    assert summary["classes"] == ["bracket", "nut", "washer"]
    assert summary["count"] == {"bracket": [1, 3], "washer": [1, 4], "nut": [0, 4]}
    assert summary["parts"] == {"l_bracket": "bracket", "flanged_washer": "washer",
                                "hex_nut": "nut"}
    assert summary == validate_scene("preset:bin")


def test_bad_scene_exits_2_without_traceback(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({
        "camera": {"fov_deg": 40},
        "parts": [{"procedural": "l_bracket", "material": {"metalic": 0.5}}]}))
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{p}: parts[0].material.metalic: unknown key 'metalic'; did you mean 'metallic'?" \
        in result.output
    assert result.stdout == ""


def test_bad_mesh_exits_2(tmp_path):
    (tmp_path / "empty.stl").write_bytes(b"")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"camera": {"fov_deg": 40}, "parts": [{"mesh": "empty.stl"}]}))
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "parts[0].mesh" in result.output and "empty.stl" in result.output


def test_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "scene file not found" in result.output
