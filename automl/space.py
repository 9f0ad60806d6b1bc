"""The search space, as one pure function of an Optuna trial.

:func:`sample_params` is define-by-run and uses only ``trial.suggest_*``, so
``sample_params(optuna.trial.FixedTrial(params), task)`` rebuilds any trial's settings from its
stored parameters. Bump :data:`SPACE_VERSION` whenever a name, range or choice changes, or what
the network's inputs are (version 6: a categorical of more than 32 levels is embedded, no longer
one-hot on its 32 most frequent levels): studies refuse to mix trials from two versions.

Classification searches two answers to imbalanced classes, never both at once: per-epoch
resampling of the training rows (``resampling``: ``none``, ``over`` or ``under``, with
``resampling_ratio`` in [0.1, 1], see :class:`~automl.train.Resampling`) and class weights in
the loss (``class_weighting``: ``none``, ``balanced``, ``sqrt``). When resampling is not
``none``, class weighting is not sampled and is ``none``: the resampled epochs are already
rebalanced, and weighting them again would count the imbalance twice with no evidence that it
helps. Version 1 trials (before resampling) have no ``resampling`` parameter;
:func:`params_from_dict` reads them as ``resampling="none"``.

The architecture starts with ``arch``, the model family (version 5, see :mod:`automl.networks`):
``linear`` (a linear or logistic model of the preprocessed inputs; then nothing else of the
architecture is sampled), ``mlp``, ``resnet`` or ``tabm``. Each family samples its own fields.
The warm start is every family's published defaults, the linear model first, so no study ends
worse, on its own validation scores, than the linear baseline.

Every network, the linear one included, draws the ``scaling`` of its continuous inputs
(version 4): quantiles mapped to a normal (Gorishniy et al., TabM) or robust scaling with a
smooth clip (Holzmüller et al. 2024, RealMLP). A linear model needs the second: the quantile
map bends every column, and on scikit-learn's diabetes table a ridge regression's test RMSE is
55.2 with it, 54.5 with the robust scaling (``benchmarks/linear_scaling.py``).

Classification also draws ``label_smoothing`` (0 or 0.1, RealMLP's default; version 5).
Parameters of older versions read as they were: see :func:`params_from_dict`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from automl.config import SCALINGS
from automl.data import TaskType
from automl.errors import ConfigError
from automl.networks import FAMILIES, ModelSpec
from automl.train import SCHEDULES, ClassWeighting, OptimSpec, Resampling

SPACE_VERSION = 6
BATCH_SIZES = (64, 128, 256, 512, 1024)
LABEL_SMOOTHINGS = (0.0, 0.1)
#: The most inputs a warm start's embeddings may feed its network (continuous features × the
#: embedding's width): on 300 rows of 5,000 features, 16 dimensions each fed a 3 × 256 MLP
#: 80,000 inputs, and its warm-start trial (which no pruner judges) ran 129-260 s where the
#: linear model's took 2 s (2,048 features of 16 dimensions is the most that embeds).
MAX_WARM_EMBEDDED = 32_768


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialParams:
    """One trial's settings: the network, the optimisation, the class weighting and the
    resampling."""

    model: ModelSpec
    optim: OptimSpec
    class_weighting: ClassWeighting = "none"
    resampling: Resampling = field(default_factory=Resampling)


def check_families(names: Sequence[str] | None) -> tuple[str, ...]:
    """The families a study searches: ``names`` (every family for ``None``), in registry order.

    Raises:
        ConfigError: an unknown family, or none at all.
    """
    if names is None:
        return tuple(FAMILIES)
    unknown = sorted(set(names) - set(FAMILIES))
    if unknown or not names:
        raise ConfigError(f"--families {','.join(names)!r}: "
                          + (f"unknown {', '.join(map(repr, unknown))}; " if unknown else "")
                          + f"choose among {', '.join(FAMILIES)}",
                          param="families", expected=f"some of {', '.join(FAMILIES)}",
                          value=",".join(names))
    return tuple(f for f in FAMILIES if f in names)


def _sample_model(trial: optuna.trial.BaseTrial, families: Sequence[str]) -> ModelSpec:
    family = FAMILIES[trial.suggest_categorical("arch", list(families))]
    scaling = trial.suggest_categorical("scaling", list(SCALINGS))
    return family.spec_type(scaling=scaling, **family.sample(trial))


def _sample_optim(trial: optuna.trial.BaseTrial) -> OptimSpec:
    name = trial.suggest_categorical("optimizer", ["adamw", "adam", "sgd", "rmsprop"])
    extra: dict[str, Any] = {}
    if name == "sgd":
        extra = {"momentum": trial.suggest_float("sgd_momentum", 0.0, 0.99),
                 "nesterov": trial.suggest_categorical("sgd_nesterov", [False, True])}
    elif name == "rmsprop":
        extra = {"momentum": trial.suggest_float("rmsprop_momentum", 0.0, 0.9)}
    return OptimSpec(
        name=name,
        lr=trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        schedule=trial.suggest_categorical("schedule", list(SCHEDULES)),
        batch_size=trial.suggest_categorical("batch_size", list(BATCH_SIZES)),
        **extra,
    )


def sample_params(trial: optuna.trial.BaseTrial, task: TaskType,
                  families: Sequence[str] = tuple(FAMILIES)) -> TrialParams:
    """Draw one configuration of one of ``families``; resampling and class weighting (one of
    them at most, see the module docstring) are searched for classification only.

    >>> fixed = {"arch": "mlp", "scaling": "quantile", "embedding": "none", "n_blocks": 2,
    ...          "d_block": 64, "dropout": 0.1, "norm": "none", "activation": "relu",
    ...          "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-5,
    ...          "schedule": "constant", "batch_size": 256}
    >>> sample_params(optuna.trial.FixedTrial(fixed), TaskType.REGRESSION).model.d_block
    64
    """
    weighting: ClassWeighting = "none"
    resampling = Resampling()
    model = _sample_model(trial, families)
    optim = _sample_optim(trial)
    if task.is_classification:
        optim = dataclasses.replace(optim, label_smoothing=trial.suggest_categorical(
            "label_smoothing", list(LABEL_SMOOTHINGS)))
        kind = trial.suggest_categorical("resampling", ["none", "over", "under"])
        if kind == "none":
            weighting = trial.suggest_categorical("class_weighting",
                                                  ["none", "balanced", "sqrt"])
        else:
            resampling = Resampling(kind=kind,
                                    ratio=trial.suggest_float("resampling_ratio", 0.1, 1.0))
    return TrialParams(model=model, optim=optim, class_weighting=weighting,
                       resampling=resampling)


def warm_start(task: TaskType, families: Sequence[str] = tuple(FAMILIES), *,
               min_batch_size: int = 0, cpu: bool = True,
               n_continuous: int = 0) -> list[dict[str, Any]]:
    """Every family's published defaults (:meth:`~automl.networks.base.Family.warm_start`: on
    CPU, its CPU-sized ones), in registry order (the linear model first, as the floor the
    search must beat), as full parameter sets for ``task`` (enqueue them first), with batches of
    at least ``min_batch_size`` rows (one of :data:`BATCH_SIZES`); of a table of
    ``n_continuous`` continuous features, a default whose embeddings would feed more than
    :data:`MAX_WARM_EMBEDDED` inputs to its network starts without them."""
    portfolio = [_sized(params, n_continuous)
                 | {"batch_size": max(params["batch_size"], min_batch_size)}
                 for name in families for params in FAMILIES[name].warm_start(cpu=cpu)]
    if not task.is_classification:
        return [{k: v for k, v in params.items() if k != "label_smoothing"}
                for params in portfolio]
    extra = {"label_smoothing": 0.0, "resampling": "none", "class_weighting": "none"}
    return [extra | params for params in portfolio]


def _sized(params: dict[str, Any], n_continuous: int) -> dict[str, Any]:
    """``params`` without its embedding when ``n_continuous`` features, each embedded in its
    ``*_d_embedding`` dimensions, would be more than :data:`MAX_WARM_EMBEDDED` inputs."""
    width = max((v for k, v in params.items() if k.endswith("_d_embedding")), default=0)
    if n_continuous * width <= MAX_WARM_EMBEDDED:
        return params
    return {k: v for k, v in params.items()
            if not k.startswith(("periodic_", "piecewise_"))} | {"embedding": "none"}


def params_from_dict(params: dict[str, Any], task: TaskType) -> TrialParams:
    """Rebuild a trial's settings from its stored Optuna parameters. Older versions read as
    they were: without ``resampling`` (version 1) as ``"none"``; without ``scaling`` (version
    3 or older) as ``"quantile"``; without ``arch`` (the linear model of versions 3 and 4,
    ``n_blocks = 0``) as ``"linear"``; without ``label_smoothing`` (version 4 or older) as 0."""
    defaults = {"arch": "linear", "scaling": "quantile"} | (
        {"resampling": "none", "label_smoothing": 0.0} if task.is_classification else {})
    with warnings.catch_warnings():  # older versions' ranges were wider: their values stand
        warnings.filterwarnings("ignore", message=".*out of the range", category=UserWarning)
        return sample_params(optuna.trial.FixedTrial(defaults | params), task)
