"""The decision threshold of a binary classifier, tuned on validation probabilities.

A row is labelled positive when its positive-class probability is at least the threshold.
:func:`tune_threshold` picks, among the distinct validation probabilities, the threshold that
maximises a :class:`ThresholdMetric`:

* ``f1`` (the default) and ``fbeta:BETA``: the F-beta score of the positive class. The
  threshold is bagged: the mean of the F-beta-best thresholds of :data:`RESAMPLES` bootstrap
  resamples of the validation rows (Poisson weights, a fixed seed), not the single best one,
  which on a few hundred positive rows lands where the validation noise happens to favour
  (measured on held-out rows: ``benchmarks/threshold_rule.py``);
* ``precision@recall:MIN``: the precision, among thresholds whose recall is at least ``MIN``;
* ``recall@precision:MIN``: the recall, among thresholds whose precision is at least ``MIN``
  (these two keep the exact validation best, so the floor holds on the validation rows).

When no threshold meets a ``@`` constraint, the one that comes closest to it is used (the
largest recall, or precision) and :attr:`TunedThreshold.feasible` is ``False``. Ties go to the
lowest threshold. Pure numpy and scikit-learn: the search and the benchmark's baseline share it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm

from automl.errors import ConfigError

Objective = Literal["fbeta", "precision@recall", "recall@precision"]
#: Points of the precision-recall curve kept for the report.
CURVE_POINTS = 200
#: Bootstrap resamples whose F-beta-best thresholds are averaged.
RESAMPLES = 200
_CELLS = 4_000_000  # resample weights drawn at once (rows x resamples), to bound memory
_SYNTAX = re.compile(r"(?P<kind>f1|fbeta|precision@recall|recall@precision)(:(?P<arg>.+))?")
_USAGE = "use f1, fbeta:BETA, precision@recall:MIN or recall@precision:MIN"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdMetric:
    """What the threshold maximises: F-beta (``value`` is beta) or one rate under a floor on
    the other (``value`` is the floor, in (0, 1])."""

    kind: Objective = "fbeta"
    value: float = 1.0

    @classmethod
    def parse(cls, text: str) -> ThresholdMetric:
        """``f1``, ``fbeta:2``, ``precision@recall:0.8`` or ``recall@precision:0.9``.

        Raises:
            ConfigError: anything else (the message shows the four forms).

        >>> ThresholdMetric.parse("precision@recall:0.8")
        ThresholdMetric(kind='precision@recall', value=0.8)
        """
        match = _SYNTAX.fullmatch(text.strip().lower())
        if match is None or (match["kind"] == "f1") == (match["arg"] is not None):
            raise ConfigError(f"--threshold-metric {text!r} is not understood; {_USAGE}")
        if match["kind"] == "f1":
            return cls()
        try:
            value = float(match["arg"])
        except ValueError:
            raise ConfigError(f"--threshold-metric {text!r}: {match['arg']!r} is not a number; "
                              f"{_USAGE}") from None
        top = math.inf if match["kind"] == "fbeta" else 1.0
        if not 0 < value <= top or not math.isfinite(value):
            bound = "a positive number" if match["kind"] == "fbeta" else "in (0, 1]"
            raise ConfigError(f"--threshold-metric {text!r}: the number must be {bound}")
        return cls(kind=match["kind"], value=value)  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.kind == "fbeta":
            return "f1" if self.value == 1.0 else f"fbeta:{self.value:g}"
        return f"{self.kind}:{self.value:g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TunedThreshold:
    """The chosen threshold, its validation precision, recall and metric value, and the
    validation precision-recall curve (at most :data:`CURVE_POINTS` points, recall falling)."""

    value: float
    metric: str
    score: float
    precision: float
    recall: float
    feasible: bool = True
    curve_precision: tuple[float, ...] = ()
    curve_recall: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (stored with the study's final model, drawn by the report)."""
        return {"value": self.value, "metric": self.metric, "score": self.score,
                "precision": self.precision, "recall": self.recall, "feasible": self.feasible,
                "curve": {"precision": list(self.curve_precision),
                          "recall": list(self.curve_recall)}}


def tune_threshold(is_positive: np.ndarray, scores: np.ndarray, metric: ThresholdMetric,
                   resamples: int = RESAMPLES) -> TunedThreshold:
    """The threshold on ``scores`` (positive-class probabilities) that maximises ``metric``
    for the true labels ``is_positive`` (booleans); see the module docstring. F-beta's is
    bagged over ``resamples`` bootstrap resamples (0: the exact validation best, as for the
    ``@`` forms).

    Raises:
        ValueError: no rows, or no positive row (nothing to tune on).

    >>> scores = np.array([0.1, 0.6, 0.4, 0.9])
    >>> tuned = tune_threshold(np.array([0, 0, 1, 1]), scores, ThresholdMetric())
    >>> apply_threshold(scores, tuned.value), tuned.recall
    (array([False,  True,  True,  True]), 1.0)
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    if not is_positive.any():
        raise ValueError("a threshold needs validation rows of the positive class")
    precision, recall, thresholds = skm.precision_recall_curve(is_positive, scores)
    precision, recall = precision[:-1], recall[:-1]  # one point per threshold (ascending)
    objective, constraint = _objective(metric, precision, recall)
    feasible = bool(constraint.any())
    if not feasible:  # come as close to the floor as possible
        closest = recall if metric.kind == "precision@recall" else precision
        constraint = closest >= closest.max()
    if metric.kind == "fbeta" and resamples > 0:
        value = _bagged_fbeta_threshold(is_positive, np.asarray(scores, dtype=float),
                                        metric.value, resamples)
        best = int(np.searchsorted(thresholds, value))  # the cut that labels the same rows
    else:
        best = int(np.argmax(np.where(constraint, objective, -np.inf)))  # first: the lowest
        value = float(thresholds[best])
    step = max(1, math.ceil(len(thresholds) / CURVE_POINTS))
    return TunedThreshold(value=value, metric=str(metric),
                          score=float(objective[best]), precision=float(precision[best]),
                          recall=float(recall[best]), feasible=feasible,
                          curve_precision=tuple(np.round(precision[::step], 4).tolist()),
                          curve_recall=tuple(np.round(recall[::step], 4).tolist()))


def _bagged_fbeta_threshold(is_positive: np.ndarray, scores: np.ndarray, beta: float,
                            resamples: int) -> float:
    """The mean over ``resamples`` Poisson-bootstrap resamples of the rows of the lowest
    threshold with the resample's best F-beta (resamples without a positive row left out)."""
    order = np.argsort(-scores, kind="stable")
    ranked, positive = scores[order], is_positive[order]
    cuts = np.r_[ranked[1:] != ranked[:-1], True]  # the last row of each run of equal scores
    cut_scores, b2 = ranked[cuts], beta ** 2
    rng = np.random.default_rng(0)
    picks = []
    chunk = max(1, _CELLS // len(ranked))
    for start in range(0, resamples, chunk):
        weights = rng.poisson(1.0, size=(min(chunk, resamples - start), len(ranked)))
        tp = np.cumsum(weights * positive, axis=1)[:, cuts]
        fp = np.cumsum(weights * ~positive, axis=1)[:, cuts]
        has_positive = tp[:, -1] > 0
        tp, fp = tp[has_positive], fp[has_positive]
        fbeta = (1 + b2) * tp / np.maximum((1 + b2) * tp + b2 * (tp[:, -1:] - tp) + fp, 1)
        lowest_best = fbeta.shape[1] - 1 - np.argmax(fbeta[:, ::-1], axis=1)
        picks.append(cut_scores[lowest_best])
    return float(np.mean(np.concatenate(picks)))


def _objective(metric: ThresholdMetric, precision: np.ndarray,
               recall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold: the value to maximise and whether the threshold is allowed."""
    if metric.kind == "precision@recall":
        return precision, recall >= metric.value
    if metric.kind == "recall@precision":
        return recall, precision >= metric.value
    b2 = metric.value ** 2
    denom = b2 * precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        fbeta = np.where(denom > 0, (1 + b2) * precision * recall / denom, 0.0)
    return fbeta, np.ones_like(fbeta, dtype=bool)


def apply_threshold(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Booleans: the rows labelled positive (probability at least ``threshold``)."""
    return np.asarray(scores) >= threshold
