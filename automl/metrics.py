"""Which metric each task optimises, in which direction, and how every metric is computed.

This table is the one place that decides "maximize vs minimize": the study direction, early
stopping and pruning all read it.

Classification metrics get class codes and probabilities. ``precision``, ``recall``, ``f1`` and
``pr_auc`` (average precision) are about the positive class of a binary target (its class code
``positive``, see :attr:`automl.data.Schema.positive_code`) and macro averages over the classes
of a multiclass one (``pr_auc``: one-vs-rest). Labels come from the largest probability (0.5 for
a binary target); the tuned decision threshold (:mod:`automl.threshold`) applies to
predictions, not to these per-epoch scores.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import sklearn
from scipy.special import log_softmax, softmax
from sklearn import metrics as skm

from automl.config import Direction
from automl.data import TaskType
from automl.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Metric:
    """A named score with its direction; ``fn(y_true, output)`` gets probabilities or values."""

    name: str
    direction: Direction
    fn: Callable[[np.ndarray, np.ndarray], float]

    @property
    def greater_is_better(self) -> bool:
        return self.direction is Direction.MAXIMIZE


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y, proba[:, 1]))
    return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=range(proba.shape[1])))


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    picked = proba[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def _accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == y))


def _f1_macro(y: np.ndarray, proba: np.ndarray) -> float:
    labels = range(proba.shape[1])
    return float(skm.f1_score(y, proba.argmax(axis=1), average="macro", labels=labels,
                              zero_division=0))


def _balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    recalls = skm.recall_score(y, proba.argmax(axis=1), average=None,
                               labels=range(proba.shape[1]), zero_division=0)
    present = np.bincount(y, minlength=proba.shape[1]) > 0
    return float(np.mean(recalls[present]))


def _label_score(score: Callable[..., float], y: np.ndarray, proba: np.ndarray, *,
                 positive: int) -> float:
    """Precision, recall or F1: of class ``positive`` (binary), else macro over the classes."""
    pred = proba.argmax(axis=1)
    if proba.shape[1] == 2:
        return float(score(y == positive, pred == positive, zero_division=0))
    return float(score(y, pred, average="macro", labels=range(proba.shape[1]), zero_division=0))


def _pr_auc(y: np.ndarray, proba: np.ndarray, *, positive: int) -> float:
    """Average precision: of class ``positive`` (binary), else macro one-vs-rest over the
    classes present in ``y``."""
    if proba.shape[1] == 2:
        return float(skm.average_precision_score(y == positive, proba[:, positive]))
    present = [k for k in range(proba.shape[1]) if np.any(y == k)]
    return float(np.mean([skm.average_precision_score(y == k, proba[:, k]) for k in present]))


_LOG_LOSS = Metric("log_loss", Direction.MINIMIZE, _log_loss)


def _classification(positive: int) -> tuple[Metric, ...]:
    return (
        Metric("roc_auc", Direction.MAXIMIZE, _roc_auc),
        Metric("accuracy", Direction.MAXIMIZE, _accuracy),
        Metric("f1_macro", Direction.MAXIMIZE, _f1_macro),
        _LOG_LOSS,
        Metric("precision", Direction.MAXIMIZE,
               partial(_label_score, skm.precision_score, positive=positive)),
        Metric("recall", Direction.MAXIMIZE,
               partial(_label_score, skm.recall_score, positive=positive)),
        Metric("f1", Direction.MAXIMIZE, partial(_label_score, skm.f1_score, positive=positive)),
        Metric("pr_auc", Direction.MAXIMIZE, partial(_pr_auc, positive=positive)),
        Metric("balanced_accuracy", Direction.MAXIMIZE, _balanced_accuracy),
    )


_CLASSIFICATION = {1: _classification(1), 0: _classification(0)}
_REGRESSION = (
    Metric("rmse", Direction.MINIMIZE, _rmse),
    Metric("mae", Direction.MINIMIZE, lambda y, p: float(np.mean(np.abs(y - p)))),
    Metric("r2", Direction.MAXIMIZE, lambda y, p: float(skm.r2_score(y, p))),
)
_DEFAULT = {TaskType.BINARY: "roc_auc", TaskType.MULTICLASS: "accuracy",
            TaskType.REGRESSION: "rmse"}
#: A target whose smallest class holds less than this share of the rows is imbalanced.
IMBALANCED_SHARE = 0.10
#: The default study metric of an imbalanced binary target, and why (shown before a search).
IMBALANCED_DEFAULT = "pr_auc"
IMBALANCED_WHY = ("average precision is decided by how well the rare class is found, while "
                  "ROC-AUC and accuracy look good on the many easy majority rows")


def default_metric(task: TaskType, minority_share: float | None = None) -> str:
    """The study metric when none is asked for: :data:`IMBALANCED_DEFAULT` for a binary target
    whose minority class is under :data:`IMBALANCED_SHARE` of the rows, else the task's own.

    >>> default_metric(TaskType.BINARY, 0.02), default_metric(TaskType.BINARY, 0.24)
    ('pr_auc', 'roc_auc')
    """
    if task is TaskType.BINARY and minority_share is not None \
            and minority_share < IMBALANCED_SHARE:
        return IMBALANCED_DEFAULT
    return _DEFAULT[task]


def metrics_for(task: TaskType, positive: int = 1) -> tuple[Metric, ...]:
    """Every metric logged for ``task`` (``positive``: the positive class code, 0 or 1, of a
    binary target; ignored otherwise)."""
    if not task.is_classification:
        return _REGRESSION
    return _CLASSIFICATION[positive if task is TaskType.BINARY else 1]


#: What other tools call our metrics (scikit-learn's scorers, habit), for "did you mean".
_COMMON_NAMES = {"auc": "roc_auc", "roc": "roc_auc", "auroc": "roc_auc", "acc": "accuracy",
                 "f1_score": "f1", "logloss": "log_loss", "neg_log_loss": "log_loss",
                 "average_precision": "pr_auc", "ap": "pr_auc", "auprc": "pr_auc",
                 "mse": "rmse", "neg_root_mean_squared_error": "rmse",
                 "neg_mean_absolute_error": "mae"}


def primary_metric(task: TaskType, name: str | None = None, positive: int = 1) -> Metric:
    """The metric that drives the study: ``name`` if given, else the task's default
    (``positive`` as in :func:`metrics_for`).

    Raises:
        ConfigError: ``name`` is not a metric of this task (the message lists the valid ones).

    >>> primary_metric(TaskType.REGRESSION).direction.value
    'minimize'
    """
    name = name or _DEFAULT[task]
    for metric in metrics_for(task, positive):
        if metric.name == name:
            return metric
    names = [m.name for m in metrics_for(task)]
    asked = _COMMON_NAMES.get(name.lower().replace("-", "_"), name.lower())
    close = [asked] if asked in names else difflib.get_close_matches(asked, names, n=1,
                                                                      cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"unknown metric {name!r} for a {task.value} task; {guess}use one of: "
                      f"{', '.join(names)}")


def predictions(task: TaskType, output: np.ndarray) -> np.ndarray:
    """Network output → class probabilities (classification) or values (regression)."""
    if task.is_classification:
        return softmax(output.astype(np.float64), axis=1)
    return output.reshape(-1).astype(np.float64)


def evaluate(task: TaskType, y_true: np.ndarray, output: np.ndarray,
             positive: int = 1, only: Metric | None = None) -> dict[str, float]:
    """Every metric of ``task`` (or ``only`` that one) for raw network ``output`` (logits, or
    values in target units); ``positive`` as in :func:`metrics_for`.

    Non-finite outputs give NaN scores instead of raising.

    >>> evaluate(TaskType.BINARY, np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 2.0]]))["accuracy"]
    1.0
    """
    metrics = (only,) if only is not None else metrics_for(task, positive)
    if not np.all(np.isfinite(output)):
        return {m.name: float("nan") for m in metrics}
    # The targets (rows without one are dropped on loading) and the output are finite and the
    # parameters are this module's own: scikit-learn's checks of both, which cost more than the
    # scores on a few hundred rows, are skipped.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        if task.is_classification:
            proba = np.exp(log_softmax(output.astype(np.float64), axis=1))
            return {m.name: m.fn(y_true, proba) for m in metrics}
        pred = output.reshape(-1).astype(np.float64)
        return {m.name: m.fn(y_true.astype(np.float64), pred) for m in metrics}


def validation_loss(task: TaskType, y_true: np.ndarray, output: np.ndarray) -> float:
    """The ``log_loss`` of raw classification ``output`` (logits) against class codes: what
    breaks ties between epochs of equal score (:class:`~automl.train.EarlyStopping`,
    :func:`~automl.folds.crossfit_epochs`). NaN for regression, whose scores are losses
    already, and for non-finite outputs.

    >>> round(validation_loss(TaskType.BINARY, np.array([0, 1]), np.zeros((2, 2))), 4)
    0.6931
    """
    if not task.is_classification:
        return float("nan")
    return evaluate(task, y_true, output, only=_LOG_LOSS)[_LOG_LOSS.name]
