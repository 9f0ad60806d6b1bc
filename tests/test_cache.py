"""The prepared-data cache: a continuation maps a big table's matrix instead of reading it."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

import automl.plan
from automl import cache
from automl.config import ColumnChoices, SearchConfig
from automl.features import TensorSplits
from automl.plan import SearchPlan, prepare_search
from tests.conftest import write_csv


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SearchConfig:
    """A search of a 600-row CSV whose studies (and so the cache) live under ``tmp_path``;
    every table counts as big enough to cache."""
    monkeypatch.setattr(cache, "CACHE_ABOVE_ROWS", 0)
    csv = write_csv(tmp_path / "data.csv", n_rows=600)
    frame = pd.read_csv(csv)  # and a categorical of 50 levels, so the inputs hold a code
    frame.assign(shop=[f"shop{i % 50}" for i in range(600)]).to_csv(csv, index=False)
    return SearchConfig(csv_path=csv, target="y",
                        storage_url=f"sqlite:///{tmp_path}/studies/automl.db")


def _cache(cfg: SearchConfig) -> Path:
    return Path(cfg.storage_url.removeprefix("sqlite:///")).parent / "cache"


def _entries(cfg: SearchConfig) -> list[Path]:
    return sorted(_cache(cfg).iterdir()) if _cache(cfg).exists() else []


def _same_data(a: SearchPlan, b: SearchPlan) -> None:
    assert a.fingerprint == b.fingerprint and a.schema == b.schema
    assert a.validation == b.validation and a.preprocessor.to_dict() == b.preprocessor.to_dict()
    for field in dataclasses.fields(TensorSplits):
        mine, theirs = getattr(a.tensors, field.name), getattr(b.tensors, field.name)
        assert torch.equal(mine, theirs) if isinstance(mine, torch.Tensor) else mine == theirs
    assert b.tensors.cardinalities == (51,)


def test_a_continuation_maps_the_cached_matrix_without_reading_the_csv(
        config: SearchConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    first = prepare_search(config)
    assert not first.cached and not _entries(config)  # preparing writes nothing
    first.keep_data()
    assert len(_entries(config)) == 1

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the CSV was read again")

    monkeypatch.setattr(automl.plan, "load_dataset", no_reading)
    again = prepare_search(config)
    assert again.cached
    _same_data(first, again)
    resumed = first.settings().to_config(study_name=first.study_name,
                                         storage_url=config.storage_url)
    assert prepare_search(resumed).cached  # the stored split is the one it was made with


@pytest.mark.parametrize("change", [{"seed": 1}, {"val_fraction": 0.3}, {"test_fraction": 0.2},
                                    {"target": "x2"},
                                    {"column_choices": ColumnChoices(categorical=("x2",))}])
def test_another_split_or_reading_of_the_same_file_reads_the_csv(
        config: SearchConfig, change: dict[str, object]) -> None:
    prepare_search(config).keep_data()
    other = prepare_search(replace(config, **change))  # type: ignore[arg-type]
    assert not other.cached


def test_a_changed_file_is_read_again_and_replaces_its_old_entry(config: SearchConfig) -> None:
    first = prepare_search(config)
    first.keep_data()
    path = Path(config.csv_path)
    stat = path.stat()
    write_csv(path, n_rows=600, seed=1)  # other values, the same size and shape
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = prepare_search(config)
    assert not changed.cached and changed.fingerprint != first.fingerprint
    changed.keep_data()
    assert len(_entries(config)) == 1  # the old file's entry is gone
    assert prepare_search(config).cached


def test_a_small_table_is_not_cached(config: SearchConfig,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "CACHE_ABOVE_ROWS", 100_000)
    prepare_search(config).keep_data()
    assert not _cache(config).exists()


@pytest.mark.parametrize(("file", "content"), [("x_train.npy", "not an array"),
                                               ("meta.json", '{"made_for": {}}'),
                                               ("meta.json", "[1, 2")])
def test_a_damaged_entry_is_read_past(config: SearchConfig, file: str, content: str) -> None:
    prepare_search(config).keep_data()
    (_entries(config)[0] / file).write_text(content)
    assert not prepare_search(config).cached


def test_a_cache_that_cannot_be_written_leaves_the_search_going(
        config: SearchConfig, caplog: pytest.LogCaptureFixture) -> None:
    _cache(config).parent.mkdir(parents=True)
    _cache(config).write_text("a file where the cache folder would be")
    prepare_search(config).keep_data()  # no error: the cache only saves time
    assert "could not cache the prepared data" in caplog.text
    assert not prepare_search(config).cached
