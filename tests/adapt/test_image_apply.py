import json

import numpy as np
import pytest

from synthgap.adapt.apply import AdaptedDatasetError, apply_adapter
from synthgap.adapt.histogram import HistogramMatch
from synthgap.adapt.pda import PixelDistributionAdaptation
from synthgap.data import read_image, read_records


def _real(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(60, 200, (40, 40, 3), dtype=np.uint8) for _ in range(n)]


def _fitted(fake_dataset, cls=HistogramMatch):
    renders = [read_image(p) for p in sorted((fake_dataset / "images").glob("*.png"))]
    return cls().fit(renders, _real(), rng=np.random.default_rng(0))


def test_same_records_and_labels_adapted_images(fake_dataset, tmp_path):
    ad = _fitted(fake_dataset)
    out = tmp_path / "adapted"
    s = apply_adapter(ad, fake_dataset, out, progress=False)
    assert (s.total, s.written, s.already_done) == (6, 6, 0)
    assert (out / "records.jsonl").read_text() == (fake_dataset / "records.jsonl").read_text()
    for layer in ("depth", "masks", "defects"):
        for p in sorted((fake_dataset / layer).glob("*.png")):
            assert (out / layer / p.name).read_bytes() == p.read_bytes()
    assert (out / "run.json").read_bytes() == (fake_dataset / "run.json").read_bytes()
    for rec in read_records(out):
        a, b = read_image(fake_dataset / rec.files["image"]), read_image(out / rec.files["image"])
        assert a.shape == b.shape == (rec.height, rec.width, 3)
        np.testing.assert_array_equal(b, ad.transform(a))
    info = json.loads((out / "adapt.json").read_text())
    assert info["method"] == "histogram" and len(info["model_sha256"]) == 64


def test_resumes_and_refuses_another_model(fake_dataset, tmp_path):
    ad = _fitted(fake_dataset)
    model = ad.save(tmp_path / "m.safetensors")
    out = tmp_path / "adapted"
    apply_adapter(ad, fake_dataset, out, model_path=model, progress=False)
    # simulate an interrupted run: drop the last two records and one image
    lines = (out / "records.jsonl").read_text().splitlines(keepends=True)
    (out / "records.jsonl").write_text("".join(lines[:4]) + lines[4][:10])
    (out / "images" / "000005.png").unlink()
    s = apply_adapter(ad, fake_dataset, out, model_path=model, progress=False)
    assert (s.written, s.already_done) == (2, 4)
    assert len(read_records(out)) == 6 and (out / "images" / "000005.png").is_file()
    s = apply_adapter(ad, fake_dataset, out, model_path=model, progress=False)
    assert s.written == 0
    other = _fitted(fake_dataset, PixelDistributionAdaptation)
    with pytest.raises(AdaptedDatasetError, match="already holds images adapted with method"):
        apply_adapter(other, fake_dataset, out, progress=False)


def test_bad_source(tmp_path, fake_dataset):
    ad = _fitted(fake_dataset)
    (tmp_path / "photos").mkdir()
    with pytest.raises(AdaptedDatasetError, match="no records.jsonl"):
        apply_adapter(ad, tmp_path / "photos", tmp_path / "out", progress=False)
    with pytest.raises(AdaptedDatasetError, match="must differ"):
        apply_adapter(ad, fake_dataset, fake_dataset, progress=False)


def test_refuses_stale_output_after_source_rerendered(fake_dataset, tmp_path):
    ad = _fitted(fake_dataset)
    out = tmp_path / "adapted"
    apply_adapter(ad, fake_dataset, out, progress=False)
    run = json.loads((fake_dataset / "run.json").read_text())
    # a resumed render rewrites timings/counts only: still the same source
    (fake_dataset / "run.json").write_text(json.dumps({**run, "count": 99, "seconds": 1.5}))
    assert apply_adapter(ad, fake_dataset, out, progress=False).written == 0
    # re-rendered with another seed (`render --overwrite --seed 2`): stale output is refused
    (fake_dataset / "run.json").write_text(json.dumps({**run, "seed": run["seed"] + 1}))
    with pytest.raises(AdaptedDatasetError, match="earlier render of .*delete the output"):
        apply_adapter(ad, fake_dataset, out, progress=False)


#: a conv SMCAE small enough to fit in a second
SMALL = {"iterations": 4, "n_pairs": 64, "batch_size": 8, "hidden": [4], "kernel": 3,
         "patch_size": 8}


def _fit_data(fake_dataset, tmp_path):
    """Fit data: the fake dataset's renders and 5 random 'photos' written to a folder."""
    from synthgap.adapt.fitting import folder_fit_data
    from synthgap.data.layout import write_image_atomic

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, img in enumerate(_real(5)):
        write_image_atomic(photos / f"p{i}.png", img)
    return folder_fit_data(fake_dataset, photos)


def test_fit_adapter_reports_the_chosen_strength(fake_dataset, tmp_path):
    from synthgap.adapt.fitting import fit_adapter

    data = _fit_data(fake_dataset, tmp_path)
    summary = fit_adapter("conv-smcae", data, tmp_path / "m.safetensors", options=SMALL)
    assert summary.strength in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert set(summary.strength_scores) == {"0", "0.25", "0.5", "0.75", "1"}
    fixed = fit_adapter("histogram+conv-smcae", data, tmp_path / "c.safetensors",
                        options={**SMALL, "strength": 0.25})
    assert fixed.strength == 0.25 and fixed.strength_scores is None
    none = fit_adapter("pda", data, tmp_path / "p.safetensors")
    assert none.strength is None and none.strength_scores is None


def test_an_adapter_that_changes_nothing_is_copied_and_said(fake_dataset, tmp_path):
    from click.testing import CliRunner

    from synthgap.adapt.apply import changes_nothing
    from synthgap.adapt.fitting import fit_adapter
    from synthgap.cli import main

    data = _fit_data(fake_dataset, tmp_path)
    zero = tmp_path / "zero.safetensors"
    fit_adapter("conv-smcae", data, zero, options={**SMALL, "strength": 0.0})
    half = tmp_path / "half.safetensors"
    fit_adapter("conv-smcae", data, half, options={**SMALL, "strength": 0.5})
    chain = tmp_path / "chain.safetensors"
    fit_adapter("histogram+conv-smcae", data, chain, options={**SMALL, "strength": 0.0})
    from synthgap.adapt.image_base import load_image_adapter

    assert changes_nothing(load_image_adapter(zero))
    assert not changes_nothing(load_image_adapter(half))
    assert not changes_nothing(load_image_adapter(chain))  # histogram still changes the look
    assert not changes_nothing(_fitted(fake_dataset))  # no strength at all
    res = CliRunner().invoke(main, ["adapt", "apply", str(zero), str(fake_dataset),
                                    str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "applies strength 0" in res.stderr
    assert json.loads(res.stdout.splitlines()[-1])["unchanged"] is True
    for p in sorted((fake_dataset / "images").glob("*.png")):  # the very files, no re-encode
        assert (tmp_path / "out" / "images" / p.name).read_bytes() == p.read_bytes()
    s = apply_adapter(load_image_adapter(half), fake_dataset, tmp_path / "out_half",
                      progress=False)
    assert s.unchanged is False
