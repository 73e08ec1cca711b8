import json

from click.testing import CliRunner

from synthgap.cli import main


def test_export_command_prints_a_json_summary(fake_dataset, tmp_path):
    out = tmp_path / "coco"
    result = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "coco", "-o",
                                       str(out), "--split", "0.5,0.5,0", "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["format"] == "coco" and summary["seed"] == 3
    assert sum(summary["images"].values()) == 6
    assert (out / "annotations" / "instances_train.json").is_file()


def test_folder_options_reach_the_exporter(fake_dataset, tmp_path):
    result = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "folders",
                                       "-o", str(tmp_path / "f"), "--crops", "--by", "class"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["categories"]) == {"bracket", "washer"}


def test_bad_split_is_a_usage_error(fake_dataset, tmp_path):
    result = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "yolo", "-o",
                                       str(tmp_path / "y"), "--split", "0.8,0.3"])
    assert result.exit_code == 2
    assert "--split" in result.output and "sum to 1" in result.output


def test_not_a_dataset_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path), "--format", "yolo", "-o",
                                       str(tmp_path / "y")])
    assert result.exit_code == 2  # bad input (docs/safety.md)
    assert "not a synthgap dataset directory" in result.output
    assert "Traceback" not in result.output


def test_class_folders_without_crops_is_a_usage_error(fake_dataset, tmp_path):
    result = CliRunner().invoke(main, ["export", str(fake_dataset), "--format", "folders",
                                       "-o", str(tmp_path / "f"), "--by", "class"])
    assert result.exit_code == 2 and "--crops" in result.output


def test_export_reports_progress_per_image(fake_dataset, tmp_path):
    from synthgap.export import export_dataset

    for fmt in ("coco", "yolo", "folders", "webdataset"):
        seen = []
        export_dataset(fake_dataset, tmp_path / fmt, format=fmt, progress=seen.append)
        assert sum(seen) == 6, fmt
