"""One process's part in a study: open it, run trials until the budget or the deadline, finish once.

A :class:`SearchSession` is what ``search``, ``resume``, ``worker`` and ``--workers`` all run:

1. :meth:`SearchSession.open` creates (or re-opens) the storage, the study, the MLflow store and
   the study's parent run, serialised across local processes; stale trials of dead workers are
   failed and their MLflow runs closed.
2. :meth:`SearchSession.run_trials` runs trials while the study-wide budget gate lets it (see
   :func:`budget_left`) and the deadline, less the time kept for the final step, allows.
3. :meth:`SearchSession.finish` runs the final step (the best trial's test score, the final
   model, the report, closing the parent run) once per set of finished trials, however many
   processes end together: the one that first claims the key ``final_step_<finished trials>``
   in the storage does it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import optuna
import torch

from automl import interrupts, retry
from automl.bundle import load_bundle
from automl.errors import TrialError
from automl.final import (
    FinalInputs,
    ValidationOutputs,
    build_final,
    every_row_seconds,
    reserve_seconds,
    test_metrics,
)
from automl.ledger import (
    close_parent,
    connect_tracker,
    open_parent,
    reconcile_runs,
)
from automl.objective import Objective, candidates
from automl.plan import SearchPlan
from automl.queries import StudyReport, TrialCounts, best_trial, describe
from automl.records import PARENT_RUN, RUN_ID
from automl.report import log_report
from automl.storage import (
    HEARTBEAT_INTERVAL_S,
    claim,
    fail_stale,
    is_lost_connection,
    make_storage,
    reach_storage,
    study_exists,
)
from automl.stores import store_lock
from automl.strategy import start_study
from automl.tracking import Tracker, temporary_dir
from automl.train import subnormals_flushed

log = logging.getLogger(__name__)


class FinalStep(str, Enum):
    """Who does a search's final step: the best trial's test score, the final model, the report
    and closing the parent run. It runs once per set of trials, however many workers end."""

    HERE = "here"
    LEFT_TO_RUNNING = "left to running trials"  # other workers still run trials; the last does it
    DONE_ELSEWHERE = "done elsewhere"  # by a worker ending at the same time, or an earlier run
    NOTHING_TO_DO = "nothing to do"  # no trial has finished: nothing to score or build
    NOT_ASKED = "not asked"  # a worker of ``--workers N``: the process that started it does it


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Reported after every trial of this process."""

    n_done: int
    budget: int | None  # None: no trial count, the run's timeout bounds it
    best_value: float | None
    elapsed_s: float
    last_state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSummary:
    """What one session leaves behind (the study report plus this run's counts)."""

    study_name: str
    report: StudyReport
    n_run_here: int
    elapsed_s: float
    tracking_uri: str = ""
    test_metrics: dict[str, float] = field(default_factory=dict)
    final_step: FinalStep = FinalStep.NOT_ASKED
    n_test_rows: int = 0
    test_too_small: bool = False


def budget_left(counts: TrialCounts, budget: int | None) -> float:
    """Trials that may still start: the budget less finished and running trials (0 once the
    failures alone reach the budget, so a broken setup cannot loop); no budget (``None``, a
    study bounded by ``--timeout`` alone): infinity."""
    if budget is None:
        return math.inf
    if counts.fail >= budget:
        return 0
    return budget - counts.finished - counts.running


class SearchSession:
    """One process's search on one study (see the module docstring for the three steps).

    ``sampler_salt`` (a worker's index) offsets the sampler's seed; ``tracker`` replaces the
    MLflow tracker of the plan's store (tests).
    """

    def __init__(self, plan: SearchPlan, *, tracker: Tracker | None = None,
                 sampler_salt: int = 0) -> None:
        self.plan, self.sampler_salt = plan, sampler_salt
        self.started = plan.started  # the timeout covers reading and preparing the data too
        self.deadline = self.started + plan.cfg.timeout_s if plan.cfg.timeout_s else None
        self.tracker: Tracker | None = tracker
        self.n_run = self._lost = 0

    # ------------------------------------------------------------------------------ open
    def open(self) -> None:
        """Create (or open) the storage schema, the study, the MLflow store and the parent run.

        Serialised across local processes for SQLite stores, so workers started together on
        fresh files do not race; stale trials are failed and stale MLflow runs closed. A big
        table's prepared data is then cached for the study's later runs
        (:meth:`~automl.plan.SearchPlan.keep_data`).

        Raises:
            ConfigError: a store cannot be opened. StudyMismatchError: the study exists with
                other data or settings.
        """
        plan = self.plan
        with store_lock(plan.cfg.storage_url):
            # Reach both stores before writing to either: a bad --storage or --tracking-uri
            # leaves no experiment and no study.
            reach_storage(plan.cfg.storage_url)
            tracker = self.tracker or connect_tracker(plan)
            self.storage = make_storage(plan.cfg.storage_url)
            new = not study_exists(self.storage, plan.study_name)
            try:
                self.study = start_study(plan, self.sampler_salt, self.storage)
                open_parent(plan, self.study, tracker)
            except BaseException:
                # Roll back a study created here: no half-made study is left behind.
                if new and study_exists(self.storage, plan.study_name):
                    optuna.delete_study(study_name=plan.study_name, storage=self.storage)
                raise
        self.tracker = tracker
        self._tidy()
        plan.keep_data()

    def _tidy(self) -> None:
        fail_stale(self.study, self.storage)
        reconcile_runs(self.study, self._tracker)

    @property
    def _tracker(self) -> Tracker:
        assert self.tracker is not None, "open() the session first"
        return self.tracker

    # ------------------------------------------------------------------------------ trials
    def run_trials(self, on_trial: Callable[[Progress], None] | None = None) -> int:
        """Run trials until the study's budget is used or the deadline passes; returns how many
        this process ran.

        Raises:
            TrialInterrupted: after the running trial was failed, its MLflow run closed
                KILLED, and (when no other trial runs) the parent run closed.
            KeyboardInterrupt: at the gate before a trial (no trial was running).
        """
        plan, study = self.plan, self.study
        objective = Objective(plan, self._tracker, self.deadline)
        outputs = ValidationOutputs(self._tracker, plan.selection_targets(), plan.metric)
        try:
            with interrupts.armed():
                while self._next_trial(objective, outputs, on_trial):
                    pass
        except BaseException:  # Ctrl-C, SIGTERM, a lost storage, a bug: leave both ledgers tidy
            self._close_quietly()
            raise
        reconcile_runs(study, self._tracker)
        return self.n_run

    def _close_quietly(self) -> None:
        """After a failure: close the runs of finished trials and, unless trials still run
        elsewhere, the parent run; a failure here (the store may be gone) is not raised over
        the one that brought us here."""
        try:
            reconcile_runs(self.study, self._tracker)
            if not TrialCounts.of(self.study).running:
                close_parent(self.study, self._tracker)
        except Exception as exc:  # the original error matters more
            log.warning("could not tidy the MLflow runs of study %s: %s", self.study.study_name,
                        exc)

    def _next_trial(self, objective: Objective, outputs: ValidationOutputs,
                    on_trial: Callable[[Progress], None] | None) -> bool:
        """Pass the gate and run one trial; ``False`` once no trial may start.

        A trial cut by a dropped storage connection is left RUNNING without heartbeats (the
        gate fails it once stale and queues its parameters again) and the loop goes on after a
        pause of :mod:`automl.retry`'s policy; a cut the policy has no repeat left for raises.
        """
        try:
            objective.deadline = self._search_deadline(outputs)
            if not self._gate(objective.deadline):
                return False
            self._run_one(objective)
        except Exception as exc:
            self._lost += 1
            if not is_lost_connection(exc) or not retry.pause(self._lost):
                raise
            return True
        self._lost = 0
        self.n_run += 1
        if on_trial is not None:
            on_trial(self.progress(objective.last_state))
        return True

    def _run_one(self, objective: Objective) -> None:
        """Run one trial; a signal raised in it (Optuna fails the trial) comes out as
        :class:`~automl.interrupts.TrialInterrupted`."""
        try:
            self.study.optimize(objective, n_trials=1, catch=(TrialError,),
                                callbacks=[objective.after_trial], gc_after_trial=False)
        except KeyboardInterrupt as exc:  # raised in the trial, which Optuna failed
            raise interrupts.TrialInterrupted(exc) from exc

    def _gate(self, deadline: float | None) -> bool:
        """Whether this process may start another trial.

        Fails stale trials first (dead workers; their parameters are queued again). While the
        budget is taken only because trials are RUNNING elsewhere, waits: they may still fail
        or go stale.
        """
        while deadline is None or time.monotonic() < deadline:
            interrupts.raise_pending()
            fail_stale(self.study, self.storage)
            counts = TrialCounts.of(self.study)
            if budget_left(counts, self.plan.cfg.n_trials) > 0:
                return True
            if not counts.running:
                return False
            for _ in range(5 * min(HEARTBEAT_INTERVAL_S, 5)):
                interrupts.raise_pending()
                time.sleep(0.2)
        return False

    def _search_deadline(self, outputs: ValidationOutputs) -> float | None:
        """The deadline less the time kept for the final step: its overhead, a refit of the
        best trial so far unless the study is cross-validated (bags are not refitted) or the
        top trials' ensemble already beats it (then it is the final model), and with
        ``--refit-all`` the training on every row of the networks of the final model as it
        stands: the ensemble's members, or the best trial."""
        plan = self.plan
        if self.deadline is None or plan.cfg.timeout_s is None:
            return self.deadline
        top, tensors = candidates(self.study), plan.tensors
        members = outputs.ensemble_members([c.run_id for c in top])
        refit = not plan.folds and members is None
        final = top[:1] if members is None else [c for c in top if c.run_id in members]
        networks = plan.folds.k if plan.folds else 1
        every_row = every_row_seconds([(c, networks) for c in final],
                                      len(tensors.x_train), tensors.n_rows
                                      ) if plan.cfg.refit_all else 0.0
        return self.deadline - reserve_seconds(top[0] if top else None,
                                               len(tensors.x_train), len(tensors.x_val),
                                               plan.cfg.timeout_s, refit=refit,
                                               every_row_s=every_row)

    def progress(self, last_state: str = "") -> Progress:
        """The study's progress as this process sees it now."""
        best = best_trial(self.study)
        return Progress(n_done=TrialCounts.of(self.study).finished,
                        budget=self.plan.cfg.n_trials,
                        best_value=best.value if best else None,
                        elapsed_s=time.monotonic() - self.started, last_state=last_state)

    # ------------------------------------------------------------------------------ finish
    def finish(self) -> FinalStep:
        """Run the final step unless other workers still run trials (the last one to end does
        it), no trial has finished, or another process did it for these trials; the parent run
        is closed unless trials still run.

        Of processes ending together, the one that first stores the study attr
        ``final_step_<complete, pruned and failed trials>`` (a unique key in the storage) does it;
        if it fails, the claim is withdrawn so that ``automl resume`` can do it.
        """
        study = self.study
        fail_stale(study, self.storage)
        counts = TrialCounts.of(study)
        if counts.running:
            return FinalStep.LEFT_TO_RUNNING
        finished = counts.finished + counts.fail
        if not finished:
            close_parent(study, self._tracker)
            return FinalStep.NOTHING_TO_DO
        key = f"final_step_{finished}"
        if not claim(self.storage, study.study_name, key):
            close_parent(study, self._tracker)
            return FinalStep.DONE_ELSEWHERE
        try:
            self._final_step()
        except BaseException as exc:
            claim(self.storage, study.study_name, key, withdraw=True)
            self._close_quietly()
            if isinstance(exc, KeyboardInterrupt):
                raise interrupts.FinalStepInterrupted(exc) from exc
            raise
        return FinalStep.HERE

    def _final_step(self) -> None:
        """Score the best trial's model on the test split; log it and its model to the parent
        run; build and log the final model (its refit stopping at the deadline); log the
        report; close the parent run."""
        study, tracker = self.study, self._tracker
        parent = study.user_attrs.get(PARENT_RUN)
        best = best_trial(study)
        if best is not None and parent is not None:
            run_id = str(best.user_attrs.get(RUN_ID, ""))
            test = self._best_model_test(run_id, parent)
            tracker.log_metrics(parent, {f"test_{k}": v for k, v in test.items()} |
                                {"best_value": float(best.value or 0.0), "best_trial": best.number})
            study.set_user_attr("test_metrics", test)
            study.set_user_attr("best_model_run_id", run_id)
            self._final_model()
        if parent is not None:
            log_report(study, describe(study, top=10), tracker, parent)  # never raises
            tracker.end_study(parent)

    def _best_model_test(self, run_id: str, parent: str) -> dict[str, float]:
        """The best trial's test scores; its model logged to the parent run as ``best_model``."""
        plan, tracker = self.plan, self._tracker
        with temporary_dir() as tmp:
            folder = tracker.download_dir(run_id, "model", Path(tmp))
            if folder is None:
                return {}
            tracker.log_dir(parent, folder, "best_model")
            return test_metrics(load_bundle(folder), plan.tensors, plan.task)

    def _final_model(self) -> None:
        """Build, log and record (study attr ``final_model``) the search's final model."""
        found = candidates(self.study)
        if not found:
            return
        final = build_final(found, FinalInputs.of(self.plan), self._tracker, self.deadline)
        if final is not None:
            self.study.set_user_attr("final_model", final.to_dict())

    def summary(self, step: FinalStep) -> SearchSummary:
        """This session's outcome (after :meth:`finish`, or without it for a pool's worker)."""
        return SearchSummary(study_name=self.plan.study_name, report=describe(self.study),
                             n_run_here=self.n_run, elapsed_s=time.monotonic() - self.started,
                             tracking_uri=self.plan.cfg.tracking_uri,
                             test_metrics=self.study.user_attrs.get("test_metrics", {})
                             if step is FinalStep.HERE else {}, final_step=step,
                             n_test_rows=len(self.plan.tensors.x_test),
                             test_too_small=self.plan.test_too_small)


def run_search(plan: SearchPlan, *, tracker: Tracker | None = None,
               on_trial: Callable[[Progress], None] | None = None, finish: bool = True,
               sampler_salt: int = 0) -> SearchSummary:
    """Open a session, run trials until the study's budget is used or this run's timeout
    passes, then finish (``finish=False``: a worker of ``--workers N``, whose starting process
    finishes).

    Raises:
        StudyMismatchError: the named study exists with other data or settings.
        KeyboardInterrupt: a signal (see :mod:`automl.interrupts`): a
            :class:`~automl.interrupts.TrialInterrupted` after the running trial was failed and
            its MLflow run closed KILLED.
    """
    torch.set_num_threads(plan.threads)
    with subnormals_flushed():
        session = SearchSession(plan, tracker=tracker, sampler_salt=sampler_salt)
        session.open()
        session.run_trials(on_trial)
        return session.summary(session.finish() if finish else FinalStep.NOT_ASKED)

