"""The search space: fixed trials rebuild exact settings; random draws stay in bounds."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import torch

from automl.config import FAMILY_NAMES
from automl.data import TaskType
from automl.errors import ConfigError
from automl.networks import FAMILIES, LinearSpec, MLPSpec, ResNetSpec, build_model, fit_bins
from automl.space import (
    BATCH_SIZES,
    LABEL_SMOOTHINGS,
    MAX_WARM_EMBEDDED,
    SPACE_VERSION,
    TrialParams,
    check_families,
    params_from_dict,
    sample_params,
    warm_start,
)
from automl.train import SCHEDULES, OptimSpec

BASE: dict[str, Any] = {
    "scaling": "quantile", "embedding": "none", "arch": "mlp", "n_blocks": 2, "d_block": 64,
    "dropout": 0.1, "norm": "none", "activation": "relu", "optimizer": "adamw", "lr": 1e-3,
    "weight_decay": 1e-5, "schedule": "constant", "batch_size": 256,
}
PERIODIC = {"embedding": "periodic", "periodic_n_frequencies": 8, "periodic_scale": 0.5,
            "periodic_d_embedding": 12}
SGD = {"optimizer": "sgd", "sgd_momentum": 0.5, "sgd_nesterov": True}
RMSPROP = {"optimizer": "rmsprop", "rmsprop_momentum": 0.3}
#: Sampled for every family but the linear one (``norm``: MLP and ResNet; ``tabm_k``: TabM).
ARCHITECTURE = ("n_blocks", "d_block", "dropout", "activation", "embedding")
CONDITIONAL_PARENTS = {"periodic_": ("embedding", ("periodic", "periodic_lite")),
                       "piecewise_": ("embedding", ("piecewise",)),
                       "sgd_": ("optimizer", ("sgd",)),
                       "rmsprop_": ("optimizer", ("rmsprop",)),
                       "class_": ("resampling", ("none",))}


def test_fixed_trial_gives_exact_params() -> None:
    params = sample_params(optuna.trial.FixedTrial({**BASE, "resampling": "none",
                                                    "class_weighting": "sqrt",
                                                    "label_smoothing": 0.1}),
                           TaskType.BINARY)
    assert params == TrialParams(
        model=MLPSpec(n_blocks=2, d_block=64, dropout=0.1, norm="none", activation="relu",
                      embedding="none"),
        optim=OptimSpec(name="adamw", lr=1e-3, weight_decay=1e-5, schedule="constant",
                        batch_size=256, label_smoothing=0.1),
        class_weighting="sqrt",
    )


def test_fixed_trial_with_periodic_embedding_and_sgd() -> None:
    fixed = {**BASE, **PERIODIC, **SGD, "arch": "resnet", "norm": "layer"}
    params = sample_params(optuna.trial.FixedTrial(fixed), TaskType.REGRESSION)
    assert params.model == ResNetSpec(n_blocks=2, d_block=64, dropout=0.1, norm="layer",
                                      activation="relu", embedding="periodic", n_frequencies=8,
                                      frequency_scale=0.5, d_embedding=12)
    assert (params.optim.name, params.optim.momentum, params.optim.nesterov) == ("sgd", 0.5, True)
    assert params.class_weighting == "none"


def test_fixed_trial_with_rmsprop_uses_its_momentum() -> None:
    params = sample_params(optuna.trial.FixedTrial({**BASE, **RMSPROP}), TaskType.REGRESSION)
    assert (params.optim.name, params.optim.momentum) == ("rmsprop", 0.3)


def test_fixed_trial_missing_a_parameter_fails() -> None:
    incomplete = {k: v for k, v in BASE.items() if k != "lr"}
    with pytest.raises(ValueError, match="lr"):
        sample_params(optuna.trial.FixedTrial(incomplete), TaskType.REGRESSION)


def _draw(task: TaskType, n: int, seed: int = 0) -> list[tuple[dict[str, Any], TrialParams]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    draws = []
    for _ in range(n):
        trial = study.ask()
        params = sample_params(trial, task)
        draws.append((trial.params, params))
        study.tell(trial, 0.0)
    return draws


@pytest.fixture(scope="module")
def random_draws() -> list[tuple[dict[str, Any], TrialParams]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return _draw(TaskType.BINARY, 200)


def test_random_draws_stay_in_bounds(random_draws: list[tuple[dict[str, Any], TrialParams]]
                                     ) -> None:
    for _, p in random_draws:
        m, o = p.model, p.optim
        assert m.kind in FAMILIES and m.scaling in ("quantile", "robust")
        if m.kind != "linear":
            assert m.activation in ("relu", "gelu", "silu")
            assert m.embedding in ("none", "periodic", "periodic_lite", "piecewise")
            assert 8 <= m.n_bins <= 64
            assert 1 <= m.n_blocks <= 5 and 64 <= m.d_block <= 1024
            assert 0.0 <= m.dropout <= 0.5
            assert 8 <= m.n_frequencies <= 64 and 0.01 <= m.frequency_scale <= 10.0
            assert 8 <= m.d_embedding <= 32
        assert o.name in ("adamw", "adam", "sgd", "rmsprop")
        assert 1e-4 <= o.lr <= 1e-1 and 1e-6 <= o.weight_decay <= 1e-1
        assert 0.0 <= o.momentum <= 0.99 and o.label_smoothing in LABEL_SMOOTHINGS
        assert o.schedule in SCHEDULES and o.batch_size in BATCH_SIZES
        assert p.class_weighting in ("none", "balanced", "sqrt")
        assert p.resampling.kind in ("none", "over", "under")
        assert 0.1 <= p.resampling.ratio <= 1.0


def test_random_draws_cover_every_choice(random_draws: list[tuple[dict[str, Any], TrialParams]]
                                         ) -> None:
    seen = {(name, value) for raw, _ in random_draws for name, value in raw.items()
            if isinstance(value, str)}
    for name, choices in [("arch", list(FAMILIES)), ("schedule", list(SCHEDULES)),
                          ("embedding", ["none", "periodic", "periodic_lite", "piecewise"]),
                          ("optimizer", ["adamw", "adam", "sgd", "rmsprop"]),
                          ("class_weighting", ["none", "balanced", "sqrt"]),
                          ("resampling", ["none", "over", "under"])]:
        assert {(name, c) for c in choices} <= seen


def test_conditional_params_appear_only_with_their_parent(
        random_draws: list[tuple[dict[str, Any], TrialParams]]) -> None:
    for raw, _ in random_draws:
        architecture = [name for name in ARCHITECTURE if name in raw]
        assert architecture == ([] if raw["arch"] == "linear" else list(ARCHITECTURE)), raw
        assert ("norm" in raw) == (raw["arch"] in ("mlp", "resnet"))
        assert ("tabm_k" in raw) == (raw["arch"] == "tabm")
        for prefix, (parent, values) in CONDITIONAL_PARENTS.items():
            children = [name for name in raw if name.startswith(prefix)]
            if raw.get(parent) in values:
                assert children, f"{parent}={raw[parent]} but no {prefix}* parameter in {raw}"
            else:
                assert not children, f"{children} sampled although {parent}={raw[parent]}"


def test_class_weighting_is_searched_for_classification_only() -> None:
    for task in TaskType:
        raw = [r for r, _ in _draw(task, 5)]
        assert all(("resampling" in r) == task.is_classification for r in raw)
        assert all(("label_smoothing" in r) == task.is_classification for r in raw)
        if not task.is_classification:
            assert not any("class_weighting" in r for r in raw)


def test_resampling_forces_class_weighting_off(
        random_draws: list[tuple[dict[str, Any], TrialParams]]) -> None:
    resampled = [(raw, p) for raw, p in random_draws if p.resampling.kind != "none"]
    assert resampled
    for raw, p in resampled:
        assert "class_weighting" not in raw and p.class_weighting == "none"
        assert raw["resampling_ratio"] == p.resampling.ratio
    plain = [raw for raw, p in random_draws if p.resampling.kind == "none"]
    assert plain and all("resampling_ratio" not in raw for raw in plain)


@pytest.mark.parametrize("weighting", ["none", "balanced", "sqrt"])
def test_version_1_params_still_rebuild(weighting: str) -> None:
    """A trial stored before resampling existed has no ``resampling`` parameter."""
    params = params_from_dict({**BASE, "class_weighting": weighting}, TaskType.BINARY)
    assert params.class_weighting == weighting and params.resampling.kind == "none"
    assert params_from_dict(dict(BASE), TaskType.REGRESSION).resampling.kind == "none"


@pytest.mark.parametrize(("task", "min_batch_size", "cpu"), [
    *((task, 0, True) for task in TaskType), (TaskType.BINARY, 512, True),
    (TaskType.MULTICLASS, 0, False)])
def test_warm_start_configurations_are_valid(task: TaskType, min_batch_size: int,
                                             cpu: bool) -> None:
    """Each is a complete point of the space (no parameter left over or missing), on CPU and on
    a GPU, and the warm start holds every family's defaults; a study whose rows grow raises
    their batches to its least."""
    starts = warm_start(task, min_batch_size=min_batch_size, cpu=cpu)
    assert min(p["batch_size"] for p in starts) == (min_batch_size or 64)
    for params in starts:
        study = optuna.create_study()
        study.enqueue_trial(params)
        trial = study.ask()
        rebuilt = sample_params(trial, task)
        assert trial.params == params
        assert rebuilt.resampling.kind == "none" and rebuilt.class_weighting == "none"
    defaults = [p for family in FAMILIES.values() for p in family.warm_start(cpu=cpu)]
    assert len(starts) == len(defaults) and {p["arch"] for p in starts} == set(FAMILIES)


def test_a_wide_table_s_warm_start_has_no_embeddings() -> None:
    """300 rows of 5,000 features: the embedded warm starts ran 129 and 260 s, unjudged."""
    narrow = warm_start(TaskType.BINARY, n_continuous=MAX_WARM_EMBEDDED // 16)
    wide = warm_start(TaskType.BINARY, n_continuous=MAX_WARM_EMBEDDED // 16 + 1)
    assert narrow == warm_start(TaskType.BINARY)
    assert {p.get("embedding", "none") for p in narrow} > {"none"}
    assert {p.get("embedding", "none") for p in wide} == {"none"}
    assert [p["arch"] for p in wide] == [p["arch"] for p in narrow]
    for params in wide:  # still complete points of the space, none left over
        study = optuna.create_study()
        study.enqueue_trial(params)
        trial = study.ask()
        sample_params(trial, TaskType.BINARY)
        assert trial.params == params


def test_the_published_defaults_are_in_the_warm_start() -> None:
    """TabM's ``TabM.make`` defaults on a GPU (sized down on CPU: 2 × 256, 4 members,
    piecewise-linear embeddings) and RealMLP-TD's recipe, as the issue names them."""
    starts = warm_start(TaskType.BINARY)
    tabm = next(p for p in warm_start(TaskType.BINARY, cpu=False) if p["arch"] == "tabm")
    assert (tabm["tabm_k"], tabm["d_block"], tabm["dropout"], tabm["optimizer"], tabm["lr"],
            tabm["weight_decay"], tabm["batch_size"]) == (32, 512, 0.1, "adamw", 2e-3, 3e-4, 256)
    assert tabm["embedding"] == "periodic_lite"
    on_cpu = next(p for p in starts if p["arch"] == "tabm")
    assert (on_cpu["tabm_k"], on_cpu["d_block"], on_cpu["embedding"]) == (4, 256, "piecewise")
    assert {k: v for k, v in on_cpu.items() if k not in {"tabm_k", "d_block"}
            and "embedding" not in k and "bins" not in k} == \
        {k: v for k, v in tabm.items() if k not in {"tabm_k", "d_block"}
         and "embedding" not in k and not k.startswith("periodic_")}
    realmlp = next(p for p in starts if p.get("label_smoothing") == 0.1)
    assert (realmlp["arch"], realmlp["n_blocks"], realmlp["d_block"], realmlp["scaling"],
            realmlp["embedding"]) == ("mlp", 3, 256, "robust", "periodic")


@pytest.mark.parametrize("params", [
    {"n_blocks": 0, "scaling": "robust", "optimizer": "adamw", "lr": 1e-1,
     "weight_decay": 1e-4, "schedule": "cosine", "batch_size": 64, "resampling": "none",
     "class_weighting": "none"},
    {**{k: v for k, v in BASE.items() if k != "scaling"}, "n_blocks": 8, "d_block": 16,
     "resampling": "none", "class_weighting": "none"},
])
def test_version_4_params_still_rebuild(params: dict[str, Any]) -> None:
    """Before the families, the linear model was ``n_blocks = 0`` without ``arch``; networks
    could be deeper and narrower than today's ranges; there was no label smoothing."""
    rebuilt = params_from_dict(params, TaskType.BINARY)
    assert rebuilt.optim.label_smoothing == 0.0
    if params["n_blocks"] == 0:
        assert rebuilt.model == LinearSpec(scaling="robust")
    else:
        assert rebuilt.model == MLPSpec(n_blocks=8, d_block=16, dropout=0.1)


def test_the_linear_model_is_reachable_and_warm_started_first(
        random_draws: list[tuple[dict[str, Any], TrialParams]]) -> None:
    assert any(isinstance(p.model, LinearSpec) for _, p in random_draws)
    first = sample_params(optuna.trial.FixedTrial(warm_start(TaskType.BINARY)[0]),
                          TaskType.BINARY)
    assert isinstance(first.model, LinearSpec)
    net = build_model(first.model, d_in=6, d_out=2, n_num=2, n_scalings=2)
    assert [type(m).__name__ for m in net.modules() if list(m.parameters(recurse=False))] == \
        ["Linear"]  # one affine map: a logistic regression


@pytest.mark.parametrize("task", list(TaskType))
def test_params_from_dict_round_trip(task: TaskType) -> None:
    for raw, params in _draw(task, 25, seed=1):
        assert params_from_dict(raw, task) == params


def test_sampled_params_build_a_working_model(
        random_draws: list[tuple[dict[str, Any], TrialParams]]) -> None:
    """Every drawn architecture builds (checked on a sample small enough to stay fast)."""
    small = [p for _, p in random_draws if getattr(p.model, "d_block", 0) <= 128
             and getattr(p.model, "k", 1) <= 8][:12]
    assert {p.model.kind for p in small} == set(FAMILIES)
    for p in small:
        data = torch.randn(50, 6)
        net = build_model(p.model, d_in=6, d_out=2, n_num=2, n_scalings=2,
                          bins=fit_bins(p.model, data, 2, 2))
        net.eval()
        assert net(torch.zeros(2, 6)).shape == (2, 2)


def test_space_version_is_a_positive_int() -> None:
    assert isinstance(SPACE_VERSION, int) and SPACE_VERSION >= 1


def test_a_study_of_some_families_draws_and_warm_starts_only_those() -> None:
    families = check_families(["resnet", "linear"])
    assert families == ("linear", "resnet")  # registry order
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        assert sample_params(trial, TaskType.BINARY, families).model.kind in families
        study.tell(trial, 0.0)
    assert [p["arch"] for p in warm_start(TaskType.BINARY, families)] == ["linear", "resnet"]
    assert check_families(None) == tuple(FAMILIES)


def test_the_names_the_help_lists_are_the_registry_in_its_order() -> None:
    assert tuple(FAMILIES) == FAMILY_NAMES  # `automl search --help` reads the names from config


@pytest.mark.parametrize("names", [["mlp", "transformer"], []])
def test_unknown_or_no_families_are_refused(names: list[str]) -> None:
    with pytest.raises(ConfigError, match="linear, mlp, tabm, resnet"):
        check_families(names)
