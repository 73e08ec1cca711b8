"""Paired bootstrap of one run's rows against another's: `real_lmo.py --save-rows` files of two
runs on the same test photos (e.g. two `--scene`s), difference A − B per row.

    python benchmarks/lmo_paired_rows.py A.npz B.npz [--rows raw,raw+real]
    python benchmarks/lmo_paired_rows.py A.seg.npz B.seg.npz --seg [--rows raw,raw+real]

Prints one JSON object: per row the difference of accuracy, its 95 % interval (photos resampled
together, seeds independently per run; `synthgap.evaluate.stats.paired_bootstrap`, 2,000
draws), photos and crops. `--seg`: the segmentation rows (`--save-rows`' `.seg.npz`
files), difference of mIoU with photos resampled together
(`synthgap.evaluate.stats.paired_miou_bootstrap`; one U-Net per row, so the interval holds the
photo sample only).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from synthgap.evaluate.stats import mean_iou, paired_bootstrap, paired_miou_bootstrap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--rows", default="raw,raw+real")
    ap.add_argument("--seg", action="store_true", help="segmentation rows (.seg.npz files)")
    args = ap.parse_args()
    a, b = np.load(args.a), np.load(args.b)
    if not np.array_equal(a["photo_ids"], b["photo_ids"]):
        raise SystemExit(f"{args.a}, {args.b}: photo_ids differ (not the same photos)")
    if args.seg:
        print(json.dumps(seg_rows(a, b, args.rows.split(","))))
        return
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


def seg_rows(a: np.lib.npyio.NpzFile, b: np.lib.npyio.NpzFile, rows: list[str]) -> dict:
    """mIoU difference A − B per segmentation row over the photos both runs scored."""
    out = {}
    for row in rows:
        if f"{row}/conf" not in a or f"{row}/conf" not in b:
            raise SystemExit(f"{row}: no segmentation row of that name in both files")
        ca, cb = a[f"{row}/conf"], b[f"{row}/conf"]
        scored_a, scored_b = ca.sum((1, 2)) > 0, cb.sum((1, 2)) > 0
        if not np.array_equal(scored_a, scored_b):
            raise SystemExit(f"{row}: the runs scored different photos")
        d = paired_miou_bootstrap(ca[scored_a], cb[scored_a], rng=np.random.default_rng(0),
                                  n_boot=2000)
        out[row] = {"miou_a": round(mean_iou(ca[scored_a].sum(0)), 4),
                    "miou_b": round(mean_iou(cb[scored_a].sum(0)), 4), "diff": round(d.diff, 4),
                    "ci95": [round(d.lo, 4), round(d.hi, 4)], "significant": d.significant,
                    "photos": int(scored_a.sum())}
    return out


if __name__ == "__main__":
    main()
