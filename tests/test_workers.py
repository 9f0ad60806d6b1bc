"""Crash and signal behaviour of real ``automl`` processes on SQLite stores (issue 3).

Every test here starts real subprocesses and sends real signals, so all are ``slow``. A signal
is sent only once a trial is *training* (RUNNING with an epoch reported: its parameters are all
sampled and its MLflow run exists); trials that get a signal are kept far longer than any wait
(``--patience`` = ``--max-epochs``), so a fast machine cannot finish them first.
``AUTOML_HEARTBEAT_S=1`` makes a killed trial stale after ~2 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from cli_helpers import cli
from mlflow.tracking import MlflowClient

from automl.config import SearchConfig
from automl.workers import DEADLINE_ENV, threads_per_worker, until_parent_deadline

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.ERROR)
FINISHED = ("COMPLETE", "PRUNED")


# ------------------------------------------------------------------------------------- helpers
def automl_env(storage: str, tracking: str) -> dict[str, str]:
    """The environment of an ``automl`` subprocess: stores, 1 s heartbeat, one thread."""
    return {**os.environ, "AUTOML_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking,
            "AUTOML_HEARTBEAT_S": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def search_args(csv: Path, study: str, n_trials: int, epochs: int = 3) -> list[str]:
    """``automl search`` arguments for a small study; ``--patience epochs`` keeps trials whole,
    ``--folds 1`` keeps them short (one network each; cross-validation has tests of its own)."""
    return ["search", str(csv), "--target", "y", "--study", study, "--n-trials", str(n_trials),
            "--max-epochs", str(epochs), "--patience", str(epochs), "--device", "cpu",
            "--threads", "1", "--pruner", "none", "--folds", "1"]


def one_trial_study(csv: Path, study: str, storage: str, tracking: str) -> None:
    """Make ``study`` of one short trial on ``csv``, in this process."""
    code, _, stderr = cli(*search_args(csv, study, n_trials=1, epochs=1),
                          "--storage", storage, "--tracking-uri", tracking)
    assert code == 0, stderr


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "automl", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "automl", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


def trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if condition():
                return
        except (KeyError, ValueError, Exception):  # study or tables not created yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def training(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """The RUNNING trials that have reported an epoch (sampled, with an MLflow run)."""
    return [t for t in trials(storage, study)
            if t.state.name == "RUNNING" and t.intermediate_values]


def states(storage: str, study: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in trials(storage, study):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def child_runs(tracking: str, storage: str, study: str) -> list[Any]:
    """The trial runs under the study's parent run (the final model's run is not a trial)."""
    attrs = optuna.load_study(study_name=study, storage=storage).user_attrs
    client = MlflowClient(tracking)
    return client.search_runs(
        [attrs["mlflow_experiment_id"]],
        f"tags.`mlflow.parentRunId` = '{attrs['mlflow_parent_run_id']}' "
        "and tags.`automl.role` = 'trial'", max_results=1000)


def check_ledgers(tracking: str, storage: str, study: str) -> None:
    """Every trial has one run, linked both ways, with the mirrored status; nothing RUNNING."""
    runs = {r.info.run_id: r for r in child_runs(tracking, storage, study)}
    mirrored = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": ("FAILED", "KILLED")}
    for trial in trials(storage, study):
        assert trial.state.name != "RUNNING", trial
        if trial.state.name == "WAITING":  # queued (warm start or retry), never started
            continue
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["automl.trial"] == str(trial.number)
        assert run.info.status in mirrored[trial.state.name], (trial.number, run.info.status)
    assert not [r for r in runs.values() if r.info.status == "RUNNING"]
    numbers = [r.data.tags["automl.trial"] for r in runs.values()]
    assert len(numbers) == len(set(numbers)), "a trial has two MLflow runs"


@pytest.fixture
def stores(tmp_path: Path, tmp_tracking_uri: str) -> tuple[str, str]:
    """A fresh Optuna SQLite URL and a fresh (pre-migrated) MLflow store."""
    return f"sqlite:///{tmp_path}/studies/optuna.db", tmp_tracking_uri


# --------------------------------------------------------------------------------------- tests
def test_sigkill_mid_trial_then_resume_reaches_exactly_the_budget(
        make_csv: Callable[..., Path], stores: tuple[str, str]) -> None:
    storage, tracking = stores
    env = automl_env(storage, tracking)
    # Every trial, the retried victim included, ends after 10 s of training (as COMPLETE,
    # with its best epoch): far longer than the wait for the kill, a fraction of 60 full
    # epochs. (At 5 s, with the suite's other process beside it, a slow poll once let the
    # trial end before the kill.)
    proc = start([*search_args(make_csv(n_rows=3000), "killed", n_trials=3, epochs=60),
                  "--max-trial-seconds", "10"], env)
    wait_for(lambda: training(storage, "killed"), 90, "a trial in training")
    proc.kill()
    proc.wait(10)
    [victim] = [t for t in trials(storage, "killed") if t.state.name == "RUNNING"]
    time.sleep(2.5)  # past the grace period (2 heartbeats) even if resume started at once

    done = run(["resume", "killed"], env, timeout=150)
    assert done.returncode == 0, done.stderr
    counts = states(storage, "killed")
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 3, counts
    assert counts.get("RUNNING", 0) == counts.get("WAITING", 0) == 0, counts
    failed = {t.number: t for t in trials(storage, "killed")}[victim.number]
    assert failed.state.name == "FAIL"
    retried = [t for t in trials(storage, "killed")
               if t.system_attrs.get("failed_trial") == victim.number]
    assert retried and retried[0].params == victim.params
    assert retried[0].state.name in FINISHED
    check_ledgers(tracking, storage, "killed")
    victim_run = MlflowClient(tracking).get_run(victim.user_attrs["mlflow_run_id"])
    assert victim_run.info.status in ("FAILED", "KILLED")


@pytest.mark.parametrize(("signum", "code", "word"),
                         [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_fails_the_trial_kills_its_run_and_exits_cleanly(
        make_csv: Callable[..., Path], stores: tuple[str, str], signum: int, code: int,
        word: str) -> None:
    storage, tracking = stores
    proc = start(search_args(make_csv(), "sig", n_trials=2, epochs=100_000),
                 automl_env(storage, tracking))
    wait_for(lambda: training(storage, "sig"), 90, "a trial in training")
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    messages = [line for line in stderr.splitlines() if line.startswith(word)]
    assert len(messages) == 1 and "`automl resume sig`" in messages[0], stderr
    [trial] = [t for t in trials(storage, "sig") if t.state.name != "WAITING"]  # warm starts
    assert trial.state.name == "FAIL"
    run = MlflowClient(tracking).get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED"
    assert run.data.tags["automl.state"] == "INTERRUPTED"
    parent = MlflowClient(tracking).get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status != "RUNNING"


def test_sigterm_to_search_with_workers_stops_every_worker(
        make_csv: Callable[..., Path], stores: tuple[str, str]) -> None:
    storage, tracking = stores
    proc = start([*search_args(make_csv(), "pool", n_trials=4, epochs=100_000), "--workers", "2"],
                 automl_env(storage, tracking))
    wait_for(lambda: len(training(storage, "pool")) == 2, 120, "2 trials in training")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    counts = states(storage, "pool")
    counts.pop("WAITING", None)  # warm-start configurations not run yet
    assert counts == {"FAIL": 2}, counts
    said = [line for line in stderr.splitlines() if line.startswith("terminated")]
    assert sorted(said) == [  # each worker says what it stopped, then the parent
        "terminated: every worker stopped (each said what, above); continue with `automl "
        "resume pool`", *["terminated: the running trial was marked failed and its MLflow run "
                          "closed; continue with `automl resume pool`"] * 2], stderr
    runs = child_runs(tracking, storage, "pool")
    assert sorted(r.info.status for r in runs) == ["KILLED", "KILLED"]


def test_a_signal_to_a_worker_waiting_for_a_trial_cuts_none_and_says_so(
        make_csv: Callable[..., Path], stores: tuple[str, str]) -> None:
    """A worker joins a study whose budget a running trial holds, and waits at the gate; Ctrl-C
    there fails no trial (the other process's trains on) and the message says no trial was
    running (it said one was marked failed)."""
    storage, tracking = stores
    env = automl_env(storage, tracking)
    training_proc = start(search_args(make_csv(), "gate", n_trials=1, epochs=100_000), env)
    try:
        wait_for(lambda: training(storage, "gate"), 90, "a trial in training")
        waiting = start(["worker", "gate"], env)
        assert waiting.stdout is not None and "joins study" in waiting.stdout.readline()
        time.sleep(3)  # reading the data and opening the stores; a signal then cuts no trial too
        waiting.send_signal(signal.SIGINT)
        _, stderr = waiting.communicate(timeout=60)
        assert waiting.returncode == 130, stderr
        assert stderr.strip() == ("interrupted: no trial was running, so none was cut short; "
                                  "continue with `automl resume gate`"), stderr
        assert [t.state.name for t in trials(storage, "gate")
                if t.state.name != "WAITING"] == ["RUNNING"]  # the other process's, untouched
    finally:
        training_proc.kill()
        training_proc.wait(10)


def test_fresh_stores_opened_by_several_processes_at_once(
        make_csv: Callable[..., Path], tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/fresh/optuna.db"
    tracking = f"sqlite:///{tmp_path}/fresh-mlruns/mlflow.db"
    env = automl_env(storage, tracking)
    csv = make_csv()
    procs = [start(search_args(csv, "fresh", n_trials=3, epochs=2), env) for _ in range(3)]
    outputs = [p.communicate(timeout=150) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
    counts = states(storage, "fresh")
    assert 3 <= counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) <= 3 + len(procs) - 1
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("fresh").experiment_id
    assert len(client.search_runs([experiment], "tags.`automl.role` = 'study'")) == 1
    # The last process to end builds the final model; the others leave it to it.
    assert len(client.search_runs([experiment], "tags.`automl.role` = 'final'")) == 1
    check_ledgers(tracking, storage, "fresh")


def test_worker_refuses_changed_data(make_csv: Callable[..., Path],
                                     stores: tuple[str, str]) -> None:
    storage, tracking = stores
    env = automl_env(storage, tracking)
    csv = make_csv()
    # The study is made in this process (what is tested is the worker process's refusal).
    one_trial_study(csv, "data", storage, tracking)
    make_csv(seed=1)  # the same path, other rows
    done = run(["worker", "data"], env)
    assert done.returncode == 2
    assert "fingerprint" in done.stderr and "Traceback" not in done.stderr


def test_a_moved_data_file_is_named_and_found_again_with_data(
        make_csv: Callable[..., Path], stores: tuple[str, str], tmp_path: Path) -> None:
    """The study stores its CSV's path; once the file moves (or lives elsewhere on another
    machine), resume and workers say so in one line and take ``--data``; the local workers of
    ``--workers`` read the path this run was given."""
    storage, tracking = stores
    env = automl_env(storage, tracking)
    csv = make_csv()
    one_trial_study(csv, "moved", storage, tracking)
    moved = csv.rename(tmp_path / "elsewhere.csv")
    refusals = [start(command, env)  # side by side: a process start is slow
                for command in (["resume", "moved", "--n-trials", "2"], ["worker", "moved"])]
    for process in refusals:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stderr
        assert stderr.strip() == (
            f"error: study 'moved' reads its data from {csv}, which does not exist here: put "
            "the file back, or pass where it is now with --data PATH (the same content)")
    done = run(["resume", "moved", "--n-trials", "3", "--workers", "2", "--data", str(moved)],
               env)
    assert done.returncode == 0, done.stderr
    counts = states(storage, "moved")
    assert 3 <= counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) <= 4, counts


def test_threads_are_divided_between_workers() -> None:
    cores = os.cpu_count() or 1
    for n in (1, 2, 3, 8):
        assert threads_per_worker(n) * n <= max(cores, n)
    assert threads_per_worker(1, 1) == 1


def test_a_started_worker_ends_by_its_parents_deadline_however_long_it_took_to_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # `--workers N --timeout T`: a worker's seconds of imports and reading come out of T, as
    # they do for one process, instead of starting its clock late.
    given = SearchConfig(csv_path=Path("data.csv"), timeout_s=60.0)
    assert until_parent_deadline(given) is given  # `automl worker` started by hand
    monkeypatch.setenv(DEADLINE_ENV, str(time.time() + 20))
    assert 19 < until_parent_deadline(given).timeout_s <= 20
    monkeypatch.setenv(DEADLINE_ENV, str(time.time() - 5))  # started after it: one last second
    assert until_parent_deadline(given).timeout_s == 1.0


def test_an_interrupt_swallowed_where_it_landed_is_raised_at_the_next_safe_point() -> None:
    """Ctrl-C to a worker while it opened the stores landed in a finalizer of SQLAlchemy's,
    where Python ignores exceptions; the worker then waited at the gate for good."""
    from automl import interrupts

    signalled = KeyboardInterrupt()
    assert interrupts.defer(signalled) is False  # not armed: the handler raises it at once
    with interrupts.armed(), pytest.raises(KeyboardInterrupt) as raised:
        interrupts.raise_pending()  # ... and, had that raise been swallowed, the gate does
    assert raised.value is signalled
    interrupts.defer(KeyboardInterrupt())
    interrupts.forget()  # the command ended: nothing is left for a later one
    with interrupts.armed():
        interrupts.raise_pending()
