"""Stand-in stage functions for pipeline tests: they write real dataset directories (with the
fake-dataset writer and an inverting "adapter") so the orchestration, resuming, exports and
report are tested without rendering or training."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from synthgap.data import DatasetLayout, append_record, read_image, read_records, write_image_atomic
from synthgap.pipeline import Stages
from tests.conftest import write_fake_dataset


class FakeStages:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def render(self, job, out: Path, *, progress: bool = True) -> dict:
        self.calls["render"] += 1
        done = len(read_records(out)) if (out / "records.jsonl").is_file() else 0
        if done < job.images:
            tmp = out.parent / ".fake_render"
            shutil.rmtree(tmp, ignore_errors=True)
            write_fake_dataset(tmp, n=job.images, seed=job.seed)
            if not out.exists():
                shutil.copytree(tmp, out)
            else:  # resume: add the missing images only
                for r in read_records(tmp)[done:]:
                    for rel in r.files.values():
                        shutil.copy(tmp / rel, out / rel)
                    append_record(out, r)
        return {"count": job.images, "rendered": job.images - done}

    def fit(self, job, renders: Path, model: Path) -> dict:
        self.calls["fit"] += 1
        from synthgap.adapt.modelfile import load_model, save_model

        model.parent.mkdir(parents=True, exist_ok=True)
        # a real model file (safetensors + sidecar) whose config is the job's adapt settings
        save_model(model, {"invert": np.full(3, 255, np.uint8)},
                   {"kind": "invert", **json.loads(json.dumps(job.adapt.model_dump()))})
        assert load_model(model, kind="invert")[1]["method"] == job.adapt.method
        return {"method": job.adapt.method}

    def apply(self, job, model: Path, renders: Path, adapted: Path, *, progress=True) -> dict:
        self.calls["apply"] += 1
        layout = DatasetLayout(adapted)
        layout.make_dirs(defects=True)
        (adapted / "adapt.json").write_text(json.dumps({"method": "invert",
                                                        "source": str(renders)}))
        done = {r.index for r in read_records(adapted)} if layout.records.is_file() else set()
        written = 0
        for r in read_records(renders):
            if r.index in done:
                continue
            write_image_atomic(layout.image(r.index),
                               255 - read_image(DatasetLayout(renders).image(r.index)))
            append_record(adapted, r)
            written += 1
        return {"written": written}

    def gap(self, job, sets: dict, figure: Path) -> dict:
        self.calls["gap"] += 1
        figure.write_bytes(b"\x89PNG fake figure")
        return {name: {"domain_accuracy": float(np.mean(read_image(root / "images/000000.png")) / 255),
                       "domain_accuracy_std": 0.01, "mmd2": 0.1, "histogram_distance": 0.2,
                       "spectrum_distance": 0.3} for name, root in sets.items()}

    def stages(self) -> Stages:
        return Stages(render=self.render, fit=self.fit, apply=self.apply, gap=self.gap)


@pytest.fixture
def fake_stages() -> FakeStages:
    return FakeStages()


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        write_image_atomic(folder / f"p{k}.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    return folder
