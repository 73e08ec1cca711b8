import json

import cv2
import numpy as np
from click.testing import CliRunner
from skimage import data

from synthgap.cli import main
from synthgap.data import read_records


def _photos(folder, n=5, size=48):
    folder.mkdir()
    rng = np.random.default_rng(0)
    c = data.coins()
    for i in range(n):
        y, x = rng.integers(0, c.shape[0] - size), rng.integers(0, c.shape[1] - size)
        cv2.imwrite(str(folder / f"p{i}.jpg"), c[y:y + size, x:x + size])
    return folder


def _run(args):
    res = CliRunner().invoke(main, args)
    return res, (json.loads(res.stdout.strip().splitlines()[-1]) if res.exit_code == 0 else None)


def test_fit_and_apply_histogram(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real")
    model = tmp_path / "m.safetensors"
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "-o", str(model), "--method", "histogram"])
    assert res.exit_code == 0, res.output
    assert out["method"] == "histogram" and out["n_synthetic"] == 6 and out["n_real"] == 5
    assert "warning" not in res.stderr  # 5 photos: the recommended least
    assert model.is_file() and model.with_suffix(".json").is_file()
    res, out = _run(["adapt", "apply", str(model), str(fake_dataset), str(tmp_path / "ad"),
                     "--no-progress"])
    assert res.exit_code == 0, res.output
    assert out["written"] == 6
    assert len(read_records(tmp_path / "ad")) == 6


def test_fit_with_too_few_photos_warns_and_runs(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real", n=2)  # README asks for 5-50
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "-o", str(tmp_path / "m.safetensors"), "--method", "histogram"])
    assert res.exit_code == 0, res.output
    assert out["n_real"] == 2
    warning = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert warning == ["warning: only 2 real photo(s) to learn the camera's look from; 5-50 "
                       "are recommended (fitting anyway)"]
    assert "warning" not in res.stdout  # stdout stays one JSON line


def test_fit_conv_smcae_small(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real")
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "-o", str(tmp_path / "c.safetensors"), "--method", "conv-smcae",
                     "--pairing", "nearest", "--iterations", "5", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert out["pairing"] == "nearest"
    # strength auto (6 renders, 5 photos: too few to hold out, chosen on the fit images)
    chosen = out["report"]["conv-smcae"]["strength"]
    assert chosen["chosen"] in (0.0, 0.25, 0.5, 0.75, 1.0) and not chosen["held_out"]
    assert set(chosen["mmd2"]) == {"0", "0.25", "0.5", "0.75", "1"}
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "-o", str(tmp_path / "d.safetensors"), "--method", "histogram+conv-smcae",
                     "--iterations", "5", "--set", "strength=0.5"])
    assert res.exit_code == 0, res.output
    assert "strength" not in out["report"]["1:conv-smcae"]  # fixed, not chosen


def test_bad_photos_named_and_skip_bad(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real")
    (real / "broken.png").write_bytes(b"not a png")
    args = ["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
            "-o", str(tmp_path / "m.safetensors"), "--method", "pda"]
    res, _ = _run(args)
    assert res.exit_code == 2 and "broken.png" in res.output and "--skip-bad" in res.output
    res, out = _run([*args, "--skip-bad"])
    assert res.exit_code == 0, res.output
    assert out["n_real"] == 5 and "broken.png" in out["skipped"][0]


def test_bad_options_and_model(fake_dataset, tmp_path):
    real = _photos(tmp_path / "real")
    res, _ = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                   "-o", str(tmp_path / "m.safetensors"), "--method", "fda", "--pairing", "nearest"])
    assert res.exit_code == 2 and "only the SMCAE methods pair" in res.output
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    res, _ = _run(["adapt", "apply", str(tmp_path / "junk.safetensors"), str(fake_dataset),
                   str(tmp_path / "o")])
    assert res.exit_code == 2 and "junk.safetensors" in res.output
    res, _ = _run(["adapt", "fit", "--synthetic", str(tmp_path / "nope"), "--real", str(real),
                   "-o", str(tmp_path / "m.safetensors"), "--method", "fda"])
    assert res.exit_code == 2 and "nope" in res.output


def _cell_scene(tmp_path, n_views=2):
    """A scene file with pinned real views (photos = noisy grey images of the right size)."""
    import yaml

    rng = np.random.default_rng(0)
    views = []
    for i in range(n_views):
        cv2.imwrite(str(tmp_path / f"v{i}.png"), rng.integers(0, 255, (48, 64), dtype=np.uint8))
        views.append({"photo": f"v{i}.png",
                      "camera_look_at": {"eye": [0.1 - 0.2 * i, -0.15, 0.18], "look_at": [0, 0, 0.01]},
                      "parts": [{"part": "l_bracket", "position": [0, 0, 0]}]})
    scene = {"image": {"width": 64, "height": 48},
             "camera": {"intrinsics": {"fx": 110.0, "fy": 110.0, "cx": 31.5, "cy": 23.5}},
             "parts": [{"procedural": "l_bracket"}],
             "lights": [{"type": "directional", "intensity": 3.0, "elevation": 60}],
             "background": {"color": [0.2, 0.2, 0.2]},
             "real_views": views}
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_fit_aligned_from_scene_real_views(tmp_path):
    scene = _cell_scene(tmp_path)
    res, out = _run(["adapt", "fit", "--scene", str(scene), "--pairing", "aligned",
                     "-o", str(tmp_path / "a.safetensors"), "--method", "conv-smcae",
                     "--iterations", "3"])
    assert res.exit_code == 0, res.output
    assert out["pairing"] == "aligned" and out["n_synthetic"] == out["n_real"] == 2
    # a scene's real_views pair pixel for pixel by default
    res, out = _run(["adapt", "fit", "--scene", str(scene), "-o", str(tmp_path / "b.safetensors"),
                     "--method", "conv-smcae", "--iterations", "2", "--set",
                     "pretrain_iterations=2"])
    assert res.exit_code == 0, res.output
    assert out["pairing"] == "aligned" and out["source"] == "scene"
    res, _ = _run(["adapt", "fit", "--scene", str(scene), "--synthetic", str(tmp_path),
                   "-o", str(tmp_path / "c.safetensors")])
    assert res.exit_code == 2 and "drop --synthetic/--real" in res.output


def test_fit_class_pairing_from_class_folders(tmp_path):
    rng = np.random.default_rng(0)
    for root in ("syn", "real"):
        for cls in ("bolt", "nut"):
            (tmp_path / root / cls).mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(tmp_path / root / cls / f"{i}.png"),
                            rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    res, out = _run(["adapt", "fit", "--synthetic", str(tmp_path / "syn"), "--real",
                     str(tmp_path / "real"), "-o", str(tmp_path / "m.safetensors"),
                     "--method", "conv-smcae", "--pairing", "class", "--iterations", "2"])
    assert res.exit_code == 0, res.output
    assert out["pairing"] == "class" and out["n_synthetic"] == out["n_real"] == 4
    res, _ = _run(["adapt", "fit", "--synthetic", str(tmp_path / "syn" / "bolt"), "--real",
                   str(tmp_path / "real"), "-o", str(tmp_path / "m.safetensors"),
                   "--method", "conv-smcae", "--pairing", "class"])
    assert res.exit_code == 2 and "one sub-folder of images per class" in res.output
