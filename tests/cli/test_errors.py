"""Errors every command shares: unwritable outputs, negative seeds, model file names."""

import numpy as np
import pytest
from click.testing import CliRunner

from synthgap.adapt.modelfile import save_model
from synthgap.cli import main


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("not a folder")
    return f


def test_output_under_a_file_is_a_clean_error(fake_dataset, a_file):
    result = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco",
                                       "-o", str(a_file / "sub")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "afile" in result.output and "not a folder" in result.output.lower()


def test_render_output_under_a_file_is_a_clean_error(a_file):
    result = CliRunner().invoke(main, ["render", "preset:turntable", "-n", "1", "-o",
                                       str(a_file / "sub"), "--width", "64", "--height", "48"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "afile" in result.output


@pytest.mark.parametrize("command", [["export", "--format", "coco", "-o", "x"],
                                     ["preview", "-o", "x.png"]])
def test_negative_seed_is_refused_by_name(fake_dataset, command):
    result = CliRunner().invoke(main, [command[0], str(fake_dataset), *command[1:], "--seed", "-1"])
    assert result.exit_code == 2
    assert "--seed" in result.output


def test_adapt_fit_refuses_a_model_path_that_is_not_safetensors(fake_dataset, tmp_path):
    result = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                       str(fake_dataset), "-o", str(tmp_path / "m.json"),
                                       "--method", "histogram"])
    assert result.exit_code == 2
    assert ".safetensors" in result.output
    assert not (tmp_path / "m.json").exists()


def test_save_model_refuses_other_suffixes_and_keeps_readable_permissions(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors"):
        save_model(tmp_path / "m.json", {"w": np.ones(2, np.float32)}, {"kind": "coral"})
    p = save_model(tmp_path / "m.safetensors", {"w": np.ones(2, np.float32)}, {"kind": "coral"})
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # like any new file, not safetensors' 0600


def _render(out, n=2):
    return CliRunner().invoke(main, ["render", "preset:turntable", "-n", str(n), "-o", str(out),
                                     "--width", "64", "--height", "48", "--seed", "1"])


def test_render_refuses_an_adapted_folder(tmp_path):
    out = tmp_path / "r"
    assert _render(out).exit_code == 0
    (out / "adapt.json").write_text("{}")
    result = _render(out, n=3)
    assert result.exit_code != 0
    assert "adapted dataset" in result.output and "adapt apply" in result.output
    assert len(list((out / "images").glob("*.png"))) == 2  # nothing added
    assert _render(out, n=3).exit_code != 0  # still refused, folder still usable
    ok = CliRunner().invoke(main, ["render", "preset:turntable", "-n", "3", "-o", str(out),
                                   "--width", "64", "--height", "48", "--seed", "1", "--overwrite"])
    assert ok.exit_code == 0 and not (out / "adapt.json").exists()


def test_render_names_a_corrupt_record_line_on_resume(tmp_path):
    out = tmp_path / "r"
    assert _render(out).exit_code == 0
    lines = (out / "records.jsonl").read_text().splitlines(keepends=True)
    lines[0] = '{"index": 0, "se\n'
    (out / "records.jsonl").write_text("".join(lines))
    result = _render(out, n=3)
    assert result.exit_code != 0
    assert "records.jsonl:1" in result.output and "Traceback" not in result.output
    assert not (out / ".lock").exists()  # the folder is released


@pytest.mark.parametrize("spelling", ["-o", "--out", "--output"])
def test_every_command_takes_both_output_spellings(fake_dataset, tmp_path, spelling):
    out = tmp_path / "coco"
    result = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco", spelling, str(out)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["gap", "--synthetic", str(fake_dataset), "--real", str(fake_dataset),
                                       spelling, str(tmp_path / "g.json"), "--max-images", "4"])
    assert result.exit_code == 0, result.output
