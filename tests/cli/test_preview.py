import json

from click.testing import CliRunner

from synthgap.cli import main
from synthgap.data import read_image
from tests.conftest import write_adapted_copy, write_fake_dataset


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


def test_cli_preview_compare_real_shows_a_different_photo_on_every_row(fake_dataset, tmp_path):
    """4 rows, 4 photos: each photo once (picked without replacement), for several seeds."""
    import numpy as np

    from synthgap.data import write_image_atomic

    adapted = write_adapted_copy(fake_dataset, tmp_path / "adapted")
    photos = tmp_path / "photos"
    photos.mkdir()
    greys = (40, 90, 140, 190)
    for g in greys:
        write_image_atomic(photos / f"p{g}.png", np.full((48, 64, 3), g, np.uint8))
    for seed in range(3):
        out = tmp_path / f"c{seed}.png"
        r = CliRunner().invoke(main, ["preview", str(fake_dataset), "-o", str(out), "--compare",
                                      str(adapted), "--real", str(photos), "--n", "4",
                                      "--tile-width", "64", "--seed", str(seed)])
        assert r.exit_code == 0, r.output
        sheet = read_image(out)
        # rows: a 24 px title, then 18 px header + 48 px tile + 4 px gap each; third column
        shown = [int(sheet[24 + 4 + k * 70 + 18 + 10, 2 * 68 + 4 + 10, 0]) for k in range(4)]
        assert sorted(shown) == list(greys)
