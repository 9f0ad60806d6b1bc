"""Search-quality benchmark (issue 5): automl against gradient boosting at a fixed time budget.

For each dataset, one fixed outer split (80/20, stratified for classification, seed 0):

* **ours**: ``automl search`` settings (TPE, median pruner, warm start, final model) on the 80%
  only (written to a temporary CSV), ``--timeout BUDGET``; the final model is scored on the 20%
  through the project's own predict path (:func:`automl.predict.predict_csv`);
* **HGB**: scikit-learn ``HistGradientBoosting{Classifier,Regressor}`` with default parameters
  (``random_state=0``) fitted on the same 80% (text columns as pandas categoricals, which HGB
  uses natively);
* **random**: the project's search with ``--sampler random --pruner none`` at the same budget.

The searches keep their usual train/validation split inside the 80%; their own test split is
0 rows (``--test-fraction``, default 0), since the outer 20% is the held-out test. Metric: ROC-AUC
(binary), accuracy (multiclass), RMSE (regression). Prints a Markdown table (and writes it with
``--output``).

Usage: ``.venv/bin/python benchmarks/quality.py --budget 600 [--datasets adult,diamonds]``;
a dataset is a name from :data:`DATASETS` or ``path/to/file.csv[:target]``.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from automl.config import PrunerKind, SamplerKind, SearchConfig, TrainConfig
from automl.data import TaskType, infer_task, label_strings, load_csv, resolve_target
from automl.errors import StudyNotFoundError
from automl.plan import prepare_search
from automl.predict import predict_csv
from automl.session import run_search
from automl.tracking import MlflowTracker

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DATASETS = {"adult": "class", "california_housing": "median_house_value",
            "covertype_kaggle15k": "Cover_Type", "credit_g": "class", "diamonds": "price"}
METRICS = {TaskType.BINARY: "roc_auc", TaskType.MULTICLASS: "accuracy",
           TaskType.REGRESSION: "rmse"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One method's test score and cost on one dataset."""

    score: float
    seconds: float
    complete: int = 0
    pruned: int = 0
    final: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    dataset: str
    metric: str
    ours: Outcome
    hgb: Outcome
    random: Outcome

    @property
    def gap(self) -> float:
        """Relative gap of ours to HGB, positive when ours is better (lower RMSE, higher
        ROC-AUC/accuracy)."""
        sign = -1.0 if self.metric == "rmse" else 1.0
        return sign * (self.ours.score - self.hgb.score) / abs(self.hgb.score)


# ------------------------------------------------------------------------------------ data
def resolve(spec: str, data_dir: Path) -> tuple[str, Path, str | None]:
    """``name`` (known dataset) or ``path.csv[:target]`` → (label, path, target)."""
    if spec in DATASETS:
        return spec, data_dir / f"{spec}.csv", DATASETS[spec]
    path, _, target = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    return Path(path).stem, Path(path), target or None


def outer_split(frame: pd.DataFrame, target: str,
                task: TaskType) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80/20, stratified for classification, seed 0; rows without a target dropped."""
    frame = frame[frame[target].notna()].reset_index(drop=True)
    stratify = label_strings(frame[target]) if task.is_classification else None
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def score(task: TaskType, y_true: pd.Series, prediction: pd.Series,
          proba: pd.DataFrame | None, classes: list[str]) -> float:
    """ROC-AUC (binary; ``classes[1]`` positive), accuracy (multiclass), RMSE (regression)."""
    if task is TaskType.REGRESSION:
        y = pd.to_numeric(y_true).to_numpy(float)
        return float(np.sqrt(np.mean((y - prediction.to_numpy(float)) ** 2)))
    labels = label_strings(y_true).to_numpy()
    if task is TaskType.BINARY:
        assert proba is not None
        return float(roc_auc_score(labels == classes[1], proba[classes[1]].to_numpy()))
    return float(np.mean(labels == prediction.astype(str).to_numpy()))


# ------------------------------------------------------------------------------------ HGB
def _hgb_features(train: pd.DataFrame, test: pd.DataFrame,
                  target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric columns as floats; other columns as categoricals with the training levels."""
    x_train, x_test = train.drop(columns=target), test.drop(columns=target)
    for name in x_train.columns:
        numeric = pd.to_numeric(x_train[name], errors="coerce")
        if numeric.notna().sum() >= 0.95 * x_train[name].notna().sum():
            x_train[name] = numeric
            x_test[name] = pd.to_numeric(x_test[name], errors="coerce")
        else:
            levels = x_train[name].astype("string").dropna().unique()
            kind = pd.CategoricalDtype(sorted(levels))
            x_train[name] = x_train[name].astype("string").astype(kind)
            x_test[name] = x_test[name].astype("string").astype(kind)
    return x_train, x_test


def run_hgb(train: pd.DataFrame, test: pd.DataFrame, target: str, task: TaskType) -> Outcome:
    """HistGradientBoosting with defaults (``random_state=0``), scored on ``test``."""
    start = time.monotonic()
    x_train, x_test = _hgb_features(train, test, target)
    if task is TaskType.REGRESSION:
        model = HistGradientBoostingRegressor(random_state=0)
        model.fit(x_train, pd.to_numeric(train[target]).to_numpy(float))
        value = score(task, test[target], pd.Series(model.predict(x_test)), None, [])
    else:
        model = HistGradientBoostingClassifier(random_state=0)
        model.fit(x_train, label_strings(train[target]).to_numpy())
        classes = [str(c) for c in model.classes_]
        proba = pd.DataFrame(model.predict_proba(x_test), columns=classes)
        value = score(task, test[target], pd.Series(model.predict(x_test)), proba, classes)
    return Outcome(score=value, seconds=time.monotonic() - start)


# --------------------------------------------------------------------------------- automl
def run_automl(train_csv: Path, test_csv: Path, test: pd.DataFrame, target: str, task: TaskType,
               budget: float, folder: Path, *, name: str, sampler: SamplerKind,
               pruner: PrunerKind, test_fraction: float, threads: int | None) -> Outcome:
    """A search on ``train_csv`` within ``budget`` seconds; its final model predicts
    ``test_csv`` through :func:`automl.predict.predict_csv` (score NaN if no trial completed).

    The MLflow store (``folder/mlruns``, one experiment per search) is created beforehand, as
    it exists for a user after the first search: its schema migration is not search time.
    """
    storage = f"sqlite:///{folder / name / 'optuna.db'}"
    tracking = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    MlflowTracker(tracking, name)
    cfg = SearchConfig(csv_path=train_csv, target=target, study_name=name, n_trials=100_000,
                       timeout_s=budget, seed=0, task=task.value, sampler=sampler, pruner=pruner,
                       test_fraction=test_fraction, threads=threads, storage_url=storage,
                       tracking_uri=tracking, train=TrainConfig(device="cpu"))
    start = time.monotonic()
    summary = run_search(prepare_search(cfg))
    seconds = time.monotonic() - start
    try:
        result = predict_csv(storage, name, test_csv, tracking_uri=tracking)
    except StudyNotFoundError:  # the budget ended before any trial completed
        return Outcome(score=math.nan, seconds=seconds, pruned=summary.report.trials.pruned)
    out = result.predictions
    proba = out.filter(like="proba_").rename(columns=lambda c: c.removeprefix("proba_"))
    classes = list(proba.columns)
    trials = summary.report.trials
    final = summary.report.final_model or {}
    return Outcome(score=score(task, test[target], out["prediction"], proba, classes),
                   seconds=seconds, complete=trials.complete, pruned=trials.pruned,
                   final=str(final.get("kind", "best trial")))


def run_dataset(spec: str, args: argparse.Namespace, folder: Path) -> Row:
    """All three methods on one dataset's fixed outer split."""
    label, path, target = resolve(spec, args.data_dir)
    frame = load_csv(path)
    target = resolve_target(frame, target)
    task = infer_task(frame[target].dropna())
    train, test = outer_split(frame, target, task)
    work = folder / label
    work.mkdir(parents=True)
    train_csv, test_csv = work / "train.csv", work / "test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    common = dict(test_fraction=args.test_fraction, threads=args.threads)
    print(f"{label}: {len(train):,} search rows / {len(test):,} test rows, {task.value}",
          file=sys.stderr, flush=True)
    hgb = run_hgb(train, test, target, task)
    ours = run_automl(train_csv, test_csv, test, target, task, args.budget, work, name="ours",
                      sampler=SamplerKind.TPE, pruner=PrunerKind.MEDIAN, **common)
    random = run_automl(train_csv, test_csv, test, target, task, args.budget, work,
                        name="random", sampler=SamplerKind.RANDOM, pruner=PrunerKind.NONE,
                        **common)
    row = Row(dataset=label, metric=METRICS[task], ours=ours, hgb=hgb, random=random)
    print(f"{label}: ours {ours.score:.4f}, HGB {hgb.score:.4f}, random {random.score:.4f}",
          file=sys.stderr, flush=True)
    return row


# --------------------------------------------------------------------------------- output
def table(rows: list[Row], command: str) -> str:
    """The Markdown table (one row per dataset) followed by the command that produced it."""
    lines = ["| dataset | metric | ours | HGB | random search | ours vs HGB (+ = better) "
             "| trials ours (complete/pruned) | trials random (complete/pruned) "
             "| final model (ours) | wall ours / random / HGB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.metric} | {_num(r.ours.score)} | {_num(r.hgb.score)} "
            f"| {_num(r.random.score)} | {r.gap:+.2%} | {r.ours.complete}/{r.ours.pruned} "
            f"| {r.random.complete}/{r.random.pruned} | {r.ours.final} "
            f"| {r.ours.seconds:.0f} s / {r.random.seconds:.0f} s / {r.hgb.seconds:.1f} s |")
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds per search (each of ours and random) [600]")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help="comma-separated names or path.csv[:target] [the five]")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder of the named datasets [../shared/datasets]")
    parser.add_argument("--test-fraction", type=float, default=0.0,
                        help="the searches' own test split inside the 80%% [0]")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads [all cores]")
    parser.add_argument("--output", type=Path, default=None,
                        help="also write the Markdown table to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; print (and optionally write) the table; return its rows."""
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    shown = sys.argv[1:] if argv is None else argv
    command = shlex.join([".venv/bin/python", "benchmarks/quality.py", *shown])
    with tempfile.TemporaryDirectory(prefix="automl-quality-") as tmp:
        rows = [run_dataset(spec.strip(), args, Path(tmp))
                for spec in args.datasets.split(",") if spec.strip()]
    text = table(rows, command)
    print(text)
    if args.output is not None:
        args.output.write_text(text)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    main()
