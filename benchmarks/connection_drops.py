"""Searches on PostgreSQL whose connections are killed again and again: do they all finish whole?

Each round runs ``automl search`` (``--n-trials`` small trials) on a fresh PostgreSQL study and,
once trials have started, terminates the search's server connections (``pg_terminate_backend``)
``--drops`` times at random intervals of 0.4-1.5 s. A round passes when the search exits 0 with
exactly the budget of finished trials, none RUNNING, and one MLflow run per started trial.

    .venv/bin/python benchmarks/connection_drops.py --rounds 10
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import psycopg
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, n_rows: int = 300) -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n_rows), rng.normal(size=n_rows)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "y": np.where(x1 + 0.5 * x2 > 0, "yes", "no")})
    frame.to_csv(path, index=False)


def one_round(pg_url: str, csv: Path, folder: Path, n_trials: int, drops: int) -> str:
    """Run one search under connection drops; returns "" when it ended whole, else what failed."""
    name, study = f"drops-{uuid.uuid4().hex[:8]}", f"drops-{uuid.uuid4().hex[:8]}"
    storage = f"{pg_url}{'&' if '?' in pg_url else '?'}application_name={name}"
    tracking = f"sqlite:///{folder}/{study}.db"
    env = {**os.environ, "AUTOML_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking,
           "AUTOML_HEARTBEAT_S": "1", "OMP_NUM_THREADS": "1"}
    args = ["search", str(csv), "--target", "y", "--study", study, "--n-trials", str(n_trials),
            "--max-epochs", "3", "--patience", "3", "--device", "cpu", "--threads", "1",
            "--pruner", "none"]
    proc = subprocess.Popen([sys.executable, "-m", "automl", *args], env=env, cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_trials(pg_url, study, proc)
    for _ in range(drops):
        time.sleep(random.uniform(0.4, 1.5))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                          "where application_name = %s", (name,))
    _, stderr = proc.communicate(timeout=600)
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {stderr.strip().splitlines()[-1][:200]}"
    return _check(pg_url, study, tracking, n_trials)


def _wait_for_trials(pg_url: str, study: str, proc: subprocess.Popen[str]) -> None:
    while proc.poll() is None:
        try:
            if optuna.load_study(study_name=study, storage=pg_url).trials:
                return
        except KeyError:  # not created yet
            pass
        time.sleep(0.2)


def _check(pg_url: str, study: str, tracking: str, n_trials: int) -> str:
    loaded = optuna.load_study(study_name=study, storage=pg_url)
    states = [t.state.name for t in loaded.trials]
    finished = sum(s in ("COMPLETE", "PRUNED") for s in states)
    if finished != n_trials or "RUNNING" in states:
        return f"trials: {finished} finished of {n_trials}, states {sorted(set(states))}"
    client = MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name(study).experiment_id],
                              "tags.`automl.role` = 'trial'", max_results=1000)
    started = sum(s != "WAITING" for s in states)
    if len(runs) != started or any(r.info.status == "RUNNING" for r in runs):
        runless = [(t.number, t.state.name, sorted(t.system_attrs), len(t.params))
                   for t in loaded.trials if "mlflow_run_id" not in t.user_attrs]
        return f"MLflow: {len(runs)} trial runs for {started} started trials; without: {runless}"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=30, help="budget of each search")
    parser.add_argument("--drops", type=int, default=6, help="connection kills per search")
    parser.add_argument("--pg-url", default=os.environ.get(
        "AUTOML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        make_csv(csv)
        for number in range(args.rounds):
            problem = one_round(args.pg_url, csv, Path(tmp), args.trials, args.drops)
            failures += bool(problem)
            print(f"round {number}: {problem or 'whole'}", flush=True)
    print(f"{args.rounds - failures} of {args.rounds} searches ended whole "
          f"({args.drops} connection drops each)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
