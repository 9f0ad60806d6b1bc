"""The search space, as one pure function of an Optuna trial.

:func:`sample_params` is define-by-run and uses only ``trial.suggest_*``, so
``sample_params(optuna.trial.FixedTrial(params), task)`` rebuilds any trial's settings from its
stored parameters. Bump :data:`SPACE_VERSION` whenever a name, range or choice changes: studies
refuse to mix trials from two versions.

Classification searches two answers to imbalanced classes, never both at once: per-epoch
resampling of the training rows (``resampling``: ``none``, ``over`` or ``under``, with
``resampling_ratio`` in [0.1, 1], see :class:`~automl.train.Resampling`) and class weights in
the loss (``class_weighting``: ``none``, ``balanced``, ``sqrt``). When resampling is not
``none``, class weighting is not sampled and is ``none``: the resampled epochs are already
rebalanced, and weighting them again would count the imbalance twice with no evidence that it
helps. Version 1 trials (before resampling) have no ``resampling`` parameter;
:func:`params_from_dict` reads them as ``resampling="none"``.

The architecture starts with ``n_blocks``: ``0`` is a linear (logistic) model of the
preprocessed inputs, and then nothing else of the architecture is sampled (version 3; earlier
versions had 1 to 8 blocks). It is also the first configuration of the warm start, so no study
ends worse, on its own validation scores, than the linear baseline.

Every network, the linear one included, draws the ``scaling`` of its continuous inputs
(version 4): quantiles mapped to a normal (Gorishniy et al., TabM) or robust scaling with a
smooth clip (Holzmüller et al. 2024, RealMLP). A linear model needs the second: the quantile
map bends every column, and on scikit-learn's diabetes table a ridge regression's test RMSE is
55.2 with it, 54.5 with the robust scaling (``benchmarks/linear_scaling.py``). Older trials
have no ``scaling`` parameter and read as ``"quantile"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna

from automl.config import SCALINGS
from automl.data import TaskType
from automl.model import ModelSpec
from automl.train import ClassWeighting, OptimSpec, Resampling

SPACE_VERSION = 4
BATCH_SIZES = (64, 128, 256, 512, 1024)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialParams:
    """One trial's settings: the network, the optimisation, the class weighting and the
    resampling."""

    model: ModelSpec
    optim: OptimSpec
    class_weighting: ClassWeighting = "none"
    resampling: Resampling = field(default_factory=Resampling)


def _sample_model(trial: optuna.trial.BaseTrial) -> ModelSpec:
    n_blocks = trial.suggest_int("n_blocks", 0, 8)
    scaling = trial.suggest_categorical("scaling", list(SCALINGS))
    if n_blocks == 0:
        return ModelSpec(n_blocks=0, scaling=scaling)
    embedding = trial.suggest_categorical("embedding", ["none", "periodic"])
    periodic: dict[str, Any] = {}
    if embedding == "periodic":
        periodic = {
            "n_frequencies": trial.suggest_int("periodic_n_frequencies", 4, 48, log=True),
            "frequency_scale": trial.suggest_float("periodic_scale", 0.01, 10.0, log=True),
            "d_embedding": trial.suggest_int("periodic_d_embedding", 4, 32, log=True),
        }
    return ModelSpec(
        kind=trial.suggest_categorical("arch", ["mlp", "resnet"]),
        n_blocks=n_blocks,
        d_block=trial.suggest_int("d_block", 16, 1024, log=True),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        norm=trial.suggest_categorical("norm", ["none", "batch", "layer"]),
        activation=trial.suggest_categorical("activation", ["relu", "gelu", "silu"]),
        embedding=embedding,
        scaling=scaling,
        **periodic,
    )


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
        lr=trial.suggest_float("lr", 1e-5, 1e-1, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        schedule=trial.suggest_categorical("schedule", ["constant", "cosine", "onecycle"]),
        batch_size=trial.suggest_categorical("batch_size", list(BATCH_SIZES)),
        **extra,
    )


def sample_params(trial: optuna.trial.BaseTrial, task: TaskType) -> TrialParams:
    """Draw one configuration; resampling and class weighting (one of them at most, see the
    module docstring) are searched for classification only.

    >>> fixed = {"scaling": "quantile", "embedding": "none", "arch": "mlp", "n_blocks": 2,
    ...          "d_block": 64, "dropout": 0.1, "norm": "none", "activation": "relu",
    ...          "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-5,
    ...          "schedule": "constant", "batch_size": 256}
    >>> sample_params(optuna.trial.FixedTrial(fixed), TaskType.REGRESSION).model.d_block
    64
    """
    weighting: ClassWeighting = "none"
    resampling = Resampling()
    model = _sample_model(trial)
    optim = _sample_optim(trial)
    if task.is_classification:
        kind = trial.suggest_categorical("resampling", ["none", "over", "under"])
        if kind == "none":
            weighting = trial.suggest_categorical("class_weighting",
                                                  ["none", "balanced", "sqrt"])
        else:
            resampling = Resampling(kind=kind,
                                    ratio=trial.suggest_float("resampling_ratio", 0.1, 1.0))
    return TrialParams(model=model, optim=optim, class_weighting=weighting,
                       resampling=resampling)


_BASE = {"scaling": "quantile", "embedding": "none", "arch": "mlp", "n_blocks": 3,
         "d_block": 256, "dropout": 0.1,
         "norm": "none", "activation": "relu", "optimizer": "adamw", "lr": 1e-3,
         "weight_decay": 1e-5, "schedule": "cosine", "batch_size": 256}

#: The linear (logistic) model: what a user would write in five lines, as a network.
LINEAR = {"n_blocks": 0, "scaling": "robust", "optimizer": "adamw", "lr": 1e-1,
          "weight_decay": 1e-4, "schedule": "cosine", "batch_size": 64}

# Configurations that do well on tabular data at a small cost (after the tuned defaults in
# Gorishniy et al. 2021/2022), tried first so the search starts from strong, cheap points; the
# linear model first, as the floor the search must beat.
PORTFOLIO: tuple[dict[str, Any], ...] = (
    LINEAR,
    _BASE,
    {**_BASE, "arch": "resnet", "n_blocks": 2, "d_block": 128, "dropout": 0.15,
     "norm": "batch", "lr": 3e-4, "batch_size": 128},
    {**_BASE, "embedding": "periodic", "periodic_n_frequencies": 16, "periodic_scale": 0.1,
     "periodic_d_embedding": 16, "n_blocks": 2, "d_block": 256, "dropout": 0.1,
     "schedule": "onecycle", "lr": 2e-3},
)


def warm_start(task: TaskType) -> list[dict[str, Any]]:
    """The :data:`PORTFOLIO` as full parameter sets for ``task`` (enqueue them first)."""
    extra = {"resampling": "none", "class_weighting": "none"} if task.is_classification else {}
    return [{**params, **extra} for params in PORTFOLIO]


def params_from_dict(params: dict[str, Any], task: TaskType) -> TrialParams:
    """Rebuild a trial's settings from its stored Optuna parameters (a trial of version 1,
    without ``resampling``, as ``resampling="none"``; of version 3 or older, without
    ``scaling``, as ``scaling="quantile"``)."""
    defaults = {"scaling": "quantile"} | ({"resampling": "none"} if task.is_classification
                                          else {})
    return sample_params(optuna.trial.FixedTrial(defaults | params), task)
