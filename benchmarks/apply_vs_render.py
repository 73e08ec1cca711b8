"""Is `adapt apply` with the conv SMCAE the slow stage? Render vs apply, per image, side by side.

Renders N images of the tiny bracket scene of `scale_growth.py` at WxH (`synthgap render`, its
own process), fits a conv SMCAE briefly on them (its default network: the cost of `transform`
does not depend on how long it trained; `strength` fixed at 1 so every image is adapted), then
times `synthgap adapt apply` of it on the renders (its own process), and the bare
`ConvSmcae.transform` per image in this process. Reports wall and CPU (children's user+sys)
ms per image with the start-up cost left out (each command run at N and 2N images: the
marginal cost). Prints a markdown table and one JSON line. Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/apply_vs_render.py [--images 20] [--size 640x480]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_growth import REPO, SCENE, synthgap


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(*args: str) -> tuple[float, float]:
    """`(wall s, CPU s)` of one `python -m synthgap ARGS` run."""
    c0 = _cpu()
    wall, _mb = synthgap(*args)
    return wall, _cpu() - c0


def fit_conv(renders: Path, model: Path) -> float:
    """Fit a conv SMCAE briefly on the renders (against noisier copies); ms per transform."""
    import torch

    from synthgap.adapt.conv_smcae import ConvSmcae, ConvSmcaeConfig
    from synthgap.data import read_image

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    syn = [read_image(p) for p in sorted((renders / "images").glob("*.png"))[:8]]
    real = [np.clip(s.astype(int) + rng.integers(-20, 20, s.shape), 0, 255).astype(np.uint8)
            for s in syn]
    ad = ConvSmcae(ConvSmcaeConfig(iterations=20, n_pairs=64, batch_size=16, strength=1.0))
    ad.fit(syn, real, rng=rng)
    ad.save(model)
    ad.transform(syn[0])
    t0 = time.process_time()
    for s in syn:
        ad.transform(s)
    return 1000 * (time.process_time() - t0) / len(syn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--size", default="640x480")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    n = args.images
    work = Path(tempfile.mkdtemp(prefix="synthgap-apply-"))
    load0 = os.getloadavg()[0]
    rows: dict[str, dict[int, tuple[float, float]]] = {"render": {}, "adapt apply (conv SMCAE)": {}}
    try:
        shutil.copy(REPO / "examples" / "parts" / "bracket.stl", work / "bracket.stl")
        scene = work / "scene.yaml"
        text = SCENE % (work / "bracket.stl")
        text = text.replace("{width: 32, height: 24}", f"{{width: {w}, height: {h}}}").replace(
            "{fx: 40, fy: 40, cx: 16, cy: 12}", f"{{fx: {1.25 * w}, fy: {1.25 * w}, "
            f"cx: {w / 2}, cy: {h / 2}}}")
        scene.write_text(text)
        for k in (n, 2 * n):
            rows["render"][k] = timed("render", str(scene), "-n", str(k), "-o",
                                      str(work / f"r{k}"))
        transform_ms = fit_conv(work / f"r{n}", work / "conv.safetensors")
        for k in (n, 2 * n):
            rows["adapt apply (conv SMCAE)"][k] = timed(
                "adapt", "apply", "--no-progress", str(work / "conv.safetensors"),
                str(work / f"r{k}"), str(work / f"a{k}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()[0]
    print(f"bracket scene {w}x{h}, {n} and {2 * n} images per command (own process); "
          f"{os.cpu_count()} CPUs, load average {load0:.1f} -> {load1:.1f}")
    print()
    print("| stage | marginal wall ms/image | marginal CPU ms/image |")
    print("|---|---:|---:|")
    out = {}
    for what, r in rows.items():
        wall = 1000 * (r[2 * n][0] - r[n][0]) / n
        cpu = 1000 * (r[2 * n][1] - r[n][1]) / n
        out[what] = {"wall_ms": round(wall, 1), "cpu_ms": round(cpu, 1)}
        print(f"| {what} | {wall:.1f} | {cpu:.1f} |")
    print(f"| `ConvSmcae.transform` alone (1 thread) | | {transform_ms:.1f} |")
    print(json.dumps({"benchmark": "apply_vs_render", "size": [w, h], "images": n,
                      "load": [load0, load1], "transform_cpu_ms": round(transform_ms, 1),
                      "stages": out}))


if __name__ == "__main__":
    main()
