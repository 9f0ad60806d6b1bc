"""The MLflow side of a study: its store and experiment, its one parent run, reconciliation,
and deleting a study from both ledgers.

The two ledgers tell one story: every trial has one MLflow child run (its id stored as the
trial's ``mlflow_run_id`` user attr) whose status mirrors the trial's state once Optuna has
stored it. A run left RUNNING by a killed worker is closed here once Optuna has failed its trial.
A study is deleted runs first and Optuna study last, so a deletion cut short is finished by
running it again, and a study that is still in the storage still has a way to its runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import optuna

from automl.config import default_tracking_uri
from automl.errors import ConfigError, os_reason
from automl.plan import SearchPlan
from automl.queries import TrialCounts
from automl.records import EXPERIMENT, PARENT_RUN
from automl.space import SPACE_VERSION
from automl.storage import delete_stored_study, existing_storage, fail_stale, load_study
from automl.stores import absolute, mask, reach_server, sqlite_path
from automl.tracking import MlflowRuns, MlflowTracker, Tracker, TrialOutcome, temporary_dir


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
        study.set_user_attr(EXPERIMENT, tracker.experiment_id)
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


def resolve_tracking_uri(study: optuna.Study, tracking_uri: str | None) -> str:
    """``tracking_uri`` if given, else the study's own (if stored unmasked), else the default.

    Raises:
        ConfigError: a local SQLite store that does not exist.
    """
    stored = study.user_attrs.get("tracking_uri")
    uri = tracking_uri or (stored if stored and "***" not in stored else None)
    uri = uri or default_tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise ConfigError(f"no MLflow store at {mask(uri)!r} (study {study.study_name!r} "
                          "logged its models elsewhere); pass --tracking-uri")
    return uri


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyDeletion:
    """What deleting a study removes: the study (with ``trials``) from ``storage_url``, and its
    live MLflow runs (``run_ids``: parent, trials, final models) from ``tracking_uri`` (none
    where it logged nothing)."""

    study_name: str
    storage_url: str
    trials: TrialCounts
    tracking_uri: str = ""
    run_ids: tuple[str, ...] = ()


def plan_deletion(storage_url: str, study_name: str,
                  tracking_uri: str | None = None) -> StudyDeletion:
    """What :func:`delete_study` would remove (nothing is changed but the trials of dead
    workers failed, as any run of the study does).

    Raises:
        StudyNotFoundError: no such study.
        ConfigError: a trial is running (a search or worker is on the study), or the study's
            MLflow experiment is not in the tracking store.
    """
    study = load_study(storage_url, study_name)
    fail_stale(study, existing_storage(storage_url))
    trials = _idle(study)
    experiment = str(study.user_attrs.get(EXPERIMENT, ""))
    if not experiment:
        return StudyDeletion(study_name=study_name, storage_url=storage_url, trials=trials)
    uri = resolve_tracking_uri(study, tracking_uri)
    try:
        reach_server(uri)  # MLflow would retry an unreachable database for ~100 s
        runs = MlflowRuns(uri).study_runs(experiment, study_name)
        cut_short = not runs and _deleted_before(uri, study)
    except Exception as exc:  # an unreachable or unreadable store: MLflow raises several types
        raise ConfigError(f"cannot read the MLflow store {mask(uri)!r} "
                          f"({type(exc).__name__}); check --tracking-uri") from None
    if not runs and not cut_short:
        raise ConfigError(f"the MLflow runs of study {study_name!r} are not in {mask(uri)!r}; "
                          "pass the study's --tracking-uri")
    return StudyDeletion(study_name=study_name, storage_url=storage_url, trials=trials,
                         tracking_uri=uri, run_ids=tuple(runs))


def _deleted_before(tracking_uri: str, study: optuna.Study) -> bool:
    """Whether the study's parent run is in the store, deleted (by a deletion cut short)."""
    parent = study.user_attrs.get(PARENT_RUN)
    return parent is not None and MlflowRuns(tracking_uri).is_deleted(str(parent))


def _idle(study: optuna.Study) -> TrialCounts:
    """The study's trials by state.

    Raises:
        ConfigError: a trial is running.
    """
    trials = TrialCounts.of(study)
    if trials.running:
        raise ConfigError(f"study {study.study_name!r} has {trials.running} running trial(s): "
                          "a search or worker is on it; stop it (Ctrl-C) or let it finish, "
                          "then delete")
    return trials


def delete_study(deletion: StudyDeletion) -> None:
    """Delete the runs of :func:`plan_deletion` (soft: ``mlflow gc`` purges them; the
    experiment stays, empty, and a later study of the same name logs to it), then the study
    and all its trials from the storage.

    Raises:
        ConfigError: a trial started since :func:`plan_deletion` (nothing is deleted).
    """
    _idle(load_study(deletion.storage_url, deletion.study_name))
    if deletion.run_ids:
        MlflowRuns(deletion.tracking_uri).delete_runs(deletion.run_ids)
    delete_stored_study(deletion.storage_url, deletion.study_name)
