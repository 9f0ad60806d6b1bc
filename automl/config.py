"""Frozen, typed run settings with their defaults, validated once at construction.

Invalid values raise :class:`~automl.errors.ConfigError` worded like scikit-learn's parameter
validation: ``The 'patience' parameter of TrainConfig must be an int in the range [1, inf). Got 0
instead.``
"""

from __future__ import annotations

import math
import os
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar

from automl.errors import ConfigError

#: How a continuous feature is scaled: mapped to a normal by its training quantiles, or
#: median-centred, divided by its interquartile range and smooth-clipped (RealMLP's recipe).
Scaling = Literal["quantile", "robust"]
#: Every preprocessed table carries its continuous features once per scaling, in this order;
#: each network reads one block (:attr:`automl.networks.base.ModelSpec.scaling`).
SCALINGS: tuple[Scaling, ...] = ("quantile", "robust")

DEFAULT_STORAGE = "sqlite:///studies/automl.db"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
STORAGE_ENV = "AUTOML_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
#: A study's budget of finished trials when neither ``--n-trials`` nor ``--timeout`` is given.
DEFAULT_TRIALS = 20
#: The model families, in the order the search's warm start tries their defaults (the registry,
#: :data:`automl.networks.FAMILIES`, holds them in this order).
FAMILY_NAMES = ("linear", "mlp", "tabm", "resnet")
#: Search rows at or under which trials are cross-validated by default. Measured on adult
#: (``benchmarks/cv_threshold.py``, 90 s): 5 folds match one split at 1,500 and 5,000 rows and
#: lose at 15,000 (half the trials in the same time).
CV_MAX_ROWS = 5_000
DEFAULT_FOLDS = 5
MAX_FOLDS = 10  # one digit per row in the stored assignment
#: A cross-validated study whose test split would hold fewer rows keeps no test split: every
#: row goes to the folds, and the out-of-fold score is the estimate shown.
MIN_TEST_ROWS = 100
#: Training splits of more rows than this grow their rows epoch by epoch (rows as a fidelity;
#: see :class:`automl.train.RowGrowth`); smaller ones train on every row from the first epoch.
GROW_ABOVE_ROWS = 100_000
#: A trial may use at most this share of the free memory (the estimate is not exact, and other
#: processes allocate too; see :mod:`automl.memory`).
MEMORY_MARGIN = 0.8
#: Labelled rows ``automl importance`` uses at most (drawn at random): its ranking of the
#: columns is settled long before, and each shuffle predicts every row again.
IMPORTANCE_ROWS = 10_000
IMPORTANCE_REPEATS = 5  # shuffles per column
_E = TypeVar("_E", bound=Enum)


class TaskType(str, Enum):
    """What the target asks for."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not TaskType.REGRESSION


class Direction(str, Enum):
    """Which way a metric improves (the values are Optuna's direction names)."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class PrunerKind(str, Enum):
    """Which Optuna pruner stops unpromising trials early."""

    MEDIAN = "median"
    PATIENT = "patient"  # median, once a trial has gone a few epochs without a new best
    HYPERBAND = "hyperband"
    HALVING = "halving"  # successive halving from the first trial (tables whose rows grow)
    NONE = "none"


class SamplerKind(str, Enum):
    """Which Optuna sampler proposes the next configuration."""

    TPE = "tpe"
    RANDOM = "random"


def default_storage() -> str:
    """The Optuna storage URL: ``$AUTOML_STORAGE`` or SQLite under ``studies/``."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def default_tracking_uri() -> str:
    """The MLflow tracking URI: ``$MLFLOW_TRACKING_URI`` or SQLite under ``mlruns/``."""
    return os.environ.get(TRACKING_ENV) or DEFAULT_TRACKING_URI


def _fail(owner: str, name: str, expected: str, value: object) -> ConfigError:
    return ConfigError(
        f"The '{name}' parameter of {owner} must be {expected}. Got {value!r} instead.",
        param=name, expected=expected, value=value)


def _check_int(owner: str, name: str, value: object, low: int, high: int | None = None) -> None:
    if (isinstance(value, bool) or not isinstance(value, int) or value < low
            or (high is not None and value > high)):
        span = f"[{low}, inf)" if high is None else f"[{low}, {high}]"
        raise _fail(owner, name, f"an int in the range {span}", value)


def _check_float(owner: str, name: str, value: object, low: float, high: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:  # type: ignore[arg-type]
        raise _fail(owner, name, f"a float in the range [{low}, {high}]", value)


def _check_positive(owner: str, name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 < value < math.inf:  # type: ignore[operator]
        raise _fail(owner, name, "a positive, finite number", value)


def _check_enum(name: str, kind: type[_E], value: object) -> _E:
    try:
        return kind(value)
    except ValueError:
        options = ", ".join(repr(member.value) for member in kind)
        raise _fail("SearchConfig", name, f"one of {options}", value) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How each trial trains (the searched hyperparameters live in :mod:`automl.space`).

    Attributes:
        max_epochs: Upper bound on epochs per trial.
        patience: Epochs without improvement of the study metric before early stopping.
        min_delta: Smallest change of the metric that counts as an improvement.
        eval_batch_size: Rows per forward pass when scoring validation/test data.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
        max_trial_seconds: A trial ends (as COMPLETE, with its best epoch's weights) after
            the first batch past this many seconds; ``None`` means no limit. Keeps one
            oversized network from eating the whole search on a CPU.
    """

    max_epochs: int = 60
    patience: int = 16
    min_delta: float = 0.0
    eval_batch_size: int = 8192
    device: str = "auto"
    max_trial_seconds: float | None = 300.0

    def __post_init__(self) -> None:
        _check_int("TrainConfig", "max_epochs", self.max_epochs, 1)
        _check_int("TrainConfig", "patience", self.patience, 1)
        _check_float("TrainConfig", "min_delta", self.min_delta, 0.0, math.inf)
        _check_int("TrainConfig", "eval_batch_size", self.eval_batch_size, 1)
        if self.max_trial_seconds is not None:
            _check_positive("TrainConfig", "max_trial_seconds", self.max_trial_seconds)
        device = self.device if isinstance(self.device, str) else ""
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise _fail("TrainConfig", "device", "one of 'auto', 'cpu', 'cuda'", self.device)


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnChoices:
    """Columns the user gives a kind over the inferred one: read as numbers (``--numeric``:
    e.g. a count in row order that would be dropped as a row number), as categories
    (``--categorical``: e.g. integer codes), as text (``--text``: e.g. job titles, whose
    words say more than their many levels), or left out (``--drop``: e.g. a column that leaks
    the target).

    Raises:
        ConfigError: a column given two kinds.
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key in ("numeric", "categorical", "text", "drop"):  # a set of names: stored sorted
            object.__setattr__(self, key, tuple(sorted(set(getattr(self, key)))))
        seen: dict[str, str] = {}
        for option, names in self.options().items():
            for name in names:
                if name in seen and seen[name] != option:
                    raise ConfigError(f"column {name!r} is given to both {seen[name]} and "
                                      f"{option}; give it one of them")
                seen[name] = option

    def options(self) -> dict[str, tuple[str, ...]]:
        """Each option's columns: ``{"--numeric": (...), "--categorical": ..., ...}``."""
        return {"--numeric": self.numeric, "--categorical": self.categorical,
                "--text": self.text, "--drop": self.drop}

    def __str__(self) -> str:
        """As the options are written: ``--numeric a,b --drop c`` (``no column choices``)."""
        given = [f"{option} {','.join(names)}" for option, names in self.options().items()
                 if names]
        return " ".join(given) or "no column choices"

    def to_dict(self) -> dict[str, list[str]]:
        """Plain JSON (a study stores it); :meth:`from_dict` inverts it. ``text`` only when
        given, so the choices of a study made before ``--text`` read as they were stored."""
        given = {"text": list(self.text)} if self.text else {}
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "drop": list(self.drop)} | given

    @classmethod
    def from_dict(cls, d: dict[str, list[str]]) -> ColumnChoices:
        """The inverse of :meth:`to_dict`."""
        return cls(**{key: tuple(names) for key, names in d.items()})


NO_CHOICES = ColumnChoices()


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchConfig:
    """Everything one ``automl search`` needs; ``None`` means "infer it".

    Attributes:
        csv_path: The training data.
        target: Target column; ``None`` takes the last column.
        study_name: Optuna study name; ``None`` derives it from the file name.
        storage_url: Optuna storage URL (any SQLAlchemy URL).
        tracking_uri: MLflow tracking URI.
        experiment_name: MLflow experiment; ``None`` uses the study name.
        n_trials: The study's total budget of finished trials (not "this many more");
            ``None``: :data:`DEFAULT_TRIALS`, or, with ``timeout_s``, no count: trials run
            until the time is up (then ``n_trials`` stays ``None``).
        timeout_s: Wall-clock seconds for this run; ``None`` means no limit.
        task: Force ``binary``, ``multiclass`` or ``regression`` instead of inferring it.
        metric: Force the study metric (see :mod:`automl.metrics`).
        positive_class: The positive class of a binary target; ``None`` infers it (the
            minority class).
        threshold_metric: What the final model's decision threshold maximises (binary; see
            :mod:`automl.threshold`).
        refit_all: Once the final model has its test score, train its networks again on every
            row, the validation and test rows too, and keep those (see :mod:`automl.final`).
        seed: Seeds the split, the sampler and every trial's weights.
        val_fraction: Share of rows used to score trials (a study that is not
            cross-validated); ``None``: 0.15, but at most 20,000 rows and at least 1% (see
            :func:`automl.folds.choose_validation`).
        test_fraction: Share of rows held out to score the final model once; ``None``: 0.15,
            or none for a cross-validated table too small for a useful test split (see
            :func:`automl.folds.choose_validation`).
        folds: Cross-validation folds that score each trial (1: one validation split);
            ``None``: 5 for tables of at most 5,000 search rows, else 1 (always 1 with
            ``split_by``).
        split_by: A column of dates or numbers (a time) whose latest rows are the test split
            and the rows before them the validation split, so that trials and the final model
            are scored on rows later than those they learned from; ``None``: a random split
            (stratified for classification).
        group_by: A column whose rows belong together (a customer's, a patient's): a group's
            rows are all in one part of the split and one fold, so that scores are of groups
            the model never saw; ``None``: rows held out one by one.
        families: The model families the search draws from (``None``: every one; see
            :mod:`automl.networks`).
        column_choices: Columns read as numbers, categories or text, or dropped, whatever their
            values suggest.
        sampler: Optuna sampler.
        pruner: Optuna pruner; ``None``: successive halving (``halving``) for a table whose
            rows grow epoch by epoch (see :func:`automl.plan.default_pruner`), else ``median``.
        n_startup_trials: Trials before the sampler and the median pruners start to act.
        n_warmup_epochs: Epochs of each trial that the median pruners never prune.
        threads: torch threads per process; ``None`` uses every core.
        memory_limit_gb: GiB this process may use (``None``: the free memory); a trial whose
            estimated need exceeds :data:`MEMORY_MARGIN` of what is left is not trained
            (see :mod:`automl.memory`).
        train: Per-trial training settings.
    """

    csv_path: Path
    target: str | None = None
    study_name: str | None = None
    storage_url: str = field(default_factory=default_storage)
    tracking_uri: str = field(default_factory=default_tracking_uri)
    experiment_name: str | None = None
    n_trials: int | None = None
    timeout_s: float | None = None
    task: TaskType | None = None
    metric: str | None = None
    positive_class: str | None = None
    threshold_metric: str = "f1"
    refit_all: bool = False
    seed: int = 0
    val_fraction: float | None = None
    test_fraction: float | None = None
    folds: int | None = None
    split_by: str | None = None
    group_by: str | None = None
    families: tuple[str, ...] | None = None
    column_choices: ColumnChoices = field(default_factory=ColumnChoices)
    sampler: SamplerKind = SamplerKind.TPE
    pruner: PrunerKind | None = None
    n_startup_trials: int = 5
    n_warmup_epochs: int = 5
    threads: int | None = None
    memory_limit_gb: float | None = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.n_trials is None and self.timeout_s is None:
            object.__setattr__(self, "n_trials", DEFAULT_TRIALS)
        if self.n_trials is not None:
            _check_int("SearchConfig", "n_trials", self.n_trials, 1)
        if self.timeout_s is not None:
            _check_positive("SearchConfig", "timeout_s", self.timeout_s)
        _check_int("SearchConfig", "seed", self.seed, 0)
        if self.val_fraction is not None:
            _check_float("SearchConfig", "val_fraction", self.val_fraction, 0.01, 0.5)
        if self.test_fraction is not None:
            _check_float("SearchConfig", "test_fraction", self.test_fraction, 0.0, 0.5)
        if self.folds is not None:
            _check_int("SearchConfig", "folds", self.folds, 1, 10)
        _check_int("SearchConfig", "n_startup_trials", self.n_startup_trials, 0)
        _check_int("SearchConfig", "n_warmup_epochs", self.n_warmup_epochs, 0)
        if self.threads is not None:
            _check_int("SearchConfig", "threads", self.threads, 1)
        if self.memory_limit_gb is not None:
            _check_positive("SearchConfig", "memory_limit_gb", self.memory_limit_gb)
        if self.task is not None:
            object.__setattr__(self, "task", _check_enum("task", TaskType, self.task))
        object.__setattr__(self, "sampler", _check_enum("sampler", SamplerKind, self.sampler))
        if self.pruner is not None:
            object.__setattr__(self, "pruner", _check_enum("pruner", PrunerKind, self.pruner))


def default_of(config: type[TrainConfig] | type[SearchConfig], name: str) -> Any:
    """The default of field ``name`` of a config class: the one table every front end reads.

    >>> default_of(SearchConfig, "seed")
    0
    """
    for f in fields(config):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise KeyError(f"{config.__name__} has no field {name!r} with a default")
