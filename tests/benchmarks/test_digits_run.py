"""`benchmarks/digits.py` end to end on tiny settings: the JSON line it ends with has every
row, and each row's numbers are what the seeds say (mean and ddof-1 std of the per-seed
accuracies, accuracies in [0, 1], the mixing counts from the grid)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = {"real only", "+ raw synth", "+ CORAL synth", "+ SMCAE synth", "synth only raw synth",
        "synth only CORAL synth", "synth only SMCAE synth"}


def test_tiny_digits_run_writes_a_sane_json_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "digits.py"), "--shots", "3", "--seeds", "2",
         "--n-syn", "20", "--fit-per-class", "5", "--iterations", "5", "--hidden", "16,8,16",
         "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(summary) == {"K=3", "seconds"} and summary["seconds"] > 0
    for classifier in ("logreg", "1-NN"):
        rows = summary["K=3"][classifier]
        assert set(rows) == ROWS
        for name, row in rows.items():
            seeds = np.array(row["seeds"])
            assert len(seeds) == 2 and np.all((seeds >= 0) & (seeds <= 1))
            assert row["mean"] == pytest.approx(seeds.mean())
            assert row["std"] == pytest.approx(seeds.std(ddof=1))
            chosen = row["chosen_per_class"]
            if name == "real only":
                assert chosen == [0, 0]
            elif name.startswith("synth only"):
                assert chosen == [-1, -1]
            else:  # the mixing grid for --n-syn 20 is [0, 20]
                assert set(chosen) <= {0, 20}
        # 10 classes: chance is 0.1; real digits alone at K = 3 do far better
        assert rows["real only"]["mean"] > 0.5
