"""Configs: defaults are valid, every invalid value fails with a sklearn-style ConfigError."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from automl.config import (
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    STORAGE_ENV,
    TRACKING_ENV,
    PrunerKind,
    SamplerKind,
    SearchConfig,
    TrainConfig,
)
from automl.errors import AutoMLError, ConfigError

CSV = Path("data.csv")

# (field, bad value, expected phrase after "must be")
TRAIN_INVALID: list[tuple[str, Any, str]] = [
    ("max_epochs", 0, "an int in the range [1, inf)"),
    ("max_epochs", -3, "an int in the range [1, inf)"),
    ("max_epochs", 2.5, "an int in the range [1, inf)"),
    ("max_epochs", True, "an int in the range [1, inf)"),
    ("patience", 0, "an int in the range [1, inf)"),
    ("patience", "3", "an int in the range [1, inf)"),
    ("min_delta", -0.1, "a float in the range [0.0, inf]"),
    ("min_delta", math.nan, "a float in the range [0.0, inf]"),
    ("min_delta", math.inf, "a float in the range [0.0, inf]"),
    ("eval_batch_size", 0, "an int in the range [1, inf)"),
    ("device", "tpu", "one of 'auto', 'cpu', 'cuda'"),
    ("device", "", "one of 'auto', 'cpu', 'cuda'"),
    ("device", None, "one of 'auto', 'cpu', 'cuda'"),
]

SEARCH_INVALID: list[tuple[str, Any, str]] = [
    ("n_trials", 0, "an int in the range [1, inf)"),
    ("n_trials", -1, "an int in the range [1, inf)"),
    ("n_trials", 3.0, "an int in the range [1, inf)"),
    ("timeout_s", -1, "a positive, finite number"),
    ("timeout_s", 0, "a positive, finite number"),
    ("timeout_s", math.nan, "a positive, finite number"),
    ("seed", -1, "an int in the range [0, inf)"),
    ("val_fraction", 0.9, "a float in the range [0.01, 0.5]"),
    ("val_fraction", 0.0, "a float in the range [0.01, 0.5]"),
    ("test_fraction", 0.6, "a float in the range [0.0, 0.5]"),
    ("test_fraction", -0.1, "a float in the range [0.0, 0.5]"),
    ("n_startup_trials", -1, "an int in the range [0, inf)"),
    ("n_warmup_epochs", -1, "an int in the range [0, inf)"),
    ("threads", 0, "an int in the range [1, inf)"),
    ("task", "foo", "one of 'binary', 'multiclass', 'regression'"),
    ("sampler", "grid", "one of 'tpe', 'random'"),
    ("pruner", "asha", "one of 'median', 'patient', 'hyperband', 'halving', 'none'"),
]


def _expected_message(owner: str, name: str, expected: str, value: Any) -> str:
    return (rf"^The '{name}' parameter of {owner} must be {re.escape(expected)}.*"
            rf"Got {re.escape(repr(value))} instead\.$")


@pytest.mark.parametrize(("name", "value", "expected"), TRAIN_INVALID,
                         ids=[f"{n}={v!r}" for n, v, _ in TRAIN_INVALID])
def test_train_config_rejects_invalid_values(name: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=_expected_message("TrainConfig", name, expected, value)):
        TrainConfig(**{name: value})


@pytest.mark.parametrize(("name", "value", "expected"), SEARCH_INVALID,
                         ids=[f"{n}={v!r}" for n, v, _ in SEARCH_INVALID])
def test_search_config_rejects_invalid_values(name: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=_expected_message("SearchConfig", name, expected, value)):
        SearchConfig(csv_path=CSV, **{name: value})


def test_config_error_is_an_automl_error() -> None:
    """The CLI catches AutoMLError; a bad config must be one of those, not a bare ValueError."""
    with pytest.raises(AutoMLError):
        TrainConfig(patience=0)


def test_message_matches_sklearn_wording_exactly() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(patience=0)
    assert str(info.value) == ("The 'patience' parameter of TrainConfig must be an int in the "
                               "range [1, inf). Got 0 instead.")


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_train_config_accepts_known_devices(device: str) -> None:
    assert TrainConfig(device=device).device == device


def test_train_config_defaults() -> None:
    cfg = TrainConfig()
    assert (cfg.max_epochs, cfg.patience, cfg.min_delta, cfg.eval_batch_size, cfg.device) == (
        60, 16, 0.0, 8192, "auto")


def test_search_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    monkeypatch.delenv(TRACKING_ENV, raising=False)
    cfg = SearchConfig(csv_path=CSV)
    assert cfg.n_trials == 20 and cfg.timeout_s is None and cfg.seed == 0
    assert SearchConfig(csv_path=CSV, timeout_s=60).n_trials is None  # as many as fit
    assert cfg.target is None and cfg.task is None and cfg.metric is None
    assert (cfg.val_fraction, cfg.test_fraction, cfg.folds) == (None, None, None)
    assert cfg.sampler is SamplerKind.TPE and cfg.pruner is None  # by the table: see plan
    assert cfg.storage_url == DEFAULT_STORAGE and cfg.tracking_uri == DEFAULT_TRACKING_URI
    assert cfg.train == TrainConfig()


def test_search_config_reads_store_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORAGE_ENV, "sqlite:///elsewhere.db")
    monkeypatch.setenv(TRACKING_ENV, "sqlite:///runs.db")
    cfg = SearchConfig(csv_path=CSV)
    assert (cfg.storage_url, cfg.tracking_uri) == ("sqlite:///elsewhere.db", "sqlite:///runs.db")


@pytest.mark.parametrize(("field", "value"), [
    ("n_trials", 1), ("timeout_s", 0.5), ("val_fraction", 0.5), ("val_fraction", 0.01),
    ("test_fraction", 0.0), ("n_startup_trials", 0), ("threads", 1), ("task", "regression"),
])
def test_search_config_accepts_boundary_values(field: str, value: Any) -> None:
    assert getattr(SearchConfig(csv_path=CSV, **{field: value}), field) == value


def test_sampler_and_pruner_strings_become_enums() -> None:
    cfg = SearchConfig(csv_path=CSV, sampler="random", pruner="hyperband")  # type: ignore[arg-type]
    assert cfg.sampler is SamplerKind.RANDOM and cfg.pruner is PrunerKind.HYPERBAND


def test_configs_are_frozen_and_keyword_only() -> None:
    cfg = TrainConfig()
    with pytest.raises(AttributeError):
        cfg.patience = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        TrainConfig(60)  # type: ignore[misc]


def test_replace_returns_changed_copy_and_keeps_the_rest() -> None:
    cfg = SearchConfig(csv_path=CSV, n_trials=7, seed=3, train=TrainConfig(max_epochs=5))
    new = replace(cfg, n_trials=11, task="binary")
    assert (new.n_trials, new.task) == (11, "binary")
    assert (new.seed, new.train, new.csv_path) == (3, TrainConfig(max_epochs=5), CSV)
    assert cfg.n_trials == 7 and cfg.task is None  # the original is untouched


def test_replace_validates_again() -> None:
    cfg = SearchConfig(csv_path=CSV)
    with pytest.raises(ConfigError, match="'val_fraction' parameter of SearchConfig"):
        replace(cfg, val_fraction=0.9)
