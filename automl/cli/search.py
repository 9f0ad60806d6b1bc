"""``automl search``, ``resume`` and ``worker``: run a study; show what it read and found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from automl.cli.common import (
    DataOpt,
    DebugOpt,
    MemoryOpt,
    StorageOpt,
    TrackingOpt,
    app,
    out,
    quiet_libraries,
    search_default,
    split_names,
    train_default,
    user_errors,
)
from automl.cli.render import (
    budget_text,
    counted,
    progress_bar,
    render_deferral,
    render_plan,
    render_summary,
    score_text,
)
from automl.config import (
    CV_MAX_ROWS,
    DEFAULT_FOLDS,
    DEFAULT_TRIALS,
    FAMILY_NAMES,
    GROW_ABOVE_ROWS,
    MAX_FOLDS,
    MIN_TEST_ROWS,
    ColumnChoices,
    PrunerKind,
    SamplerKind,
    SearchConfig,
    TaskType,
    TrainConfig,
    default_storage,
    default_tracking_uri,
)
from automl.stores import mask

if TYPE_CHECKING:  # the library is imported by the commands, so that `--help` is instant
    from automl.session import Progress as SearchProgress


@app.command()
def search(
    csv_path: Path = typer.Argument(..., help="Training data: a CSV file (.csv or .csv.gz).",
                                    readable=False),  # automl.data says what is wrong, on one line
    target: str | None = typer.Option(None, "--target", "-t",
                                      help="Target column [default: the last column]."),
    study: str | None = typer.Option(None, "--study", "-s",
                                     help="Study name [default: from the file name]."),
    n_trials: int | None = typer.Option(
        None, "--n-trials", "-n",
        help=f"The study's total budget of finished trials [default: {DEFAULT_TRIALS}; with "
             "--timeout alone, as many as fit in the time]."),
    timeout: float | None = typer.Option(None, "--timeout",
                                         help="Wall-clock seconds for this run."),
    seed: int = typer.Option(search_default("seed"), "--seed",
                            help="Seed of the split, sampler and weights."),
    task: TaskType | None = typer.Option(None, "--task",
                                         help="Force the task [default: inferred]."),
    metric: str | None = typer.Option(
        None, "--metric", help="Study metric [default: roc_auc (pr_auc when the minority class "
                               "is under 10%) / accuracy / rmse]."),
    positive_class: str | None = typer.Option(
        None, "--positive-class", help="Positive class of a binary target [default: the "
                                       "minority class]."),
    threshold_metric: str = typer.Option(
        search_default("threshold_metric"), "--threshold-metric",
        help="What the final model's decision threshold maximises (binary): f1, fbeta:BETA, "
             "precision@recall:MIN or recall@precision:MIN."),
    refit_all: bool = typer.Option(
        search_default("refit_all"), "--refit-all",
        help="Once the final model has its test score, train it again on every row (the "
             "validation and test rows too) and keep that: the rows nearest the future, with "
             "--split-by, are then learned too [default: off]."),
    families: str | None = typer.Option(
        None, "--families",
        help=f"Comma-separated model families to search, among {', '.join(FAMILY_NAMES)} "
             "[default: all]."),
    numeric: str | None = typer.Option(
        None, "--numeric", help="Comma-separated columns to read as numbers, whatever the "
                                "rules infer (e.g. a count in row order, else dropped as a row "
                                "number)."),
    categorical: str | None = typer.Option(
        None, "--categorical", help="Comma-separated columns to read as categories (e.g. "
                                    "integer codes such as zip codes)."),
    text: str | None = typer.Option(
        None, "--text", help="Comma-separated columns to read as text: their frequent words "
                             "(e.g. job titles, whose words say more than their many levels)."),
    drop: str | None = typer.Option(
        None, "--drop", help="Comma-separated columns to leave out (e.g. one that leaks the "
                             "target, or a key the rules keep)."),
    folds: int | None = typer.Option(
        None, "--folds", min=1, max=MAX_FOLDS,
        help=f"Cross-validation folds that score each trial; 1: one validation split "
             f"[default: {DEFAULT_FOLDS} for tables of at most {CV_MAX_ROWS:,} rows outside the "
             "test split, else 1]."),
    test_fraction: float | None = typer.Option(
        None, "--test-fraction", min=0.0, max=0.5,
        help=f"Share of rows held out to score the final model once [default: 0.15; none when "
             f"cross-validating a table that would leave under {MIN_TEST_ROWS} test rows]."),
    split_by: str | None = typer.Option(
        None, "--split-by", metavar="COLUMN",
        help="A column of dates or numbers whose order is time: its latest rows are the test "
             "split and the rows before them the validation split (no cross-validation), so "
             "every score is of predicting later rows [default: rows held out at random]."),
    group_by: str | None = typer.Option(
        None, "--group-by", metavar="COLUMN",
        help="A column whose rows belong together (a customer's, a patient's): each group's "
             "rows are all in one part of the split and one fold, so every score is of groups "
             "the model never saw [default: rows held out one by one]."),
    sampler: SamplerKind = typer.Option(search_default("sampler"), "--sampler",
                                        help="Optuna sampler."),
    pruner: PrunerKind | None = typer.Option(
        None, "--pruner",
        help=f"Optuna pruner [default: halving for a table whose rows grow (more than "
             f"{GROW_ABOVE_ROWS:,} training rows), else median]."),
    max_epochs: int = typer.Option(train_default("max_epochs"), "--max-epochs",
                                   help="Upper bound on epochs per trial."),
    patience: int = typer.Option(train_default("patience"), "--patience",
                                 help="Early-stopping patience in epochs."),
    max_trial_seconds: float = typer.Option(
        train_default("max_trial_seconds"), "--max-trial-seconds",
        help="A trial ends after the first batch past this many seconds (0: no limit)."),
    device: str = typer.Option(train_default("device"), "--device", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads [default: all]."),
    memory_limit: float | None = MemoryOpt,
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
    from automl.plan import study_name_for

    with user_errors(debug, study or study_name_for(csv_path)):
        cfg = SearchConfig(
            csv_path=csv_path, target=target, study_name=study, n_trials=n_trials,
            timeout_s=timeout, seed=seed, task=task, metric=metric,
            positive_class=positive_class, threshold_metric=threshold_metric,
            refit_all=refit_all, folds=folds,
            test_fraction=test_fraction, split_by=split_by, group_by=group_by,
            families=None if families is None else split_names(families),
            column_choices=ColumnChoices(numeric=split_names(numeric),
                                         categorical=split_names(categorical),
                                         text=split_names(text), drop=split_names(drop)),
            sampler=sampler, pruner=pruner, threads=threads, memory_limit_gb=memory_limit,
            experiment_name=experiment,
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
    memory_limit: float | None = MemoryOpt,
    data: Path | None = DataOpt,
    debug: bool = DebugOpt,
) -> None:
    """Continue a study with its stored data, split and settings, up to its budget."""
    from automl.queries import resume_config

    with user_errors(debug, study):
        cfg = resume_config(storage or default_storage(), study, n_trials=n_trials,
                            timeout_s=timeout, tracking_uri=tracking_uri,
                            memory_limit_gb=memory_limit, csv_path=data)
        _run(cfg, n_workers)


@app.command()
def worker(
    study: str = typer.Argument(..., help="Name of the existing study to join."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads [default: all]."),
    timeout: float | None = typer.Option(None, "--timeout",
                                         help="Wall-clock seconds for this worker."),
    memory_limit: float | None = MemoryOpt,
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    data: Path | None = DataOpt,
    debug: bool = DebugOpt,
) -> None:
    """Join an existing study as one more worker (any machine reaching the storage and data)."""
    from automl import workers

    with user_errors(debug, study), workers.interrupts_end_trials():
        quiet_libraries()
        cfg = workers.worker_config(storage or default_storage(), study, threads=threads,
                                    timeout_s=timeout, tracking_uri=tracking_uri,
                                    memory_limit_gb=memory_limit, csv_path=data)
        me = f"worker {os.getpid()}"
        out.print(f"{me} joins study {study!r} in {mask(cfg.storage_url)}, budget "
                  f"{budget_text(cfg)}, data {cfg.csv_path}", soft_wrap=True)

        def line(p: SearchProgress) -> None:
            best = "-" if p.best_value is None else score_text(p.best_value)
            out.print(f"{me}: trial {p.last_state.lower()}; study {p.n_done}/{p.budget or '-'} "
                      f"finished, best {best}", soft_wrap=True)

        summary = workers.run_worker(cfg, on_trial=line)
        out.print(f"{me}: {counted(summary.n_run_here, 'trial')} run in "
                  f"{summary.elapsed_s:.0f} s",
                  soft_wrap=True)
        render_deferral(summary)


def _run(cfg: SearchConfig, n_workers: int = 1) -> None:
    from automl import workers
    from automl.plan import prepare_search
    from automl.session import run_search

    quiet_libraries()
    plan = prepare_search(cfg)
    render_plan(plan)
    with workers.interrupts_end_trials():
        if n_workers > 1:
            out.print(f"workers {n_workers} processes x "
                      f"{workers.threads_per_worker(n_workers, cfg.threads)} torch threads")
            summary = workers.run_workers(plan, n_workers)
        else:
            with progress_bar(cfg.n_trials) as on_trial:
                summary = run_search(plan, on_trial=on_trial)
    render_summary(summary, plan.schema.warnings)
