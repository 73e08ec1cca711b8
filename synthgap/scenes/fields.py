"""What every scene model shares: the frozen pydantic base and the constrained field types.

Units: metres, degrees, linear RGB in [0, 1]. Every field typed `FloatDist`, `IntDist` or
`ColorDist` accepts the variation forms of `synthgap.scenes.distributions`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from synthgap.scenes.distributions import Bounded, ColorDist, FloatDist

__all__ = ["Angle", "Elevation", "NonNeg", "Positive", "Probability", "SceneModel", "Unit",
           "Vec3", "as_color", "as_dist"]

#: A distribution of values in [0, 1].
Unit = Annotated[FloatDist, AfterValidator(Bounded(0.0, 1.0))]
#: A distribution of values >= 0.
NonNeg = Annotated[FloatDist, AfterValidator(Bounded(0.0))]
#: A distribution of values > 0.
Positive = Annotated[FloatDist, AfterValidator(Bounded(0.0, open_low=True))]
#: A distribution of elevations in [-90, 90] degrees.
Elevation = Annotated[FloatDist, AfterValidator(Bounded(-90.0, 90.0))]
#: A distribution of finite angles, degrees.
Angle = Annotated[FloatDist, AfterValidator(Bounded())]
#: A probability in [0, 1].
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: A 3-vector (x, y, z).
Vec3 = tuple[float, float, float]


def as_dist(raw: object) -> FloatDist:
    """`raw` (a number, `[lo, hi]`, `{normal: ...}`, `{choice: ...}`) as a `FloatDist`."""
    return FloatDist.model_validate(raw)


def as_color(raw: object) -> ColorDist:
    """`raw` (an RGB triple or a range/choice of them) as a `ColorDist`."""
    return ColorDist.model_validate(raw)


class SceneModel(BaseModel):
    """Base of every scene model: frozen, unknown keys rejected, defaults validated, field
    docstrings as descriptions, no inf/nan."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True,
                              populate_by_name=True, use_attribute_docstrings=True,
                              allow_inf_nan=False)
