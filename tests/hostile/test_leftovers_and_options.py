"""Issue 21, items 14-16: nothing is left behind by killed runs; options are honoured or
refused, never ignored; module caches stay bounded."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from click.testing import CliRunner

from synthgap.adapt.apply import apply_adapter
from synthgap.adapt.histogram import HistogramMatch
from synthgap.cli import main
from synthgap.data import read_image
from synthgap.export import export_dataset


def _histogram(root):
    renders = [read_image(p) for p in sorted((root / "images").glob("*.png"))]
    return HistogramMatch().fit(renders, [np.full((20, 20, 3), 128, np.uint8)],
                                rng=np.random.default_rng(0))


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# -- item 14
def test_export_temporaries_of_a_killed_export_are_cleaned(fake_dataset, tmp_path):
    out = tmp_path / "ex"
    stale = tmp_path / f".ex.synthgap-tmp-{_dead_pid()}"
    (stale / "images").mkdir(parents=True)
    (stale / "images" / "000000.png").write_bytes(b"half")
    mine = tmp_path / ".ex.synthgap-tmp-notes"  # not a name an export makes: kept
    mine.mkdir()
    export_dataset(fake_dataset, out, format="coco", split="1,0,0")
    assert not stale.exists() and mine.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ex.synthgap-tmp-notes", "ex", "raw"]


def test_an_export_killed_between_its_renames_gets_the_earlier_one_back(fake_dataset, tmp_path):
    out = tmp_path / "ex"
    export_dataset(fake_dataset, out, format="coco", split="1,0,0")
    os.rename(out, tmp_path / f".ex.synthgap-tmp-old-{_dead_pid()}")
    (tmp_path / "ex").mkdir()  # not even that: the next export finds only the -old- copy
    os.rmdir(tmp_path / "ex")
    export_dataset(fake_dataset, out, format="coco", split="0,1,0")
    assert json.loads((out / "export.json").read_text())["format"] == "coco"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex", "raw"]


def test_apply_resume_removes_temporaries_of_a_killed_run(fake_dataset, tmp_path):
    out = tmp_path / "ad"
    apply_adapter(_histogram(fake_dataset), fake_dataset, out, progress=False)
    stale = [out / "images" / f".000003.png.{_dead_pid()}.tmp.png",
             out / "masks" / ".000001.png.4242.tmp", out / ".adapt.json.4242.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    (out / "images" / ".mine.png").write_bytes(b"mine")
    apply_adapter(_histogram(fake_dataset), fake_dataset, out, progress=False)
    assert not any(p.exists() for p in stale)
    assert (out / "images" / ".mine.png").read_bytes() == b"mine"


def test_shader_folders_of_dead_processes_are_removed(monkeypatch, tmp_path):
    from synthgap.generators.gl.pyrender_compat import shaders

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"synthgap-shaders-{_dead_pid()}-abc"
    alive = tmp_path / f"synthgap-shaders-{os.getpid()}-abc"
    other = tmp_path / "synthgap-shaders-notapid"
    for d in (dead, alive, other):
        d.mkdir()
    shaders._remove_stale_shader_folders()
    assert not dead.exists() and alive.is_dir() and other.is_dir()


@pytest.mark.parametrize("flag", ["-o", "--figure"])
def test_gap_output_that_is_a_folder_is_refused_before_work(fake_dataset, tmp_path, flag):
    (tmp_path / "dir").mkdir()
    res = CliRunner().invoke(main, ["gap", "--synthetic", str(fake_dataset), "--real",
                                    str(fake_dataset), flag, str(tmp_path / "dir")])
    assert res.exit_code == 2 and "is a folder" in res.output, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "raw"]
    assert not list((tmp_path / "dir").iterdir())


# -- item 15
@pytest.mark.parametrize("extra", [["--max-images", "2"], ["--skip-bad"],
                                   ["--real-masks", "."]])
def test_folder_options_with_scene_or_bop_are_refused(tmp_path, extra):
    res = CliRunner().invoke(main, ["adapt", "fit", "--bop", str(tmp_path), "--bop-ids", "1",
                                    "-o", str(tmp_path / "m.safetensors"), *extra])
    assert res.exit_code == 2 and "applies to --synthetic/--real" in res.output, res.output


def test_real_masks_are_honoured_or_refused(fake_dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    args = ["adapt", "fit", "--synthetic", str(fake_dataset), "--real", str(fake_dataset),
            "-o", str(tmp_path / "m.safetensors"), "--real-masks", str(tmp_path / "empty")]
    res = CliRunner().invoke(main, [*args, "--method", "histogram"])
    assert res.exit_code == 2 and "does not use label maps" in res.output, res.output
    res = CliRunner().invoke(main, [*args, "--method", "camera"])  # camera reads them: all
    assert res.exit_code == 2 and "label map of 000000.png missing" in res.output, res.output


def test_job_aligned_fit_honours_max_images_and_passes_masks(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from synthgap.pipeline.stages import fit_stage

    seen = {}

    class View:
        def __init__(self, i):
            self.render = np.full((16, 16, 3), 10 * i, np.uint8)
            self.real = np.full((16, 16, 3), 10 * i + 5, np.uint8)
            self.instance_mask = np.ones((16, 16), np.uint16)

    def fake_render(scene, *, seed):
        seen["views"] = len(scene.real_views)
        return [View(i) for i in range(len(scene.real_views))]

    class Scene:
        real_views = (1, 2, 3)
        parts = ()

        def model_copy(self, update):
            s = Scene()
            s.real_views = update["real_views"]
            return s

    import synthgap.generators.real.views as views
    import synthgap.scenes as scenes

    monkeypatch.setattr(views, "render_aligned_views", fake_render)
    monkeypatch.setattr(scenes, "load_scene", lambda path: Scene())
    from synthgap.adapt.conv_smcae import ConvSmcae

    original = ConvSmcae.fit

    def spy(self, synthetic, real, **kw):
        seen["masks"] = kw.get("real_masks") is not None and kw.get("synthetic_masks") is not None
        return original(self, synthetic, real, **kw)

    monkeypatch.setattr(ConvSmcae, "fit", spy)
    # the job's fit stage: the same functions as `synthgap adapt fit --scene`
    job = SimpleNamespace(scene="s.yaml", seed=0, adapt=SimpleNamespace(
        method="conv-smcae", pairing="aligned", max_images=2,
        options={"iterations": 2, "hidden": [2], "n_pairs": 8, "patch_size": 8, "strength": 1.0}))
    summary = fit_stage(job, tmp_path / "renders", tmp_path / "m.safetensors")
    assert seen == {"views": 2, "masks": True} and summary["n_real"] == 2


# -- item 16
def test_module_mesh_caches_are_bounded():
    import trimesh

    from synthgap.generators.defects import features

    for k in range(features.CACHE_ENTRIES + 10):
        features.sharp_edges(trimesh.creation.box((0.01 + k * 1e-4, 0.02, 0.03)))
    assert len(features._SHARP) <= features.CACHE_ENTRIES


def test_a_renderer_context_leaves_the_environment_and_opengl_imports_alone(monkeypatch):
    from synthgap.generators.gl import pyrender_compat
    from synthgap.generators.gl.context import open_offscreen

    pyrender_compat.import_pyrender("egl")  # as a user (or an earlier render) imported it
    gl = sys.modules["OpenGL"]
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    _pyrender, offscreen, platform = open_offscreen(8, 8)
    try:
        assert platform == "egl" and "PYOPENGL_PLATFORM" not in os.environ
        assert sys.modules["OpenGL"] is gl  # not purged and imported again
        assert pyrender_compat.loaded_gl_platform() == "egl"
    finally:
        offscreen.delete()
