"""The MLflow side of a study: its store and experiment, its one parent run, reconciliation.

The two ledgers tell one story: every trial has one MLflow child run (its id stored as the
trial's ``mlflow_run_id`` user attr) whose status mirrors the trial's state once Optuna has
stored it. A run left RUNNING by a killed worker is closed here once Optuna has failed its trial.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from automl.errors import ConfigError, os_reason
from automl.plan import SearchPlan
from automl.space import SPACE_VERSION
from automl.stores import absolute, mask
from automl.tracking import MlflowTracker, Tracker, TrialOutcome, temporary_dir

PARENT_RUN = "mlflow_parent_run_id"


def connect_tracker(plan: SearchPlan) -> MlflowTracker:
    """The plan's MLflow store and experiment (no run yet).

    Raises:
        ConfigError: the tracking store cannot be reached or created.
    """
    return MlflowTracker(plan.cfg.tracking_uri, plan.experiment)


def open_parent(plan: SearchPlan, study: optuna.Study, tracker: Tracker) -> None:
    """Open the study's one parent run: re-open the stored one, or create it and store its id,
    the experiment and the (masked) tracking URI with the study."""
    parent = study.user_attrs.get(PARENT_RUN)
    tags = {"automl.space_version": str(SPACE_VERSION),
            "automl.fingerprint": plan.fingerprint}
    attrs = plan.settings().to_attrs()
    # The column table is an artifact (log_columns); the fold of each row (a digit a row)
    # means nothing in a params table: ``n_folds`` says how the study is scored.
    params = {k: v for k, v in attrs.items() if k not in ("schema", "columns", "folds")}
    run_id = tracker.start_study(plan.study_name, parent_run_id=parent, tags=tags, params=params)
    if parent is not None:
        return
    try:
        log_columns(tracker, run_id, plan)
        study.set_user_attr(PARENT_RUN, run_id)
        study.set_user_attr("mlflow_experiment_id", tracker.experiment_id)
        study.set_user_attr("tracking_uri", mask(absolute(plan.cfg.tracking_uri)))
    except BaseException as exc:
        tracker.discard_run(run_id)  # a new parent run that could not be set up: no trace
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write the study's MLflow artifacts for "
                              f"{mask(plan.cfg.tracking_uri)!r} ({os_reason(exc)}); check "
                              "--tracking-uri and its artifact folder") from None
        raise


def log_columns(tracker: Tracker, run_id: str, plan: SearchPlan) -> None:
    """Log the schema table (column, kind, action) as ``columns.json`` of the parent run."""
    schema = plan.schema
    table = {"target": schema.target, "task": schema.task.value, "classes": list(schema.classes),
             "n_rows": schema.n_rows, "n_missing_target": schema.n_missing_target,
             "notes": list(schema.notes), "warnings": list(schema.warnings),
             "columns": [{"column": c, "kind": k, "action": a}
                         for c, k, a in plan.preprocessor.describe()]}
    with temporary_dir() as tmp:
        (Path(tmp) / "columns.json").write_text(json.dumps(table, indent=1, ensure_ascii=False))
        tracker.log_dir(run_id, Path(tmp), "")


def reconcile_runs(study: optuna.Study, tracker: Tracker) -> int:
    """Close MLflow trial runs left RUNNING although their Optuna trial is finished.

    A worker killed with SIGKILL (or one that lost its connection) leaves its run RUNNING; once
    Optuna has failed the trial (heartbeat), the run gets the mirrored status (FAIL → FAILED).
    Runs of trials still RUNNING or WAITING are left alone. Returns how many runs were closed.
    """
    parent = study.user_attrs.get(PARENT_RUN)
    if parent is None:
        return 0
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    closed = 0
    for run_id, number in tracker.running_trial_runs(parent).items():
        state = states.get(number)
        if state is not None and state.is_finished():
            tracker.end_trial(run_id, TrialOutcome(state.name), {})
            closed += 1
    return closed


def close_parent(study: optuna.Study, tracker: Tracker) -> None:
    """Close the study's parent run as FINISHED (the next worker or resume re-opens it)."""
    parent = study.user_attrs.get(PARENT_RUN)
    if parent is not None:
        tracker.end_study(parent)
