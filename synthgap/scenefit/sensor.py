"""The fitted scene's `sensor:` block: the camera-model fit (`adapt.camera.CameraModel`) on
renders of the photos' own views, part pixels only.

Each photo's view is rendered with the template's lights and materials and no sensor effects
(`generators.views`), so render and photo differ by the camera (white balance, tone, vignetting,
blur, noise, JPEG); the camera model's blur, noise, vignetting and JPEG quality become the
scene's sensor ranges. Cost: one render per photo plus the fit (seconds for 20 photos at
640x480 on 2 cores).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgap.scenefit.observations import PhotoObservation
from synthgap.scenes.schema import Scene

__all__ = ["fit_sensor"]


def fit_sensor(template: Scene, observations: Sequence[PhotoObservation], *, seed: int = 0
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the camera model to (render, photo) pairs of the photos' views.

    Args:
        template: the scene (parts, materials, lights) the views are rendered with.
        observations: the photos with their part poses (one intrinsics matrix: the first
            photo's; photos with other intrinsics are left out).
        seed: the fit's random seed.

    Returns:
        `(sensor block, all fitted values)`: the block is a scene `sensor:` mapping; the
        values include the white balance and tone curve (which have no sensor field).

    Raises:
        ValueError: no photo with parts.
    """
    from synthgap.adapt.camera import CameraModel, sensor_block
    from synthgap.generators.real.views import iter_aligned_views
    from synthgap.scenefit.plates import views_scene

    usable = [o for o in observations if o.parts and np.allclose(o.K, observations[0].K)]
    if not usable:
        raise ValueError("sensor fit: no photo with known parts")
    scene = views_scene(template, usable[0].K, usable)
    renders, reals, masks = [], [], []
    for view in iter_aligned_views(scene, seed=seed):
        renders.append(view.render)
        reals.append(view.real)
        masks.append(view.instance_mask)
    cam = CameraModel(seed=seed).fit(renders, reals, rng=np.random.default_rng(seed),
                                     synthetic_masks=masks, real_masks=masks)
    return sensor_block(cam.values), dict(cam.values)
