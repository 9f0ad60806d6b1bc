"""What a search shows: the plan before the first trial (data, task, split, columns), the
progress bar, the leaderboard and the summary after; the number formats they share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from automl.cli.common import err, out
from automl.config import MIN_TEST_ROWS, SearchConfig, TaskType
from automl.errors import AutoMLError
from automl.records import final_model_text, held_out_text
from automl.stores import mask
from automl.words import counted

#: Column rows shown before a search (a wide table's others are counted by kind).
MAX_COLUMN_ROWS = 30

if TYPE_CHECKING:  # the library is imported by the commands, so that `--help` is instant
    from automl.plan import SearchPlan
    from automl.queries import StudyReport
    from automl.session import Progress as SearchProgress
    from automl.session import SearchSummary


def render_plan(plan: SearchPlan) -> None:
    """What the search understood, before its first trial: rows, notes, task, class balance,
    split, study and budget, then the column table."""
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
    render_warnings(schema.warnings)
    out.print(f"task    {schema.task.value}{classes}, target {schema.target!r}, metric "
              f"{plan.metric.name} ({plan.metric.direction.value})", soft_wrap=True)
    _render_balance(plan)
    if plan.folds:
        scored = (f"{len(t.x_train):,} rows in {plan.folds.k} cross-validation folds (a network "
                  f"per fold; --folds)")
    else:
        scored = f"{len(t.x_train):,} train / {len(t.x_val):,} validation"
    test = (f"{len(t.x_test):,} test rows" if len(t.x_test)
            else f"no test split (too few rows for {MIN_TEST_ROWS})"
            if plan.test_too_small else "no test split (--test-fraction 0)")
    inputs = counted(t.n_features, "model input")
    scheme = plan.validation
    held = held_out_text(scheme.split_by, scheme.group_by)
    drawn = "" if scheme.split_by else f"seed {cfg.seed}"  # a split by time draws nothing
    how = ", ".join(filter(None, (f"held out: {held}" if held else "", drawn)))
    out.print(f"split   {scored} / {test} ({how}); {inputs}", soft_wrap=True)
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
    parts = ([] if cfg.n_trials is None else [counted(cfg.n_trials, "trial")]) + \
        ([f"timeout {cfg.timeout_s:g}s"] if cfg.timeout_s else [])
    return ", ".join(parts)


@contextmanager
def progress_bar(budget: int | None) -> Iterator[Callable[[SearchProgress], None]]:
    """A progress bar on stderr (trials done of ``budget``, the best value, the time) and the
    callback that moves it after each trial; hidden if a refusal comes before any trial."""
    count = "{task.completed}" if budget is None else "{task.completed}/{task.total}"
    columns = (TextColumn("trials"), BarColumn(), TextColumn(count),
               TextColumn("best {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("search", total=budget, best="-")

        def update(p: SearchProgress) -> None:
            best = "-" if p.best_value is None else score_text(p.best_value)
            bar.update(task, completed=p.n_done if budget is None else min(p.n_done, budget),
                       best=best)

        try:
            yield update
        except AutoMLError:
            if not bar.tasks[0].completed:  # refused before any trial: only the error line
                bar.update(task, visible=False)
            raise


def render_warnings(warnings: tuple[str, ...]) -> None:
    """What to act on before trusting the model (:attr:`~automl.data.Schema.warnings`), a
    line each, as written (a column name is never read as markup)."""
    for warning in warnings:
        out.print(f"warning {warning}", soft_wrap=True, markup=False)


def render_summary(summary: SearchSummary, warnings: tuple[str, ...] = ()) -> None:
    """The end of a search: leaderboard, trial counts, the final model with its scores (or why
    there is none), what is left to others, the plan's ``warnings`` again (its scores may owe
    them everything), and how to open the MLflow UI."""
    from automl.session import FinalStep

    report = summary.report
    render_leaderboard(report)
    out.print(f"{counted(summary.n_run_here, 'trial')} run in {summary.elapsed_s:.0f} s; "
              f"study: {report.trials}")
    if summary.final_step is FinalStep.HERE and report.final_model:
        _render_final(report.final_model, report.metric or "", summary.n_test_rows,
                      summary.test_too_small)
    elif summary.final_step is FinalStep.HERE and not report.trials.complete:
        out.print("no trial completed (each was pruned, failed or stopped by the time limit), "
                  "so there is no model yet: give it more time with "
                  f"`automl resume {summary.study_name} --timeout SECONDS`", soft_wrap=True)
    render_deferral(summary)
    render_warnings(warnings)
    out.print(f"compare trials in the MLflow UI:\n  mlflow ui --backend-store-uri "
              f"{mask(summary.tracking_uri)}", soft_wrap=True)


def final_scores_text(final: dict[str, Any], metric: str) -> str:
    """What the final model is and its selection score, beside its best trial's on the same
    rows (pooled out of fold when cross-validated: not the fold mean the leaderboard shows)."""
    bagged = final.get("cross_validated", False)
    what = final_model_text(final)
    if bagged:
        what += (" (each the average of its fold networks)" if len(final["trials"]) > 1
                 else " (the average of its fold networks)")
    on = "pooled out-of-fold" if bagged else "validation"
    best = f"trial {final['best_trial']}" if "best_trial" in final else "the best trial"
    alone = (f" (best {best} alone: {score_text(final['best_trial_score'])})"
             if len(final["trials"]) > 1 and "best_trial_score" in final else "")
    return f"{what}; {on} {metric} {score_text(final['val_score'])}{alone}"


def test_scores_text(final: dict[str, Any], n_test_rows: int | None) -> str:
    """The final model's scores on the held-out test rows (``n_test_rows`` of them; ``None``:
    a final model stored without the count)."""
    scores = ", ".join(f"{k} {score_text(v)}" for k, v in final["test_metrics"].items())
    before = (" (scored before it was trained again on them too)"
              if "refit_all_rows" in final else "")
    rows = "" if n_test_rows is None else f"{n_test_rows:,} "
    return (f"final model on the {rows}held-out test rows, which no selection step "
            f"saw{before}: {scores}")


def _render_final(final: dict[str, Any], metric: str, n_test_rows: int,
                  test_too_small: bool = True) -> None:
    """What the final model is, its selection score (an ensemble's beside its best trial's, on
    the same rows) and its test score (or why there is none: ``test_too_small``, else
    ``--test-fraction 0``); then where its prediction intervals come from, and why
    ``--refit-all`` did not train it again, if so."""
    bagged = final.get("cross_validated", False)
    on = "out-of-fold" if bagged else "validation"
    out.print(f"final model: {final_scores_text(final, metric)}", soft_wrap=True)
    render_threshold(final)
    test = final.get("test_metrics", {})
    if test:
        out.print(test_scores_text(final, n_test_rows), soft_wrap=True)
    elif not n_test_rows:
        why = (f"the table is too small for a useful one (under {MIN_TEST_ROWS} test rows), so "
               "every row went to the folds" if test_too_small else "--test-fraction 0")
        out.print(f"no test split: {why}; the {on} {metric} above is the estimate (a little "
                  "optimistic: the same rows chose the model)", soft_wrap=True)
    if "interval_rows" in final:
        held = (f"; on the test rows, 90% intervals held {percent(test['coverage_90'])} of the "
                "values" if "coverage_90" in test else "")
        out.print(f"prediction intervals calibrated on {final['interval_rows']:,} "
                  f"{on} rows{held}: `automl predict --interval 0.9` writes them",
                  soft_wrap=True)
    if "refit_all_skipped" in final:
        out.print(f"--refit-all: not trained again on every row ({final['refit_all_skipped']}); "
                  "the model kept is the one scored above", soft_wrap=True)


def render_deferral(summary: SearchSummary) -> None:
    """Why this run built no final model (other workers still run trials, none finished, it
    was built before), and that nothing was left to run when the budget was already reached."""
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
        on = "out-of-fold" if final.get("cross_validated", False) else "on validation"
        out.print(f"decision threshold {threshold['value']:.4g} (maximises "
                  f"{threshold['metric']} {on}: {threshold['score']:.4f}, "
                  f"precision {threshold['precision']:.4f}, recall "
                  f"{threshold['recall']:.4f}); `automl predict --threshold X` overrides it",
                  soft_wrap=True)


def percent(share: float) -> str:
    """``12.5%``; a share that rounds to 0.0% but is not 0 is ``<0.1%`` (5 rows of 20,640)."""
    return "<0.1%" if 0 < share < 0.0005 else f"{share:.1%}"


def score_text(value: float, scale: float | None = None) -> str:
    """``value`` as a person reads it, by the size of ``scale`` (default: ``value``): from
    10,000 to 10 million with thousands separators and no decimals (an RMSE of house prices,
    ``43,581``); from 100 with one decimal (``5,980.1``, ``527.9``); between 0.001 and 100 (or
    0) with 4 decimals (``0.6600``, beside ``0.7469``; ``54.2345``); else with 4 significant
    digits (``1.133e+09``, ``1.472e-08``, never ``0.0000`` or ten digits cut by a column). A
    spread given its score's ``scale`` reads like it: ``0.9982 ± 0.0010``."""
    size = abs(value if scale is None else scale)
    if 1e4 <= size < 1e7:
        return f"{value:,.0f}"
    if 100 <= size < 1e4:
        return f"{value:,.1f}"
    if size == 0 or 1e-3 <= size < 100:
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

