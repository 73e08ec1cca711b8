"""`align` on real photos: how often does the estimated pose match the truth? (LM-O `fit`)

Data (nothing downloaded): the LM-O BOP scene in `../shared/data/lmo`; only the 20 photos of
`splits.json`'s `fit` split are used (the `test` photos are for `real_lmo.py`'s final numbers
and are never looked at here).

For every instance with visible fraction >= 0.5 (from rendering the true poses,
`synthgap.generators.real.ground_truth.iter_view_labels`), `synthgap.poses.aligner.Aligner` runs
from two hints:

- `box`: the instance's true visible box (what a person would draw);
- `pose`: the true pose perturbed by a seeded random rotation of up to ±15° (uniform angle,
  random axis) and translation of up to ±3 cm per axis.

Metrics per instance: IoU of the estimated pose's projected mask with the true projected
mask (whole silhouettes, no occlusion, full 640×480 image), and ADD (mean distance between
the model's vertices under the two poses) as a fraction of the object's diameter
(`models_info.json`). Reported: the share of instances with IoU >= 0.8 (target >= 80 %), with
ADD <= 0.1 d (BOP's usual threshold), the medians, and seconds per instance.

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/align_lmo.py [--data ../shared/data/lmo]
        [--quick] [--limit N] [--hints box,pose] [--seed 0] [--set FIELD=VALUE]
        [--diagnose] [--json]

`--quick`: every 4th instance. Prints a table and one JSON line last. `--diagnose` also
scores the true pose on align's own final cost (`Aligner.last_cost`): a failure is a *search*
failure when the truth is cheaper than the estimate, a *cost* failure otherwise. `--hints
truth` starts from the true pose itself (how far align's cost moves it: the objective's own
error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("PYGLET_HEADLESS", "1")

import numpy as np
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synthgap.evaluate.bench import LMO_NAMES  # noqa: E402 (after the path set-up)

MIN_VISIB = 0.5
MIN_BOX_PX = 6  # visible boxes thinner than this (a part cut by the image border) are skipped


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def perturb(pose: np.ndarray, rng: np.random.Generator, rot_deg: float = 15.0,
            shift_m: float = 0.03) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(-rot_deg, rot_deg))
    out = pose.copy()
    out[:3, :3] = Rotation.from_rotvec(axis * angle).as_matrix() @ pose[:3, :3]
    out[:3, 3] = pose[:3, 3] + rng.uniform(-shift_m, shift_m, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--quick", action="store_true", help="every 4th instance")
    ap.add_argument("--hints", default="box,pose",
                    help="comma list of box, pose, truth (a diagnostic: start from the true "
                    "pose itself; how far does align's own cost move it?)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="at most this many instances")
    ap.add_argument("--skip", type=int, default=0,
                    help="skip the first N instances (resume a run; seeds stay per instance)")
    ap.add_argument("--diagnose", action="store_true",
                    help="also score the true pose on align's own cost: a failure (IoU < 0.8) "
                    "is a search failure when the truth is cheaper than the estimate, a cost "
                    "failure otherwise")
    ap.add_argument("--json", action="store_true", help="print one JSON line last")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override an AlignConfig field (repeatable), e.g. --set views=150")
    args = ap.parse_args()

    from synthgap.data.layout import read_image
    from synthgap.generators.gl.renderer import Renderer
    from synthgap.generators.parts.assets import load_parts
    from synthgap.generators.real.ground_truth import iter_view_labels
    from synthgap.poses.aligner import AlignConfig, Aligner, BoxHint, PoseHint, project_mask
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    data = args.data.resolve()
    splits = json.loads((data / "splits.json").read_text())
    fit_ids = [int(i) for i in splits["fit"]]
    scene_dirs = sorted(p for p in (data / "test").glob("*") if (p / "scene_gt.json").is_file())
    if not scene_dirs:
        sys.exit(f"align_lmo: no BOP scene (test/*/scene_gt.json) under {data}; pass --data")
    info = json.loads((data / "models" / "models_info.json").read_text())
    bop = read_bop_scene(scene_dirs[0], image_ids=fit_ids)
    scene = bop_scene_to_scene(bop, names=LMO_NAMES)
    library = load_parts(scene)
    K = scene.intrinsics()
    Kmat = np.array([[K.fx, 0, K.cx], [0, K.fy, K.cy], [0, 0, 1.0]])
    dist = tuple(scene.camera.distortion)
    name_to_id = {v: k for k, v in LMO_NAMES.items()}

    # the instances: (image, part name, true pose in metres, visible box)
    labelled = [im for im in bop.images if im.objects]
    cases = []
    for lab in iter_view_labels(scene, parts=library):
        im = labelled[lab.view_index]
        view = scene.real_views[lab.view_index]
        for k in range(len(im.objects)):
            if lab.visib_fract[k] < MIN_VISIB:
                continue
            pose = np.asarray(view.parts[k].pose, float)
            pose[:3, 3] *= 1e-3  # the view's units are mm
            cases.append((im, view.parts[k].part, pose, tuple(int(v) for v in
                                                               lab.boxes_visib[k]),
                          float(lab.visib_fract[k])))
    if args.quick:
        cases = cases[::4]
    if args.limit is not None:
        cases = cases[:args.limit]
    hints = [h.strip() for h in args.hints.split(",") if h.strip()]
    for h in hints:
        if h not in ("box", "pose", "truth"):
            sys.exit(f"align_lmo: --hints {args.hints}: unknown hint {h!r} (box, pose, truth)")
    log(f"align_lmo: {len(cases)} instances (visible fraction >= {MIN_VISIB}) in "
        f"{len(fit_ids)} fit photos; hints {hints}")

    fields = AlignConfig.__dataclass_fields__
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in fields:
            sys.exit(f"align_lmo: --set {item}: unknown AlignConfig field (fields: "
                     f"{', '.join(fields)})")
        kind = type(getattr(AlignConfig(), key))
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                sys.exit(f"align_lmo: --set {item}: expected true or false")
            overrides[key] = value.lower() in ("true", "1")
        else:
            overrides[key] = kind(value)
    cfg = AlignConfig(**overrides)
    full = Renderer(scene.image.width, scene.image.height)
    rows: dict[str, list[dict]] = {h: [] for h in hints}
    t_start = time.perf_counter()
    photos: dict[int, np.ndarray] = {}
    with Aligner(cfg) as aligner:
        for ci, (im, name, pose, box, visib) in enumerate(cases):
            if ci < args.skip:
                continue
            if min(box[2], box[3]) < MIN_BOX_PX:
                log(f"[{ci + 1}/{len(cases)}] {im.image_id:4d} {name:12s} skipped: visible box "
                    f"{box} thinner than {MIN_BOX_PX} px")
                continue
            photo = photos.get(im.image_id)
            if photo is None:
                photos.clear()
                photo = photos[im.image_id] = read_image(im.rgb)
            mesh = library[name].mesh
            oid = name_to_id[name]
            diameter = info[str(oid)]["diameter"] * 1e-3
            true_mask, _ = project_mask(full, Kmat, dist, mesh, pose, part=name)
            pts = np.asarray(mesh.vertices)
            for h in hints:
                rng = np.random.default_rng([args.seed, ci, ("box", "pose", "truth").index(h)])
                hint = BoxHint(box) if h == "box" else PoseHint(
                    perturb(pose, rng) if h == "pose" else pose)
                res = aligner.align(photo, Kmat, mesh, hint=hint, rng=rng, distortion=dist,
                                    part=name)
                est_mask, _ = project_mask(full, Kmat, dist, mesh, res.pose, part=name)
                inter = np.logical_and(est_mask, true_mask).sum()
                union = np.logical_or(est_mask, true_mask).sum()
                iou = float(inter / max(union, 1))
                a = pts @ pose[:3, :3].T + pose[:3, 3]
                b = pts @ res.pose[:3, :3].T + res.pose[:3, 3]
                add = float(np.linalg.norm(a - b, axis=1).mean() / diameter)
                start = None
                if isinstance(hint, PoseHint):  # how good the start was (the baseline)
                    hm, _ = project_mask(full, Kmat, dist, mesh, hint.pose, part=name)
                    start = float(np.logical_and(hm, true_mask).sum()
                                  / max(np.logical_or(hm, true_mask).sum(), 1))
                true_cost = aligner.last_cost(pose) if args.diagnose else None
                est_cost = aligner.last_cost(res.pose) if args.diagnose else None
                rows[h].append({"image": im.image_id, "part": name, "visib": visib,
                                "iou": iou, "add": add,
                                "start_iou": start, "true_cost": true_cost, "est_cost": est_cost,
                                "cost": res.cost, "seconds": res.seconds,
                                "renders": res.renders})
                log(f"[{ci + 1}/{len(cases)}] {im.image_id:4d} {name:12s} {h:4s} IoU {iou:.3f} "
                    f"ADD {add:.3f}d cost {res.cost:.3f} {res.seconds:.1f}s"
                    + (f" full cost: estimate {est_cost:.3f} truth {true_cost:.3f}"
                       if true_cost is not None else ""))
    full.close()
    total = time.perf_counter() - t_start

    summary = {}
    print(f"\nalign on LM-O fit photos: {len(cases)} instances, visible fraction >= {MIN_VISIB}")
    print(f"{'hint':6s} {'IoU>=0.8':>9s} {'ADD<=0.1d':>10s} {'med IoU':>8s} {'med ADD':>8s} "
          f"{'s/inst':>7s}")
    for h, rs in rows.items():
        if not rs:
            continue
        iou = np.array([r["iou"] for r in rs])
        add = np.array([r["add"] for r in rs])
        sec = np.array([r["seconds"] for r in rs])
        summary[h] = {"n": len(rs), "share_iou_0.8": float((iou >= 0.8).mean()),
                      "share_add_0.1": float((add <= 0.1).mean()),
                      "median_iou": float(np.median(iou)), "median_add": float(np.median(add)),
                      "seconds_per_instance": float(sec.mean())}
        s = summary[h]
        print(f"{h:6s} {s['share_iou_0.8']:9.1%} {s['share_add_0.1']:10.1%} "
              f"{s['median_iou']:8.3f} {s['median_add']:8.3f} {s['seconds_per_instance']:7.2f}")
        if h == "pose":
            st = np.array([r["start_iou"] for r in rs])
            s["start_share_iou_0.8"] = float((st >= 0.8).mean())
            s["start_median_iou"] = float(np.median(st))
            print(f"        the perturbed hints themselves: IoU>=0.8 {(st >= 0.8).mean():.1%}, "
                  f"median IoU {np.median(st):.3f}")
        per_part: dict[str, list[float]] = {}
        for r in rs:
            per_part.setdefault(r["part"], []).append(r["iou"] >= 0.8)
        if args.diagnose:
            fail = [r for r in rs if r["iou"] < 0.8]
            search = sum(r["true_cost"] < r["est_cost"] for r in fail)
            s["search_failures"], s["cost_failures"] = search, len(fail) - search
            print(f"        failures (IoU < 0.8): {len(fail)}: search (truth cheaper) "
                  f"{search}, cost (estimate cheaper) {len(fail) - search}")
        print("        per part: " + ", ".join(f"{p} {np.mean(v):.0%} ({len(v)})"
                                               for p, v in sorted(per_part.items())))
    print(f"total {total:.0f} s")
    out = {"benchmark": "align_lmo", "instances": len(cases), "min_visib": MIN_VISIB,
           "quick": args.quick, "seed": args.seed, "config": cfg.__dict__, "hints": summary,
           "rows": rows, "seconds": total}
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
