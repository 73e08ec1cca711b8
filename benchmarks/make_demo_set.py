"""Regenerate the real-photo demo set shipped in `synthgap/demo_data/lmo_mini/` from LM-O.

A reduced Linemod-Occluded (BOP) scene in BOP layout, small enough to ship (about 1 MB):

* `models/obj_0000NN.ply` — 4 of the 8 objects (ape, can, cat, duck), decimated to
  `FACES` triangles (quadric decimation, `fast-simplification` through trimesh), per-vertex
  colours carried over from the nearest original vertex, millimetres, binary PLY;
  `models_info.json` for those 4;
* `000002/rgb/NNNNNN.jpg` — 30 photos at 320×240 (JPEG quality 85): the first 10 ids of the LM-O
  `fit` split (the demo's "few photos of my camera", used for adaptation and background
  plates) and 20 ids of the LM-O `test` split, every 9th (held out: only evaluated on);
  `scene_gt.json`, `scene_gt_info.json` (boxes halved), `scene_camera.json` (`cam_K` halved)
  for the 4 objects; `splits.json` (`fit`, `test`);
* `plates/NNNNNN.jpg` — the 10 fit photos with **every** LM-O object removed
  (`synthgap.scenefit.plates`: the 8 objects' masks rendered from their poses at full
  resolution, dilated 9 px, filled; then halved): backgrounds without labelled objects;
* `LICENSE.source-repo` (copied) and `ATTRIBUTION.md`.

Usage:

    python benchmarks/make_demo_set.py [--data ../shared/data/lmo]
        [--out synthgap/demo_data/lmo_mini]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OBJECTS = {1: "ape", 5: "can", 6: "cat", 9: "duck"}
FACES = 2500
SCALE = 0.5
N_FIT, N_TEST, TEST_STEP = 10, 20, 9
JPEG_QUALITY = 85
SCENE = "000002"

ATTRIBUTION = """# lmo_mini: a reduced Linemod-Occluded scene for `synthgap demo`

Derived from the BOP benchmark's **Linemod-Occluded (LM-O)** dataset, scene 2:

- E. Brachmann, A. Krull, F. Michel, S. Gumhold, J. Shotton, C. Rother. *Learning 6D Object
  Pose Estimation using 3D Object Coordinates.* ECCV 2014 (the occlusion annotations).
- S. Hinterstoisser, V. Lepetit, S. Ilic, S. Holzer, G. Bradski, K. Konolige, N. Navab.
  *Model Based Training, Detection and Pose Estimation of Texture-Less 3D Objects in Heavily
  Cluttered Scenes.* ACCV 2012 (the LINEMOD objects, meshes and photos).
- T. Hodaň et al. *BOP: Benchmark for 6D Object Pose Estimation.* ECCV 2018 (the BOP format).

Taken from the copy in GitHub yufu-wang/6D_Pose (`data/bop/lmo/`), whose repository licence
(MIT) is in `LICENSE.source-repo`. Changes: 4 of the 8 objects (1 ape, 5 can, 6 cat, 9 duck),
meshes decimated to {faces} triangles with their vertex colours; 30 of the 200 photos, resized
to 320x240 and re-encoded as JPEG (quality {quality}); intrinsics and boxes scaled by 0.5;
annotations of the other 4 objects removed; `plates/` are the 10 fit photos with all 8 objects
removed (masks rendered from their poses, dilated, inpainted). Regenerate with
`benchmarks/make_demo_set.py`.
"""


def decimate(src: Path, dst: Path, faces: int) -> int:
    """Decimate a coloured PLY to about `faces` triangles; returns the bytes written."""
    import trimesh
    from scipy.spatial import cKDTree

    mesh = trimesh.load(src, process=False)
    small = mesh.simplify_quadric_decimation(face_count=faces)
    colours = np.asarray(mesh.visual.vertex_colors)
    _, nearest = cKDTree(mesh.vertices).query(small.vertices)
    small.visual = trimesh.visual.ColorVisuals(small, vertex_colors=colours[nearest])
    dst.write_bytes(small.export(file_type="ply", encoding="binary"))
    return dst.stat().st_size


def _scaled_entry(info: dict) -> dict:
    out = dict(info)
    for key in ("bbox_obj", "bbox_visib"):
        if key in out:
            out[key] = [round(v * SCALE) for v in out[key]]
    for key in ("px_count_all", "px_count_valid", "px_count_visib"):
        if key in out:
            out[key] = round(out[key] * SCALE * SCALE)
    return out


def write_scene(data: Path, out: Path, ids: list[int]) -> None:
    """Photos and annotations of `ids` (4 objects only) into `out/SCENE/`."""
    src = data / "test" / SCENE
    dst = out / SCENE
    (dst / "rgb").mkdir(parents=True)
    gts = json.loads((src / "scene_gt.json").read_text())
    infos = json.loads((src / "scene_gt_info.json").read_text())
    cams = json.loads((src / "scene_camera.json").read_text())
    gt_out, info_out, cam_out = {}, {}, {}
    for i in ids:
        key = str(i)
        keep = [k for k, e in enumerate(gts[key]) if e["obj_id"] in OBJECTS]
        gt_out[key] = [gts[key][k] for k in keep]
        info_out[key] = [_scaled_entry(infos[key][k]) for k in keep]
        K = np.array(cams[key]["cam_K"], float).reshape(3, 3)
        K[:2] *= SCALE
        cam_out[key] = {**cams[key], "cam_K": [round(float(v), 5) for v in K.ravel()]}
        img = cv2.imread(str(src / "rgb" / f"{i:06d}.png"))
        small = cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dst / "rgb" / f"{i:06d}.jpg"), small,
                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    for name, obj in (("scene_gt.json", gt_out), ("scene_gt_info.json", info_out),
                      ("scene_camera.json", cam_out)):
        (dst / name).write_text(json.dumps(obj, indent=1) + "\n")


def write_plates(data: Path, out: Path, ids: list[int]) -> dict[str, float]:
    """The fit photos with every LM-O object removed (`synthgap.scenefit.plates`), halved, into
    `out/plates/`; returns the plate report's shares."""
    import tempfile

    from synthgap.scenefit.observations import from_bop
    from synthgap.scenefit.plates import photo_masks
    from synthgap.scenefit.plates import write_plates as scenefit_plates
    from synthgap.scenes.bop import bop_scene_to_scene, read_bop_scene

    scene_dir = data / "test" / SCENE
    template = bop_scene_to_scene(read_bop_scene(scene_dir, image_ids=ids))  # all 8 objects
    obs = from_bop([scene_dir], template, image_ids=ids)
    (out / "plates").mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        report = scenefit_plates(obs, photo_masks(template, obs), tmp)
        for o, path in zip(obs, report.files, strict=True):
            img = cv2.imread(str(path))
            small = cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(out / "plates" / f"{o.photo.stem}.jpg"), small,
                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return {"object_share_before": report.object_share_before,
            "object_share_after": report.object_share_after,
            "inpainted_share": report.inpainted_share, "copied_share": report.copied_share}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lmo")
    ap.add_argument("--out", type=Path, default=REPO / "synthgap" / "demo_data" / "lmo_mini")
    args = ap.parse_args()
    out: Path = args.out
    keep = {"scene.yaml"}  # hand-written, not generated
    if out.exists():
        for p in out.iterdir():
            if p.name in keep or p.name == "__init__.py":
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    splits = json.loads((args.data / "splits.json").read_text())
    fit_ids = sorted(splits["fit"])[:N_FIT]
    test_ids = sorted(splits["test"])[::TEST_STEP][:N_TEST]
    (out / "models").mkdir()
    info = json.loads((args.data / "models" / "models_info.json").read_text())
    for obj in OBJECTS:
        size = decimate(args.data / "models" / f"obj_{obj:06d}.ply",
                        out / "models" / f"obj_{obj:06d}.ply", FACES)
        print(f"obj_{obj:06d}.ply: {size / 1024:.0f} KiB")
    (out / "models" / "models_info.json").write_text(
        json.dumps({str(o): info[str(o)] for o in OBJECTS}, indent=1) + "\n")
    (out / "models" / "names.json").write_text(
        json.dumps({str(o): n for o, n in OBJECTS.items()}, indent=1) + "\n")
    write_scene(args.data, out, sorted(fit_ids + test_ids))
    shares = write_plates(args.data, out, fit_ids)
    print("plates: " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items()))
    (out / "splits.json").write_text(json.dumps({"fit": fit_ids, "test": test_ids}, indent=1)
                                     + "\n")
    shutil.copy(args.data / "LICENSE.source-repo", out / "LICENSE.source-repo")
    (out / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(faces=FACES, quality=JPEG_QUALITY))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
