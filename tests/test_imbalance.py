"""Imbalanced classes end to end: the positive class, the plan's class balance, the tuned
decision threshold through bundle, predict, export (MLflow pyfunc), show and report.

One real search (2 trials, 3 epochs) on a tiny table with 8% positives, through the command
line, with real Optuna and MLflow SQLite stores; shared by the tests of this module.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli, one_error_line
from sklearn import metrics as skm

from automl.bundle import load_bundle, save_bundle
from automl.errors import ConfigError
from automl.predict import load_model
from automl.threshold import ThresholdMetric, apply_threshold, tune_threshold


@dataclass(frozen=True)
class Searched:
    csv: Path
    tmp: Path
    stdout: str
    stores: tuple[str, ...]
    storage: str
    tracking: str


def _table(path: Path, n_rows: int = 400, share: float = 0.08) -> Path:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n_rows), rng.normal(size=n_rows)
    signal = x1 + 0.5 * x2 + rng.normal(scale=0.3, size=n_rows)
    frame = pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4),
                          "y": np.where(signal > np.quantile(signal, 1 - share), "fraud", "ok")})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory, _migrated_mlflow_db: Path) -> Searched:
    tmp = tmp_path_factory.mktemp("imbalance")
    (tmp / "mlruns").mkdir()
    shutil.copy(_migrated_mlflow_db, tmp / "mlruns" / "mlflow.db")
    storage, tracking = f"sqlite:///{tmp}/optuna.db", f"sqlite:///{tmp}/mlruns/mlflow.db"
    stores = ("--storage", storage, "--tracking-uri", tracking)
    csv = _table(tmp / "fraud.csv")
    code, stdout, stderr = cli("search", str(csv), "--target", "y", "--study", "fraud",
                               "--n-trials", "2", "--max-epochs", "3", "--patience", "2",
                               "--threads", "1", "--device", "cpu", "--test-fraction", "0.15",
                               *stores)
    assert code == 0, stderr
    return Searched(csv=csv, tmp=tmp, stdout=stdout, stores=stores, storage=storage,
                    tracking=tracking)


def test_plan_shows_the_positive_class_the_balance_and_the_driving_metric(
        searched: Searched) -> None:
    out = " ".join(searched.stdout.split())
    assert "positive class 'fraud'" in out
    assert "classes 'ok' 368 (92.0%), 'fraud' 32 (8.0%)" in out
    assert "imbalanced: the smallest class is 8.0% of the rows; the study optimises pr_auc" in out
    assert "decision threshold tuned for f1" in out
    assert re.search(r"decision threshold [\d.]+ \(maximises f1 out-of-fold: ", out), out


def test_the_study_stores_the_positive_class_and_threshold(searched: Searched) -> None:
    code, stdout, _ = cli("show", "fraud", "--json", *searched.stores[:2])
    assert code == 0
    shown = json.loads(stdout)
    assert shown["metric"] == "pr_auc"
    threshold = shown["final_model"]["threshold"]
    assert 0.0 <= threshold["value"] <= 1.0 and threshold["metric"] == "f1"
    assert {"f1_at_threshold", "pr_auc", "precision", "recall",
            "balanced_accuracy"} <= set(shown["final_model"]["test_metrics"])
    bundle, _ = load_model(searched.storage, "fraud", tracking_uri=searched.tracking)
    assert bundle.threshold == pytest.approx(threshold["value"])
    assert bundle.schema.positive_class == "fraud"
    code, stdout, _ = cli("show", "fraud", *searched.stores[:2])
    assert "decision threshold" in " ".join(stdout.split())


def _predict(searched: Searched, *extra: str) -> pd.DataFrame:
    out = searched.tmp / "out.csv"
    code, _, stderr = cli("predict", "fraud", str(searched.csv), "-o", str(out),
                          *searched.stores, *extra)
    assert code == 0, stderr
    return pd.read_csv(out, keep_default_na=False)


def test_threshold_changes_prediction_never_probabilities(searched: Searched) -> None:
    bundle, _ = load_model(searched.storage, "fraud", tracking_uri=searched.tracking)
    tuned = _predict(searched)
    assert list(tuned.columns) == ["prediction", "proba_fraud", "proba_ok"]
    expected = np.where(tuned["proba_fraud"] >= bundle.threshold, "fraud", "ok")
    assert (tuned["prediction"] == expected).all()
    for cut in (0.0, 0.3, 0.9):
        moved = _predict(searched, "--threshold", str(cut))
        pd.testing.assert_frame_equal(moved.filter(like="proba_"), tuned.filter(like="proba_"))
        assert (moved["prediction"] == np.where(moved["proba_fraud"] >= cut, "fraud", "ok")).all()
    assert (_predict(searched, "--threshold", "0")["prediction"] == "fraud").all()


def test_predict_says_which_threshold_labelled_the_rows(searched: Searched) -> None:
    """A row labelled 'fraud' at proba_fraud 0.3 would look wrong without the cut beside it."""
    bundle, _ = load_model(searched.storage, "fraud", tracking_uri=searched.tracking)
    for extra, said in (((), f">= {bundle.threshold:.4g} (the model's tuned threshold; "
                             "--threshold X overrides it)"),
                        (("--threshold", "0.3"), ">= 0.3 (--threshold)")):
        code, _, stderr = cli("predict", "fraud", str(searched.csv), "-o",
                              str(searched.tmp / "cut.csv"), *searched.stores, *extra)
        assert code == 0, stderr
        assert f"prediction is 'fraud' where proba_fraud {said}" in " ".join(stderr.split())


def test_threshold_survives_export_as_an_mlflow_pyfunc_model(searched: Searched) -> None:
    model_dir = searched.tmp / "model"
    code, _, stderr = cli("export", "fraud", str(model_dir), *searched.stores)
    assert code == 0, stderr
    frame = pd.read_csv(searched.csv).drop(columns="y")
    got = mlflow.pyfunc.load_model(str(model_dir)).predict(frame)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), _predict(searched),
                                  check_dtype=False)


def test_report_has_the_precision_recall_section(searched: Searched) -> None:
    page = searched.tmp / "report.html"
    code, _, stderr = cli("report", "fraud", "-o", str(page), *searched.stores[:2])
    assert code == 0, stderr
    html = page.read_text()
    assert '<h2 id="threshold">Decision threshold</h2>' in html
    assert html.count("data:image/png;base64") >= 2


def test_bundles_without_a_threshold_use_the_largest_probability(searched: Searched,
                                                                 tmp_path: Path) -> None:
    bundle, _ = load_model(searched.storage, "fraud", tracking_uri=searched.tracking)
    bundle.threshold = None
    folder = save_bundle(bundle, tmp_path / "old")
    assert "threshold" not in json.loads((folder / "bundle.json").read_text())
    old = load_bundle(folder)
    assert old.threshold is None
    out = old.predict(pd.read_csv(searched.csv))
    argmax = np.where(out["proba_fraud"] > out["proba_ok"], "fraud", "ok")
    assert (out["prediction"] == argmax).all()


def test_threshold_outside_0_1_is_refused(searched: Searched) -> None:
    code, _, stderr = cli("predict", "fraud", str(searched.csv), "--threshold", "1.5",
                          *searched.stores)
    assert code == 2
    assert "--threshold 1.5" in one_error_line(stderr)


# ----------------------------------------------------------------------- --positive-class
def test_wrong_positive_class_is_one_line_naming_the_labels(tmp_path: Path) -> None:
    csv = _table(tmp_path / "fraud.csv")
    storage = tmp_path / "studies" / "optuna.db"
    tracking = tmp_path / "mlruns" / "mlflow.db"
    code, _, stderr = cli("search", str(csv), "--target", "y", "--positive-class", "yes",
                          "--storage", f"sqlite:///{storage}",
                          "--tracking-uri", f"sqlite:///{tracking}")
    assert code == 2
    line = one_error_line(stderr)
    assert "'yes'" in line and "'fraud'" in line and "'ok'" in line
    assert not storage.exists() and not tracking.exists()


def test_positive_class_can_be_set(tmp_path: Path) -> None:
    from automl.data import load_dataset

    schema = load_dataset(_table(tmp_path / "fraud.csv"), "y", positive="ok").schema
    assert (schema.positive_class, schema.positive_code, schema.classes) == (
        "ok", 1, ("fraud", "ok"))
    assert load_dataset(tmp_path / "fraud.csv", "y").schema.positive_code == 0


# ------------------------------------------------------------------------------- threshold
@pytest.mark.parametrize("text", ["precision@recall:0.8", "recall@precision:0.5"])
def test_constrained_threshold_is_the_brute_force_best(text: str) -> None:
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.1
    scores = np.clip(0.3 * y + rng.random(300) * 0.8, 0, 1).round(3)
    metric = ThresholdMetric.parse(text)
    tuned = tune_threshold(y, scores, metric)
    best, best_t = -1.0, None
    for t in np.unique(scores):
        pred = scores >= t
        tp = float(np.sum(pred & y))
        p, r = tp / max(pred.sum(), 1), tp / y.sum()
        value, ok = (p, r >= metric.value) if metric.kind == "precision@recall" else (
            r, p >= metric.value)
        if ok and value > best + 1e-12:
            best, best_t = value, t
    assert tuned.feasible and tuned.value == best_t
    assert tuned.score == pytest.approx(best)


def _rare_positives(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """2% positive rows and a model's probabilities that rank them imperfectly."""
    y = rng.random(n) < 0.02
    return y, 1 / (1 + np.exp(-(rng.normal(size=n) + np.where(y, 1.0, -2.5))))


def _f1(y: np.ndarray, predicted: np.ndarray) -> float:
    tp = np.sum(predicted & y)
    return float(2 * tp / (predicted.sum() + y.sum()))


@pytest.mark.parametrize("text", ["f1", "fbeta:2"])
def test_fbeta_threshold_reports_its_own_validation_scores(text: str) -> None:
    y, scores = _rare_positives(np.random.default_rng(2), 3000)
    metric = ThresholdMetric.parse(text)
    tuned = tune_threshold(y, scores, metric)
    predicted = apply_threshold(scores, tuned.value)
    precision, recall = np.sum(predicted & y) / predicted.sum(), np.sum(predicted & y) / y.sum()
    b2 = metric.value ** 2
    assert (tuned.precision, tuned.recall) == pytest.approx((precision, recall))
    assert tuned.score == pytest.approx((1 + b2) * precision * recall / (b2 * precision + recall))
    assert tune_threshold(y, scores, metric) == tuned  # the resamples are seeded


def test_bagged_f1_threshold_beats_the_validation_best_on_unseen_rows() -> None:
    """With ~60 positive validation rows the single F1-best threshold is noisy; the bagged one
    scores better F1 on new rows from the same distribution, on average over many draws."""
    rng = np.random.default_rng(0)
    y_test, test_scores = _rare_positives(rng, 100_000)
    gains = []
    for _ in range(20):
        y, scores = _rare_positives(rng, 3000)
        precision, recall, thresholds = skm.precision_recall_curve(y, scores)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        exact = thresholds[int(np.argmax(f1[:-1]))]
        bagged = tune_threshold(y, scores, ThresholdMetric()).value
        gains.append(_f1(y_test, test_scores >= bagged) - _f1(y_test, test_scores >= exact))
    assert np.mean(gains) > 0.002 and np.sum(np.array(gains) > 0) > len(gains) / 2


def test_unreachable_constraint_takes_the_closest_threshold() -> None:
    y, scores = np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.1])
    tuned = tune_threshold(y, scores, ThresholdMetric.parse("recall@precision:0.99"))
    assert not tuned.feasible and tuned.precision == 0.5


@pytest.mark.parametrize("text", ["f2", "fbeta", "fbeta:0", "precision@recall:1.5",
                                  "recall@precision:x", "f1:1"])
def test_bad_threshold_metric_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="threshold-metric"):
        ThresholdMetric.parse(text)
