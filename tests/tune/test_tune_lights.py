"""The light fit finds known lights again (render-and-compare identity) and beats a wrong
guess on held-out views."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_scene import TRUE_AMBIENT, TRUE_LIGHT, write_views

from synthgap.generators.look.colour import temperature_to_rgb
from synthgap.scenes import parse_scene
from synthgap.tune import cross_validate_lights, fit_lights, light_loss, with_fitted_lights

FAST = {"size": (64, 48), "elevations": (20.0, 50.0, 80.0), "azimuth_step": 60.0,
        "max_refine": 20}


def test_fit_recovers_known_lights(tmp_path):
    scene = write_views(tmp_path)
    fit = fit_lights(scene, **FAST)
    assert abs(fit.elevation - TRUE_LIGHT["elevation"]) < 8.0
    assert abs((fit.azimuth - TRUE_LIGHT["azimuth"] + 180.0) % 360.0 - 180.0) < 15.0
    true_rgb = TRUE_LIGHT["intensity"] * np.asarray(temperature_to_rgb(4500.0))
    np.testing.assert_allclose(fit.key_rgb, true_rgb, rtol=0.15)
    np.testing.assert_allclose(fit.ambient_rgb, TRUE_AMBIENT, atol=0.03)
    assert abs(fit.temperature_k - 4500.0) < 600.0
    assert fit.loss < 0.05
    block = fit.lights_block()  # a valid scene block
    data = {"parts": [{"procedural": "l_bracket"}], "camera": {"fov_deg": 40.0}, **block}
    assert parse_scene(data, base_dir=tmp_path).lights[0].type == "directional"


def test_fitted_lights_beat_a_wrong_guess_on_held_out_views(tmp_path):
    scene = write_views(tmp_path)
    cv = cross_validate_lights(scene, folds=2, **FAST)
    assert len(cv["folds"]) == 2
    assert {v for f in cv["folds"] for v in f["held_out_views"]} == {0, 1, 2, 3}
    assert cv["loss_after"] < 0.5 * cv["loss_before"]
    for f in cv["folds"]:  # every held-out view is better lit by the fitted light
        assert len(f["view_loss_after"]) == len(f["held_out_views"]) == 2
        assert all(a < b for a, b in zip(f["view_loss_after"], f["view_loss_before"],
                                         strict=True))
    fit = fit_lights(scene, views=[0, 1], **FAST)
    rendered = light_loss(with_fitted_lights(scene, fit), views=[0, 1], size=(64, 48))
    assert rendered == pytest.approx(fit.loss, abs=0.02)  # the linear model is the render


def test_bad_views_are_refused(tmp_path):
    scene = write_views(tmp_path, n=2)
    with pytest.raises(ValueError, match="views"):
        fit_lights(scene, views=[5], **FAST)


def test_lights_command_writes_the_scene_with_fitted_lights(tmp_path):
    import json

    import yaml
    from click.testing import CliRunner
    from tiny_scene import scene_data

    from synthgap.cli import main
    from synthgap.scenes import load_scene

    scene = write_views(tmp_path)
    data = scene_data([v.photo for v in scene.real_views])
    data["lights"] = [{"type": "directional", "intensity": 0.7, "elevation": 80.0,
                       "azimuth": 300.0}]
    (tmp_path / "cell.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "lit.yaml"
    args = ["lights", str(tmp_path / "cell.yaml"), "-o", str(out), "--max-refine", "12"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["cv"]["loss_after"] < summary["cv"]["loss_before"]
    lit = load_scene(out)
    assert lit.lights[0].elevation.values[0] == pytest.approx(TRUE_LIGHT["elevation"], abs=10)
    assert "held-out (2-fold) loss" in out.read_text()
    again = CliRunner().invoke(main, args)  # never overwrites without --force
    assert again.exit_code == 2 and "--force" in again.stderr
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "real_views"}))
    res = CliRunner().invoke(main, ["lights", str(bare), "-o", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "real_views" in res.stderr
