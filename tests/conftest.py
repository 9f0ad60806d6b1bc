"""Shared fixtures: seeding, tiny CSV factory, fast configs, and pre-migrated MLflow stores."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from automl.config import SearchConfig, TrainConfig
from automl.plan import SearchPlan, prepare_search
from automl.session import SearchSummary, run_search

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _seeded() -> None:
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: intra-op threads only add contention on shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_csv(path: Path, task: str = "binary", n_rows: int = 120, missing: bool = False,
              categoricals: bool = True, seed: int = 0) -> Path:
    """Write a small synthetic CSV with a learnable target to ``path``; returns it."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n_rows), rng.normal(size=n_rows)
    frame = pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4)})
    if categoricals:
        frame["color"] = rng.choice(["red", "green", "blue"], size=n_rows)
    signal = x1 + 0.5 * x2
    if task == "binary":
        frame["y"] = np.where(signal > 0, "yes", "no")
    elif task == "multiclass":
        frame["y"] = np.digitize(signal, [-0.5, 0.5]).astype(int)
        frame["y"] = frame["y"].map({0: "low", 1: "mid", 2: "high"})
    else:
        frame["y"] = (3 * signal + rng.normal(scale=0.1, size=n_rows)).round(4)
    if missing:
        frame.loc[rng.random(n_rows) < 0.1, "x1"] = np.nan
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a small synthetic CSV with a learnable target; returns its path."""

    def make(task: str = "binary", n_rows: int = 120, missing: bool = False,
             categoricals: bool = True, name: str = "data.csv", seed: int = 0) -> Path:
        return write_csv(tmp_path / name, task=task, n_rows=n_rows, missing=missing,
                         categoricals=categoricals, seed=seed)

    return make


@pytest.fixture
def fast_train_cfg() -> TrainConfig:
    return TrainConfig(max_epochs=3, patience=2, device="cpu")


@pytest.fixture(scope="session")
def _migrated_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow SQLite store migrated once per session (migration takes seconds)."""
    from automl.tracking import MlflowTracker

    folder = tmp_path_factory.mktemp("mlflow-template")
    MlflowTracker(f"sqlite:///{folder}/mlflow.db", "template")
    with closing(sqlite3.connect(folder / "mlflow.db")) as db:  # WAL: the schema into the file,
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # so a copy of the file alone holds it
    return folder / "mlflow.db"


@pytest.fixture
def tmp_tracking_uri(tmp_path: Path, _migrated_mlflow_db: Path) -> str:
    """A fresh, already-migrated MLflow store for this test."""
    folder = tmp_path / "mlruns"
    folder.mkdir()
    shutil.copy(_migrated_mlflow_db, folder / "mlflow.db")
    return f"sqlite:///{folder}/mlflow.db"


def tiny_search_config(folder: Path, migrated_db: Path, task: str = "binary",
                       **changes: object) -> SearchConfig:
    """What ``search_cfg(task, **changes)`` gives, in ``folder`` (its CSV and both stores),
    for a study that fixtures of a wider scope search once and share with read-only tests."""
    (folder / "mlruns").mkdir(parents=True)
    shutil.copy(migrated_db, folder / "mlruns" / "mlflow.db")
    values: dict[str, object] = dict(
        csv_path=write_csv(folder / "data.csv", task=task), target="y",
        study_name=f"test-{task}", n_trials=3, storage_url=f"sqlite:///{folder}/studies/optuna.db",
        tracking_uri=f"sqlite:///{folder}/mlruns/mlflow.db", threads=1, n_startup_trials=2,
        n_warmup_epochs=1, train=TrainConfig(max_epochs=3, patience=2, device="cpu"))
    values.update(changes)
    return SearchConfig(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SharedStudy:
    """A finished study, the plan it was searched with and what the search returned."""

    cfg: SearchConfig
    plan: SearchPlan
    summary: SearchSummary


@pytest.fixture(scope="session")
def shared_study(tmp_path_factory: pytest.TempPathFactory,
                 _migrated_mlflow_db: Path) -> Callable[..., SharedStudy]:
    """``shared_study(task, **changes)``: the study ``search_cfg(task, n_trials=2, **changes)``
    searches (2 trials, 3 epochs, 120 rows, study ``test-<task>``), searched at its first use
    and then shared by every test that asks for the same task and changes in this session.

    Its users only read it: no trial, run or final model is added, and files are written
    elsewhere. (The one write: tests/test_predict.py registers model versions of the default
    regression study's parent run in its MLflow registry; nothing else reads that registry.)
    """
    done: dict[tuple[str, tuple[tuple[str, object], ...]], SharedStudy] = {}

    def get(task: str, **changes: object) -> SharedStudy:
        key = (task, tuple(sorted(changes.items())))
        if key not in done:
            folder = tmp_path_factory.mktemp(f"shared-{task}")
            cfg = tiny_search_config(folder, _migrated_mlflow_db, task, n_trials=2, **changes)
            plan = prepare_search(cfg)
            done[key] = SharedStudy(cfg=cfg, plan=plan, summary=run_search(plan))
        return done[key]

    return get


@pytest.fixture
def tmp_storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/studies/optuna.db"


@pytest.fixture
def search_cfg(make_csv: Callable[..., Path], tmp_storage_url: str, tmp_tracking_uri: str,
               fast_train_cfg: TrainConfig) -> Callable[..., SearchConfig]:
    """A SearchConfig factory on a tiny CSV, temporary stores and 3-epoch training."""

    def make(task: str = "binary", **changes: object) -> SearchConfig:
        values: dict[str, object] = dict(
            csv_path=make_csv(task=task), target="y", study_name=f"test-{task}", n_trials=3,
            storage_url=tmp_storage_url, tracking_uri=tmp_tracking_uri, threads=1,
            n_startup_trials=2, n_warmup_epochs=1, train=fast_train_cfg)
        values.update(changes)
        return SearchConfig(**values)  # type: ignore[arg-type]

    return make


def postgres_url() -> str:
    return os.environ.get("AUTOML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The reachable PostgreSQL URL (SQLAlchemy/psycopg form: plain ``postgresql://``); skips
    with the reason when unreachable, except under ``CI=true``, where that fails."""
    import psycopg

    url = postgres_url()
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("select 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {url} ({type(exc).__name__}): set " \
                 "AUTOML_TEST_POSTGRES_URL or start the service"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url
