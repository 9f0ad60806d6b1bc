"""``automl delete``: a study leaves both ledgers, only when asked, never while it runs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from cli_helpers import one_error_line
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.errors import ConfigError
from automl.ledger import delete_study, plan_deletion
from automl.tracking import MlflowRuns


def _automl(*args: str, answer: str | None = None) -> tuple[int, str]:
    """Run ``automl ARGS`` with ``answer`` on stdin; returns (exit code, stderr)."""
    result = CliRunner().invoke(app, list(args), input=answer)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def _runs(tracking_uri: str, study: str, view: int = ViewType.ACTIVE_ONLY) -> set[str]:
    """The ids of ``study``'s runs in its experiment (named after it)."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study)
    runs = client.search_runs([experiment.experiment_id], run_view_type=view,
                              filter_string=f"tags.`automl.study` = '{study}'")
    return {run.info.run_id for run in runs}


def _studies(storage_url: str) -> set[str]:
    return {s.study_name for s in optuna.get_all_study_summaries(storage_url)}


@pytest.fixture
def searched(make_csv: Callable[..., Path], tmp_storage_url: str,
             tmp_tracking_uri: str) -> Callable[[str], list[str]]:
    """Run a one-trial search of study ``name``; returns the store options."""
    csv = make_csv()
    stores = ["--storage", tmp_storage_url, "--tracking-uri", tmp_tracking_uri]

    def search(name: str) -> list[str]:
        code, stderr = _automl("search", str(csv), "--target", "y", "--study", name,
                               "--n-trials", "1", "--max-epochs", "1", "--threads", "1",
                               *stores)
        assert code == 0, stderr
        return stores

    return search


def test_a_deleted_study_leaves_both_ledgers_and_its_name_starts_afresh(
        searched: Callable[[str], list[str]], tmp_storage_url: str,
        tmp_tracking_uri: str) -> None:
    stores = searched("gone")
    searched("kept")
    before = _runs(tmp_tracking_uri, "gone")
    kept = _runs(tmp_tracking_uri, "kept")
    assert len(before) >= 3  # the parent, the trial, the final model

    code, stderr = _automl("delete", "gone", "--yes", *stores)
    assert code == 0, stderr
    said = " ".join(stderr.split())
    assert f"deleted study 'gone' (1 complete) from {tmp_storage_url} and its {len(before)} " \
           f"MLflow runs from {tmp_tracking_uri}" in said
    assert "mlflow gc" in said
    assert _studies(tmp_storage_url) == {"kept"}
    assert _runs(tmp_tracking_uri, "gone") == set()
    assert _runs(tmp_tracking_uri, "gone", ViewType.DELETED_ONLY) == before  # until mlflow gc
    assert _runs(tmp_tracking_uri, "kept") == kept

    searched("gone")  # the name again: a new study, whose runs are its own only
    again = _runs(tmp_tracking_uri, "gone")
    assert again and not again & before
    assert optuna.load_study(study_name="gone", storage=tmp_storage_url).trials[0].number == 0


def test_nothing_is_deleted_without_a_yes(searched: Callable[[str], list[str]],
                                          tmp_storage_url: str, tmp_tracking_uri: str) -> None:
    stores = searched("asked")
    runs = _runs(tmp_tracking_uri, "asked")
    for answer in ("n\n", None):  # no, and no answer (stdin closed, as in a script)
        code, stderr = _automl("delete", "asked", *stores, answer=answer)
        assert code == 1
        assert "delete study 'asked' (1 complete)" in stderr and "nothing deleted" in stderr
        assert _studies(tmp_storage_url) == {"asked"} and _runs(tmp_tracking_uri, "asked") == runs

    code, stderr = _automl("delete", "asked", *stores, answer="y\n")
    assert code == 0, stderr
    assert _studies(tmp_storage_url) == set()


def test_a_study_with_a_running_trial_is_not_deleted(tmp_storage_url: str,
                                                     tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    study = optuna.create_study(study_name="busy", storage=tmp_storage_url)
    study.ask()  # a trial some live process is running
    code, stderr = _automl("delete", "busy", "--yes", "--storage", tmp_storage_url)
    assert code == 2
    assert "has 1 running trial(s)" in one_error_line(stderr)
    assert _studies(tmp_storage_url) == {"busy"}


def test_a_deletion_pointed_elsewhere_or_cut_short_is_finished_by_running_it_again(
        searched: Callable[[str], list[str]], tmp_storage_url: str, tmp_tracking_uri: str,
        tmp_path: Path, _migrated_mlflow_db: Path) -> None:
    stores = searched("halfway")
    (tmp_path / "other").mkdir()
    shutil.copy(_migrated_mlflow_db, tmp_path / "other" / "mlflow.db")  # never saw its runs
    code, stderr = _automl("delete", "halfway", "--yes", "--storage", tmp_storage_url,
                           "--tracking-uri", f"sqlite:///{tmp_path}/other/mlflow.db")
    assert code == 2
    assert "the MLflow runs of study 'halfway' are not in" in one_error_line(stderr)
    assert _studies(tmp_storage_url) == {"halfway"}

    MlflowRuns(tmp_tracking_uri).delete_runs(sorted(_runs(tmp_tracking_uri, "halfway")))
    code, stderr = _automl("delete", "halfway", "--yes", *stores)  # its runs went, not it
    assert code == 0, stderr
    assert "deleted study 'halfway' (1 complete)" in stderr
    assert _studies(tmp_storage_url) == set()


def test_a_trial_started_after_the_question_stops_the_deletion(tmp_storage_url: str,
                                                               tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    study = optuna.create_study(study_name="joined", storage=tmp_storage_url)
    deletion = plan_deletion(tmp_storage_url, "joined")  # asked: nothing is running yet
    study.ask()  # a worker starts a trial while the user reads the question
    with pytest.raises(ConfigError, match="has 1 running trial"):
        delete_study(deletion)
    assert _studies(tmp_storage_url) == {"joined"}
