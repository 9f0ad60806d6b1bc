"""Using a finished study: predict a CSV, export an MLflow pyfunc model, register and serve it.

Every test uses a real search (2 trials, 3 epochs) on a tiny CSV with real Optuna and MLflow
SQLite stores, then goes through the command line. The search of each task is run once per session
and shared (conftest.shared_study): the tests only read it (registering model versions is done on
the regression study alone), writing their own files under their own ``tmp_path``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli, one_error_line
from conftest import SharedStudy
from mlflow.tracking import MlflowClient
from sklearn.metrics import f1_score, roc_auc_score

from automl.config import SearchConfig
from automl.data import load_dataset
from automl.errors import ConfigError
from automl.metrics import predictions
from automl.plan import SearchPlan
from automl.predict import load_model
from automl.splits import split
from automl.train import predict_raw


@dataclass(frozen=True)
class Finished:
    cfg: SearchConfig
    plan: SearchPlan

    @property
    def stores(self) -> list[str]:
        return ["--storage", self.cfg.storage_url, "--tracking-uri", self.cfg.tracking_uri]

    def rows(self) -> pd.DataFrame:
        """Some rows of the training CSV, target included."""
        return pd.read_csv(self.cfg.csv_path).head(25)

    def val_rows(self) -> pd.DataFrame:
        cfg = self.cfg
        frame = load_dataset(cfg.csv_path, cfg.target).frame
        return split(frame, self.plan.schema, seed=cfg.seed,
                     val_fraction=self.plan.validation.val_fraction,
                     test_fraction=self.plan.validation.test_fraction).val


@pytest.fixture(scope="module")
def finish(shared_study: Callable[..., SharedStudy]) -> Callable[..., Finished]:
    """A finished 2-trial search (searched once per session, see conftest.shared_study);
    ``folds=1`` for one validation split (``val_rows``), else the default (cross-validated, a
    bagged final model)."""

    def run(task: str, folds: int | None = None) -> Finished:
        shared = shared_study(task) if folds is None else shared_study(task, folds=folds)
        return Finished(cfg=shared.cfg, plan=shared.plan)

    return run


# ------------------------------------------------------------------------------------ predict
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_predict_equals_the_models_own_validation_predictions(finish: Callable[[str], Finished],
                                                               task: str, tmp_path: Path) -> None:
    done = finish(task, folds=1)
    val = done.val_rows()
    val.to_csv(tmp_path / "new.csv", index=False)
    # the best trial's own model (without --trial: the final model, see tests/test_final.py)
    shown = json.loads(cli("show", done.cfg.study_name, "--json", *done.stores[:2])[1])
    best = str(shown["best_trial"])
    code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                          "-o", str(tmp_path / "out.csv"), "--trial", best, *done.stores)
    assert code == 0, stderr
    assert "ignored" not in stderr  # the target is scored, not ignored
    # the file's own target scores the trial's model as its validation score did
    line = one_line(stderr, f"scored against the file's 'y' column ({len(val)} rows): ")
    scored = re.search(rf"\b{shown['metric']} ([-\d.,]+)", line).group(1).replace(",", "")
    assert float(scored) == pytest.approx(shown["best_value"], rel=1e-3, abs=1e-4)
    got = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)

    bundle, source = load_model(done.cfg.storage_url, done.cfg.study_name, trial=int(best),
                                tracking_uri=done.cfg.tracking_uri)
    schema = done.plan.schema
    raw = predict_raw(bundle.network, done.plan.tensors.x_val)
    assert len(got) == len(val)
    if schema.task.is_classification:
        proba = predictions(schema.task, raw)
        assert list(got.columns) == ["prediction", *(f"proba_{c}" for c in schema.classes)]
        np.testing.assert_allclose(got.filter(like="proba_").to_numpy(), proba, rtol=1e-6,
                                   atol=1e-9)
        expected = np.asarray(schema.classes)[proba.argmax(axis=1)]
        assert got["prediction"].astype(str).tolist() == expected.tolist()
        assert set(got["prediction"].astype(str)) <= set(schema.classes)
    else:
        units = raw.reshape(-1) * bundle.preprocessor.target_std + bundle.preprocessor.target_mean
        assert list(got.columns) == ["prediction"]
        np.testing.assert_allclose(got["prediction"].to_numpy(), units, rtol=1e-6, atol=1e-6)
        # predictions are in the target's own units, not standardised ones
        assert abs(got["prediction"].mean() - val["y"].mean()) < 3 * val["y"].std()
    assert source.trial == bundle.metadata["trial"]
    # the model scores on these rows what its trial reported to the study
    y_val = done.plan.tensors.y_val.numpy()
    output = predictions(schema.task, raw) if schema.task.is_classification else \
        raw.reshape(-1) * bundle.preprocessor.target_std + bundle.preprocessor.target_mean
    if not schema.task.is_classification:
        y_val = y_val * bundle.preprocessor.target_std + bundle.preprocessor.target_mean
    assert done.plan.metric.fn(y_val, output) == pytest.approx(bundle.metadata["value"],
                                                                rel=1e-5)


def test_predict_keeps_row_order_and_handles_unseen_and_missing_values(
        finish: Callable[[str], Finished], tmp_path: Path) -> None:
    done = finish("binary")
    rows = done.rows().drop(columns="y")
    shuffled = rows.iloc[::-1].reset_index(drop=True)
    odd = pd.DataFrame({"color": ["purple", None], "x1": [np.nan, 0.3], "x2": [0.1, np.nan],
                        "note": ["extra", "extra"]})
    pd.concat([shuffled, odd]).to_csv(tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               *done.stores)
    assert code == 0, stderr
    assert "ignored 1 column the model does not use: note" in stderr
    got = pd.read_csv(pd.io.common.StringIO(stdout))
    assert len(got) == len(rows) + 2
    assert np.isfinite(got.filter(like="proba_").to_numpy()).all()
    bundle, _ = load_model(done.cfg.storage_url, done.cfg.study_name,
                           tracking_uri=done.cfg.tracking_uri)
    forward = bundle.predict(rows)
    np.testing.assert_allclose(got.iloc[:len(rows)]["proba_yes"].to_numpy(),
                               forward["proba_yes"].to_numpy()[::-1], rtol=1e-6)


def test_numbers_that_are_not_numbers_are_predicted_as_missing_and_said(
        finish: Callable[[str], Finished], tmp_path: Path) -> None:
    done = finish("binary")
    rows = done.rows().drop(columns="y")
    typed = rows.astype({"x1": object})
    typed.loc[[2, 5], "x1"] = ["n/a?", "twelve"]
    typed.to_csv(tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               *done.stores)
    assert code == 0, stderr
    assert "column 'x1': 2 values are not numbers (such as 'n/a?'); predicted as if missing" \
        in stderr
    got = pd.read_csv(pd.io.common.StringIO(stdout))["proba_yes"].to_numpy()
    bundle, _ = load_model(done.cfg.storage_url, done.cfg.study_name,
                           tracking_uri=done.cfg.tracking_uri)
    expected = bundle.predict(rows.assign(x1=rows.x1.where(~rows.index.isin([2, 5]))))
    np.testing.assert_allclose(got, expected["proba_yes"].to_numpy(), rtol=1e-6)


def test_numbers_in_another_unit_are_predicted_as_missing_and_said(tmp_path: Path) -> None:
    """A model learned on ``1248 CC`` read ``1.2 L`` as 1.2 CC, silently; the value is now
    predicted as if missing, and stderr names the unit the model learned."""
    rng = np.random.default_rng(0)
    engine = rng.integers(800, 2500, 120)
    pd.DataFrame({"engine": [f"{e} CC" for e in engine],
                  "price": engine * 3 + rng.normal(0, 50, 120)}).to_csv(tmp_path / "cars.csv",
                                                                        index=False)
    stores = ["--storage", f"sqlite:///{tmp_path}/s.db",
              "--tracking-uri", f"sqlite:///{tmp_path}/mlruns/mlflow.db"]
    code, _, stderr = cli("search", str(tmp_path / "cars.csv"), "--study", "cars",
                          "--n-trials", "1", "--max-epochs", "2", *stores)
    assert code == 0, stderr
    pd.DataFrame({"engine": ["1200 cc", "1.2 L"]}).to_csv(tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", "cars", str(tmp_path / "new.csv"), *stores)
    assert code == 0, stderr
    assert "column 'engine': 1 value is not a number in 'cc', as the model learned (such as " \
           "'1.2 L'); predicted as if missing" in stderr
    got = pd.read_csv(pd.io.common.StringIO(stdout))["prediction"].to_numpy()
    bundle, _ = load_model(stores[1], "cars", tracking_uri=stores[3])
    expected = bundle.predict(pd.DataFrame({"engine": ["1200 CC", None]}))["prediction"]
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-6)
    assert got[0] != got[1]


def test_dates_that_are_not_dates_are_predicted_as_missing_and_said(tmp_path: Path) -> None:
    """A number that is not one was named on stderr; a date that is not one was read as missing
    silently. Both are said now."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=150, freq="D")
    pd.DataFrame({"day": days.strftime("%Y-%m-%d"),
                  "sales": days.month * 10 + rng.normal(0, 1, 150)}).to_csv(
        tmp_path / "sales.csv", index=False)
    stores = ["--storage", f"sqlite:///{tmp_path}/s.db",
              "--tracking-uri", f"sqlite:///{tmp_path}/mlruns/mlflow.db"]
    code, _, stderr = cli("search", str(tmp_path / "sales.csv"), "--study", "sales",
                          "--n-trials", "1", "--max-epochs", "2", *stores)
    assert code == 0, stderr
    pd.DataFrame({"day": ["2020-03-01", "next week", None], "shop": ["a", "b", "c"]}).to_csv(
        tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", "sales", str(tmp_path / "new.csv"), *stores)
    assert code == 0, stderr
    assert "column 'day': 1 value is not a date (such as 'next week'); predicted as if " \
           "missing" in stderr  # the empty one is missing, not unreadable
    got = pd.read_csv(pd.io.common.StringIO(stdout))["prediction"].to_numpy()
    bundle, _ = load_model(stores[1], "sales", tracking_uri=stores[3])
    expected = bundle.predict(pd.DataFrame({"day": ["2020-03-01", None, None]}))["prediction"]
    assert got[0] != got[1]
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-6)


def test_levels_the_model_never_learned_are_said(finish: Callable[[str], Finished],
                                                 tmp_path: Path) -> None:
    """A one-hot column's level that training never had (``RED`` for ``red``) turned every one
    of its columns off, silently; stderr now names it. Missing values and known levels are
    not named."""
    done = finish("binary")
    rows = done.rows().drop(columns="y").head(4).astype({"color": object})
    rows["color"] = ["RED", "blue", None, "purple"]
    rows.to_csv(tmp_path / "new.csv", index=False)
    code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                          *done.stores)
    assert code == 0, stderr
    assert "column 'color': 2 values are not levels the model learned (such as 'RED'); " \
           "predicted as none of them" in stderr


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_file_with_the_target_is_scored_against_it(task: str,
                                                    finish: Callable[[str], Finished],
                                                    tmp_path: Path) -> None:
    """A user predicting a labelled file (a holdout of their own) scored it by hand; stderr
    now scores it: every metric, at the model's decision threshold too, on the rows whose
    target the model can score (a class it knows), the others counted."""
    done = finish(task)
    rows = done.rows().astype({"y": object})
    rows.loc[3, "y"] = "maybe" if task == "binary" else "n/a"  # left out
    rows.loc[4, "y"] = None  # left out
    rows.to_csv(tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               *done.stores)
    assert code == 0, stderr
    got = pd.read_csv(pd.io.common.StringIO(stdout)).drop(index=[3, 4])
    truth = rows.drop(index=[3, 4])["y"]
    if task == "binary":
        schema = done.plan.schema
        positive = schema.classes[schema.positive_code]
        expected = {"roc_auc": roc_auc_score(truth == positive, got[f"proba_{positive}"]),
                    "f1_at_threshold": f1_score(truth == positive, got["prediction"] == positive)}
    else:
        expected = {"rmse": np.sqrt(np.mean((truth.astype(float) - got["prediction"]) ** 2))}
    line = one_line(stderr, "scored against the file's 'y' column (23 rows): ")
    assert line.endswith("; 2 rows left out (no value, or a class the model does not know)")
    for name, value in expected.items():
        assert re.search(rf"\b{name} {value:.4f}\b", line), (name, value, line)
    if task == "binary":  # rows of one class leave the ROC-AUC undefined: said, not shown
        rows.assign(y=positive).to_csv(tmp_path / "one.csv", index=False)
        code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "one.csv"),
                              *done.stores)
        line = one_line(stderr, "scored against the file's 'y' column (25 rows): ")
        assert line.endswith("; roc_auc undefined on these rows")
        assert not re.search(r"\broc_auc \d", line)
    rows.assign(y="n/a").to_csv(tmp_path / "unknown.csv", index=False)
    code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "unknown.csv"),
                          *done.stores)
    assert code == 0, stderr
    assert "not scored against the file's 'y' column: no row has a class or value the model " \
           "can score" in stderr


def test_a_regression_model_predicts_intervals_and_their_coverage_is_scored(
        finish: Callable[..., Finished], tmp_path: Path) -> None:
    """``--interval 0.8`` adds the ends of 80% intervals around each prediction, as the
    exported model's ``params={"interval": 0.8}`` does; the final model's test scores, and a
    labelled file's, say how many true values its 90% intervals hold. A classifier, or a level
    that is no coverage, is refused in one line."""
    done = finish("regression", folds=1)
    study = load_model(done.cfg.storage_url, done.cfg.study_name,
                       tracking_uri=done.cfg.tracking_uri)[1].final
    assert study is not None and 0.0 <= study["test_metrics"]["coverage_90"] <= 1.0
    done.rows().to_csv(tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               "--interval", "0.8", *done.stores)
    assert code == 0, stderr
    got = pd.read_csv(pd.io.common.StringIO(stdout))
    assert list(got.columns) == ["prediction", "lower_80", "upper_80"]
    assert (got["lower_80"] < got["prediction"]).all()
    assert (got["prediction"] < got["upper_80"]).all()
    truth = done.rows()["y"]
    held = np.mean((truth >= got["lower_80"]) & (truth <= got["upper_80"]))
    assert held > 0.5  # rows the model trained on too: inside more often than not
    assert re.search(r"\bcoverage_90 [01]\.\d{4}\b", one_line(stderr, "scored against"))
    code, _, stderr = cli("export", done.cfg.study_name, str(tmp_path / "model"), *done.stores)
    assert code == 0, stderr
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    pd.testing.assert_frame_equal(model.predict(done.rows().drop(columns="y"),
                                                params={"interval": 0.8}), got, rtol=1e-9)
    assert list(model.predict(done.rows().drop(columns="y")).columns) == ["prediction"]
    with pytest.raises(ConfigError, match=r"params\['interval'\] 90 is not a coverage"):
        model.predict(done.rows().drop(columns="y"), params={"interval": 90.0})
    code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                          "--interval", "90", *done.stores)
    assert code == 2 and "--interval 90 is not a coverage" in one_error_line(stderr)
    binary = finish("binary")
    binary.rows().to_csv(tmp_path / "labels.csv", index=False)
    code, _, stderr = cli("predict", binary.cfg.study_name, str(tmp_path / "labels.csv"),
                          "--interval", "0.9", *binary.stores)
    assert code == 2
    assert "--interval: this binary model has no prediction intervals" in one_error_line(stderr)


def one_line(stderr: str, start: str) -> str:
    """The line of ``stderr`` that starts with ``start`` (exactly one)."""
    (line,) = [line for line in stderr.splitlines() if line.startswith(start)]
    return line


def test_columns_named_in_another_case_are_read_and_said(finish: Callable[[str], Finished],
                                                         tmp_path: Path) -> None:
    """A CSV saved by another tool with ``X1`` for ``x1`` was refused as missing ``x1``; it is
    read as ``--target`` is matched (case and surrounding spaces), and stderr says so."""
    done = finish("binary")
    rows = done.rows().drop(columns="y")
    rows.rename(columns={"x1": "X1", "color": "Color"}).to_csv(tmp_path / "new.csv",
                                                                index=False)
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               *done.stores)
    assert code == 0, stderr
    assert "2 columns matched ignoring case and spaces: " in stderr
    assert "'X1' as 'x1'" in stderr and "'Color' as 'color'" in stderr
    bundle, _ = load_model(done.cfg.storage_url, done.cfg.study_name,
                           tracking_uri=done.cfg.tracking_uri)
    got = pd.read_csv(pd.io.common.StringIO(stdout))["proba_yes"].to_numpy()
    np.testing.assert_allclose(got, bundle.predict(rows)["proba_yes"].to_numpy(), rtol=1e-6)


def test_keep_copies_input_columns_before_the_predictions(finish: Callable[[str], Finished],
                                                          tmp_path: Path) -> None:
    """A submission needs the id beside each prediction: ``--keep id`` puts it first."""
    done = finish("binary")
    rows = done.rows().drop(columns="y")
    rows.insert(0, "Row ID", [f"r{i}" for i in range(len(rows))])
    rows.assign(prediction=1).to_csv(tmp_path / "new.csv", index=False)
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               "--keep", "row id,color", *done.stores)
    assert code == 0, stderr
    got = pd.read_csv(pd.io.common.StringIO(stdout), keep_default_na=False)
    assert list(got.columns) == ["Row ID", "color", "prediction", "proba_no", "proba_yes"]
    assert got["Row ID"].tolist() == rows["Row ID"].tolist()
    assert got["color"].tolist() == rows["color"].fillna("").tolist()

    for keep, said in (("rowid", "--keep 'rowid': no such column in"),
                       ("prediction", "--keep 'prediction' has the name of an output column")):
        code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                              "--keep", keep, *done.stores)
        assert code == 2 and said in one_error_line(stderr)


def test_what_reading_the_file_did_is_said(finish: Callable[[str], Finished],
                                           tmp_path: Path) -> None:
    """A file exported by another tool (a comment line, ``;``) is read as ``search`` reads
    one, and stderr says how, as the search's summary does."""
    done = finish("binary")
    rows = done.rows().drop(columns="y")
    (tmp_path / "new.csv").write_text("# exported by a tool\n" + rows.to_csv(index=False,
                                                                             sep=";"))
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "new.csv"),
                               *done.stores)
    assert code == 0, stderr
    assert "new.csv: delimiter ';'" in stderr
    assert "new.csv: skipped 1 line above the header ('# exported by a tool')" in stderr
    assert len(pd.read_csv(pd.io.common.StringIO(stdout))) == len(rows)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_file_of_a_header_alone_gives_a_header_alone(task: str, finish: Callable[[str], Finished],
                                                      tmp_path: Path) -> None:
    """A nightly batch with no new rows is not an error: its predictions are the output's
    header with no rows, as the pyfunc model answers an empty batch."""
    done = finish(task)
    done.rows().drop(columns="y").iloc[:0].to_csv(tmp_path / "none.csv", index=False)
    code, _, stderr = cli("predict", done.cfg.study_name, str(tmp_path / "none.csv"), "--keep",
                          "color", "-o", str(tmp_path / "out.csv"), *done.stores)
    assert code == 0, stderr
    assert "0 predictions" in stderr
    got = pd.read_csv(tmp_path / "out.csv")
    some = pd.read_csv(pd.io.common.StringIO(cli("predict", done.cfg.study_name,
                                                 str(done.cfg.csv_path), "--keep", "color",
                                                 *done.stores)[1]))
    assert got.empty and list(got.columns) == list(some.columns)


def test_predict_refusals_exit_2_with_one_clear_line(finish: Callable[[str], Finished],
                                                     tmp_path: Path) -> None:
    done = finish("binary")
    study, tmp = done.cfg.study_name, tmp_path
    done.rows().drop(columns="x2").to_csv(tmp / "no_x2.csv", index=False)

    code, _, stderr = cli("predict", study, str(tmp / "no_x2.csv"), *done.stores)
    assert code == 2
    assert "missing feature column(s) 'x2'" in one_error_line(stderr)

    (tmp / "model.bin").write_bytes(bytes(range(256)) * 4)
    code, _, stderr = cli("predict", study, str(tmp / "model.bin"), *done.stores)
    assert code == 2
    assert "not CSV" in one_error_line(stderr)

    code, _, stderr = cli("predict", study, str(tmp / "nowhere.csv"), *done.stores)
    assert code == 2
    assert "nowhere.csv" in one_error_line(stderr)

    code, _, stderr = cli("predict", "no-such-study", str(done.cfg.csv_path), *done.stores)
    assert code == 2
    assert "no study named 'no-such-study'" in one_error_line(stderr)

    code, _, stderr = cli("predict", study, str(done.cfg.csv_path), "--trial", "99",
                          *done.stores)
    assert code == 2
    assert "has no trial 99" in one_error_line(stderr)

    code, _, stderr = cli("predict", study, str(done.cfg.csv_path), "--storage",
                          done.cfg.storage_url, "--tracking-uri",
                          f"sqlite:///{tmp}/elsewhere/mlflow.db")
    assert code == 2
    assert "pass --tracking-uri" in one_error_line(stderr)


# ------------------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def exported(finish: Callable[[str], Finished], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Finished, Path, pd.DataFrame]:
    """A finished multiclass study, its exported model directory and `automl predict` output."""
    done = finish("multiclass")
    model_dir = tmp_path_factory.mktemp("exported") / "model"
    code, stdout, stderr = cli("export", done.cfg.study_name, str(model_dir), *done.stores)
    assert code == 0, stderr
    assert "mlflow models serve -m" in stdout
    code, stdout, stderr = cli("predict", done.cfg.study_name, str(done.cfg.csv_path),
                               *done.stores)
    assert code == 0, stderr
    return done, model_dir, pd.read_csv(pd.io.common.StringIO(stdout))


def test_the_served_model_logs_values_it_reads_as_missing(
        exported: tuple[Finished, Path, pd.DataFrame], caplog: pytest.LogCaptureFixture) -> None:
    """`automl predict` says so on stderr; a served model's caller sees no stderr, so the
    server's log says it."""
    done, model_dir, _ = exported
    model = mlflow.pyfunc.load_model(str(model_dir))
    rows = pd.read_csv(done.cfg.csv_path).head(3).drop(columns="y").astype({"x1": object})
    rows.loc[1, "x1"] = "twelve"
    with caplog.at_level(logging.WARNING, logger="automl.pyfunc"):
        model.predict(rows)
    assert [r.getMessage() for r in caplog.records if r.name == "automl.pyfunc"] == [
        "column 'x1': 1 value is not a number (such as 'twelve'); predicted as if missing"]


def test_export_loads_with_mlflow_pyfunc_and_predicts_like_automl_predict(
        exported: tuple[Finished, Path, pd.DataFrame]) -> None:
    done, model_dir, expected = exported
    model = mlflow.pyfunc.load_model(str(model_dir))
    signature = model.metadata.get_input_schema().input_names()
    assert signature == ["x1", "x2", "color"]
    got = model.predict(pd.read_csv(done.cfg.csv_path).drop(columns="y"))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9)
    # whatever types a file reads as: whole numbers (int64), codes as numbers, numbers as text
    rows = pd.read_csv(done.cfg.csv_path).head(6).drop(columns="y")
    retyped = rows.assign(x1=rows.x1.round().astype(int), x2=rows.x2.astype(str),
                          color=range(6))
    bundle, _ = load_model(done.cfg.storage_url, done.cfg.study_name,
                           tracking_uri=done.cfg.tracking_uri)
    pd.testing.assert_frame_equal(model.predict(retyped), bundle.predict(retyped),
                                  check_dtype=False)
    assert (model_dir / "input_example.json").exists()
    requirements = (model_dir / "requirements.txt").read_text()
    assert "torch==" in requirements and "mlflow==" in requirements

    code, _, stderr = cli("export", done.cfg.study_name, str(model_dir), *done.stores)
    assert code == 2
    assert "already exists and is not empty" in one_error_line(stderr)


def test_register_creates_a_version_visible_through_mlflow_client(
        finish: Callable[[str], Finished]) -> None:
    done = finish("regression")
    for expected_version in ("1", "2"):
        code, stdout, stderr = cli("export", done.cfg.study_name, "--register", "churn-model",
                                   *done.stores)
        assert code == 0, stderr
        assert f"models:/churn-model/{expected_version}" in stdout
    client = MlflowClient(tracking_uri=done.cfg.tracking_uri,
                          registry_uri=done.cfg.tracking_uri)
    versions = client.search_model_versions("name='churn-model'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    version = client.get_model_version("churn-model", "2")
    assert version.tags["automl.study"] == done.cfg.study_name
    parent = client.get_run(version.run_id)
    assert parent.data.tags["automl.role"] == "study"
    assert parent.info.status == "FINISHED"
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri("churn-model", "2"))
    rows = pd.read_csv(done.cfg.csv_path).head(7)
    bundle, _ = load_model(done.cfg.storage_url, done.cfg.study_name,
                           tracking_uri=done.cfg.tracking_uri)
    pd.testing.assert_frame_equal(model.predict(rows), bundle.predict(rows), check_dtype=False)


# -------------------------------------------------------------------------------------- serve
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(exported: tuple[Finished, Path, pd.DataFrame]) -> Iterator[str]:
    """`mlflow models serve` on the exported model, on loopback; always killed."""
    _, model_dir, _ = exported
    port = _free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    process = subprocess.Popen(
        [str(mlflow_cli), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
             # the server runs `uvicorn` from PATH: the one of this environment
             "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow models serve exited: {process.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow models serve did not answer /ping within 90 s")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.slow
def test_mlflow_models_serve_answers_invocations_like_automl_predict(
        exported: tuple[Finished, Path, pd.DataFrame], server: str) -> None:
    done, _, expected = exported
    rows = pd.read_csv(done.cfg.csv_path).drop(columns="y")
    body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
    request = urllib.request.Request(f"{server}/invocations", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    got = pd.DataFrame(answer["predictions"])
    pd.testing.assert_frame_equal(got[list(expected.columns)], expected, check_dtype=False,
                                  rtol=1e-9)


# ----------------------------------------------------------------------------------------- ui
@pytest.mark.slow
def test_automl_ui_serves_the_study_on_loopback_and_stops_on_ctrl_c(
        finish: Callable[[str], Finished], tmp_path: Path) -> None:
    done = finish("binary")
    port = _free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "automl", "ui", done.cfg.study_name, "--port", str(port),
             *done.stores], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while "#/experiments/" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        first = log.read_text().splitlines()[0]
        printed = re.search(rf"{re.escape(base)}/#/experiments/(\d+)/runs ", first)
        assert printed, first
        runs: list[dict] = []
        while time.monotonic() < deadline and process.poll() is None:
            try:
                query = json.dumps({"experiment_ids": [printed.group(1)],
                                    "max_results": 100}).encode()
                request = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=query,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    runs = json.loads(response.read())["runs"]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        names = {r["info"]["run_name"] for r in runs}
        assert {"trial-0000", "trial-0001", done.cfg.study_name} <= names
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        with socket.socket() as probe:  # the server is gone: nothing listens on the port
            # (SO_REUSEADDR: closed connections in TIME_WAIT do not count, a listener does)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a server child left behind
