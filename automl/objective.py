"""One trial: sample a configuration, train it, report epochs to the pruner, record it in MLflow.

:class:`Objective` is the Optuna objective; its :meth:`Objective.after_trial` (an Optuna
callback, called once Optuna has stored the trial's state) closes the trial's MLflow run with
the mirrored status and keeps the model of a trial that enters the top
:data:`~automl.final.TOP_K`. A trial's time is bounded by :meth:`Objective.trial_deadline`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automl.bundle import ModelBundle, save_bundle
from automl.errors import TrialError
from automl.final import TOP_K, VAL_OUTPUT, Candidate, val_predictions
from automl.interrupts import raise_pending
from automl.model import build_model
from automl.plan import SearchPlan
from automl.queries import ranked
from automl.space import params_from_dict, sample_params
from automl.tracking import Tracker, TrackingCallback, TrialOutcome, temporary_dir
from automl.train import EpochLog, FitResult, StopReason, fit, resolve_device

#: Share of ``--timeout`` one trial may use: an oversized network ends (keeping its best epoch)
#: before it eats the search; measured on diamonds, one 7x893 ResNet took 323 s of a 600 s run.
MAX_TRIAL_SHARE = 0.1
RUN_ID = "mlflow_run_id"


class PruningCallback:
    """Reports each epoch's score to Optuna and asks the pruner whether to stop; a deferred
    Ctrl-C / SIGTERM ends the trial here, at the end of an epoch."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_epoch_end(self, log: EpochLog) -> StopReason | None:
        raise_pending()
        if not math.isfinite(log.score):
            return None
        self.trial.report(log.score, log.epoch)
        return StopReason.PRUNED if self.trial.should_prune() else None


class Objective:
    """Trains one trial; as an Optuna callback, closes its MLflow run with the stored state.

    ``deadline`` (``time.monotonic()``, or ``None``) is when this process must stop training;
    the session moves it before each trial (it keeps time for the final step).
    """

    def __init__(self, plan: SearchPlan, tracker: Tracker, deadline: float | None) -> None:
        self.plan, self.tracker, self.deadline = plan, tracker, deadline
        self.device = resolve_device(plan.cfg.train.device)
        self.tensors = plan.tensors.to(self.device)
        self._results: dict[int, tuple[FitResult, torch.nn.Module]] = {}
        self.last_state = ""  # the stored state of the trial this process ran last

    def __call__(self, trial: optuna.Trial) -> float:
        plan = self.plan
        params = sample_params(trial, plan.task)
        run_id = self.tracker.start_trial(trial.number, dict(trial.params))
        trial.set_user_attr(RUN_ID, run_id)
        seed = plan.cfg.seed + trial.number
        try:
            torch.manual_seed(seed)
            network = build_model(params.model, self.tensors.d_in, self.tensors.d_out,
                                  self.tensors.n_num).to(self.device)
            result = fit(network, self.tensors, task=plan.task, metric=plan.metric,
                         optim=params.optim, cfg=plan.cfg.train,
                         class_weighting=params.class_weighting,
                         resampling=params.resampling,
                         callbacks=[TrackingCallback(self.tracker, run_id), PruningCallback(trial)],
                         seed=seed, deadline=self.trial_deadline())
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: Optuna fails the trial, MLflow KILLED
            self.tracker.end_trial(run_id, TrialOutcome.INTERRUPTED, {})
            raise
        except BaseException:
            self.tracker.end_trial(run_id, TrialOutcome.FAIL, {})
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

    def trial_deadline(self) -> float | None:
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
        run_id = trial.user_attrs.get(RUN_ID)
        result, network = self._results.pop(trial.number, (None, None))
        if run_id is None:
            return
        final = {f"best_val_{k}": v for k, v in (result.best_val if result else {}).items()}
        if result is not None:
            final.update(best_epoch=result.best_epoch, epochs=len(result.history))
        if trial.state is TrialState.COMPLETE and network is not None and in_top_k(study, trial):
            self._log_model(run_id, trial, network)
        self.tracker.end_trial(run_id, TrialOutcome(trial.state.name), final)

    def _log_model(self, run_id: str, trial: FrozenTrial, network: torch.nn.Module) -> None:
        plan = self.plan
        params = params_from_dict(trial.params, plan.task)
        bundle = ModelBundle(preprocessor=plan.preprocessor, spec=params.model,
                             network=network, d_in=self.tensors.d_in,
                             metadata={"study": plan.study_name, "trial": trial.number,
                                       "params": trial.params, "metric": plan.metric.name,
                                       "value": trial.value})
        with temporary_dir() as tmp:
            self.tracker.log_dir(run_id, save_bundle(bundle, Path(tmp) / "model"), "model")
            output = Path(tmp) / "output"
            output.mkdir()
            np.save(output / VAL_OUTPUT, val_predictions(network, self.tensors, plan.task))
            self.tracker.log_dir(run_id, output, "")


def in_top_k(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Whether ``trial`` is among the study's :data:`~automl.final.TOP_K` best."""
    return trial.number in {t.number for t in ranked(study)[:TOP_K]}


def candidate(trial: FrozenTrial) -> Candidate:
    """A complete trial for :mod:`automl.final`, with its seconds per training epoch (older
    trials without the ``epoch_seconds`` attr: their duration per reported epoch)."""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    epochs = max(1, len(trial.intermediate_values))
    return Candidate(number=trial.number, value=float(trial.value),  # type: ignore[arg-type]
                     params=dict(trial.params), run_id=str(trial.user_attrs[RUN_ID]),
                     best_epoch=int(trial.user_attrs.get("best_epoch", epochs - 1)),
                     epoch_seconds=float(trial.user_attrs.get("epoch_seconds",
                                                              seconds / epochs)))


def candidates(study: optuna.Study) -> list[Candidate]:
    """The top :data:`~automl.final.TOP_K` complete trials that have an MLflow run, best
    first."""
    return [candidate(t) for t in ranked(study)[:TOP_K] if RUN_ID in t.user_attrs]
