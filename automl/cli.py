"""The ``automl`` command line: parse, build a config, call one library function, render.

Every :class:`~automl.errors.AutoMLError` becomes one line on stderr and exit code 2 (``--debug``
shows the traceback instead); Ctrl-C ends the running trial cleanly and exits 130.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automl import study as studies
from automl import workers
from automl.config import (
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    STORAGE_ENV,
    TRACKING_ENV,
    PrunerKind,
    SamplerKind,
    SearchConfig,
    TrainConfig,
    default_storage,
    default_tracking_uri,
)
from automl.errors import AutoMLError, ConfigError
from automl.storage import is_lost_connection
from automl.stores import mask

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="AutoML for tabular data: Optuna searches PyTorch networks, MLflow "
                       "records every trial.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Task(str, Enum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


StorageOpt = typer.Option(None, "--storage", envvar=STORAGE_ENV, show_envvar=True,
                          help=f"Optuna storage URL [default: {DEFAULT_STORAGE}].")
TrackingOpt = typer.Option(None, "--tracking-uri", envvar=TRACKING_ENV, show_envvar=True,
                           help=f"MLflow tracking URI [default: {DEFAULT_TRACKING_URI}].")
#: Config fields whose CLI option has another name (others: ``n_trials`` → ``--n-trials``).
_FIELD_OPTIONS = {"timeout_s": "timeout", "storage_url": "storage", "experiment_name": "experiment"}
DebugOpt = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")
JsonOpt = typer.Option(False, "--json", help="Print JSON (stable format, see README).")


@contextmanager
def _user_errors(debug: bool) -> Iterator[None]:
    """AutoMLError → one line + exit 2; Ctrl-C → one line + exit 130; a storage connection
    still lost after the storage's repeats → one line + exit 1."""
    try:
        yield
    except AutoMLError as exc:
        if debug:
            raise
        err.print(f"error: {_in_cli_words(exc)}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        if debug:
            raise
        code = workers.exit_code(exc)
        err.print(f"{'terminated' if code == 143 else 'interrupted'}: the running trial was "
                  "marked failed and its MLflow run closed; continue with `automl resume "
                  "STUDY`", soft_wrap=True)
        raise typer.Exit(code) from None
    except Exception as exc:
        if debug or not is_lost_connection(exc):
            raise
        err.print(f"error: lost the connection to the study storage ({_root(exc)}); check the "
                  "database, then continue with `automl resume STUDY`", soft_wrap=True)
        raise typer.Exit(1) from None


def _root(exc: BaseException) -> str:
    """The first line of the driver's message under ``exc`` (the error that started it)."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _in_cli_words(exc: AutoMLError) -> str:
    """The message of ``exc``; a bad setting is named by its option (``--n-trials must be
    ...``) rather than by its config field (every checked field a command sets has an option)."""
    if not isinstance(exc, ConfigError) or exc.param is None:
        return str(exc)
    option = "--" + _FIELD_OPTIONS.get(exc.param, exc.param).replace("_", "-")
    return f"{option} must be {exc.expected}; got {exc.value!r}"


def _quiet_libraries() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)


# -------------------------------------------------------------------------------------- search
@app.command()
def search(
    csv_path: Path = typer.Argument(..., help="Training data: a CSV file (.csv or .csv.gz).",
                                    readable=False),  # automl.data says what is wrong, on one line
    target: str | None = typer.Option(None, "--target", "-t",
                                      help="Target column [default: the last column]."),
    study: str | None = typer.Option(None, "--study", "-s",
                                     help="Study name [default: from the file name]."),
    n_trials: int = typer.Option(20, "--n-trials", "-n",
                                 help="The study's total budget of finished trials."),
    timeout: float | None = typer.Option(None, "--timeout",
                                         help="Wall-clock seconds for this run."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, sampler and weights."),
    task: Task | None = typer.Option(None, "--task", help="Force the task [default: inferred]."),
    metric: str | None = typer.Option(None, "--metric",
                                      help="Study metric [default: roc_auc / accuracy / rmse]."),
    sampler: SamplerKind = typer.Option(SamplerKind.TPE, "--sampler", help="Optuna sampler."),
    pruner: PrunerKind = typer.Option(PrunerKind.MEDIAN, "--pruner", help="Optuna pruner."),
    max_epochs: int = typer.Option(60, "--max-epochs", help="Upper bound on epochs per trial."),
    patience: int = typer.Option(8, "--patience", help="Early-stopping patience in epochs."),
    max_trial_seconds: float = typer.Option(
        300.0, "--max-trial-seconds",
        help="A trial ends at the first epoch end past this many seconds (0: no limit)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads [default: all]."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    experiment: str | None = typer.Option(None, "--experiment",
                                          help="MLflow experiment [default: the study name]."),
    n_workers: int = typer.Option(1, "--workers", "-w", min=1,
                                  help="Local worker processes on the study (threads are "
                                       "divided so workers x threads <= cores)."),
    debug: bool = DebugOpt,
) -> None:
    """Search network architectures and training settings for a CSV; log every trial."""
    with _user_errors(debug):
        cfg = SearchConfig(
            csv_path=csv_path, target=target, study_name=study, n_trials=n_trials,
            timeout_s=timeout, seed=seed, task=task.value if task else None, metric=metric,
            sampler=sampler, pruner=pruner, threads=threads, experiment_name=experiment,
            storage_url=storage or default_storage(),
            tracking_uri=tracking_uri or default_tracking_uri(),
            train=TrainConfig(max_epochs=max_epochs, patience=patience, device=device,
                              max_trial_seconds=max_trial_seconds or None))
        _run(cfg, n_workers)


@app.command()
def resume(
    study: str = typer.Argument(..., help="Name of the study to continue."),
    n_trials: int | None = typer.Option(None, "--n-trials", "-n",
                                        help="New total budget [default: the stored one]."),
    timeout: float | None = typer.Option(None, "--timeout",
                                         help="Wall-clock seconds for this run."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    n_workers: int = typer.Option(1, "--workers", "-w", min=1,
                                  help="Local worker processes on the study."),
    debug: bool = DebugOpt,
) -> None:
    """Continue a study with its stored data, split and settings, up to its budget."""
    with _user_errors(debug):
        cfg = studies.resume_config(storage or default_storage(), study, n_trials=n_trials,
                                    timeout_s=timeout, tracking_uri=tracking_uri)
        _run(cfg, n_workers)


@app.command()
def worker(
    study: str = typer.Argument(..., help="Name of the existing study to join."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads [default: all]."),
    timeout: float | None = typer.Option(None, "--timeout",
                                         help="Wall-clock seconds for this worker."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Join an existing study as one more worker (any machine reaching the storage and data)."""
    with _user_errors(debug), workers.interrupts_end_trials():
        _quiet_libraries()
        cfg = workers.worker_config(storage or default_storage(), study, threads=threads,
                                    timeout_s=timeout, tracking_uri=tracking_uri)
        me = f"worker {os.getpid()}"
        out.print(f"{me} joins study {study!r} in {mask(cfg.storage_url)}, budget "
                  f"{cfg.n_trials} trials, data {cfg.csv_path}", soft_wrap=True)

        def line(p: studies.Progress) -> None:
            best = "-" if p.best_value is None else f"{p.best_value:.4g}"
            out.print(f"{me}: trial {p.last_state.lower()}; study {p.n_done}/{p.budget} "
                      f"finished, best {best}", soft_wrap=True)

        summary = workers.run_worker(cfg, on_trial=line)
        out.print(f"{me}: {summary.n_run_here} trial(s) run in {summary.elapsed_s:.0f}s",
                  soft_wrap=True)
        _render_deferral(summary)


def _run(cfg: SearchConfig, n_workers: int = 1) -> None:
    _quiet_libraries()
    plan = studies.prepare_search(cfg)
    _render_plan(plan)
    with workers.interrupts_end_trials():
        if n_workers > 1:
            out.print(f"workers {n_workers} processes x "
                      f"{workers.threads_per_worker(n_workers, cfg.threads)} torch threads")
            summary = workers.run_workers(plan, n_workers)
        else:
            with _progress_bar(cfg.n_trials) as on_trial:
                summary = studies.run_search(plan, on_trial=on_trial)
    _render_summary(summary)


def _render_plan(plan: studies.SearchPlan) -> None:
    schema, cfg, t = plan.dataset.schema, plan.cfg, plan.tensors
    classes = f" ({len(schema.classes)} classes)" if schema.classes else ""
    out.print(f"data    {cfg.csv_path}: {schema.n_rows:,} rows, {len(schema.columns)} features,"
              f" fingerprint {plan.dataset.fingerprint}")
    if schema.n_missing_target:
        out.print(f"        dropped {schema.n_missing_target:,} rows with no target value")
    for note in schema.notes:
        out.print(f"        {note}", soft_wrap=True)
    out.print(f"task    {schema.task.value}{classes}, target {schema.target!r}, metric "
              f"{plan.metric.name} ({plan.metric.direction})")
    out.print(f"split   {len(t.x_train):,} train / {len(t.x_val):,} validation / "
              f"{len(t.x_test):,} test rows (seed {cfg.seed}); {t.d_in} model inputs")
    out.print(f"study   {plan.study_name!r} in {mask(cfg.storage_url)}, budget "
              f"{cfg.n_trials} trials" + (f", timeout {cfg.timeout_s:g}s" if cfg.timeout_s else ""))
    table = Table("column", "kind", "action", title="columns", title_justify="left")
    for row in plan.preprocessor.describe():
        table.add_row(*row)
    out.print(table)


@contextmanager
def _progress_bar(budget: int) -> Iterator[Callable[[studies.Progress], None]]:
    columns = (TextColumn("trials"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("best {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("search", total=budget, best="-")

        def update(p: studies.Progress) -> None:
            best = "-" if p.best_value is None else f"{p.best_value:.4g}"
            bar.update(task, completed=min(p.n_done, budget), best=best)

        try:
            yield update
        except AutoMLError:
            if not bar.tasks[0].completed:  # refused before any trial: only the error line
                bar.update(task, visible=False)
            raise


def _render_summary(summary: studies.SearchSummary) -> None:
    report = summary.report
    _render_leaderboard(report)
    counts = ", ".join(f"{n} {s.lower()}" for s, n in report["trials"].items() if n)
    out.print(f"{summary.n_run_here} trial(s) run in {summary.elapsed_s:.0f}s; study: {counts}")
    if summary.test_metrics:
        scores = ", ".join(f"{k} {v:.4g}" for k, v in summary.test_metrics.items())
        out.print(f"best trial on the held-out test split: {scores}")
    _render_deferral(summary)
    out.print(f"compare trials in the MLflow UI:\n  mlflow ui --backend-store-uri "
              f"{mask(summary.tracking_uri)}", soft_wrap=True)


def _render_deferral(summary: studies.SearchSummary) -> None:
    step = summary.final_step
    if step is studies.FinalStep.LEFT_TO_RUNNING:
        out.print("trials are still running in other workers: the last worker to end scores "
                  "the best trial and builds the final model", soft_wrap=True)
    elif step is studies.FinalStep.DONE_ELSEWHERE:
        out.print("the final model for these trials was built by another worker or an earlier "
                  f"run (see `automl show {summary.study_name}`)", soft_wrap=True)


def _render_leaderboard(report: dict[str, Any]) -> None:
    table = Table("#", "trial", report["metric"] or "value", "network", "optimizer",
                  "MLflow run", title=f"study {report['study']!r}", title_justify="left")
    for rank, row in enumerate(report["leaderboard"], 1):
        p = row["params"]
        network = f"{p.get('arch')} {p.get('n_blocks')}x{p.get('d_block')}"
        optimizer = f"{p.get('optimizer')} lr={p.get('lr', 0):.1e} bs={p.get('batch_size')}"
        table.add_row(str(rank), str(row["trial"]), f"{row['value']:.4f}", network, optimizer,
                      str(row["mlflow_run_id"])[:12])
    out.print(table)


# ------------------------------------------------------------------------------------- reports
@app.command()
def show(
    study: str = typer.Argument(..., help="Study name."),
    top: int = typer.Option(5, "--top", help="Rows of the leaderboard."),
    as_json: bool = JsonOpt,
    storage: str | None = StorageOpt,
    debug: bool = DebugOpt,
) -> None:
    """Show a study's leaderboard: best trials, their parameters, scores and MLflow run ids."""
    with _user_errors(debug):
        report = studies.show_study(storage or default_storage(), study, top)
        if as_json:
            _print_json(report)
            return
        _render_leaderboard(report)
        counts = ", ".join(f"{n} {s.lower()}" for s, n in report["trials"].items())
        out.print(f"task {report['task']}, metric {report['metric']} ({report['direction']}); "
                  f"trials: {counts}")


@app.command(name="studies")
def list_studies(
    as_json: bool = JsonOpt,
    storage: str | None = StorageOpt,
    debug: bool = DebugOpt,
) -> None:
    """List the studies in the storage: task, metric, best value, trials by state."""
    with _user_errors(debug):
        rows = studies.list_studies(storage or default_storage())
        if as_json:
            _print_json(rows)
            return
        table = Table("study", "task", "metric", "best", "complete", "pruned", "failed",
                      "running")
        for r in rows:
            best = "-" if r["best_value"] is None else f"{r['best_value']:.5g}"
            t = r["trials"]
            table.add_row(r["study"], str(r["task"]), str(r["metric"]), best,
                          *(str(t[s]) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")))
        out.print(table)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- use the result
@app.command()
def predict(
    study: str = typer.Argument(..., help="Study whose model to use."),
    csv_path: Path = typer.Argument(..., help="Rows to predict: a CSV with the feature columns."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write predictions here [default: stdout]."),
    trial: int | None = typer.Option(None, "--trial",
                                     help="Use this trial's model [default: the best]."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Predict a CSV with a study's best model: `prediction` and `proba_<class>` per row."""
    from automl.predict import predict_csv

    with _user_errors(debug):
        _quiet_libraries()
        result = predict_csv(storage or default_storage(), study, csv_path, trial=trial,
                             tracking_uri=tracking_uri)
        if result.ignored:
            err.print(f"ignored column(s) the model does not use: "
                      f"{', '.join(result.ignored)}", soft_wrap=True)
        if output is None:
            result.predictions.to_csv(sys.stdout, index=False)
            return
        try:
            result.predictions.to_csv(output, index=False)
        except OSError as exc:
            raise ConfigError(f"cannot write {output} ({exc.strerror}); check -o") from None
        err.print(f"{len(result.predictions):,} predictions from {result.source.label} "
                  f"of study {study!r} written to {output}", soft_wrap=True)


@app.command()
def export(
    study: str = typer.Argument(..., help="Study whose model to export."),
    path: Path | None = typer.Argument(None, help="New directory for the MLflow model."),
    register: str | None = typer.Option(None, "--register",
                                        help="Also register it in the MLflow Model Registry "
                                             "under this name."),
    trial: int | None = typer.Option(None, "--trial",
                                     help="Export this trial's model [default: the best]."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Export a study's best model as an MLflow pyfunc model (directory and/or registry)."""
    from automl.predict import export_study

    with _user_errors(debug):
        _quiet_libraries()
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

    with _user_errors(debug):
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


@app.command()
def report(
    study: str = typer.Argument(..., help="Study to report on."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o",
                                help="The HTML file to write."),
    top: int = typer.Option(10, "--top", min=1, help="Rows of the leaderboard."),
    storage: str | None = StorageOpt,
    debug: bool = DebugOpt,
) -> None:
    """Write a study's report as one self-contained HTML file that opens offline."""
    from automl.report import write_report

    with _user_errors(debug):
        _quiet_libraries()
        found = studies.load_existing(storage or default_storage(), study)
        path = write_report(found, studies.describe(found, top), output)
        err.print(f"report of study {study!r} written to {path}", soft_wrap=True)
