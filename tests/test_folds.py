"""Small data (issue 12): cross-validated trial scores, fixed folds, bagged final models, and the
test split that stays honest; real Optuna and MLflow stores on tiny CSVs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import cli, one_error_line
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from automl.calibration import rescaled
from automl.config import (
    CV_MAX_ROWS,
    DEFAULT_FOLDS,
    MIN_TEST_ROWS,
    SearchConfig,
    TaskType,
    TrainConfig,
)
from automl.errors import ConfigError
from automl.folds import Folds, Validation, choose_validation, crossfit_epochs
from automl.metrics import predictions
from automl.plan import prepare_search
from automl.predict import load_model
from automl.queries import resume_config
from automl.session import run_search
from automl.storage import load_study
from automl.train import predict_raw
from automl.workers import worker_config


# ----------------------------------------------------------------------------- the scheme
@pytest.mark.parametrize(("n_rows", "folds", "test_fraction", "expected"), [
    (1_000, None, None, Validation(DEFAULT_FOLDS, 0.15)),
    (2 * MIN_TEST_ROWS // 0.15 // 2, None, None, Validation(DEFAULT_FOLDS, 0.0)),  # tiny
    (1_000, None, 0.0, Validation(DEFAULT_FOLDS, 0.0)),  # --test-fraction 0: asked, not small
    (round(CV_MAX_ROWS / 0.85) + 10, None, None, Validation(1, 0.15)),  # large: one split
    (300, 1, None, Validation(1, 0.15)),  # --folds 1: one split keeps its test rows
    (300, 3, 0.2, Validation(3, 0.2)),  # asked for: kept
])
def test_small_tables_are_cross_validated_and_tiny_ones_keep_no_test_split(
        n_rows: int, folds: int | None, test_fraction: float | None,
        expected: Validation) -> None:
    assert choose_validation(int(n_rows), folds, test_fraction) == expected


def test_folds_never_outnumber_the_rows_of_the_smallest_class() -> None:
    assert choose_validation(500, None, None, smallest_class=4).folds == 3
    assert choose_validation(500, None, None, smallest_class=1).folds == 1
    with pytest.raises(ConfigError, match=r"--folds 3 or fewer"):
        choose_validation(500, 5, None, smallest_class=4)


def test_a_split_by_time_scores_trials_on_one_validation_split() -> None:
    """Folds drawn at random would score rows earlier than those they learn from."""
    assert choose_validation(300, None, None, split_by="date") == Validation(
        1, 0.15, split_by="date")
    with pytest.raises(ConfigError, match="--folds 5 with --split-by 'date'"):
        choose_validation(300, 5, None, split_by="date")


def test_a_split_by_time_or_by_group_not_both() -> None:
    with pytest.raises(ConfigError, match="--split-by with --group-by"):
        choose_validation(300, None, None, split_by="date", group_by="customer")


def test_folds_keep_each_group_whole_and_stay_stratified() -> None:
    y = np.array([0, 0, 1] * 60)
    groups = np.repeat(np.arange(36), 5)
    folds = Folds.draw(y, 5, seed=3, stratify=True, groups=groups)
    assert all(len(set(folds.assignment[groups == g])) == 1 for g in range(36))
    for fold in range(5):
        share = y[folds.assignment == fold].mean()
        assert 0.2 <= share <= 0.47  # a third positive, give or take a group


def test_folds_are_stratified_and_stored_as_text() -> None:
    y = np.array([0] * 80 + [1] * 20 + [2] * 7)
    folds = Folds.draw(y, 5, seed=3, stratify=True)
    for fold in range(5):
        counts = np.bincount(y[folds.assignment == fold], minlength=3)
        assert np.all(np.abs(counts - np.bincount(y) / 5) <= 1), counts
    assert np.array_equal(Folds.decode(folds.encode()).assignment, folds.assignment)
    assert np.array_equal(Folds.draw(y, 5, seed=3, stratify=True).assignment, folds.assignment)


# ------------------------------------------------------------------------------- the search
@pytest.fixture
def cv_search(search_cfg: Callable[..., SearchConfig]) -> Callable[..., SearchConfig]:
    """A finished 3-trial search on a 120-row table: cross-validated by default."""

    def run(task: str = "binary", **changes: object) -> SearchConfig:
        cfg = search_cfg(task, **changes)
        run_search(prepare_search(cfg))
        return cfg

    return run


@pytest.mark.parametrize(("curves", "greater", "expected"), [
    # the other folds' mean decides, never the fold's own curve
    ([[0.5, 0.9, 0.6], [0.5, 0.6, 0.8], [0.5, 0.7, 0.7]], True, [2, 1, 1]),
    ([[3.0, 1.0, 2.0], [3.0, 2.0, 1.0]], False, [2, 1]),
    # a fold that stopped early keeps its last score; a fold is scored only where it trained
    ([[0.6, 0.7], [0.5, 0.6, 0.9, 0.8]], True, [1, 1]),
    # a non-finite score is the worst; ties go to the earliest epoch
    ([[0.5, float("nan"), 0.5], [0.5, 0.5, 0.5], [0.7, float("nan"), 0.7]], True, [0, 0, 0]),
])
def test_each_fold_is_scored_at_the_epoch_the_other_folds_chose(
        curves: list[list[float]], greater: bool, expected: list[int]) -> None:
    assert crossfit_epochs(curves, greater) == expected


@pytest.mark.parametrize(("curves", "losses", "expected"), [
    # of the epochs the other folds' scores tie on, the one of their lowest mean loss
    ([[0.9, 0.9, 0.9], [0.9, 0.9, 0.9]], [[0.5, 0.3, 0.4], [0.5, 0.4, 0.2]], [2, 1]),
    # the loss only breaks ties: a better mean score wins at any loss
    ([[0.8, 0.9], [0.8, 0.9]], [[0.1, 0.9], [0.1, 0.9]], [1, 1]),
    # a fold that stopped early keeps its last loss; a missing loss breaks no tie
    ([[0.9, 0.9, 0.9], [0.9, 0.9]], [[0.5, 0.4, 0.1], [0.5, 0.2]], [1, 1]),
    ([[0.9, 0.9], [0.9, 0.9]], [[float("nan")] * 2, [float("nan")] * 2], [0, 0]),
])
def test_ties_of_the_other_folds_scores_go_to_their_lowest_loss(
        curves: list[list[float]], losses: list[list[float]], expected: list[int]) -> None:
    assert crossfit_epochs(curves, True, losses) == expected


def test_each_trial_is_scored_on_every_fold_and_the_folds_are_the_studys(
        cv_search: Callable[..., SearchConfig]) -> None:
    cfg = cv_search("binary")
    study = load_study(cfg.storage_url, cfg.study_name)
    stored = study.user_attrs["folds"]
    assert study.user_attrs["n_folds"] == DEFAULT_FOLDS == len(set(stored))
    assert len(stored) == len(pd.read_csv(cfg.csv_path))  # tiny: every row in the folds
    client = MlflowClient(cfg.tracking_uri)
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"]).data.params
    assert parent["n_folds"] == str(DEFAULT_FOLDS) and "folds" not in parent  # no digit a row
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert complete
    for trial in complete:
        scores = trial.user_attrs["fold_scores"]
        assert len(scores) == DEFAULT_FOLDS and trial.value == pytest.approx(np.mean(scores))
        history = client.get_metric_history(trial.user_attrs["mlflow_run_id"],
                                            "fold_val_roc_auc")
        assert [m.step for m in history] == list(range(DEFAULT_FOLDS))
        assert [m.value for m in history] == pytest.approx(scores)
        # the MLflow UI ranks trials by their study value: every metric where the folds are
        # scored, not at each fold's own (flattering) best epoch
        final = client.get_run(trial.user_attrs["mlflow_run_id"]).data.metrics
        assert final["best_val_roc_auc"] == pytest.approx(trial.value)
        assert {"best_val_accuracy", "best_val_log_loss", "best_val_f1"} <= set(final)
        # fold 0 is scored at one of its own epochs (chosen on the other folds): no better
        # than its best
        epochs = [m.value for m in client.get_metric_history(
            trial.user_attrs["mlflow_run_id"], "val_roc_auc")]
        assert min(abs(scores[0] - e) for e in epochs) < 1e-12 and scores[0] <= max(epochs)
    # resume and every worker rebuild the same folds (and a changed one would be refused)
    for again in (prepare_search(resume_config(cfg.storage_url, cfg.study_name)),
                  prepare_search(worker_config(cfg.storage_url, cfg.study_name,
                                               tracking_uri=cfg.tracking_uri))):
        assert again.folds is not None and again.folds.encode() == stored


def test_a_trial_stopped_after_its_first_fold_is_pruned_in_both_ledgers(
        cv_search: Callable[..., SearchConfig]) -> None:
    train = TrainConfig(max_epochs=50, patience=50, device="cpu", max_trial_seconds=1e-6)
    cfg = cv_search("binary", n_trials=1, train=train)
    (trial,) = load_study(cfg.storage_url, cfg.study_name).trials
    assert trial.state is TrialState.PRUNED and len(trial.user_attrs["fold_scores"]) == 1
    run = MlflowClient(cfg.tracking_uri).get_run(trial.user_attrs["mlflow_run_id"])
    assert (run.info.status, run.data.tags["automl.state"]) == ("KILLED", "PRUNED")


def test_the_folds_share_the_trial_time_limit_so_a_slow_trial_ends_complete(
        cv_search: Callable[..., SearchConfig]) -> None:
    # 2,000 epochs a fold take far longer than a fifth of the limit: each fold stops at its
    # share, keeping its best epoch, instead of the first folds using the limit up
    train = TrainConfig(max_epochs=2000, patience=2000, device="cpu", max_trial_seconds=2.5)
    cfg = cv_search("binary", n_trials=1, train=train)
    (trial,) = load_study(cfg.storage_url, cfg.study_name).trials
    assert trial.state is TrialState.COMPLETE and trial.user_attrs["stop_reason"] == "timeout"
    assert len(trial.user_attrs["fold_scores"]) == DEFAULT_FOLDS
    # far from five whole limits (12.5 s); the slack is for a busy machine (4.9 s measured
    # beside the suite's other test process)
    assert (trial.datetime_complete - trial.datetime_start).total_seconds() < 2.5 * 3


def test_the_final_model_is_a_bag_that_predicts_the_mean_of_its_members(
        cv_search: Callable[..., SearchConfig], tmp_path: Path) -> None:
    cfg = cv_search("multiclass")
    final = load_study(cfg.storage_url, cfg.study_name).user_attrs["final_model"]
    assert final["kind"] in ("bag", "ensemble") and final["cross_validated"]
    bundle, _ = load_model(cfg.storage_url, cfg.study_name, tracking_uri=cfg.tracking_uri)
    assert len(bundle.networks) % DEFAULT_FOLDS == 0
    assert sum(m.weight for m in bundle.networks) == pytest.approx(1.0)
    frame = pd.read_csv(cfg.csv_path)
    x = torch.from_numpy(bundle.preprocessor.transform(frame))
    mean = sum(m.weight * predictions(TaskType.MULTICLASS, predict_raw(m.network, x))
               for m in bundle.networks)
    got = bundle.predict(frame).filter(like="proba_").to_numpy()
    # the mean, at the temperature fitted on the out-of-fold outputs (automl.calibration)
    assert bundle.temperature is not None
    np.testing.assert_allclose(got, rescaled(mean, bundle.temperature), rtol=1e-6, atol=1e-9)

    # predict and the exported MLflow model give the same answers
    model_dir = tmp_path / "exported"
    stores = ["--storage", cfg.storage_url, "--tracking-uri", cfg.tracking_uri]
    code, _, stderr = cli("export", cfg.study_name, str(model_dir), *stores)
    assert code == 0, stderr
    code, stdout, stderr = cli("predict", cfg.study_name, str(cfg.csv_path), *stores)
    assert code == 0, stderr
    expected = pd.read_csv(pd.io.common.StringIO(stdout))
    exported = mlflow.pyfunc.load_model(str(model_dir)).predict(frame.drop(columns="y"))
    pd.testing.assert_frame_equal(exported, expected, check_dtype=False, rtol=1e-9)


def test_a_tiny_table_reports_the_out_of_fold_estimate_instead_of_a_test_score(
        make_csv: Callable[..., Path], tmp_storage_url: str, tmp_tracking_uri: str) -> None:
    code, stdout, stderr = cli("search", str(make_csv()), "--target", "y", "--n-trials", "2",
                               "--max-epochs", "3", "--storage", tmp_storage_url,
                               "--tracking-uri", tmp_tracking_uri, "--threads", "1")
    assert code == 0, stderr
    text = " ".join(stdout.split())
    assert "120 rows in 5 cross-validation folds (a network per fold; --folds) / no test split " \
           "(too few rows for 100)" in text
    assert "no test split: the table is too small for a useful one" in text
    assert "out-of-fold roc_auc" in text and "is the estimate" in text
    assert "held-out test rows" not in text
    assert re.search(r"final model: (trial \d+ \(the|an ensemble of trials [\d, ]+ \(each "
                     r"the) average of its fold networks\)", text), text


def test_a_test_split_asked_away_is_said_so_not_blamed_on_the_size(
        make_csv: Callable[..., Path], tmp_storage_url: str, tmp_tracking_uri: str) -> None:
    code, stdout, stderr = cli("search", str(make_csv(n_rows=400)), "--target", "y",
                               "--n-trials", "1", "--max-epochs", "2", "--folds", "1",
                               "--test-fraction", "0", "--storage", tmp_storage_url,
                               "--tracking-uri", tmp_tracking_uri, "--threads", "1")
    assert code == 0, stderr
    text = " ".join(stdout.split())
    assert "340 train / 60 validation / no test split (--test-fraction 0)" in text
    assert "no test split: --test-fraction 0; the validation roc_auc above is the estimate" in text
    assert "too small" not in text and "too few" not in text


def test_more_folds_than_the_smallest_class_has_rows_is_one_clear_line(
        make_csv: Callable[..., Path], tmp_storage_url: str) -> None:
    frame = pd.read_csv(make_csv())
    frame.loc[frame.index[:6], "y"] = "rare"
    frame.loc[frame.index[6:][frame["y"].iloc[6:] == "rare"], "y"] = "yes"
    path = make_csv(name="rare.csv")
    frame.to_csv(path, index=False)
    code, _, stderr = cli("search", str(path), "--target", "y", "--folds", "9",
                          "--storage", tmp_storage_url)
    assert code == 2
    assert "--folds 5 or fewer" in one_error_line(stderr)
    assert not Path(tmp_storage_url.removeprefix("sqlite:///")).exists()  # nothing half-made
