"""`synthgap align` with and without the plane step on the LM-O `fit` photos, and the scene
fitted from its poses vs from the true poses.

Only the 20 photos of `splits.json`'s `fit` split are read (default: fold 0 of
`benchmarks/lmo_scene_fit.py`, `fit_ids[0::2]`; the `test` photos never). Per photo, every
part at least `--min-visib` visible is aligned from a box hint = its true visible box (what
a person would draw; the protocol of `lmo_scene_fit.py`'s `fitted[align]` row), then the plane
step (`synthgap.poses.plane.snap_to_plane`) runs on the photo's parts. One run gives both the
free poses ("off") and the plane step's ("auto"); `--margins` re-decides the plane step
offline for other `keep_margin` values (the best on-plane pose and both costs are kept).

Printed: (a) pose accuracy vs the true poses: instances with IoU >= 0.8 of the projected
masks (whole silhouettes, full image), ADD <= 0.1 d and median ADD / d, parts on a common
plane (`synthgap.poses.plane.support_plane`, the same test for every pose set), seconds per
photo; (b) `synthgap scene fit --no-plates` from the true poses, from the free and from the
plane poses: roll, elevation, azimuth, distance ranges, resting poses per part, parts
touching the fitted plane. One JSON line last.

    PYOPENGL_PLATFORM=egl OMP_NUM_THREADS=1 nice -n 10 python benchmarks/lmo_align_scene.py \\
        [--fold 0] [--photos N] [--out bench_out/lmo_align_scene] [--margins 0,0.1,inf]

Per-photo results are cached in `--out` (a rerun resumes; delete the folder to start over):
the free poses with each part's cost state (`Aligner.cost_state`), and the plane step per
`PlaneConfig` (`--set FIELD=VALUE` reruns only the plane step, a few seconds per part).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "1")

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MIN_BOX_PX = 6
TEMPLATE = REPO / "examples" / "lmo_like.yaml"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def align_photo(aligner: Any, tpl: Any, library: Any, im: Any, min_visib: float
                ) -> tuple[dict, list] | None:
    """Free poses of one photo's parts (plain lists), their other hypotheses, the truth, the
    seconds; and each part's cost state (`Aligner.cost_state`, for the plane step)."""
    from synthgap.data.layout import read_image
    from synthgap.poses.aligner import BoxHint

    objs = [o for o in im.objects if o.visib_fract is not None and o.bbox_visib is not None
            and o.visib_fract >= min_visib and min(o.bbox_visib[2:]) >= MIN_BOX_PX]
    if not objs:
        return None
    k = tpl.intrinsics()
    K = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    dist = tuple(float(d) for d in tpl.camera.distortion)
    photo = read_image(im.rgb)
    names = [f"obj_{o.obj_id:06d}" for o in objs]
    t0 = time.perf_counter()
    results, states, alts = [], [], []
    for j, (name, o) in enumerate(zip(names, objs, strict=True)):
        res = aligner.align(photo, K, library[name].mesh,
                            hint=BoxHint(tuple(float(b) for b in o.bbox_visib)),
                            rng=np.random.default_rng([0, im.image_id, j]), distortion=dist,
                            part=name)
        results.append(res)
        states.append(aligner.cost_state())
        alts.append(aligner.alternatives()[1:])
    true = []
    for o in objs:
        T = np.array(o.pose, float)
        T[:3, 3] /= 1000.0
        true.append(T.tolist())
    return {"image_id": im.image_id, "rgb": str(im.rgb), "parts": names,
            "visib": [float(o.visib_fract) for o in objs], "true": true,
            "free": [r.pose.tolist() for r in results],
            "free_cost": [float(r.cost) for r in results],
            "alternatives": [[q.tolist() for q in a] for a in alts],
            "seconds_free": time.perf_counter() - t0}, states


def plane_photo(aligner: Any, tpl: Any, library: Any, rec: dict, states: list, cfg: Any,
                rests: dict) -> dict:
    """The plane step on one photo's cached free poses and cost states."""
    from synthgap.poses.plane import rest_model, snap_to_plane

    k = tpl.intrinsics()
    K = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    names = rec["parts"]
    for name in names:
        if name not in rests:
            rests[name] = rest_model(library[name].mesh, cfg)
    t0 = time.perf_counter()
    plane, choices = snap_to_plane(
        K, [rests[n] for n in names], [np.array(T) for T in rec["free"]], rec["free_cost"],
        [aligner.cost_of_state(st) for st in states], cfg,
        alternatives=[[np.array(q) for q in a] for a in rec["alternatives"]])
    return {"plane_pose": [None if c.plane_pose is None else c.plane_pose.tolist()
                           for c in choices],
            "plane_cost": [float(c.plane_cost) for c in choices],
            "plane": None if plane is None else [*plane.normal.tolist(), plane.offset],
            "seconds_plane": time.perf_counter() - t0, "config": cfg.__dict__}


def chosen(rec: dict, margin: float) -> list[np.ndarray]:
    """The plane step's poses of one photo for `keep_margin = margin`."""
    out = []
    for f, fc, p, pc in zip(rec["free"], rec["free_cost"], rec["plane_pose"],
                            rec["plane_cost"], strict=True):
        use_plane = p is not None and not fc < pc - margin
        out.append(np.array(p if use_plane else f, float))
    return out


def accuracy(recs: list[dict], poses: list[list[np.ndarray]], library: Any, K: np.ndarray,
             dist: tuple, renderer: Any, rests: dict, cfg: Any) -> dict:
    """IoU >= 0.8 share, ADD <= 0.1 d share, median ADD/d, parts on a common plane."""
    from synthgap.poses.aligner import project_mask
    from synthgap.poses.plane import support_plane

    ious, adds, on_plane, n = [], [], 0, 0
    for rec, est in zip(recs, poses, strict=True):
        for name, Tt, Te in zip(rec["parts"], rec["true"], est, strict=True):
            mesh = library[name].mesh
            Tt = np.array(Tt)
            a, _ = project_mask(renderer, K, dist, mesh, Tt, part=name)
            b, _ = project_mask(renderer, K, dist, mesh, Te, part=name)
            ious.append(float((a & b).sum() / max((a | b).sum(), 1)))
            v = np.asarray(mesh.vertices, float)
            d = float(np.linalg.norm(v.max(0) - v.min(0)))
            err = np.linalg.norm((v @ Tt[:3, :3].T + Tt[:3, 3]) - (v @ Te[:3, :3].T + Te[:3, 3]),
                                 axis=1).mean()
            adds.append(float(err / d))
        plane = support_plane(est, [rests[p] for p in rec["parts"]],
                              type(cfg)(**{**cfg.__dict__, "min_parts": 2}))
        on_plane += 0 if plane is None else int(plane.agree.sum())
        n += len(est)
    iou, add = np.array(ious), np.array(adds)
    return {"instances": n, "iou_ge_0.8": round(float((iou >= 0.8).mean()), 4),
            "add_le_0.1d": round(float((add <= 0.1).mean()), 4),
            "median_iou": round(float(np.median(iou)), 4),
            "median_add_d": round(float(np.median(add)), 4), "on_common_plane": on_plane,
            "iou": [round(x, 4) for x in ious]}


def views_file(recs: list[dict], poses: list[list[np.ndarray]], path: Path) -> Path:
    """A `real_views` file (camera frame = world frame, as `synthgap align` writes)."""
    from synthgap.poses.views import views_yaml

    views = [{"photo": r["rgb"], "units": "m", "camera_pose": np.eye(4).tolist(),
              "parts": [{"part": n, "pose": _rigid(np.asarray(T)).tolist()}
                        for n, T in zip(r["parts"], est, strict=True)],
              "background": {"plane": False}} for r, est in zip(recs, poses, strict=True)]
    path.write_text(views_yaml(views), encoding="utf-8")
    return path


def _rigid(T: np.ndarray) -> np.ndarray:
    """`T` with its rotation made exactly orthonormal (BOP's ground truth is off by ~1e-3)."""
    u, _, vt = np.linalg.svd(T[:3, :3])
    out = T.copy()
    out[:3, :3] = u @ vt
    return out


def scene_fit(views: Path, out: Path) -> dict:
    """`synthgap scene fit --views --no-plates`: the summary and the fitted camera ranges."""
    cmd = [sys.executable, "-m", "synthgap", "scene", "fit", str(TEMPLATE), "--views",
           str(views), "-o", str(out), "--force", "--no-plates", "--no-sensor"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if res.returncode:
        return {"error": res.stderr.strip().splitlines()[-1][:300] if res.stderr else "?"}
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    return {"summary": summary, "camera": _camera_ranges(yaml.safe_load(out.read_text()))}


def _camera_ranges(data: Any) -> dict:
    """The first mapping holding distance/elevation/azimuth/roll ranges in the fitted YAML."""
    if isinstance(data, dict):
        if all(k in data for k in ("distance", "elevation", "roll")):
            return {k: data[k] for k in ("distance", "elevation", "azimuth", "roll")
                    if k in data}
        for v in data.values():
            got = _camera_ranges(v)
            if got:
                return got
    if isinstance(data, list):
        for v in data:
            got = _camera_ranges(v)
            if got:
                return got
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "lmo_align_scene")
    ap.add_argument("--fold", type=int, default=0, choices=(0, 1, -1),
                    help="fit_ids[fold::2] (lmo_scene_fit's folds); -1: all 20 fit photos")
    ap.add_argument("--photos", type=int, default=None, help="at most this many photos")
    ap.add_argument("--min-visib", type=float, default=0.3)
    ap.add_argument("--margins", default="0.1",
                    help="keep_margin values to report (decided offline from one run)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a PlaneConfig field of the run (repeatable)")
    ap.add_argument("--align-set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override an AlignConfig field of the free alignment (repeatable; "
                         "use a fresh --out: the cache does not know it)")
    ap.add_argument("--no-fit", action="store_true", help="skip the scene fits (b)")
    ap.add_argument("--cv", action="store_true",
                    help="(c) instead: the recognition rows fitted, fitted[align] (free poses) "
                         "and fitted[align+plane] under lmo_scene_fit's 2-fold CV over the 20 "
                         "fit photos; needs both folds' align caches in --out (run --fold 0 "
                         "and --fold 1 first)")
    ap.add_argument("--renders", type=int, default=60, help="--cv: renders per scene and fold")
    ap.add_argument("--seeds", type=int, default=2, help="--cv: training seeds")
    ap.add_argument("--steps", type=int, default=200, help="--cv: training steps")
    args = ap.parse_args()
    if args.cv:
        cv(args)
        return

    from synthgap.generators.parts.assets import load_parts
    from synthgap.poses.aligner import Aligner
    from synthgap.poses.plane import PlaneConfig
    from synthgap.scenes import load_scene
    from synthgap.scenes.bop import read_bop_scene

    over = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = PlaneConfig(**{k: (int(v) if isinstance(getattr(PlaneConfig, k), int) else v)
                         for k, v in over.items()})
    data = args.data.resolve()
    fit_ids = [int(i) for i in json.loads((data / "splits.json").read_text())["fit"]]
    ids = fit_ids if args.fold < 0 else fit_ids[args.fold::2]
    ids = ids[:args.photos] if args.photos else ids
    scene_dir = sorted(p for p in (data / "test").glob("*") if (p / "scene_gt.json").is_file())[0]
    bop = read_bop_scene(scene_dir, image_ids=ids)
    tpl = load_scene(TEMPLATE)
    library = load_parts(tpl)
    args.out.mkdir(parents=True, exist_ok=True)
    recs: list[dict] = []
    rests: dict = {}
    tag = hashlib.sha1(json.dumps(cfg.__dict__, sort_keys=True).encode()).hexdigest()[:8]
    from synthgap.poses.aligner import AlignConfig

    fields = AlignConfig.__dataclass_fields__
    align_cfg = AlignConfig(**{k: type(fields[k].default)(v) for k, v in
                               (a.split("=", 1) for a in args.align_set)})
    with Aligner(align_cfg) as aligner:
        for im in bop.images:
            cache = args.out / f"photo_{im.image_id:06d}.json"
            # the cost states: numpy arrays and a mesh this script wrote itself (a cache, not
            # an input format)
            pkl = cache.with_suffix(".pkl")
            if cache.is_file() and pkl.is_file():
                rec = json.loads(cache.read_text())
                states = pickle.loads(pkl.read_bytes())
            else:
                got = align_photo(aligner, tpl, library, im, args.min_visib)
                if got is None:
                    continue
                rec, states = got
                cache.write_text(json.dumps(rec), encoding="utf-8")
                pkl.write_bytes(pickle.dumps(states))
            pcache = args.out / f"photo_{im.image_id:06d}.plane_{tag}.json"
            if pcache.is_file():
                rec.update(json.loads(pcache.read_text()))
            else:
                got_plane = plane_photo(aligner, tpl, library, rec, states, cfg, rests)
                pcache.write_text(json.dumps(got_plane), encoding="utf-8")
                rec.update(got_plane)
            recs.append(rec)
            log(f"photo {im.image_id}: {len(rec['parts'])} parts, free "
                f"{rec['seconds_free']:.0f} s, plane {rec['seconds_plane']:.0f} s, plane "
                f"{'found' if rec['plane'] is not None else 'none'}")
    report(args, recs, library, tpl, cfg)


def report(args: argparse.Namespace, recs: list[dict], library: Any, tpl: Any,
           cfg: Any) -> None:
    """Print the tables and the JSON line."""
    from synthgap.generators.gl.renderer import Renderer
    from synthgap.poses.plane import rest_model

    k = tpl.intrinsics()
    K = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    dist = tuple(float(d) for d in tpl.camera.distortion)
    rests = {n: rest_model(library[n].mesh, cfg) for r in recs for n in r["parts"]}
    sets: dict[str, list[list[np.ndarray]]] = {
        "truth": [[np.array(T) for T in r["true"]] for r in recs],
        "off": [[np.array(T) for T in r["free"]] for r in recs]}
    margins = [float(m) for m in args.margins.split(",")]
    for m in margins:
        sets[f"auto(margin={m:g})"] = [chosen(r, m) for r in recs]
    renderer = Renderer(tpl.image.width, tpl.image.height)
    try:
        acc = {name: accuracy(recs, poses, library, K, dist, renderer, rests, cfg)
               for name, poses in sets.items()}
    finally:
        renderer.close()
    sec_free = float(np.mean([r["seconds_free"] for r in recs]))
    sec_plane = float(np.mean([r["seconds_plane"] for r in recs]))
    print(f"photos {len(recs)} (fit ids {[r['image_id'] for r in recs]}), instances "
          f"{acc['off']['instances']}; s/photo: align {sec_free:.0f}, plane step "
          f"{sec_plane:.0f}")
    print(f"{'poses':22s} {'IoU>=0.8':>9s} {'ADD<=.1d':>9s} {'med IoU':>8s} {'med ADD/d':>9s} "
          f"{'on common plane':>16s}")
    for name, a in acc.items():
        print(f"{name:22s} {a['iou_ge_0.8']:9.3f} {a['add_le_0.1d']:9.3f} "
              f"{a['median_iou']:8.3f} {a['median_add_d']:9.3f} "
              f"{a['on_common_plane']:>10d}/{a['instances']}")
    fits: dict[str, Any] = {}
    if not args.no_fit:
        for name, poses in sets.items():
            tag = name.replace("(", "_").replace(")", "").replace("=", "")
            path = views_file(recs, poses, args.out / f"views_{tag}.yaml")
            fits[name] = scene_fit(path, args.out / f"fitted_{tag}.yaml")
        print_fits(fits)
    out = {"benchmark": "lmo_align_scene", "photos": [r["image_id"] for r in recs],
           "seconds_per_photo": {"align": round(sec_free, 1), "plane": round(sec_plane, 1)},
           "accuracy": {k: {kk: vv for kk, vv in v.items() if kk != "iou"}
                        for k, v in acc.items()},
           "fits": fits}
    print(json.dumps(out))


def cv(args: argparse.Namespace) -> None:
    """(c): `lmo_scene_fit.py`'s protocol (scene fitted on one fold's 10 photos, with plates;
    classifier trained on its renders alone, tested on the other fold's real crops) for the
    true poses, align's free poses and the plane step's; paired bootstrap over held-out photos
    of each align row against `fitted`."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import lmo_scene_fit as lsf  # the row protocol (owned by benchmarks/lmo_scene_fit.py)
    import torch

    from synthgap.evaluate import bench as rl

    torch.set_num_threads(1)
    margin = float(args.margins.split(",")[-1] if "," in args.margins else args.margins)
    data = args.data.resolve()
    fit_ids = [int(i) for i in json.loads((data / "splits.json").read_text())["fit"]]
    folds = [fit_ids[0::2], fit_ids[1::2]]
    names = {i: rl.LMO_NAMES.get(i, f"obj_{i:06d}") for i in range(1, 16)}
    classes = sorted(names[i] for i in (1, 5, 6, 8, 9, 10, 11, 12))
    truth = lsf.fit_truth(data, fit_ids, classes, names)
    ns = argparse.Namespace(data=data, out=args.out / "cv", renders=args.renders,
                            seeds=args.seeds, steps=args.steps)
    rows = ("fitted", "fitted[align]", "fitted[align+plane]")
    results: dict[str, list[dict]] = {r: [] for r in rows}
    t0 = time.perf_counter()
    for f, ids in enumerate(folds):
        recs = []
        for i in ids:
            cache = args.out / f"photo_{i:06d}.json"
            if cache.is_file():
                rec = json.loads(cache.read_text())
                rec.update(_plane_cache(args.out, i))
                recs.append(rec)
        if not recs:
            sys.exit(f"--cv: no align cache for fold {f} in {args.out}; run --fold {f} first")
        held = np.isin(truth[2], folds[1 - f])
        test = (truth[0][held], truth[1][held], truth[2][held])
        fold = ns.out / f"fold{f}"
        fold.mkdir(parents=True, exist_ok=True)
        for row in rows:
            if row == "fitted":
                scene = lsf.fitted_scene(data, fold / "fitted", ids, True)
            else:
                poses = [[np.array(T) for T in r["free"]] if row == "fitted[align]"
                         else chosen(r, margin) for r in recs]
                sub = fold / ("align" if row == "fitted[align]" else "align_plane")
                sub.mkdir(parents=True, exist_ok=True)
                scene = lsf.fitted_from_views(views_file(recs, poses, sub / "views.yaml"), sub)
            results[row].append(lsf.row_result(ns, f, row, scene, ids, classes, test))
            log(f"cv fold {f} {row}: done ({time.perf_counter() - t0:.0f} s)")
    cv_report(results, args, margin)


def _plane_cache(out: Path, image_id: int) -> dict:
    """The plane step's cached results of one photo for the default `PlaneConfig` (its
    poses and costs do not depend on `keep_margin`, which `--margins` re-decides)."""
    from synthgap.poses.plane import PlaneConfig

    want = {k: v for k, v in PlaneConfig().__dict__.items() if k != "keep_margin"}
    found = []
    for path in sorted(out.glob(f"photo_{image_id:06d}.plane_*.json")):
        got = json.loads(path.read_text())
        cfg = got.get("config")
        if cfg is None or {k: v for k, v in cfg.items() if k != "keep_margin"} == want:
            found.append(got)
    if len(found) != 1:
        sys.exit(f"--cv: photo {image_id}: expected one plane-step cache for the default "
                 f"PlaneConfig in {out}, found {len(found)}; rerun --fold without --set")
    return found[0]


def cv_report(results: dict[str, list[dict]], args: argparse.Namespace, margin: float) -> None:
    """Pooled accuracy per row (mean ± std over seeds) and the paired bootstrap (over
    held-out photos, 2,000 draws) of each align row minus `fitted`."""
    table: dict[str, dict] = {}
    photo: dict[str, dict[str, float]] = {}
    for row, folds in results.items():
        seeds = sorted({s for r in folds for s in r["seeds"]})
        v = np.array([sum(r["seeds"][s][0] for r in folds) / sum(r["seeds"][s][1] for r in folds)
                      for s in seeds])
        photo[row] = {p: float(np.mean(a)) for r in folds for p, a in r["photos"].items()}
        table[row] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4)}
    rng = np.random.default_rng(0)
    ids = sorted(photo["fitted"])
    for row in table:
        if row == "fitted":
            continue
        diff = np.array([photo[row][p] - photo["fitted"][p] for p in ids])
        boots = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
        table[row]["vs_fitted"] = {"diff": round(float(diff.mean()), 4),
                                   "ci95": [round(float(np.percentile(boots, 2.5)), 4),
                                            round(float(np.percentile(boots, 97.5)), 4)]}
    print(f"{'row':22s} {'accuracy':>16s}  vs fitted (per-photo paired bootstrap, 95 %)")
    for row, t in table.items():
        vs = t.get("vs_fitted")
        vs_s = f"{vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}]" if vs else ""
        print(f"{row:22s} {t['mean']:.3f} ± {t['std']:.3f}    {vs_s}")
    print(json.dumps({"benchmark": "lmo_align_scene_cv", "renders": args.renders,
                      "seeds": args.seeds, "steps": args.steps, "keep_margin": margin,
                      "rows": table}))


def print_fits(fits: dict[str, Any]) -> None:
    """The fitted ranges side by side."""
    names = list(fits)
    print(f"{'scene fitted from':22s} " + " ".join(f"{n:>22s}" for n in names))
    for key in ("distance", "elevation", "azimuth", "roll"):
        row = [str(fits[n].get("camera", {}).get(key, fits[n].get("error", "?")))[:22]
               for n in names]
        print(f"{key:22s} " + " ".join(f"{v:>22s}" for v in row))
    row = [str(fits[n].get("summary", {}).get("parts_touching_plane", "?")) for n in names]
    print(f"{'touching fitted plane':22s} " + " ".join(f"{v:>22s}" for v in row))
    parts = sorted({p for n in names for p in fits[n].get("summary", {}).get("rest_poses", {})})
    for p in parts:
        row = [str(fits[n].get("summary", {}).get("rest_poses", {}).get(p, "-")) for n in names]
        print(f"{'rest poses ' + p:22s} " + " ".join(f"{v:>22s}" for v in row))


if __name__ == "__main__":
    main()
