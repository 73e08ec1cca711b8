"""Fit a key light and the ambient light to photos at known poses, by render-and-compare.

The scene's pinned views (`real_views`: photos with their camera and part poses, in one world
frame with +z up; `synthgap.tune.frames.plane_world_scene` makes one per photo for BOP
photos) are rendered small and compared with the photos **on part pixels only**
(the parts' masks from the poses, eroded by one pixel; saturated photo pixels left out).

The model: one `directional` key light (elevation, azimuth, RGB intensity) plus RGB ambient
light. Pyrender sums lights in linear light, so a render of the view is, per channel c and
pixel, `k_c · R(elevation, azimuth) + a_c · A` with `R` the render under a unit white key
light alone and `A` the render under unit white ambient alone (both decoded from the
shader's 1/2.2 gamma to linear). Only the direction needs new renders: a coarse grid of
directions, then Nelder-Mead (`scipy.optimize.minimize`) from the best; for each direction
the six gains `k, a` are solved in closed form by non-negative least squares, reweighted
to an L1 fit (a few iterations of IRLS: robust to pixels the model cannot explain, such as
an unlabelled object in front of a part). The loss is the relative L1 error
`Σ|photo − model| / Σ photo` over the part pixels of all views, in linear RGB.

`fit_lights` returns a `LightFit` (fitted values and a `lights:`/`background.ambient` block
for the scene file), `light_loss` the same loss of a scene's own lights on chosen views,
`cross_validate_lights` the k-fold before/after comparison on held-out views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synthgap.generators.look.colour import temperature_to_rgb
from synthgap.generators.parts.assets import PartAsset, load_parts
from synthgap.scenes.fields import as_color
from synthgap.scenes.lights import LightConfig
from synthgap.scenes.schema import Scene
from synthgap.scenes.surroundings import SensorConfig

__all__ = ["DEFAULT_FIT_SIZE", "LightFit", "cross_validate_lights", "fit_lights",
           "light_fit_from_dict", "light_loss", "light_losses", "with_fitted_lights"]

#: Render size of the fit, pixels (width, height); the photos are reduced to it (area mean).
DEFAULT_FIT_SIZE = (160, 120)
#: Photo pixels at or above this (any channel, 0-255) are saturated and left out.
_SATURATED = 250
#: Display gamma of pyrender's shader output (and the decoding used for the photos).
_GAMMA = 2.2


@dataclass(frozen=True)
class LightFit:
    """A fitted key light and ambient light.

    Attributes:
        elevation: key light elevation above the support plane, degrees.
        azimuth: key light azimuth around world +z, degrees in [0, 360).
        key_rgb: the key light's intensity times its colour per channel, W/m² (linear).
        ambient_rgb: ambient light RGB (linear, `background.ambient`).
        loss: relative L1 error on the fit views' part pixels (see the module docstring).
        views: the `real_views` indices it was fitted on.
        evaluations: light directions rendered.
    """

    elevation: float
    azimuth: float
    key_rgb: tuple[float, float, float]
    ambient_rgb: tuple[float, float, float]
    loss: float
    views: tuple[int, ...]
    evaluations: int

    @property
    def intensity(self) -> float:
        """Key light intensity, W/m² (its largest channel: colours have a largest channel 1)."""
        return max(self.key_rgb)

    @property
    def color(self) -> tuple[float, float, float]:
        """Key light colour, linear RGB with largest channel 1 (white when it is dark)."""
        i = self.intensity
        if i <= 0:
            return (1.0, 1.0, 1.0)
        r, g, b = (c / i for c in self.key_rgb)
        return (r, g, b)

    @property
    def temperature_k(self) -> float:
        """The blackbody temperature whose colour is nearest `color` (chromaticity), kelvin."""
        target = np.asarray(self.color) / max(sum(self.color), 1e-9)
        kelvins = np.geomspace(1000.0, 40000.0, 400)
        errs = [np.abs(np.asarray(temperature_to_rgb(k)) / sum(temperature_to_rgb(k)) - target
                       ).sum() for k in kelvins]
        return float(kelvins[int(np.argmin(errs))])

    def lights_block(self) -> dict[str, Any]:
        """Scene-file keys: `{"lights": [key light], "background": {"ambient": [r, g, b]}}`."""
        return {"lights": [{"type": "directional", "intensity": round(self.intensity, 4),
                            "color": [round(c, 4) for c in self.color],
                            "elevation": round(self.elevation, 2),
                            "azimuth": round(self.azimuth, 2)}],
                "background": {"ambient": [round(min(c, 1.0), 4) for c in self.ambient_rgb]}}

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready, with `intensity`, `color` and `temperature_k`."""
        d = asdict(self)
        d.update(intensity=self.intensity, color=list(self.color),
                 temperature_k=self.temperature_k)
        return d


def _linear(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float64) / 255.0) ** _GAMMA


def _view_scene(scene: Scene, lights: Sequence[dict[str, Any]] | None,
                ambient: Sequence[float] | None) -> Scene:
    """The scene as the fit renders it: no sensor effects, no per-view light overrides,
    midpoint appearance; `lights`/`ambient` replace the scene's when given."""
    update: dict[str, Any] = {"sensor": SensorConfig(), "real_views": tuple(
        v.model_copy(update={"lights": None, "appearance": "midpoint"})
        for v in scene.real_views)}
    if lights is not None:
        update["lights"] = tuple(LightConfig.model_validate(d) for d in lights)
    if ambient is not None:
        update["background"] = scene.background.model_copy(
            update={"ambient": as_color([float(c) for c in ambient])})
    return scene.model_copy(update=update)


class _FitData:
    """The photos' part pixels and the ambient basis of some views, at the fit size."""

    def __init__(self, scene: Scene, views: Sequence[int], size: tuple[int, int],
                 parts: dict[str, PartAsset] | None) -> None:
        from synthgap.generators.gl.renderer import Renderer

        if not scene.real_views:
            raise ValueError("the scene has no real_views: list the photos with the camera and "
                             "part poses they were taken at (docs/scenes.md)")
        bad = [i for i in views if not 0 <= i < len(scene.real_views)]
        if bad or not views:
            raise ValueError(f"views: expected indices in [0, {len(scene.real_views) - 1}], "
                             f"got {list(views)}")
        self.scene = scene.with_image_size(*size)
        self.parts = parts if parts is not None else load_parts(scene)
        self.views = tuple(views)
        self.size = size
        self.renderer = Renderer(*size)
        self.renders = 0
        images = [self._read(i) for i in self.views]
        self.masks = [np.ones(im.shape[:2], bool) for im in images]  # replaced just below
        self.ambient = self._render(self._variant_lights(0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                                    images=images)
        self.photos = [_linear(im[m]) for im, m in zip(images, self.masks, strict=True)]
        if sum(len(p) for p in self.photos) < 10:
            raise ValueError("fewer than 10 part pixels in the fit views at "
                             f"{size[0]}x{size[1]}: are the parts in view?")

    @staticmethod
    def _variant_lights(elevation: float, azimuth: float, intensity: float
                        ) -> list[dict[str, Any]]:
        return [{"type": "directional", "intensity": intensity, "color": [1.0, 1.0, 1.0],
                 "elevation": float(np.clip(elevation, -90.0, 90.0)),
                 "azimuth": float(azimuth % 360.0)}]

    def _read(self, index: int) -> np.ndarray:
        import cv2

        from synthgap.data.layout import read_image

        img = read_image(self.scene.real_views[index].photo)
        if img.shape[1::-1] != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        return img

    def _render(self, lights: list[dict[str, Any]], ambient: tuple[float, float, float], *,
                images: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Part pixels of each view's render; with `images` (the photos), first set the masks:
        the rendered parts, eroded by one pixel, where the photo is not saturated."""
        import cv2

        from synthgap.generators.real.views import iter_pinned_renders

        variant = _view_scene(self.scene, lights, ambient)
        out: list[np.ndarray] = []
        for k, (_, _, res) in enumerate(iter_pinned_renders(
                variant, renderer=self.renderer, parts=self.parts, view_indices=self.views)):
            self.renders += 1
            if images is not None:
                m = cv2.erode((res.instance_mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
                self.masks[k] = (m > 0) & (images[k].max(axis=2) < _SATURATED)
            out.append(_linear(res.rgb[self.masks[k]]))
        return out

    def key(self, elevation: float, azimuth: float) -> list[np.ndarray]:
        """Part pixels `(n_i, 3)` of each view under a unit white key light alone."""
        return self._render(self._variant_lights(elevation, azimuth, 1.0), (0.0, 0.0, 0.0))

    def scene_lights(self) -> list[np.ndarray]:
        """Part pixels `(n_i, 3)` of each view under the scene's own lights and ambient."""
        from synthgap.generators.real.views import iter_pinned_renders

        variant = _view_scene(self.scene, None, None)
        renders = iter_pinned_renders(variant, renderer=self.renderer, parts=self.parts,
                                      view_indices=self.views)
        return [_linear(res.rgb[m]) for m, (_, _, res) in zip(self.masks, renders, strict=True)]

    def close(self) -> None:
        self.renderer.close()


def _solve_gains(photo: np.ndarray, key: np.ndarray, ambient: np.ndarray, *, iterations: int = 5
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-channel non-negative `k, a` minimising `Σ|photo − k·key − a·ambient|` (IRLS).

    Args:
        photo, key, ambient: `(N, 3)` linear part pixels.

    Returns:
        `(k (3,), a (3,), relative L1 loss)`.
    """
    from scipy.optimize import nnls

    k, a = np.zeros(3), np.zeros(3)
    delta = 1e-3 + 1e-2 * float(photo.mean())
    for c in range(3):
        X = np.stack([key[:, c], ambient[:, c]], axis=1)
        y = photo[:, c]
        w = np.ones(len(y))
        coef = np.zeros(2)
        for _ in range(iterations):
            sw = np.sqrt(w)
            coef, _ = nnls(X * sw[:, None], y * sw)
            w = 1.0 / np.maximum(np.abs(y - X @ coef), delta)
        k[c], a[c] = coef
    resid = photo - key * k - ambient * a
    return k, a, float(np.abs(resid).sum() / max(photo.sum(), 1e-12))


def _direction_loss(data: _FitData, elevation: float, azimuth: float
                    ) -> tuple[float, np.ndarray, np.ndarray]:
    key = np.concatenate(data.key(elevation, azimuth))
    k, a, loss = _solve_gains(np.concatenate(data.photos), key, np.concatenate(data.ambient))
    return loss, k, a


def fit_lights(scene: Scene, *, views: Sequence[int] | None = None,
               size: tuple[int, int] = DEFAULT_FIT_SIZE,
               elevations: Sequence[float] = (15.0, 40.0, 65.0, 90.0),
               azimuth_step: float = 45.0, max_refine: int = 30,
               parts: dict[str, PartAsset] | None = None) -> LightFit:
    """Fit one directional key light and the ambient light to the photos of `views`.

    Args:
        scene: a scene with `real_views` in one world frame (+z up).
        views: indices of the views to fit on (default: all).
        size: render size (width, height), pixels; the photos are reduced to it.
        elevations: the coarse grid's elevations, degrees (90: straight down).
        azimuth_step: the coarse grid's azimuth step, degrees.
        max_refine: most directions Nelder-Mead renders after the grid.
        parts: the scene's part library if loaded (default: `load_parts(scene)`).

    Returns:
        The `LightFit`. Deterministic: renders and solvers hold no randomness.

    Raises:
        ValueError: no views, indices out of range, or too few part pixels.
    """
    from scipy.optimize import minimize

    views = tuple(range(len(scene.real_views))) if views is None else tuple(views)
    data = _FitData(scene, views, size, parts)
    cache: dict[tuple[float, float], tuple[float, np.ndarray, np.ndarray]] = {}

    def evaluate(x: Sequence[float]) -> float:
        e = float(np.clip(x[0], 0.0, 90.0))
        az = 0.0 if e >= 89.99 else float(x[1]) % 360.0
        key = (round(e, 3), round(az, 3))
        if key not in cache:
            cache[key] = _direction_loss(data, e, az)
        return cache[key][0]

    try:
        grid = [(e, az) for e in elevations
                for az in (np.arange(0.0, 360.0, azimuth_step) if e < 89.99 else [0.0])]
        start = min(grid, key=evaluate)
        step = max(azimuth_step / 3.0, 5.0)
        simplex = np.array([start, (start[0] - step / 2, start[1]), (start[0], start[1] + step)])
        minimize(evaluate, np.asarray(start), method="Nelder-Mead",
                 options={"initial_simplex": simplex, "maxfev": max_refine, "xatol": 0.5,
                          "fatol": 1e-5})
    finally:
        data.close()
    (e, az), (loss, k, a) = min(cache.items(), key=lambda kv: kv[1][0])
    return LightFit(elevation=e, azimuth=az, key_rgb=(float(k[0]), float(k[1]), float(k[2])),
                    ambient_rgb=(float(a[0]), float(a[1]), float(a[2])), loss=loss,
                    views=views, evaluations=len(cache))


def with_fitted_lights(scene: Scene, fit: LightFit) -> Scene:
    """The scene with `lights` = the fitted key light and `background.ambient` = the fitted
    ambient (everything else kept)."""
    block = fit.lights_block()
    return _view_scene(scene, block["lights"], block["background"]["ambient"]).model_copy(
        update={"sensor": scene.sensor, "real_views": scene.real_views})


def light_losses(scene: Scene, *, views: Sequence[int],
                 size: tuple[int, int] = DEFAULT_FIT_SIZE,
                 parts: dict[str, PartAsset] | None = None) -> tuple[float, list[float]]:
    """The relative L1 error of the scene's own lights (at their midpoints) on the part pixels
    of `views`, as `fit_lights` measures it, with no gains fitted (no sensor effects).

    Returns:
        `(loss over all the views' part pixels, [loss of each view])`.
    """
    data = _FitData(scene, views, size, parts)
    try:
        models = data.scene_lights()
    finally:
        data.close()
    per_view = [float(np.abs(p - m).sum() / max(p.sum(), 1e-12))
                for p, m in zip(data.photos, models, strict=True)]
    photo, model = np.concatenate(data.photos), np.concatenate(models)
    return float(np.abs(photo - model).sum() / max(photo.sum(), 1e-12)), per_view


def light_loss(scene: Scene, *, views: Sequence[int], size: tuple[int, int] = DEFAULT_FIT_SIZE,
               parts: dict[str, PartAsset] | None = None) -> float:
    """`light_losses`' loss over all the views' part pixels."""
    return light_losses(scene, views=views, size=size, parts=parts)[0]


def light_fit_from_dict(d: dict[str, Any]) -> LightFit:
    """The `LightFit` of `LightFit.to_dict()` output (e.g. read back from JSON)."""
    return LightFit(elevation=float(d["elevation"]), azimuth=float(d["azimuth"]),
                    key_rgb=(float(d["key_rgb"][0]), float(d["key_rgb"][1]),
                             float(d["key_rgb"][2])),
                    ambient_rgb=(float(d["ambient_rgb"][0]), float(d["ambient_rgb"][1]),
                                 float(d["ambient_rgb"][2])),
                    loss=float(d["loss"]), views=tuple(int(v) for v in d["views"]),
                    evaluations=int(d["evaluations"]))


def cross_validate_lights(scene: Scene, *, folds: int = 2, size: tuple[int, int] =
                          DEFAULT_FIT_SIZE, views: Sequence[int] | None = None,
                          **fit_kwargs: Any) -> dict[str, Any]:
    """k-fold light fit: fit on all views but one fold, measure on that fold.

    Views are dealt to folds in turn (view j to fold j mod `folds`).

    Returns:
        `{"folds": [{"fit_views", "held_out_views", "fit": LightFit dict, "loss_before",
        "loss_after", "view_loss_before", "view_loss_after"}], "loss_before", "loss_after"}`
        (the held-out losses' means; before = the scene's own lights, after = the fitted
        ones; `view_loss_*`: per held-out view).
    """
    views = tuple(range(len(scene.real_views))) if views is None else tuple(views)
    if folds < 2 or len(views) < folds:
        raise ValueError(f"folds: expected 2..{len(views)} (one view per fold at least), "
                         f"got {folds}")
    parts = load_parts(scene)
    out = []
    for f in range(folds):
        held = tuple(v for j, v in enumerate(views) if j % folds == f)
        train = tuple(v for j, v in enumerate(views) if j % folds != f)
        fit = fit_lights(scene, views=train, size=size, parts=parts, **fit_kwargs)
        after, after_v = light_losses(with_fitted_lights(scene, fit), views=held, size=size,
                                      parts=parts)
        before, before_v = light_losses(scene, views=held, size=size, parts=parts)
        out.append({"fit_views": list(train), "held_out_views": list(held),
                    "fit": fit.to_dict(), "loss_before": before, "loss_after": after,
                    "view_loss_before": before_v, "view_loss_after": after_v})
    return {"folds": out, "loss_before": float(np.mean([o["loss_before"] for o in out])),
            "loss_after": float(np.mean([o["loss_after"] for o in out]))}

