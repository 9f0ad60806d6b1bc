"""Probabilities a classifier's users can read as frequencies: temperature scaling.

A network's probabilities are often too sure or too unsure of themselves (Guo et al. 2017);
label smoothing, which the search tries, and averaging several networks make them unsure.
One number, the temperature ``T``, rescales the final model's log-probabilities
(``softmax(log p / T)``) to minimise their log-loss on the rows the final model was chosen on
(the validation rows, or out of fold). It keeps every row's order and largest class, so ROC-AUC,
accuracy and the ranking of the trials are unchanged; the log-loss, and how often a 0.8 is right,
improve.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

#: The temperatures searched, as ``log T`` (``T`` from about 0.05 to 20).
_LOG_T_BOUNDS = (-3.0, 3.0)
#: The smallest probability a log is taken of (a 0 stays finite: log 1e-300 ≈ −691).
_FLOOR = 1e-300


def log_probabilities(proba: np.ndarray) -> np.ndarray:
    """``log proba``, zeros floored to a finite log: logits whose softmax gives ``proba``
    back (what an ensemble's averaged probabilities become, and the temperature divides)."""
    return np.log(np.clip(proba, _FLOOR, None))


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> float:
    """The temperature that minimises the log-loss of :func:`rescaled` ``proba`` (rows ×
    classes) against class codes ``y``; 1.0 when none does better than 1.

    >>> y = np.array([0, 1] * 50)
    >>> unsure = np.where(np.eye(2)[y] == 1, 0.6, 0.4)  # always right, at 0.6
    >>> fit_temperature(y, unsure) < 0.1
    True
    """
    logits = log_probabilities(proba)
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, y]))

    best = minimize_scalar(loss, bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(best.x)) if best.fun < loss(0.0) else 1.0


def rescaled(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``proba`` (rows × classes) at ``temperature``: ``softmax(log proba / T)``."""
    return softmax(log_probabilities(proba) / temperature, axis=1)
