"""The final model (issue 5): log target, ensemble selection, refit, bundles and time budget,
each on tiny data with real Optuna/MLflow stores (no mocks). The quality benchmark's test is in
``test_benchmarks.py``."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from cli_helpers import cli
from mlflow.tracking import MlflowClient

from automl.bundle import Member, ModelBundle, load_bundle, save_bundle
from automl.cli.render import _render_final
from automl.config import SearchConfig, TrainConfig
from automl.data import ColumnKind, ColumnSpec, Schema, TaskType
from automl.features import Preprocessor
from automl.final import (
    OVERHEAD_S,
    VAL_OUTPUT,
    Candidate,
    FinalInputs,
    ValidationOutputs,
    build_final,
    ensemble_pool,
    ensemble_selection,
    every_row_seconds,
    refit_seconds,
    reserve_seconds,
)
from automl.final import test_metrics as scored_on_test  # not a test: not named test_*
from automl.metrics import primary_metric
from automl.networks import MLPSpec, ResNetSpec, build_model
from automl.objective import candidate
from automl.plan import prepare_search
from automl.predict import load_model, predict_csv
from automl.queries import ranked
from automl.session import run_search
from automl.splits import Splits
from automl.storage import load_study
from automl.tracking import MlflowTracker
from automl.train import predict_raw, score_split


def _regression_schema() -> Schema:
    return Schema(target="y", task=TaskType.REGRESSION, classes=(),
                  columns=(ColumnSpec(name="x", kind=ColumnKind.NUMERIC),), n_rows=0)


def _skewed_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": np.exp(1.5 * x + rng.normal(scale=0.3, size=n)) * 100})


# ---------------------------------------------------------------------------- log target
def test_a_skewed_positive_target_is_log_transformed_and_round_trips() -> None:
    train = _skewed_frame(400)
    pre = Preprocessor(_regression_schema()).fit(train)
    assert pre.target_log
    encoded = pre.encode_target(train["y"])
    assert abs(float(encoded.mean())) < 1e-4 and abs(float(encoded.std()) - 1.0) < 1e-3
    np.testing.assert_allclose(pre.decode_target(encoded), train["y"], rtol=1e-5)
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored.target_log
    np.testing.assert_allclose(restored.decode_target(encoded), train["y"], rtol=1e-5)


@pytest.mark.parametrize("y", [np.random.default_rng(1).normal(50, 10, 300),  # not skewed
                               -np.exp(np.random.default_rng(2).normal(size=300))])  # negative
def test_other_targets_are_only_standardised(y: np.ndarray) -> None:
    pre = Preprocessor(_regression_schema()).fit(pd.DataFrame({"x": y, "y": y}))
    assert not pre.target_log
    np.testing.assert_allclose(pre.encode_target(pd.Series(y)),
                               (y - y.mean()) / y.std(), rtol=1e-4, atol=1e-5)


def test_a_bundle_saved_before_the_log_transform_loads_without_it() -> None:
    state = Preprocessor(_regression_schema()).fit(_skewed_frame(100)).to_dict()
    del state["target_log"]
    assert not Preprocessor.from_dict(state).target_log


def test_training_scores_and_bundles_invert_the_target_the_same_way() -> None:
    train, val = _skewed_frame(300, seed=0), _skewed_frame(80, seed=1)
    pre = Preprocessor(_regression_schema()).fit(train)
    tensors = pre.tensors(Splits(train=train, val=val, test=val.iloc[:0], seed=0))
    assert tensors.target_log
    torch.manual_seed(0)
    network = build_model(MLPSpec(n_blocks=1, d_block=8), tensors.d_in, 1, tensors.n_num,
                          tensors.n_scalings)
    bundle = ModelBundle(preprocessor=pre, spec=MLPSpec(n_blocks=1, d_block=8),
                         network=network, d_in=tensors.d_in)
    from_bundle = bundle.raw_output(val).reshape(-1)
    from_tensors = tensors.decode_target(predict_raw(network, tensors.x_val)).reshape(-1)
    np.testing.assert_allclose(from_bundle, from_tensors, rtol=1e-6)
    rmse = float(np.sqrt(np.mean((val["y"].to_numpy() - from_bundle) ** 2)))
    assert score_split(network, tensors, TaskType.REGRESSION)["rmse"] == pytest.approx(
        rmse, rel=1e-4)  # metrics in target units, not log units
    assert from_bundle.min() >= 0  # the target was non-negative


# ------------------------------------------------------------------------------ ensembles
def test_ensemble_selection_drops_a_dominated_member_and_beats_the_best_single() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    noise = rng.normal(scale=0.5, size=500)
    members = [y + noise, y - noise, y + 2.0 * noise]  # a and b cancel; c is worse than both
    rmse = primary_metric(TaskType.REGRESSION)
    selection = ensemble_selection(members, y, rmse)
    assert selection.weights[2] == 0.0
    np.testing.assert_allclose(selection.weights[:2], [0.5, 0.5])
    assert selection.score == pytest.approx(0.0, abs=1e-12)
    assert selection.weights.sum() == pytest.approx(1.0)


def test_the_ensemble_pool_adds_the_best_of_each_family_the_top_trials_leave_out() -> None:
    arch = optuna.distributions.CategoricalDistribution(["linear", "mlp", "tabm"])
    study = optuna.create_study(direction="minimize")
    for rmse, family in [(50.0, "tabm"), (51.0, "tabm"), (52.0, "mlp"), (53.0, "tabm"),
                         (54.0, "tabm"), (55.0, "tabm"), (56.0, "linear"), (57.0, "linear"),
                         (58.0, "mlp")]:
        study.add_trial(optuna.trial.create_trial(value=rmse, params={"arch": family},
                                                  distributions={"arch": arch}))
    pool = ensemble_pool(ranked(study))
    assert [t.number for t in pool] == [0, 1, 2, 3, 4, 6]  # the top five, then linear's best


@pytest.mark.parametrize("seed", range(5))
def test_ensemble_selection_never_scores_worse_than_the_best_member(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=200)
    members = []
    for quality in (0.8, 1.2, 0.3, 2.0):
        logits = quality * (2 * y - 1) + rng.normal(size=200)
        p = 1 / (1 + np.exp(-logits))
        members.append(np.column_stack([1 - p, p]))
    auc = primary_metric(TaskType.BINARY)
    selection = ensemble_selection(members, y, auc)
    best_single = max(auc.fn(y, m) for m in members)
    assert selection.score >= best_single
    mixed = sum(w * m for w, m in zip(selection.weights, members, strict=True))
    assert auc.fn(y, mixed) == pytest.approx(selection.score)


def test_an_ensemble_bundle_round_trips_and_averages_probabilities(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.linspace(-2, 2, 40), "y": ["a", "b"] * 20})
    schema = Schema(target="y", task=TaskType.BINARY, classes=("a", "b"),
                    columns=(ColumnSpec(name="x", kind=ColumnKind.NUMERIC),), n_rows=40)
    pre = Preprocessor(schema).fit(frame)
    specs = [MLPSpec(n_blocks=1, d_block=4),
             ResNetSpec(n_blocks=2, d_block=8, scaling="robust")]
    nets = [build_model(s, 2, 2, 1, 2).eval() for s in specs]
    bundle = ModelBundle.ensemble(pre, [Member(spec=s, network=n, weight=w)
                                        for s, n, w in zip(specs, nets, (1.0, 3.0), strict=True)],
                                  d_in=2, metadata={"kind": "ensemble"})
    assert [m.weight for m in bundle.members] == [0.75, 0.25]  # normalised, heaviest first
    loaded = load_bundle(save_bundle(bundle, tmp_path / "b"))
    assert json.loads((tmp_path / "b" / "bundle.json").read_text())["format"] == 2
    expected = sum(m.weight * torch.softmax(m.network(torch.from_numpy(
        pre.transform(frame))), dim=1).detach().numpy() for m in bundle.members)
    got = loaded.predict(frame)[["proba_a", "proba_b"]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    single = ModelBundle.ensemble(pre, [Member(spec=specs[0], network=nets[0], weight=1.0),
                                        Member(spec=specs[1], network=nets[1], weight=0.0)], 1)
    assert single.members == ()  # one member left: an ordinary single-network bundle
    assert json.loads((save_bundle(single, tmp_path / "s") / "bundle.json").read_text())[
        "format"] == 1


# ------------------------------------------------------------------------------ the search
def _done(search_cfg: Callable[..., SearchConfig], task: str, **changes: object) -> SearchConfig:
    cfg = search_cfg(task, **changes)
    run_search(prepare_search(cfg))
    return cfg


def test_the_final_model_is_its_own_run_and_predict_uses_it(
        search_cfg: Callable[..., SearchConfig], tmp_path: Path) -> None:
    cfg = _done(search_cfg, "regression", n_trials=4)
    study = load_study(cfg.storage_url, cfg.study_name)
    final = study.user_attrs["final_model"]
    assert final["kind"] in ("ensemble", "refit", "best_trial", "bag")
    run = MlflowClient(cfg.tracking_uri).get_run(final["run_id"])
    assert run.data.tags["automl.role"] == "final"
    assert run.data.tags["mlflow.parentRunId"] == study.user_attrs["mlflow_parent_run_id"]
    assert run.info.status == "FINISHED"
    # the best trial is named beside its own score, whether or not an ensemble holds it
    assert final["best_trial"] == ranked(study)[0].number == int(run.data.params["best_trial"])
    assert run.data.metrics["best_trial_val_rmse"] == final["best_trial_score"]
    bundle, source = load_model(cfg.storage_url, cfg.study_name, tracking_uri=cfg.tracking_uri)
    assert source.run_id == final["run_id"] and source.final is not None
    assert bundle.metadata["kind"] == final["kind"]
    rows = pd.read_csv(cfg.csv_path).head(7)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    got = predict_csv(cfg.storage_url, cfg.study_name, tmp_path / "rows.csv",
                      tracking_uri=cfg.tracking_uri).predictions
    np.testing.assert_allclose(got["prediction"], bundle.predict(rows)["prediction"])
    # the top trials kept their model and validation predictions for the ensemble
    client = MlflowClient(cfg.tracking_uri)
    for trial in ranked(study)[:2]:
        names = {f.path for f in client.list_artifacts(trial.user_attrs["mlflow_run_id"])}
        assert {"model", "val_output.npy"} <= names


def test_the_refit_model_loads_and_predicts(search_cfg: Callable[..., SearchConfig]) -> None:
    cfg = _done(search_cfg, "binary", n_trials=2, folds=1)  # one validation split: a refit
    plan = prepare_search(cfg)
    study = load_study(cfg.storage_url, cfg.study_name)
    best = candidate(ranked(study)[0])  # one candidate: no ensemble, so a refit
    tracker = MlflowTracker(cfg.tracking_uri, cfg.study_name)
    tracker.parent_run_id = study.user_attrs["mlflow_parent_run_id"]
    inputs = FinalInputs.of(plan)
    final = build_final([best], inputs, tracker)
    assert final is not None and final.kind == "refit"
    assert final.refit_epochs == best.best_epoch + 1
    # its probabilities' temperature, fitted on the trial's validation outputs, keeps the order
    assert final.to_dict()["temperature"] == final.bundle.temperature > 0
    untempered = dataclasses.replace(final.bundle, temperature=None)
    assert scored_on_test(untempered, plan.tensors, plan.task)["roc_auc"] == \
        final.test_metrics["roc_auc"]
    folder = tracker.download_dir(final.run_id, "model", Path(cfg.csv_path).parent / "refit")
    assert folder is not None
    bundle = load_bundle(folder)
    trial_bundle = load_bundle(tracker.download_dir(best.run_id, "model",
                                                    Path(cfg.csv_path).parent / "trial"))
    x = plan.tensors.x_train
    assert not np.array_equal(predict_raw(bundle.network, x),
                              predict_raw(trial_bundle.network, x))
    out = bundle.predict(pd.read_csv(cfg.csv_path))
    assert set(out["prediction"]) <= {"yes", "no"}
    assert np.allclose(out[["proba_no", "proba_yes"]].sum(axis=1), 1.0)


def test_refit_all_trains_the_final_model_again_on_every_row_after_its_test_score(
        search_cfg: Callable[..., SearchConfig]) -> None:
    """``--refit-all``: the model kept has learned every row, test rows too; the test score is
    the one of the model before (the same as without the option); no time, no retraining."""
    cfg = _done(search_cfg, "binary", n_trials=2, folds=1, refit_all=True)
    plan = prepare_search(cfg)
    study = load_study(cfg.storage_url, cfg.study_name)
    tensors = plan.tensors
    rows = len(tensors.x_train) + len(tensors.x_val) + len(tensors.x_test)
    assert study.user_attrs["final_model"]["refit_all_rows"] == rows
    bundle, _ = load_model(cfg.storage_url, cfg.study_name, tracking_uri=cfg.tracking_uri)
    assert bundle.metadata["refit_all_rows"] == rows
    best = candidate(ranked(study)[0])
    tracker = MlflowTracker(cfg.tracking_uri, cfg.study_name)
    tracker.parent_run_id = study.user_attrs["mlflow_parent_run_id"]
    kept = build_final([best], FinalInputs.of(plan), tracker)
    before = build_final([best], dataclasses.replace(FinalInputs.of(plan), refit_all=False),
                         tracker)
    assert kept is not None and before is not None and kept.every_row.rows == rows
    assert kept.test_metrics == before.test_metrics
    assert kept.bundle.threshold == before.bundle.threshold
    assert not np.array_equal(predict_raw(kept.bundle.network, tensors.x_test),
                              predict_raw(before.bundle.network, tensors.x_test))
    late = build_final([best], FinalInputs.of(plan), tracker, deadline=time.monotonic() - 1)
    assert late is not None and late.every_row.rows == 0
    assert "the time limit leaves less" in late.every_row.skipped
    assert "refit_all_rows" not in late.bundle.metadata


def test_refit_all_is_said_by_search_and_show(tmp_path: Path) -> None:
    """The user reads that the model kept learned every row, and that the test score is of
    the model before; ``show`` says it too. A regression model's summary points to its
    prediction intervals and says how many test values they held."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    pd.DataFrame({"day": pd.date_range("2024-01-01", periods=400).strftime("%Y-%m-%d"),
                  "x": x, "y": x + rng.normal(0, 0.3, 400)}).to_csv(tmp_path / "t.csv",
                                                                     index=False)
    stores = ["--storage", f"sqlite:///{tmp_path}/s.db",
              "--tracking-uri", f"sqlite:///{tmp_path}/mlruns/mlflow.db"]
    code, stdout, stderr = cli("search", str(tmp_path / "t.csv"), "--split-by", "day",
                               "--refit-all", "--n-trials", "1", "--max-epochs", "2", *stores)
    assert code == 0, stderr
    said = " ".join(stdout.split())
    assert "trained again on all 400 rows" in said
    assert "test rows, which no selection step saw (scored before it was trained again on " \
           "them too)" in said
    assert re.search(r"prediction intervals calibrated on \d+ validation rows; on the test "
                     r"rows, 90% intervals held \d+\.\d% of the values: `automl predict "
                     r"--interval 0\.9` writes them", said)
    code, stdout, stderr = cli("show", "t", *stores[:2])
    assert code == 0, stderr
    assert "trained again on all 400 rows" in " ".join(stdout.split())


def test_no_candidate_with_a_kept_model_gives_no_final_model(
        search_cfg: Callable[..., SearchConfig]) -> None:
    cfg = search_cfg("binary")
    plan = prepare_search(cfg)
    tracker = MlflowTracker(cfg.tracking_uri, "empty")
    inputs = FinalInputs.of(plan)
    ghost = Candidate(number=0, value=0.5, params={}, run_id="0" * 32, best_epoch=0,
                      epoch_seconds=0.01)
    assert build_final([ghost], inputs, tracker) is None


def test_the_reserve_covers_the_refit_and_is_capped() -> None:
    best = Candidate(number=0, value=1.0, params={}, run_id="r", best_epoch=9,
                     epoch_seconds=2.0)
    assert reserve_seconds(None, 70, 15, 100.0) < 50.0
    assert reserve_seconds(best, 70, 15, 1000.0) > 2.0 * 10 * 85 / 70
    assert reserve_seconds(best, 70, 15, 20.0) == 10.0
    assert reserve_seconds(best, 70, 15, 1000.0, refit=False) == OVERHEAD_S + 0.01 * 1000
    # --refit-all: five fold networks of the best trial on all 100 rows, kept besides
    every_row = every_row_seconds([(best, 5)], 70, 100)
    assert every_row == pytest.approx(5 * refit_seconds(best, 70, 30))
    assert reserve_seconds(best, 70, 15, 1000.0, refit=False, every_row_s=every_row) == \
        pytest.approx(OVERHEAD_S + 0.01 * 1000 + every_row)


def test_the_search_knows_when_the_ensemble_makes_a_refit_needless(tmp_tracking_uri: str,
                                                                   tmp_path: Path) -> None:
    """Two trials right on different halves of the rows: together they beat either alone; a
    copy of the best adds nothing. Outputs are read from MLflow as the search logs them."""
    tracker = MlflowTracker(tmp_tracking_uri, "outputs")
    tracker.start_study("outputs", parent_run_id=None, tags={}, params={})
    y = np.array([0, 1] * 20)
    good_first, good_last = np.tile([0.5, 0.5], (40, 1)), np.tile([0.5, 0.5], (40, 1))
    good_first[:20] = np.eye(2)[y[:20]] * 0.8 + 0.1
    good_last[20:] = np.eye(2)[y[20:]] * 0.8 + 0.1
    runs = {}
    for name, output in {"first": good_first, "last": good_last, "copy": good_first}.items():
        runs[name] = tracker.start_trial(len(runs), {})
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / VAL_OUTPUT, output)
        tracker.log_dir(runs[name], tmp_path / name, "")  # as the search logs it
    outputs = ValidationOutputs(tracker, y, primary_metric(TaskType.BINARY, "log_loss"))

    assert outputs.ensemble_members([runs["first"], runs["last"]]) == (runs["first"],
                                                                        runs["last"])
    assert outputs.ensemble_members([runs["first"], runs["copy"]]) is None
    # what --refit-all keeps time for: the members, not every trial of the pool
    assert outputs.ensemble_members([runs["first"], runs["copy"], runs["last"]]) == (
        runs["first"], runs["last"])
    assert outputs.ensemble_members([runs["first"], "0" * 32]) is None  # not logged (yet)


@pytest.mark.slow
@pytest.mark.timing
@pytest.mark.parametrize("refit_all", [False, True])
def test_a_timed_search_finishes_within_its_timeout_including_the_final_model(
        search_cfg: Callable[..., SearchConfig], refit_all: bool) -> None:
    # The time kept for the final step is mostly fixed (final.OVERHEAD_S plus a refit
    # estimate, at most half the timeout), so 12 s leave it the same room as a longer timeout;
    # --refit-all keeps time for the final networks' training on every row too.
    cfg = search_cfg("binary", n_trials=10_000, timeout_s=12.0, refit_all=refit_all,
                     train=TrainConfig(max_epochs=20, patience=4, device="cpu"))
    start = time.monotonic()
    summary = run_search(prepare_search(cfg))
    elapsed = time.monotonic() - start
    # Checked between folds, so a fold under way finishes: 10.8-12.7 s measured with both
    # cores busy; the README allows a small cross-validated search about 25% over.
    assert elapsed <= 15.0, elapsed
    assert summary.report.to_json()["trials"]["COMPLETE"] >= 2
    assert summary.report.to_json()["final_model"]["run_id"]


def test_the_summary_says_why_a_model_was_not_trained_again_beside_a_missing_test_split(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A small table's summary: no test split (said), intervals calibrated out of fold, and why
    ``--refit-all`` did not train the model again: each said once, none in place of another."""
    _render_final({"kind": "bag", "trials": [1], "val_score": 55.0, "cross_validated": True,
                   "interval_rows": 300, "test_metrics": {},
                   "refit_all_skipped": "about 40 s needed, the time limit leaves less"},
                  "rmse", 0)
    said = " ".join(capsys.readouterr().out.split())
    assert "no test split: the table is too small for a useful one" in said
    assert "prediction intervals calibrated on 300 out-of-fold rows: `automl predict " \
           "--interval 0.9` writes them" in said
    assert "--refit-all: not trained again on every row (about 40 s needed, the time limit " \
           "leaves less); the model kept is the one scored above" in said
