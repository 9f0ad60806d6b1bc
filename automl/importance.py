"""Permutation importance of a model's input columns (Breiman 2001; Fisher et al. 2019).

A column's importance is how much the metric worsens on labelled rows when that column's values
are shuffled among the rows, which breaks its link to the target and keeps its distribution:
positive where the model needs the column, about 0 where it does not (a small negative is
noise). scikit-learn's ``permutation_importance`` shuffles one matrix column at a time; an input
column here is several matrix columns (each scaling's block, a missing flag, one-hot levels;
:meth:`~automl.features.Preprocessor.feature_columns`), so they are shuffled together, rows of
all of them moving as one.

:func:`importance_csv` does it for a study's model on a labelled CSV (``automl importance``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import UndefinedMetricWarning

from automl.config import IMPORTANCE_REPEATS, IMPORTANCE_ROWS
from automl.errors import DataError
from automl.metrics import Metric, predictions, primary_metric
from automl.predict import ModelSource, feature_renames, labelled_rows, load_model
from automl.reading import read_csv


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnImportance:
    """How much the metric worsened with ``column`` shuffled: mean and standard deviation over
    the shuffles, in the metric's units (positive: worse)."""

    column: str
    mean: float
    std: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Importances:
    """The metric on the rows as given (``baseline``; ``greater_is_better`` says its
    direction) and each column's importance, most important first."""

    metric: str
    greater_is_better: bool
    baseline: float
    rows: int
    repeats: int
    columns: tuple[ColumnImportance, ...]

    def to_json(self) -> dict[str, object]:
        """Plain JSON: the fields, each column as ``{"column", "mean", "std"}``."""
        return {"metric": self.metric, "greater_is_better": self.greater_is_better,
                "baseline": self.baseline, "rows": self.rows,
                "repeats": self.repeats,
                "columns": [{"column": c.column, "mean": c.mean, "std": c.std}
                            for c in self.columns]}


def permutation_importances(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                            y_true: np.ndarray, metric: Metric,
                            columns: Mapping[str, Sequence[int]], *,
                            repeats: int = IMPORTANCE_REPEATS, seed: int = 0) -> Importances:
    """Each input column's permutation importance.

    Args:
        predict: the model on a feature matrix: probabilities or values, as ``metric.fn``
            takes them.
        x: the rows' feature matrix; not modified.
        y_true: class codes or values, as ``metric.fn`` takes them.
        columns: input column → the columns of ``x`` that encode it.
        repeats: shuffles per column; each column's are drawn from ``seed`` alone, so its
            importance does not depend on the other columns.

    Raises:
        ValueError: the metric is undefined on these rows as given (e.g. ROC-AUC of one class).
    """
    baseline = float(metric.fn(y_true, predict(x)))
    if not math.isfinite(baseline):
        raise ValueError(f"{metric.name} is undefined on these rows")
    sign = 1.0 if metric.greater_is_better else -1.0
    found = []
    for name, index in columns.items():
        rng, shuffled, losses = np.random.default_rng(seed), x.copy(), []
        block = list(index)
        for _ in range(repeats):
            shuffled[:, block] = x[np.ix_(rng.permutation(len(x)), block)]
            losses.append(sign * (baseline - float(metric.fn(y_true, predict(shuffled)))))
        found.append(ColumnImportance(column=name, mean=float(np.mean(losses)),
                                      std=float(np.std(losses))))
    found.sort(key=lambda c: -c.mean)
    return Importances(metric=metric.name, greater_is_better=metric.greater_is_better,
                       baseline=baseline, rows=len(x), repeats=repeats,
                       columns=tuple(found))


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvImportances:
    """:func:`importance_csv`'s answer: the importances, the model they are of, the CSV's
    labelled rows (``of_rows`` of them; ``importances.rows`` were used), and the columns the
    model does not use (dropped when it was trained: ``(column, why)``)."""

    importances: Importances
    source: ModelSource
    of_rows: int
    unused: tuple[tuple[str, str], ...]


def importance_csv(storage_url: str, study_name: str, csv_path: Path | str, *,
                   trial: int | None = None, tracking_uri: str | None = None,
                   metric: str | None = None, repeats: int = IMPORTANCE_REPEATS,
                   max_rows: int = IMPORTANCE_ROWS,
                   seed: int = 0) -> CsvImportances:
    """The permutation importance of each column the study's final model (or trial
    ``trial``'s) uses, on the labelled rows of ``csv_path``, by ``metric`` (``None``: the
    study's).

    Raises:
        DataError: the CSV is unreadable, lacks a feature column or the target column, has no
            labelled row, or the metric is undefined on its rows.
        StudyNotFoundError, ConfigError: the study, trial or model cannot be found; ``metric``
            is not one of the task's.
    """
    frame, _ = read_csv(csv_path)
    bundle, source = load_model(storage_url, study_name, trial=trial, tracking_uri=tracking_uri)
    schema = bundle.schema
    chosen = primary_metric(schema.task, metric or bundle.metadata.get("metric"),
                            schema.positive_code)
    frame = frame.rename(columns=feature_renames(frame.columns, bundle.preprocessor.state))
    labelled = labelled_rows(bundle, frame.reset_index(drop=True))
    if labelled is None or not labelled.known.any():
        why = "no target column" if labelled is None else "no row with a known target"
        raise DataError(f"{csv_path}: {why} {schema.target!r}; importance is measured on "
                        "labelled rows: pass a CSV with the target filled in, rows the model "
                        "was not trained on")
    rows = np.flatnonzero(labelled.known)
    picked = np.sort(np.random.default_rng(seed).permutation(len(rows))[:max_rows])
    x = bundle.preprocessor.transform(frame.iloc[rows[picked]])

    def predict(matrix: np.ndarray) -> np.ndarray:
        return predictions(schema.task, bundle.output_of(torch.from_numpy(matrix)))

    try:
        with warnings.catch_warnings():  # an undefined metric is refused below, in one line
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            found = permutation_importances(predict, x, labelled.y_true[picked], chosen,
                                            bundle.preprocessor.feature_columns(),
                                            repeats=repeats, seed=seed)
    except ValueError as exc:
        raise DataError(f"{csv_path}: {exc} (e.g. rows of one class); use more rows or "
                        "another --metric") from None
    unused = tuple((spec.name, spec.note) for spec in schema.columns
                   if spec.name not in bundle.preprocessor.state)
    return CsvImportances(importances=found, source=source, of_rows=len(rows), unused=unused)
