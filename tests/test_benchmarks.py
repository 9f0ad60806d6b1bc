"""The quality benchmark (issues 5 and 11) on tiny tables: its baselines, tables and command line,
and the multi-seed helpers it shares with the small-data benchmark. CatBoost and LightGBM cases
skip without the ``bench`` extra (CI does not install it)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from automl.data import TaskType
from automl.metrics import primary_metric

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Imports a module of ``benchmarks/`` as the scripts import each other (that folder on
    ``sys.path``)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module


@pytest.fixture
def quality(bench: Callable[[str], ModuleType]) -> ModuleType:
    return bench("quality")


def test_seed_lists_and_mean_std_cells(bench: Callable[[str], ModuleType]) -> None:
    multiseed = bench("multiseed")
    assert multiseed.parse_seeds("0, 1,2,") == [0, 1, 2]
    for bad in ("", "0,x"):
        with pytest.raises(ValueError):
            multiseed.parse_seeds(bad)
    assert multiseed.mean_std([0.8, 0.9]) == "0.8500 ± 0.0707"
    assert multiseed.mean_std([44_000.0, 46_000.0]) == "45,000.0 ± 1,414.2"
    assert multiseed.mean_std([531.0]) == "531.0 ± 0.0"  # the spread in the mean's digits
    assert multiseed.mean_std([0.8, math.nan]) == "n/a"
    assert multiseed.number(math.nan) == "n/a"


def test_the_command_line_defaults_to_three_splits_and_every_baseline(
        quality: ModuleType) -> None:
    args = quality.parse_args([])
    assert args.seeds == [0, 1, 2] and args.baselines == ["hgb", "catboost", "lightgbm"]
    args = quality.parse_args(["--seeds", "4", "--baselines", "lightgbm,hgb"])
    assert args.seeds == [4] and args.baselines == ["lightgbm", "hgb"]
    for bad in (["--baselines", "xgboost"], ["--baselines", ""], ["--seeds", ""]):
        with pytest.raises(SystemExit) as exited:
            quality.parse_args(bad)
        assert exited.value.code == 2


def test_without_the_bench_extra_it_says_how_in_one_line_and_exits_2(
        quality: ModuleType, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(quality.importlib.util, "find_spec", lambda name: None)
    assert quality.missing_packages(["hgb"]) == []  # scikit-learn is a runtime dependency
    with pytest.raises(SystemExit) as exited:
        quality.main(["--datasets", "absent.csv:y", "--baselines", "hgb,catboost,lightgbm"])
    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "catboost and lightgbm" in message
    assert "pip install -e '.[bench]'" in message and "--baselines hgb" in message


def test_text_columns_are_coded_for_each_library(quality: ModuleType) -> None:
    train = pd.DataFrame({"n": ["1", "2", None], "c": ["a", None, "b"], "y": [0, 1, 0]})
    test = pd.DataFrame({"n": ["3"], "c": ["z"], "y": [1]})
    x_train, x_test = quality.catboost_features(train, test, "y")
    assert x_train["c"].tolist() == ["a", quality.MISSING, "b"]
    assert x_test["c"].tolist() == ["z"]  # an unseen level stays a level of its own
    assert x_train["n"].dtype.kind == "f" and x_train["c"].dtype == object
    x_train, x_test = quality.coded_features(train, test, "y")
    assert list(x_train["c"].cat.categories) == ["a", "b"]
    assert x_test["c"].isna().all()  # HGB and LightGBM: unseen in training is missing


@pytest.mark.parametrize("task", list(TaskType))
@pytest.mark.parametrize("name", ["hgb", "catboost", "lightgbm"])
def test_each_baseline_learns_a_tiny_table_with_missing_cells(
        quality: ModuleType, make_csv: Callable[..., Path], name: str, task: TaskType) -> None:
    if quality.BASELINES[name].package is not None:
        pytest.importorskip(name)
    frame = pd.read_csv(make_csv(task.value, n_rows=300, missing=True))
    frame.loc[::7, "color"] = None
    train, test = quality.outer_split(frame, "y", task, seed=1)
    outcome = quality.run_baseline(name, train, test, "y", task, seed=1, threads=1)
    assert outcome.seconds > 0
    if task is TaskType.REGRESSION:  # well below predicting the mean
        assert outcome.score < 0.5 * test["y"].std()
    else:  # ROC-AUC or accuracy
        assert outcome.score > 0.8


def _row(quality: ModuleType, seed: int, ours: float, hgb: float, catboost: float) -> Any:
    outcome = quality.Outcome
    return quality.Row(dataset="d", seed=seed, metric="rmse", ours=outcome(ours, 60.0, 5, 2),
                       random=outcome(150.0, 60.0, 9, 0),
                       baselines={"hgb": outcome(hgb, 1.0), "catboost": outcome(catboost, 2.0)})


def test_the_headline_is_the_mean_and_std_over_splits_and_the_gap_to_each_baseline(
        quality: ModuleType) -> None:
    rows = [_row(quality, 0, 100.0, 120.0, 100.0), _row(quality, 1, 120.0, 140.0, 120.0)]
    text = quality.table(rows, "cmd")
    assert ("| d | rmse | 2 | 110.0 ± 14.1 | 130.0 ± 14.1 | 110.0 ± 14.1 | 150.0 ± 0.0 "
            "| +15.38% | +0.00% |") in text  # lower RMSE is better
    assert "| d | 1 | rmse | 120.0 | 140.0 | 120.0 | 150.0 | +14.29% | +0.00% | 5/2 | 9/0 |" in text
    assert "ours ahead of CatBoost on 0 of 1 datasets, worst gap +0.00%" in text
    assert "ours ahead of HGB on 1 of 1 datasets" in text and "Command: `cmd`" in text
    no_score = [_row(quality, 0, math.nan, 120.0, 100.0), *rows[1:]]
    assert "| d | rmse | 2 | n/a | 130.0 ± 14.1 |" in quality.table(no_score, "cmd")


@pytest.mark.slow
@pytest.mark.timing  # a 20-s budget: its trials fit only without the parallel tests beside
def test_the_quality_benchmark_runs_end_to_end(quality: ModuleType,
                                               make_csv: Callable[..., Path],
                                               tmp_path: Path) -> None:
    csv = make_csv("binary", n_rows=200)
    rows = quality.main(["--budget", "20", "--datasets", f"{csv}:y", "--threads", "1",
                         "--seeds", "0", "--baselines", "hgb",
                         "--output", str(tmp_path / "table.md"),
                         "--rows", str(tmp_path / "rows.json")])
    assert len(rows) == 1 and rows[0].metric == "roc_auc" and rows[0].seed == 0
    assert 0.5 <= rows[0].baselines["hgb"].score <= 1.0
    assert 0.0 <= rows[0].ours.score <= 1.0 and 0.0 <= rows[0].random.score <= 1.0
    assert rows[0].ours.complete >= 1 and rows[0].random.complete >= 1
    text = (tmp_path / "table.md").read_text()
    assert "| data | roc_auc | 1 |" in text and "| data | 0 | roc_auc |" in text
    assert quality.main(["--combine", str(tmp_path / "rows.json")]) == rows
    assert "benchmarks/quality.py --budget 20" in text


def test_saved_rows_of_several_runs_combine_into_one_table(quality: ModuleType,
                                                           tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps([_row(quality, 0, 100.0, 120.0, 100.0).to_json()]))
    without_random = dataclasses.replace(_row(quality, 1, 120.0, 140.0, 120.0), random=None)
    second.write_text(json.dumps([without_random.to_json()]))
    rows = quality.main(["--combine", f"{first},{second}"])
    assert [r.seed for r in rows] == [0, 1] and rows[1].random is None
    assert rows[0] == _row(quality, 0, 100.0, 120.0, 100.0)
    text = quality.table(rows, "cmd")
    assert "| d | rmse | 2 | 110.0 ± 14.1 | 130.0 ± 14.1 | 110.0 ± 14.1 | n/a |" in text
    assert "| d | 1 | rmse | 120.0 | 140.0 | 120.0 | n/a | +14.29% | +0.00% | 5/2 | n/a |" in text


def test_the_scale_table_is_written_in_chunks_with_a_learnable_signal(
        bench: Callable[[str], ModuleType], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    scale = bench("scale")
    monkeypatch.setattr(scale, "CHUNK", 400)
    scale.write_table(tmp_path / "t.csv", 1_000, seed=0)
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) == 1_000 and list(table.columns)[-1] == "y"
    assert table["num12"].isna().mean() > 0.01 and table["cat4"].nunique() > 500
    test, logit = scale.generate(5_000, seed=1)
    assert 0.85 < roc_auc_score(test["y"], logit) < 0.95  # the Bayes ceiling: not trivial


def test_a_kept_folder_reuses_its_tables_and_drops_the_last_run(
        bench: Callable[[str], ModuleType], tmp_path: Path) -> None:
    scale = bench("scale")
    scale.write_tables(tmp_path, 300, seed=0)
    written = (tmp_path / "train.csv").stat().st_mtime_ns
    (tmp_path / "optuna.db").write_text("an earlier run's study")
    scale.write_tables(tmp_path, 300, seed=0)
    assert (tmp_path / "train.csv").stat().st_mtime_ns == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["made.json", "test.csv", "train.csv"]
    scale.write_tables(tmp_path, 400, seed=0)  # other rows: written again
    assert len(pd.read_csv(tmp_path / "train.csv")) == 400


def test_the_memory_of_preparing_is_printed_step_by_step(
        bench: Callable[[str], ModuleType], make_csv: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    bench("prepare_memory").main([str(make_csv(n_rows=200)), "--target", "y"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0].split(" (")[0] for row in rows[1:]] == [
        "| start", "| read 200 rows", "| split", "| preprocessing fitted", "| tensors built",
        "| splits dropped, heap handed back"]
    assert all(row.endswith(" GiB |") for row in rows[1:])


def test_each_warm_start_candidate_runs_its_repeats_on_the_prepared_split(
        bench: Callable[[str], ModuleType], make_csv: Callable[..., Path]) -> None:
    csv = make_csv("binary", n_rows=200)
    rows = bench("warm_start").main(["--datasets", f"{csv}:y", "--cap", "1", "--repeats", "2",
                                     "--candidates", "linear,tabm_cpu"])
    cells = [row.split(" | ") for row in rows]
    assert [(c[1], c[2]) for c in cells] == [("linear", "0"), ("linear", "1"),
                                             ("tabm_cpu", "0"), ("tabm_cpu", "1")]
    assert all(0.5 <= float(c[4]) <= 1.0 for c in cells)


def test_the_final_rules_score_fold_by_fold_and_average_bootstrapped_selections(
        bench: Callable[[str], ModuleType]) -> None:
    """``final_rules.py``'s ``foldwise`` metric ignores a shift of one fold's outputs (a trial's
    value is the mean of its fold scores), which the pooled ROC-AUC does not; ``bagged`` weights
    sum to 1 and go to the member that is right on every row."""
    rules = bench("final_rules")
    auc = primary_metric(TaskType.BINARY, "roc_auc", 1)
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    assignment = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.2, 0.3, 0.1, 0.4, 0.6, 0.7, 0.5, 0.8])  # fold 1 shifted up by 0.4
    output = np.column_stack([1 - p, p])
    assert rules.foldwise(auc, assignment).fn(y, output) == 1.0
    assert auc.fn(y, output) < 1.0
    wrong = np.column_stack([p, 1 - p])
    weights = rules.bagged(auc, [wrong, output], y)
    assert weights.sum() == pytest.approx(1.0) and weights[1] > weights[0]
