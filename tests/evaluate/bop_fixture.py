"""A second BOP-layout data set made from LM-O for the evaluation tests: two scene folders,
per-image intrinsics (each photo a different crop of the original, downsized), three objects
as OBJ meshes in metres, names in a names file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import trimesh

LMO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lmo"
SCENE = LMO / "test" / "000002"
OBJECTS = {1: "ape", 9: "duck", 11: "glue"}
#: photos per scene folder (LM-O image ids), chosen for the three objects being visible
PHOTOS = {"000001": [3, 61, 102], "000002": [162, 224, 283]}
SIZE = (160, 120)


def make_bop_fixture(dst: Path) -> Path:
    """Write the data set under `dst` (returned); `dst/names.json` names the objects."""
    cams = json.loads((SCENE / "scene_camera.json").read_text())
    gts = json.loads((SCENE / "scene_gt.json").read_text())
    infos = json.loads((SCENE / "scene_gt_info.json").read_text())
    (dst / "models").mkdir(parents=True)
    for obj_id in OBJECTS:
        mesh = trimesh.load(LMO / "models" / f"obj_{obj_id:06d}.ply", process=False)
        mesh.apply_scale(0.001)  # millimetres -> metres
        mesh.export(dst / "models" / f"obj_{obj_id:06d}.obj")
    (dst / "names.json").write_text(json.dumps({str(k): v for k, v in OBJECTS.items()}))
    for s, (scene, ids) in enumerate(PHOTOS.items()):
        out = dst / "test" / scene
        (out / "rgb").mkdir(parents=True)
        cam_out, gt_out, info_out = {}, {}, {}
        for j, image_id in enumerate(ids):
            a = 4 * (j + s)  # each photo its own crop: its own cam_K
            x0, y0, w, h = 4 * a, 3 * a, 640 - 8 * a, 480 - 6 * a
            scale = SIZE[0] / w
            photo = cv2.imread(str(SCENE / "rgb" / f"{image_id:06d}.png"))
            cv2.imwrite(str(out / "rgb" / f"{image_id:06d}.png"),
                        cv2.resize(photo[y0:y0 + h, x0:x0 + w], SIZE,
                                   interpolation=cv2.INTER_AREA))
            K = np.array(cams[str(image_id)]["cam_K"], float).reshape(3, 3)
            K[0, 2] -= x0
            K[1, 2] -= y0
            K[:2] *= scale
            cam_out[str(image_id)] = {"cam_K": K.ravel().tolist(), "depth_scale": 1.0}
            keep = [k for k, e in enumerate(gts[str(image_id)]) if e["obj_id"] in OBJECTS]
            gt_out[str(image_id)] = [gts[str(image_id)][k] for k in keep]
            info_out[str(image_id)] = []
            for k in keep:
                inf = dict(infos[str(image_id)][k])
                bx, by, bw, bh = inf["bbox_visib"]
                inf["bbox_visib"] = [round((bx - x0) * scale), round((by - y0) * scale),
                                     round(bw * scale), round(bh * scale)]
                info_out[str(image_id)].append(inf)
        for name, data in (("scene_camera.json", cam_out), ("scene_gt.json", gt_out),
                           ("scene_gt_info.json", info_out)):
            (out / name).write_text(json.dumps(data))
    return dst
