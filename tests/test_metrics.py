"""Metrics: one default per task with its direction; scores checked against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from automl.data import TaskType
from automl.errors import ConfigError
from automl.metrics import evaluate, metrics_for, predictions, primary_metric

LN3 = math.log(3.0)
CLASSIFICATION_NAMES = ("roc_auc, accuracy, f1_macro, log_loss, precision, recall, f1, pr_auc, "
                        "balanced_accuracy")


@pytest.mark.parametrize(("task", "name", "direction"), [
    (TaskType.BINARY, "roc_auc", "maximize"),
    (TaskType.MULTICLASS, "accuracy", "maximize"),
    (TaskType.REGRESSION, "rmse", "minimize"),
])
def test_default_metric_per_task(task: TaskType, name: str, direction: str) -> None:
    metric = primary_metric(task)
    assert (metric.name, metric.direction) == (name, direction)
    assert metric.greater_is_better is (direction == "maximize")


@pytest.mark.parametrize(("task", "name", "direction"), [
    (TaskType.BINARY, "log_loss", "minimize"),
    (TaskType.BINARY, "f1_macro", "maximize"),
    (TaskType.MULTICLASS, "roc_auc", "maximize"),
    (TaskType.REGRESSION, "mae", "minimize"),
    (TaskType.REGRESSION, "r2", "maximize"),
])
def test_named_metric_is_chosen(task: TaskType, name: str, direction: str) -> None:
    metric = primary_metric(task, name)
    assert (metric.name, metric.direction) == (name, direction)


@pytest.mark.parametrize(("task", "name", "valid"), [
    (TaskType.BINARY, "rmse", CLASSIFICATION_NAMES),
    (TaskType.MULTICLASS, "auc", CLASSIFICATION_NAMES),
    (TaskType.REGRESSION, "accuracy", "rmse, mae, r2"),
])
def test_unknown_metric_lists_valid_ones(task: TaskType, name: str, valid: str) -> None:
    with pytest.raises(ConfigError) as info:
        primary_metric(task, name)
    message = str(info.value)
    assert repr(name) in message and task.value in message
    assert message.endswith(f"use one of: {valid}")


EVERY_TASK_INPUT = {
    TaskType.BINARY: (np.array([1, 0, 0]), np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])),
    TaskType.MULTICLASS: (np.array([1, 0, 2]),
                          np.array([[0.0, 1.0, -1.0], [1.0, 0.0, 2.0], [2.0, 1.0, 0.0]])),
    TaskType.REGRESSION: (np.array([1.0, 0.0, 2.0]), np.array([[0.5], [0.0], [1.0]])),
}


@pytest.mark.parametrize("task", list(TaskType))
def test_every_metric_of_a_task_is_evaluated(task: TaskType) -> None:
    y, output = EVERY_TASK_INPUT[task]
    scores = evaluate(task, y, output)
    assert set(scores) == {m.name for m in metrics_for(task)}
    assert primary_metric(task).name in scores
    assert all(math.isfinite(v) for v in scores.values())


def test_binary_scores_match_hand_computation() -> None:
    # Softmax of [ln 3, 0] is (0.75, 0.25).
    y = np.array([0, 1, 1, 0])
    logits = np.array([[LN3, 0.0], [0.0, LN3], [LN3, 0.0], [0.0, 0.0]])
    scores = evaluate(TaskType.BINARY, y, logits)
    # Predictions 0, 1, 0, 0 (a tie goes to the first class): 3 of 4 right.
    assert scores["accuracy"] == pytest.approx(0.75)
    # P(true class) = 0.75, 0.75, 0.25, 0.5
    expected_log_loss = -(2 * math.log(0.75) + math.log(0.25) + math.log(0.5)) / 4
    assert scores["log_loss"] == pytest.approx(expected_log_loss)
    # P(1) positives {0.75, 0.25} vs negatives {0.25, 0.5}: pairs won 1 + 1 + 0.5 + 0 of 4.
    assert scores["roc_auc"] == pytest.approx(0.625)
    # Class 0: P = 2/3, R = 1 → F1 0.8; class 1: P = 1, R = 1/2 → F1 2/3.
    assert scores["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_multiclass_scores_match_hand_computation() -> None:
    y = np.array([0, 1, 2, 2])
    logits = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    scores = evaluate(TaskType.MULTICLASS, y, logits)
    assert scores["accuracy"] == pytest.approx(0.75)
    p_hi, p_lo = math.exp(5) / (math.exp(5) + 2), 1 / (math.exp(5) + 2)
    assert scores["log_loss"] == pytest.approx(-(3 * math.log(p_hi) + math.log(p_lo)) / 4)
    # Class 0: P = 1/2, R = 1 → 2/3; class 1: 1; class 2: P = 1, R = 1/2 → 2/3.
    assert scores["f1_macro"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)


def test_log_loss_is_shift_invariant_in_logits_and_safe_for_huge_ones() -> None:
    y = np.array([0, 1])
    logits = np.array([[1.0, 0.0], [0.0, 1.0]])
    base = evaluate(TaskType.BINARY, y, logits)["log_loss"]
    assert evaluate(TaskType.BINARY, y, logits + 1000.0)["log_loss"] == pytest.approx(base)
    confident_wrong = evaluate(TaskType.BINARY, y, np.array([[0.0, 1e4], [1e4, 0.0]]))
    assert math.isfinite(confident_wrong["log_loss"]) and confident_wrong["log_loss"] > 30


def test_regression_scores_match_hand_computation() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    scores = evaluate(TaskType.REGRESSION, y, np.array([[1.0], [2.0], [3.0], [8.0]]))
    assert scores["rmse"] == pytest.approx(2.0)  # sqrt(16 / 4)
    assert scores["mae"] == pytest.approx(1.0)  # 4 / 4
    assert scores["r2"] == pytest.approx(1 - 16 / 5)  # SS_res 16, SS_tot 5


def test_perfect_regression() -> None:
    y = np.array([0.5, -1.0, 3.0])
    scores = evaluate(TaskType.REGRESSION, y, y.reshape(-1, 1))
    assert (scores["rmse"], scores["mae"], scores["r2"]) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize("task", list(TaskType))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_output_gives_nan_scores(task: TaskType, bad: float) -> None:
    d_out = {TaskType.BINARY: 2, TaskType.MULTICLASS: 3, TaskType.REGRESSION: 1}[task]
    output = np.zeros((4, d_out))
    output[2, 0] = bad
    scores = evaluate(task, np.array([0, 1, 0, 1]), output)
    assert set(scores) == {m.name for m in metrics_for(task)}
    assert all(math.isnan(v) for v in scores.values())


def test_predictions_are_probabilities_or_values() -> None:
    proba = predictions(TaskType.MULTICLASS, np.array([[0.0, 0.0, 0.0], [LN3, 0.0, 0.0]]))
    np.testing.assert_allclose(proba.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(proba[0], [1 / 3] * 3)
    np.testing.assert_allclose(proba[1], [0.6, 0.2, 0.2])
    values = predictions(TaskType.REGRESSION, np.array([[1.5], [-2.0]], dtype=np.float32))
    assert values.shape == (2,) and values.dtype == np.float64
    np.testing.assert_array_equal(values, [1.5, -2.0])


# ------------------------------------------------------------------ imbalance metrics vs sklearn
def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, class codes, probabilities): balanced, imbalanced, degenerate and multiclass."""
    rng = np.random.default_rng(0)
    cases = []
    for name, n, k, share in (("binary balanced", 200, 2, 0.5), ("binary 5% positive", 400, 2,
                              0.05), ("binary 1% positive", 1000, 2, 0.01),
                              ("three classes", 300, 3, None), ("five classes", 500, 5, None)):
        if k == 2:
            y = (rng.random(n) < share).astype(np.int64)
            y[:2] = [0, 1]
        else:
            y = rng.choice(k, size=n, p=np.linspace(1, 3, k) / np.linspace(1, 3, k).sum())
        logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        cases.append((name, y, proba))
    y = np.array([0, 0, 0, 1])
    cases.append(("never predicts the positive class", y, np.tile([0.9, 0.1], (4, 1))))
    cases.append(("perfect", y, np.eye(2)[y] * 0.8 + 0.1))
    return cases


def _sklearn(name: str, y: np.ndarray, proba: np.ndarray, positive: int) -> float:
    pred, k = proba.argmax(axis=1), proba.shape[1]
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y, pred)
    if name == "pr_auc":
        if k == 2:
            return skm.average_precision_score(y, proba[:, positive], pos_label=positive)
        return skm.average_precision_score(label_binarize(y, classes=range(k)), proba,
                                           average="macro")
    score = {"precision": skm.precision_score, "recall": skm.recall_score,
             "f1": skm.f1_score}[name]
    if k == 2:
        return score(y, pred, pos_label=positive, zero_division=0)
    return score(y, pred, average="macro", zero_division=0)


@pytest.mark.parametrize("positive", [1, 0])
@pytest.mark.parametrize("name", ["precision", "recall", "f1", "pr_auc", "balanced_accuracy"])
@pytest.mark.parametrize(("case", "y", "proba"), _cases(), ids=[c[0] for c in _cases()])
def test_imbalance_metrics_match_sklearn(case: str, y: np.ndarray, proba: np.ndarray,
                                         name: str, positive: int) -> None:
    task = TaskType.BINARY if proba.shape[1] == 2 else TaskType.MULTICLASS
    metric = primary_metric(task, name, positive)
    assert metric.direction == "maximize"
    expected = _sklearn(name, y, proba, positive if task is TaskType.BINARY else 1)
    assert metric.fn(y, proba) == pytest.approx(expected, abs=1e-12)
    assert evaluate(task, y, np.log(proba), positive)[name] == pytest.approx(expected, abs=1e-9)


def test_positive_class_decides_binary_precision() -> None:
    y, proba = np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    assert primary_metric(TaskType.BINARY, "precision", 1).fn(y, proba) == 0.5
    assert primary_metric(TaskType.BINARY, "precision", 0).fn(y, proba) == 0.5
    assert primary_metric(TaskType.BINARY, "recall", 0).fn(y, proba) == 0.5
    assert primary_metric(TaskType.BINARY, "f1_macro", 0).name == "f1_macro"


@pytest.mark.parametrize(("task", "asked", "guess"), [
    (TaskType.BINARY, "auc", "roc_auc"), (TaskType.BINARY, "F1-score", "f1"),
    (TaskType.BINARY, "balanced_acc", "balanced_accuracy"),
    (TaskType.REGRESSION, "mse", "rmse"), (TaskType.BINARY, "rmse", None),
])
def test_an_unknown_metric_suggests_the_one_meant(task: TaskType, asked: str,
                                                  guess: str | None) -> None:
    """``--metric auc`` (scikit-learn's and most people's name) was refused with a list only."""
    with pytest.raises(ConfigError) as caught:
        primary_metric(task, asked)
    message = str(caught.value)
    assert message.startswith(f"unknown metric {asked!r} for a {task.value} task; ")
    assert (f"did you mean {guess!r}? use one of: " in message) if guess else \
        "did you mean" not in message
