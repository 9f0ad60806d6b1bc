"""Reliability II (issue 14): a study never ends half-made, through real ``automl`` processes.

Each case runs the command line as a user would (real SQLite, and PostgreSQL where the fault
concerns a shared storage), then reads both ledgers: the Optuna study and the MLflow runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from test_workers import automl_env, check_ledgers, run, search_args

from automl.storage import load_study

pytestmark = pytest.mark.slow


def _runs(tracking: str) -> list:
    """Every run of every experiment in the store, deleted ones included."""
    client = MlflowClient(tracking)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    return client.search_runs([e.experiment_id for e in experiments],
                              run_view_type=ViewType.ALL, max_results=1000)


def _stores(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path}/studies/s.db", f"sqlite:///{tmp_path}/mlruns/mlflow.db"


# ------------------------------------------- 1. a timeout shorter than one trial, then resume
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_timeout_shorter_than_a_trial_claims_nothing_and_resume_builds_the_final_model(
        backend: str, make_csv: Callable[..., Path], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    storage, tracking = _stores(tmp_path)
    study = f"short-{os.getpid()}-{tmp_path.name[-12:]}".replace("_", "-")
    if backend == "postgres":
        storage = request.getfixturevalue("pg_url")
    env = automl_env(storage, tracking)
    csv = make_csv()

    first = run([*search_args(csv, study, 2), "--timeout", "1"], env)
    assert first.returncode == 0, first.stderr
    attrs = load_study(storage, study).user_attrs
    assert not [k for k in attrs if k.startswith("final_step_")], "a run of no trial claimed"
    assert all(r.info.status != "RUNNING" for r in _runs(tracking)), "parent run left RUNNING"
    shown = run(["show", study], env)
    assert (f"2 trials waiting: warm-start configurations the search queued and had no time "
            f"for; `automl resume {study}` runs them first") in " ".join(shown.stdout.split())

    resumed = run(["resume", study], env)
    assert resumed.returncode == 0, resumed.stderr
    assert "built by another worker" not in resumed.stdout
    done = load_study(storage, study)
    finished = [t for t in done.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 2
    assert done.user_attrs["final_model"]["run_id"]
    assert done.user_attrs["test_metrics"]
    assert all(r.info.status != "RUNNING" for r in _runs(tracking))
    check_ledgers(tracking, storage, study)


# --------------------------------------------- 4. names checked before anything is created
def test_a_study_name_no_file_system_can_hold_is_refused_before_anything_exists(
        make_csv: Callable[..., Path], tmp_path: Path) -> None:
    storage, tracking = _stores(tmp_path)
    done = run(search_args(make_csv(), "s" * 300, 2), automl_env(storage, tracking))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: study name"), done.stderr
    assert "letters, digits" in lines[0]
    assert not (tmp_path / "studies" / "s.db").exists()
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()


def test_a_failure_after_the_study_is_created_rolls_it_back(
        make_csv: Callable[..., Path], tmp_path: Path) -> None:
    """The MLflow artifact folder cannot be made (a file is in its way): the study that was
    just created is removed again and its parent run closed, so nothing is half-made."""
    storage, tracking = _stores(tmp_path)
    (tmp_path / "mlruns").mkdir()
    (tmp_path / "mlruns" / "artifacts").write_text("not a folder")
    done = run(search_args(make_csv(), "blocked", 2), automl_env(storage, tracking))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "artifact" in lines[0], done.stderr
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    assert "blocked" not in names
    assert all(r.info.status != "RUNNING" for r in _runs(tracking))
    assert all(r.info.lifecycle_stage == "deleted" for r in _runs(tracking))


# -------------------------------------------------------- 5. predict into a missing folder
def test_predict_into_a_folder_that_does_not_exist_names_the_folder(
        make_csv: Callable[..., Path], tmp_path: Path) -> None:
    """The output is checked before any work: no study needs to exist to be told."""
    storage, tracking = _stores(tmp_path)
    missing = tmp_path / "no" / "such" / "pred.csv"
    done = run(["predict", "any-study", str(make_csv()), "-o", str(missing)],
               automl_env(storage, tracking))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"the folder {missing.parent} does not exist" in lines[0]
    assert "mkdir -p" in lines[0] and "None" not in lines[0]
    assert not missing.parent.exists()
