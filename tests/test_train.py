"""The training loop: stopping decisions, divergence, callbacks, class weights, best weights."""

from __future__ import annotations

import collections
import itertools
import math
import time

import pytest
import torch
from torch import nn

from automl.config import TrainConfig
from automl.data import TaskType
from automl.features import TensorSplits
from automl.metrics import Metric, metrics_for, primary_metric
from automl.networks import MLPSpec, build_model, fit_bins
from automl.train import (
    SCHEDULES,
    EarlyStopping,
    EpochLog,
    EpochSampler,
    FitResult,
    OptimSpec,
    Resampling,
    RowGrowth,
    ScheduleClock,
    StopReason,
    TrainingRows,
    class_weights,
    fit,
    make_loss,
    make_optimizer,
    make_scheduler,
    network_for,
    predict_raw,
    refit,
    resampled_counts,
    score_split,
)

NAN, INF = math.nan, math.inf


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------ early stopping
# (scores, patience, greater_is_better, expected_stop_epoch, expected_reason); None = never stops
STOPPING_TABLE: list[tuple[list[float], int, bool, int | None, StopReason | None]] = [
    ([0.5, 0.6, 0.6, 0.55], 2, True, 3, StopReason.PATIENCE),
    ([0.5, 0.6, 0.7, 0.8], 1, True, None, None),
    ([0.5, 0.4, 0.6, 0.5, 0.5], 2, True, 4, StopReason.PATIENCE),
    ([0.5, 0.4], 1, True, 1, StopReason.PATIENCE),
    ([1.0, 0.9, 0.8, 0.85, 0.9], 2, False, 4, StopReason.PATIENCE),
    ([1.0, 1.0, 1.0], 3, False, None, None),
    ([1.0, 1.0, 1.0, 1.0], 3, False, 3, StopReason.PATIENCE),
    ([0.5, NAN], 5, True, 1, StopReason.NON_FINITE),
    ([NAN], 5, False, 0, StopReason.NON_FINITE),
    ([1.0, INF], 5, False, 1, StopReason.NON_FINITE),
    ([0.5, -INF], 5, True, 1, StopReason.NON_FINITE),
    ([0.5, 0.6, 0.7, 0.2, 0.1, 0.0], 3, True, 5, StopReason.PATIENCE),
]


def _run(stopper: EarlyStopping, scores: list[float]) -> tuple[int | None, StopReason | None]:
    for epoch, score in enumerate(scores):
        reason = stopper.update(score)
        if reason is not None:
            return epoch, reason
    return None, None


@pytest.mark.parametrize(("scores", "patience", "greater", "stop_epoch", "reason"),
                         STOPPING_TABLE, ids=[str(row[0]) for row in STOPPING_TABLE])
def test_early_stopping_table(scores: list[float], patience: int, greater: bool,
                              stop_epoch: int | None, reason: StopReason | None) -> None:
    stopper = EarlyStopping(patience=patience, greater_is_better=greater)
    assert _run(stopper, scores) == (stop_epoch, reason)


@pytest.mark.parametrize(("scores", "greater", "best_epoch", "best_score"), [
    ([0.5, 0.7, 0.6], True, 1, 0.7),
    ([3.0, 1.0, 2.0], False, 1, 1.0),
    ([-1.0, -3.0, -2.0], False, 1, -3.0),
    ([0.2, 0.2, 0.1], True, 0, 0.2),
])
def test_early_stopping_tracks_best(scores: list[float], greater: bool, best_epoch: int,
                                    best_score: float) -> None:
    stopper = EarlyStopping(patience=10, greater_is_better=greater)
    improved = []
    for score in scores:
        stopper.update(score)
        improved.append(stopper.improved)
    assert (stopper.best_epoch, stopper.best_score) == (best_epoch, best_score)
    assert improved.index(True) == 0 and improved[best_epoch]


def test_early_stopping_min_delta_ignores_tiny_improvements() -> None:
    stopper = EarlyStopping(patience=2, greater_is_better=False, min_delta=0.1)
    assert _run(stopper, [1.0, 0.95, 0.91, 0.5]) == (2, StopReason.PATIENCE)
    assert stopper.best_score == 1.0


@pytest.mark.parametrize(("scores", "losses", "best_epoch", "stop_epoch"), [
    # a tie with a lower validation loss is the new best and resets the patience
    ([0.9, 0.9, 0.9, 0.9], [0.5, 0.4, 0.3, 0.35], 2, None),
    ([0.9, 0.9, 0.9, 0.9], [0.5, 0.6, 0.7, 0.8], 0, 2),
    # a lower loss never outweighs a worse score; a better score wins at any loss
    ([0.9, 0.8, 0.8], [0.5, 0.1, 0.1], 0, 2),
    ([0.9, 0.95, 0.95], [0.1, 0.9, 0.5], 2, None),
    # without a loss (regression, non-finite outputs) ties keep the earliest epoch
    ([0.9, 0.9, 0.9], [NAN, NAN, NAN], 0, 2),
])
def test_ties_of_the_score_are_broken_by_the_validation_loss(
        scores: list[float], losses: list[float], best_epoch: int, stop_epoch: int | None) -> None:
    stopper = EarlyStopping(patience=2, greater_is_better=True)
    reasons = [stopper.update(score, loss) for score, loss in zip(scores, losses, strict=True)]
    stops = [epoch for epoch, reason in enumerate(reasons) if reason is StopReason.PATIENCE]
    assert stopper.best_epoch == best_epoch
    assert (stops[0] if stops else None) == stop_epoch


def test_a_classifier_whose_accuracy_ties_keeps_training_while_its_loss_falls() -> None:
    """On a handful of validation rows accuracy reaches 1.0 at once and ties from then on;
    the weights kept are the ones of lowest validation loss, not the first epoch's."""
    data = _splits(TaskType.BINARY, n_train=64, n_val=8, seed=3)
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    result = fit(model, data, task=TaskType.BINARY,
                 metric=primary_metric(TaskType.BINARY, "accuracy"),
                 optim=OptimSpec(lr=0.05, batch_size=64),
                 cfg=TrainConfig(max_epochs=40, patience=3, device="cpu"))
    scores = [log.score for log in result.history]
    losses = [log.val_loss for log in result.history]
    first_best = scores.index(max(scores))
    assert result.best_epoch > first_best
    assert losses[result.best_epoch] == min(losses[first_best:])
    assert result.best_val["log_loss"] == pytest.approx(losses[result.best_epoch])


def test_early_stopping_without_a_finite_score_has_nan_best() -> None:
    stopper = EarlyStopping(patience=3, greater_is_better=True)
    assert stopper.update(NAN) is StopReason.NON_FINITE
    assert math.isnan(stopper.best_score) and not stopper.improved


# -------------------------------------------------------------------------------- tiny data
def _splits(task: TaskType, n_train: int = 64, n_val: int = 32, seed: int = 0,
            noise: bool = False) -> TensorSplits:
    """Two informative features (plus one noise column); labels from their sum."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_val, 3, generator=g)
    signal = x[:, 0] + x[:, 1]
    if noise:  # labels unrelated to x: validation can only get worse with training
        signal = torch.randn(n_train + n_val, generator=g)
    if task is TaskType.REGRESSION:
        y: torch.Tensor = signal
        d_out = 1
    else:
        y, d_out = (signal > 0).long(), 2
    return TensorSplits(x_train=x[:n_train], y_train=y[:n_train], x_val=x[n_train:],
                        y_val=y[n_train:], x_test=x[:0], y_test=y[:0], d_in=3, d_out=d_out,
                        n_num=3)


def _fit(data: TensorSplits, task: TaskType, *, optim: OptimSpec | None = None,
         metric: Metric | None = None, max_epochs: int = 3, patience: int = 10,
         **kwargs: object) -> tuple[nn.Module, FitResult]:
    model = build_model(MLPSpec(n_blocks=1, d_block=16, dropout=0.0), data.d_in, data.d_out,
                        data.n_num)
    result = fit(model, data, task=task, metric=metric or primary_metric(task),
                 optim=optim or OptimSpec(lr=1e-2, batch_size=16),
                 cfg=TrainConfig(max_epochs=max_epochs, patience=patience, device="cpu"),
                 **kwargs)  # type: ignore[arg-type]
    return model, result


class _Recorder:
    """Records every epoch; asks to stop with ``reason`` at ``stop_at``."""

    def __init__(self, stop_at: int | None = None,
                 reason: StopReason = StopReason.PRUNED) -> None:
        self.stop_at, self.reason, self.logs = stop_at, reason, []  # type: list[EpochLog]

    def on_epoch_end(self, log: EpochLog) -> StopReason | None:
        self.logs.append(log)
        return self.reason if log.epoch == self.stop_at else None


# -------------------------------------------------------------------------------------- fit
def test_fit_learns_separable_data() -> None:
    data = _splits(TaskType.BINARY, n_train=200, n_val=100)
    accuracy = primary_metric(TaskType.BINARY, "accuracy")
    _, result = _fit(data, TaskType.BINARY, metric=accuracy, max_epochs=30, patience=30)
    assert result.best_score > 0.9
    assert result.found_finite_score and result.best_val["accuracy"] == result.best_score
    assert result.history[-1].train_loss < result.history[0].train_loss


def test_fit_runs_max_epochs_and_calls_callbacks_each_epoch() -> None:
    recorder = _Recorder()
    _, result = _fit(_splits(TaskType.REGRESSION), TaskType.REGRESSION, max_epochs=4,
                     callbacks=[recorder])
    assert result.stop_reason is StopReason.MAX_EPOCHS
    assert [log.epoch for log in recorder.logs] == [0, 1, 2, 3]
    assert recorder.logs == list(result.history)
    assert all(log.score == log.val["rmse"] and log.lr == 1e-2 for log in recorder.logs)


@pytest.mark.parametrize("task", [TaskType.REGRESSION, TaskType.BINARY])
def test_huge_learning_rate_stops_as_non_finite(task: TaskType) -> None:
    _, result = _fit(_splits(task), task, optim=OptimSpec(name="sgd", lr=1e6, batch_size=8),
                     max_epochs=20, patience=20)
    assert result.stop_reason is StopReason.NON_FINITE
    assert len(result.history) < 20
    assert not result.found_finite_score and math.isnan(result.best_score)


@pytest.mark.parametrize("stop_at", [0, 2])
def test_callback_returning_pruned_stops_after_that_epoch(stop_at: int) -> None:
    recorder, later = _Recorder(stop_at=stop_at), _Recorder()
    _, result = _fit(_splits(TaskType.BINARY), TaskType.BINARY, max_epochs=10,
                     callbacks=[recorder, later])
    assert result.stop_reason is StopReason.PRUNED
    assert len(result.history) == stop_at + 1
    assert len(later.logs) == stop_at + 1  # every callback still sees the last epoch


def test_deadline_in_the_past_stops_after_one_epoch() -> None:
    _, result = _fit(_splits(TaskType.BINARY), TaskType.BINARY, max_epochs=10,
                     deadline=time.monotonic() - 1.0)
    assert result.stop_reason is StopReason.TIMEOUT
    assert len(result.history) == 1 and result.found_finite_score


def test_a_deadline_cuts_an_epoch_after_the_batch_it_passes_and_the_cut_epoch_is_scored() -> None:
    """A large epoch never overruns the deadline by more than one batch (16 rows of 200)."""
    data = _splits(TaskType.BINARY, n_train=200)
    _, result = _fit(data, TaskType.BINARY, max_epochs=10, deadline=time.monotonic() - 1.0)
    [cut] = result.history
    assert cut.train_rows == 16  # one batch of OptimSpec(batch_size=16), not 200 rows
    assert result.stop_reason is StopReason.TIMEOUT and result.found_finite_score
    _, whole = _fit(data, TaskType.BINARY, max_epochs=1, deadline=time.monotonic() + 3600)
    assert whole.history[0].train_rows == 200


def test_a_refit_cut_inside_an_epoch_does_not_count_that_epoch() -> None:
    data = _splits(TaskType.BINARY, n_train=200)
    model = build_model(MLPSpec(n_blocks=1, d_block=16, dropout=0.0), 3, 2, 3)
    epochs = refit(model, data, task=TaskType.BINARY, optim=OptimSpec(batch_size=16),
                   cfg=TrainConfig(max_epochs=5, patience=5, device="cpu"), n_epochs=5,
                   deadline=time.monotonic() - 1.0)
    assert epochs == 0


def test_deadline_in_the_future_does_not_stop() -> None:
    _, result = _fit(_splits(TaskType.BINARY), TaskType.BINARY, max_epochs=3,
                     deadline=time.monotonic() + 3600)
    assert result.stop_reason is StopReason.MAX_EPOCHS and len(result.history) == 3


@pytest.mark.parametrize(("task", "metric_name"), [(TaskType.BINARY, "log_loss"),
                                                    (TaskType.REGRESSION, "rmse")])
def test_best_epoch_weights_and_every_metric_of_the_best_epoch_are_kept(
        task: TaskType, metric_name: str) -> None:
    """With noise labels validation loss rises; the model must come back to its best epoch, and
    ``best_val`` must hold every metric of that epoch, not of a later one."""
    data = _splits(task, noise=True)
    metric = primary_metric(task, metric_name)
    model, result = _fit(data, task, metric=metric,
                         optim=OptimSpec(lr=3e-2, batch_size=16), max_epochs=40, patience=3)
    assert result.stop_reason is StopReason.PATIENCE
    assert result.best_epoch == len(result.history) - 1 - 3
    assert result.history[-1].score != result.best_score
    after = score_split(model, data, task)
    assert after[metric.name] == pytest.approx(result.best_score, rel=1e-9)
    assert set(result.best_val) == {m.name for m in metrics_for(task)}
    assert after == pytest.approx(result.best_val, rel=1e-9)


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_optimizer_and_schedule_trains(name: str, schedule: str) -> None:
    optim = OptimSpec(name=name, schedule=schedule, lr=1e-2, batch_size=16,  # type: ignore[arg-type]
                      weight_decay=1e-4)
    _, result = _fit(_splits(TaskType.REGRESSION, n_train=50), TaskType.REGRESSION, optim=optim,
                     max_epochs=3)
    assert result.stop_reason is StopReason.MAX_EPOCHS and result.found_finite_score


@pytest.mark.parametrize(("schedule", "expected"), [
    ("warmup_cosine", [0.2, 1.0, 1.0, 0.5, 0.0]),  # 5 warm-up steps of 100, then the cosine
    ("flat_cosine", [1.0, 1.0, 1.0, 0.5, 0.0]),    # flat for 50 steps, then the cosine
])
def test_warm_up_and_flat_schedules_shape_the_rate(schedule: str, expected: list[float]) -> None:
    model = torch.nn.Linear(2, 1)
    spec = OptimSpec(schedule=schedule, lr=0.1)  # type: ignore[arg-type]
    optimizer = make_optimizer(model, spec)
    scheduler = make_scheduler(optimizer, spec, total_steps=100)
    assert scheduler is not None
    rates = []
    for step in range(101):
        if step in (0, 4, 50 if schedule == "flat_cosine" else 5, 75 if schedule == "flat_cosine"
                    else 53, 100):
            rates.append(optimizer.param_groups[0]["lr"] / 0.1)
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("schedule", ["cosine", "flat_cosine", "warmup_cosine"])
def test_a_deadline_anneals_the_rate_by_then_however_few_steps_were_taken(
        schedule: str) -> None:
    """A trial cut by its time limit ends annealed (its best weights come from a low rate),
    not at the rate of the first tenth of a schedule sized for ``max_epochs``."""
    now = [0.0]
    model = torch.nn.Linear(2, 1)
    spec = OptimSpec(schedule=schedule, lr=0.1)  # type: ignore[arg-type]
    optimizer = make_optimizer(model, spec)
    clock = ScheduleClock(10_000, deadline=100.0, now=lambda: now[0])
    scheduler = make_scheduler(optimizer, spec, 10_000, clock)
    assert scheduler is not None
    rates = []
    for step in range(50):  # 50 steps of 10,000: by steps alone the rate barely moves
        now[0] = 2.0 * (step + 1)
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"] / 0.1)
    assert rates[-1] == pytest.approx(0.0, abs=1e-6) and clock.led_by_time
    assert rates[len(rates) * 3 // 4] < 0.5
    assert ScheduleClock(10, deadline=None).step(3) == 3


def test_fit_records_the_span_its_schedule_had(one_torch_thread: None) -> None:
    data = _splits(TaskType.BINARY, n_train=64)
    cfg = TrainConfig(max_epochs=6, patience=6, device="cpu")
    free = fit(build_model(MLPSpec(n_blocks=1, d_block=8), data.d_in, data.d_out), data,
               task=TaskType.BINARY, metric=primary_metric(TaskType.BINARY, "roc_auc"),
               optim=OptimSpec(schedule="cosine", batch_size=16), cfg=cfg)
    assert free.schedule_epochs == 6  # no deadline: the schedule spans max_epochs


def test_label_smoothing_moves_the_classification_loss_only() -> None:
    data = _splits(TaskType.BINARY, n_train=20)
    logits, target = torch.tensor([[4.0, -4.0], [-4.0, 4.0]]), torch.tensor([0, 1])
    plain = make_loss(TaskType.BINARY, data, "none")(logits, target)
    smoothed = make_loss(TaskType.BINARY, data, "none", label_smoothing=0.1)(logits, target)
    assert float(smoothed) > float(plain) + 0.1  # confident, right answers now cost something
    regression = make_loss(TaskType.REGRESSION, data, "none", label_smoothing=0.1)
    assert isinstance(regression, torch.nn.MSELoss)


# ------------------------------------------------------------------------------ class weights
def test_class_weights_values() -> None:
    y = torch.tensor([0, 0, 0, 1])
    assert class_weights(y, 2, "none") is None
    torch.testing.assert_close(class_weights(y, 2, "balanced"), torch.tensor([2 / 3, 2.0]))
    torch.testing.assert_close(class_weights(y, 2, "sqrt"),
                               torch.tensor([(2 / 3) ** 0.5, 2.0 ** 0.5]))
    absent = class_weights(torch.tensor([0, 0, 1, 1]), 3, "balanced")
    assert absent is not None and torch.isfinite(absent).all()  # a class with no rows


def test_class_weighting_changes_the_loss() -> None:
    y = torch.tensor([0] * 18 + [1] * 2)
    data = TensorSplits(x_train=torch.zeros(20, 1), y_train=y, x_val=torch.zeros(0, 1),
                        y_val=y[:0], x_test=torch.zeros(0, 1), y_test=y[:0], d_in=1, d_out=2,
                        n_num=0)
    logits = torch.tensor([[2.0, 0.0]]).repeat(20, 1)  # confident "class 0" for every row
    losses = {w: float(make_loss(TaskType.BINARY, data, w)(logits, y))  # type: ignore[arg-type]
              for w in ("none", "balanced", "sqrt")}
    # Balanced weighting makes the two minority rows count as much as the 18 majority rows,
    # so misclassifying them costs more: none < sqrt < balanced.
    assert losses["none"] < losses["sqrt"] < losses["balanced"]
    p0 = math.exp(2) / (math.exp(2) + 1)
    expected_none = -(18 * math.log(p0) + 2 * math.log(1 - p0)) / 20
    assert losses["none"] == pytest.approx(expected_none, rel=1e-6)
    assert losses["balanced"] == pytest.approx(-(math.log(p0) + math.log(1 - p0)) / 2, rel=1e-6)


def test_regression_loss_ignores_class_weighting() -> None:
    data = _splits(TaskType.REGRESSION)
    assert isinstance(make_loss(TaskType.REGRESSION, data, "balanced"), nn.MSELoss)


def test_class_weighted_fit_predicts_the_minority_class_more_often() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(240, 3, generator=g)
    y = (x[:, 0] > 1.0).long()  # about 16 % positives, hard to separate exactly
    data = TensorSplits(x_train=x[:160], y_train=y[:160], x_val=x[160:], y_val=y[160:],
                        x_test=x[:0], y_test=y[:0], d_in=3, d_out=2, n_num=3)
    positives = {}
    for weighting in ("none", "balanced"):
        torch.manual_seed(0)
        model, _ = _fit(data, TaskType.BINARY, max_epochs=5, patience=5,
                        class_weighting=weighting, optim=OptimSpec(lr=3e-3, batch_size=32))
        positives[weighting] = int(predict_raw(model, data.x_train).argmax(1).sum())
    assert positives["balanced"] > positives["none"]


# ------------------------------------------------------------------------- optimizer, scoring
def test_weight_decay_only_on_weight_matrices() -> None:
    model = build_model(MLPSpec(n_blocks=2, d_block=8, norm="layer"), d_in=3, d_out=2)
    optimizer = make_optimizer(model, OptimSpec(weight_decay=0.1))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    assert all(p.ndim < 2 for p in no_decay["params"]) and no_decay["params"]
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_score_split_reports_regression_in_target_units() -> None:
    """A network that always outputs 0 predicts the training mean; rmse scales with std."""
    data = _splits(TaskType.REGRESSION)
    scaled = TensorSplits(**{k: getattr(data, k) for k in (
        "x_train", "y_train", "x_val", "y_val", "x_test", "y_test")},
        d_in=3, d_out=1, n_num=3, target_mean=100.0, target_std=10.0)
    zero = nn.Linear(3, 1)
    nn.init.zeros_(zero.weight)
    nn.init.zeros_(zero.bias)
    rms = float(data.y_val.pow(2).mean().sqrt())
    assert score_split(zero, scaled, TaskType.REGRESSION)["rmse"] == pytest.approx(10 * rms,
                                                                                   rel=1e-5)


def test_predict_raw_batches_and_handles_empty_input() -> None:
    model = nn.Linear(3, 2)
    x = torch.randn(10, 3)
    whole, batched = predict_raw(model, x), predict_raw(model, x, batch_size=3)
    assert whole.shape == (10, 2) and whole.dtype.name == "float64"
    assert batched == pytest.approx(whole)
    assert predict_raw(model, x[:0]).shape[0] == 0


# ------------------------------------------------------------------------------- resampling
class _RowSpy(nn.Module):
    """A linear classifier that records, per epoch, the row ids (feature 0) it trains on."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.epochs: list[list[int]] = [[]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.epochs[-1].extend(x[:, 0].long().tolist())
        return self.linear(x[:, 1:])

    def on_epoch_end(self, log: EpochLog) -> StopReason | None:
        self.epochs.append([])
        return None


def _imbalanced(n_train: int = 200, n_val: int = 60, n_test: int = 60) -> TensorSplits:
    """Binary splits with 10% positives; feature 0 is a unique row id (train < 1000 <= others)."""
    g = torch.Generator().manual_seed(0)
    n = n_train + n_val + n_test
    y = (torch.arange(n) % 10 == 0).long()
    ids = torch.cat([torch.arange(n_train), 1000 + torch.arange(n_val + n_test)]).float()
    x = torch.stack([ids, y + 0.5 * torch.randn(n, generator=g)], dim=1)
    cut = [n_train, n_train + n_val]
    return TensorSplits(x_train=x[:cut[0]], y_train=y[:cut[0]], x_val=x[cut[0]:cut[1]],
                        y_val=y[cut[0]:cut[1]], x_test=x[cut[1]:], y_test=y[cut[1]:], d_in=2,
                        d_out=2, n_num=0)


@pytest.mark.parametrize(("kind", "ratio"), [("over", 1.0), ("over", 0.5), ("under", 1.0),
                                              ("under", 0.25), ("none", 1.0)])
def test_resampling_draws_training_rows_only_and_reaches_the_ratio(kind: str,
                                                                    ratio: float) -> None:
    data = _imbalanced()
    spy = _RowSpy()
    fit(spy, data, task=TaskType.BINARY, metric=primary_metric(TaskType.BINARY, "f1"),
        optim=OptimSpec(lr=1e-2, batch_size=32), cfg=TrainConfig(max_epochs=3, patience=10,
                                                                 device="cpu"),
        resampling=Resampling(kind=kind, ratio=ratio), callbacks=[spy])  # type: ignore[arg-type]
    epochs = [rows for rows in spy.epochs if rows]
    assert len(epochs) == 3
    y = data.y_train.tolist()
    for rows in epochs:
        assert max(rows) < len(y), "a validation or test row was trained on"
        positives = sum(y[r] for r in rows)
        negatives = len(rows) - positives
        if kind == "none":
            assert sorted(rows) == list(range(len(y)))
            continue
        assert min(positives, negatives) / max(positives, negatives) >= ratio - 1e-9
        assert positives / negatives == pytest.approx(ratio, abs=0.02)
        if kind == "over":
            assert negatives == len(y) - sum(y)  # the majority is kept whole
            assert {r for r in rows if not y[r]} == {r for r in range(len(y)) if not y[r]}
        else:
            assert positives == sum(y)  # the minority is kept whole, each row once
            assert len(set(rows)) == len(rows)


def test_refit_resamples_train_and_validation_rows_only() -> None:
    data = _imbalanced()
    spy = _RowSpy()
    refit(spy, data, task=TaskType.BINARY, optim=OptimSpec(lr=1e-2, batch_size=32),
          cfg=TrainConfig(max_epochs=3, device="cpu"), n_epochs=2,
          resampling=Resampling(kind="over", ratio=1.0))
    seen = set(spy.epochs[0])
    assert seen <= set(range(200)) | set(range(1000, 1060))  # no test row (ids 1060+)
    assert seen & set(range(1000, 1060))


def test_refit_trains_every_train_and_validation_row_once_per_epoch() -> None:
    data = _imbalanced()
    spy = _RowSpy()
    assert refit(spy, data, task=TaskType.BINARY, optim=OptimSpec(lr=1e-2, batch_size=32),
                 cfg=TrainConfig(max_epochs=3, device="cpu"), n_epochs=2) == 2
    every = set(range(200)) | set(range(1000, 1060))
    assert collections.Counter(spy.epochs[0]) == dict.fromkeys(every, 2)


def test_refit_on_every_split_trains_the_test_rows_too() -> None:
    """``--refit-all``: the final model learns every row, the test split's too."""
    data = _imbalanced()
    spy = _RowSpy()
    refit(spy, data, task=TaskType.BINARY, optim=OptimSpec(lr=1e-2, batch_size=32),
          cfg=TrainConfig(max_epochs=3, device="cpu"), n_epochs=1,
          splits=("train", "val", "test"))
    every = set(range(200)) | set(range(1000, 1000 + len(data.y_val) + len(data.y_test)))
    assert collections.Counter(spy.epochs[0]) == dict.fromkeys(every, 1)


def test_training_rows_gather_a_batch_across_parts_without_joining_them() -> None:
    ids = torch.arange(10)
    rows = TrainingRows(((ids[:6, None].float(), ids[:6] * 10), (ids[6:, None].float(),
                                                                   ids[6:] * 10)))
    x, y = rows.batch(torch.tensor([7, 1, 9, 0]))
    assert sorted(x[:, 0].long().tolist()) == [0, 1, 7, 9]
    assert torch.equal(y, x[:, 0].long() * 10)  # each row keeps its own target
    assert torch.equal(rows.y, ids * 10)


def test_epoch_sampler_size_is_fixed_and_counts_match() -> None:
    y = torch.tensor([0] * 30 + [1] * 5 + [2] * 15)
    sampler = EpochSampler(y, 3, Resampling(kind="over", ratio=0.8))
    assert resampled_counts([30, 5, 15], Resampling(kind="over", ratio=0.8)) == [30, 24, 24]
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        order = sampler.order(g)
        assert len(order) == sampler.size() == 78
        assert torch.bincount(y[order], minlength=3).tolist() == [30, 24, 24]


def test_a_networks_piecewise_bins_come_from_its_training_rows_only() -> None:
    data = _splits(TaskType.BINARY, n_train=60)
    spec = MLPSpec(embedding="piecewise", n_bins=8, n_blocks=1, d_block=8)
    network = network_for(spec, data)
    assert network.bins == fit_bins(spec, data.x_train, data.n_num, data.n_scalings)
    everything = torch.cat([data.x_train, data.x_val])
    assert network.bins != fit_bins(spec, everything, data.n_num, data.n_scalings)


def test_growing_rows_are_stratified_nested_and_end_at_every_row_once() -> None:
    y = torch.tensor([0] * 700 + [1] * 200 + [2] * 100)
    sampler = EpochSampler(y, 3, Resampling(), RowGrowth(first=50, growth=2))
    g = torch.Generator().manual_seed(0)
    pools = [sampler.pool(epoch) for epoch in range(7)]
    assert [len(p) for p in pools[:5]] == [50, 100, 200, 400, 800] and pools[5] is None
    for small, large in itertools.pairwise(pools[:5]):  # nested: promoted rows grow
        assert set(small.tolist()) <= set(large.tolist())
    for epoch, pool in enumerate(pools[:5]):  # each prefix keeps the class shares within a row
        counts = torch.bincount(y[pool], minlength=3).tolist()
        shares = (0.7, 0.2, 0.1)
        assert all(abs(c - s * len(pool)) <= 1 for c, s in zip(counts, shares, strict=True))
        order = sampler.order(g, epoch)
        assert sorted(order.tolist()) == sorted(pool.tolist())
    for epoch in (5, 6):  # then every training row once per epoch
        assert sorted(sampler.order(g, epoch).tolist()) == list(range(1000))
    assert sampler.steps(7, 100) == 1 + 1 + 2 + 4 + 8 + 10 + 10
    assert torch.equal(EpochSampler(y, 3, Resampling(), RowGrowth(50, 2)).nested,
                       sampler.nested)  # the same rows for every trial of a study


def test_resampling_draws_within_the_grown_rows_only() -> None:
    y = torch.tensor([0] * 900 + [1] * 100)
    sampler = EpochSampler(y, 2, Resampling(kind="under", ratio=1.0), RowGrowth(200, 2))
    order = sampler.order(torch.Generator().manual_seed(0), 0)
    assert set(order.tolist()) <= set(sampler.pool(0).tolist())
    assert torch.bincount(y[order], minlength=2).tolist() == [20, 20] == [sampler.size(0) // 2] * 2


def test_a_large_split_trains_on_growing_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RowGrowth, "for_split",
                        classmethod(lambda cls, n: cls(first=50, growth=2) if n > 100 else None))
    _, result = _fit(_splits(TaskType.BINARY, n_train=300), TaskType.BINARY, max_epochs=5)
    assert [log.train_rows for log in result.history] == [50, 100, 200, 300, 300]
