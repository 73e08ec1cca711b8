"""Large datasets made cheaply for the streaming tests: many records, few image files."""

import json
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from tests.conftest import write_fake_dataset

#: Bytes of sampled parameters per record, about what a real render's record carries.
_PARAMS_BYTES = 16_000


def write_big_dataset(root: Path, n: int, *, shuffle: bool = True) -> Path:
    """A dataset of `n` records made from 6 fake images: record k reuses the files of image
    k % 6 and carries ~16 KB of parameters; lines in a shuffled order (as parallel workers
    may append them) unless `shuffle` is False."""
    write_fake_dataset(root, n=6)
    base = [json.loads(line) for line in (root / "records.jsonl").read_text().splitlines()]
    lines = []
    for k in range(n):
        rec = dict(base[k % 6], index=k)
        rec["params"] = {"k": k, "blob": "p" * _PARAMS_BYTES}
        lines.append(json.dumps(rec, separators=(",", ":")) + "\n")
    if shuffle:
        random.Random(0).shuffle(lines)
    (root / "records.jsonl").write_text("".join(lines))
    return root


def growth_mb(run: Callable[[Path, Path], object], small: Path, large: Path, out: Path
              ) -> float:
    """Peak traced memory of `run(large, out)` minus that of `run(small, out)`, MB (after one
    unmeasured run, so one-time imports and caches count in neither)."""
    run(small, out / "warm-up")
    peaks = []
    for src in (small, large):
        tracemalloc.start()
        try:
            run(src, out / src.name)
            peaks.append(tracemalloc.get_traced_memory()[1] / 1e6)
        finally:
            tracemalloc.stop()
    return peaks[1] - peaks[0]


def tamper_middle(root: Path) -> int:
    """Make the middle line of `root/records.jsonl` invalid (width not a number); returns its
    line number."""
    lines = (root / "records.jsonl").read_text().splitlines(keepends=True)
    k = len(lines) // 2
    lines[k] = lines[k].replace('"width":', '"width":"wide","w":', 1)
    (root / "records.jsonl").write_text("".join(lines))
    return k + 1
