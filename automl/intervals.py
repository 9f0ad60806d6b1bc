"""Prediction intervals of a regression model, by split conformal prediction.

The final model's errors on rows it did not train on (the validation rows, or out of fold in a
cross-validated study: the rows the final step selects on, see :mod:`automl.final`) calibrate
an interval around each prediction that holds a new row's true value with the asked
probability, whatever the model (Vovk et al. 2005; Lei et al. 2018): for a level ``c``, the
half-width is the ``ceil((n + 1) c)``-th smallest of the ``n`` absolute errors. A target the
model learned on a log scale (see :attr:`automl.features.Preprocessor.target_log`) is
calibrated on that scale, so an interval widens with the prediction as its errors do.

Only a summary of the errors is kept (their quantiles at every hundredth), plain JSON in the
model's bundle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.errors import ConfigError

#: The quantiles of the calibration errors kept: at 0, 1/GRID, ..., 1.
GRID = 100


@dataclass(frozen=True, slots=True)
class Conformal:
    """The calibration of a regression model's intervals: its ``n`` errors' quantiles (at
    every ``1 / GRID``), on the log scale when ``log``."""

    quantiles: tuple[float, ...]
    n: int
    log: bool = False

    @classmethod
    def fit(cls, y_true: np.ndarray, y_pred: np.ndarray, log: bool = False) -> Conformal:
        """The calibration of predictions ``y_pred`` of rows whose values are ``y_true`` (in
        the target's units; ``log``: errors taken between their ``log1p``).

        Raises:
            ValueError: no row.
        """
        if not len(y_true):
            raise ValueError("conformal intervals need at least one calibration row")
        errors = np.abs(_scaled(np.asarray(y_true, float), log)
                        - _scaled(np.asarray(y_pred, float), log))
        grid = np.quantile(errors, np.linspace(0.0, 1.0, GRID + 1))
        return cls(quantiles=tuple(float(q) for q in grid), n=len(errors), log=log)

    def half_width(self, level: float) -> float:
        """The half-width (on the calibration's scale) of intervals that hold a new value with
        probability ``level``: the ``ceil((n + 1) level)``-th smallest of the ``n`` errors (the
        largest when that rank passes ``n``), read from the kept quantiles.

        >>> nine = Conformal.fit(np.arange(1.0, 10.0), np.zeros(9))
        >>> nine.half_width(0.9), nine.half_width(0.5)
        (9.0, 5.0)
        """
        rank = min(math.ceil((self.n + 1) * level), self.n)
        at = (rank - 1) / (self.n - 1) if self.n > 1 else 1.0  # np.quantile's linear positions
        return float(np.interp(at, np.linspace(0.0, 1.0, GRID + 1), self.quantiles))

    def bounds(self, prediction: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """The lower and upper ends of the ``level`` intervals around ``prediction`` (target
        units; a log-scale target's lower end is never below 0)."""
        width, center = self.half_width(level), _scaled(np.asarray(prediction, float), self.log)
        if not self.log:
            return center - width, center + width
        return np.maximum(np.expm1(center - width), 0.0), np.expm1(center + width)

    def coverage(self, y_true: np.ndarray, prediction: np.ndarray, level: float) -> float:
        """The share of ``y_true`` inside the ``level`` intervals around ``prediction``."""
        lower, upper = self.bounds(prediction, level)
        return float(np.mean((y_true >= lower) & (y_true <= upper)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (kept in the model's bundle)."""
        return {"quantiles": list(self.quantiles), "n": self.n, "log": self.log}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conformal:
        """The calibration :meth:`to_dict` saved."""
        return cls(quantiles=tuple(data["quantiles"]), n=int(data["n"]),
                   log=bool(data.get("log", False)))


def check_level(level: float, option: str = "--interval") -> float:
    """``level`` if it is a probability strictly between 0 and 1.

    Raises:
        ConfigError: it is not (the message names it as ``option``, how it was asked).
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"{option} {level:g} is not a coverage; give one between 0 and 1, "
                          "such as 0.9 for 90% intervals")
    return level


def interval_columns(level: float) -> tuple[str, str]:
    """The names of the ``level`` interval's ends in a prediction frame.

    >>> interval_columns(0.9), interval_columns(0.975)
    (('lower_90', 'upper_90'), ('lower_97.5', 'upper_97.5'))
    """
    percent = f"{100 * level:g}"
    return f"lower_{percent}", f"upper_{percent}"


def _scaled(values: np.ndarray, log: bool) -> np.ndarray:
    return np.log1p(np.maximum(values, 0.0)) if log else values
