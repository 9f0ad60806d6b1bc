"""One trial: sample a configuration, train it, report epochs to the pruner, record it in MLflow.

:class:`Objective` is the Optuna objective; its :meth:`Objective.after_trial` (an Optuna
callback, called once Optuna has stored the trial's state) closes the trial's MLflow run with
the mirrored status and keeps the model (a cross-validated trial's: the bag of its fold
networks) of a trial that enters the :func:`~automl.final.ensemble_pool`. A trial's time, all
its folds together, is bounded by :meth:`Objective.trial_limit`, which its folds share
(:meth:`Objective.fold_deadline`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automl.bundle import Member, ModelBundle, save_bundle
from automl.config import MEMORY_MARGIN, TrainConfig
from automl.errors import TrialError
from automl.final import (
    VAL_OUTPUT,
    Candidate,
    ensemble_pool,
    selection_output,
    val_predictions,
)
from automl.folds import Folds, crossfit_epochs
from automl.interrupts import raise_pending
from automl.memory import GIB, free_bytes, training_bytes
from automl.metrics import evaluate
from automl.networks import ModelSpec
from automl.plan import SearchPlan
from automl.queries import TrialCounts, ranked
from automl.records import FOLD_SCORES, RUN_ID, TRAIN_ROWS
from automl.space import TrialParams, params_from_dict, sample_params
from automl.strategy import first_prunable_step, first_ranking_step
from automl.tracking import Tracker, TrackingCallback, TrialOutcome, temporary_dir
from automl.train import (
    EpochLog,
    FitResult,
    Pace,
    RowGrowth,
    StopReason,
    fit,
    network_for,
    resolve_device,
    split_targets,
)

#: The Optuna trial attr of the epochs its learning-rate schedule spanned (a refit replays it).
SCHEDULE_EPOCHS = "schedule_epochs"
#: The Optuna trial attr of a configuration skipped by the memory guard: why.
MEMORY = "memory"
#: Trial attr of a trial pruned as too slow (:meth:`Objective.pace`): the forecast and the limit.
PACE = "pace"
#: Share of ``--timeout`` one trial may use: an oversized network ends (keeping its best epoch)
#: before it eats the search; measured on diamonds, one 7x893 ResNet took 323 s of a 600 s run.
MAX_TRIAL_SHARE = 0.1
#: ...but never less than this (or a third of a shorter timeout): at 30 s, 10% left a
#: cross-validated credit_g trial 3 s for its five networks, and every trial ended pruned.
MIN_TRIAL_SECONDS = 10.0


#: Passes over every training row that a linear model makes in a study whose rows grow, once
#: its rows have grown to the whole split. Its loss is convex, so a few passes over a big table
#: reach what it can score; uncapped, the warm start's linear model kept gaining in the fourth
#: decimal until the per-trial cap, and a million-row search waited 128 s for its first
#: finished trial (``benchmarks/RESULTS.md``, "Big data" run 5).
LINEAR_FULL_PASSES = 2


def train_config_for(cfg: TrainConfig, model: ModelSpec, n_train: int) -> TrainConfig:
    """A trial's training settings: ``cfg``, except that a linear model on a training split
    whose rows grow (:class:`~automl.train.RowGrowth`) stops after :data:`LINEAR_FULL_PASSES`
    passes over all of them.

    >>> from automl.networks.linear import LinearSpec
    >>> train_config_for(TrainConfig(), LinearSpec(), 800_000).max_epochs
    9
    >>> train_config_for(TrainConfig(), LinearSpec(), 20_000).max_epochs
    60
    """
    growth = RowGrowth.for_split(n_train)
    if growth is None or model.kind != "linear":
        return cfg
    epochs = growth.first_full_epoch(n_train) + LINEAR_FULL_PASSES
    return dataclasses.replace(cfg, max_epochs=min(cfg.max_epochs, epochs))


def timeout_share(timeout_s: float) -> float:
    """The seconds one trial may use of a ``timeout_s`` run.

    >>> [timeout_share(t) for t in (600, 60, 30, 6)]
    [60.0, 10.0, 10.0, 2.0]
    """
    return max(MAX_TRIAL_SHARE * timeout_s, min(MIN_TRIAL_SECONDS, timeout_s / 3))


def fold_share(limit_end: float, folds_left: int, now: float) -> float:
    """When the next of ``folds_left`` networks of a trial must stop, at ``now``: an equal share
    of what is left of the trial's time limit (ending at ``limit_end``) for each network still
    to train. So every fold of a slow configuration trains, each annealed by its share (see
    :class:`~automl.train.ScheduleClock`), where the first folds would use the limit up and the
    trial end pruned (on scikit-learn's digits at ``--timeout 60``, the two best configurations
    did, after 3 or 4 of their 5 folds); time a fold leaves goes to the folds after it.

    >>> fold_share(10.0, 5, now=0.0)
    2.0
    >>> fold_share(10.0, 4, now=1.0)  # the first fold stopped early: the other four share 9 s
    3.25
    >>> fold_share(10.0, 1, now=4.0)  # a single split has the whole limit
    10.0
    """
    return now + max(0.0, limit_end - now) / folds_left


def pruner_stops(trial: optuna.Trial, step: int, prune_from: int | None) -> bool:
    """Whether the pruner stops ``trial`` after its report at ``step`` (its latest); not asked
    before ``prune_from`` (``None``: never), where it cannot say yes (see
    :func:`~automl.strategy.first_prunable_step`)."""
    return prune_from is not None and step >= prune_from and trial.should_prune()


class PruningCallback:
    """Reports each epoch's score to Optuna and asks the pruner whether to stop, from epoch
    ``prune_from`` on (``report``: on the first fold only, when cross-validating); a deferred
    Ctrl-C / SIGTERM ends the trial here, at the end of an epoch."""

    def __init__(self, trial: optuna.Trial, *, prune_from: int | None,
                 report: bool = True) -> None:
        self.trial, self.prune_from, self.report = trial, prune_from, report

    def on_epoch_end(self, log: EpochLog) -> StopReason | None:
        raise_pending()
        if not self.report or not math.isfinite(log.score):
            return None
        self.trial.report(log.score, log.epoch)
        return StopReason.PRUNED if pruner_stops(self.trial, log.epoch, self.prune_from) \
            else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trained:
    """What one trial trained: a network per fold (one without cross-validation), each fold's
    fit, and the outputs it is selected on (validation rows, or every training row out of
    fold; see :func:`~automl.final.val_predictions`).

    ``fold_scores``: when every fold has trained, each fold's score at the epoch the other folds
    chose (:func:`~automl.folds.crossfit_epochs`), as its out-of-fold ``output`` is, and
    ``fold_metrics`` every metric there; until then (and with one split) each fit's best score
    and metrics stand instead."""

    networks: tuple[torch.nn.Module, ...]
    fits: tuple[FitResult, ...]
    output: np.ndarray | None = field(default=None, repr=False)  # None: stopped before the end
    fold_scores: tuple[float, ...] = ()
    fold_metrics: tuple[dict[str, float], ...] = ()

    @property
    def scores(self) -> list[float]:
        return list(self.fold_scores) or [fit.best_score for fit in self.fits]

    @property
    def score(self) -> float:
        """The trial's value: the mean of its folds' scores."""
        return float(np.mean(self.scores))

    @property
    def best_val(self) -> dict[str, float]:
        """Every metric, averaged over the folds, where each fold is scored (its study metric
        is then the trial's value)."""
        folds = self.fold_metrics or tuple(fit.best_val for fit in self.fits)
        keys = set.intersection(*(set(metrics) for metrics in folds))
        return {k: float(np.mean([metrics[k] for metrics in folds])) for k in sorted(keys)}


class Objective:
    """Trains one trial; as an Optuna callback, closes its MLflow run with the stored state.

    ``deadline`` (``time.monotonic()``, or ``None``) is when this process must stop training;
    the session moves it before each trial (it keeps time for the final step).

    A cross-validated study (``plan.folds``) trains one network per fold. The first fold
    reports every epoch to the pruner (steps ``0..max_epochs-1``, as a single split does);
    after fold ``j`` the mean of the folds so far is reported at step ``max_epochs + j``, so the
    pruner can stop a configuration after any fold. Its value is the mean of the folds' scores.
    """

    def __init__(self, plan: SearchPlan, tracker: Tracker, deadline: float | None) -> None:
        self.plan, self.tracker, self.deadline = plan, tracker, deadline
        self.device = resolve_device(plan.cfg.train.device)
        self.tensors = plan.tensors.to(self.device)
        self._results: dict[int, Trained] = {}
        self.last_state = ""  # the stored state of the trial this process ran last

    def __call__(self, trial: optuna.Trial) -> float:
        params = sample_params(trial, self.plan.task, self.plan.families)
        run_id = self.tracker.start_trial(trial.number, dict(trial.params))
        trial.set_user_attr(RUN_ID, run_id)
        tracking = TrackingCallback(self.tracker, run_id)
        try:
            trained = self._train(trial, params, tracking)
        except BaseException as exc:  # a pruned trial's run is closed by after_trial
            tracking.flush()
            if not isinstance(exc, optuna.TrialPruned):  # Ctrl-C or SIGTERM: MLflow KILLED
                self.tracker.end_trial(run_id, TrialOutcome.INTERRUPTED
                                       if isinstance(exc, KeyboardInterrupt)
                                       else TrialOutcome.FAIL, {})
            raise
        tracking.flush()
        return trained.score

    def _train(self, trial: optuna.Trial, params: TrialParams,
               tracking: TrackingCallback) -> Trained:
        """Train the trial's network(s), fold after fold; the attrs and results are stored
        before a pruned or diverged trial raises, so its run gets its scores."""
        plan, seed = self.plan, self.plan.cfg.seed + trial.number
        folds, limit_end = plan.folds, self.limit_end()
        k = folds.k if folds else 1
        n_complete = TrialCounts.of(trial.study).complete
        prune_from = first_prunable_step(plan.cfg, n_complete, cross_validated=folds is not None)
        pace = self.pace(first_ranking_step(plan.cfg, n_complete), k)
        train_cfg = train_config_for(plan.cfg.train, params.model, len(self.tensors.y_train))
        torch.manual_seed(seed)
        networks: list[torch.nn.Module] = []
        fits: list[FitResult] = []
        for fold in range(k):
            data = folds.split(self.tensors, fold) if folds else self.tensors
            network = network_for(params.model, data)
            if fold == 0:
                self._check_memory(trial, network, params, tracking)
            callbacks = [tracking, PruningCallback(trial, prune_from=prune_from)] \
                if fold == 0 else [PruningCallback(trial, prune_from=None, report=False)]
            fits.append(fit(network, data, task=plan.task, metric=plan.metric,
                            optim=params.optim, cfg=train_cfg,
                            class_weighting=params.class_weighting,
                            resampling=params.resampling, callbacks=callbacks, seed=seed + fold,
                            deadline=self.fold_deadline(limit_end, k - fold),
                            keep_outputs=folds is not None,
                            pace=pace if fold == 0 else None))
            networks.append(network)
            stop = self._stop_after_fold(trial, fits, k, prune_from, pace, limit_end)
            if stop is not None:
                self._record(trial, Trained(networks=tuple(networks), fits=tuple(fits)))
                raise stop
        trained = (self._crossfit(networks, fits, folds) if folds else
                   Trained(networks=tuple(networks), fits=tuple(fits),
                           output=val_predictions(networks[0], self.tensors, plan.task)))
        self._record(trial, trained)
        return trained

    def _check_memory(self, trial: optuna.Trial, network: torch.nn.Module,
                      params: TrialParams, tracking: TrackingCallback) -> None:
        """Skip a configuration whose training would not fit in memory (see
        :mod:`automl.memory`): the trial ends pruned, its record (the ``memory`` attr, the
        MLflow run's ``memory_need_gib`` and ``memory_free_gib``) says why.

        Raises:
            optuna.TrialPruned: the estimate is more than
                :data:`~automl.config.MEMORY_MARGIN` of the free memory.
        """
        cfg = self.plan.cfg
        need = training_bytes(network, self.tensors.x_train[:2], params.optim.batch_size,
                              cfg.train.eval_batch_size)
        limit = cfg.memory_limit_gb
        free = free_bytes(round(limit * GIB) if limit else None)
        if need <= MEMORY_MARGIN * free:
            return
        text = (f"needs about {need / GIB:.2f} GiB to train, {max(free, 0) / GIB:.2f} GiB "
                f"is free{f' within --memory-limit {limit:g}' if limit else ''}")
        trial.set_user_attr(MEMORY, text)
        self.tracker.log_metrics(tracking.run_id, {"memory_need_gib": need / GIB,
                                                   "memory_free_gib": free / GIB})
        raise optuna.TrialPruned(f"not trained: it {text}")

    def _crossfit(self, networks: list[torch.nn.Module], fits: list[FitResult],
                  folds: Folds) -> Trained:
        """Every fold scored, and its out-of-fold outputs taken, at the epoch the other folds
        chose; the networks keep their own best epochs."""
        epochs = crossfit_epochs([[log.score for log in fit.history] for fit in fits],
                                 self.plan.metric.greater_is_better,
                                 [[log.val_loss for log in fit.history] for fit in fits])
        task, chosen = self.plan.task, list(zip(fits, epochs, strict=True))
        outputs = [selection_output(task, fit.outputs[e]) for fit, e in chosen]
        targets = split_targets(self.tensors, task, "train")  # each fold's rows are its own
        metrics = tuple(evaluate(task, targets[folds.assignment == fold], fit.outputs[e],
                                 self.tensors.positive)
                        for fold, (fit, e) in enumerate(chosen))
        return Trained(networks=tuple(networks), fits=tuple(fits),
                       output=folds.out_of_fold(outputs),
                       fold_scores=tuple(fit.history[e].score for fit, e in chosen),
                       fold_metrics=metrics)

    def _stop_after_fold(self, trial: optuna.Trial, fits: list[FitResult], k: int,
                         prune_from: int | None, pace: Pace | None,
                         limit_end: float | None) -> Exception | None:
        """What ends the trial after its latest fold (``None``: it goes on, or it is done):
        a :class:`TrialError` when it diverged, :class:`optuna.TrialPruned` when the pruner
        (asked from step ``prune_from``), the first fold's ``pace``, or the run's deadline or
        the trial's time limit (ending at ``limit_end``) passing stops it before its last fold
        (a fold that used its share of the limit is not a reason)."""
        last, fold = fits[-1], len(fits) - 1
        of_fold = f" of fold {fold + 1}" if k > 1 else ""
        if not last.found_finite_score:
            return TrialError(f"trial {trial.number} diverged (non-finite loss) at epoch 0"
                              f"{of_fold}")
        if last.stop_reason is StopReason.PRUNED:
            return optuna.TrialPruned(f"pruned at epoch {len(last.history) - 1}{of_fold}")
        if last.stop_reason is StopReason.TOO_SLOW:
            return self._too_slow(trial, last, pace)
        if k == 1:
            return None
        step = self.plan.cfg.train.max_epochs + fold
        trial.report(float(np.mean([f.best_score for f in fits])), step)
        if fold + 1 < k and pruner_stops(trial, step, prune_from):
            return optuna.TrialPruned(f"pruned after fold {fold + 1} of {k}")
        if fold + 1 < k and last.stop_reason is StopReason.TIMEOUT and self._time_is_up(limit_end):
            return optuna.TrialPruned(f"the time limit passed after fold {fold + 1} of {k}")
        return None

    def _record(self, trial: optuna.Trial, trained: Trained) -> None:
        """Store what the final step and the leaderboard read as trial attrs; keep the
        networks for :meth:`after_trial`."""
        self._results[trial.number] = trained
        histories = [log for fit in trained.fits for log in fit.history]
        trial.set_user_attr("best_epoch", round(float(np.mean(
            [fit.best_epoch for fit in trained.fits]))))
        trial.set_user_attr("epoch_seconds", sum(log.seconds for log in histories) /
                            max(1, len(histories)))  # the final model's refit estimate
        trial.set_user_attr("stop_reason", trained.fits[-1].stop_reason.value)
        trial.set_user_attr(SCHEDULE_EPOCHS, trained.fits[0].schedule_epochs)
        first = trained.fits[0]
        if first.history:
            trial.set_user_attr(TRAIN_ROWS, first.history[max(0, first.best_epoch)].train_rows)
        if self.plan.folds:
            trial.set_user_attr(FOLD_SCORES, trained.scores)

    def trial_limit(self) -> float | None:
        """This trial's own time limit in seconds (``None``: none): the lesser of
        ``max_trial_seconds`` and, with a timeout, :func:`timeout_share` of it."""
        cfg = self.plan.cfg
        limits = [cfg.train.max_trial_seconds,
                  timeout_share(cfg.timeout_s) if cfg.timeout_s else None]
        return min((limit for limit in limits if limit is not None), default=None)

    def limit_end(self) -> float | None:
        """When this trial's own time limit (:meth:`trial_limit`), started now, ends."""
        limit = self.trial_limit()
        return None if limit is None else time.monotonic() + limit

    def fold_deadline(self, limit_end: float | None, folds_left: int) -> float | None:
        """When the next of ``folds_left`` networks must stop: the earlier of the run's deadline
        and its :func:`fold_share` of the trial's limit (ending at ``limit_end``)."""
        now = time.monotonic()
        ends = [] if self.deadline is None else [self.deadline]
        if limit_end is not None:
            ends.append(fold_share(limit_end, folds_left, now))
        return min(ends, default=None)

    def _time_is_up(self, limit_end: float | None) -> bool:
        """Whether the run's deadline or the trial's limit (ending at ``limit_end``) passed."""
        ends = [end for end in (self.deadline, limit_end) if end is not None]
        return bool(ends) and time.monotonic() >= min(ends)

    def pace(self, ranked_from: int | None, k: int) -> Pace | None:
        """The pace a trial that the pruner ranks from step ``ranked_from`` (see
        :func:`~automl.strategy.first_ranking_step`) must keep: its first network (of ``k``)
        trains the ``ranked_from + 1`` epochs up to that judgement within a ``k``-th of the
        trial's time limit. A slower network would run out of time unjudged (on adult at 600 s,
        such trials took a third of the search for scores far below the median); ``None`` when
        nothing ranks the trial or it has no time limit."""
        limit = self.trial_limit()
        if ranked_from is None or limit is None:
            return None
        return Pace(epochs=ranked_from + 1, seconds=limit / k)

    def _too_slow(self, trial: optuna.Trial, fit: FitResult,
                  pace: Pace | None) -> optuna.TrialPruned:
        """Record why a too-slow trial ends (the ``pace`` attr; the MLflow run's
        ``pace_forecast_s`` and ``pace_limit_s``) and the exception that prunes it."""
        assert pace is not None  # only a fit given a pace stops as too slow
        text = (f"its first {pace.epochs} epochs would take about {fit.forecast_seconds:.0f} s, "
                f"more than its {pace.seconds:.0f} s")
        trial.set_user_attr(PACE, text)
        self.tracker.log_metrics(trial.user_attrs[RUN_ID], {
            "pace_forecast_s": fit.forecast_seconds, "pace_limit_s": pace.seconds})
        return optuna.TrialPruned(f"too slow: {text}")

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Mirror the stored state into MLflow; keep the model(s) (and the outputs the final
        ensemble selects on) of a trial that enters the :func:`~automl.final.ensemble_pool`."""
        self.last_state = trial.state.name
        run_id = trial.user_attrs.get(RUN_ID)
        trained = self._results.pop(trial.number, None)
        if run_id is None:
            return
        final = {f"best_val_{k}": v for k, v in (trained.best_val if trained else {}).items()}
        if trained is not None:
            final.update(best_epoch=trial.user_attrs["best_epoch"],
                         epochs=sum(len(fit.history) for fit in trained.fits))
            if self.plan.folds:
                self.tracker.log_series(run_id, [
                    (fold, {f"fold_val_{self.plan.metric.name}": score})
                    for fold, score in enumerate(trained.scores)])
        if trial.state is TrialState.COMPLETE and trained is not None and in_pool(study, trial):
            self._log_model(run_id, trial, trained)
        self.tracker.end_trial(run_id, TrialOutcome(trial.state.name), final)

    def _log_model(self, run_id: str, trial: FrozenTrial, trained: Trained) -> None:
        plan = self.plan
        params = params_from_dict(trial.params, plan.task)
        bundle = ModelBundle.ensemble(
            plan.preprocessor,
            [Member(spec=params.model, network=network, weight=1.0)
             for network in trained.networks],
            self.tensors.d_in, {"study": plan.study_name, "trial": trial.number,
                                "params": trial.params, "metric": plan.metric.name,
                                "value": trial.value})
        with temporary_dir() as tmp:
            self.tracker.log_dir(run_id, save_bundle(bundle, Path(tmp) / "model"), "model")
            output = Path(tmp) / "output"
            output.mkdir()
            assert trained.output is not None, "only a finished trial's model is kept"
            np.save(output / VAL_OUTPUT, trained.output)
            self.tracker.log_dir(run_id, output, "")


def in_pool(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Whether ``trial`` is in the study's :func:`~automl.final.ensemble_pool`."""
    return trial.number in {t.number for t in ensemble_pool(ranked(study))}


def candidate(trial: FrozenTrial) -> Candidate:
    """A complete trial for :mod:`automl.final`, with its seconds per training epoch (older
    trials without the ``epoch_seconds`` attr: their duration per reported epoch)."""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    epochs = max(1, len(trial.intermediate_values))
    return Candidate(number=trial.number, value=float(trial.value),  # type: ignore[arg-type]
                     params=dict(trial.params), run_id=str(trial.user_attrs[RUN_ID]),
                     best_epoch=int(trial.user_attrs.get("best_epoch", epochs - 1)),
                     schedule_epochs=trial.user_attrs.get(SCHEDULE_EPOCHS),
                     epoch_seconds=float(trial.user_attrs.get("epoch_seconds",
                                                              seconds / epochs)))


def candidates(study: optuna.Study) -> list[Candidate]:
    """The :func:`~automl.final.ensemble_pool`'s trials that have an MLflow run, best first."""
    return [candidate(t) for t in ensemble_pool(ranked(study)) if RUN_ID in t.user_attrs]
