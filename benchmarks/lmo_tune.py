"""Lights fitted from the LM-O `fit` photos, and `synthgap tune` of the LM-O-like scene.

Reads only the 20 `fit` photos of `splits.json` (never the `test` split).

1. **Light fit** (`synthgap.tune.lights`): the fit photos at their true poses (BOP
   `scene_gt`), each in the frame of the desk its objects stand on
   (`synthgap.tune.frames.plane_world_scene`); one directional key light + ambient fitted by
   render-and-compare on object pixels at 160x120. 2-fold over the fit photos (fit on 10,
   relative L1 loss on the other 10), before = `examples/lmo_like.yaml`'s lights at their
   midpoints; then fitted on all 20 for the values written to the scene.
2. **Tune** (`synthgap.tune.search`): `examples/lmo_like.yaml` (data paths pointed at
   `--data`) with the even-numbered fit photos as backgrounds, scored against the other 10
   fit photos (held out: no render shows them) by the gap metric's domain-classifier
   accuracy; knobs: the light rig (the scene's, the fitted key light, a dome), light
   intensity, ambient, an environment light, the sensor block, camera distance, clutter and
   part colour jitter. Start vs best re-measured on fresh seeds (95 % t-intervals), and
   once more with the halves swapped (backgrounds = the scored photos, scored against the
   other 10, which the search never scored against).

Usage:

    PYOPENGL_PLATFORM=egl python benchmarks/lmo_tune.py [--data ../shared/data/lmo]
        [--out out_lmo_tune] [--trials 20] [--renders 24] [--quick] [--json]

Prints two tables and, with `--json`, one JSON line last. The light fit is kept in
`--out/lights.json` and the tune study resumes in `--out/tune` (rerun to add trials).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from synthgap.evaluate.bench import LMO_NAMES

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fit_views_scene(data: Path, fit_ids: list[int], lmo: dict[str, Any]) -> Any:
    """The fit photos at their true poses, each on its desk plane, lit as lmo_like.yaml."""
    from synthgap.generators.parts.assets import load_parts
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene
    from synthgap.tune import plane_world_scene

    bop = read_bop_scene(data / "test" / "000002", image_ids=fit_ids)
    scene = bop_scene_to_scene(bop, names=LMO_NAMES, extra={
        "lights": lmo["lights"], "background": {"ambient": lmo["background"]["ambient"]}})
    world = plane_world_scene(scene, load_parts(scene))
    log(f"desk planes: RMS {min(world.plane_rms_mm):.0f}-{max(world.plane_rms_mm):.0f} mm, "
        f"camera elevation {min(world.camera_elevation_deg):.0f}-"
        f"{max(world.camera_elevation_deg):.0f} deg")
    return world


def light_fit(world: Any, quick: bool) -> dict[str, Any]:
    from synthgap.tune import cross_validate_lights, fit_lights

    kw: dict[str, Any] = {"max_refine": 8 if quick else 20}
    t0 = time.perf_counter()
    cv = cross_validate_lights(world.scene, folds=2, **kw)
    log(f"2-fold light fit: {time.perf_counter() - t0:.0f} s")
    full = fit_lights(world.scene, **kw)
    return {"cv": cv, "all": full.to_dict(), "block": full.lights_block(),
            "plane_rms_mm": list(world.plane_rms_mm)}


def add_view_losses(scene: Any, lights: dict[str, Any]) -> None:
    """Per held-out view losses for a light fit cached before they were recorded."""
    from synthgap.tune import light_fit_from_dict, light_losses, with_fitted_lights

    for f in lights["cv"]["folds"]:
        if "view_loss_after" not in f:
            held = f["held_out_views"]
            fit = light_fit_from_dict(f["fit"])
            f["view_loss_after"] = light_losses(with_fitted_lights(scene, fit), views=held)[1]
            f["view_loss_before"] = light_losses(scene, views=held)[1]


def bootstrap(values: list[float], n: int = 10_000) -> tuple[float, float, float]:
    """Mean and 95 % percentile bootstrap interval over the values (photos)."""
    import numpy as np

    x = np.asarray(values, float)
    means = x[np.random.default_rng(0).integers(len(x), size=(n, len(x)))].mean(1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def tune_scene(data: Path, out: Path, fit_ids: list[int], lmo: dict[str, Any],
               fitted: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from synthgap.tune.search import TuneConfig, run_tune

    rgb = data / "test" / "000002" / "rgb"
    photos = [rgb / f"{i:06d}.png" for i in fit_ids]
    backgrounds, held_out = photos[0::2], photos[1::2]
    scene = dict(lmo)
    scene["parts"] = [{**p, "mesh": str(data / "models" / Path(p["mesh"]).name)}
                      for p in lmo["parts"]]
    scene["background"] = {**lmo["background"], "image_files": [str(p) for p in backgrounds]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "scene.yaml").write_text(yaml.safe_dump(scene, sort_keys=False))
    key = fitted["block"]["lights"][0]
    search = {"search": {
        "lights": {"choice": [lmo["lights"], [key], [key, lmo["lights"][1]],
                              [{"type": "dome", "intensity": [2.0, 4.0]}]]},
        "lights[*].intensity": {"scale": [0.3, 3.0]},
        "background.ambient": {"choice": [lmo["background"]["ambient"],
                                          fitted["block"]["background"]["ambient"],
                                          [[0.02, 0.02, 0.02], [0.1, 0.1, 0.1]]]},
        "lights[+]": {"choice": [None, {"type": "environment", "intensity": 0.5}]},
        "sensor": {"choice": [lmo["sensor"], None]},
        "camera.pose.distance": {"range": [0.4, 1.6]},
        "distractors.count": {"choice": [lmo["distractors"]["count"], 0, [6, 12]]},
        "parts[*].material": {"choice": [None, {"appearance": "mesh",
                                                "brightness": [0.7, 1.3],
                                                "hue_shift": [-0.03, 0.03],
                                                "saturation": [0.7, 1.2]}]},
    }}
    (out / "search.yaml").write_text(yaml.safe_dump(search, sort_keys=False))
    w, h = (int(v) for v in args.size.split("x"))
    config = TuneConfig(trials=args.trials, renders=args.renders, size=(w, h), seed=0,
                        repeats=args.repeats)
    rep = run_tune(out / "scene.yaml", held_out, out / "tune", search=out / "search.yaml",
                   config=config, log=log)
    rep["swapped"] = swapped_check(out, backgrounds, held_out, config)
    return rep


def swapped_check(out: Path, backgrounds: list[Path], held_out: list[Path], config: Any
                  ) -> dict[str, Any]:
    """Start and best scenes with the halves swapped: the held-out photos as backgrounds,
    scored against the former background photos, which the search never scored against
    (the search chose its knobs on `held_out`, so the re-measured best is biased towards
    those photos; this check is not)."""
    from synthgap.scenes import parse_scene
    from synthgap.tune.score import TrialRenderer, gap_metrics, read_photos, t_interval

    size = config.size
    real = read_photos(backgrounds, size)
    scores: dict[str, list[float]] = {}
    renderer = None
    for name, path in (("start", out / "scene.yaml"), ("best", out / "tune" / "best_scene.yaml")):
        data = yaml.safe_load(path.read_text())
        data["background"]["image_files"] = [str(p) for p in held_out]
        scene = parse_scene(data, base_dir=path.parent)
        renderer = renderer or TrialRenderer(scene, size)
        scores[name] = []
        for r in range(config.repeats):
            imgs = renderer.render(scene, n=config.renders, seed=config.seed + 1 + r)
            scores[name].append(gap_metrics(imgs, real, seed=config.seed + 1 + r,
                                            patch_size=config.patch_size)[config.objective])
    if renderer is not None:
        renderer.close()
    return {"start": t_interval(scores["start"]), "best": t_interval(scores["best"]),
            "start_minus_best": t_interval([a - b for a, b in zip(
                scores["start"], scores["best"], strict=True)])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, default=ROOT / "out_lmo_tune")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--renders", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--quick", action="store_true", help="fewer light-fit refinements")
    ap.add_argument("--skip-tune", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fit_ids = json.loads((args.data / "splits.json").read_text())["fit"]
    lmo = yaml.safe_load((ROOT / "examples" / "lmo_like.yaml").read_text())

    t0 = time.perf_counter()
    cache = args.out / "lights.json"  # the light fit is deterministic: reused on reruns
    world = fit_views_scene(args.data, fit_ids, lmo)
    if cache.is_file():
        lights = json.loads(cache.read_text())
        add_view_losses(world.scene, lights)
    else:
        lights = light_fit(world, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(lights, default=str))
    print(f"\nlight fit on the {len(fit_ids)} LM-O fit photos (2-fold, relative L1 on object "
          "pixels, held-out fold):")
    print(f"  {'fold':<5}{'elev':>6}{'azim':>7}{'intens':>8}{'temp K':>8}{'ambient':>22}"
          f"{'before':>8}{'after':>7}")
    for k, f in enumerate(lights["cv"]["folds"]):
        fit = f["fit"]
        amb = ", ".join(f"{a:.2f}" for a in fit["ambient_rgb"])
        print(f"  {k:<5}{fit['elevation']:>6.1f}{fit['azimuth']:>7.1f}{fit['intensity']:>8.2f}"
              f"{fit['temperature_k']:>8.0f}{'[' + amb + ']':>22}{f['loss_before']:>8.3f}"
              f"{f['loss_after']:>7.3f}")
    diff = [b - a for f in lights["cv"]["folds"]
            for b, a in zip(f["view_loss_before"], f["view_loss_after"], strict=True)]
    after = [a for f in lights["cv"]["folds"] for a in f["view_loss_after"]]
    before = [b for f in lights["cv"]["folds"] for b in f["view_loss_before"]]
    ci = {"before": bootstrap(before), "after": bootstrap(after), "before_minus_after":
          bootstrap(diff)}
    for name, (m, lo, hi) in ci.items():
        print(f"  per held-out photo, {name:<19} {m:.3f} [{lo:.3f}, {hi:.3f}] "
              f"(mean of {len(diff)}, 95 % bootstrap)")
    a = lights["all"]
    print(f"  all 20: elevation {a['elevation']:.1f}, azimuth {a['azimuth']:.1f} (camera-"
          f"relative), intensity {a['intensity']:.2f}, colour "
          f"{[round(c, 3) for c in a['color']]} (~{a['temperature_k']:.0f} K), ambient "
          f"{[round(c, 3) for c in a['ambient_rgb']]}, loss {a['loss']:.3f}")
    result: dict[str, Any] = {"lights": {"per_photo_ci": ci,
                                         "loss_before": lights["cv"]["loss_before"],
                                         "loss_after": lights["cv"]["loss_after"],
                                         "folds": lights["cv"]["folds"], "all": a,
                                         "block": lights["block"]}}
    if not args.skip_tune:
        rep = tune_scene(args.data, args.out, fit_ids, lmo, lights, args)
        c = rep["compare"]
        print(f"\ntune of examples/lmo_like.yaml ({rep['trials_complete']} trials, "
              f"{args.renders} renders/trial, domain accuracy vs 10 held-out fit photos; "
              f"mean [95 % interval] over {args.repeats} fresh seeds):")
        for name in ("start", "best", "start_minus_best"):
            print(f"  {name:<18}{c[name]['mean']:.3f} [{c[name]['lo']:.3f}, "
                  f"{c[name]['hi']:.3f}]")
        print("  halves swapped (backgrounds = the 10 scored photos, scored against the other "
              "10, which the search never saw as targets):")
        for name in ("start", "best", "start_minus_best"):
            iv = rep["swapped"][name]
            print(f"  {name:<18}{iv['mean']:.3f} [{iv['lo']:.3f}, {iv['hi']:.3f}]")
        print(f"  best trial {rep['best_trial']}: {json.dumps(rep['best_values'])}")
        result["tune"] = {k: rep[k] for k in ("compare", "swapped", "best_trial", "best_values",
                                              "trials_complete", "importances")}
    log(f"{time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
