"""The built-in demo job: the default scene and the look of a real photo, nothing to download.

The "real photos" are crops of scikit-image's `coins` image (a real grey-scale photograph of
metal coins, shipped inside the scikit-image wheel), written into the demo's output folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgap.pipeline.job import Job, parse_job

#: Demo defaults: small enough for a few minutes on 2 CPU cores.
DEMO_IMAGES = 48
DEMO_SIZE = (320, 240)
#: The adapter that did best on real photos (benchmarks/real_lmo.py, docs/benchmarks.md).
DEMO_METHOD = "pda"
DEMO_PHOTOS = 16


def write_coin_photos(folder: Path, *, n: int = DEMO_PHOTOS, size: tuple[int, int] = (192, 144),
                      seed: int = 0) -> list[Path]:
    """Write `n` crops (`size` = width, height) of scikit-image's `coins` photo as RGB PNGs.

    Crops are placed by `default_rng(seed)`; existing files are left as they are.

    Returns:
        The photo paths, sorted.
    """
    from skimage import data

    from synthgap.data import write_image_atomic

    coins = data.coins()  # (303, 384) uint8, a real photograph
    w, h = size
    if w > coins.shape[1] or h > coins.shape[0]:
        raise ValueError(f"size: crops must fit in the {coins.shape[1]}x{coins.shape[0]} coins "
                         f"photo, got {w}x{h}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        y = int(rng.integers(0, coins.shape[0] - h + 1))
        x = int(rng.integers(0, coins.shape[1] - w + 1))
        path = folder / f"coins_{k:02d}.png"
        if not path.is_file():
            crop = coins[y:y + h, x:x + w]
            write_image_atomic(path, np.repeat(crop[:, :, None], 3, axis=2))
        paths.append(path)
    return paths


def demo_job(out: Path, *, images: int = DEMO_IMAGES, method: str = DEMO_METHOD,
             seed: int = 0) -> Job:
    """The demo job writing into `out` (writes the coin photos into `out/real_photos/`)."""
    out = Path(out).resolve()
    write_coin_photos(out / "real_photos", seed=seed)
    return parse_job({"scene": "default", "images": images, "seed": seed,
                      "size": list(DEMO_SIZE), "real_photos": str(out / "real_photos"),
                      "adapt": {"method": method, "max_images": 32},
                      "export": ["coco", "yolo"], "split": "0.8,0.1,0.1",
                      "preview": {"n": 12, "tile_width": 320}, "output": str(out)},
                     base_dir=out, source="demo")
