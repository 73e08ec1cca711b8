"""Camera-model fit (`--method camera`): a real camera's look as a few physical parameters.

`CameraModel.fit` estimates from renders and a few real photos (`synthgap.adapt.camera_estimate`)
the camera's white balance, tone curve, vignetting, blur (MTF), noise level as a function of
intensity and JPEG quality. `transform` applies them to a render in the camera's order:

    white balance -> tone curve (on luma, chroma kept) -> vignetting -> Gaussian blur
    -> noise with std sqrt(a + b·I) per channel -> JPEG round trip

Every step is deterministic: the noise pattern is drawn from a seed made of the model's `seed`
and a hash of the image's bytes, so the same render always gives the same bytes (and two
different renders different noise). `sensor_block` turns the fitted values into a scene file's
`sensor:` block (`synthgap.scenes.schema.SensorConfig`), so renders can be made with the
camera's blur, noise, vignetting and JPEG directly; the white balance and tone curve have no
`sensor:` field and are written as comments beside it (use this adapter, or chain it, to apply
them). Each step can be switched off for ablations (constructor flags, `--set white_balance=false`
on the command line).

Estimated robustly from a handful of photos: noise level and its intensity dependence, blur,
JPEG quality (when below ~90). Confounded with scene content when photos and renders are
unpaired: white balance, tone curve and vignetting (see `camera_estimate`). Not estimated:
lens distortion (a geometric change; calibrate it and put it in the scene's camera), chromatic
aberration, fixed-pattern noise, rolling shutter, colour cross-talk beyond per-channel gains.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from typing import Any, ClassVar, Self, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from synthgap.adapt import camera_estimate as est
from synthgap.adapt.image_base import ImageAdapter, fit_images, grey_rgb, register, require_tensors
from synthgap.generators.camera.sensor import jpeg_round_trip

__all__ = ["GLOBAL_IMAGES", "LOCAL_IMAGES", "CameraModel", "apply_camera", "sensor_block",
           "sensor_yaml", "spread"]

_FLAGS = ("white_balance", "tone", "vignetting", "blur", "noise", "jpeg")

#: Renders and photos that the colour estimates (white balance, tone curve, vignetting) read
#: at most, evenly spread over each set (global statistics: more add time, not accuracy).
GLOBAL_IMAGES = 64
#: Renders and photos that the local estimates (noise curve, blur, JPEG quality) read at most.
LOCAL_IMAGES = 16
#: Trials of one blur search (`camera_estimate.blur_sigma_match`: 7 coarse + at most 8 fine).
_BLUR_EVALS = 15
#: Noise levels tried by the JPEG calibration of the noise curve.
_JPEG_NOISE_GRID = range(16)

_T = TypeVar("_T")


def spread(items: Sequence[_T], n: int) -> list[_T]:
    """At most `n` of `items`, evenly spread over them (all of them when there are fewer)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n).round()]


def apply_camera(image: np.ndarray, *, gains: np.ndarray, tone: np.ndarray | None,
                 vignetting: float, blur_sigma: float, noise_a: float, noise_b: float,
                 jpeg_quality: int | None, seed: int,
                 unit_noise: np.ndarray | None = None) -> np.ndarray:
    """Apply a camera model to one render (pure function).

    Args:
        image: `(H, W, 3) uint8` RGB render.
        gains: `(3,)` white-balance gains of R, G, B.
        tone: `(256,) float32` luma curve (output luma in [0, 1] per input level), or None.
        vignetting: corner darkening in [0, 1).
        blur_sigma: Gaussian sigma, pixels (0 = none).
        noise_a, noise_b: noise std `sqrt(a + b·I)` as a fraction of full scale, I the local
            intensity in [0, 1]; drawn independently per channel.
        jpeg_quality: 1-100, or None for no JPEG round trip.
        seed: seed of the noise pattern.
        unit_noise: `gaussian_noise(image.shape, seed)` computed beforehand, to reuse when
            the same image is degraded many times (the fit's blur search); None: drawn here.

    Returns:
        `(H, W, 3) uint8` RGB.

    Raises:
        ValueError: a non-finite result (a corrupt model).
    """
    from synthgap.generators.camera.sensor import gaussian_noise, vignetting_gain

    img = image.astype(np.float32) * np.asarray(gains, np.float32)[None, None, :]
    if tone is not None:
        y = np.clip(img @ est.LUMA, 0.0, 255.0)
        # look up with linear interpolation between levels; scale RGB to keep chroma
        y_new = np.interp(y, np.arange(256, dtype=np.float32), np.asarray(tone) * 255.0)
        ratio = np.where(y > 0.5, y_new / np.maximum(y, 0.5), 1.0).astype(np.float32)
        img = img * ratio[:, :, None]
        dark = y <= 0.5
        img[dark] = y_new[dark, None]
    if vignetting > 0:
        img *= vignetting_gain(img.shape[0], img.shape[1], float(vignetting))[:, :, None]
    if blur_sigma > 0:
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), float(blur_sigma)), np.float32)
    if noise_a > 0 or noise_b > 0:
        level = np.clip(img / 255.0, 0.0, 1.0)
        std = np.sqrt(noise_a + noise_b * level) * 255.0
        unit = gaussian_noise(img.shape, seed) if unit_noise is None else unit_noise
        img = img + unit * std
    if not np.isfinite(img).all():
        raise ValueError("camera model: produced non-finite pixels; the model file is corrupt "
                         "(refit it)")
    out: npt.NDArray[np.uint8] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        out = jpeg_round_trip(out, int(jpeg_quality))
    return out


def _content_seed(image: np.ndarray, seed: int) -> int:
    h = hashlib.blake2b(image.tobytes(), digest_size=8, key=int(seed).to_bytes(8, "little"))
    return int.from_bytes(h.digest(), "little") >> 1


@register
class CameraModel(ImageAdapter):
    """Fit and apply a physical camera model (see the module docstring).

    Args:
        white_balance, tone, vignetting, blur, noise, jpeg: estimate and apply that step
            (False: leave it out, for ablations).
        seed: mixed into every image's noise seed (the image's own bytes are the rest).
    """

    method: ClassVar[str] = "camera"

    def __init__(self, white_balance: bool = True, tone: bool = True, vignetting: bool = True,
                 blur: bool = True, noise: bool = True, jpeg: bool = True, seed: int = 0) -> None:
        for name, value in zip(_FLAGS, (white_balance, tone, vignetting, blur, noise, jpeg),
                               strict=True):
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"{name}: expected true or false, got {value!r}")
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
        self.flags = dict(zip(_FLAGS, (bool(white_balance), bool(tone), bool(vignetting),
                                       bool(blur), bool(noise), bool(jpeg)), strict=True))
        self.seed = int(seed)
        self.gains: np.ndarray | None = None
        self.tone_curve: np.ndarray | None = None
        self.values: dict[str, Any] = {}
        self.grey = False

    @property
    def fitted(self) -> bool:
        return self.gains is not None

    def fit(self, synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], *,
            rng: np.random.Generator, synthetic_masks: Sequence[np.ndarray] | None = None,
            real_masks: Sequence[np.ndarray] | None = None) -> Self:
        """Estimate each enabled step on renders already corrected by the steps before it.

        The colour steps (white balance, tone curve, vignetting) read at most `GLOBAL_IMAGES`
        renders and photos, the local ones (noise, blur, JPEG) at most `LOCAL_IMAGES`, evenly
        spread over each set: more add time, not accuracy. A progress bar goes to stderr when
        it is a terminal.

        Args:
            synthetic_masks, real_masks: optional `(H, W)` label maps (0 = background), both
                or neither: white balance, tone curve and vignetting are then measured on
                part pixels only (a render's stand-in background says nothing about the
                camera); vignetting needs parts at 3 or more radii, else it is 0.
        """
        from tqdm import tqdm

        syn, real, self.grey = fit_images(synthetic, real)
        if synthetic_masks is None or real_masks is None:
            synthetic_masks = real_masks = None  # one side only: compare whole images
        else:
            from synthgap.adapt.image_pairing import check_masks

            synthetic_masks = check_masks(synthetic_masks, syn, "synthetic_masks")
            real_masks = check_masks(real_masks, real, "real_masks")
        f = self.flags
        n_blur = _BLUR_EVALS * (1 + f["noise"]) if f["blur"] else 0
        with tqdm(total=4 + 2 * f["noise"] + n_blur, desc="camera fit", unit="step",
                  file=sys.stderr, disable=None, leave=False) as bar:
            gains, tone, vig = self._fit_colour(syn, real, synthetic_masks, real_masks, bar)
            local = [self._apply(s, gains=gains, tone=tone, vignetting=vig)
                     for s in spread(syn, LOCAL_IMAGES)]
            real_local = spread(real, LOCAL_IMAGES)
            q = est.jpeg_quality_estimate(real_local) if f["jpeg"] else None
            if q is not None and f["noise"]:  # the noise curve is calibrated through JPEG
                bar.total += len(_JPEG_NOISE_GRID)
            bar.update()
            a, b, sigma, levels, sigmas = self._fit_noise_blur(local, real_local, q, bar)
            bar.update(bar.total - bar.n)
        self.gains = np.asarray(gains, np.float64)
        self.tone_curve = None if tone is None else np.asarray(tone, np.float32)
        gain, gamma = est.fit_gamma(tone) if tone is not None else (1.0, 1.0)
        self.values = {
            "white_balance": [round(float(g), 4) for g in self.gains],
            "tone_gain": round(gain, 4), "tone_gamma": round(gamma, 4),
            "vignetting": round(float(vig), 4), "blur_sigma": round(float(sigma), 3),
            "noise_a": float(a), "noise_b": float(b),
            "noise_mid": round(float(np.sqrt(a + 0.5 * b)), 5),
            "noise_levels": [round(float(v), 4) for v in levels],
            "noise_sigmas": [round(float(v), 5) for v in sigmas],
            "jpeg_quality": q,
        }
        return self

    def _fit_colour(self, syn: list[np.ndarray], real: list[np.ndarray],
                    synthetic_masks: Sequence[np.ndarray] | None,
                    real_masks: Sequence[np.ndarray] | None, bar: Any
                    ) -> tuple[np.ndarray, np.ndarray | None, float]:
        """White balance gains, tone curve and vignetting, each on renders corrected by the
        ones before, from at most `GLOBAL_IMAGES` renders and photos (with their masks)."""
        f = self.flags
        i_s = spread(range(len(syn)), GLOBAL_IMAGES)
        i_r = spread(range(len(real)), GLOBAL_IMAGES)
        syn, real = [syn[i] for i in i_s], [real[i] for i in i_r]
        sm = None if synthetic_masks is None else [synthetic_masks[i] for i in i_s]
        rm = None if real_masks is None else [real_masks[i] for i in i_r]
        gains = est.white_balance_gains(syn, real, synthetic_masks=sm, real_masks=rm) \
            if f["white_balance"] and not self.grey else np.ones(3)
        bar.update()
        tone = None
        if f["tone"]:
            syn_wb = [self._apply(s, gains=gains, tone=None) for s in syn]
            tone = est.tone_lut(syn_wb, real, synthetic_masks=sm, real_masks=rm)
        bar.update()
        vig = 0.0
        if f["vignetting"]:
            syn_t = [self._apply(s, gains=gains, tone=tone) for s in syn]
            vig = est.vignetting_strength(syn_t, real, synthetic_masks=sm, real_masks=rm)
        bar.update()
        return gains, tone, vig

    def _fit_noise_blur(self, syn: list[np.ndarray], real: list[np.ndarray], q: int | None,
                        bar: Any) -> tuple[float, float, float, np.ndarray, np.ndarray]:
        """Noise curve and blur, estimated together: `(a, b, sigma, levels, sigmas)`.

        Noise makes edges look sharper and blur hides the renders' fine texture (which the
        noise estimate subtracts), so: noise on the unblurred renders, blur given that noise,
        noise again on renders blurred by that sigma, then a calibration through JPEG and
        JPEG (the photos' noise was measured after it; the added noise passes through it too,
        and JPEG removes much of it), then the blur again. Each render's noise pattern is
        drawn once and reused by every trial.
        """
        from synthgap.generators.camera.sensor import gaussian_noise

        f = self.flags
        a = b = sigma = 0.0
        levels = sigmas = np.zeros(0)
        unit = [gaussian_noise(im.shape, i) for i, im in enumerate(syn)] \
            if f["noise"] else [None] * len(syn)

        def degrade(images: Sequence[np.ndarray], s: float, na: float = 0.0, nb: float = 0.0
                    ) -> list[np.ndarray]:
            return [apply_camera(im, gains=np.ones(3), tone=None, vignetting=0.0, blur_sigma=s,
                                 noise_a=na, noise_b=nb, jpeg_quality=q, seed=i,
                                 unit_noise=unit[i])
                    for i, im in enumerate(images)]

        if f["noise"]:
            a, b, levels, sigmas = est.noise_curve(syn, real)
            bar.update()
        if f["blur"]:
            sigma = est.blur_sigma_match(syn, real, degrade=lambda im, s: degrade(im, s, a, b),
                                         on_trial=bar.update)
        if f["noise"]:
            clean = degrade(syn, sigma)
            a, b, levels, sigmas = est.noise_curve(clean, real)
            bar.update()
            if q is not None and a + b > 0:
                a, b = self._through_jpeg(clean, a, b, q, unit, bar)
        if f["blur"] and f["noise"]:
            sigma = est.blur_sigma_match(syn, real, degrade=lambda im, s: degrade(im, s, a, b),
                                         on_trial=bar.update)
        return a, b, sigma, levels, sigmas

    @staticmethod
    def _through_jpeg(clean: list[np.ndarray], a: float, b: float, q: int,
                      unit: Sequence[np.ndarray | None], bar: Any) -> tuple[float, float]:
        """Scale the noise curve so that, after the JPEG round trip, it measures `(a, b)`.

        JPEG quantisation removes small noise non-linearly, so the scale is searched: the
        curve's shape (a : b) is kept and its mid-grey std is tried on a log grid from 0.002
        to 0.12 of full scale; the one whose measured mid-grey std is closest wins.
        """
        target = np.sqrt(a + 0.5 * b)
        fa, fb = a / (a + 0.5 * b), b / (a + 0.5 * b)
        best, best_err = 1.0, np.inf
        for t in np.geomspace(max(target, 0.002), 0.12, len(_JPEG_NOISE_GRID)):
            noisy = [apply_camera(im, gains=np.ones(3), tone=None, vignetting=0.0,
                                  blur_sigma=0.0, noise_a=fa * t * t, noise_b=fb * t * t,
                                  jpeg_quality=q, seed=i, unit_noise=unit[i])
                     for i, im in enumerate(clean)]
            a2, b2, _, _ = est.noise_curve(clean, noisy)
            err = abs(np.sqrt(a2 + 0.5 * b2) - target)
            if err < best_err:
                best, best_err = t * t, err
            bar.update()
        return fa * best, fb * best

    def _apply(self, image: np.ndarray, *, gains: np.ndarray, tone: np.ndarray | None,
               vignetting: float = 0.0) -> np.ndarray:
        return apply_camera(image, gains=gains, tone=tone, vignetting=vignetting, blur_sigma=0.0,
                            noise_a=0.0, noise_b=0.0, jpeg_quality=None, seed=0)

    def _transform_image(self, image: np.ndarray) -> np.ndarray:
        if self.grey:
            image = grey_rgb(image)
        v = self.values
        out = apply_camera(image, gains=self._fitted_value(self.gains), tone=self.tone_curve,
                           vignetting=v["vignetting"], blur_sigma=v["blur_sigma"],
                           noise_a=v["noise_a"], noise_b=v["noise_b"],
                           jpeg_quality=v["jpeg_quality"], seed=_content_seed(image, self.seed))
        return grey_rgb(out) if self.grey else out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tensors = {"gains": self._fitted_value(self.gains).astype(np.float32)}
        if self.tone_curve is not None:
            tensors["tone"] = self.tone_curve.astype(np.float32)
        return tensors, {"flags": dict(self.flags), "seed": self.seed, "grey": self.grey,
                         "values": dict(self.values)}

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Self:
        from synthgap.adapt.modelfile import model_array, model_flag

        require_tensors(tensors, ["gains"], cls.method)
        gains = model_array(tensors["gains"], "gains", shape=(3,), lo=1e-3, hi=100.0)
        tone = tensors.get("tone")
        if tone is not None:
            tone = model_array(tone, "tone", shape=(256,), lo=0.0, hi=255.0).astype(np.float32)
        self = cls(**{k: model_flag(v, f"flags.{k}") for k, v in
                      dict(config.get("flags", {})).items() if k in _FLAGS},
                   seed=int(model_array(config.get("seed", 0), "seed", lo=0, hi=2**32 - 1)))
        values = dict(config["values"])
        for key, hi in (("vignetting", 0.999), ("blur_sigma", 50.0), ("noise_a", 1.0),
                        ("noise_b", 1.0)):  # the bounds of a scene's sensor block
            model_array(values.get(key), f"values.{key}", lo=0.0, hi=hi)
        q = values.get("jpeg_quality")
        if q is not None and not (isinstance(q, int) and not isinstance(q, bool)
                                  and 1 <= q <= 100):
            raise ValueError(f"values.jpeg_quality: expected 1-100 or null, got {q!r}")
        self.gains, self.tone_curve, self.values = gains, tone, values
        self.grey = model_flag(config.get("grey", False), "grey")
        return self


def sensor_block(values: dict[str, Any]) -> dict[str, Any]:
    """A scene file's `sensor:` mapping from a camera model's fitted `values`.

    The scene's sensor noise is one std for all intensities: the fitted curve's value at
    mid-grey (`noise_mid`) is used.
    """
    block: dict[str, Any] = {"noise": float(values["noise_mid"]),
                             "blur_sigma": float(values["blur_sigma"]),
                             "vignetting": float(values["vignetting"])}
    if values.get("jpeg_quality") is not None:
        block["jpeg_quality"] = int(values["jpeg_quality"])
    return block


def _find_camera(adapter: ImageAdapter) -> CameraModel | None:
    if isinstance(adapter, CameraModel):
        return adapter
    for step in getattr(adapter, "steps", ()):
        if isinstance(step, CameraModel):
            return step
    return None


def sensor_yaml(adapter: ImageAdapter) -> str:
    """YAML text `sensor: {...}` (validated as a scene `SensorConfig`) with the fitted values,
    and the fitted white balance, tone curve and noise curve as comments.

    Args:
        adapter: a fitted `CameraModel`, or a `Chain` holding one.

    Raises:
        ValueError: no camera model in `adapter`.
    """
    import yaml

    from synthgap.scenes.schema import SensorConfig

    cam = _find_camera(adapter)
    if cam is None or not cam.fitted:
        raise ValueError("sensor block: needs a fitted camera model (--method camera, or a "
                         "chain such as camera+conv-smcae)")
    v = cam.values
    block = sensor_block(v)
    SensorConfig.model_validate(block)  # what a scene file will accept
    lines = [
        "# fitted by `synthgap adapt fit --method camera` (synthgap.adapt.camera)",
        f"# white balance gains R, G, B (no sensor field; apply with the adapter): "
        f"{v['white_balance']}",
        f"# tone curve ~ {v['tone_gain']} * luma ^ {v['tone_gamma']} (no sensor field)",
        f"# noise std = sqrt({v['noise_a']:.3g} + {v['noise_b']:.3g} * I); measured at I = "
        f"{v['noise_levels']}: {v['noise_sigmas']}",
    ]
    text: str = yaml.safe_dump({"sensor": block}, sort_keys=False)
    return "\n".join(lines) + "\n" + text
