"""Scenes tuned against the photos: light fit by render-and-compare, optuna search of knobs.

`fit_lights` (`synthgap.tune.lights`) fits a key light and the ambient light to photos at
known poses on part pixels; `plane_world_scene` (`synthgap.tune.frames`) first puts each
photo into the frame of the plane its parts stand on (BOP photos come in camera frames).
The knob search (`synthgap tune`) lives in `synthgap.tune.search`. Above generators and gap,
below cli.
"""

from __future__ import annotations

from synthgap.tune.frames import PlaneWorld, plane_world_scene
from synthgap.tune.lights import (
    DEFAULT_FIT_SIZE,
    LightFit,
    cross_validate_lights,
    fit_lights,
    light_fit_from_dict,
    light_loss,
    light_losses,
    with_fitted_lights,
)

__all__ = ["DEFAULT_FIT_SIZE", "LightFit", "PlaneWorld", "cross_validate_lights", "fit_lights",
           "light_fit_from_dict", "light_loss", "light_losses", "plane_world_scene",
           "with_fitted_lights"]
