"""How cost grows with dataset size: render, resume pass, `adapt apply` and `export`.

For each size N (default 1,000 and 10,000 images of a tiny scene, 32x24, one part): runs each
command as its own process (`python -m synthgap ...`, as a user would) and measures its wall
time and peak memory (the child's `ru_maxrss`):

* `render -n N` into a new folder;
* the resume pass: the same command again (nothing to render: claiming the folder, reading
  `records.jsonl`, cleaning temporaries, sorting, closing);
* `adapt apply` of a `histogram` adapter (fitted once, on 20 renders against 20 other renders)
  into a new folder, unless `--skip-adapt`;
* `export --format yolo` and `--format coco`, unless `--skip-export`.

Cost per image should stay flat as N grows: the table shows ms per image of each command and
the marginal ms per image between consecutive sizes (start-up cancels out), and peak memory.
Prints a markdown table and one JSON line. Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/scale_growth.py [--counts 1000,10000]
        [--skip-adapt] [--skip-export] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENE = """\
seed: 5
image: {width: 32, height: 24}
camera:
  intrinsics: {fx: 40, fy: 40, cx: 16, cy: 12}
  pose: {look_at: [0, 0, 0.008], distance: [0.3, 0.4], elevation: [40, 80], azimuth: [0, 360]}
parts:
  - {mesh: %s, units: mm, class: bracket, count: 1}
lights:
  - {type: directional, intensity: [1.0, 2.0]}
background: {color: {gray: [0.2, 0.4]}}
sensor: {noise: [0.0, 0.01]}
"""
#: Wraps a `python -m synthgap ...` run and reports its peak RSS (KiB) on the last line.
_WRAPPER = ("import resource, runpy, sys\n"
            "sys.argv = ['synthgap'] + sys.argv[1:]\n"
            "try:\n"
            "    runpy.run_module('synthgap', run_name='__main__')\n"
            "finally:\n"
            "    print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
            " file=sys.stderr)\n")


def synthgap(*args: str) -> tuple[float, float]:
    """Run `python -m synthgap ARGS`; `(wall seconds, peak RSS MB)`. Raises on failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYOPENGL_PLATFORM":
           os.environ.get("PYOPENGL_PLATFORM", "egl"), "NO_ALBUMENTATIONS_UPDATE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"synthgap {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-2000:]}")
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")]
    return seconds, int(peak[-1].split()[1]) / 1024


def measure(n: int, scene: Path, work: Path, model: Path | None, export: bool
            ) -> dict[str, tuple[float, float]]:
    out = work / f"render-{n}"
    rows = {"render": synthgap("render", str(scene), "-n", str(n), "-o", str(out)),
            "resume pass": synthgap("render", str(scene), "-n", str(n), "-o", str(out))}
    if model is not None:
        rows["adapt apply"] = synthgap("adapt", "apply", "--no-progress", str(model), str(out),
                                       str(work / f"adapted-{n}"))
        shutil.rmtree(work / f"adapted-{n}")
    if export:
        for fmt in ("yolo", "coco"):
            rows[f"export {fmt}"] = synthgap("export", str(out), "--format", fmt, "-o",
                                             str(work / f"{fmt}-{n}"))
            shutil.rmtree(work / f"{fmt}-{n}")
    shutil.rmtree(out)
    return rows


def fit_model(scene: Path, work: Path) -> Path:
    """A histogram adapter fitted on 20 renders against 20 renders of another seed."""
    a, b = work / "fit-a", work / "fit-b"
    synthgap("render", str(scene), "-n", "20", "-o", str(a))
    synthgap("render", str(scene), "-n", "20", "-o", str(b), "--seed", "9")
    model = work / "hist.safetensors"
    synthgap("adapt", "fit", "--synthetic", str(a), "--real", str(b / "images"), "--method",
             "histogram", "-o", str(model))
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,10000", help="comma-separated dataset sizes")
    ap.add_argument("--skip-adapt", action="store_true")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    work = args.keep or Path(tempfile.mkdtemp(prefix="synthgap-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    results: dict[int, dict[str, tuple[float, float]]] = {}
    try:
        shutil.copy(REPO / "examples" / "parts" / "bracket.stl", work / "bracket.stl")
        scene = work / "scene.yaml"
        scene.write_text(SCENE % (work / "bracket.stl"))
        model = None if args.skip_adapt else fit_model(scene, work)
        for n in counts:
            results[n] = measure(n, scene, work, model, not args.skip_export)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()[0]
    print(f"tiny scene (32x24, one part), each command its own process; {os.cpu_count()} CPUs, "
          f"load average {load0:.1f} -> {load1:.1f}")
    print()
    print("| command | images | seconds | ms/image | marginal ms/image | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for what in results[counts[0]]:
        prev = None
        for n in counts:
            s, mb = results[n][what]
            marginal = "" if prev is None else f"{1000 * (s - prev[1]) / (n - prev[0]):.2f}"
            print(f"| {what} | {n} | {s:.1f} | {1000 * s / n:.2f} | {marginal} | {mb:.0f} |")
            prev = (n, s)
    print(json.dumps({"benchmark": "scale_growth", "load": [load0, load1],
                      "results": {str(n): {k: {"seconds": round(v[0], 2),
                                               "peak_rss_mb": round(v[1], 1)}
                                           for k, v in r.items()}
                                  for n, r in results.items()}}))


if __name__ == "__main__":
    main()
