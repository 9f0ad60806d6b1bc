"""``automl predict``, ``importance``, ``export`` and ``ui``: use a study's model, see which
columns it needs, and open the MLflow UI."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from automl.cli.common import (
    DebugOpt,
    JsonOpt,
    StorageOpt,
    TrackingOpt,
    app,
    check_output_file,
    err,
    out,
    print_json,
    quiet_libraries,
    split_names,
    user_errors,
)
from automl.cli.render import score_text
from automl.config import IMPORTANCE_REPEATS, IMPORTANCE_ROWS, default_storage
from automl.errors import ConfigError, os_reason
from automl.stores import mask
from automl.words import counted

if TYPE_CHECKING:
    from automl.predict import TargetScores


@app.command()
def predict(
    study: str = typer.Argument(..., help="Study whose model to use."),
    csv_path: Path = typer.Argument(..., help="Rows to predict: a CSV with the feature columns."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write predictions here [default: stdout]."),
    trial: int | None = typer.Option(None, "--trial",
                                     help="Use this trial's model [default: the study's final "
                                          "model]."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Decision threshold on the positive class's probability "
                                  "(binary) [default: the model's tuned one]."),
    keep: str | None = typer.Option(
        None, "--keep", help="Input columns to copy into the output before the predictions, "
                             "comma-separated (e.g. an id to join them on)."),
    interval: float | None = typer.Option(
        None, "--interval", metavar="LEVEL",
        help="Regression: add lower_<L> and upper_<L>, the ends of intervals that hold the true "
             "value with probability LEVEL (e.g. 0.9) [default: none]."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Predict a CSV with a study's final model: `prediction` and `proba_<class>` per row."""
    from automl.predict import predict_csv

    with user_errors(debug):
        quiet_libraries()
        if output is not None:
            check_output_file(output, "predictions.csv")
        result = predict_csv(storage or default_storage(), study, csv_path, trial=trial,
                             tracking_uri=tracking_uri, threshold=threshold,
                             keep=split_names(keep), interval=interval)
        for note in result.read:
            err.print(f"{csv_path}: {note}", soft_wrap=True)
        if result.renamed:
            err.print(f"{counted(len(result.renamed), 'column')} matched ignoring case and "
                      "spaces: " + ", ".join(f"{old!r} as {new!r}"
                                             for old, new in result.renamed.items()),
                      soft_wrap=True)
        if result.ignored:
            err.print(f"ignored {counted(len(result.ignored), 'column')} the model does not "
                      f"use: {', '.join(result.ignored)}", soft_wrap=True)
        for bad in result.unreadable:
            err.print(str(bad), soft_wrap=True)
        if result.cut is not None:
            cut = result.cut
            why = ("the model's tuned threshold; --threshold X overrides it" if cut.tuned
                   else "--threshold")
            err.print(f"prediction is {cut.positive!r} where proba_{cut.positive} >= "
                      f"{cut.threshold:.4g} ({why})", soft_wrap=True)
        if result.scores is not None:
            err.print(_scores_text(result.scores), soft_wrap=True)
        if output is None:
            result.predictions.to_csv(sys.stdout, index=False)
            return
        try:
            result.predictions.to_csv(output, index=False)
        except OSError as exc:
            raise ConfigError(f"cannot write {output} ({os_reason(exc)}); check -o") from None
        err.print(f"{len(result.predictions):,} predictions from {result.source.label} "
                  f"of study {study!r} written to {output}", soft_wrap=True)


def _scores_text(scores: TargetScores) -> str:
    """The predictions' scores against the file's target column, in a line."""
    against = f"the file's {scores.column!r} column"
    if not scores.rows:
        return f"not scored against {against}: no row has a class or value the model can score"
    parts = [", ".join(f"{name} {score_text(value)}" for name, value in scores.metrics.items()
                       if math.isfinite(value))]
    undefined = [name for name, value in scores.metrics.items() if not math.isfinite(value)]
    if undefined:
        parts.append(f"{', '.join(undefined)} undefined on these rows")
    if scores.left_out:
        parts.append(f"{counted(scores.left_out, 'row')} left out (no value, or a class the "
                     "model does not know)")
    return f"scored against {against} ({counted(scores.rows, 'row')}): {'; '.join(parts)}"


@app.command()
def importance(
    study: str = typer.Argument(..., help="Study whose model to examine."),
    csv_path: Path = typer.Argument(..., help="Labelled rows (features and the target), best "
                                              "ones the model was not trained on."),
    trial: int | None = typer.Option(None, "--trial",
                                     help="Examine this trial's model [default: the study's "
                                          "final model]."),
    metric: str | None = typer.Option(None, "--metric",
                                      help="Metric to measure the loss by [default: the "
                                           "study's]."),
    repeats: int = typer.Option(IMPORTANCE_REPEATS, "--repeats", min=1,
                                help="Shuffles per column."),
    max_rows: int = typer.Option(IMPORTANCE_ROWS, "--rows", min=1,
                                 help="Labelled rows used at most (drawn at random)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the rows drawn and the shuffles."),
    as_json: bool = JsonOpt,
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Rank the columns by how much the model needs them: the loss in its metric when a
    column's values are shuffled among the rows (permutation importance)."""
    from automl.importance import importance_csv

    with user_errors(debug):
        quiet_libraries()
        found = importance_csv(storage or default_storage(), study, csv_path, trial=trial,
                               tracking_uri=tracking_uri, metric=metric, repeats=repeats,
                               max_rows=max_rows, seed=seed)
        result = found.importances
        if as_json:
            print_json({**result.to_json(), "model": found.source.label,
                        "unused": [name for name, _ in found.unused]})
            return
        rows = (f"{result.rows:,} of the {found.of_rows:,} labelled rows"
                if result.rows < found.of_rows else counted(result.rows, "labelled row"))
        change = "falls" if result.greater_is_better else "rises"
        out.print(f"importance of each column to {found.source.label} of study {study!r}, on "
                  f"{rows} of {csv_path}: {result.metric} {score_text(result.baseline)} as "
                  f"given; how much it {change} when the column's values are shuffled (mean ± "
                  f"std of {counted(result.repeats, 'shuffle')}):", soft_wrap=True)
        width = max(len(c.column) for c in result.columns)
        for column in result.columns:
            out.print(f"  {column.column.ljust(width)}  {column.mean:+.4f} ± {column.std:.4f}",
                      soft_wrap=True, markup=False)
        if found.unused:
            out.print("not used by the model: " + ", ".join(
                f"{name} ({why})" if why else name for name, why in found.unused),
                soft_wrap=True, markup=False)


@app.command()
def export(
    study: str = typer.Argument(..., help="Study whose model to export."),
    path: Path | None = typer.Argument(None, help="New directory for the MLflow model."),
    register: str | None = typer.Option(None, "--register",
                                        help="Also register it in the MLflow Model Registry "
                                             "under this name."),
    trial: int | None = typer.Option(None, "--trial",
                                     help="Export this trial's model [default: the study's "
                                          "final model]."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Export a study's final model as an MLflow pyfunc model (directory and/or registry)."""
    from automl.predict import export_study

    with user_errors(debug):
        quiet_libraries()
        done = export_study(storage or default_storage(), study, path, register=register,
                            trial=trial, tracking_uri=tracking_uri)
        source = f"{done.source.label} of study {study!r}"
        if done.path is not None:
            out.print(f"exported {source} to {done.path}\n  serve it: mlflow models serve -m "
                      f"{done.path} --env-manager local -h 127.0.0.1 -p 5001", soft_wrap=True)
        if done.registered_name:
            out.print(f"registered {source} as {done.model_uri} in "
                      f"{mask(done.source.tracking_uri)}", soft_wrap=True)


@app.command()
def ui(
    study: str | None = typer.Argument(None, help="Open this study's experiment."),
    port: int = typer.Option(5000, "--port", "-p", help="Port on 127.0.0.1."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Start the MLflow UI on the study's tracking store, bound to 127.0.0.1; Ctrl-C stops it."""
    import os
    import subprocess

    from automl.predict import ui_plan

    with user_errors(debug):
        plan = ui_plan(storage or default_storage(), study, tracking_uri=tracking_uri,
                       port=port)
        out.print(f"MLflow UI for {mask(plan.tracking_uri)} at {plan.url} "
                  "(Ctrl-C stops it)", soft_wrap=True)
        # its own process group, so that stopping it stops the server workers too
        process = subprocess.Popen(plan.argv, env={**os.environ, **plan.env},
                                   start_new_session=True)
        try:
            code = process.wait()
        except KeyboardInterrupt:
            _stop_group(process)
            out.print("MLflow UI stopped")
            return
        if code != 0:
            err.print(f"error: the MLflow UI exited with code {code}", soft_wrap=True)
            raise typer.Exit(2)


def _stop_group(process: Any) -> None:
    """SIGTERM the process group of ``process``; SIGKILL it if still there after 10 s."""
    import os
    import signal
    import subprocess

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue

