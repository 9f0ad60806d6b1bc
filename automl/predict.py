"""Using a study's result: fetch its best (or one trial's) model from MLflow, predict, export.

A study records, per trial, the MLflow run id (trial user attr ``mlflow_run_id``); the run of
each trial that was among the top 5 when it finished holds the model bundle as artifact
``model``, and the study's final model (see :mod:`automl.final`; user attr ``final_model``) has
its own run with artifact ``model``. Without ``--trial`` the final model is used when there is
one, else the best trial's. :func:`fetch_model` downloads that bundle; :func:`predict_csv`
applies it to a new CSV; :func:`export_study` writes it as an MLflow pyfunc directory and/or
registers it in the MLflow Model Registry of the tracking store.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from sklearn.exceptions import UndefinedMetricWarning

from automl.bundle import ModelBundle, load_bundle
from automl.config import default_tracking_uri
from automl.data import (
    TaskType,
    encode_target,
    find_column,
    label_strings,
    named_column,
    target_values,
)
from automl.errors import ConfigError, DataError, StudyNotFoundError
from automl.features import Unreadable
from automl.ledger import resolve_tracking_uri
from automl.pyfunc import save_pyfunc
from automl.reading import load_csv, read_csv
from automl.records import EXPERIMENT, PARENT_RUN, final_model_text
from automl.storage import load_study
from automl.stores import mask, sqlite_path
from automl.tracking import MlflowRuns, temporary_dir

PYFUNC_ARTIFACT = "pyfunc_model"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSource:
    """Where a study's model came from: the study, the trial, its MLflow run and store.

    For the final model, ``trial`` is the study's best trial (the refitted configuration, or
    the ensemble's best member) and ``final`` describes it (its ``kind`` and ``trials``).
    """

    study_name: str
    trial: int
    run_id: str
    tracking_uri: str
    parent_run_id: str | None = None
    data_path: str | None = None
    final: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """``trial 7``, or ``the final model (an ensemble of trials 7, 3)`` and the like."""
        if self.final is None:
            return f"trial {self.trial}"
        return f"the final model ({final_model_text({'trials': [self.trial], **self.final})})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """``predictions`` has one row per input row, in input order; ``ignored`` lists the input
    columns the model does not use (extra columns, dropped id/text columns; not the target,
    which ``scores`` uses);
    ``unreadable`` the columns with values that are not what they hold (numbers, dates, yes/no
    words), read as missing;
    ``cut`` the decision threshold of a binary ``prediction`` (``None``: the largest
    probability); ``renamed`` the input columns read as a feature whose name differs from
    theirs by case or surrounding spaces (input name → the model's); ``read`` what reading the
    CSV did that a plain UTF-8 one would not need (its delimiter, encoding, skipped lines);
    ``scores`` the predictions against the CSV's target column, when it has one."""

    predictions: pd.DataFrame
    ignored: tuple[str, ...]
    source: ModelSource
    unreadable: tuple[Unreadable, ...] = ()
    cut: DecisionCut | None = None
    renamed: dict[str, str] = field(default_factory=dict)
    read: tuple[str, ...] = ()
    scores: TargetScores | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetScores:
    """The predictions scored against the CSV's own target ``column``: ``metrics`` (see
    :meth:`ModelBundle.scores`; a metric the rows leave undefined, such as the ROC-AUC of rows
    of one class, is NaN) on ``rows`` rows, those whose target is a class the model knows (for
    regression, a number); ``left_out`` counts the others."""

    column: str
    rows: int
    left_out: int
    metrics: dict[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionCut:
    """A binary model labels a row ``positive`` where ``proba_<positive>`` is at least
    ``threshold``; ``tuned``: the model's own threshold, not one given for this call."""

    positive: str
    threshold: float
    tuned: bool

    @classmethod
    def of(cls, bundle: ModelBundle, threshold: float | None) -> DecisionCut | None:
        """The cut :meth:`ModelBundle.predict` applies with ``threshold``, if any."""
        cut = bundle.cut(threshold)
        if cut is None:
            return None
        schema = bundle.schema
        return cls(positive=schema.classes[schema.positive_code], threshold=cut,
                   tuned=threshold is None)


# --------------------------------------------------------------------------------- the model
def model_source(study: optuna.Study, trial: int | None, tracking_uri: str) -> ModelSource:
    """The trial (``None``: the best) whose logged model to use.

    Raises:
        StudyNotFoundError: the study has no completed trial.
        ConfigError: no such trial, it did not complete, or it has no logged model.
    """
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    if not complete:
        raise StudyNotFoundError(f"study {study.study_name!r} has no completed trial yet; run "
                                 f"`automl resume {study.study_name}` first")
    final = study.user_attrs.get("final_model")
    if trial is None and isinstance(final, dict) and final.get("run_id"):
        return ModelSource(study_name=study.study_name, trial=study.best_trial.number,
                           run_id=str(final["run_id"]), tracking_uri=tracking_uri,
                           parent_run_id=study.user_attrs.get(PARENT_RUN),
                           data_path=study.user_attrs.get("data_path"), final=final)
    if trial is None:
        chosen = study.best_trial
    else:
        found = [t for t in trials if t.number == trial]
        if not found:
            raise ConfigError(f"study {study.study_name!r} has no trial {trial} (trials 0-"
                              f"{len(trials) - 1}); check --trial")
        chosen = found[0]
        if chosen.state is not TrialState.COMPLETE:
            raise ConfigError(f"trial {trial} of study {study.study_name!r} has no model (its "
                              f"state: {chosen.state.name}); pick a completed trial (see "
                              "`automl show`) or omit --trial for the best")
    run_id = chosen.user_attrs.get("mlflow_run_id")
    if not run_id:
        raise ConfigError(f"trial {chosen.number} of study {study.study_name!r} has no MLflow "
                          "run; it was not run by automl search")
    return ModelSource(study_name=study.study_name, trial=chosen.number, run_id=str(run_id),
                       tracking_uri=tracking_uri,
                       parent_run_id=study.user_attrs.get(PARENT_RUN),
                       data_path=study.user_attrs.get("data_path"))


def _download(source: ModelSource, dst: Path, study: optuna.Study) -> Path:
    runs = MlflowRuns(source.tracking_uri)
    try:
        found = runs.has_run(source.run_id)
    except Exception:  # an unreachable or unreadable store: MLflow raises several types
        found = False
    if not found:
        raise ConfigError(f"MLflow run {source.run_id} of trial {source.trial} is not in "
                          f"{mask(source.tracking_uri)!r}; pass the study's --tracking-uri")
    folder = runs.download_dir(source.run_id, "model", dst)
    if folder is None:
        with_model = [t.number for t in study.get_trials(deepcopy=False)
                      if t.state is TrialState.COMPLETE and t.user_attrs.get("mlflow_run_id")
                      and runs.has_artifact(t.user_attrs["mlflow_run_id"], "model")]
        raise ConfigError(
            f"trial {source.trial} of study {source.study_name!r} has no saved model (only "
            f"trials that were among the top 5 when they finished keep one: "
            f"{', '.join(map(str, with_model)) or 'none'}); pick one of those or omit --trial")
    return folder


@contextmanager
def fetch_model(storage_url: str, study_name: str, *, trial: int | None = None,
                tracking_uri: str | None = None) -> Iterator[tuple[Path, ModelSource]]:
    """Download the study's best (or trial ``trial``'s) bundle into a temporary folder.

    Yields ``(bundle_folder, source)``; the folder is removed when the block ends.

    Raises:
        StudyNotFoundError: no such study, or no completed trial.
        ConfigError: the trial, its run, or its model cannot be found.
    """
    study = load_study(storage_url, study_name)
    source = model_source(study, trial, resolve_tracking_uri(study, tracking_uri))
    with temporary_dir() as tmp:
        yield _download(source, Path(tmp), study), source


def load_model(storage_url: str, study_name: str, *, trial: int | None = None,
               tracking_uri: str | None = None) -> tuple[ModelBundle, ModelSource]:
    """The study's best (or trial ``trial``'s) :class:`ModelBundle`, loaded on the CPU."""
    with fetch_model(storage_url, study_name, trial=trial, tracking_uri=tracking_uri) as (
            folder, source):
        return load_bundle(folder), source


# ----------------------------------------------------------------------------------- predict
def model_output(bundle: ModelBundle, frame: pd.DataFrame, where: str = "input",
                 threshold: float | None = None,
                 interval: float | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The model's raw outputs for ``frame`` (:meth:`ModelBundle.raw_output`, in row order) and
    the columns it ignores; ``threshold``, to replace the bundle's decision threshold, and
    ``interval``, the level of prediction intervals, are checked here.

    Raises:
        DataError: a feature column the model was trained on is missing (``where`` names it).
        ConfigError: ``threshold`` for a model that is not a binary classifier, or not in
            [0, 1]; ``interval`` not in (0, 1), or for a model without intervals.
    """
    if interval is not None:
        bundle.check_interval(interval)
    if threshold is not None:
        if bundle.schema.task is not TaskType.BINARY:
            raise ConfigError(f"--threshold is for binary classifiers; this model is "
                              f"{bundle.schema.task.value}")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"--threshold {threshold} is not a probability; use a number "
                              "from 0 to 1")
    used = list(bundle.preprocessor.state)
    missing = [name for name in used if name not in frame.columns]
    if missing:
        raise DataError(f"{where}: missing feature column(s) {', '.join(map(repr, missing))}; "
                        f"the model needs {', '.join(map(repr, used))}")
    ignored = tuple(str(c) for c in frame.columns if c not in bundle.preprocessor.state)
    return bundle.raw_output(frame), ignored


def target_scores(bundle: ModelBundle, frame: pd.DataFrame, output: np.ndarray,
                  threshold: float | None = None) -> TargetScores | None:
    """``output`` (the model's for ``frame``, see :func:`model_output`) scored against
    ``frame``'s target column, matched as ``--target`` is (``threshold`` as in
    :meth:`ModelBundle.scores`); ``None`` when ``frame`` has no such column."""
    labelled = labelled_rows(bundle, frame)
    if labelled is None:
        return None
    known, y_true = labelled.known, labelled.y_true
    with warnings.catch_warnings():  # an undefined metric is NaN, and said so by its caller
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        metrics = bundle.scores(output[known], y_true, threshold) if known.any() else {}
    return TargetScores(column=labelled.column, rows=int(known.sum()),
                        left_out=int((~known).sum()), metrics=metrics)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledRows:
    """A frame's target ``column`` (as the model's target is matched), which of its rows the
    model can be scored on (``known``: a class it knows, or a number), and their targets
    (``y_true``: class codes, or values in the training units)."""

    column: str
    known: np.ndarray
    y_true: np.ndarray


def labelled_rows(bundle: ModelBundle, frame: pd.DataFrame) -> LabelledRows | None:
    """``frame``'s labelled rows for ``bundle``; ``None`` when it has no target column."""
    schema = bundle.schema
    column = find_column(frame.columns, schema.target)
    if column is None:
        return None
    values = frame[column].reset_index(drop=True)
    if schema.task.is_classification:
        known = label_strings(values).isin(schema.classes).to_numpy()
        y_true = encode_target(values[known], schema)
    else:
        y_true = target_values(values, schema.target_units)
        known = ~np.isnan(y_true)
        y_true = y_true[known]
    return LabelledRows(column=str(column), known=known, y_true=y_true)


def predict_csv(storage_url: str, study_name: str, csv_path: Path | str, *,
                trial: int | None = None, tracking_uri: str | None = None,
                threshold: float | None = None, keep: Sequence[str] = (),
                interval: float | None = None) -> Prediction:
    """Apply the study's final model (or trial ``trial``'s) to the rows of ``csv_path``
    (``threshold``: replaces the model's decision threshold; ``interval``: adds the ends of
    prediction intervals of that level; see :func:`model_output`);
    the input columns ``keep`` names (matched as ``--target`` is) come first in the output.
    When the CSV has the target column, the predictions are scored against it
    (:func:`target_scores`).

    Raises:
        DataError: the CSV is unreadable, lacks a feature column or a column to keep.
        StudyNotFoundError, ConfigError: the study, trial or model cannot be found; a column
            to keep has the name of an output column.
    """
    frame, read = read_csv(csv_path, rows_required=False)  # check the file before any download
    kept = [named_column(frame.columns, name, "--keep", str(csv_path)) for name in keep]
    carried = frame[list(dict.fromkeys(kept))].reset_index(drop=True)
    bundle, source = load_model(storage_url, study_name, trial=trial, tracking_uri=tracking_uri)
    renamed = feature_renames(frame.columns, bundle.preprocessor.state)
    frame = frame.rename(columns=renamed).reset_index(drop=True)
    output, ignored = model_output(bundle, frame, str(csv_path), threshold, interval)
    predictions = bundle.labelled(output, frame.index, threshold, interval)
    clash = [name for name in carried.columns if name in predictions.columns]
    if clash:
        raise ConfigError(f"--keep {clash[0]!r} has the name of an output column; rename it in "
                          "the CSV or leave it out of --keep")
    scores = target_scores(bundle, frame, output, threshold)
    if scores is not None:  # the target is not ignored: the predictions are scored against it
        ignored = tuple(name for name in ignored if name != scores.column)
    return Prediction(predictions=pd.concat([carried, predictions], axis=1), ignored=ignored,
                      source=source, unreadable=bundle.preprocessor.unreadable(frame),
                      cut=DecisionCut.of(bundle, threshold), renamed=renamed, read=read,
                      scores=scores)


def feature_renames(columns: pd.Index, features: Collection[str]) -> dict[str, str]:
    """Input column → feature, for each feature absent under its own name whose column
    differs from it by case or surrounding spaces only (matched as ``--target`` is); a
    column that is itself a feature's name is never taken for another."""
    spare = [c for c in columns if c not in features]
    found = {feature: find_column(spare, feature) for feature in features
             if feature not in columns}
    return {column: feature for feature, column in found.items() if column is not None}


# ------------------------------------------------------------------------------------ export
@dataclass(frozen=True, slots=True, kw_only=True)
class Export:
    """What :func:`export_study` made: the directory and/or the registered model version."""

    source: ModelSource
    path: Path | None = None
    registered_name: str | None = None
    registered_version: str | None = None
    model_uri: str | None = None


def _training_rows(data_path: str | None) -> pd.DataFrame | None:
    if not data_path or not Path(data_path).is_file():
        return None
    try:
        return load_csv(data_path).head(5)
    except DataError:
        return None


def export_study(storage_url: str, study_name: str, dst: Path | str | None = None, *,
                 register: str | None = None, trial: int | None = None,
                 tracking_uri: str | None = None) -> Export:
    """Export the study's best (or trial ``trial``'s) model as an MLflow pyfunc model.

    ``dst``: write a model directory there (``mlflow models serve -m dst`` serves it).
    ``register``: also log it as artifact ``pyfunc_model`` of the study's parent MLflow run
    and register it under that name in the tracking store's Model Registry (a new version
    each time; ``models:/NAME/VERSION`` loads it).

    Raises:
        ConfigError: neither ``dst`` nor ``register`` given, ``dst`` is not empty, or the
            trial/model cannot be found.
        StudyNotFoundError: no such study.
    """
    if dst is None and not register:
        raise ConfigError("nothing to do: give an output directory and/or --register NAME")
    if dst is not None and Path(dst).exists() and (
            not Path(dst).is_dir() or any(Path(dst).iterdir())):
        raise ConfigError(f"{dst} already exists and is not empty; choose a new directory or "
                          "remove it")
    with fetch_model(storage_url, study_name, trial=trial, tracking_uri=tracking_uri) as (
            folder, source):
        rows = _training_rows(source.data_path)
        path = save_pyfunc(folder, Path(dst), rows=rows) if dst is not None else None
        if not register:
            return Export(source=source, path=path)
        version = _register(folder, source, register, rows)
    return Export(source=source, path=path, registered_name=register,
                  registered_version=version, model_uri=f"models:/{register}/{version}")


def _register(folder: Path, source: ModelSource, name: str, rows: pd.DataFrame | None) -> str:
    """Log the pyfunc model as artifact ``pyfunc_model`` of the study's parent run and register
    it; returns the new version."""
    from mlflow.exceptions import MlflowException

    try:
        with temporary_dir() as tmp:
            return MlflowRuns(source.tracking_uri).register(
                name, source.parent_run_id or source.run_id,
                save_pyfunc(folder, Path(tmp) / "m", rows=rows), PYFUNC_ARTIFACT,
                description=f"automl study {source.study_name}",
                tags={"automl.study": source.study_name, "automl.trial": str(source.trial)})
    except MlflowException as exc:
        first = str(exc.message).splitlines()[0] if exc.message else exc.error_code
        raise ConfigError(f"cannot register model {name!r} in {mask(source.tracking_uri)!r}"
                          f": {first}") from None


# ---------------------------------------------------------------------------------------- ui
@dataclass(frozen=True, slots=True, kw_only=True)
class UiPlan:
    """How to start the MLflow UI: the command, its environment additions, and the URL."""

    argv: list[str]
    url: str
    tracking_uri: str
    env: dict[str, str]


def ui_plan(storage_url: str, study_name: str | None = None, *, tracking_uri: str | None = None,
            port: int = 5000, host: str = "127.0.0.1") -> UiPlan:
    """The ``mlflow ui`` command for a study's tracking store (or the default one), on loopback.

    With ``study_name`` the URL opens the study's experiment.

    Raises:
        StudyNotFoundError: no such study.
        ConfigError: the store does not exist, or ``port`` is taken.
    """
    import socket
    import sys

    experiment = None
    if study_name is not None:
        study = load_study(storage_url, study_name)
        uri = resolve_tracking_uri(study, tracking_uri)
        experiment = study.user_attrs.get(EXPERIMENT)
    else:
        uri = tracking_uri or default_tracking_uri()
        db = sqlite_path(uri)
        if db is not None and not db.exists():
            raise ConfigError(f"no MLflow store at {mask(uri)!r}; run `automl search` first "
                              "or pass --tracking-uri")
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise ConfigError(f"port {port} on {host} is in use; pass another --port") from None
    bindir = str(Path(sys.executable).parent)
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host,
            "--port", str(port), "--workers", "1"]
    url = f"http://{host}:{port}/" + (f"#/experiments/{experiment}/runs" if experiment else "")
    # the server starts `uvicorn` from PATH: use the one installed beside this Python
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return UiPlan(argv=argv, url=url, tracking_uri=uri, env=env)
