"""Does the gap metric rank visibly ruined training sets far, and does it admit what it cannot tell?

Builds a few training sets from the LM-O **fit** photos only (never the `test` split): the 20
fit views are rendered at their true poses over a flat grey background (parts in their meshes'
colours, one light), at 320×240. The even-position 10 renders and photos ("A") make the sets;
the odd-position 10 photos ("B") are the real photos every set is measured against:

* `raw` — the A renders;
* `fda`, `histogram`, `pda` — the A renders adapted by each method fitted on (A renders,
  A photos) with its defaults (FDA's default output is visibly blotchy: the issue-17 case);
* `fda-noise` — FDA at its largest band (beta 0.25): flat areas become fine colour noise;
* `blotched` — the A renders plus smooth coloured blotches (a deliberately ruined set);
* `real-A` — the A photos themselves (the floor: other photos of the same camera).

Each set is measured by `synthgap.gap.measure_gap` against all 10 B photos and against the
first 2 (the few-photos case). Prints a table and one JSON line last. About 30 s on one core.

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/gap_validity.py [--data ../shared/data/lmo] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "1")

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZE = (320, 240)


def fit_renders(data: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Renders (flat grey background) and photos of the LM-O `fit` views, at `SIZE`."""
    from synthgap.adapt.fitting import scene_fit_data
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    ids = json.loads((data / "splits.json").read_text())["fit"]
    bop = read_bop_scene(data / "test" / "000002", image_ids=ids)
    extra = {"background": {"ambient": [0.25, 0.25, 0.25]},
             "lights": [{"type": "directional", "intensity": 3.0, "elevation": 70.0,
                         "azimuth": 30.0}]}
    fit = scene_fit_data(bop_scene_to_scene(bop, extra=extra), seed=0)

    def small(images: list[np.ndarray]) -> list[np.ndarray]:
        return [cv2.resize(i, SIZE, interpolation=cv2.INTER_AREA) for i in images]

    return small(fit.synthetic), small(fit.real)


def blotch(images: list[np.ndarray], *, rng: np.random.Generator,
           amplitude: float = 60.0) -> list[np.ndarray]:
    """Add smooth coloured blotches (a 6×8 grid of normal noise, bicubic-upsampled) to images."""
    out = []
    for img in images:
        h, w = img.shape[:2]
        noise = cv2.resize(rng.normal(size=(6, 8, 3)), (w, h), interpolation=cv2.INTER_CUBIC)
        out.append(np.clip(img.astype(np.float64) + amplitude * noise, 0, 255).astype(np.uint8))
    return out


def build_sets(renders: list[np.ndarray], photos: list[np.ndarray]
               ) -> dict[str, list[np.ndarray]]:
    """The sets of the module docstring, from the A halves."""
    from synthgap.adapt.image_base import make_image_adapter

    sets = {"raw": renders}
    for name, method, options in (("fda", "fda", {}), ("histogram", "histogram", {}),
                                  ("pda", "pda", {}), ("fda-noise", "fda", {"beta": 0.25})):
        adapter = make_image_adapter(method, options=options)
        adapter.fit(renders, photos, rng=np.random.default_rng(0))
        sets[name] = [adapter.transform(x) for x in renders]
    sets["blotched"] = blotch(renders, rng=np.random.default_rng(1))
    sets["real-A"] = photos
    return sets


def measure(sets: dict[str, list[np.ndarray]], real: list[np.ndarray]) -> dict[str, Any]:
    from synthgap.gap.metric import GapConfig, measure_gap

    cfg = GapConfig(mmd_permutations=0)
    out = {}
    for name, images in sets.items():
        r = measure_gap(images, real, rng=np.random.default_rng(0), config=cfg)
        out[name] = {k: v for k, v in r.summary().items() if k != "config"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--json", action="store_true", help="Also print one JSON line last.")
    args = ap.parse_args()
    t0 = time.perf_counter()
    renders, photos = fit_renders(args.data)
    sets = build_sets(renders[0::2], photos[0::2])
    real_b = photos[1::2]
    results = {"10 photos": measure(sets, real_b), "2 photos": measure(sets, real_b[:2])}
    for label, rows in results.items():
        print(f"\nvs {label} (B):")
        print(f"{'set':10s} {'dom.acc':>7s} {'acc 95% CI':>12s} {'AUC':>6s} {'AUC 95% CI':>12s} "
              f"{'struct':>6s} {'struct 95% CI':>14s} {'worst aspect':15s} verdict")
        for name, r in rows.items():
            a, u, s = r["domain_accuracy_ci95"], r["domain_auc_ci95"], r["structure_distance_ci95"]
            print(f"{name:10s} {r['domain_accuracy']:7.3f} {a[0]:5.2f}-{a[1]:<5.2f} "
                  f"{r['domain_auc']:6.3f} {u[0]:5.2f}-{u[1]:<5.2f} {r['structure_distance']:6.1f} "
                  f"{s[0]:6.1f}-{s[1]:<6.1f} {r['structure_worst']:15s} {r['verdict']}")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
