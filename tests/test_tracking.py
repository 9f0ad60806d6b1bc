"""The Tracker contract, run on every implementation, plus what MLflow users see in the store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl.errors import ConfigError
from automl.stores import mask as mask_url
from automl.tracking import (
    RUN_STATUS,
    MlflowTracker,
    NullTracker,
    Tracker,
    TrackingCallback,
)
from automl.train import EpochLog

STATES = ("COMPLETE", "PRUNED", "FAIL")
STUDY_TAGS = {"automl.space_version": "1"}
STUDY_PARAMS = {"task": "binary", "metric": "roc_auc", "n_trials": 3}


def _db_folder(tracking_uri: str) -> Path:
    return Path(tracking_uri.removeprefix("sqlite:///")).parent


@pytest.fixture(params=["null", "mlflow"])
def tracker(request: pytest.FixtureRequest) -> Iterator[Tracker]:
    """Each Tracker implementation; the MLflow one on a fresh, pre-migrated SQLite store."""
    if request.param == "null":
        yield NullTracker()
    else:
        uri = request.getfixturevalue("tmp_tracking_uri")
        yield MlflowTracker(uri, "contract")


class TestTrackerContract:
    """What the search relies on, whichever tracker records the trials."""

    def test_start_study_returns_a_run_id(self, tracker: Tracker) -> None:
        run_id = tracker.start_study("contract", parent_run_id=None, tags=STUDY_TAGS,
                                     params=STUDY_PARAMS)
        assert isinstance(run_id, str) and run_id

    def test_start_study_reuses_the_given_parent(self, tracker: Tracker) -> None:
        first = tracker.start_study("contract", parent_run_id=None, tags=STUDY_TAGS,
                                    params=STUDY_PARAMS)
        tracker.end_study(first)
        again = tracker.start_study("contract", parent_run_id=first, tags=STUDY_TAGS,
                                    params=STUDY_PARAMS)
        assert again == first

    def test_start_trial_returns_distinct_ids(self, tracker: Tracker) -> None:
        tracker.start_study("contract", parent_run_id=None, tags=STUDY_TAGS, params={})
        ids = [tracker.start_trial(n, {"lr": 0.001 * (n + 1)}) for n in range(3)]
        assert all(isinstance(i, str) and i for i in ids)
        assert len(set(ids)) == 3

    @pytest.mark.parametrize("state", STATES)
    def test_end_trial_accepts_every_final_state(self, tracker: Tracker, state: str) -> None:
        parent = tracker.start_study("contract", parent_run_id=None, tags=STUDY_TAGS, params={})
        run_id = tracker.start_trial(0, {"lr": 0.01})
        tracker.log_metrics(run_id, {"val_roc_auc": 0.7, "train_loss": 0.5}, step=0)
        tracker.end_trial(run_id, state, {"best_val_roc_auc": 0.7, "best_epoch": 0})
        tracker.end_study(parent)

    def test_no_trial_run_is_left_running_once_ended(self, tracker: Tracker) -> None:
        parent = tracker.start_study("contract", parent_run_id=None, tags=STUDY_TAGS, params={})
        ids = [tracker.start_trial(n, {}) for n in range(2)]
        for run_id, state in zip(ids, ("COMPLETE", "PRUNED"), strict=True):
            tracker.end_trial(run_id, state, {})
        assert tracker.running_trial_runs(parent) == {}

    def test_download_of_a_missing_artifact_is_none(self, tracker: Tracker,
                                                    tmp_path: Path) -> None:
        tracker.start_study("contract", parent_run_id=None, tags=STUDY_TAGS, params={})
        run_id = tracker.start_trial(0, {})
        assert tracker.download_dir(run_id, "model", tmp_path) is None


# ----------------------------------------------------------------------------- MLflow-specific
@pytest.fixture
def mlflow_tracker(tmp_tracking_uri: str) -> MlflowTracker:
    tracker = MlflowTracker(tmp_tracking_uri, "my-study")
    tracker.start_study("my-study", parent_run_id=None, tags=STUDY_TAGS, params=STUDY_PARAMS)
    return tracker


@pytest.fixture
def client(tmp_tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tmp_tracking_uri)


@pytest.mark.parametrize(("state", "status"), [("COMPLETE", "FINISHED"), ("PRUNED", "KILLED"),
                                                ("FAIL", "FAILED")])
def test_trial_run_status_mirrors_the_trial_state(mlflow_tracker: MlflowTracker,
                                                  client: MlflowClient, state: str,
                                                  status: str) -> None:
    run_id = mlflow_tracker.start_trial(4, {"lr": 0.01})
    assert client.get_run(run_id).info.status == "RUNNING"
    mlflow_tracker.end_trial(run_id, state, {"best_epoch": 2})
    run = client.get_run(run_id)
    assert run.info.status == status == RUN_STATUS[state]
    assert run.data.tags["automl.state"] == state
    assert run.data.metrics["best_epoch"] == 2


def test_an_interrupted_trial_run_is_killed(mlflow_tracker: MlflowTracker,
                                            client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(0, {})
    mlflow_tracker.end_trial(run_id, "INTERRUPTED", {})
    assert client.get_run(run_id).info.status == "KILLED"


def test_running_trial_runs_lists_the_open_children(mlflow_tracker: MlflowTracker) -> None:
    parent = mlflow_tracker.parent_run_id
    assert parent is not None
    done, open_ = mlflow_tracker.start_trial(0, {}), mlflow_tracker.start_trial(1, {})
    mlflow_tracker.end_trial(done, "COMPLETE", {})
    assert mlflow_tracker.running_trial_runs(parent) == {open_: 1}


def test_reopening_a_parent_from_another_store_is_a_config_error(
        mlflow_tracker: MlflowTracker) -> None:
    with pytest.raises(ConfigError, match="--tracking-uri the study was made with"):
        mlflow_tracker.start_study("my-study", parent_run_id="0" * 32, tags={}, params={})


def test_unknown_state_closes_the_run_as_failed(mlflow_tracker: MlflowTracker,
                                                client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(0, {})
    mlflow_tracker.end_trial(run_id, "RUNNING", {})
    assert client.get_run(run_id).info.status == "FAILED"


def test_trial_runs_are_tagged_children_of_the_study_run(mlflow_tracker: MlflowTracker,
                                                         client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(7, {"lr": 0.01})
    run = client.get_run(run_id)
    assert run.data.tags["automl.study"] == "my-study"
    assert run.data.tags["automl.trial"] == "7"
    assert run.data.tags["automl.state"] == "RUNNING"
    assert run.data.tags["mlflow.parentRunId"] == mlflow_tracker.parent_run_id
    assert run.info.run_name == "trial-0007"
    assert run.info.experiment_id == mlflow_tracker.experiment_id


def test_study_run_carries_tags_and_params(mlflow_tracker: MlflowTracker,
                                           client: MlflowClient) -> None:
    assert mlflow_tracker.parent_run_id is not None
    run = client.get_run(mlflow_tracker.parent_run_id)
    assert run.info.run_name == "my-study"
    assert run.data.tags["automl.study"] == "my-study"
    assert run.data.tags["automl.space_version"] == "1"
    assert run.data.params == {k: str(v) for k, v in STUDY_PARAMS.items()}


def test_params_are_logged_once_and_kept_when_the_study_reopens(
        mlflow_tracker: MlflowTracker, client: MlflowClient) -> None:
    parent = mlflow_tracker.parent_run_id
    assert parent is not None
    mlflow_tracker.end_study(parent)
    # A resumed study must not try to re-log (MLflow refuses changed param values).
    mlflow_tracker.start_study("my-study", parent_run_id=parent, tags=STUDY_TAGS,
                               params={**STUDY_PARAMS, "n_trials": 10})
    run = client.get_run(parent)
    assert run.info.status == "RUNNING"
    assert run.data.params["n_trials"] == "3"


def test_trial_params_are_logged_as_strings(mlflow_tracker: MlflowTracker,
                                            client: MlflowClient) -> None:
    params = {"lr": 0.001, "n_blocks": 3, "optimizer": "adamw", "sgd_nesterov": False}
    run_id = mlflow_tracker.start_trial(0, params)
    assert client.get_run(run_id).data.params == {k: str(v) for k, v in params.items()}


def test_many_params_are_all_logged(mlflow_tracker: MlflowTracker,
                                    client: MlflowClient) -> None:
    params = {f"p{i:03d}": i for i in range(150)}  # more than one log_batch call
    run_id = mlflow_tracker.start_trial(0, params)
    assert len(client.get_run(run_id).data.params) == 150


def _epoch(epoch: int, score: float, val_loss: float = 0.5) -> EpochLog:
    return EpochLog(epoch=epoch, train_loss=1.0 / (epoch + 1), val={"roc_auc": score},
                    score=score, lr=0.01, seconds=0.1, val_loss=val_loss)


def test_epoch_metrics_have_one_point_per_epoch(mlflow_tracker: MlflowTracker,
                                                client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(0, {})
    callback = TrackingCallback(mlflow_tracker, run_id)
    scores = [0.6, 0.7, 0.75]
    for epoch, score in enumerate(scores):
        assert callback.on_epoch_end(_epoch(epoch, score)) is None
    assert client.get_metric_history(run_id, "val_roc_auc") == []  # a short trial: one write
    callback.flush()
    history = client.get_metric_history(run_id, "val_roc_auc")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == list(
        enumerate(scores))
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [0, 1, 2]
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [0, 1, 2]


def test_a_regression_epoch_logs_no_validation_loss(mlflow_tracker: MlflowTracker,
                                                    client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(0, {})
    callback = TrackingCallback(mlflow_tracker, run_id)
    callback.on_epoch_end(_epoch(0, 0.6, val_loss=math.nan))
    callback.flush()
    assert client.get_metric_history(run_id, "val_loss") == []
    assert len(client.get_metric_history(run_id, "train_loss")) == 1


def test_a_long_trial_writes_its_epochs_as_it_goes(mlflow_tracker: MlflowTracker,
                                                   client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(0, {})
    callback = TrackingCallback(mlflow_tracker, run_id, flush_s=0.0)  # every epoch is "late"
    for epoch, score in enumerate([0.6, 0.7]):
        callback.on_epoch_end(_epoch(epoch, score))
        assert len(client.get_metric_history(run_id, "val_roc_auc")) == epoch + 1


def test_non_finite_metrics_are_skipped(mlflow_tracker: MlflowTracker,
                                        client: MlflowClient) -> None:
    run_id = mlflow_tracker.start_trial(0, {})
    mlflow_tracker.log_metrics(run_id, {"a": math.nan, "b": math.inf, "c": 1.5}, step=1)
    assert client.get_run(run_id).data.metrics == {"c": 1.5}


def test_artifacts_live_beside_the_sqlite_store(tmp_tracking_uri: str,
                                                mlflow_tracker: MlflowTracker,
                                                client: MlflowClient, tmp_path: Path) -> None:
    experiment = client.get_experiment(mlflow_tracker.experiment_id)
    artifacts = (_db_folder(tmp_tracking_uri).resolve() / "artifacts").as_uri()
    assert experiment.name == "my-study"
    assert experiment.artifact_location == f"{artifacts}/my-study"

    source = tmp_path / "model"
    source.mkdir()
    (source / "bundle.json").write_text('{"format": 1}')
    run_id = mlflow_tracker.start_trial(0, {})
    mlflow_tracker.log_dir(run_id, source, "model")
    stored = list((_db_folder(tmp_tracking_uri) / "artifacts" / "my-study").rglob("bundle.json"))
    assert len(stored) == 1
    fetched = mlflow_tracker.download_dir(run_id, "model", tmp_path / "fetched")
    assert fetched is not None
    assert (fetched / "bundle.json").read_text() == '{"format": 1}'


def test_experiment_names_become_safe_artifact_folders(tmp_tracking_uri: str,
                                                       client: MlflowClient) -> None:
    tracker = MlflowTracker(tmp_tracking_uri, "churn 2024/v2")
    location = client.get_experiment(tracker.experiment_id).artifact_location
    assert location.endswith("/artifacts/churn_2024_v2")


def test_the_experiment_is_reused_and_restored(tmp_tracking_uri: str,
                                               client: MlflowClient) -> None:
    first = MlflowTracker(tmp_tracking_uri, "again").experiment_id
    assert MlflowTracker(tmp_tracking_uri, "again").experiment_id == first
    client.delete_experiment(first)
    assert MlflowTracker(tmp_tracking_uri, "again").experiment_id == first
    assert client.get_experiment(first).lifecycle_stage == "active"


def test_an_unusable_store_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError, match="--tracking-uri") as caught:
        MlflowTracker("foo://user:secret@host/x", "e")
    assert "secret" not in str(caught.value)
    assert "user:***@host" in str(caught.value)


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://user:secret@db:5432/automl", "postgresql://user:***@db:5432/automl"),
    ("postgresql+psycopg2://u:p%40ss@db/automl", "postgresql+psycopg2://u:***@db/automl"),
    ("http://admin:hunter2@mlflow.example.com:5000", "http://admin:***@mlflow.example.com:5000"),
    ("https://mlflow.example.com", "https://mlflow.example.com"),
    ("postgresql://user@db/automl", "postgresql://user@db/automl"),
    ("sqlite:///mlruns/mlflow.db", "sqlite:///mlruns/mlflow.db"),
    ("sqlite:////tmp/a:b/mlflow.db", "sqlite:////tmp/a:b/mlflow.db"),
])
def test_mask_url_hides_only_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked
