"""The final model of a search: the top trials' ensemble, or the best configuration refitted.

After the trials, two candidates are weighed **only by validation score**:

* a greedy ensemble (Caruana et al. 2004, selection with replacement) of the
  :func:`ensemble_pool`: the top :data:`TOP_K` complete trials and the best trial of every
  other model family, built from each trial's validation predictions (artifact
  ``val_output.npy``, logged with the trial's model by every trial that entered the pool when
  it finished, so it works across workers and resumes without retraining);
* the best single trial. When the ensemble does not beat it on validation (it never scores
  worse: its first pick is the best trial), the best configuration is refitted on the training
  *and* validation rows for its best epoch count and used instead; the refit has no validation
  score of its own (those rows are now training data), so it stands on its trial's.

In a cross-validated study (:mod:`automl.folds`) a trial's model is the **bag** of its fold
networks (their average), and its "validation predictions" are its out-of-fold predictions on
every training row: the ensemble is selected on those, its members are bags, and the best
single trial's bag is used as it is (no refit: each of its networks already trained on all
folds but one).

The chosen model is then calibrated on the same validation (or out-of-fold) predictions as the
choice: a classifier's probabilities get their temperature (:mod:`automl.calibration`), which
the threshold below is tuned after; a regression model gets the calibration of its prediction
intervals (:mod:`automl.intervals`), and its test scores include the coverage of its 90%
intervals.

A binary final model then gets its decision threshold (:mod:`automl.threshold`), tuned on the
validation probabilities of the final model: the ensemble's, or, for the best trial and its
refit, the trial's own (a refit has trained on the validation rows, so its own probabilities
there are not a fair sample). The threshold is stored in the bundle, and its test precision,
recall and F1 are scored with the other test metrics.

With ``--refit-all`` (:attr:`FinalInputs.refit_all`), once the final model has its test score,
its networks are trained again on every row, the validation and test rows too, each from its
trial's parameters for the trial's best epoch count, and those are kept (the threshold too):
the rows a time split holds out are the latest, the nearest to the rows the model will meet.
No row is left to score the retrained model; the test score is of the model before it.

The winner is logged as its own MLflow run (child of the study's parent run, tag
``automl.role=final``) with its bundle as artifact ``model``; ``automl predict`` and
``automl export`` use it. :func:`reserve_seconds` tells the search how much of ``--timeout``
to leave for this step.

Nothing here knows Optuna: :func:`automl.objective.candidates` passes the trials as
:class:`Candidate` rows.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from automl.bundle import Member, ModelBundle, load_bundle, save_bundle
from automl.calibration import fit_temperature, rescaled
from automl.config import TrainConfig
from automl.data import TaskType
from automl.errors import DataError, TrialError
from automl.features import Preprocessor, TensorSplits
from automl.intervals import Conformal
from automl.metrics import Metric, predictions
from automl.plan import SearchPlan
from automl.space import params_from_dict
from automl.threshold import ThresholdMetric, TunedThreshold, tune_threshold
from automl.tracking import Tracker, TrialOutcome, temporary_dir
from automl.train import network_for, predict_raw, refit

log = logging.getLogger(__name__)

TOP_K = 5
ENSEMBLE_ROUNDS = 20
VAL_OUTPUT = "val_output.npy"
#: Seconds the end of a search needs besides the refit: the final model's downloads, bundle
#: and MLflow run (~1 s), the best model's test score and the study report (~3 s, its plots);
#: measured on tiny data on the 2-core machine, plus 1% of the timeout for larger data.
OVERHEAD_S = 4.0
OVERHEAD_SHARE = 0.01
#: Share of the timeout kept back before the first trial completes (nothing to estimate from).
FIRST_RESERVE_SHARE = 0.1
_SAFETY = 1.1  # refit-time estimates (a trial's epochs, validation included) scaled up


class _Ranked(Protocol):
    @property
    def params(self) -> dict[str, Any]: ...


RankedT = TypeVar("RankedT", bound=_Ranked)


def ensemble_pool(ranked: list[RankedT]) -> list[RankedT]:
    """The trials the final ensemble selects from, best first: the top :data:`TOP_K` of
    ``ranked`` (best first) and, below them, the best trial of each model family (parameter
    ``arch``) that has none in the top, so another kind of model (the linear one on a small
    table, beside five networks a little better alone) can still blend in."""
    families = {trial.params.get("arch") for trial in ranked[:TOP_K]}
    pool = list(ranked[:TOP_K])
    for trial in ranked[TOP_K:]:
        family = trial.params.get("arch")
        if family not in families:
            families.add(family)
            pool.append(trial)
    return pool


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A complete trial as the final step sees it (best first in the list it is given)."""

    number: int
    value: float
    params: dict[str, Any]
    run_id: str
    best_epoch: int
    epoch_seconds: float
    schedule_epochs: int | None = None  # the trial's learning-rate span (None: max_epochs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The outcome of :func:`ensemble_selection`: one weight per member (summing to 1), the
    ensemble's validation score, and the score after each round."""

    weights: np.ndarray
    score: float
    history: tuple[float, ...] = field(repr=False, default=())


class FinalKind(str, Enum):
    """What the final model is: the top trials' ensemble, the best configuration refitted on
    train+validation, or (no time or a failed refit) the best trial's own model."""

    ENSEMBLE = "ensemble"
    REFIT = "refit"
    BEST_TRIAL = "best_trial"
    BAG = "bag"  # the best trial's fold networks, averaged (a cross-validated study)


@dataclass(frozen=True, slots=True)
class EveryRow:
    """Whether the final model was trained again on every row (``--refit-all``): on how many
    (0: not), or why not (empty: not asked)."""

    rows: int = 0
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, none when not asked (a part of :meth:`FinalModel.to_dict`)."""
        return ({"refit_all_rows": self.rows} if self.rows else
                {"refit_all_skipped": self.skipped} if self.skipped else {})


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalModel:
    """What :func:`build_final` chose and logged. ``val_score`` is on the validation rows, or
    out of fold when ``cross_validated``; ``best_trial_score`` is the best trial's own score
    on the same rows (``best_trial``, which an ensemble may leave out)."""

    kind: FinalKind
    trials: tuple[int, ...]
    weights: tuple[float, ...]
    val_score: float
    best_trial: int
    best_trial_score: float
    run_id: str
    test_metrics: dict[str, float]
    bundle: ModelBundle = field(repr=False)
    refit_epochs: int = 0
    seconds: float = 0.0
    threshold: TunedThreshold | None = None
    cross_validated: bool = False
    every_row: EveryRow = field(default_factory=EveryRow)
    test_rows: int = 0  # the rows ``test_metrics`` rest on

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (stored as the study's ``final_model`` user attr)."""
        data = {"kind": self.kind.value, "trials": list(self.trials),
                "weights": list(self.weights), "val_score": self.val_score,
                "best_trial": self.best_trial, "best_trial_score": self.best_trial_score,
                "run_id": self.run_id,
                "test_metrics": self.test_metrics, "test_rows": self.test_rows,
                "refit_epochs": self.refit_epochs,
                "seconds": round(self.seconds, 3), "cross_validated": self.cross_validated}
        if self.threshold is not None:
            data["threshold"] = self.threshold.to_dict()
        if self.bundle.temperature is not None:
            data["temperature"] = self.bundle.temperature
        if self.bundle.conformal is not None:
            data["interval_rows"] = self.bundle.conformal.n
        return data | self.every_row.to_dict()


# ------------------------------------------------------------------------------ the budget
def refit_seconds(best: Candidate, n_train: int, n_val: int) -> float:
    """Estimated seconds to refit ``best`` on ``n_train + n_val`` rows for its best epochs."""
    epochs = best.best_epoch + 1
    return _SAFETY * best.epoch_seconds * epochs * (n_train + n_val) / max(n_train, 1)


def every_row_seconds(chosen: list[tuple[Candidate, int]], n_train: int, n_rows: int) -> float:
    """Estimated seconds to train, for each ``chosen`` ``(trial, networks)``, that many
    networks on all ``n_rows`` rows (``--refit-all``) for the trial's best epochs."""
    return sum(n * refit_seconds(trial, n_train, n_rows - n_train) for trial, n in chosen)


def reserve_seconds(best: Candidate | None, n_train: int, n_val: int,
                    timeout_s: float, *, refit: bool = True, every_row_s: float = 0.0) -> float:
    """How many seconds of a ``timeout_s`` run to keep for the final step.

    :data:`OVERHEAD_S` plus :data:`OVERHEAD_SHARE` of the timeout, and, when a refit may be the
    final model (``refit``: the ensemble does not yet beat the best trial), the refit estimate
    of the best trial so far (before any trial completes: :data:`FIRST_RESERVE_SHARE` of the
    timeout), and ``every_row_s`` (``--refit-all``, see :func:`every_row_seconds`); at most half
    the timeout (a configuration too slow to refit in the time left is not refitted: its
    trial's own model is used).
    """
    base = OVERHEAD_S + OVERHEAD_SHARE * timeout_s + every_row_s
    if not refit:
        return min(base, 0.5 * timeout_s)
    refit_s = (FIRST_RESERVE_SHARE * timeout_s if best is None
               else refit_seconds(best, n_train, n_val))
    return min(base + refit_s, 0.5 * timeout_s)


# -------------------------------------------------------------------------------- ensemble
def val_predictions(network: torch.nn.Module, tensors: TensorSplits,
                    task: TaskType) -> np.ndarray:
    """What a trial's ``val_output.npy`` holds: validation probabilities (classification) or
    values in target units (regression), rows in validation order, float64."""
    out = predict_raw(network, tensors.x_val)
    return selection_output(task, out if task.is_classification
                            else tensors.decode_target(out))


def selection_output(task: TaskType, output: np.ndarray) -> np.ndarray:
    """Raw outputs (logits, or values in target units, as :func:`~automl.train.split_output`
    gives them) as the selection reads them: probabilities, or one value per row."""
    return predictions(task, output) if task.is_classification else output.reshape(-1)


def ensemble_selection(outputs: list[np.ndarray], y_true: np.ndarray, metric: Metric,
                       rounds: int = ENSEMBLE_ROUNDS) -> Selection:
    """Greedy ensemble selection with replacement on validation predictions.

    Each round adds the member whose addition scores best (ties: the earlier member); the
    weights are the pick counts of the best round. The first round picks the best single
    member, so the result never scores worse than it on these rows.

    Args:
        outputs: per member, probabilities ``(n, k)`` or values ``(n,)`` as ``metric.fn`` takes.
        y_true: class codes or values in target units.
        metric: the study metric (direction from :attr:`Metric.greater_is_better`).

    Raises:
        ValueError: no members, or members of different shapes.
    """
    if not outputs or any(o.shape != outputs[0].shape for o in outputs):
        raise ValueError("ensemble selection needs members with predictions of one shape")
    sign = 1.0 if metric.greater_is_better else -1.0
    counts = np.zeros(len(outputs))
    total = np.zeros_like(outputs[0], dtype=np.float64)
    best_counts, best_score, history = counts.copy(), -math.inf, []
    for r in range(1, rounds + 1):
        scores = [_score(metric, y_true, (total + o) / r) for o in outputs]
        pick = int(np.argmax([sign * s if math.isfinite(s) else -math.inf for s in scores]))
        counts[pick] += 1
        total += outputs[pick]
        history.append(scores[pick])
        if math.isfinite(scores[pick]) and sign * scores[pick] > best_score:
            best_score, best_counts = sign * scores[pick], counts.copy()
    if best_counts.sum() == 0:  # every score non-finite: fall back to the first member
        best_counts[0], best_score = 1, math.nan
    return Selection(weights=best_counts / best_counts.sum(), score=sign * best_score,
                     history=tuple(history))


def choose_ensemble(outputs: list[np.ndarray], y_val: np.ndarray,
                    metric: Metric) -> Selection | None:
    """The ensemble selected from ``outputs`` (best trial first) when it has several members
    and beats the best trial on validation; else ``None`` (the best configuration is used)."""
    selection = ensemble_selection(outputs, y_val, metric)
    several = int(np.count_nonzero(selection.weights)) > 1
    if several and _better(metric, selection.score, _score(metric, y_val, outputs[0])):
        return selection
    return None


class ValidationOutputs:
    """The trials' ``val_output.npy`` artifacts, each downloaded once (they never change), and
    which of the current top trials an ensemble of them would hold, if one beats the best
    (asked before each trial, so the search keeps time for a refit only while a refit can
    still be the final model, and for ``--refit-all`` only for the networks it would
    train)."""

    def __init__(self, tracker: Tracker, y_val: np.ndarray, metric: Metric) -> None:
        self.tracker, self.y_val, self.metric = tracker, y_val, metric
        self._outputs: dict[str, np.ndarray] = {}
        self._verdicts: dict[tuple[str, ...], tuple[str, ...] | None] = {}

    def ensemble_members(self, run_ids: list[str]) -> tuple[str, ...] | None:
        """The runs (of ``run_ids``, best first) that :func:`choose_ensemble` puts in an
        ensemble; ``None`` when it picks none (the best run alone is the final model) or
        while any of their outputs is not logged yet."""
        key = tuple(run_ids)
        if key not in self._verdicts:
            outputs = [o for o in map(self._output, run_ids) if o is not None]
            if len(outputs) < max(2, len(run_ids)):
                return None
            picked = choose_ensemble(outputs, self.y_val, self.metric)
            self._verdicts[key] = None if picked is None else tuple(
                run_id for run_id, w in zip(run_ids, picked.weights, strict=True) if w > 0)
        return self._verdicts[key]

    def _output(self, run_id: str) -> np.ndarray | None:
        if run_id not in self._outputs:
            with temporary_dir() as tmp:
                output = _load_output(self.tracker, run_id, Path(tmp))
            if output is None:
                return None
            self._outputs[run_id] = output
        return self._outputs[run_id]


def _load_output(tracker: Tracker, run_id: str, folder: Path) -> np.ndarray | None:
    """The run's logged validation output (float64), or ``None`` when it has none."""
    path = tracker.download_dir(run_id, VAL_OUTPUT, folder)
    return None if path is None else np.load(path, allow_pickle=False).astype(np.float64)


def _score(metric: Metric, y_true: np.ndarray, output: np.ndarray) -> float:
    try:
        return float(metric.fn(y_true, output))
    except ValueError:  # e.g. ROC-AUC undefined on these rows
        return math.nan


def _better(metric: Metric, a: float, b: float, tolerance: float = 1e-9) -> bool:
    if not math.isfinite(a):
        return False
    if not math.isfinite(b):
        return True
    return (a - b if metric.greater_is_better else b - a) > tolerance * max(1.0, abs(b))


# ------------------------------------------------------------------------------ the final step
@dataclass(frozen=True, slots=True, kw_only=True)
class FinalInputs:
    """The search's data and settings that the final step needs: ``selection_targets`` are
    what the trials' outputs are scored against (:meth:`automl.plan.SearchPlan.selection_targets`)
    and ``bagged`` says those outputs are out of fold (a cross-validated study)."""

    tensors: TensorSplits
    selection_targets: np.ndarray
    bagged: bool
    preprocessor: Preprocessor
    task: TaskType
    metric: Metric
    train: TrainConfig
    seed: int
    study_name: str
    threshold_metric: ThresholdMetric = field(default_factory=ThresholdMetric)
    refit_all: bool = False

    @classmethod
    def of(cls, plan: SearchPlan) -> FinalInputs:
        """The final step's inputs from a search's plan."""
        return cls(tensors=plan.tensors, selection_targets=plan.selection_targets(),
                   bagged=plan.folds is not None, preprocessor=plan.preprocessor,
                   task=plan.task, metric=plan.metric, train=plan.cfg.train, seed=plan.cfg.seed,
                   study_name=plan.study_name, threshold_metric=plan.threshold_metric,
                   refit_all=plan.cfg.refit_all)


def build_final(candidates: list[Candidate], inputs: FinalInputs, tracker: Tracker,
                deadline: float | None = None) -> FinalModel | None:
    """Choose, build and log the final model from ``candidates`` (best first; the
    :func:`ensemble_pool`).

    Members are the candidates whose run holds both ``model`` and ``val_output.npy``; with none,
    returns ``None`` and logs nothing. The refit stops at ``deadline`` (``time.monotonic()``);
    if it cannot start before it, fails, or would not finish in time, the best trial's own model
    is used (kind ``best_trial``).
    """
    start = time.monotonic()
    with temporary_dir() as tmp:
        members = _fetch(candidates, tracker, Path(tmp))
        if not members:
            return None
        task, metric, tensors = inputs.task, inputs.metric, inputs.tensors
        y_val = inputs.selection_targets
        selection = choose_ensemble([output for _, _, output in members], y_val, metric)
        best, best_bundle, best_output = members[0]
        best_score = _score(metric, y_val, best_output)
        metadata = {"study": inputs.study_name, "trial": best.number, "metric": metric.name}
        if selection is not None:
            used = [(m, w) for m, w in zip(members, selection.weights, strict=True) if w > 0]
            bundle = ModelBundle.ensemble(
                inputs.preprocessor,
                [Member(spec=m.spec, network=m.network, weight=float(w) * m.weight)
                 for (_, b, _), w in used for m in b.networks],
                tensors.d_in, {**metadata, "kind": FinalKind.ENSEMBLE.value,
                               "value": selection.score,
                               "trials": [c.number for (c, _, _), _ in used],
                               "weights": [float(w) for _, w in used]})
            kind, trials = FinalKind.ENSEMBLE, tuple(c.number for (c, _, _), _ in used)
            weights, score, epochs = tuple(float(w) for _, w in used), selection.score, 0
            final_output = sum(float(w) * output for (_, _, output), w in used)
            chosen = [(c, len(b.networks), float(w)) for (c, b, _), w in used]
        else:
            bundle, epochs = ((best_bundle, 0) if inputs.bagged
                              else _refit_or_best(best, best_bundle, inputs, deadline))
            kind = (FinalKind.BAG if inputs.bagged else
                    FinalKind.REFIT if epochs else FinalKind.BEST_TRIAL)
            bundle.metadata = {**metadata, "kind": kind.value, "value": best_score,
                               "trials": [best.number], "weights": [1.0],
                               "params": best.params, "refit_epochs": epochs}
            trials, weights, score = (best.number,), (1.0,), best_score
            final_output = best_output
            chosen = [(best, len(best_bundle.networks), 1.0)]
        if task.is_classification:
            bundle.temperature = fit_temperature(y_val, final_output)
            final_output = rescaled(final_output, bundle.temperature)
        else:
            bundle.conformal = Conformal.fit(y_val, final_output, log=tensors.target_log)
        threshold = _tune(bundle, final_output, y_val, inputs)
        test = test_metrics(bundle, tensors, task)
        on_every_row = EveryRow()
        if inputs.refit_all:
            bundle, on_every_row = _on_every_row(chosen, bundle, inputs, deadline)
        run_id = _log(tracker, bundle, Path(tmp), kind=kind, trials=trials, weights=weights,
                      metric=metric, score=score, best=(best.number, best_score), test=test,
                      every_row=on_every_row)
    return FinalModel(kind=kind, trials=trials, weights=weights, val_score=score,
                      best_trial=best.number, best_trial_score=best_score, run_id=run_id,
                      test_metrics=test, bundle=bundle, refit_epochs=epochs,
                      seconds=time.monotonic() - start, threshold=threshold,
                      cross_validated=inputs.bagged, every_row=on_every_row,
                      test_rows=len(tensors.y_test))


def _tune(bundle: ModelBundle, val_output: np.ndarray, y_val: np.ndarray,
          inputs: FinalInputs) -> TunedThreshold | None:
    """Tune a binary bundle's decision threshold on ``val_output`` (validation probabilities)
    and store it in the bundle and its metadata; ``None`` for other tasks."""
    if inputs.task is not TaskType.BINARY:
        return None
    positive = inputs.tensors.positive
    tuned = tune_threshold(y_val == positive, val_output[:, positive], inputs.threshold_metric)
    bundle.threshold = tuned.value
    bundle.metadata["threshold_metric"] = tuned.metric
    return tuned


def _fetch(candidates: list[Candidate], tracker: Tracker,
           tmp: Path) -> list[tuple[Candidate, ModelBundle, np.ndarray]]:
    members = []
    for candidate in candidates:
        folder = tmp / f"trial-{candidate.number}"
        try:
            model = tracker.download_dir(candidate.run_id, "model", folder)
            output = _load_output(tracker, candidate.run_id, folder)
            if model is None or output is None:
                continue  # a trial from before the top-k kept models, or one logged elsewhere
            members.append((candidate, load_bundle(model), output))
        except (DataError, OSError, ValueError) as exc:
            log.warning("trial %d left out of the final model: %s", candidate.number, exc)
    return members


def _refit_or_best(best: Candidate, bundle: ModelBundle, inputs: FinalInputs,
                   deadline: float | None) -> tuple[ModelBundle, int]:
    """The best configuration refitted on train+validation, or (no time, a failure) its
    trial's own model; returns the bundle and the epochs refitted (0: not refitted)."""
    tensors = inputs.tensors
    n_train, n_val = len(tensors.x_train), len(tensors.x_val)
    if deadline is not None and time.monotonic() + refit_seconds(best, n_train, n_val) / _SAFETY \
            > deadline:
        return bundle, 0
    try:
        member = _retrained(best, inputs, seed=inputs.seed + best.number, deadline=deadline)
    except TrialError as exc:
        log.warning("refit of trial %d failed (%s); the final model is its trial's", best.number,
                    exc)
        return bundle, 0
    if member is None:  # cut by the deadline: an under-trained refit
        return bundle, 0
    return ModelBundle(preprocessor=inputs.preprocessor, spec=member.spec,
                       network=member.network, d_in=tensors.d_in), best.best_epoch + 1


def _on_every_row(chosen: list[tuple[Candidate, int, float]], final: ModelBundle,
                  inputs: FinalInputs, deadline: float | None) -> tuple[ModelBundle, EveryRow]:
    """``final`` trained again on every row (training, validation and test): for each chosen
    ``(trial, networks, weight)``, that many networks of its parameters, each with its own
    seed, for the trial's best epoch count and learning-rate span, sharing its weight; the
    decision threshold kept. ``final`` itself, and why, when the estimated time passes
    ``deadline`` (``time.monotonic()``) or a network fails or is cut short by it."""
    tensors, rows = inputs.tensors, inputs.tensors.n_rows
    seconds = every_row_seconds([(trial, n) for trial, n, _ in chosen], len(tensors.x_train),
                                rows)
    if deadline is not None and time.monotonic() + seconds / _SAFETY > deadline:
        return final, EveryRow(skipped=f"about {seconds / _SAFETY:.0f} s needed, the time "
                                       "limit leaves less")
    members = []
    for trial, n, weight in chosen:
        for j in range(n):
            try:
                member = _retrained(trial, inputs, seed=inputs.seed + trial.number + j,
                                    deadline=deadline, splits=("train", "val", "test"),
                                    weight=weight / n)
            except TrialError as exc:
                return final, EveryRow(skipped=f"trial {trial.number}'s network failed: {exc}")
            if member is None:
                return final, EveryRow(skipped="the time limit passed while it trained")
            members.append(member)
    bundle = ModelBundle.ensemble(inputs.preprocessor, members, tensors.d_in,
                                  {**final.metadata, "refit_all_rows": rows})
    bundle.threshold, bundle.conformal = final.threshold, final.conformal
    bundle.temperature = final.temperature
    return bundle, EveryRow(rows=rows)


def _retrained(trial: Candidate, inputs: FinalInputs, *, seed: int, deadline: float | None,
               splits: tuple[str, ...] = ("train", "val"), weight: float = 1.0) -> Member | None:
    """A new network of ``trial``'s parameters (seeded with ``seed``) trained on the rows of
    ``splits`` for the trial's best epoch count and learning-rate span (see
    :func:`~automl.train.refit`), in evaluation mode on the CPU, as a member of ``weight``;
    ``None`` when ``deadline`` cut it short.

    Raises:
        TrialError: out of memory, or the loss became non-finite.
    """
    params = params_from_dict(trial.params, inputs.task)
    torch.manual_seed(seed)
    network = network_for(params.model, inputs.tensors)
    epochs = refit(network, inputs.tensors, task=inputs.task, optim=params.optim,
                   cfg=inputs.train, n_epochs=trial.best_epoch + 1,
                   class_weighting=params.class_weighting, resampling=params.resampling,
                   seed=seed, deadline=deadline, schedule_epochs=trial.schedule_epochs,
                   splits=splits)
    if epochs < trial.best_epoch + 1:
        return None
    return Member(spec=params.model, network=network.cpu().eval(), weight=weight)


def test_metrics(bundle: ModelBundle, tensors: TensorSplits, task: TaskType) -> dict[str, float]:
    """:meth:`ModelBundle.scores` of ``bundle`` on the test rows (none: ``{}``)."""
    if not len(tensors.x_test):
        return {}
    y_test = tensors.y_test.cpu().numpy()
    if not task.is_classification:
        y_test = tensors.decode_target(y_test)
    return bundle.scores(bundle.output_of(tensors.x_test.cpu()), y_test)


def _log(tracker: Tracker, bundle: ModelBundle, tmp: Path, *, kind: FinalKind,
         trials: tuple[int, ...], weights: tuple[float, ...], metric: Metric, score: float,
         best: tuple[int, float], test: dict[str, float], every_row: EveryRow) -> str:
    params = {"kind": kind.value, "trials": ",".join(map(str, trials)),
              "best_trial": str(best[0]),
              "weights": ",".join(f"{w:.4g}" for w in weights), "metric": metric.name,
              **every_row.to_dict()}
    if bundle.temperature is not None:
        params["temperature"] = f"{bundle.temperature:.4g}"
    tags = {"automl.role": "final", "automl.kind": kind.value}
    run_id = tracker.start_child("final", tags, params)
    try:
        tracker.log_dir(run_id, save_bundle(bundle, tmp / "final-model"), "model")
    except BaseException:
        tracker.end_trial(run_id, TrialOutcome.FAIL, {})
        raise
    metrics = {f"val_{metric.name}": score, f"best_trial_val_{metric.name}": best[1]}
    metrics |= {f"test_{k}": v for k, v in test.items()}
    tracker.end_trial(run_id, TrialOutcome.COMPLETE, metrics)
    return run_id
