"""The built-in demo job: real parts, real photos, nothing to download.

The material is `synthgap/demo_data/lmo_mini/` (package data; `ATTRIBUTION.md` there): a reduced
Linemod-Occluded scene in BOP layout — 4 objects' decimated meshes with their vertex colours,
30 photos at 320×240 with poses (10 `fit` photos, 20 held-out `test` photos, disjoint), and
background plates (the fit photos with all 8 LM-O objects removed, `synthgap.scenefit.plates`).
`demo_job` renders the 4 parts over the plates, adapts the renders to the 10 fit photos
(copied to `OUT/real_photos/`), exports, previews and measures the gap; `finish_demo` then
runs the demo's own stages (`DEMO_STAGES`): the sheet of renders beside real photos of the
same objects, the gap (with intervals and verdict) to the 20 held-out photos, and
`synthgap.evaluate`'s return table on those held-out photos (renders + n photos against n
photos alone). The held-out photos are read only by the stages that evaluate on them.

`write_coin_photos` (crops of scikit-image's `coins` photo) stays for tests and examples that
need a few real photos without the demo set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthgap.pipeline.job import Job, parse_job

__all__ = ["DEMO_DATA", "DEMO_EVAL", "DEMO_IMAGES", "DEMO_METHOD", "DEMO_STAGES", "demo_job",
           "demo_split", "evaluate_stage", "finish_demo", "heldout_gap_stage", "objects_stage",
           "write_coin_photos", "write_demo_photos"]

#: Demo defaults: small enough for well under 3 minutes on 2 CPU cores.
DEMO_IMAGES = 48
DEMO_SIZE = (320, 240)
#: The adapter that did best on real photos (benchmarks/real_lmo.py, docs/benchmarks.md).
DEMO_METHOD = "pda"
DEMO_PHOTOS = 16
#: The shipped reduced LM-O set (package data).
DEMO_DATA = Path(__file__).resolve().parents[1] / "demo_data" / "lmo_mini"
#: Its BOP scene folder (rgb/, scene_gt.json, scene_camera.json, scene_gt_info.json).
DEMO_SCENE = DEMO_DATA / "000002"


def demo_split(data: Path = DEMO_DATA) -> dict[str, list[int]]:
    """The demo's photo ids: `fit` (adaptation, plates) and `test` (held out), disjoint."""
    split = json.loads((data / "splits.json").read_text(encoding="utf-8"))
    out = {k: [int(i) for i in split[k]] for k in ("fit", "test")}
    if set(out["fit"]) & set(out["test"]):
        raise ValueError(f"{data / 'splits.json'}: fit and test share photos")
    return out


def write_demo_photos(folder: Path, *, data: Path = DEMO_DATA) -> list[Path]:
    """Copy the demo's `fit` photos into `folder` (existing files are left as they are).

    Returns:
        The photo paths, sorted.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in demo_split(data)["fit"]:
        src = data / DEMO_SCENE.name / "rgb" / f"{i:06d}.jpg"
        dst = folder / src.name
        if not dst.is_file():
            tmp = dst.with_name(f".{dst.name}.tmp")
            tmp.write_bytes(src.read_bytes())
            tmp.replace(dst)
        paths.append(dst)
    return sorted(paths)


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
    """The demo job writing into `out` (copies the demo's fit photos into `out/real_photos/`)."""
    out = Path(out).resolve()
    write_demo_photos(out / "real_photos")
    return parse_job({"scene": str(DEMO_DATA / "scene.yaml"), "images": images, "seed": seed,
                      "size": list(DEMO_SIZE), "real_photos": str(out / "real_photos"),
                      "adapt": {"method": method, "max_images": 32},
                      "export": ["coco", "yolo"], "split": "0.8,0.1,0.1",
                      "preview": {"n": 12, "tile_width": 320}, "output": str(out)},
                     base_dir=out, source="demo")


def _square(img: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """A square crop around `box` (x, y, w, h; grown 20 %, clipped), resized to `size`."""
    import cv2

    x, y, w, h = box
    side = max(w, h) * 1.2
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1 = int(min(img.shape[1], cx + side / 2))
    y1 = int(min(img.shape[0], cy + side / 2))
    crop = img[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _real_crops(data: Path, ids: list[int], names: dict[int, str], per_class: int
                ) -> dict[str, list[np.ndarray]]:
    from synthgap.data import read_image

    scene = data / DEMO_SCENE.name
    gts = json.loads((scene / "scene_gt.json").read_text(encoding="utf-8"))
    infos = json.loads((scene / "scene_gt_info.json").read_text(encoding="utf-8"))
    crops: dict[str, list[np.ndarray]] = {n: [] for n in names.values()}
    for i in ids:
        img = read_image(scene / "rgb" / f"{i:06d}.jpg")
        for gt, info in zip(gts[str(i)], infos[str(i)], strict=True):
            name = names[int(gt["obj_id"])]
            x, y, w, h = info["bbox_visib"]
            if info["visib_fract"] >= 0.6 and min(w, h) >= 8 and len(crops[name]) < per_class:
                crops[name].append(_square(img, (x, y, w, h), 96))
    return crops


def _render_crops(dataset: Path, classes: list[str], per_class: int
                  ) -> dict[str, list[np.ndarray]]:
    from synthgap.data import read_records
    from synthgap.export.source import open_dataset

    source = open_dataset(dataset)
    crops: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    for rec in sorted(read_records(dataset), key=lambda r: r.index):
        img = None
        for inst in rec.instances:
            name, (x, y, w, h) = inst.category, inst.bbox
            if (name in crops and len(crops[name]) < per_class and inst.visible_fraction >= 0.6
                    and min(w, h) >= 8):
                img = source.image(rec) if img is None else img
                crops[name].append(_square(img, (x, y, w, h), 96))
        if all(len(v) >= per_class for v in crops.values()):
            break
    return crops


def objects_stage(job: Job, *, data: Path = DEMO_DATA, per_class: int = 4) -> dict[str, Any]:
    """Write `OUT/objects.png`: per object, crops of the adapted renders beside crops of the
    demo's fit photos (visible boxes from `scene_gt_info.json`, ≥ 60 % visible).

    Returns:
        `{"objects": file name, "crops": {class: [renders, photos]}}`.
    """
    from synthgap.export.preview import write_png
    from synthgap.pipeline.paths import JobPaths

    paths = JobPaths(Path(str(job.output)))
    names = {int(k): v for k, v in json.loads(
        (data / "models" / "names.json").read_text(encoding="utf-8")).items()}
    classes = list(names.values())
    dataset = paths.adapted if (paths.adapted / "records.jsonl").is_file() else paths.render
    rendered = _render_crops(dataset, classes, per_class)
    real = _real_crops(data, demo_split(data)["fit"], names, per_class)
    blank = np.full((96, 96, 3), 255, np.uint8)
    rows = []
    for c in classes:
        tiles = [*(rendered[c] + [blank] * per_class)[:per_class], np.full((96, 8, 3), 0, np.uint8),
                 *(real[c] + [blank] * per_class)[:per_class]]
        rows.append(np.concatenate([t if t.shape[1] == 8 else _label(t, c) for t in tiles],
                                   axis=1))
    sheet = np.concatenate(rows, axis=0)
    header = _header(sheet.shape[1], f"left: {dataset.name} renders | right: real photos")
    write_png(paths.root / "objects.png", np.concatenate([header, sheet], axis=0))
    return {"objects": "objects.png",
            "crops": {c: [len(rendered[c]), len(real[c])] for c in classes}}


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = tile.copy()
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def _header(width: int, text: str) -> np.ndarray:
    import cv2

    out = np.full((20, width, 3), 255, np.uint8)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def heldout_gap_stage(job: Job, *, data: Path = DEMO_DATA, max_images: int = 64
                      ) -> dict[str, Any]:
    """The gap of the raw and adapted renders against the demo's 20 held-out photos (never
    fitted on), with intervals and verdict (`synthgap.gap.measure_gap`).

    Returns:
        Set name -> the report's scalar metrics.
    """
    from synthgap.data import read_image, read_records
    from synthgap.export.source import open_dataset
    from synthgap.gap.metric import measure_gap
    from synthgap.pipeline.paths import JobPaths

    paths = JobPaths(Path(str(job.output)))
    real = [read_image(data / DEMO_SCENE.name / "rgb" / f"{i:06d}.jpg")
            for i in demo_split(data)["test"]]
    out = {}
    for name, root in (("raw renders", paths.render), ("adapted", paths.adapted)):
        if not (root / "records.jsonl").is_file():
            continue
        source = open_dataset(root)
        recs = sorted(read_records(root), key=lambda r: r.index)[:max_images]
        rep = measure_gap([source.image(r) for r in recs], real,
                          rng=np.random.default_rng([job.seed or 0, 3]))
        out[name] = {k: v for k, v in rep.summary().items() if k != "config"}
    return out


#: The demo's recognition evaluation: small enough for about a minute on 2 idle cores.
DEMO_EVAL = {"seeds": 2, "steps": 80, "crop": 32, "folds": 4, "curve": (5, 10), "jobs": 2}


def evaluate_stage(job: Job, *, data: Path = DEMO_DATA, settings: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Does synthetic data pay on the demo's held-out photos? `synthgap.evaluate` with the 20
    held-out photos as the labelled real photos (leave-photos-out folds) and the raw and
    adapted renders as the synthetic sets; writes `OUT/evaluate/report.{md,json,png}`.

    Args:
        job: the finished demo job.
        data: the demo set.
        settings: overrides of `DEMO_EVAL` (`seeds`, `steps`, `crop`, `folds`, `curve`, `jobs`).

    Returns:
        `{"report": "evaluate/report.md", "return_table": markdown lines, "rows": ...}`.
    """
    from synthgap.evaluate import EvalConfig, read_real
    from synthgap.evaluate.report import markdown, write_report
    from synthgap.evaluate.run import Evaluator
    from synthgap.pipeline.paths import JobPaths

    opts = {**DEMO_EVAL, **(settings or {})}
    paths = JobPaths(Path(str(job.output)))
    names = {int(k): v for k, v in json.loads(
        (data / "models" / "names.json").read_text(encoding="utf-8")).items()}
    real = read_real(data / DEMO_SCENE.name, fmt="bop", names=names, seg_size=None,
                     image_ids={DEMO_SCENE.name: demo_split(data)["test"]})
    cfg = EvalConfig(seeds=int(opts["seeds"]), steps=int(opts["steps"]), crop=int(opts["crop"]),
                     jobs=int(opts["jobs"]), n_boot=1000)
    ev = Evaluator(real, cfg, folds=int(opts["folds"]), curve=tuple(opts["curve"]))
    ev.add_dataset("raw renders", paths.render)
    if (paths.adapted / "records.jsonl").is_file():
        ev.add_dataset(f"adapted ({job.adapt.method})", paths.adapted)
    result = ev.result()
    write_report(result, paths.root / "evaluate")
    text = markdown(result)
    table = text[text.index("## Return table"):text.index("## Every row")].strip()
    return {"report": "evaluate/report.md", "return_table": table.splitlines()[1:],
            "rows": result.rows, "sets": result.sets}


#: The demo's stages after `run_job`, in order: `(job) -> summary`; `finish_demo` runs them.
DEMO_STAGES: list[Callable[[Job], dict[str, Any]]] = [objects_stage, heldout_gap_stage,
                                                     evaluate_stage]


_MARK = "## Renders beside real photos of the same objects"


def finish_demo(job: Job, *, stages: Sequence[Callable[[Job], dict[str, Any]]] | None = None
                ) -> dict[str, Any]:
    """Run the demo's stages (default `DEMO_STAGES`) on a finished demo job, append their
    results to `OUT/report.md` and write them to `OUT/demo.json`.

    Returns:
        Stage name -> its summary.
    """
    out = Path(str(job.output))
    results = {stage.__name__: stage(job) for stage in
               (DEMO_STAGES if stages is None else stages)}
    (out / "demo.json").write_text(json.dumps(results, indent=1, default=str) + "\n",
                                   encoding="utf-8")
    report = out / "report.md"
    lines = [_MARK, "",
             "![renders beside real photos](objects.png)", "",
             "## Gap to the 20 held-out photos", "",
             "| set | domain AUC (95 % CI) | structure distance (95 % CI), worst aspect "
             "| verdict |",
             "|---|---|---|---|"]
    for name, r in results.get("heldout_gap_stage", {}).items():
        a, st = r["domain_auc_ci95"], r["structure_distance_ci95"]
        lines.append(f"| {name} | {r['domain_auc']:.3f} ({a[0]:.2f}-{a[1]:.2f}) | "
                     f"{r['structure_distance']:.1f} ({st[0]:.1f}-{st[1]:.1f}), "
                     f"{r['structure_worst']} | {r['verdict']} |")
    ev = next((r for r in results.values() if "return_table" in r), None)
    if ev is not None:  # evaluate_stage's (under any name)
        lines += ["", "## Does synthetic data pay on the held-out photos?", "",
                  "Recognition accuracy of object crops of the 20 held-out photos "
                  "(leave-photos-out folds; [full report](evaluate/report.md)):", "",
                  *ev["return_table"]]
    lines += ["",
             "Real photos: a reduced Linemod-Occluded scene (BOP; Brachmann et al. 2014, "
             "Hinterstoisser et al. 2012), shipped in `synthgap/demo_data/lmo_mini/` "
             "(ATTRIBUTION.md there).", ""]
    if report.is_file():  # replace the section an earlier run appended
        text = report.read_text(encoding="utf-8").split("\n" + _MARK)[0].rstrip("\n")
        tmp = report.with_name(f".{report.name}.tmp")
        tmp.write_text(text + "\n\n" + "\n".join(lines), encoding="utf-8")
        tmp.replace(report)
    return results
