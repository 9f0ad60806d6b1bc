"""``automl search``, ``resume`` and ``worker``: run a study; show what it read and found."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from automl.cli.common import (
    DataOpt,
    DebugOpt,
    MemoryOpt,
    StorageOpt,
    TrackingOpt,
    app,
    err,
    out,
    quiet_libraries,
    search_default,
    train_default,
    user_errors,
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
from automl.errors import AutoMLError
from automl.stores import mask

#: Column rows shown before a search (a wide table's others are counted by kind).
MAX_COLUMN_ROWS = 30

if TYPE_CHECKING:  # the library is imported by the commands, so that `--help` is instant
    from automl.plan import SearchPlan
    from automl.queries import StudyReport
    from automl.session import Progress as SearchProgress
    from automl.session import SearchSummary


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
            positive_class=positive_class, threshold_metric=threshold_metric, folds=folds,
            test_fraction=test_fraction,
            families=None if families is None else _names(families),
            column_choices=ColumnChoices(numeric=_names(numeric),
                                         categorical=_names(categorical), drop=_names(drop)),
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
            best = "-" if p.best_value is None else score_text(p.best_value, fixed=False)
            out.print(f"{me}: trial {p.last_state.lower()}; study {p.n_done}/{p.budget or '-'} "
                      f"finished, best {best}", soft_wrap=True)

        summary = workers.run_worker(cfg, on_trial=line)
        out.print(f"{me}: {summary.n_run_here} trial(s) run in {summary.elapsed_s:.0f}s",
                  soft_wrap=True)
        _render_deferral(summary)


def _names(text: str | None) -> tuple[str, ...]:
    """A comma-separated option's names: ``mlp, tabm`` as ``("mlp", "tabm")``."""
    return () if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def _run(cfg: SearchConfig, n_workers: int = 1) -> None:
    from automl import workers
    from automl.plan import prepare_search
    from automl.session import run_search

    quiet_libraries()
    plan = prepare_search(cfg)
    _render_plan(plan)
    with workers.interrupts_end_trials():
        if n_workers > 1:
            out.print(f"workers {n_workers} processes x "
                      f"{workers.threads_per_worker(n_workers, cfg.threads)} torch threads")
            summary = workers.run_workers(plan, n_workers)
        else:
            with _progress_bar(cfg.n_trials) as on_trial:
                summary = run_search(plan, on_trial=on_trial)
    _render_summary(summary)


def _render_plan(plan: SearchPlan) -> None:
    schema, cfg, t = plan.schema, plan.cfg, plan.tensors
    classes = f" ({len(schema.classes)} classes)" if schema.classes else ""
    if schema.positive_class is not None:
        classes = f" (positive class {schema.positive_class!r})"
    out.print(f"data    {cfg.csv_path}: {counted(schema.n_rows, 'row')}, "
              f"{counted(len(schema.columns), 'feature')}, fingerprint {plan.fingerprint}",
              soft_wrap=True)
    if schema.n_missing_target:
        out.print(f"        dropped {counted(schema.n_missing_target, 'row')} with no target "
                  "value", soft_wrap=True)
    for note in schema.notes:
        out.print(f"        {note}", soft_wrap=True)
    out.print(f"task    {schema.task.value}{classes}, target {schema.target!r}, metric "
              f"{plan.metric.name} ({plan.metric.direction.value})", soft_wrap=True)
    _render_balance(plan)
    if plan.folds:
        scored = (f"{len(t.x_train):,} rows in {plan.folds.k} cross-validation folds (a network "
                  f"per fold; --folds)")
    else:
        scored = f"{len(t.x_train):,} train / {len(t.x_val):,} validation"
    test = (f"{len(t.x_test):,} test rows" if len(t.x_test)
            else f"no test split (too few rows for {MIN_TEST_ROWS})")
    inputs = counted(t.n_features, "model input")
    out.print(f"split   {scored} / {test} (seed {cfg.seed}); {inputs}", soft_wrap=True)
    out.print(f"study   {plan.study_name!r} in {mask(cfg.storage_url)}, budget "
              f"{budget_text(cfg)}", soft_wrap=True)
    _render_columns(plan)


def _render_columns(plan: SearchPlan) -> None:
    """Every column with its kind and action; of a wide table, the first
    :data:`MAX_COLUMN_ROWS` in file order of those dropped, chosen or noted first, then the
    rest counted by kind (``automl report`` lists them all)."""
    rows, specs = plan.preprocessor.describe(), plan.schema.columns
    order = sorted(range(len(rows)), key=lambda i: (
        specs[i].kind.is_used and not specs[i].note, i))
    shown = sorted(order[:MAX_COLUMN_ROWS])
    title = "columns" if len(shown) == len(rows) else f"columns ({len(shown)} of {len(rows)})"
    longest = max(len(rows[i][0]) for i in shown)  # a name is what --drop takes: never cut
    table = Table(Column("column", overflow="fold", min_width=min(longest, 40)), "kind",
                  "action", title=title, title_justify="left")
    for i in shown:
        table.add_row(*rows[i])
    out.print(table)
    rest = Counter(rows[i][1] for i in order[MAX_COLUMN_ROWS:])
    if rest:
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in rest.most_common())
        out.print(f"        and {sum(rest.values()):,} more columns ({kinds}); `automl report "
                  f"{plan.study_name}` lists every one", soft_wrap=True)


def _render_balance(plan: SearchPlan) -> None:
    """The class balance; under :data:`~automl.metrics.IMBALANCED_SHARE`, which metric drives
    the study and why."""
    from automl.metrics import IMBALANCED_DEFAULT, IMBALANCED_SHARE, IMBALANCED_WHY

    schema, cfg = plan.schema, plan.cfg
    if not schema.class_counts:
        return
    total = sum(schema.class_counts)
    shares = sorted(zip(schema.class_counts, schema.classes, strict=True),
                    key=lambda share: -share[0])  # ties in label order
    shown = ", ".join(f"{label!r} {n:,} ({percent(n / total)})" for n, label in shares[:6])
    more = f" and {len(shares) - 6} more" if len(shares) > 6 else ""
    out.print(f"classes {shown}{more}", soft_wrap=True)
    share = schema.minority_share
    if share is None or share >= IMBALANCED_SHARE:
        return
    if cfg.metric:
        why = (f"(--metric); for imbalanced classes {IMBALANCED_DEFAULT}, f1, recall or "
               "balanced_accuracy say more than accuracy or ROC-AUC")
    elif plan.metric.name == IMBALANCED_DEFAULT:
        why = f"by default: {IMBALANCED_WHY}"
    else:
        why = "by default; --metric f1 or balanced_accuracy follow the rare classes"
    threshold = (f"; predictions use a decision threshold tuned for "
                 f"{plan.threshold_metric} (--threshold-metric)"
                 if schema.task is TaskType.BINARY else "")
    out.print(f"        imbalanced: the smallest class is {percent(share)} of the rows; the study "
              f"optimises {plan.metric.name} {why}{threshold}", soft_wrap=True)


def budget_text(cfg: SearchConfig) -> str:
    """``20 trials``, ``20 trials, timeout 60s`` or ``timeout 60s`` (no trial count)."""
    parts = ([] if cfg.n_trials is None else [f"{cfg.n_trials} trials"]) + \
        ([f"timeout {cfg.timeout_s:g}s"] if cfg.timeout_s else [])
    return ", ".join(parts)


@contextmanager
def _progress_bar(budget: int | None) -> Iterator[Callable[[SearchProgress], None]]:
    count = "{task.completed}" if budget is None else "{task.completed}/{task.total}"
    columns = (TextColumn("trials"), BarColumn(), TextColumn(count),
               TextColumn("best {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("search", total=budget, best="-")

        def update(p: SearchProgress) -> None:
            best = "-" if p.best_value is None else score_text(p.best_value, fixed=False)
            bar.update(task, completed=p.n_done if budget is None else min(p.n_done, budget),
                       best=best)

        try:
            yield update
        except AutoMLError:
            if not bar.tasks[0].completed:  # refused before any trial: only the error line
                bar.update(task, visible=False)
            raise


def _render_summary(summary: SearchSummary) -> None:
    from automl.session import FinalStep

    report = summary.report
    render_leaderboard(report)
    out.print(f"{summary.n_run_here} trial(s) run in {summary.elapsed_s:.0f}s; "
              f"study: {report.trials}")
    if summary.final_step is FinalStep.HERE and report.final_model:
        _render_final(report.final_model, report.metric or "", summary.n_test_rows)
    elif summary.final_step is FinalStep.HERE and not report.trials.complete:
        out.print("no trial completed (each was pruned, failed or stopped by the time limit), "
                  "so there is no model yet: give it more time with "
                  f"`automl resume {summary.study_name} --timeout SECONDS`", soft_wrap=True)
    _render_deferral(summary)
    out.print(f"compare trials in the MLflow UI:\n  mlflow ui --backend-store-uri "
              f"{mask(summary.tracking_uri)}", soft_wrap=True)


_FINAL_KINDS = {"ensemble": "an ensemble of trials {trials}", "bag": "trial {trials}",
                "refit": "trial {trials} refitted on the training and validation rows",
                "best_trial": "trial {trials}"}


def _render_final(final: dict[str, Any], metric: str, n_test_rows: int) -> None:
    """What the final model is, its selection score and its test score (or why there is none)."""
    bagged = final.get("cross_validated", False)
    what = _FINAL_KINDS.get(final["kind"], "trial {trials}").format(
        trials=", ".join(map(str, final["trials"])))
    if bagged:
        what += (" (each the average of its fold networks)" if len(final["trials"]) > 1
                 else " (the average of its fold networks)")
    on = "out-of-fold" if bagged else "validation"
    out.print(f"final model: {what}; {on} {metric} "
              f"{score_text(final['val_score'], fixed=False)}", soft_wrap=True)
    render_threshold(final)
    test = final.get("test_metrics", {})
    if test:
        scores = ", ".join(f"{k} {score_text(v, fixed=False)}" for k, v in test.items())
        out.print(f"final model on the {n_test_rows:,} held-out test rows, which no selection step "
                  f"saw: {scores}", soft_wrap=True)
    elif not n_test_rows:
        out.print(f"no test split: the table is too small for a useful one (under "
                  f"{MIN_TEST_ROWS} test rows), so every row went to the folds; the {on} "
                  f"{metric} above is the estimate (a little optimistic: the same rows chose the "
                  "model)", soft_wrap=True)


def _render_deferral(summary: SearchSummary) -> None:
    from automl.session import FinalStep

    step = summary.final_step
    if step is FinalStep.LEFT_TO_RUNNING:
        out.print("trials are still running in other workers: the last worker to end scores "
                  "the best trial and builds the final model", soft_wrap=True)
    elif step is FinalStep.NOTHING_TO_DO:
        out.print("no trial finished in this run's time, so there is nothing to score yet: give "
                  f"it more time with `automl resume {summary.study_name} --timeout SECONDS`",
                  soft_wrap=True)
    elif step is FinalStep.DONE_ELSEWHERE:
        out.print("the final model for these trials was built by another worker or an earlier "
                  f"run (see `automl show {summary.study_name}`)", soft_wrap=True)
    budget, done = summary.report.n_trials_budget, summary.report.trials.finished
    if not summary.n_run_here and budget is not None and done >= budget:
        out.print(f"nothing left to run: the study's {done} finished trials reach its budget "
                  f"of {budget}, a total (not more trials); `automl resume "
                  f"{summary.study_name} --n-trials {done + 10}` runs 10 more", soft_wrap=True)


def render_threshold(final: dict[str, Any] | None) -> None:
    """The final model's tuned decision threshold (a binary study's), if it has one."""
    threshold = (final or {}).get("threshold")
    if threshold:
        out.print(f"decision threshold {threshold['value']:.4g} (maximises "
                  f"{threshold['metric']} on validation: {threshold['score']:.4f}, "
                  f"precision {threshold['precision']:.4f}, recall "
                  f"{threshold['recall']:.4f}); `automl predict --threshold X` overrides it",
                  soft_wrap=True)


def percent(share: float) -> str:
    """``12.5%``; a share that rounds to 0.0% but is not 0 is ``<0.1%`` (5 rows of 20,640)."""
    return "<0.1%" if 0 < share < 0.0005 else f"{share:.1%}"


def counted(n: int, noun: str) -> str:
    """``1 row``, ``2,000 rows``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def score_text(value: float, scale: float | None = None, *, fixed: bool = True) -> str:
    """``value`` as a person reads it, by the size of ``scale`` (default: ``value``): from
    10,000 to 10 million with thousands separators and no decimals (an RMSE of house prices,
    ``43,581``); between 0.001 and 10,000 (or 0) with 4 decimals, or with 4 significant digits
    where not ``fixed``; else with 4 significant digits (``1.133e+09``, ``1.472e-08``, never
    ``0.0000`` or ten digits cut by a column). A spread given its score's ``scale`` reads like
    it: ``0.9982 ± 0.0010``."""
    size = abs(value if scale is None else scale)
    if 1e4 <= size < 1e7:
        return f"{value:,.0f}"
    if fixed and (size == 0 or 1e-3 <= size < 1e4):
        return f"{value:.4f}"
    return f"{value:.4g}"


def render_leaderboard(report: StudyReport) -> None:
    """The leaderboard as a table: rank, trial, value (± the spread of its fold scores when
    cross-validated), training rows at its best epoch, network (``linear`` for the linear
    model), optimizer, MLflow run."""
    from automl.queries import network_label, optimizer_label

    cells = [(str(rank), str(row.trial),
              score_text(row.value) + ("" if row.spread is None else
                                       f" ± {score_text(row.spread, scale=row.value)}"),
              "?" if row.rows is None else f"{row.rows:,}", network_label(row.params),
              optimizer_label(row.params), str(row.mlflow_run_id)[:12])
             for rank, row in enumerate(report.leaderboard, 1)]
    names = ("#", "trial", report.metric or "value", "rows", "network", "optimizer",
             "MLflow run")
    # a column wraps between words, never inside one (``periodic_lite`` was cut to ``…li…``);
    # a score and its spread take two lines (``0.9986 ±`` / ``0.0006``), so 80 columns hold all
    words = [max((len(word) for row in cells for word in row[i].split()), default=0)
             for i in range(len(names))]
    columns = [Column(name, min_width=width) for name, width in zip(names, words, strict=True)]
    columns[2].max_width = max(words[2] + 2, len(names[2]))
    table = Table(*columns, title=f"study {report.study!r}", title_justify="left")
    for row in cells:
        table.add_row(*row)
    out.print(table)

