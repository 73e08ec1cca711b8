"""How cost grows with dataset size: render, resume pass, `adapt apply` and `export`.

For each size N (default 1,000 and 10,000 images of a tiny scene, 32x24, one part): runs each
command as its own process (`python -m synthgap ...`, as a user would) and measures its wall
time and peak memory (the child's `ru_maxrss`):

* `render -n N` into a new folder;
* the resume pass: the same command again (nothing to render: claiming the folder, reading
  `records.jsonl`, cleaning temporaries, sorting, closing);
* `adapt apply` of a `histogram` adapter (fitted once, on 20 renders against 20 other renders)
  into a new folder, unless `--skip-adapt`;
* `export --format F` for each format of `--formats` (default: all six), unless
  `--skip-export`.

With `--compare DIR` (another checkout, e.g. `main`'s), `adapt apply` and each export also run
with DIR's package on the same rendered data, right after this checkout's (so both see the
same machine load): a before/after comparison. `--repeats R` runs each of those R times
(alternating the two checkouts) and reports the mean and the range.

Cost per image should stay flat as N grows: the table shows ms per image of each command and
the marginal ms per image between consecutive sizes (start-up cancels out), and peak memory
(the child's peak RSS). Prints a markdown table and one JSON line. Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/scale_growth.py [--counts 1000,10000]
        [--formats coco,yolo] [--compare ../main] [--repeats 2]
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
            "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
            "    print('PEAK_RSS_KIB', r.ru_maxrss, r.ru_utime + r.ru_stime, file=sys.stderr)\n")


#: CPU seconds (user + system) of the last `synthgap` run: less disturbed by other jobs than
#: wall time on a shared machine.
LAST_CPU = [0.0]
FORMATS = ("coco", "yolo", "yolo-seg", "folders", "webdataset", "bop")


def synthgap(*args: str, repo: Path = REPO) -> tuple[float, float]:
    """Run `python -m synthgap ARGS` with the package of checkout `repo`; `(wall seconds, peak
    RSS MB)` (its CPU seconds, user + system, in `LAST_CPU[0]`). Raises on failure."""
    env = {**os.environ, "PYTHONPATH": str(repo), "PYOPENGL_PLATFORM":
           os.environ.get("PYOPENGL_PLATFORM", "egl"), "NO_ALBUMENTATIONS_UPDATE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], cwd=repo, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"synthgap {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-2000:]}")
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")]
    LAST_CPU[0] = float(peak[-1].split()[2])
    return seconds, int(peak[-1].split()[1]) / 1024


Row = list[tuple[float, float, float]]  # one (seconds, peak RSS MB, CPU seconds) per repeat


def run(*args: str, repo: Path = REPO) -> tuple[float, float, float]:
    """`synthgap(...)` plus its CPU seconds."""
    seconds, mb = synthgap(*args, repo=repo)
    return seconds, mb, LAST_CPU[0]


def measure(n: int, scene: Path, work: Path, model: Path | None, formats: list[str],
            repos: dict[str, Path], repeats: int) -> dict[str, Row]:
    """Every command at size `n`; key `command` or `command [checkout]` -> its repeats."""
    out = work / f"render-{n}"
    rows: dict[str, Row] = {
        "render": [run("render", str(scene), "-n", str(n), "-o", str(out))],
        "resume pass": [run("render", str(scene), "-n", str(n), "-o", str(out))]}
    commands: dict[str, tuple[list[str], Path]] = {}
    if model is not None:
        commands["adapt apply"] = (["adapt", "apply", "--no-progress", str(model), str(out)],
                                   work / f"adapted-{n}")
    for fmt in formats:
        commands[f"export {fmt}"] = (["export", str(out), "--format", fmt, "-o"],
                                     work / f"{fmt}-{n}")
    for what, (args, dst) in commands.items():
        for _ in range(repeats):
            for tag, repo in repos.items():
                key = what if len(repos) == 1 else f"{what} [{tag}]"
                rows.setdefault(key, []).append(run(*args, str(dst), repo=repo))
                shutil.rmtree(dst)
    shutil.rmtree(out)
    return rows


def fit_model(scene: Path, work: Path) -> Path:
    """A histogram adapter fitted on 20 renders against 20 renders of another seed."""
    a, b = work / "fit-a", work / "fit-b"
    synthgap("render", str(scene), "-n", "20", "-o", str(a))
    synthgap("render", str(scene), "-n", "20", "-o", str(b), "--seed", "9")
    model = work / "hist.safetensors"  # its CPU time is not reported
    synthgap("adapt", "fit", "--synthetic", str(a), "--real", str(b / "images"), "--method",
             "histogram", "-o", str(model))
    return model


def _stats(row: Row) -> tuple[float, float, float, float, float]:
    """Mean seconds, seconds range (max - min), mean and max peak RSS MB, mean CPU seconds."""
    secs = [r[0] for r in row]
    mbs = [r[1] for r in row]
    cpu = [r[2] for r in row]
    return (sum(secs) / len(secs), max(secs) - min(secs), sum(mbs) / len(mbs), max(mbs),
            sum(cpu) / len(cpu))


def table(results: dict[int, dict[str, Row]], counts: list[int]) -> list[str]:
    lines = ["| command | images | seconds | ms/image | marginal ms/image | CPU ms/image | "
             "marginal CPU ms/image | peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for what in results[counts[0]]:
        prev = None
        for n in counts:
            row = results[n][what]
            s, spread, mb, mb_max, cpu = _stats(row)
            secs = f"{s:.1f}" + (f" ± {spread / 2:.1f}" if len(row) > 1 else "")
            mbs = f"{mb:.0f}" + (f" (max {mb_max:.0f})" if len(row) > 1 else "")
            marginal = cpu_marginal = ""
            if prev is not None:
                marginal = f"{1000 * (s - prev[1]) / (n - prev[0]):.2f}"
                cpu_marginal = f"{1000 * (cpu - prev[2]) / (n - prev[0]):.2f}"
            lines.append(f"| {what} | {n} | {secs} | {1000 * s / n:.2f} | {marginal} | "
                         f"{1000 * cpu / n:.2f} | {cpu_marginal} | {mbs} |")
            prev = (n, s, cpu)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,10000", help="comma-separated dataset sizes")
    ap.add_argument("--formats", default=",".join(FORMATS), help="export formats to time")
    ap.add_argument("--compare", type=Path, default=None,
                    help="another checkout whose package also runs apply and export (before)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each apply/export")
    ap.add_argument("--skip-adapt", action="store_true")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    formats = [] if args.skip_export else [f for f in args.formats.split(",") if f]
    repos = {"this": REPO}
    if args.compare is not None:
        repos = {"before": args.compare.resolve(), "after": REPO}
    work = args.keep or Path(tempfile.mkdtemp(prefix="synthgap-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    results: dict[int, dict[str, Row]] = {}
    try:
        shutil.copy(REPO / "examples" / "parts" / "bracket.stl", work / "bracket.stl")
        scene = work / "scene.yaml"
        scene.write_text(SCENE % (work / "bracket.stl"))
        model = None if args.skip_adapt else fit_model(scene, work)
        for n in counts:
            results[n] = measure(n, scene, work, model, formats, repos, args.repeats)
            print(f"# {n} images done, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    load1, total = os.getloadavg()[0], time.perf_counter() - t0
    where = ", ".join(f"{k} = {v}" for k, v in repos.items())
    print(f"tiny scene (32x24, one part), each command its own process ({where}); "
          f"{args.repeats} run(s) of each apply/export (mean ± half range); {os.cpu_count()} "
          f"CPUs, load average {load0:.1f} -> {load1:.1f}; whole benchmark {total / 60:.1f} min")
    print()
    print("\n".join(table(results, counts)))
    print(json.dumps({"benchmark": "scale_growth", "load": [load0, load1],
                      "minutes": round(total / 60, 1), "repos": {k: str(v)
                                                                for k, v in repos.items()},
                      "results": {str(n): {k: [{"seconds": round(s, 2), "cpu_seconds":
                                                round(c, 2), "peak_rss_mb": round(mb, 1)}
                                               for s, mb, c in v]
                                           for k, v in r.items()}
                                  for n, r in results.items()}}))


if __name__ == "__main__":
    main()
