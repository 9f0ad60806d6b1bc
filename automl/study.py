"""Optuna orchestration: the study, sampler, pruner, resume checks, the objective, the summary.

The two ledgers tell one story: every trial has one MLflow child run (its id stored as the
trial's ``mlflow_run_id`` user attr) whose status mirrors the trial's state once Optuna has
stored it. ``--n-trials`` is the study's total budget, enforced by a gate before each trial.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automl.bundle import ModelBundle, load_bundle, save_bundle
from automl.config import PrunerKind, SamplerKind, SearchConfig, TrainConfig
from automl.data import Dataset, load_dataset, split
from automl.errors import StudyMismatchError, StudyNotFoundError, TrialError
from automl.features import Preprocessor, TensorSplits
from automl.final import (
    TOP_K,
    VAL_OUTPUT,
    Candidate,
    FinalInputs,
    ValidationOutputs,
    build_final,
    reserve_seconds,
    val_predictions,
    validation_targets,
)
from automl.metrics import Metric, primary_metric
from automl.model import build_model
from automl.report import log_report
from automl.space import SPACE_VERSION, params_from_dict, sample_params, warm_start
from automl.storage import (
    HEARTBEAT_INTERVAL_S,
    claim,
    existing_storage,
    has_heartbeat,
    is_lost_connection,
    make_storage,
    rdb_of,
)
from automl.stores import absolute, check_sqlite, check_url, store_lock
from automl.stores import mask as mask_url
from automl.tracking import (
    MlflowTracker,
    Tracker,
    TrackingCallback,
    temporary_dir,
)
from automl.train import FitResult, StopReason, fit, resolve_device, score_split

_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
#: Share of ``--timeout`` one trial may use: an oversized network ends (keeping its best epoch)
#: before it eats the search; measured on diamonds, one 7x893 ResNet took 323 s of a 600 s run.
MAX_TRIAL_SHARE = 0.1
#: ``--pruner patient``: epochs without a new best that a trial below the median may go on
#: before it is pruned, so a slow starter that is still climbing is judged by its trend.
PRUNE_PATIENCE = 2
_IDENTITY = ("fingerprint", "target", "task", "metric", "space_version", "split_seed",
             "val_fraction", "test_fraction")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPlan:
    """Everything decided before the first trial: data, schema, split tensors, metric, name."""

    cfg: SearchConfig
    study_name: str
    dataset: Dataset
    preprocessor: Preprocessor
    tensors: TensorSplits
    metric: Metric

    def study_attrs(self) -> dict[str, Any]:
        """What the study stores about itself (checked on resume, shown by ``show``)."""
        schema = self.dataset.schema
        return {
            "data_path": str(Path(self.cfg.csv_path).resolve()), "target": schema.target,
            "task": schema.task.value, "metric": self.metric.name,
            "direction": self.metric.direction, "fingerprint": self.dataset.fingerprint,
            "space_version": SPACE_VERSION, "split_seed": self.cfg.seed,
            "val_fraction": self.cfg.val_fraction, "test_fraction": self.cfg.test_fraction,
            "n_trials": self.cfg.n_trials, "schema": schema.to_dict(),
            "columns": [list(row) for row in self.preprocessor.describe()],
            "sampler": self.cfg.sampler.value, "pruner": self.cfg.pruner.value,
            "train": asdict(self.cfg.train),
            "experiment": self.cfg.experiment_name or self.study_name,
            "n_startup_trials": self.cfg.n_startup_trials,
            "n_warmup_epochs": self.cfg.n_warmup_epochs,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Reported after every trial of this process."""

    n_done: int
    budget: int
    best_value: float | None
    elapsed_s: float
    last_state: str


class FinalStep(str, Enum):
    """Who does a search's final step: the best trial's test score, the final model, the report
    and closing the parent run. It runs once per set of trials, however many workers end."""

    HERE = "here"
    LEFT_TO_RUNNING = "left to running trials"  # other workers still run trials; the last does it
    DONE_ELSEWHERE = "done elsewhere"  # by a worker ending at the same time, or an earlier run
    NOT_ASKED = "not asked"  # a worker of ``--workers N``: the process that started it does it


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSummary:
    """What one ``run_search`` call leaves behind (the study report plus this run's counts)."""

    study_name: str
    report: dict[str, Any]
    n_run_here: int
    elapsed_s: float
    tracking_uri: str = ""
    test_metrics: dict[str, float] = field(default_factory=dict)
    final_step: FinalStep = FinalStep.NOT_ASKED


# ------------------------------------------------------------------------------------- storage
def study_name_for(path: Path | str) -> str:
    """A study name derived from a file name: ``data/Churn 2024.csv.gz`` → ``churn-2024``."""
    stem = Path(path).name.lower()
    stem = re.sub(r"(\.csv)?(\.gz)?$", "", stem)
    return re.sub(r"[^a-z0-9_.-]+", "-", stem).strip("-") or "study"


def load_existing(storage_url: str, study_name: str) -> optuna.Study:
    """Load a study that must exist.

    Raises:
        StudyNotFoundError: no such study (the message lists the ones there are).
    """
    storage = existing_storage(storage_url)
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise StudyNotFoundError(f"no study named {study_name!r} in {mask_url(storage_url)!r} "
                                 f"(studies: {known}); check the name or --storage")
    return optuna.load_study(study_name=study_name, storage=storage)


def open_study(cfg: SearchConfig, study_name: str, direction: str,
               sampler_salt: int = 0) -> optuna.Study:
    """Create the study, or load it if it exists (resume); sampler and pruner from ``cfg``.

    ``sampler_salt`` (e.g. a worker's index) offsets the sampler's seed, so workers started
    together do not propose the same configurations.
    """
    storage = make_storage(cfg.storage_url)
    existing = {s.study_name for s in storage.get_all_studies()}
    n_before = (storage.get_n_trials(storage.get_study_id_from_name(study_name))
                if study_name in existing else 0) + 100_003 * sampler_salt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(
            study_name=study_name, storage=storage, direction=direction, load_if_exists=True,
            sampler=_sampler(cfg, n_before), pruner=_pruner(cfg))


def _sampler(cfg: SearchConfig, n_before: int) -> optuna.samplers.BaseSampler:
    # Offset the seed by the trials already there, so a resumed run does not replay the
    # random start-up configurations of the first one.
    seed = cfg.seed + n_before
    if cfg.sampler is SamplerKind.RANDOM:
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.n_startup_trials,
                                      multivariate=True, group=True, constant_liar=True)


def _pruner(cfg: SearchConfig) -> optuna.pruners.BasePruner:
    if cfg.pruner is PrunerKind.HYPERBAND:
        return optuna.pruners.HyperbandPruner(min_resource=max(1, cfg.n_warmup_epochs),
                                              max_resource=cfg.train.max_epochs,
                                              reduction_factor=3)
    if cfg.pruner is PrunerKind.NONE:
        return optuna.pruners.NopPruner()
    median = optuna.pruners.MedianPruner(n_startup_trials=cfg.n_startup_trials,
                                         n_warmup_steps=cfg.n_warmup_epochs)
    if cfg.pruner is PrunerKind.PATIENT:
        return optuna.pruners.PatientPruner(median, patience=PRUNE_PATIENCE)
    return median


def check_compatible(study: optuna.Study, attrs: dict[str, Any]) -> None:
    """Refuse to continue a study whose data, task, metric, split or space differ.

    Raises:
        StudyMismatchError: the message names every difference and suggests a new name.
    """
    stored = study.user_attrs
    if not stored:
        return
    differences = [f"{key}: study has {stored.get(key)!r}, now {attrs[key]!r}"
                   for key in _IDENTITY if stored.get(key) != attrs[key]]
    if differences:
        raise StudyMismatchError(
            f"study {study.study_name!r} was made with other settings ({'; '.join(differences)})"
            f"; use a new name, e.g. --study {study.study_name}-2")


# ------------------------------------------------------------------------------------ planning
def prepare_search(cfg: SearchConfig) -> SearchPlan:
    """Read and check the data, split it and fit the preprocessing; creates nothing on disk.

    Raises:
        DataError, ConfigError: the data or the options cannot be used (nothing was created).
    """
    _check_url(cfg.storage_url, "--storage")
    _check_url(cfg.tracking_uri, "--tracking-uri")
    _check_sqlite_path(cfg.storage_url, "--storage")
    _check_sqlite_path(cfg.tracking_uri, "--tracking-uri")
    dataset = load_dataset(cfg.csv_path, cfg.target, cfg.task)
    metric = primary_metric(dataset.schema.task, cfg.metric)
    splits = split(dataset.frame, dataset.schema, seed=cfg.seed, val_fraction=cfg.val_fraction,
                   test_fraction=cfg.test_fraction)
    preprocessor = Preprocessor(dataset.schema).fit(splits.train)
    return SearchPlan(cfg=cfg, study_name=cfg.study_name or study_name_for(cfg.csv_path),
                      dataset=dataset, preprocessor=preprocessor,
                      tensors=preprocessor.tensors(splits), metric=metric)


def absolute_uri(url: str) -> str:
    """A relative SQLite path made absolute (:func:`automl.stores.absolute`)."""
    return absolute(url)


def _check_url(url: str, option: str) -> None:
    check_url(url, option)


def _check_sqlite_path(url: str, option: str) -> None:
    """Refuse a local SQLite store that cannot be created or used, before anything is written."""
    check_sqlite(url, option)


# ----------------------------------------------------------------------------------- objective
class PruningCallback:
    """Reports each epoch's score to Optuna and asks the pruner whether to stop."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_epoch_end(self, log: Any) -> StopReason | None:
        _raise_pending()  # a deferred Ctrl-C / SIGTERM ends the trial here
        if not math.isfinite(log.score):
            return None
        self.trial.report(log.score, log.epoch)
        return StopReason.PRUNED if self.trial.should_prune() else None


class Objective:
    """Trains one trial; as an Optuna callback, closes its MLflow run with the stored state."""

    def __init__(self, plan: SearchPlan, tracker: Tracker, deadline: float | None) -> None:
        self.plan, self.tracker, self.deadline = plan, tracker, deadline
        self.device = resolve_device(plan.cfg.train.device)
        self.tensors = plan.tensors.to(self.device)
        self._results: dict[int, tuple[FitResult, torch.nn.Module]] = {}
        self.last_state = ""  # the stored state of the trial this process ran last

    def __call__(self, trial: optuna.Trial) -> float:
        task = self.plan.dataset.schema.task
        params = sample_params(trial, task)
        run_id = self.tracker.start_trial(trial.number, dict(trial.params))
        trial.set_user_attr("mlflow_run_id", run_id)
        try:
            torch.manual_seed(self.plan.cfg.seed + trial.number)
            network = build_model(params.model, self.tensors.d_in, self.tensors.d_out,
                                  self.tensors.n_num).to(self.device)
            result = fit(network, self.tensors, task=task, metric=self.plan.metric,
                         optim=params.optim, cfg=self.plan.cfg.train,
                         class_weighting=params.class_weighting,
                         callbacks=[TrackingCallback(self.tracker, run_id), PruningCallback(trial)],
                         seed=self.plan.cfg.seed + trial.number, deadline=self._deadline())
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: Optuna fails the trial, MLflow KILLED
            self.tracker.end_trial(run_id, "INTERRUPTED", {})
            raise
        except BaseException:
            self.tracker.end_trial(run_id, "FAIL", {})
            raise
        self._results[trial.number] = (result, network)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epoch_seconds", sum(log.seconds for log in result.history) /
                            max(1, len(result.history)))  # the final model's refit estimate
        trial.set_user_attr("stop_reason", result.stop_reason.value)
        if result.stop_reason is StopReason.PRUNED:
            raise optuna.TrialPruned(f"pruned at epoch {len(result.history) - 1}")
        if not result.found_finite_score:
            raise TrialError(f"trial {trial.number} diverged (non-finite loss) at epoch 0")
        return result.best_score

    def _deadline(self) -> float | None:
        """The earlier of the run's deadline and this trial's own time limit: ``max_trial_seconds``
        and, with a timeout, :data:`MAX_TRIAL_SHARE` of it."""
        cfg, now = self.plan.cfg, time.monotonic()
        limits = [cfg.train.max_trial_seconds, MAX_TRIAL_SHARE * cfg.timeout_s if cfg.timeout_s
                  else None]
        ends = [now + limit for limit in limits if limit is not None]
        if self.deadline is not None:
            ends.append(self.deadline)
        return min(ends, default=None)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Mirror the stored state into MLflow; keep the model (and validation predictions,
        for the final ensemble) of a trial that enters the top :data:`~automl.final.TOP_K`."""
        self.last_state = trial.state.name
        run_id = trial.user_attrs.get("mlflow_run_id")
        result, network = self._results.pop(trial.number, (None, None))
        if run_id is None:
            return
        final = {f"best_val_{k}": v for k, v in (result.best_val if result else {}).items()}
        if result is not None:
            final.update(best_epoch=result.best_epoch, epochs=len(result.history))
        if trial.state is TrialState.COMPLETE and network is not None and _in_top_k(study, trial):
            self._log_model(run_id, trial, network)
        self.tracker.end_trial(run_id, trial.state.name, final)

    def _log_model(self, run_id: str, trial: FrozenTrial, network: torch.nn.Module) -> None:
        params = params_from_dict(trial.params, self.plan.dataset.schema.task)
        bundle = ModelBundle(preprocessor=self.plan.preprocessor, spec=params.model,
                             network=network, d_in=self.tensors.d_in,
                             metadata={"study": self.plan.study_name, "trial": trial.number,
                                       "params": trial.params, "metric": self.plan.metric.name,
                                       "value": trial.value})
        with temporary_dir() as tmp:
            self.tracker.log_dir(run_id, save_bundle(bundle, Path(tmp) / "model"), "model")
            output = Path(tmp) / "output"
            output.mkdir()
            np.save(output / VAL_OUTPUT, val_predictions(network, self.tensors,
                                                          self.plan.dataset.schema.task))
            self.tracker.log_dir(run_id, output, "")


def _ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, best first."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return sorted(complete, key=lambda t: (sign * float(t.value), t.number))  # type: ignore


def _in_top_k(study: optuna.Study, trial: FrozenTrial) -> bool:
    return trial.number in {t.number for t in _ranked(study)[:TOP_K]}


def _candidate(trial: FrozenTrial) -> Candidate:
    """A complete trial for :mod:`automl.final`, with its seconds per training epoch (older
    trials without the ``epoch_seconds`` attr: their duration per reported epoch)."""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    epochs = max(1, len(trial.intermediate_values))
    return Candidate(number=trial.number, value=float(trial.value),  # type: ignore[arg-type]
                     params=dict(trial.params), run_id=str(trial.user_attrs["mlflow_run_id"]),
                     best_epoch=int(trial.user_attrs.get("best_epoch", epochs - 1)),
                     epoch_seconds=float(trial.user_attrs.get("epoch_seconds",
                                                              seconds / epochs)))


def _search_deadline(plan: SearchPlan, study: optuna.Study, deadline: float | None,
                     outputs: ValidationOutputs) -> float | None:
    """``deadline`` less the time kept for the final model: its overhead, and a refit of the
    best trial so far unless the top trials' ensemble already beats it (then it is the final
    model, and no refit is needed)."""
    if deadline is None or plan.cfg.timeout_s is None:
        return deadline
    top = [t for t in _ranked(study)[:TOP_K] if "mlflow_run_id" in t.user_attrs]
    best = _candidate(top[0]) if top else None
    refit = not outputs.ensemble_wins([t.user_attrs["mlflow_run_id"] for t in top])
    return deadline - reserve_seconds(best, len(plan.tensors.x_train), len(plan.tensors.x_val),
                                      plan.cfg.timeout_s, refit=refit)


def final_model(plan: SearchPlan, study: optuna.Study, tracker: Tracker,
                deadline: float | None = None) -> dict[str, Any] | None:
    """Build, log and record (study attr ``final_model``) the search's final model.

    See :mod:`automl.final`; ``None`` when no complete trial kept a model and its validation
    predictions.
    """
    candidates = [_candidate(t) for t in _ranked(study)[:TOP_K]
                  if "mlflow_run_id" in t.user_attrs]
    if not candidates:
        return None
    inputs = FinalInputs(tensors=plan.tensors, preprocessor=plan.preprocessor,
                         task=plan.dataset.schema.task, metric=plan.metric,
                         train=plan.cfg.train, seed=plan.cfg.seed, study_name=plan.study_name)
    final = build_final(candidates, inputs, tracker, deadline)
    if final is None:
        return None
    study.set_user_attr("final_model", final.to_dict())
    return final.to_dict()


def _best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best complete trial, or ``None`` before the first one."""
    try:
        return study.best_trial
    except ValueError:
        return None


# -------------------------------------------------------------------------------------- search
def count_states(study: optuna.Study) -> dict[str, int]:
    """Trials by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    counts = {s.name: 0 for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                  TrialState.RUNNING, TrialState.WAITING)}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def _budget_left(study: optuna.Study, budget: int) -> int:
    counts = count_states(study)
    if counts["FAIL"] >= budget:
        return 0
    return budget - sum(counts[s.name] for s in _COUNTED) - counts["RUNNING"]


def _gate(study: optuna.Study, budget: int, deadline: float | None) -> bool:
    """Whether this process may start another trial.

    Fails stale trials first (dead workers; their parameters are queued again). While the budget
    is taken only because trials are RUNNING elsewhere, waits: they may still fail or go stale.
    """
    while deadline is None or time.monotonic() < deadline:
        _raise_pending()
        _fail_stale(study)
        if _budget_left(study, budget) > 0:
            return True
        if not count_states(study)["RUNNING"]:
            return False
        for _ in range(5 * min(HEARTBEAT_INTERVAL_S, 5)):
            _raise_pending()
            time.sleep(0.2)
    return False


_INTERRUPT: dict[str, Any] = {"armed": False, "pending": None}


def defer_interrupt(exc: KeyboardInterrupt) -> bool:
    """Have the running search raise ``exc`` at its next safe point instead of now.

    Safe points: the end of each epoch and the gate before each trial, where raising cannot
    leave a database transaction half done. Returns ``False`` when no search loop is running
    (the caller then raises ``exc`` itself). Called by signal handlers (:mod:`automl.workers`).
    """
    if not _INTERRUPT["armed"]:
        return False
    _INTERRUPT["pending"] = exc
    return True


def _raise_pending() -> None:
    exc, _INTERRUPT["pending"] = _INTERRUPT["pending"], None
    if exc is not None:
        raise exc


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
        _fail_heartbeatless(study)


def _fail_heartbeatless(study: optuna.Study) -> None:
    """Fail (and queue again) RUNNING trials that never got a heartbeat and are long started.

    Optuna fails only trials whose heartbeat went stale; a worker killed between creating a trial
    and its first heartbeat (milliseconds later) leaves one RUNNING forever. "Long" is 5
    heartbeat intervals plus the grace period, by this machine's clock against the trial's start.
    """
    rdb = rdb_of(study)
    if rdb is None or not rdb.heartbeat_interval:
        return
    limit = datetime.now() - timedelta(
        seconds=5 * rdb.heartbeat_interval + (rdb.grace_period or 0))
    old = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
           if t.datetime_start is not None and t.datetime_start < limit]
    for trial in old:
        try:
            if has_heartbeat(rdb, trial) or not rdb.set_trial_state_values(trial._trial_id,
                                                                            TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        retry = rdb.get_heartbeat_stale_trial_callback()
        if retry is not None:
            retry(study, rdb.get_trial(trial._trial_id))


def reconcile_runs(study: optuna.Study, tracker: Tracker) -> int:
    """Close MLflow trial runs left RUNNING although their Optuna trial is finished.

    A worker killed with SIGKILL (or one that lost its connection) leaves its run RUNNING; once
    Optuna has failed the trial (heartbeat), the run gets the mirrored status (FAIL → FAILED).
    Runs of trials still RUNNING or WAITING are left alone. Returns how many runs were closed.
    """
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent is None:
        return 0
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    closed = 0
    for run_id, number in tracker.running_trial_runs(parent).items():
        state = states.get(number)
        if state is not None and state.is_finished():
            tracker.end_trial(run_id, state.name, {})
            closed += 1
    return closed


def connect_tracker(plan: SearchPlan) -> MlflowTracker:
    """The plan's MLflow store and experiment (no run yet).

    Raises:
        ConfigError: the tracking store cannot be reached or created.
    """
    return MlflowTracker(plan.cfg.tracking_uri, plan.cfg.experiment_name or plan.study_name)


def open_tracker(plan: SearchPlan, study: optuna.Study,
                 tracker: MlflowTracker | None = None) -> MlflowTracker:
    """The MLflow tracker of the study (``tracker`` or a new one), its one parent run opened."""
    tracker = tracker or connect_tracker(plan)
    parent = study.user_attrs.get("mlflow_parent_run_id")
    tags = {"automl.space_version": str(SPACE_VERSION),
            "automl.fingerprint": plan.dataset.fingerprint}
    params = {k: v for k, v in plan.study_attrs().items() if k not in ("schema", "columns")}
    run_id = tracker.start_study(plan.study_name, parent_run_id=parent, tags=tags, params=params)
    if parent is None:
        log_columns(tracker, run_id, plan)
        study.set_user_attr("mlflow_parent_run_id", run_id)
        study.set_user_attr("mlflow_experiment_id", tracker.experiment_id)
        study.set_user_attr("tracking_uri", mask_url(absolute_uri(plan.cfg.tracking_uri)))
    return tracker


def log_columns(tracker: Tracker, run_id: str, plan: SearchPlan) -> None:
    """Log the schema table (column, kind, action) as ``columns.json`` of the parent run."""
    schema = plan.dataset.schema
    table = {"target": schema.target, "task": schema.task.value, "classes": list(schema.classes),
             "n_rows": schema.n_rows, "n_missing_target": schema.n_missing_target,
             "notes": list(schema.notes),
             "columns": [{"column": c, "kind": k, "action": a}
                         for c, k, a in plan.preprocessor.describe()]}
    with temporary_dir() as tmp:
        (Path(tmp) / "columns.json").write_text(json.dumps(table, indent=1, ensure_ascii=False))
        tracker.log_dir(run_id, Path(tmp), "")


def start_study(plan: SearchPlan, sampler_salt: int = 0) -> optuna.Study:
    """Open (or create) the plan's study after checking that it can be continued."""
    study = open_study(plan.cfg, plan.study_name, plan.metric.direction, sampler_salt)
    check_compatible(study, plan.study_attrs())
    if not study.get_trials(deepcopy=False):
        for params in warm_start(plan.dataset.schema.task)[:plan.cfg.n_trials]:
            study.enqueue_trial(params, skip_if_exists=True)
    for key, value in plan.study_attrs().items():
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)
    return study


def initialise(plan: SearchPlan, tracker: Tracker | None = None,
               sampler_salt: int = 0) -> tuple[optuna.Study, Tracker]:
    """Create (or open) the storage schema, the study, the MLflow store and the parent run.

    Serialised across local processes for SQLite stores, so workers started together on fresh
    files do not race; stale trials are failed and stale MLflow runs closed.
    """
    with store_lock(plan.cfg.storage_url):
        # Reach the MLflow store before creating the study: a bad --tracking-uri leaves none.
        mlflow = None if tracker else connect_tracker(plan)
        study = start_study(plan, sampler_salt)
        tracker = tracker or open_tracker(plan, study, mlflow)
    _fail_stale(study)
    reconcile_runs(study, tracker)
    return study, tracker


def run_search(plan: SearchPlan, *, tracker: Tracker | None = None,
               on_trial: Callable[[Progress], None] | None = None, finish: bool = True,
               sampler_salt: int = 0) -> SearchSummary:
    """Run trials until the study's budget is used or this run's timeout passes.

    ``finish=False`` (a worker started by :func:`automl.workers.run_workers`) leaves scoring the
    best model on the test split and closing the parent run to the process that started it.

    Raises:
        StudyMismatchError: the named study exists with other data or settings.
        KeyboardInterrupt: after the running trial was failed, its MLflow run closed KILLED and
            the parent run closed.
    """
    start = time.monotonic()
    deadline = start + plan.cfg.timeout_s if plan.cfg.timeout_s else None
    torch.set_num_threads(plan.cfg.threads or os.cpu_count() or 1)
    study, tracker = initialise(plan, tracker, sampler_salt)
    objective = Objective(plan, tracker, deadline)
    outputs = ValidationOutputs(tracker, validation_targets(plan.tensors, plan.dataset.schema.task),
                                plan.metric)
    n_run = 0
    lost = 0
    _INTERRUPT["armed"] = True
    try:
        while True:
            try:
                objective.deadline = _search_deadline(plan, study, deadline, outputs)
                if not _gate(study, plan.cfg.n_trials, objective.deadline):
                    break
                study.optimize(objective, n_trials=1, catch=(TrialError,),
                               callbacks=[objective.after_trial], gc_after_trial=False)
                n_run += 1
                if on_trial is not None:
                    on_trial(_progress(study, plan.cfg.n_trials, time.monotonic() - start,
                                       objective.last_state))
            except Exception as exc:
                if not is_lost_connection(exc):
                    raise
                lost = _lost_connection(exc, lost)
                continue
            lost = 0
    except KeyboardInterrupt:
        _INTERRUPT["armed"] = False
        reconcile_runs(study, tracker)
        if finish and not count_states(study)["RUNNING"]:
            _close_parent(study, tracker)
        raise
    finally:
        _INTERRUPT["armed"] = False
    reconcile_runs(study, tracker)
    step, test_metrics = finish_once(plan, study, tracker, deadline) if finish else (
        FinalStep.NOT_ASKED, {})
    return SearchSummary(study_name=plan.study_name, report=describe(study), n_run_here=n_run,
                         elapsed_s=time.monotonic() - start, tracking_uri=plan.cfg.tracking_uri,
                         test_metrics=test_metrics, final_step=step)


def _lost_connection(exc: Exception, lost: int) -> int:
    """Go on after a trial cut by a dropped storage connection; re-raise the third in a row.

    A trial cut that way is left RUNNING without heartbeats: the gate fails it once stale and
    queues its parameters again.
    """
    if lost >= 2:
        raise exc
    time.sleep(1.0)
    return lost + 1


def _close_parent(study: optuna.Study, tracker: Tracker) -> None:
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent is not None:
        tracker.end_study(parent)


def _progress(study: optuna.Study, budget: int, elapsed: float, last_state: str) -> Progress:
    done = sum(t.state in _COUNTED for t in study.get_trials(deepcopy=False))
    best = _best_trial(study)
    return Progress(n_done=done, budget=budget, best_value=best.value if best else None,
                    elapsed_s=elapsed, last_state=last_state)


def finish_once(plan: SearchPlan, study: optuna.Study, tracker: Tracker,
                deadline: float | None = None) -> tuple[FinalStep, dict[str, float]]:
    """:func:`finish_search`, unless other workers still run trials (the last one to end does
    it) or another process has done it for these trials; returns who did it and the test score.

    Of processes ending together, the one that first stores the study attr
    ``final_step_<number of trials>`` (a unique key in the storage) does it; if it fails, the
    claim is withdrawn so that ``automl resume`` can do it.
    """
    _fail_stale(study)
    if count_states(study)["RUNNING"]:
        return FinalStep.LEFT_TO_RUNNING, {}
    key = f"final_step_{len(study.get_trials(deepcopy=False))}"
    if not claim(study, key):
        return FinalStep.DONE_ELSEWHERE, {}
    try:
        return FinalStep.HERE, finish_search(plan, study, tracker, deadline)
    except BaseException:
        claim(study, key, withdraw=True)
        raise


def finish_search(plan: SearchPlan, study: optuna.Study, tracker: Tracker,
                  deadline: float | None = None) -> dict[str, float]:
    """Score the best trial's model on the test split; log it and its model to the parent run;
    build and log the final model (:func:`final_model`, its refit stopping at ``deadline``)."""
    parent = study.user_attrs.get("mlflow_parent_run_id")
    best_trial = _best_trial(study)
    best = best_trial.number if best_trial else None
    test: dict[str, float] = {}
    if best is not None and parent is not None:
        run_id = study.trials[best].user_attrs.get("mlflow_run_id", "")
        with temporary_dir() as tmp:
            folder = tracker.download_dir(run_id, "model", Path(tmp))
            if folder is not None:
                bundle = load_bundle(folder)
                if len(plan.tensors.x_test):
                    test = score_split(bundle.network, plan.tensors, plan.dataset.schema.task,
                                       "test")
                tracker.log_dir(parent, folder, "best_model")
        tracker.log_metrics(parent, {f"test_{k}": v for k, v in test.items()} |
                            {"best_value": study.best_value, "best_trial": best})
        study.set_user_attr("test_metrics", test)
        study.set_user_attr("best_model_run_id", run_id)
        final_model(plan, study, tracker, deadline)
    if parent is not None:
        log_report(study, describe(study, top=10), tracker, parent)  # never raises
        tracker.end_study(parent)
    return test


# ------------------------------------------------------------------------------------- reports
def describe(study: optuna.Study, top: int = 5) -> dict[str, Any]:
    """The study as stable JSON data (the ``show --json`` format, documented in the README)."""
    attrs = study.user_attrs
    complete = [t for t in study.get_trials(deepcopy=False) if t.state is TrialState.COMPLETE]
    reverse = attrs.get("direction", "maximize") == "maximize"
    ranked = sorted(complete, key=lambda t: t.value, reverse=reverse)[:top]  # type: ignore
    best = ranked[0] if ranked else None
    return {
        "study": study.study_name, "task": attrs.get("task"), "metric": attrs.get("metric"),
        "direction": attrs.get("direction"), "target": attrs.get("target"),
        "data_path": attrs.get("data_path"), "n_trials_budget": attrs.get("n_trials"),
        "best_value": best.value if best else None, "best_trial": best.number if best else None,
        "best_params": best.params if best else None, "trials": count_states(study),
        "test_metrics": attrs.get("test_metrics", {}),
        "final_model": attrs.get("final_model"),
        "mlflow_experiment_id": attrs.get("mlflow_experiment_id"),
        "mlflow_parent_run_id": attrs.get("mlflow_parent_run_id"),
        "leaderboard": [{"trial": t.number, "value": t.value, "params": t.params,
                         "mlflow_run_id": t.user_attrs.get("mlflow_run_id")} for t in ranked],
    }


def show_study(storage_url: str, study_name: str, top: int = 5) -> dict[str, Any]:
    """:func:`describe` for a stored study."""
    return describe(load_existing(storage_url, study_name), top)


def list_studies(storage_url: str) -> list[dict[str, Any]]:
    """One summary per study in the storage: name, task, metric, best value, trials by state."""
    storage = existing_storage(storage_url)
    rows = []
    for summary in storage.get_all_studies():
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        report = describe(study, top=1)
        rows.append({k: report[k] for k in ("study", "task", "metric", "direction",
                                            "best_value", "best_trial", "trials")})
    return rows


def resume_config(storage_url: str, study_name: str, **overrides: Any) -> SearchConfig:
    """The :class:`SearchConfig` a study was made with, so ``resume`` needs nothing retyped.

    ``overrides`` (e.g. ``n_trials``, ``timeout_s``, ``tracking_uri``) replace stored values.

    Raises:
        StudyNotFoundError: no such study, or it was not made by ``automl search``.
    """
    attrs = load_existing(storage_url, study_name).user_attrs
    if "data_path" not in attrs:
        raise StudyNotFoundError(f"study {study_name!r} was not made by automl search; "
                                 "start it with `automl search`")
    stored = {
        "csv_path": Path(attrs["data_path"]), "target": attrs["target"], "task": attrs["task"],
        "metric": attrs["metric"], "seed": attrs["split_seed"], "study_name": study_name,
        "val_fraction": attrs["val_fraction"], "test_fraction": attrs["test_fraction"],
        "n_trials": attrs["n_trials"], "storage_url": storage_url,
        "sampler": attrs.get("sampler", "tpe"), "pruner": attrs.get("pruner", "median"),
        "train": TrainConfig(**attrs.get("train", {})),
        "experiment_name": attrs.get("experiment"),
        "n_startup_trials": attrs.get("n_startup_trials", 5),
        "n_warmup_epochs": attrs.get("n_warmup_epochs", 5),
    }
    if "***" not in attrs.get("tracking_uri", "***"):  # a masked password cannot be reused
        stored["tracking_uri"] = attrs["tracking_uri"]
    stored.update({k: v for k, v in overrides.items() if v is not None})
    return SearchConfig(**stored)
