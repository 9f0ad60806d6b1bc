"""``automl importance``: each column's permutation importance to a study's model.

The mechanics on known functions (a column the model ignores scores exactly 0, an input column's
encoded columns move together, the rows are left as they were), then the command on the
session's shared studies (conftest.shared_study: real searches, only read here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli, one_error_line
from conftest import SharedStudy

from automl.data import TaskType
from automl.importance import permutation_importances
from automl.metrics import primary_metric

RMSE = primary_metric(TaskType.REGRESSION, "rmse")


def test_a_column_the_model_ignores_scores_zero_and_one_it_uses_scores_its_loss() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    before = x.copy()
    y = 2.0 * x[:, 0]
    found = permutation_importances(lambda m: 2.0 * m[:, 0], x, y, RMSE,
                                    {"used": [0], "ignored": [1], "also": [2]}, repeats=3)
    by_name = {c.column: c for c in found.columns}
    assert found.columns[0].column == "used"
    # shuffling x0 leaves an error of 2·(x0 − shuffled x0): an RMSE near 2·√2 on unit normals
    assert 2.0 < by_name["used"].mean < 3.6
    assert by_name["ignored"].mean == by_name["also"].mean == 0.0
    assert found.baseline == 0.0 and not found.greater_is_better
    np.testing.assert_array_equal(x, before)


def test_an_input_columns_encoded_columns_are_shuffled_together() -> None:
    """A model of x0 − x1 loses nothing when both move as one block, and does when they move
    apart."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    x[:, 1] = x[:, 0]  # two encodings of one input column

    def predict(m: np.ndarray) -> np.ndarray:
        return m[:, 0] - m[:, 1]

    y = np.zeros(len(x))
    together = permutation_importances(predict, x, y, RMSE, {"column": [0, 1]})
    apart = permutation_importances(predict, x, y, RMSE, {"a": [0], "b": [1]})
    assert together.columns[0].mean == 0.0
    assert min(c.mean for c in apart.columns) > 0.5


def test_feature_columns_cover_the_matrix_and_shuffling_them_is_shuffling_the_input(
        shared_study: Callable[..., SharedStudy]) -> None:
    plan = shared_study("binary").plan
    pre = plan.preprocessor
    frame = pd.read_csv(plan.cfg.csv_path).head(60)
    blocks = pre.feature_columns()
    matrix = pre.transform(frame)
    assert sorted(j for block in blocks.values() for j in block) == list(range(matrix.shape[1]))
    order = np.random.default_rng(0).permutation(len(frame))
    for name, block in blocks.items():
        shuffled = frame.copy()
        shuffled[name] = frame[name].to_numpy()[order]
        expected = matrix.copy()
        expected[:, list(block)] = matrix[np.ix_(order, list(block))]
        np.testing.assert_array_equal(pre.transform(shuffled), expected)


@pytest.mark.parametrize(("task", "metric", "change"),
                         [("binary", "roc_auc", "falls"), ("regression", "rmse", "rises")])
def test_importance_ranks_the_columns_the_target_is_made_of_first(
        shared_study: Callable[..., SharedStudy], task: str, metric: str, change: str) -> None:
    """The shared CSV's target is made of x1 and x2 (x1 + 0.5·x2); its ``color`` is noise. (The
    shared models train 3 epochs, too few to weigh x1 and x2 right: only the noise's place
    is asserted.)"""
    cfg = shared_study(task).cfg
    stores = ["--storage", cfg.storage_url, "--tracking-uri", cfg.tracking_uri]
    code, stdout, stderr = cli("importance", cfg.study_name, str(cfg.csv_path), *stores)
    assert code == 0, stderr
    assert f"{metric} " in stdout and f"how much it {change} when" in stdout
    code, stdout, _ = cli("importance", cfg.study_name, str(cfg.csv_path), "--json",
                          "--repeats", "2", *stores)
    found = json.loads(stdout)
    ranked = [c["column"] for c in found["columns"]]
    assert set(ranked[:2]) == {"x1", "x2"} and ranked[2] == "color"
    assert found["metric"] == metric and found["repeats"] == 2 and found["rows"] == 120
    by_name = {c["column"]: c["mean"] for c in found["columns"]}
    assert min(by_name["x1"], by_name["x2"]) > abs(by_name["color"])


def test_importance_draws_at_most_the_rows_asked(shared_study: Callable[..., SharedStudy],
                                                  tmp_path: Path) -> None:
    cfg = shared_study("binary").cfg
    code, stdout, _ = cli("importance", cfg.study_name, str(cfg.csv_path), "--rows", "50",
                          "--metric", "accuracy", "--storage", cfg.storage_url,
                          "--tracking-uri", cfg.tracking_uri)
    assert code == 0
    assert "on 50 of the 120 labelled rows" in stdout and "accuracy" in stdout


@pytest.mark.parametrize(("change", "expected"), [
    ("no target", "no target column 'y'; importance is measured on labelled rows"),
    ("bad metric", "unknown metric 'rmse' for a binary task; use one of: roc_auc"),
    ("one class", "roc_auc is undefined on these rows (e.g. rows of one class); use more rows "
                  "or another --metric"),
])
def test_importance_refuses_in_one_line(shared_study: Callable[..., SharedStudy], tmp_path: Path,
                                        change: str, expected: str) -> None:
    cfg = shared_study("binary").cfg
    frame = pd.read_csv(cfg.csv_path)
    path = tmp_path / "rows.csv"
    if change == "no target":
        frame = frame.drop(columns="y")
    elif change == "one class":
        frame = frame[frame["y"] == "yes"]
    frame.to_csv(path, index=False)
    extra = ["--metric", "rmse"] if change == "bad metric" else []
    code, _, stderr = cli("importance", cfg.study_name, str(path), *extra, "--storage",
                          cfg.storage_url, "--tracking-uri", cfg.tracking_uri)
    assert code == 2
    assert expected in one_error_line(stderr)
