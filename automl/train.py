"""The training loop: mini-batches sliced from whole-split tensors, early stopping, callbacks.

Knows nothing about Optuna or MLflow. Pruning and tracking reach the loop only through
:class:`EpochCallback` objects, called once per epoch; any of them may ask the loop to stop by
returning a :class:`StopReason`. ``fit`` never catches ``BaseException``: Ctrl-C stops it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Protocol, get_args

import numpy as np
import torch
from torch import nn

from automl.config import GROW_ABOVE_ROWS, TrainConfig
from automl.data import TaskType
from automl.errors import TrialError
from automl.features import TensorSplits
from automl.metrics import Metric, evaluate, validation_loss
from automl.networks import ModelSpec, build_model, fit_bins

OptimizerName = Literal["adamw", "adam", "sgd", "rmsprop"]
Schedule = Literal["constant", "cosine", "onecycle", "warmup_cosine", "flat_cosine"]
SCHEDULES: tuple[Schedule, ...] = get_args(Schedule)
WARMUP_SHARE = 0.05  # warmup_cosine: the rate rises linearly over this share of the steps
ClassWeighting = Literal["none", "balanced", "sqrt"]
ResampleKind = Literal["none", "over", "under"]


class StopReason(str, Enum):
    """Why a trial's training ended."""

    MAX_EPOCHS = "max_epochs"
    PATIENCE = "patience"
    NON_FINITE = "non_finite"
    PRUNED = "pruned"
    TIMEOUT = "timeout"
    TOO_SLOW = "too_slow"


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimSpec:
    """The searched optimisation settings (filled by :mod:`automl.space`)."""

    name: OptimizerName = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    schedule: Schedule = "constant"
    batch_size: int = 256
    label_smoothing: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Resampling:
    """Per-epoch resampling of the training rows (classification; filled by :mod:`automl.space`).

    ``over``: every class smaller than ``ratio`` × the largest class gets extra rows, drawn
    with replacement from its own rows, up to that size; ``under``: every class larger than the
    smallest class / ``ratio`` keeps that many of its rows, drawn without replacement. Either
    way the smallest class is then at least ``ratio`` × the largest (unless it was already).
    ``none`` visits every row once per epoch.
    """

    kind: ResampleKind = "none"
    ratio: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EpochLog:
    """What one epoch produced: ``val`` holds the study metric on the validation rows (every
    metric is computed once, for the best epoch; see :attr:`FitResult.best_val`).
    Callbacks must not mutate it."""

    epoch: int
    train_loss: float
    val: dict[str, float]
    score: float
    lr: float
    seconds: float
    train_rows: int = 0  # rows trained this epoch (fewer than a full pass when a deadline cut it)
    val_loss: float = math.nan  # what breaks ties of ``score`` (:func:`validation_loss`)


@dataclass(frozen=True, slots=True, kw_only=True)
class FitResult:
    """The outcome of :func:`fit`; the model holds the best epoch's weights afterwards.

    ``best_val`` holds every metric of the task on the validation rows at ``best_epoch`` (empty
    when no epoch had a finite score). ``outputs`` holds each epoch's raw validation outputs
    (as :func:`split_output` gives them) when :func:`fit` was asked to keep them, else nothing.
    """

    best_score: float
    best_epoch: int
    best_val: dict[str, float]
    stop_reason: StopReason
    history: tuple[EpochLog, ...] = field(repr=False)
    outputs: tuple[np.ndarray, ...] = field(default=(), repr=False)
    #: The epochs the learning-rate schedule spanned: ``max_epochs``, or the epochs trained
    #: when the deadline led it (:class:`ScheduleClock`); a refit replays that span.
    schedule_epochs: int = 0
    #: With :attr:`StopReason.TOO_SLOW`: the seconds forecast for the :class:`Pace`'s epochs.
    forecast_seconds: float = math.nan

    @property
    def found_finite_score(self) -> bool:
        return math.isfinite(self.best_score)


class EpochCallback(Protocol):
    """Called after every epoch; returning a :class:`StopReason` ends training."""

    def on_epoch_end(self, log: EpochLog) -> StopReason | None: ...


class EarlyStopping:
    """Stops after ``patience`` epochs without an improvement larger than ``min_delta``.

    An epoch that ties the best score (no larger improvement, nothing worse) with a lower
    validation ``loss`` is an improvement too: on a few dozen validation rows, accuracy or
    ROC-AUC reach their best in a few steps and then tie for epochs, while the model goes on
    fitting. A non-finite score stops at once with :attr:`StopReason.NON_FINITE`.

    >>> stopper = EarlyStopping(patience=2, greater_is_better=True)
    >>> [stopper.update(s) for s in (0.5, 0.6, 0.6, 0.55)]
    [None, None, None, <StopReason.PATIENCE: 'patience'>]
    >>> stopper = EarlyStopping(patience=2, greater_is_better=True)
    >>> [stopper.update(s, loss) for s, loss in ((0.6, 0.5), (0.6, 0.3), (0.6, 0.4), (0.6, 0.3))]
    [None, None, None, <StopReason.PATIENCE: 'patience'>]
    >>> stopper.best_epoch
    1
    """

    def __init__(self, *, patience: int, greater_is_better: bool, min_delta: float = 0.0):
        self.patience, self.min_delta = patience, min_delta
        self.sign = 1.0 if greater_is_better else -1.0
        self.best, self.best_epoch, self.wait, self.improved = -math.inf, -1, 0, False
        self.best_loss = math.inf
        self._epoch = -1

    def update(self, score: float, loss: float = math.nan) -> StopReason | None:
        """Record one epoch's score and validation loss; ``improved`` tells whether it is the
        new best."""
        self._epoch += 1
        self.improved = False
        if not math.isfinite(score):
            return StopReason.NON_FINITE
        signed = self.sign * score
        if signed > self.best + self.min_delta or (signed >= self.best and loss < self.best_loss):
            self.best, self.best_epoch, self.wait, self.improved = (
                signed, self._epoch, 0, True)
            self.best_loss = loss if math.isfinite(loss) else math.inf
            return None
        self.wait += 1
        return StopReason.PATIENCE if self.wait >= self.patience else None

    @property
    def best_score(self) -> float:
        return self.sign * self.best if self.best_epoch >= 0 else math.nan


def flushes_subnormals() -> bool:
    """Whether this thread computes with subnormal floats flushed to zero."""
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


@contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Computes with subnormal floats (below float32's normal range) flushed to zero, in this
    thread (the whole of a one-thread search), for the duration; then as before.

    A CPU spends many times longer on a subnormal than on a normal float: an adult trial's
    epochs went from 3.4 s to 32 s as its activations shrank into them, and stayed at 5 s
    flushed (``benchmarks/subnormals.py``). The processor's mode is restored afterwards, so the
    calling program computes as IEEE-754 says it should.
    """
    was_flushing = flushes_subnormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_flushing)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def network_for(spec: ModelSpec, data: TensorSplits) -> nn.Module:
    """The network of ``spec`` for ``data``'s inputs and outputs, its piecewise-linear bins (if
    any) fitted on ``data``'s training rows only, on ``data.x_train``'s device."""
    bins = fit_bins(spec, data.x_train, data.n_num, data.n_scalings)
    return build_model(spec, data.d_in, data.d_out, data.n_num, data.n_scalings, bins=bins,
                       cardinalities=data.cardinalities).to(data.x_train.device)


def make_optimizer(model: nn.Module, spec: OptimSpec) -> torch.optim.Optimizer:
    """The optimizer, with weight decay only on weight matrices (not biases, norms, scales).

    Adam and AdamW use the fused implementation on CPU and CUDA. Call after moving the model to
    its device.
    """
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": spec.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if spec.name == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum,
                               nesterov=spec.nesterov and spec.momentum > 0)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=spec.lr, momentum=spec.momentum)
    adam = torch.optim.AdamW if spec.name == "adamw" else torch.optim.Adam
    # The fused kernels update every tensor in one call: faster at small batches, CPU included.
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return adam(groups, lr=spec.lr, fused=fused)


class ScheduleClock:
    """How far training is along its learning-rate schedule: the later of the steps taken (of
    ``total_steps``) and, with a ``deadline``, the time used (of the time until it), so a run
    the deadline cuts short still anneals by then (budgeted training: Li et al., ICLR 2020).

    >>> now = [0.0]
    >>> clock = ScheduleClock(1000, deadline=10.0, now=lambda: now[0])
    >>> now[0] = 5.0
    >>> clock.step(100), clock.step(700), clock.led_by_time
    (500, 700, False)
    """

    def __init__(self, total_steps: int, deadline: float | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.total_steps, self.deadline, self.now = total_steps, deadline, now
        self.start = now()
        self.led_by_time = False  # whether the time was ahead at the latest step

    def step(self, step: int) -> int:
        """The schedule's step after ``step`` optimizer steps."""
        if self.deadline is None or self.deadline <= self.start:
            return step
        share = (self.now() - self.start) / (self.deadline - self.start)
        by_time = math.floor(min(1.0, share) * self.total_steps)
        self.led_by_time = by_time > step
        return max(step, by_time)


def make_scheduler(optimizer: torch.optim.Optimizer, spec: OptimSpec, total_steps: int,
                   clock: ScheduleClock | None = None
                   ) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step learning-rate schedule, or ``None`` for a constant rate.

    ``cosine`` anneals from the start, ``warmup_cosine`` after a linear warm-up over the first
    :data:`WARMUP_SHARE` of the steps, ``flat_cosine`` after a flat first half (RealMLP's
    shape): they follow ``clock`` (:class:`ScheduleClock`; ``None``: the steps alone).
    ``onecycle`` is PyTorch's one-cycle policy, over the steps alone.
    """
    if spec.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=spec.lr,
                                                   total_steps=total_steps)
    if spec.schedule == "constant":
        return None
    start = {"cosine": 0, "flat_cosine": total_steps // 2,
             "warmup_cosine": math.ceil(WARMUP_SHARE * total_steps)}[spec.schedule]
    clock = clock or ScheduleClock(total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(spec.schedule, clock.step(step), total_steps, start))


def lr_factor(schedule: Schedule, step: int, total_steps: int, start: int) -> float:
    """The learning rate's multiplier at ``step`` for the schedules that warm up or hold flat
    until ``start`` (``cosine``: 0), then anneal along a cosine to 0 at ``total_steps``.

    >>> [round(lr_factor("warmup_cosine", s, 100, 10), 3) for s in (0, 5, 10, 55, 100)]
    [0.1, 0.6, 1.0, 0.5, 0.0]
    >>> [round(lr_factor("flat_cosine", s, 100, 50), 3) for s in (0, 49, 50, 75, 100)]
    [1.0, 1.0, 1.0, 0.5, 0.0]
    """
    if step < start:
        return (step + 1) / start if schedule == "warmup_cosine" else 1.0
    progress = (step - start) / max(1, total_steps - start)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def class_weights(y: torch.Tensor, n_classes: int,
                  weighting: ClassWeighting) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` = n / (k·n_c), ``sqrt`` = its square root.

    >>> [round(w, 4) for w in class_weights(torch.tensor([0, 0, 0, 1]), 2, "balanced").tolist()]
    [0.6667, 2.0]
    """
    if weighting == "none":
        return None
    counts = torch.bincount(y, minlength=n_classes).clamp(min=1).float()
    balanced = len(y) / (n_classes * counts)
    return balanced.sqrt() if weighting == "sqrt" else balanced


def make_loss(task: TaskType, data: TensorSplits, weighting: ClassWeighting,
              label_smoothing: float = 0.0) -> nn.Module:
    """Cross-entropy (optionally class-weighted, optionally label-smoothed) for
    classification, MSE for regression."""
    if not task.is_classification:
        return nn.MSELoss()
    return nn.CrossEntropyLoss(weight=class_weights(data.y_train, data.d_out, weighting),
                               label_smoothing=label_smoothing)


def batch_loss(loss_fn: nn.Module, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss of one batch: of ``(batch, d_out)`` outputs, or the mean of the heads' losses
    for ``(batch, k, d_out)`` outputs (every head sees the same rows, so this is ``loss_fn``
    over the heads' outputs stacked as rows)."""
    if output.ndim == 3:
        output, target = output.flatten(0, 1), target.repeat_interleave(output.shape[1])
    return loss_fn(output.squeeze(-1) if output.shape[-1] == 1 and target.ndim == 1 else output,
                   target)


def resampled_counts(counts: Sequence[int], spec: Resampling) -> list[int]:
    """Rows per class in one epoch under ``spec`` (classes with no rows stay at 0).

    >>> resampled_counts([90, 10], Resampling(kind="over", ratio=0.5))
    [90, 45]
    >>> resampled_counts([90, 10], Resampling(kind="under", ratio=0.5))
    [20, 10]
    """
    present = [c for c in counts if c > 0]
    if spec.kind == "none" or not present:
        return list(counts)
    if spec.kind == "over":
        floor = math.ceil(spec.ratio * max(present))
        return [max(c, floor) if c > 0 else 0 for c in counts]
    cap = max(min(present), math.ceil(min(present) / spec.ratio))
    return [min(c, cap) for c in counts]


@dataclass(frozen=True, slots=True)
class RowGrowth:
    """Rows as a fidelity: epoch ``e`` trains on the first ``first · growth^e`` rows of a fixed
    stratified order of the training rows (:func:`nested_order`), every row once that reaches
    the split's size.

    A later epoch's rows include an earlier one's, so a configuration the pruner lets go on is
    promoted to more rows of the same sample, and the pruner, comparing trials at equal steps,
    compares them on equal rows. With the defaults (10,000 rows first, as FLAML starts, doubled
    each epoch) the first five epochs of a million-row split cost a third of one full epoch.

    >>> [RowGrowth().rows(epoch, 50_000) for epoch in range(4)]
    [10000, 20000, 40000, 50000]
    """

    first: int = 10_000
    growth: int = 2

    def rows(self, epoch: int, n: int) -> int:
        """Rows trained at ``epoch`` of a split of ``n``."""
        return n if epoch >= n.bit_length() else min(n, self.first * self.growth ** epoch)

    def first_full_epoch(self, n: int) -> int:
        """The first epoch that trains on all ``n`` rows.

        >>> RowGrowth().first_full_epoch(50_000)
        3
        """
        return next(epoch for epoch in range(n.bit_length() + 1) if self.rows(epoch, n) >= n)

    @classmethod
    def for_split(cls, n: int) -> RowGrowth | None:
        """The growth of a training split of ``n`` rows: none at or under
        :data:`GROW_ABOVE_ROWS`."""
        return cls() if n > GROW_ABOVE_ROWS else None


def nested_order(y: torch.Tensor, seed: int) -> torch.Tensor:
    """A random order of the rows of ``y`` whose every prefix holds each class's share of the
    rows within one row (class codes: ``y`` of an integer dtype; regression targets: a plain
    random order). Each class's rows are shuffled and spread evenly over the order.

    >>> order = nested_order(torch.tensor([0] * 90 + [1] * 10), seed=0)
    >>> int((order[:20] >= 90).sum())
    2
    """
    generator = torch.Generator().manual_seed(seed)
    labels = y.cpu()
    if labels.is_floating_point():
        return torch.randperm(len(labels), generator=generator)
    position = torch.empty(len(labels), dtype=torch.float64)
    for c in labels.unique():
        rows = torch.nonzero(labels == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        jitter = torch.rand(len(rows), generator=generator, dtype=torch.float64)
        position[rows] = (torch.arange(len(rows), dtype=torch.float64) + jitter) / len(rows)
    return torch.argsort(position)


class EpochSampler:
    """The training rows one epoch visits, shuffled: all of them once (no resampling), or each
    class's rows resampled to :func:`resampled_counts`. With ``growth``, epoch ``e`` draws only
    from the first :meth:`RowGrowth.rows` rows of :func:`nested_order`, an order fixed by ``y``
    alone, so every trial of a study grows through the same rows. Only indices of the ``y`` it
    is given (the training rows) are ever drawn."""

    def __init__(self, y: torch.Tensor, n_classes: int, spec: Resampling,
                 growth: RowGrowth | None = None) -> None:
        self.y, self.n_classes, self.spec, self.growth = y.cpu(), n_classes, spec, growth
        self.nested = nested_order(self.y, seed=0) if growth is not None else None
        self._every_row = self._draws(None)

    def pool(self, epoch: int) -> torch.Tensor | None:
        """The rows epoch ``epoch`` draws from (``None``: all of them)."""
        if self.growth is None or self.nested is None:
            return None
        rows = self.growth.rows(epoch, len(self.y))
        return None if rows >= len(self.y) else self.nested[:rows]

    def size(self, epoch: int = 0) -> int:
        """Rows visited at ``epoch``."""
        pool, groups, targets = self._epoch(epoch)
        return sum(targets) if groups else len(self.y) if pool is None else len(pool)

    def steps(self, epochs: int, batch_size: int) -> int:
        """Optimizer steps of ``epochs`` epochs at ``batch_size`` (a learning-rate schedule's
        length)."""
        return sum(max(1, math.ceil(self.size(e) / batch_size)) for e in range(epochs))

    def order(self, generator: torch.Generator, epoch: int = 0) -> torch.Tensor:
        """This epoch's row indices, in random order."""
        pool, groups, targets = self._epoch(epoch)
        if not groups:
            if pool is None:
                return torch.randperm(len(self.y), generator=generator)
            return pool[torch.randperm(len(pool), generator=generator)]
        parts = []
        for group, target in zip(groups, targets, strict=True):
            if target > len(group):
                extra = torch.randint(len(group), (target - len(group),), generator=generator)
                parts += [group, group[extra]]
            else:
                parts.append(group[torch.randperm(len(group), generator=generator)[:target]])
        rows = torch.cat(parts)
        return rows[torch.randperm(len(rows), generator=generator)]

    def _epoch(self, epoch: int) -> tuple[torch.Tensor | None, list[torch.Tensor], list[int]]:
        """Epoch ``epoch``'s pool and, when resampling, each class's rows in it and draws."""
        pool = self.pool(epoch)
        groups, targets = self._every_row if pool is None else self._draws(pool)
        return pool, groups, targets

    def _draws(self, pool: torch.Tensor | None) -> tuple[list[torch.Tensor], list[int]]:
        """Each class's rows within ``pool`` (``None``: all rows) and how many of each one
        epoch draws; nothing without resampling."""
        if self.spec.kind == "none":
            return [], []
        labels = self.y if pool is None else self.y[pool]
        groups = [torch.nonzero(labels == c).flatten() for c in range(self.n_classes)]
        if pool is not None:
            groups = [pool[g] for g in groups]
        return groups, resampled_counts([len(g) for g in groups], self.spec)


@dataclass(frozen=True, slots=True)
class TrainingRows:
    """The rows a loop trains on, as one numbered sequence over one or more ``(x, y)`` parts
    (the refit's training and validation splits) that are never copied into one tensor: a
    batch gathers its rows from each part."""

    parts: tuple[tuple[torch.Tensor, torch.Tensor], ...]

    @property
    def y(self) -> torch.Tensor:
        """Every row's target, in order (a small copy: one value a row)."""
        return torch.cat([y for _, y in self.parts])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs and targets of rows ``idx`` (rows of a later part after an earlier
        part's; a batch's order does not change its loss)."""
        (x, y), *rest = self.parts
        if not rest:
            return x[idx], y[idx]
        xs, ys, start = [], [], 0
        for x, y in self.parts:
            mine = idx[(idx >= start) & (idx < start + len(y))] - start
            xs.append(x[mine])
            ys.append(y[mine])
            start += len(y)
        return torch.cat(xs), torch.cat(ys)


def _batches(order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    n = len(order)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if len(idx) > 1 or start == 0:
            yield idx


@torch.inference_mode()
def predict_raw(model: nn.Module, x: torch.Tensor, batch_size: int = 8192) -> np.ndarray:
    """Raw network outputs for ``x`` in evaluation mode, as a float64 numpy array."""
    model.eval()
    outputs = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(outputs or [model(x)]).double().cpu().numpy()  # 0 rows: (0, outputs)


def split_output(model: nn.Module, data: TensorSplits, task: TaskType, split: str = "val",
                 batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The raw outputs and the targets of one split (regression: both in target units)."""
    output = predict_raw(model, getattr(data, f"x_{split}"), batch_size)
    if not task.is_classification:
        output = data.decode_target(output)
    return output, split_targets(data, task, split)


def split_targets(data: TensorSplits, task: TaskType, split: str = "val") -> np.ndarray:
    """The targets of one split as :func:`evaluate` takes them (regression: in target units)."""
    y_true = getattr(data, f"y_{split}").cpu().numpy()
    return y_true if task.is_classification else data.decode_target(y_true)


def score_split(model: nn.Module, data: TensorSplits, task: TaskType, split: str = "val",
                batch_size: int = 8192) -> dict[str, float]:
    """Every metric of ``task`` on one split, with regression outputs in target units."""
    output, y_true = split_output(model, data, task, split, batch_size)
    return evaluate(task, y_true, output, data.positive)


@dataclass(frozen=True, slots=True)
class Pace:
    """The least pace a run must keep: ``epochs`` epochs within ``seconds``."""

    epochs: int
    seconds: float


#: A :class:`Pace` is judged once, at the first batch after this share of its seconds.
PACE_CHECK_SHARE = 0.1


class Watch:
    """Says, batch after batch, whether training must stop: once ``deadline`` has passed
    (:attr:`StopReason.TIMEOUT`), or when, judged once after :data:`PACE_CHECK_SHARE` of the
    pace's seconds, the ``pace_steps`` optimizer steps of its epochs are forecast to take
    longer than its seconds (:attr:`StopReason.TOO_SLOW`). The forecast is at the rate of the
    steps after the first, which pays the network's one-off costs.

    >>> now = [0.0]
    >>> watch = Watch(deadline=None, pace_steps=100, pace_seconds=10.0, now=lambda: now[0])
    >>> now[0] = 0.5
    >>> watch.after_batch()  # the first step: its time is not a rate
    >>> now[0] = 1.5
    >>> watch.after_batch(), watch.forecast_seconds
    (<StopReason.TOO_SLOW: 'too_slow'>, 100.0)
    """

    def __init__(self, deadline: float | None, pace_steps: int = 0,
                 pace_seconds: float = math.inf,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.deadline, self.now = deadline, now
        self.pace_steps, self.pace_seconds = pace_steps, pace_seconds
        self.start, self.steps = now(), 0
        self.first_step_end = math.nan
        self.forecast_seconds = math.nan
        self.reason: StopReason | None = None

    def after_batch(self) -> StopReason | None:
        """Count one optimizer step; the reason to stop now, if any."""
        self.steps += 1
        now = self.now()
        if self.steps == 1:
            self.first_step_end = now
        elif (self.steps < self.pace_steps
              and now - self.start >= PACE_CHECK_SHARE * self.pace_seconds):
            rate = (now - self.first_step_end) / (self.steps - 1)
            self.pace_steps, forecast = 0, rate * self.pace_steps  # judged once
            if forecast > self.pace_seconds:
                self.forecast_seconds, self.reason = forecast, StopReason.TOO_SLOW
        return self.expired(now)

    def expired(self, now: float | None = None) -> StopReason | None:
        """The reason to stop: the one found already, else :attr:`StopReason.TIMEOUT` once
        the deadline has passed (at ``now``, or the clock's time)."""
        if self.reason is None and self.deadline is not None and (
                self.now() if now is None else now) > self.deadline:
            self.reason = StopReason.TIMEOUT
        return self.reason


def _train_epoch(model: nn.Module, rows: TrainingRows, loss_fn: nn.Module,
                 optimizer: torch.optim.Optimizer, scheduler: object, batch_size: int,
                 order: torch.Tensor, watch: Watch) -> tuple[float, int, StopReason | None]:
    """One pass over the rows in ``order``; returns the mean loss, the rows trained and, when
    ``watch`` cut the pass short, why.

    Stops early after the batch after which ``watch`` says so: so no epoch, however large the
    data or slow the network, overruns a deadline by more than a batch.
    """
    model.train()
    device = rows.parts[0][0].device
    total, n = torch.zeros((), device=device), 0
    batches = list(_batches(order, batch_size))
    for i, idx in enumerate(batches):
        x, y = rows.batch(idx.to(device))
        loss = batch_loss(loss_fn, model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()  # type: ignore[attr-defined]
        total += loss.detach() * len(idx)
        n += len(idx)
        stop = watch.after_batch()
        if stop is not None and i + 1 < len(batches):
            return float(total) / max(n, 1), n, stop
    return float(total) / max(n, 1), n, None


def fit(model: nn.Module, data: TensorSplits, *, task: TaskType, metric: Metric,
        optim: OptimSpec, cfg: TrainConfig, class_weighting: ClassWeighting = "none",
        resampling: Resampling = Resampling(), callbacks: Sequence[EpochCallback] = (),
        seed: int = 0, deadline: float | None = None, keep_outputs: bool = False,
        pace: Pace | None = None) -> FitResult:
    """Train ``model`` on ``data.x_train``, scoring ``metric`` on ``data.x_val`` each epoch.

    Each epoch visits the training rows drawn by an :class:`EpochSampler` for ``resampling``
    (validation and test rows are never drawn).

    Stops at ``cfg.max_epochs``, on patience, on a non-finite loss or score, when a callback
    returns a reason, or once ``time.monotonic()`` passes ``deadline``: checked after every
    batch, so the epoch it cuts ends early and is still scored; likewise, with a ``pace``,
    with :attr:`StopReason.TOO_SLOW` when its first ``pace.epochs`` epochs (at most
    ``cfg.max_epochs``) are forecast to take longer than ``pace.seconds`` (:class:`Watch`;
    ``FitResult.forecast_seconds`` says how long). The learning-rate schedule
    spans ``cfg.max_epochs`` epochs, or the time until ``deadline`` if that ends first
    (:class:`ScheduleClock`). The model ends with the best
    epoch's weights. ``keep_outputs`` keeps every epoch's validation outputs in the result
    (cross-validation scores folds at epochs chosen on the other folds; see
    :func:`~automl.folds.crossfit_epochs`).

    Raises:
        TrialError: the trial ran out of memory (an oversized network).
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, optim)
    sampler = EpochSampler(data.y_train, data.d_out, resampling,
                           RowGrowth.for_split(len(data.y_train)))
    clock = ScheduleClock(sampler.steps(cfg.max_epochs, optim.batch_size), deadline)
    watch = Watch(deadline) if pace is None else Watch(
        deadline, sampler.steps(min(pace.epochs, cfg.max_epochs), optim.batch_size),
        pace.seconds)
    scheduler = make_scheduler(optimizer, optim, clock.total_steps, clock)
    loss_fn = make_loss(task, data, class_weighting, optim.label_smoothing).to(
        data.x_train.device)
    stopper = EarlyStopping(patience=cfg.patience, min_delta=cfg.min_delta,
                            greater_is_better=metric.greater_is_better)
    training = TrainingRows(((data.x_train, data.y_train),))
    history: list[EpochLog] = []
    outputs: list[np.ndarray] = []
    best_state, reason = None, StopReason.MAX_EPOCHS
    best_split: tuple[np.ndarray, np.ndarray] | None = None  # the best epoch's (output, y_true)
    try:
        for epoch in range(cfg.max_epochs):
            start = time.perf_counter()
            train_loss, rows, _ = _train_epoch(model, training, loss_fn, optimizer, scheduler,
                                               optim.batch_size,
                                               sampler.order(generator, epoch), watch)
            output, y_true = split_output(model, data, task, "val", cfg.eval_batch_size)
            val = evaluate(task, y_true, output, data.positive, only=metric)
            score = val[metric.name] if math.isfinite(train_loss) else math.nan
            log = EpochLog(epoch=epoch, train_loss=train_loss, val=val, score=score,
                           val_loss=validation_loss(task, y_true, output),
                           lr=optimizer.param_groups[0]["lr"],
                           seconds=time.perf_counter() - start, train_rows=rows)
            history.append(log)
            if keep_outputs:
                outputs.append(output)
            stop = stopper.update(score, log.val_loss)
            if stopper.improved:  # cloned tensors: a deepcopy of the dict costs ~4x as much
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_split = (output, y_true)  # fresh arrays each epoch: nothing overwrites them
            stop = _notify(callbacks, log) or stop or watch.expired()
            if stop is not None:
                reason = stop
                break
    except torch.OutOfMemoryError as exc:
        raise TrialError(f"out of memory: {exc}") from None
    if best_state is not None:
        model.load_state_dict(best_state)
    best_val = evaluate(task, best_split[1], best_split[0], data.positive) if best_split else {}
    return FitResult(best_score=stopper.best_score, best_epoch=stopper.best_epoch,
                     best_val=best_val, stop_reason=reason, history=tuple(history),
                     outputs=tuple(outputs),
                     schedule_epochs=len(history) if clock.led_by_time else cfg.max_epochs,
                     forecast_seconds=watch.forecast_seconds)


def refit(model: nn.Module, data: TensorSplits, *, task: TaskType, optim: OptimSpec,
          cfg: TrainConfig, n_epochs: int, class_weighting: ClassWeighting = "none",
          resampling: Resampling = Resampling(), seed: int = 0,
          deadline: float | None = None, schedule_epochs: int | None = None,
          splits: tuple[str, ...] = ("train", "val")) -> int:
    """Train ``model`` on the rows of ``splits``, the training *and* validation rows unless
    told (read from each split as it is, not joined into a second copy), for ``n_epochs``
    epochs, no early stopping (the validation rows are training data here, so there is nothing
    to select on); ``resampling`` draws from them all.

    The learning-rate schedule spans ``schedule_epochs`` epochs (``None``: ``cfg.max_epochs``),
    the span of the trial being refitted (:attr:`FitResult.schedule_epochs`), so the first
    ``n_epochs`` follow its trajectory. Stops once
    ``time.monotonic()`` passes ``deadline`` (checked after every batch). Returns the epochs
    trained whole.

    Raises:
        TrialError: out of memory, or the loss became non-finite.
    """
    training = TrainingRows(tuple((getattr(data, f"x_{split}"), getattr(data, f"y_{split}"))
                                  for split in splits if len(getattr(data, f"y_{split}"))))
    both = dataclasses.replace(data, y_train=training.y)  # the loss's class weights
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, optim)
    sampler = EpochSampler(both.y_train, both.d_out, resampling,
                           RowGrowth.for_split(len(data.y_train)))
    scheduler = make_scheduler(optimizer, optim,
                               sampler.steps(schedule_epochs or cfg.max_epochs, optim.batch_size))
    loss_fn = make_loss(task, both, class_weighting, optim.label_smoothing).to(
        data.x_train.device)
    epoch, watch = 0, Watch(deadline)
    try:
        for epoch in range(1, min(n_epochs, cfg.max_epochs) + 1):
            loss, _, cut = _train_epoch(model, training, loss_fn, optimizer, scheduler,
                                        optim.batch_size, sampler.order(generator, epoch - 1),
                                        watch)
            if not math.isfinite(loss):
                raise TrialError(f"refit diverged (non-finite loss) at epoch {epoch - 1}")
            if cut:  # stopped by the deadline inside the epoch: that epoch does not count
                epoch -= 1
                break
            if watch.expired():
                break
    except torch.OutOfMemoryError as exc:
        raise TrialError(f"out of memory: {exc}") from None
    model.eval()
    return epoch


def _notify(callbacks: Sequence[EpochCallback], log: EpochLog) -> StopReason | None:
    reasons = [cb.on_epoch_end(log) for cb in callbacks]
    return next((r for r in reasons if r is not None), None)
