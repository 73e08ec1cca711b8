import json

from click.testing import CliRunner

from synthgap.cli import main
from synthgap.data import read_image
from tests.conftest import write_fake_dataset


def test_cli_preview_writes_the_png(fake_dataset, tmp_path):
    out = tmp_path / "sheet.png"
    r = CliRunner().invoke(main, ["preview", str(fake_dataset), "-o", str(out), "--n", "4",
                                  "--tile-width", "100"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert read_image(out).shape == (info["height"], info["width"], 3)
    first = out.read_bytes()
    CliRunner().invoke(main, ["preview", str(fake_dataset), "-o", str(out), "--n", "4",
                              "--tile-width", "100"])
    assert out.read_bytes() == first
    r = CliRunner().invoke(main, ["preview", str(fake_dataset), "-o", str(out), "--real", "x"])
    assert r.exit_code == 2 and "--compare" in r.output
    r = CliRunner().invoke(main, ["preview", str(tmp_path / "nope"), "-o", str(out)])
    assert r.exit_code == 2 and "no such directory" in r.output  # bad input (docs/safety.md)


def test_cli_preview_of_a_folders_export(fake_dataset, tmp_path):
    from synthgap.export import ExportOptions, export_dataset

    for name, opts in (("plain", ExportOptions()), ("crops", ExportOptions(crops=True,
                                                                            by="class"))):
        export_dataset(fake_dataset, tmp_path / name, format="folders", options=opts)
        out = tmp_path / f"{name}.png"
        r = CliRunner().invoke(main, ["preview", str(tmp_path / name), "-o", str(out), "--n",
                                      "2", "--tile-width", "80"])
        assert r.exit_code == 0, r.output
        assert read_image(out).ndim == 3



def test_cli_preview_compare_refuses_a_directory_not_adapted_from_dataset(fake_dataset, tmp_path):
    other = write_fake_dataset(tmp_path / "other")  # a dataset, but not adapted from anything
    r = CliRunner().invoke(main, ["preview", str(fake_dataset), "-o", str(tmp_path / "c.png"),
                                  "--compare", str(other)])
    assert r.exit_code == 2 and "no adapt.json, so it is not an adapted dataset" in r.output
    assert "Traceback" not in r.output
