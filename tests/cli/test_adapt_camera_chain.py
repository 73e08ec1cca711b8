"""`synthgap adapt fit`: camera fit with a sensor block, chains, --set, region pairing, ids."""

import json

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from synthgap.adapt.fitting import parse_ids
from synthgap.adapt.image_base import load_image_adapter
from synthgap.cli import main
from synthgap.data import read_image
from synthgap.scenes.schema import SensorConfig


def _run(args):
    res = CliRunner().invoke(main, args)
    return res, (json.loads(res.stdout.strip().splitlines()[-1]) if res.exit_code == 0 else None)


def _camera_photos(dataset, folder, masks=None):
    """The dataset's own images through a 'camera' (blur + noise + warm tint), as photos."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, p in enumerate(sorted((dataset / "images").glob("*.png"))):
        img = cv2.GaussianBlur(read_image(p).astype(np.float32), (0, 0), 1.0)
        img = img * np.array([1.1, 1.0, 0.8]) + rng.normal(0, 4, img.shape)
        cv2.imwrite(str(folder / f"photo{i}.png"),
                    np.clip(img, 0, 255).astype(np.uint8)[:, :, ::-1])
        if masks is not None:
            masks.mkdir(exist_ok=True)
            m = cv2.imread(str(dataset / "masks" / p.name), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(masks / f"photo{i}.png"), m)
    return folder


def test_camera_fit_writes_a_sensor_block_and_applies(fake_dataset, tmp_path):
    real = _camera_photos(fake_dataset, tmp_path / "real")
    model, sensor = tmp_path / "cam.safetensors", tmp_path / "sensor.yaml"
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "-o", str(model), "--method", "camera", "--sensor-yaml", str(sensor)])
    assert res.exit_code == 0, res.output
    assert out["sensor_yaml"] == str(sensor) and out["report"]["camera"]["blur_sigma"] > 0.3
    block = yaml.safe_load(sensor.read_text())["sensor"]
    SensorConfig.model_validate(block)
    assert block["noise"] > 0
    res, out = _run(["adapt", "apply", str(model), str(fake_dataset), str(tmp_path / "ad"),
                     "--no-progress"])
    assert res.exit_code == 0 and out["written"] == 6


def test_chain_and_set_options(fake_dataset, tmp_path):
    real = _camera_photos(fake_dataset, tmp_path / "real")
    model = tmp_path / "chain.safetensors"
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "-o", str(model), "--method", "camera+conv-smcae", "--iterations", "4",
                     "--set", "residual=false", "--set", "noise=false", "--set", "hidden=[4]"])
    assert res.exit_code == 0, res.output
    assert out["method"] == "camera+conv-smcae" and out["pairing"] == "nearest"
    assert set(out["report"]) == {"0:camera", "1:conv-smcae"}
    chain = load_image_adapter(model)
    assert chain.steps[0].values["noise_a"] == 0 and chain.steps[1].config.hidden == (4,)
    assert chain.steps[1].config.residual is False
    for args, message in [
        (["--method", "camera+cyclegan"], "got 'cyclegan'"),
        (["--method", "camera", "--set", "nosie=false"], "did you mean 'noise'"),
        (["--method", "camera", "--set", "noise"], "expected KEY=VALUE"),
        (["--method", "histogram", "--sensor-yaml", str(tmp_path / "s.yaml")],
         "only a camera fit writes a sensor block"),
        (["--method", "conv-smcae", "--pairing", "region"], "--pairing region needs --real-masks"),
    ]:
        res, _ = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                       "-o", str(tmp_path / "x.safetensors"), *args])
        assert res.exit_code == 2 and message in res.output, (args, res.output)


def test_region_pairing_with_photo_masks(fake_dataset, tmp_path):
    real = _camera_photos(fake_dataset, tmp_path / "real", masks=tmp_path / "real_masks")
    res, out = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                     "--real-masks", str(tmp_path / "real_masks"), "--pairing", "region",
                     "--method", "conv-smcae", "-o", str(tmp_path / "r.safetensors"),
                     "--iterations", "4"])
    assert res.exit_code == 0, res.output
    rep = out["report"]["conv-smcae"]
    assert out["source"] == "folders+masks" and rep["pairing"] == "region"
    assert 0 < rep["n_distinct_targets"] <= rep["n_pairs"]
    (tmp_path / "real_masks" / "photo0.png").unlink()
    res, _ = _run(["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(real),
                   "--real-masks", str(tmp_path / "real_masks"), "--pairing", "region",
                   "--method", "conv-smcae", "-o", str(tmp_path / "r.safetensors"),
                   "--iterations", "4"])
    assert res.exit_code == 2 and "photo0.png" in res.output


def test_parse_ids(tmp_path):
    assert parse_ids("3, 61,102") == [3, 61, 102]
    (tmp_path / "s.json").write_text(json.dumps({"fit": [3, 8], "test": [1]}))
    assert parse_ids(f"{tmp_path / 's.json'}:fit") == [3, 8]
    with pytest.raises(ValueError, match="no non-empty list under key 'val'"):
        parse_ids(f"{tmp_path / 's.json'}:val")
    with pytest.raises(ValueError, match="expected integer image ids"):
        parse_ids("3,x")
