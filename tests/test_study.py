"""run_search on tiny data with real Optuna (SQLite) and MLflow (SQLite) stores.

What a user relies on: ``n_trials`` is the study's total, resuming needs nothing retyped, a study
refuses other data or settings, both ledgers list the same trials, and a diverging trial does not
stop the search.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from cli_helpers import cli
from conftest import SharedStudy
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

import automl.objective
import automl.storage
from automl.config import PrunerKind, SamplerKind, SearchConfig, TrainConfig
from automl.data import load_dataset
from automl.errors import ConfigError, StudyMismatchError, StudyNotFoundError
from automl.plan import prepare_search
from automl.queries import resume_config
from automl.session import FinalStep, SearchSummary, run_search
from automl.splits import split
from automl.storage import fail_stale, load_study, make_storage
from automl.strategy import (
    HALVING_FIRST_RUNG,
    HOPELESS_FROM_STEP,
    first_prunable_step,
    first_ranking_step,
    kind_changes,
    open_study,
    start_study,
)
from automl.train import EpochLog, RowGrowth, StopReason

SearchCfg = Callable[..., SearchConfig]
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
# SGD with a learning rate far outside the space: the loss is inf/NaN from the first epoch.
DIVERGING = {"embedding": "none", "arch": "mlp", "n_blocks": 2, "d_block": 64, "dropout": 0.0,
             "norm": "none", "activation": "relu", "optimizer": "sgd", "sgd_momentum": 0.9,
             "sgd_nesterov": False, "lr": 1e6, "weight_decay": 1e-6, "schedule": "constant",
             "batch_size": 64, "resampling": "none", "class_weighting": "none"}


def _search(cfg: SearchConfig) -> SearchSummary:
    return run_search(prepare_search(cfg))


def _finished(summary: SearchSummary) -> int:
    trials = summary.report.to_json()["trials"]
    return int(trials["COMPLETE"] + trials["PRUNED"])


def _runs(cfg: SearchConfig, experiment_id: str, where: str = "") -> list[Run]:
    return list(MlflowClient(cfg.tracking_uri).search_runs([experiment_id], where,
                                                           max_results=1000))


def _assert_ledgers_agree(cfg: SearchConfig, study_name: str) -> None:
    """One parent run, one child run per trial with the mirrored status, nothing RUNNING
    (besides the final model's runs, ``automl.role=final``, one per finished search)."""
    study = load_study(cfg.storage_url, study_name)
    experiment, parent = (study.user_attrs["mlflow_experiment_id"],
                          study.user_attrs["mlflow_parent_run_id"])
    every_run = _runs(cfg, experiment)
    finals = [r for r in every_run if r.data.tags.get("automl.role") == "final"]
    assert all(r.data.tags.get("mlflow.parentRunId") == parent for r in finals)
    every_run = [r for r in every_run if r not in finals]
    parents = [r for r in every_run if r.data.tags.get("automl.role") == "study"]
    assert [r.info.run_id for r in parents] == [parent]
    children = {r.info.run_id: r for r in every_run
                if r.data.tags.get("mlflow.parentRunId") == parent}
    started = [t for t in study.trials if t.state is not TrialState.WAITING]  # queued: no run yet
    assert len(children) == len(every_run) - 1 == len(started)
    for trial in started:
        run = children[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["automl.trial"] == str(trial.number)
        assert run.data.tags["automl.state"] == trial.state.name
        assert run.info.status == STATUS[trial.state.name]
    assert all(r.info.status != "RUNNING" for r in every_run)


# -------------------------------------------------------------------------------------- budget
def test_n_trials_is_the_study_total_not_this_many_more(search_cfg: SearchCfg) -> None:
    cfg = search_cfg(n_trials=2)
    first = _search(cfg)
    assert (first.n_run_here, _finished(first)) == (2, 2)

    again = _search(cfg)
    assert (again.n_run_here, _finished(again)) == (0, 2)

    raised = _search(replace(cfg, n_trials=3))
    assert (raised.n_run_here, _finished(raised)) == (1, 3)
    assert raised.report.to_json()["n_trials_budget"] == 3
    _assert_ledgers_agree(cfg, "test-binary")


def test_a_timeout_alone_runs_trials_until_the_time_is_up(search_cfg: SearchCfg) -> None:
    cfg = search_cfg(n_trials=None, timeout_s=15.0, folds=1)
    summary = _search(cfg)
    assert cfg.n_trials is None and _finished(summary) > 3  # more than the 3 warm-start trials
    assert summary.report.to_json()["n_trials_budget"] is None
    with pytest.raises(ConfigError, match=r"no trial budget.*--timeout SECONDS"):
        resume_config(cfg.storage_url, "test-binary")  # without a limit it would never end
    resumed = resume_config(cfg.storage_url, "test-binary", timeout_s=3.0)
    assert (resumed.n_trials, resumed.timeout_s) == (None, 3.0)
    assert resume_config(cfg.storage_url, "test-binary", n_trials=40).n_trials == 40


# ------------------------------------------------------------------------------------- pruning
def test_the_patient_pruner_stops_a_stalled_trial_below_the_median_not_a_climbing_one(
        search_cfg: SearchCfg) -> None:
    cfg = search_cfg(pruner=PrunerKind.PATIENT, n_startup_trials=1, n_warmup_epochs=0)
    study = open_study(cfg, "pruning", "maximize")
    leader = study.ask()
    for epoch in range(6):
        leader.report(0.9, epoch)
    study.tell(leader, 0.9)

    climbing, stalled = study.ask(), study.ask()
    for epoch, score in enumerate([0.5, 0.48, 0.49, 0.47, 0.48, 0.46]):  # both below 0.9
        climbing.report(0.1 * (epoch + 1), epoch)
        stalled.report(score, epoch)
        assert not climbing.should_prune(), epoch
    assert stalled.should_prune()  # no new best for more than PRUNE_PATIENCE epochs


@pytest.mark.parametrize("kind", list(PrunerKind))
def test_the_pruner_is_asked_from_the_first_step_at_which_it_can_prune_and_decides_the_same(
        search_cfg: SearchCfg, kind: PrunerKind, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pruner says no before :func:`first_prunable_step` and prunes a trial far below the
    others there; :class:`PruningCallback` asks only from there on, with the same decisions as
    asking every epoch (hyperband says no after its first answer at a rung: it records the
    trial there when asked)."""
    epochs = 8  # hyperband: one bracket (max_resource / min_resource < its reduction factor 3)
    cfg = search_cfg(pruner=kind, n_startup_trials=2, n_warmup_epochs=4,
                     train=TrainConfig(max_epochs=epochs, patience=epochs, device="cpu"))
    study = open_study(cfg, f"pruning-{kind.value}", "maximize")
    for _ in range(3):
        good = study.ask()
        for epoch in range(epochs):
            good.report(0.9, epoch)
            good.should_prune()  # hyperband records a trial's rungs when it is asked
        study.tell(good, 0.9)
    falling = [0.5 - 0.01 * epoch for epoch in range(epochs)]  # below 0.9, and stalled

    every_epoch = study.ask()
    decisions = []
    for epoch, score in enumerate(falling):
        every_epoch.report(score, epoch)
        decisions.append(every_epoch.should_prune())
    study.tell(every_epoch, state=TrialState.PRUNED)
    first = first_prunable_step(cfg)
    assert next((epoch for epoch, prune in enumerate(decisions) if prune), None) == first

    asked: list[int] = []
    should_prune = optuna.Trial.should_prune
    monkeypatch.setattr(optuna.Trial, "should_prune",
                        lambda trial: asked.append(1) or should_prune(trial))
    callback = automl.objective.PruningCallback(study.ask(), prune_from=first)
    stops = [callback.on_epoch_end(EpochLog(epoch=epoch, train_loss=1.0, val={}, score=score,
                                            lr=1e-3, seconds=0.0))
             for epoch, score in enumerate(falling)]
    assert [stop is StopReason.PRUNED for stop in stops] == decisions
    assert len(asked) == (0 if first is None else epochs - first)


def test_the_median_pruner_prunes_a_trial_worse_than_every_complete_one_before_its_warm_up(
        search_cfg: SearchCfg) -> None:
    """From its second epoch, a trial below every complete trial at the same epoch is pruned;
    one above the worst of them but below their median waits for the median's warm-up."""
    cfg = search_cfg(pruner=PrunerKind.MEDIAN, n_startup_trials=2, n_warmup_epochs=4)
    study = open_study(cfg, "hopeless", "maximize")
    for score in (0.7, 0.9):
        done = study.ask()
        for epoch in range(6):
            done.report(score, epoch)
        study.tell(done, score)
    hopeless, weak = study.ask(), study.ask()
    for epoch in range(4):
        hopeless.report(0.5, epoch)
        weak.report(0.75, epoch)
        assert hopeless.should_prune() is (epoch >= HOPELESS_FROM_STEP), epoch
        assert not weak.should_prune(), epoch
    weak.report(0.75, 4)
    assert weak.should_prune()  # below the median (0.8) once the warm-up is over
    assert first_ranking_step(cfg) == 4 and first_prunable_step(cfg) == HOPELESS_FROM_STEP
    assert first_prunable_step(cfg, cross_validated=True) == 4


def test_the_pruners_decide_as_before_reading_the_complete_trials_once_a_trial(
        search_cfg: SearchCfg, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = search_cfg(pruner=PrunerKind.MEDIAN, n_startup_trials=2, n_warmup_epochs=3)
    study = open_study(cfg, "reads", "maximize")
    curves = [[0.6 + 0.04 * e for e in range(8)], [0.7 + 0.01 * e for e in range(8)],
              [0.5 + 0.05 * e for e in range(8)]]
    for curve in curves:
        done = study.ask()
        for epoch, score in enumerate(curve):
            done.report(score, epoch)
        study.tell(done, max(curve))
    reads: list[int] = []
    get_trials = optuna.Study.get_trials
    monkeypatch.setattr(optuna.Study, "get_trials",
                        lambda self, *a, **k: reads.append(1) or get_trials(self, *a, **k))
    for curve in ([0.55 + 0.03 * e for e in range(8)], [0.62] * 8, [0.9] * 8):
        trial = study.ask()
        decisions, expected = [], []
        for epoch, score in enumerate(curve):
            trial.report(score, epoch)
            frozen = study._storage.get_trial(trial._trial_id)
            expected.append(any(p.prune(study, frozen) for p in study.pruner.pruners))
            reads.clear()
            decisions.append(trial.should_prune())
            assert len(reads) == (epoch == 0), epoch  # the first check of a trial reads
        assert decisions == expected
        study.tell(trial, state=TrialState.PRUNED if any(decisions) else TrialState.COMPLETE,
                   values=None if any(decisions) else max(curve))
    assert any(decisions) is False and len(study.get_trials(states=(TrialState.PRUNED,))) >= 1


@pytest.mark.parametrize(("kind", "expected"), [
    (PrunerKind.MEDIAN, [None, None, 1, 1]), (PrunerKind.PATIENT, [None, None, 1, 1]),
    (PrunerKind.HYPERBAND, [1, 1, 1, 1]), (PrunerKind.HALVING, [1, 1, 1, 1]),
    (PrunerKind.NONE, [None] * 4)])
def test_median_pruners_cannot_prune_a_trial_started_before_their_start_up_trials(
        search_cfg: SearchCfg, kind: PrunerKind, expected: list[int | None]) -> None:
    cfg = search_cfg(pruner=kind, n_startup_trials=2, n_warmup_epochs=1)
    assert [first_prunable_step(cfg, n) for n in range(4)] == expected
    assert first_prunable_step(cfg) == expected[-1]


def test_successive_halving_prunes_from_the_first_trials_before_any_is_complete(
        search_cfg: SearchCfg) -> None:
    """A study whose rows grow has long trials: its pruner must not wait for complete ones.
    A trial below a running one at the first rung is pruned there; one above goes on."""
    study = open_study(search_cfg(pruner=PrunerKind.HALVING), "halving", "maximize")
    leader, worse, better = study.ask(), study.ask(), study.ask()
    for epoch in range(HALVING_FIRST_RUNG + 1):
        for trial, score in ((leader, 0.8), (worse, 0.7), (better, 0.9)):
            trial.report(score, epoch)
    assert not leader.should_prune()  # the first at its rung
    assert worse.should_prune() and not better.should_prune()
    assert not study.get_trials(states=(TrialState.COMPLETE,))


def test_a_search_asks_the_pruner_only_once_it_can_prune(
        search_cfg: SearchCfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials that start before ``n_startup_trials`` trials are complete are never pruned
    (MedianPruner says no), so it is not asked for them: each answer costs storage reads."""
    cfg = search_cfg(n_trials=5, folds=1, pruner=PrunerKind.MEDIAN, n_startup_trials=2,
                     n_warmup_epochs=1, train=TrainConfig(max_epochs=4, patience=4,
                                                          device="cpu"))
    complete_when_asked: list[int] = []
    should_prune = optuna.Trial.should_prune

    def counting(trial: optuna.Trial) -> bool:
        complete_when_asked.append(len(trial.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,))))
        return should_prune(trial)

    monkeypatch.setattr(optuna.Trial, "should_prune", counting)
    _search(cfg)
    assert complete_when_asked, "the trials after the start-up ones are asked"
    assert min(complete_when_asked) >= 2


@pytest.mark.parametrize(("folds", "first_asked"), [(1, HOPELESS_FROM_STEP), (2, 3)])
def test_a_cross_validated_search_asks_the_pruner_only_after_the_median_warm_up(
        search_cfg: SearchCfg, monkeypatch: pytest.MonkeyPatch, folds: int,
        first_asked: int) -> None:
    """On one validation split a trial may be called hopeless from its second epoch; the few
    optimizer steps of a small cross-validated table's epochs wait for the median's warm-up."""
    cfg = search_cfg(n_trials=4, folds=folds, pruner=PrunerKind.MEDIAN, n_startup_trials=2,
                     n_warmup_epochs=3, train=TrainConfig(max_epochs=5, patience=5,
                                                          device="cpu"))
    asked_from: list[int | None] = []
    pruner_stops = automl.objective.pruner_stops

    def recording(trial: optuna.Trial, step: int, prune_from: int | None) -> bool:
        asked_from.append(prune_from)
        return pruner_stops(trial, step, prune_from)

    monkeypatch.setattr(automl.objective, "pruner_stops", recording)
    _search(cfg)
    assert first_asked in asked_from
    assert {step for step in asked_from if step is not None} == {first_asked}


# -------------------------------------------------------------------------------------- resume
def test_resume_config_reproduces_the_stored_settings(search_cfg: SearchCfg) -> None:
    cfg = search_cfg(n_trials=1, metric="accuracy", seed=3, val_fraction=0.2, test_fraction=0.1,
                     sampler=SamplerKind.RANDOM, pruner=PrunerKind.NONE,
                     train=TrainConfig(max_epochs=3, patience=2, min_delta=0.001, device="cpu"),
                     study_name="resumable")
    _search(cfg)

    resumed = resume_config(cfg.storage_url, "resumable")

    for name in ("target", "study_name", "storage_url", "tracking_uri", "n_trials", "metric",
                 "seed", "val_fraction", "test_fraction", "sampler", "pruner", "train"):
        assert getattr(resumed, name) == getattr(cfg, name), name
    assert resumed.csv_path == cfg.csv_path.resolve()
    assert resumed.task == "binary"

    more = _search(resume_config(cfg.storage_url, "resumable", n_trials=2, threads=1))
    assert (more.n_run_here, _finished(more)) == (1, 2)
    assert more.report.to_json()["metric"] == "accuracy"
    _assert_ledgers_agree(cfg, "resumable")


def test_a_study_searches_only_its_families_and_keeps_them_on_resume(
        search_cfg: SearchCfg) -> None:
    cfg = search_cfg(n_trials=3, families=("tabm", "linear"), study_name="two-families")
    _search(cfg)
    resumed = resume_config(cfg.storage_url, "two-families", n_trials=5)
    assert resumed.families == ("linear", "tabm")
    _search(resumed)
    trials = load_study(cfg.storage_url, "two-families").trials
    assert len(trials) == 5 and {t.params["arch"] for t in trials} <= {"linear", "tabm"}
    assert [t.params["arch"] for t in trials[:2]] == ["linear", "tabm"]  # their warm start
    with pytest.raises(StudyMismatchError, match="families"):
        _search(replace(cfg, families=None, n_trials=6))


def test_resume_of_an_unknown_study_lists_the_known_ones(search_cfg: SearchCfg) -> None:
    cfg = search_cfg()
    start_study(prepare_search(cfg))  # creates "test-binary" without running trials
    with pytest.raises(StudyNotFoundError, match=r"'nope'.*studies: test-binary"):
        resume_config(cfg.storage_url, "nope")


def test_a_missing_storage_is_reported_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/absent/optuna.db"
    with pytest.raises(StudyNotFoundError, match="automl search"):
        resume_config(url, "anything")
    assert not (tmp_path / "absent").exists()


# ------------------------------------------------------------------------------------ mismatch
def _mlflow_run_ids(cfg: SearchConfig) -> set[str]:
    client = MlflowClient(cfg.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_id for r in client.search_runs(experiments, max_results=1000)}


def _no_trial_started(cfg: SearchConfig) -> bool:
    trials = load_study(cfg.storage_url, "test-binary").trials
    return all(t.state is TrialState.WAITING for t in trials)


def test_changed_csv_content_under_the_same_study_is_refused(
        search_cfg: SearchCfg, make_csv: Callable[..., Path]) -> None:
    cfg = search_cfg()
    start_study(prepare_search(cfg))
    make_csv(seed=1)  # same path, other rows

    with pytest.raises(StudyMismatchError) as caught:
        _search(cfg)

    message = str(caught.value)
    assert "fingerprint" in message and "the data file changed since the study began" in message
    assert f"automl search {Path(cfg.csv_path).resolve()} --study test-binary-2" in message
    assert _mlflow_run_ids(cfg) == set()  # nothing was logged
    assert _no_trial_started(cfg)


@pytest.mark.parametrize(("change", "said"), [
    ({"metric": "accuracy"}, "metric: study has 'roc_auc', now 'accuracy'"),
    # the old target is a feature now, the new one was: not a change of how this automl reads
    # columns (the message said so, and told the user to install the study's version)
    ({"target": "x1"}, "target: study has 'y', now 'x1'"),
])
def test_another_setting_under_the_same_study_is_refused_with_its_own_settings_offered(
        search_cfg: SearchCfg, change: dict[str, str], said: str) -> None:
    cfg = search_cfg()
    start_study(prepare_search(cfg))

    with pytest.raises(StudyMismatchError) as caught:
        _search(replace(cfg, **change))

    message = str(caught.value)
    assert said in message
    assert "continue it with its own settings (automl resume test-binary)" in message
    assert "start a new one: automl search" in message and "--study test-binary-2" in message
    assert "column kinds" not in message and "otherwise than the version" not in message
    assert _mlflow_run_ids(cfg) == set()
    assert _no_trial_started(cfg)


def test_a_split_by_time_is_the_studys_and_kept_on_resume(search_cfg: SearchCfg,
                                                         tmp_path: Path) -> None:
    """The latest rows by ``x1`` are held out; resume and workers hold out the same ones, and
    a run with another ``--split-by`` (or none) under the study is refused."""
    cfg = search_cfg("regression", n_trials=1, split_by="X1", study_name="by-time")
    plan = prepare_search(cfg)
    assert plan.validation.split_by == "x1" and not plan.folds
    _search(cfg)
    resumed = resume_config(cfg.storage_url, "by-time", n_trials=2)
    assert resumed.split_by == "x1"
    assert _finished(_search(resumed)) == 2
    code, shown, _ = cli("show", "by-time", "--storage", cfg.storage_url)
    assert code == 0 and "held out: the latest rows by 'x1'" in " ".join(shown.split())
    code, _, _ = cli("report", "by-time", "--storage", cfg.storage_url, "-o",
                     str(tmp_path / "r.html"))
    assert code == 0 and "the latest rows by &#x27;x1&#x27;" in (tmp_path / "r.html").read_text()
    with pytest.raises(StudyMismatchError, match="split_by: study has 'x1', now ''"):
        _search(replace(cfg, split_by=None, n_trials=3))


def test_a_split_by_group_draws_folds_of_whole_groups(search_cfg: SearchCfg,
                                                      tmp_path: Path) -> None:
    """Each customer's search rows are in one fold; the study keeps the column."""
    rng = np.random.default_rng(0)
    csv = tmp_path / "grouped.csv"
    x = rng.normal(size=300)
    pd.DataFrame({"customer": rng.integers(0, 40, 300), "x": x.round(3),
                  "y": np.where(x > 0, "yes", "no")}).to_csv(csv, index=False)
    cfg = search_cfg(csv_path=csv, n_trials=1, group_by="customer", study_name="grouped")
    plan = prepare_search(cfg)
    assert plan.folds is not None and plan.validation.group_by == "customer"
    dataset = load_dataset(csv, "y")  # the training rows, in the folds' order
    train = split(dataset.frame, dataset.schema, seed=cfg.seed, val_fraction=0.0,
                  test_fraction=plan.validation.test_fraction, group_by="customer").train
    assert len(train) == len(plan.folds.assignment)
    for rows in train.groupby("customer").indices.values():
        assert len(set(plan.folds.assignment[rows])) == 1
    _search(cfg)
    assert resume_config(cfg.storage_url, "grouped", n_trials=2).group_by == "customer"


def test_a_study_whose_columns_are_now_read_as_other_kinds_is_refused(
        search_cfg: SearchCfg) -> None:
    """A study begun by an automl that read ``x1`` as categorical (as one did read numbers
    beside ``unknown``) fed its networks codes for it; trials that read it as numbers cannot
    join their ensemble, so continuing it is refused, on resume as on search."""
    cfg = search_cfg()
    study = start_study(prepare_search(cfg))
    schema = study.user_attrs["schema"]
    for column in schema["columns"]:
        if column["name"] == "x1":
            column["kind"] = "categorical"
    study.set_user_attr("schema", schema)

    for run in (cfg, resume_config(cfg.storage_url, "test-binary")):
        with pytest.raises(StudyMismatchError) as caught:
            _search(run)
        message = str(caught.value)
        assert "column kinds: 'x1' study has categorical, now numeric" in message
        assert "reads those columns otherwise than the version that began the study" in message
        assert "--study test-binary-2" in message
    assert _no_trial_started(cfg)


def test_columns_dropped_then_and_now_are_no_change_of_kind(search_cfg: SearchCfg) -> None:
    """A column dropped as constant by one automl and as an id by another fed no network."""
    settings = prepare_search(search_cfg()).settings()
    attrs = settings.to_attrs()
    columns = attrs["schema"]["columns"]
    attrs["schema"] = dict(attrs["schema"], columns=[*columns,
                                                     {"name": "gone", "kind": "constant",
                                                      "note": "dropped: a single value"}])
    assert kind_changes(attrs, settings) == []
    used = next(c for c in columns if c["kind"] == "numeric")
    attrs["schema"]["columns"].append({**used, "kind": "id-like"})
    attrs["schema"]["columns"].remove(used)
    assert kind_changes(attrs, settings) == [
        f"column kinds: {used['name']!r} study has id-like, now numeric"]



def test_a_text_column_a_study_dropped_is_a_change_of_kind(search_cfg: SearchCfg) -> None:
    """A study begun when free text was dropped fed its networks none of its words; an automl
    that reads them as inputs now must not continue it."""
    settings = prepare_search(search_cfg()).settings()
    attrs, notes = settings.to_attrs(), {"name": "notes", "kind": "text", "note": ""}
    attrs["schema"] = dict(attrs["schema"], columns=[
        *attrs["schema"]["columns"], {**notes, "kind": "free text", "note": "dropped: free text"}])
    now = replace(settings, schema=dict(settings.schema,
                                        columns=[*settings.schema["columns"], notes]))
    assert kind_changes(attrs, now) == ["column kinds: 'notes' study has free text, now text"]


# -------------------------------------------------------------------------------- the outcome
def test_best_model_and_test_metrics_are_on_the_parent_run(
        shared_study: Callable[..., SharedStudy]) -> None:
    # what search_cfg(n_trials=2, test_fraction=0.15) searches, shared with test_report.py
    shared = shared_study("binary", test_fraction=0.15)
    cfg, summary = shared.cfg, shared.summary
    report = summary.report.to_json()
    client = MlflowClient(cfg.tracking_uri)
    parent = client.get_run(report["mlflow_parent_run_id"])

    assert "best_model/bundle.json" in [
        f.path for f in client.list_artifacts(parent.info.run_id, "best_model")]
    assert set(summary.test_metrics) == {"roc_auc", "accuracy", "f1_macro", "log_loss",
                                         "precision", "recall", "f1", "pr_auc",
                                         "balanced_accuracy"}
    assert report["test_metrics"] == summary.test_metrics
    for name, value in summary.test_metrics.items():
        assert parent.data.metrics[f"test_{name}"] == pytest.approx(value)
    assert parent.data.metrics["best_value"] == pytest.approx(report["best_value"])
    assert parent.data.metrics["best_trial"] == report["best_trial"]
    assert parent.info.status == "FINISHED"

    best_run = report["leaderboard"][0]["mlflow_run_id"]
    assert "model/bundle.json" in [f.path for f in client.list_artifacts(best_run, "model")]
    _assert_ledgers_agree(cfg, "test-binary")


def test_the_final_step_runs_once_by_the_last_worker_to_end(search_cfg: SearchCfg) -> None:
    """A worker that ends while another still runs a trial leaves the test score, the final
    model and the parent run to the last one; a run that adds no trial does not redo them."""
    cfg = search_cfg(n_trials=1, test_fraction=0.15)
    parent = _search(cfg).report.to_json()["mlflow_parent_run_id"]
    study = load_study(cfg.storage_url, "test-binary")
    elsewhere = study.ask()  # another worker's trial, RUNNING
    client = MlflowClient(cfg.tracking_uri)

    def final_runs() -> list[str]:
        return [r.info.run_id for r in _runs(cfg, study.user_attrs["mlflow_experiment_id"],
                                             "tags.`automl.role` = 'final'")]

    first_final = final_runs()
    early = _search(replace(cfg, n_trials=3, timeout_s=8))  # waits for `elsewhere`, in vain

    assert (early.n_run_here, early.final_step, early.test_metrics) == (
        1, FinalStep.LEFT_TO_RUNNING, {})
    assert client.get_run(parent).info.status == "RUNNING"
    assert final_runs() == first_final

    study.tell(elsewhere, state=TrialState.FAIL)
    last = _search(replace(cfg, n_trials=3))

    assert (last.n_run_here, last.final_step, bool(last.test_metrics)) == (
        1, FinalStep.HERE, True)
    assert client.get_run(parent).info.status == "FINISHED"
    assert len(final_runs()) == 2

    again = _search(replace(cfg, n_trials=3))
    assert (again.n_run_here, again.final_step) == (0, FinalStep.DONE_ELSEWHERE)
    assert len(final_runs()) == 2


def test_describe_is_stable_json_with_a_ranked_leaderboard(
        shared_study: Callable[..., SharedStudy]) -> None:
    summary = shared_study("regression").summary  # search_cfg("regression", n_trials=2)
    report: dict[str, Any] = json.loads(json.dumps(summary.report.to_json()))

    assert {"study", "task", "metric", "direction", "best_value", "best_params", "best_trial",
            "trials", "mlflow_experiment_id", "mlflow_parent_run_id",
            "leaderboard"} <= set(report)
    assert (report["study"], report["task"], report["metric"], report["direction"]) == (
        "test-regression", "regression", "rmse", "minimize")
    assert set(report["trials"]) == {"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"}
    assert report["trials"]["COMPLETE"] + report["trials"]["PRUNED"] == 2
    board = report["leaderboard"]
    assert len(board) == report["trials"]["COMPLETE"] >= 1
    assert all(set(row) == {"trial", "value", "spread", "rows", "params", "mlflow_run_id"}
               for row in board)
    assert all(row["rows"] > 0 for row in board)  # the training rows at the best epoch
    assert [row["value"] for row in board] == sorted(row["value"] for row in board)
    assert board[0]["trial"] == report["best_trial"]
    assert board[0]["value"] == report["best_value"]
    assert board[0]["params"] == report["best_params"]
    assert len({row["mlflow_run_id"] for row in board}) == len(board)


# ------------------------------------------------------------------------------ failed trials
def test_a_diverging_trial_fails_and_the_search_goes_on(search_cfg: SearchCfg) -> None:
    cfg = search_cfg(n_trials=2)
    plan = prepare_search(cfg)
    # A study whose first queued configuration diverges (as a user's enqueued guess might).
    optuna.create_study(study_name="test-binary", storage=make_storage(cfg.storage_url),
                        direction="maximize").enqueue_trial(DIVERGING)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lr is outside the space on purpose
        summary = run_search(plan)

    assert summary.report.to_json()["trials"]["FAIL"] == 1
    assert _finished(summary) == 2  # failures do not use up the budget
    assert summary.n_run_here == 3
    study = load_study(cfg.storage_url, "test-binary")
    failed = study.trials[0]
    assert failed.state is TrialState.FAIL
    assert failed.params["lr"] == 1e6
    assert failed.user_attrs["stop_reason"] == "non_finite"
    assert summary.report.to_json()["best_trial"] != 0
    _assert_ledgers_agree(cfg, "test-binary")


def test_trial_time_limit_ends_each_trial_complete_with_its_best_epoch(search_cfg) -> None:
    train = TrainConfig(max_epochs=50, patience=50, device="cpu", max_trial_seconds=1e-6)
    cfg = search_cfg("regression", n_trials=2, train=train, folds=1)
    run_search(prepare_search(cfg))
    study = optuna.load_study(study_name=cfg.study_name, storage=cfg.storage_url)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert [t.user_attrs["stop_reason"] for t in trials] == ["timeout"] * 2
    assert [t.user_attrs["best_epoch"] for t in trials] == [0, 0]


def test_one_trial_gets_at_most_a_share_of_the_timeout(search_cfg: SearchCfg,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automl.objective, "MAX_TRIAL_SHARE", 1e-9)  # the share ends every 1st epoch
    monkeypatch.setattr(automl.objective, "MIN_TRIAL_SECONDS", 0.0)
    train = TrainConfig(max_epochs=50, patience=50, device="cpu", max_trial_seconds=None)
    cfg = search_cfg("regression", n_trials=2, timeout_s=600, train=train, folds=1)
    run_search(prepare_search(cfg))
    trials = optuna.load_study(study_name=cfg.study_name, storage=cfg.storage_url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert [(t.user_attrs["stop_reason"], t.user_attrs["best_epoch"]) for t in trials] == [
        ("timeout", 0)] * 2


def test_on_growing_rows_the_linear_model_stops_after_two_passes_over_every_row(
        search_cfg: SearchCfg, make_csv: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RowGrowth, "for_split",  # 20, 40, 80 rows, then the whole split
                        classmethod(lambda cls, n: cls(first=20, growth=2) if n > 80 else None))
    train = TrainConfig(max_epochs=12, patience=12, device="cpu")
    cfg = search_cfg("binary", csv_path=make_csv(n_rows=300), n_trials=2, train=train,
                     folds=1, families=("linear", "mlp"), pruner=PrunerKind.NONE)
    run_search(prepare_search(cfg))
    trials = optuna.load_study(study_name=cfg.study_name, storage=cfg.storage_url).trials
    assert [t.params["arch"] for t in trials] == ["linear", "mlp"]
    assert [len(t.intermediate_values) for t in trials] == [3 + 2, 12]


@pytest.mark.parametrize(("timeout_s", "share"), [(600, 60), (100, 10), (60, 10), (30, 10),
                                                   (6, 2)])
def test_a_short_timeout_still_leaves_each_trial_seconds_to_finish(timeout_s: float,
                                                                    share: float) -> None:
    """10% of the timeout, but at least 10 s (a third of a timeout under 30 s): a
    cross-validated trial trains one network per fold."""
    assert automl.objective.timeout_share(timeout_s) == pytest.approx(share)


# ------------------------------------------------------------------------------- stale trials
def test_a_trial_that_never_sent_a_heartbeat_is_failed_and_queued_again_after_the_wait(
        tmp_storage_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timed by this process from when it first saw the trial: no other machine's clock."""
    monkeypatch.setattr(automl.storage, "HEARTBEAT_INTERVAL_S", 1)  # wait: 5 x 1 s + 2 s grace
    storage = make_storage(tmp_storage_url)
    study = optuna.create_study(study_name="beatless", storage=storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna: heartbeats are meant for Study.optimize
        study.ask()  # RUNNING, and no heartbeat is ever sent for it
    fail_stale(study, storage)
    assert [t.state for t in study.trials] == [TrialState.RUNNING]  # first seen: not yet
    storage.heartbeatless_since = {k: v - 8.0 for k, v in storage.heartbeatless_since.items()}
    fail_stale(study, storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
