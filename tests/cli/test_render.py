"""`synthgap render` through click's CliRunner: end to end, resume, bad values."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgap.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "washer_defects.yaml"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "run.json"}


def _run(*args: str):
    return CliRunner().invoke(main, ["render", *args], catch_exceptions=False)


def test_render_example_twice_identical_and_resumes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = [str(EXAMPLE), "-n", "3", "--seed", "3", "--width", "96", "--height", "72"]
    res = _run(*args, "-o", str(a))
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["rendered"] == 3 and summary["images"] == 3 and summary["platform"]
    run = json.loads((a / "run.json").read_text())
    assert (run["seed"], run["width"], run["height"]) == (3, 96, 72)
    assert (a / "defects").is_dir() and len(list((a / "images").glob("*.png"))) == 3
    # Same command again: nothing to do. Another folder: byte-identical files.
    again = json.loads(_run(*args, "-o", str(a)).stdout.strip().splitlines()[-1])
    assert again["rendered"] == 0 and again["skipped"] == 3
    assert _run(*args, "-o", str(b)).exit_code == 0
    assert _files(a) == _files(b)
    # Another seed into the same folder is refused, with the fix in the message.
    clash = CliRunner().invoke(main, ["render", str(EXAMPLE), "-n", "3", "--seed", "4",
                                      "--width", "96", "--height", "72", "-o", str(a)])
    assert clash.exit_code == 2 and "--overwrite" in clash.output


@pytest.mark.parametrize("extra, match", [
    (["-n", "0"], "-n/--count"),
    (["-n", "2", "--workers", "0"], "--workers"),
    (["-n", "2", "--width", "64"], "both --width and --height"),
    (["-n", "2", "--width", "4", "--height", "4"], "--width"),
    (["-n", "2", "--seed", "-1"], "--seed"),
    (["-n", "two"], "not a valid integer"),
])
def test_bad_values_are_clean_errors(tmp_path, extra, match):
    res = CliRunner().invoke(main, ["render", str(EXAMPLE), "-o", str(tmp_path / "o"), *extra])
    assert res.exit_code == 2
    assert match in res.output and "Traceback" not in res.output


def test_bad_scene_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: {width: 64, height: 48}\nparts: [{procedural: l_bracket, cuont: 2}]\n")
    res = CliRunner().invoke(main, ["render", str(bad), "-n", "1", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "bad.yaml" in res.output and "cuont" in res.output
    missing = CliRunner().invoke(main, ["render", str(tmp_path / "nope.yaml"), "-n", "1",
                                        "-o", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_render_command_tunes_its_own_allocator(tmp_path, monkeypatch):
    """The command's process exists to render: it sets the allocator thresholds once
    (`runner.reuse_freed_memory`; `render_dataset` itself leaves them alone)."""
    from synthgap.generators.run import runner

    calls = []
    monkeypatch.setattr(runner, "reuse_freed_memory", lambda: calls.append(1))
    res = _run(str(EXAMPLE), "-n", "1", "-o", str(tmp_path / "o"), "--width", "64", "--height", "48")
    assert res.exit_code == 0, res.output
    assert calls == [1]


def test_no_progress_hides_the_bar_but_not_the_resume_note(tmp_path):
    args = [str(EXAMPLE), "-n", "1", "-o", str(tmp_path / "o"), "--width", "64", "--height", "48"]
    shown = _run(*args)
    assert shown.exit_code == 0, shown.output
    assert "img" in shown.stderr and "render" in shown.stderr  # the tqdm bar
    hidden = _run(*args[:2], "2", *args[3:], "--no-progress")
    assert hidden.exit_code == 0, hidden.output
    assert "img" not in hidden.stderr
    assert "resuming: 1 of 2 images" in hidden.stderr
    assert json.loads(hidden.stdout.strip().splitlines()[-1])["rendered"] == 1
