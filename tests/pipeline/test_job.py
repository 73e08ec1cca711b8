from pathlib import Path

import pytest

from synthgap.pipeline import JobError, load_job, parse_job


def _job(tmp_path, **kw):
    data = {"images": 4, "output": "out", "adapt": {"method": "none"}}
    data.update(kw)
    return parse_job(data, base_dir=tmp_path, source="job.yaml")


def test_paths_resolve_against_the_job_file(tmp_path, photos):
    (tmp_path / "job.yaml").write_text(
        "scene: preset:bin\nimages: 5\nreal_photos: photos\noutput: runs/a\n"
        "adapt: {method: histogram}\nexport: [coco, webdataset]\nsplit: [0.7, 0.2, 0.1]\n")
    job = load_job(tmp_path / "job.yaml")
    assert job.output == str(tmp_path / "runs" / "a")
    assert job.real_photos == str(photos)
    assert job.scene == "preset:bin" and job.export == ("coco", "webdataset")
    assert job.split == "0.7,0.2,0.1"


@pytest.mark.parametrize("kw, match", [
    ({"adapt": {"method": "smca"}}, r"job.yaml: adapt.method: expected one of .*got 'smca' \(did you mean 'smcae'\?\)"),
    ({"imagess": 3}, r"job.yaml: imagess: unknown field \(did you mean 'images'\?\)"),
    ({"images": 0}, r"images: expected greater than or equal to 1, got 0"),
    ({"export": ["coco", "voc"]}, r"export\[1\]: expected one of .*got 'voc'"),
    ({"export": ["coco", "coco"]}, r"export: each format once"),
    ({"split": "0.8,0.3"}, r"split: split ratios must sum to 1"),
    ({"size": [4, 3000]}, r"size: expected \[width, height\] in pixels"),
    ({"preview": {"n": "many"}}, r"preview.n: "),
    ({"scene": "nope.yaml"}, r"scene: scene file .*nope.yaml not found"),
    ({"adapt": {"method": "fda"}}, r"real_photos: required to adapt"),
    ({"adapt": {"method": "fda"}, "real_photos": "missing"}, r"real_photos: folder .*missing not found"),
    ({"adapt": {"method": "patch-smcae", "pairing": "aligned"}}, r"adapt.pairing: aligned pairs come from a scene file"),
    ({"seed": -1}, r"job.yaml: seed: expected greater than or equal to 0, got -1"),
    ({"adapt": {"method": "conv-smcae", "options": {"iteratons": 5}}},
     r"job.yaml: adapt.options.iteratons: unknown option of method 'conv-smcae'; did you mean "
     r"'iterations'\? valid: .*batch_size.*iterations"),
    ({"adapt": {"method": "histogram", "options": {"beta": 1}}},
     r"adapt.options.beta: unknown option .*valid: none"),
    ({"adapt": {"method": "conv-smcae", "options": {"kernel": 2}}},
     r"adapt.options: kernel: expected an odd size"),
    ({"adapt": {"method": "fda", "pairing": "nearest"}}, r"adapt.pairing: pairing: only the SMCAE"),
    ({"adapt": {"method": "none", "options": {"x": 1}}}, r"adapt.options: method none .*takes no"),
])
def test_bad_fields_are_named_with_their_path(tmp_path, kw, match):
    with pytest.raises(JobError, match=match):
        _job(tmp_path, **kw)


def test_missing_output_and_several_problems_at_once(tmp_path):
    with pytest.raises(JobError) as info:
        parse_job({"images": -1, "colour": 3}, base_dir=tmp_path, source="job.yaml")
    fields = [p for p, _ in info.value.problems]
    assert set(fields) == {"images", "output", "colour"}


def test_bad_files(tmp_path):
    with pytest.raises(JobError, match="job file not found"):
        load_job(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("images: [1,\n")
    with pytest.raises(JobError, match="not valid YAML: line"):
        load_job(tmp_path / "bad.yaml")
    (tmp_path / "unsafe.yaml").write_text("images: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(JobError, match="not valid YAML"):  # safe_load refuses python tags
        load_job(tmp_path / "unsafe.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(JobError, match="expected a mapping"):
        load_job(tmp_path / "list.yaml")


def test_gap_is_off_without_photos(tmp_path):
    assert _job(tmp_path).gap is False


def test_the_example_job_file_is_valid(tmp_path, photos):
    import yaml

    from synthgap.pipeline.job import Job

    example = Path(__file__).parents[2] / "examples" / "jobs" / "bin_picking.yaml"
    data = yaml.safe_load(example.read_text())
    assert set(data) <= set(Job.model_fields)
    data["real_photos"] = str(photos)
    job = parse_job(data, base_dir=example.parent, source=str(example))
    assert job.images == 200 and job.adapt.method == "pda"


def test_make_image_adapter_names_the_valid_options():
    from synthgap.adapt.image_base import adapter_options, make_image_adapter

    assert "iterations" in adapter_options("conv-smcae") and adapter_options("fda") == ("beta",)
    with pytest.raises(ValueError, match=r"options.iteratons: unknown option of method "
                                         r"'patch-smcae'; did you mean 'iterations'\? valid: "):
        make_image_adapter("patch-smcae", options={"iteratons": 5})
    with pytest.raises(ValueError, match=r"options.bet: .*did you mean 'beta'\? valid: beta$"):
        make_image_adapter("fda", options={"bet": 0.1})
