"""Issue 21, items 1-5: no command writes into (or deletes) a folder it did not make; one
writer per output folder (apply, export, run); a BOP export uses the meshes it rendered."""

import json
import os
import threading

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

from synthgap.adapt.apply import AdaptedDatasetError, apply_adapter
from synthgap.adapt.histogram import HistogramMatch
from synthgap.cli import main
from synthgap.data import read_image
from synthgap.data.paths import FolderBusyError, folder_lock
from synthgap.export import ExportError, export_dataset
from synthgap.export.swap import export_lock_path


@pytest.fixture
def fake_stages():
    from tests.pipeline.conftest import FakeStages

    return FakeStages()


def _histogram(root):
    renders = [read_image(p) for p in sorted((root / "images").glob("*.png"))]
    return HistogramMatch().fit(renders, [np.full((20, 20, 3), 128, np.uint8)],
                                rng=np.random.default_rng(0))


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# -- item 1: apply writes only into a new, empty or own folder
@pytest.mark.parametrize("mine", ["images/000000.png", "masks/000000.png", "notes.txt",
                                  "records.jsonl"])
def test_apply_refuses_a_folder_of_the_users(fake_dataset, tmp_path, mine):
    out = tmp_path / "mine"
    (out / mine).parent.mkdir(parents=True, exist_ok=True)
    (out / mine).write_bytes(b"precious")
    before = _tree(out)
    with pytest.raises(AdaptedDatasetError, match="(not an adapted dataset).*nothing was written"):
        apply_adapter(_histogram(fake_dataset), fake_dataset, out, progress=False)
    assert _tree(out) == before  # nothing written, nothing replaced
    assert sorted(p.name for p in out.iterdir()) == sorted({mine.split("/")[0]})


def test_apply_refuses_an_output_inside_the_input(fake_dataset):
    with pytest.raises(AdaptedDatasetError, match="lies inside the input"):
        apply_adapter(_histogram(fake_dataset), fake_dataset, fake_dataset / "images" / "ad",
                      progress=False)
    assert not (fake_dataset / "images" / "ad").exists()


def test_apply_still_resumes_its_own_folder(fake_dataset, tmp_path):
    out = tmp_path / "ad"
    apply_adapter(_histogram(fake_dataset), fake_dataset, out, progress=False)
    (out / "notes.txt").write_text("mine")  # a file of the user's in an adapted folder is kept
    again = apply_adapter(_histogram(fake_dataset), fake_dataset, out, progress=False)
    assert again.already_done == 6 and (out / "notes.txt").read_text() == "mine"


# -- item 3: IN and OUT swapped, or OUT another render
def test_apply_with_in_and_out_swapped_changes_nothing(fake_dataset, tmp_path):
    ad = tmp_path / "ad"
    apply_adapter(_histogram(fake_dataset), fake_dataset, ad, progress=False)
    before = _tree(fake_dataset)
    res = CliRunner().invoke(main, ["adapt", "apply", str(_model(fake_dataset, tmp_path)),
                                    str(ad), str(fake_dataset), "--no-progress"])
    assert res.exit_code == 2 and "raw render" in res.output, res.output
    assert _tree(fake_dataset) == before and not (fake_dataset / "adapt.json").exists()


def test_apply_into_another_render_is_refused(fake_dataset, tmp_path):
    from tests.conftest import write_fake_dataset

    other = write_fake_dataset(tmp_path / "other", n=8, seed=3)
    before = _tree(other)
    with pytest.raises(AdaptedDatasetError, match="raw render"):
        apply_adapter(_histogram(fake_dataset), fake_dataset, other, progress=False)
    assert _tree(other) == before


def _model(fake_dataset, tmp_path):
    return _histogram(fake_dataset).save(tmp_path / "m.safetensors")


# -- item 2: run never deletes an adapted/ it did not make
def test_run_keeps_a_users_adapted_folder(tmp_path, fake_stages):
    from synthgap.pipeline import PipelineError, parse_job, run_job

    out = tmp_path / "job_out"
    (out / "adapted").mkdir(parents=True)
    (out / "adapted" / "notes.txt").write_text("mine")
    job = parse_job({"output": str(out), "images": 2, "adapt": {"method": "histogram"},
                     "real_photos": str(_photos(tmp_path)), "export": [], "gap": False},
                    base_dir=tmp_path)
    with pytest.raises(PipelineError, match="adapted.*not made by"):
        run_job(job, stages=fake_stages.stages(), progress=False, echo=lambda s: None)
    assert (out / "adapted" / "notes.txt").read_text() == "mine"


def test_run_refit_removes_only_its_own_adapted_files(tmp_path, fake_stages):
    from synthgap.pipeline import PipelineError, parse_job, run_job

    out = tmp_path / "job_out"
    spec = {"output": str(out), "images": 2, "adapt": {"method": "histogram"},
            "real_photos": str(_photos(tmp_path)), "export": [], "gap": False}
    run_job(parse_job(spec, base_dir=tmp_path), stages=fake_stages.stages(), progress=False,
            echo=lambda s: None)
    (out / "adapted" / "images" / "mine.png").write_bytes(b"mine")
    before = _tree(out / "adapted")
    spec["adapt"] = {"method": "pda"}  # refit: the old adapted images are stale
    with pytest.raises(PipelineError, match="mine.png.*move"):
        run_job(parse_job(spec, base_dir=tmp_path), stages=fake_stages.stages(),
                progress=False, echo=lambda s: None)
    assert _tree(out / "adapted") == before  # nothing deleted
    (out / "adapted" / "images" / "mine.png").unlink()
    run_job(parse_job(spec, base_dir=tmp_path), stages=fake_stages.stages(), progress=False,
            echo=lambda s: None)
    assert fake_stages.calls["apply"] == 2 and fake_stages.calls["fit"] == 2


def _photos(tmp_path):
    import cv2

    ph = tmp_path / "photos"
    ph.mkdir(exist_ok=True)
    cv2.imwrite(str(ph / "a.png"), np.full((20, 20, 3), 90, np.uint8))
    return ph


# -- item 4: one export and one run per output folder
def test_two_exports_into_one_folder_do_not_race(fake_dataset, tmp_path):
    out = tmp_path / "ex"
    gate, started, errors = threading.Event(), threading.Event(), []

    def slow(_n):
        started.set()
        gate.wait(5)

    t = threading.Thread(target=lambda: export_dataset(fake_dataset, out, format="coco",
                                                       split="1,0,0", progress=slow))
    t.start()
    try:
        assert started.wait(10)
        try:
            export_dataset(fake_dataset, out, format="yolo", split="1,0,0")
        except FolderBusyError as exc:
            errors.append(exc)
    finally:
        gate.set()
        t.join()
    assert errors and "another synthgap process" in str(errors[0])
    assert json.loads((out / "export.json").read_text())["format"] == "coco"
    assert not export_lock_path(out).exists()  # released and removed when done


def test_export_cli_busy_folder_exits_1_with_one_line(fake_dataset, tmp_path):
    out = tmp_path / "ex"
    lock = export_lock_path(out)
    with folder_lock(lock.parent, command="synthgap export", lock_name=lock.name):
        res = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco",
                                        "-o", str(out)])
    assert res.exit_code == 1 and "another synthgap process" in res.output, res.output
    assert not out.exists()


def test_two_runs_on_one_output_do_not_race(tmp_path, fake_stages):
    from synthgap.pipeline import PipelineError, parse_job, run_job

    out = tmp_path / "job_out"
    job = parse_job({"output": str(out), "images": 2, "adapt": {"method": "none"},
                     "export": [], "gap": False}, base_dir=tmp_path)
    with folder_lock(out, command="synthgap run"), \
            pytest.raises(PipelineError, match="another synthgap process"):
        run_job(job, stages=fake_stages.stages(), progress=False, echo=lambda s: None)
    assert fake_stages.calls["render"] == 0
    run_job(job, stages=fake_stages.stages(), progress=False, echo=lambda s: None)
    assert not (out / ".lock").exists()


# -- item 5: a BOP export writes the meshes that were rendered, or says why it cannot
@pytest.fixture
def mesh_dataset(tmp_path):
    """A fake dataset whose scene.yaml and run.json name a mesh file (as a render writes them)."""
    from synthgap.generators.run.writer import RunIdentity
    from synthgap.scenes import load_scene
    from tests.conftest import write_fake_dataset

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box((20, 10, 5)).export(meshes / "bracket.stl")
    trimesh.creation.box((8, 8, 2)).export(meshes / "washer.stl")
    scene = tmp_path / "scene.yaml"
    scene.write_text("camera: {fov_deg: 40}\nparts:\n"
                     "- {mesh: meshes/bracket.stl, units: mm, class: bracket}\n"
                     "- {mesh: meshes/washer.stl, units: mm, class: washer}\n")
    ident = RunIdentity.for_scene(load_scene(scene))
    root = write_fake_dataset(tmp_path / "raw")
    (root / "scene.yaml").write_text(ident.scene_yaml)
    (root / "run.json").write_text(json.dumps({**ident.as_json(), "status": "complete"}))
    return root


def test_bop_export_of_an_untouched_dataset_writes_models(mesh_dataset, tmp_path):
    export_dataset(mesh_dataset, tmp_path / "bop", format="bop", split="1,0,0")
    assert len(list((tmp_path / "bop" / "models").glob("obj_*.ply"))) == 2


def test_bop_export_refuses_a_mesh_edited_after_rendering(mesh_dataset, tmp_path):
    trimesh.creation.box((40, 10, 5)).export(tmp_path / "meshes" / "bracket.stl")
    with pytest.raises(ExportError, match="changed since the render"):
        export_dataset(mesh_dataset, tmp_path / "bop", format="bop", split="1,0,0")
    assert not (tmp_path / "bop").exists()


def test_bop_export_of_a_moved_mesh_says_what_to_do(mesh_dataset, tmp_path):
    os.rename(tmp_path / "meshes", tmp_path / "elsewhere")
    res = CliRunner().invoke(main, ["export", str(mesh_dataset), "--format", "bop",
                                    "-o", str(tmp_path / "bop")])
    assert res.exit_code == 2 and res.exception is not None, res.output
    assert "bracket.stl" in res.output and "put the mesh back" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "bop").exists()


def test_bop_export_refuses_a_scene_yaml_edited_to_name_another_file(mesh_dataset, tmp_path):
    (tmp_path / "secret").mkdir()
    trimesh.creation.icosphere().export(tmp_path / "secret" / "washer.stl")
    text = (mesh_dataset / "scene.yaml").read_text()
    (mesh_dataset / "scene.yaml").write_text(text.replace(str(tmp_path / "meshes" / "washer"),
                                                          str(tmp_path / "secret" / "washer")))
    with pytest.raises(ExportError, match="scene.yaml.*does not match"):
        export_dataset(mesh_dataset, tmp_path / "bop", format="bop", split="1,0,0")
    assert not (tmp_path / "bop").exists()
