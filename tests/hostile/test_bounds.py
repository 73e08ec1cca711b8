"""Issue 21, items 6-8: sizes and numbers are checked before anything is read whole or
allocated: huge files, extreme image shapes, crafted model headers, hint files, fit options.

Each memory-bomb test makes the allocation it guards against fail fast (a patched reader or
resize that refuses big requests), so a regression fails in milliseconds instead of eating
gigabytes.
"""

import json
import os
import struct
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from synthgap.adapt.modelfile import ModelFileError, load_model, save_model
from synthgap.adapt.photos import PhotoError, load_photos
from synthgap.cli import main
from synthgap.data import read_image
from synthgap.data.layout import DatasetFileError


@pytest.fixture
def no_big_reads(monkeypatch):
    """Make any whole-file read of more than 100 MB fail at once."""
    real = np.fromfile

    def fromfile(file, *args, **kwargs):
        if os.path.getsize(file) > 100 << 20:
            raise AssertionError(f"{file}: read whole before its size was checked")
        return real(file, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", fromfile)


def _sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def _expect_2(res, *fragments):
    assert res.exit_code == 2, res.output
    assert ("Traceback" not in res.output and res.exception is None) or isinstance(
        res.exception, SystemExit), res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and len(res.output) < 1500, res.output  # one line
    for f in fragments:
        assert f in res.output, (f, res.output)


# -- item 6: files and images
def test_a_huge_file_among_photos_is_refused_unread(tmp_path, no_big_reads):
    ph = tmp_path / "ph"
    ph.mkdir()
    cv2.imwrite(str(ph / "a.png"), np.full((20, 20, 3), 90, np.uint8))
    _sparse(ph / "video.png", 8 << 30)
    t = time.perf_counter()
    with pytest.raises(DatasetFileError, match="video.png.*8589.9 MB"):
        read_image(ph / "video.png")
    photos = load_photos(ph, skip_bad=True)
    assert len(photos) == 1 and photos.skipped[0][0].name == "video.png"
    with pytest.raises(PhotoError, match="video.png"):
        load_photos(ph)
    assert time.perf_counter() - t < 2


def test_fit_skip_bad_and_preview_skip_a_huge_file(fake_dataset, tmp_path, no_big_reads):
    ph = tmp_path / "ph"
    ph.mkdir()
    for i in range(2):
        cv2.imwrite(str(ph / f"{i}.png"), np.full((30, 30, 3), 60 + 40 * i, np.uint8))
    _sparse(ph / "video.png", 8 << 30)
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(ph), "--skip-bad", "--method", "histogram",
                                    "-o", str(tmp_path / "m.safetensors")])
    assert res.exit_code == 0 and "video.png" in res.output, res.output


def _png_wide(path, width, height):
    """A tiny valid PNG of `width` x `height` (all zero pixels, compressed)."""
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\0" + b"\0" * width * 3 for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b""))


@pytest.fixture
def no_huge_resize(monkeypatch):
    real = cv2.resize

    def resize(img, size, *args, **kwargs):
        if size and size[0] * size[1] > 50_000_000:
            raise AssertionError(f"resize to {size}: not bounded before scaling")
        return real(img, size, *args, **kwargs)

    monkeypatch.setattr(cv2, "resize", resize)


def test_a_one_pixel_tall_photo_is_not_scaled_up_to_gigabytes(tmp_path, no_huge_resize):
    from synthgap.data.images import sample_patches

    with pytest.raises(ValueError, match=r"images\[0\]: a 100000x1.*512"):
        sample_patches([np.zeros((1, 100_000, 3), np.uint8)], patch_size=512, per_image=2,
                       rng=np.random.default_rng(0))
    ph = tmp_path / "ph"
    ph.mkdir()
    for k in range(2):
        _png_wide(ph / f"line{k}.png", 100_000, 1)
    assert (ph / "line0.png").stat().st_size < 2000
    res = CliRunner().invoke(main, ["gap", "--synthetic", str(ph), "--real", str(ph),
                                    "--patch-size", "512"])
    _expect_2(res, "100000x1")


def _safetensors(path, header, data=b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_a_model_header_declaring_a_huge_tensor_is_refused_unread(tmp_path):
    meta = {"__metadata__": {"synthgap": json.dumps({"kind": "histogram", "format": 1})}}
    p = _safetensors(tmp_path / "m.safetensors", {
        **meta, "w": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 4 << 30]}},
        b"\0" * 16)
    t = time.perf_counter()
    with pytest.raises(ModelFileError, match="'w'.*4294967296 bytes.*holds 16"):
        load_model(p)
    big = _sparse(tmp_path / "big.safetensors", 3 << 30)
    with pytest.raises(ModelFileError, match="3221.2 MB.*larger than"):
        load_model(big)
    p = _safetensors(tmp_path / "m2.safetensors", {
        **meta, "w": {"dtype": "F32", "shape": [3, 5], "data_offsets": [0, 16]}}, b"\0" * 16)
    with pytest.raises(ModelFileError, match=r"'w'.*shape \[3, 5\].*F32.*60 bytes.*16"):
        load_model(p)
    p = _safetensors(tmp_path / "m3.safetensors", {"w": {"dtype": "X9", "shape": [1],
                                                         "data_offsets": [0, 4]}}, b"\0" * 4)
    with pytest.raises(ModelFileError, match="dtype 'X9'"):
        load_model(p)
    _sparse(tmp_path / "h.safetensors", 64)
    (tmp_path / "h.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(ModelFileError, match="header"):
        load_model(tmp_path / "h.safetensors")
    assert time.perf_counter() - t < 2


def test_a_bf16_model_is_read_as_float32(tmp_path):
    import torch
    from safetensors.torch import save_file

    w = torch.tensor([1.5, -2.0, 0.25], dtype=torch.bfloat16)
    save_file({"w": w}, str(tmp_path / "m.safetensors"),
              metadata={"synthgap": json.dumps({"kind": "x", "format": 1})})
    tensors, config = load_model(tmp_path / "m.safetensors")
    assert tensors["w"].dtype == np.float32 and tensors["w"].tolist() == [1.5, -2.0, 0.25]
    assert config["kind"] == "x"


def test_models_synthgap_writes_still_load(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(0, np.float64),
              "c": np.array([1, 2], np.int64), "d": np.array([7], np.uint8)}
    save_model(tmp_path / "m.safetensors", arrays, {"kind": "k"})
    tensors, _config = load_model(tmp_path / "m.safetensors", kind="k")
    for k, v in arrays.items():
        assert tensors[k].dtype == v.dtype and np.array_equal(tensors[k], v)


# -- item 7: hint files and hint numbers
def _align_args(tmp_path, *extra):
    cv2.imwrite(str(tmp_path / "p.png"), np.full((480, 640, 3), 90, np.uint8))
    return ["align", "preset:bin", str(tmp_path / "p.png"), "--part", "l_bracket",
            "-o", str(tmp_path / "v.yaml"), *extra]


def test_an_alias_bomb_hint_file_is_refused_fast(tmp_path):
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    hint = tmp_path / "h.yaml"
    hint.write_text("\n".join(lines) + "\nreal_views: *i\n")
    t = time.process_time()
    res = CliRunner().invoke(main, _align_args(tmp_path, "--hint-pose", str(hint)))
    _expect_2(res, "h.yaml", "more than 200000 values")
    assert time.process_time() - t < 3


@pytest.mark.parametrize("text,fragment", [("real_views: " + "[" * 20000 + "]" * 20000,
                                            "nested too deeply"),
                                           ("x" * (9 << 20), "MB"),
                                           ("real_views: [{photo: p.png, photo: q.png}]",
                                            "duplicate key 'photo'")])
def test_hint_file_limits(tmp_path, text, fragment):
    hint = tmp_path / "h.yaml"
    hint.write_text(text)
    res = CliRunner().invoke(main, _align_args(tmp_path, "--hint-pose", str(hint)))
    _expect_2(res, "h.yaml", fragment)


@pytest.mark.parametrize("box", ["0,0,1e300,1e300", "0,0,nan,5", "-1e9,0,10,10", "0,0,9000,10", "700,0,10,10"])
def test_hint_boxes_are_bounded(tmp_path, box):
    res = CliRunner().invoke(main, _align_args(tmp_path, "--hint-box", box))
    _expect_2(res, "--hint-box")


def test_a_hint_translation_of_1e300_is_refused(tmp_path):
    hint = tmp_path / "h.yaml"
    hint.write_text("real_views:\n- photo: p.png\n  camera_look_at: {eye: [0, 0, 0.5], "
                    "look_at: [0, 0, 0], up: [0, 1, 0]}\n  parts: [{part: l_bracket, "
                    "position: [1.0e+300, 0, 0]}]\n")
    res = CliRunner().invoke(main, _align_args(tmp_path, "--hint-pose", str(hint)))
    _expect_2(res, "h.yaml", "real_views[0]", "parts[0].position", "beyond")


def test_a_camera_model_with_a_huge_blur_is_refused_on_load(fake_dataset, tmp_path):
    from synthgap.adapt.image_base import load_image_adapter

    path = tmp_path / "m.safetensors"
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(fake_dataset), "--method", "camera", "-o", str(path)])
    assert res.exit_code == 0, res.output
    for key, value, match in (("blur_sigma", 1e9, "blur_sigma"), ("noise_a", 1e300, "noise_a"),
                              ("jpeg_quality", True, "jpeg_quality"), ("grey", "no", "grey")):
        _edit_config(path, tmp_path / "bad.safetensors", key, value)
        with pytest.raises(ModelFileError, match=match):
            load_image_adapter(tmp_path / "bad.safetensors")


def _edit_config(src, dst, key, value):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(src), framework="numpy") as f:
        meta = json.loads(f.metadata()["synthgap"])
    target = meta if key == "grey" else meta["values"]
    target[key] = value
    save_file(load_file(str(src)), str(dst), metadata={"synthgap": json.dumps(meta)})


# -- item 8: fit options are bounded (CLI and job file alike)
@pytest.mark.parametrize("setting,fragment", [
    ("n_pairs=10000000000", "n_pairs"), ("hidden=[100000000]", "hidden"),
    ("batch_size=100000000", "batch_size"), ("iterations=1e12", "iterations"),
    ("kernel=x", "kernel"), ("rho=abc", "rho")])
def test_fit_options_are_bounded(fake_dataset, tmp_path, setting, fragment):
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(fake_dataset), "--method", "conv-smcae", "--set",
                                    setting, "-o", str(tmp_path / "m.safetensors")])
    _expect_2(res, fragment)
    assert not (tmp_path / "m.safetensors").exists()


def test_job_adapt_options_are_bounded_before_rendering(tmp_path):
    (tmp_path / "ph").mkdir()
    job = tmp_path / "job.yaml"
    job.write_text("images: 2\noutput: o\nreal_photos: ph\nadapt: {method: conv-smcae, "
                   "options: {n_pairs: 10000000000}}\n")
    res = CliRunner().invoke(main, ["run", str(job)])
    _expect_2(res, "adapt.options", "n_pairs")
    assert not (tmp_path / "o").exists()


def test_a_float_written_1e_minus_3_is_a_number(fake_dataset, tmp_path):
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(fake_dataset), "--real",
                                    str(fake_dataset), "--method", "conv-smcae", "--set",
                                    "learning_rate=1e-3", "--set", "iterations=2", "--set",
                                    "hidden=[2]", "--set", "n_pairs=8",
                                    "-o", str(tmp_path / "m.safetensors")])
    assert res.exit_code == 0, res.output
    job = tmp_path / "job.yaml"
    job.write_text("images: 2\noutput: o\nreal_photos: ph\nadapt: {method: conv-smcae, "
                   "options: {learning_rate: 1e-3, rho: abc}}\n")
    (tmp_path / "ph").mkdir()
    res = CliRunner().invoke(main, ["run", str(job)])
    _expect_2(res, "adapt.options", "rho")
    assert "learning_rate" not in res.output
