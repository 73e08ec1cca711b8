"""Paired bootstrap of one run's rows against another's: `real_lmo.py --save-rows` files of two
runs on the same test photos (e.g. two `--scene`s), difference A − B per row.

    python benchmarks/lmo_paired_rows.py A.npz B.npz [--rows raw,raw+real]

Prints one JSON object: per row the difference of accuracy, its 95 % interval (photos resampled
together, seeds independently per run; `synthgap.evaluate.stats.paired_bootstrap`, 2,000
draws), photos and crops.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from synthgap.evaluate.stats import paired_bootstrap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--rows", default="raw,raw+real")
    args = ap.parse_args()
    a, b = np.load(args.a), np.load(args.b)
    if not np.array_equal(a["photo_ids"], b["photo_ids"]):
        raise SystemExit(f"{args.a}, {args.b}: photo_ids differ (not the same photos)")
    out = {}
    for row in args.rows.split(","):
        ta, tb = a[f"{row}/total"], b[f"{row}/total"]
        if not np.array_equal(ta, tb):
            raise SystemExit(f"{row}: the runs tested different crops")
        keep = ta > 0
        d = paired_bootstrap(a[f"{row}/correct"][:, keep], b[f"{row}/correct"][:, keep],
                             ta[keep], rng=np.random.default_rng(0), n_boot=2000)
        out[row] = {"diff": round(d.diff, 4), "ci95": [round(d.lo, 4), round(d.hi, 4)],
                    "significant": d.significant, "photos": int(keep.sum()),
                    "crops": int(ta[keep].sum())}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
