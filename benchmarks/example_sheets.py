"""Pictures and render speed of the example scenes (docs/examples.md).

For each example scene `examples/NAME.yaml` this renders `--images` images with
`synthgap render` (a separate process, exactly the documented command, so the speed is the
end-to-end speed a user sees), then writes `OUT/NAME.jpg`: the first `--show` renders as they
are (top row) and the same renders with their labels drawn over them (bottom row: instance
masks, boxes and classes in class colours, defects in red; `synthgap.export.preview.annotate`).
The JPEG quality is lowered step by step until the file is under `--max-kb`.

It prints one Markdown table row per example: images/s as the command reports it (rendering
and writing, after the scene and meshes are loaded), images/s over the whole process (with
the Python start and the mesh loading), the renderer's seconds per image from the command's
own timings, and the machine's 1-minute load average before and after.

    PYOPENGL_PLATFORM=egl python benchmarks/example_sheets.py
    PYOPENGL_PLATFORM=egl python benchmarks/example_sheets.py --examples conveyor --images 4
    PYOPENGL_PLATFORM=egl python benchmarks/example_sheets.py --data ../shared/data/lmo --work w

`examples/lmo_like.yaml` reads the LM-O data set (`--data`, default ../shared/data/lmo); an
example whose data is missing is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: The examples docs/examples.md shows, in its order.
EXAMPLES = ("instruments_table", "bracket_ring_light", "conveyor", "lmo_like")
#: How examples/lmo_like.yaml names the data folder (relative to examples/).
LMO_IN_SCENE = "../../shared/data/lmo"
_BG = (24, 24, 28)


def scene_for(name: str, data: Path, work: Path) -> Path | None:
    """The scene file to render: the example itself, or a copy pointing at `data`.

    Returns None (after saying why on stderr) when the example needs data that is missing.
    """
    path = REPO / "examples" / f"{name}.yaml"
    if not path.is_file():
        sys.exit(f"example_sheets: {path} does not exist (examples: {', '.join(EXAMPLES)})")
    text = path.read_text(encoding="utf-8")
    if LMO_IN_SCENE not in text:
        return path
    if not (data / "models").is_dir():
        print(f"example_sheets: skipping {name}: no LM-O data at {data} (pass --data)",
              file=sys.stderr)
        return None
    copy = work / f"{name}.yaml"
    copy.write_text(text.replace(LMO_IN_SCENE, str(data.resolve())), encoding="utf-8")
    return copy


def load_average() -> float:
    """The 1-minute load average (0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def render(scene: Path, out: Path, *, images: int, seed: int) -> dict:
    """Run `synthgap render` in its own process; its JSON summary plus wall seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "synthgap", "render", str(scene), "-n", str(images),
           "-o", str(out), "--seed", str(seed), "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"example_sheets: `{' '.join(cmd)}` failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["wall"] = wall
    return summary


def _strip(width: int, text: str) -> np.ndarray:
    import cv2

    strip = np.full((18, width, 3), _BG, np.uint8)
    cv2.putText(strip, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1,
                cv2.LINE_AA)
    return strip


def sheet(dataset: Path, *, show: int, tile_width: int, title: str) -> np.ndarray:
    """`(H, W, 3) uint8` RGB: `show` renders on top, the same with labels below, a title bar."""
    import cv2

    from synthgap.export.base import DEFECT_PREFIX
    from synthgap.export.preview import annotate, class_colors, load_samples

    samples = load_samples(dataset)
    chosen = [samples[i] for i in range(min(show, len(samples)))]
    names = sorted({n for s in chosen for n in s.names})
    parts = [n for n in names if not n.startswith(DEFECT_PREFIX)]
    colors = class_colors(parts + [n for n in names if n.startswith(DEFECT_PREFIX)])
    top, bottom = [], []
    for s in chosen:
        h, w = s.image.shape[:2]
        size = (tile_width, round(h * tile_width / w))
        clean = cv2.resize(s.image, size, interpolation=cv2.INTER_AREA)
        top.append(np.concatenate([_strip(tile_width, f"#{s.index}"), clean]))
        bottom.append(annotate(s, colors, width=tile_width))
    pad = 4
    th = max(t.shape[0] for t in top + bottom)
    grid = np.full((2 * (th + pad) + pad, len(top) * (tile_width + pad) + pad, 3), _BG, np.uint8)
    for r, row in enumerate((top, bottom)):
        for c, tile in enumerate(row):
            y, x = pad + r * (th + pad), pad + c * (tile_width + pad)
            grid[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    bar = _strip(grid.shape[1], title + "   labels: " + ", ".join(parts))
    for k, name in enumerate(parts):  # colour keys at the right end of the title bar
        x = grid.shape[1] - 14 * (len(parts) - k) - 4
        cv2.rectangle(bar, (x, 4), (x + 10, 14), colors[name], -1)
    return np.concatenate([bar, grid])


def write_jpeg(path: Path, rgb: np.ndarray, *, max_kb: int) -> int:
    """Write `rgb` as the best-quality JPEG under `max_kb` kilobytes; the quality used."""
    import cv2

    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for quality in range(92, 40, -4):
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality,
                                             cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        if ok and len(buf) <= max_kb * 1024:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return quality


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", nargs="+", default=list(EXAMPLES), metavar="NAME",
                    help=f"example scenes (examples/NAME.yaml); default: {' '.join(EXAMPLES)}")
    ap.add_argument("--images", type=int, default=16, help="images rendered per example")
    ap.add_argument("--show", type=int, default=4, help="renders on the picture (the first ones)")
    ap.add_argument("--seed", type=int, default=1, help="render seed")
    ap.add_argument("--tile-width", type=int, default=320, help="width of a tile, pixels")
    ap.add_argument("--max-kb", type=int, default=150, help="largest JPEG, kilobytes")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo",
                    help="LM-O data set folder for lmo_like (default ../shared/data/lmo)")
    ap.add_argument("-o", "--out", type=Path, default=REPO / "docs" / "examples",
                    help="folder of the pictures (default docs/examples)")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep the rendered datasets here (default: a temporary folder)")
    args = ap.parse_args()
    if args.images < 1 or not 1 <= args.show <= args.images:
        sys.exit("example_sheets: need --images >= 1 and 1 <= --show <= --images")

    with tempfile.TemporaryDirectory(prefix="example_sheets_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print("| example | images | images/s | images/s with start | render s/image "
              "| load before -> after | picture |")
        print("|---|---:|---:|---:|---:|---|---|")
        for name in args.examples:
            scene = scene_for(name, args.data, work)
            if scene is None:
                continue
            load0 = load_average()
            summary = render(scene, work / name, images=args.images, seed=args.seed)
            load1 = load_average()
            title = f"examples/{name}.yaml, seed {args.seed}"
            picture = sheet(work / name, show=args.show, tile_width=args.tile_width,
                            title=title)
            path = args.out / f"{name}.jpg"
            quality = write_jpeg(path, picture, max_kb=args.max_kb)
            per_image = summary["timings"]["render"] / max(1, summary["rendered"])
            print(f"| {name} | {summary['rendered']} | {summary['images_per_s']:.2f} "
                  f"| {summary['rendered'] / summary['wall']:.2f} "
                  f"| {per_image:.3f} | {load0:.1f} -> {load1:.1f} | {path.name} "
                  f"({path.stat().st_size // 1024} KB, q{quality}) |", flush=True)


if __name__ == "__main__":
    main()
