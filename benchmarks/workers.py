"""Throughput benchmark (issue 3): trials per hour on one study, 1 worker × 2 threads vs 2 × 1.

Both set-ups train the same queue of identical trials (the first warm-start configuration, a
3×256 MLP, enqueued ``--trials`` times; no pruning), through the real ``run_workers`` path:
SQLite Optuna storage, SQLite MLflow store, worker processes started with ``automl worker``.
Worker start-up is part of the wall time, as it is for a user. Rounds alternate A/B/A/B.

Usage: ``.venv/bin/python benchmarks/workers.py [--csv PATH --target NAME] [--trials 16]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from automl.config import PrunerKind, SearchConfig, TrainConfig
from automl.data import TaskType
from automl.plan import prepare_search
from automl.space import warm_start
from automl.storage import make_storage
from automl.workers import run_workers

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv"


def trials_per_hour(csv: Path, target: str, trials: int, workers: int, epochs: int) -> float:
    """Run ``trials`` identical trials with ``workers`` processes sharing 2 threads."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(csv_path=csv, target=target, study_name="throughput",
                           n_trials=trials, threads=2, pruner=PrunerKind.NONE,
                           storage_url=f"sqlite:///{tmp}/optuna.db",
                           tracking_uri=f"sqlite:///{tmp}/mlruns/mlflow.db",
                           train=TrainConfig(max_epochs=epochs, patience=epochs + 1,
                                             device="cpu"))
        plan = prepare_search(cfg)
        study = optuna.create_study(study_name="throughput", storage=make_storage(cfg.storage_url),
                                    direction=plan.metric.direction)
        params = warm_start(TaskType(plan.schema.task))[0]
        for _ in range(trials):
            study.enqueue_trial(params, skip_if_exists=False)
        start = time.perf_counter()
        summary = run_workers(plan, workers)
        wall = time.perf_counter() - start
    done = summary.report.trials.complete
    assert done >= trials, f"only {done} of {trials} trials completed"
    return done / wall * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--target", default="class")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    one, two = [], []
    for _ in range(args.rounds):
        one.append(trials_per_hour(args.csv, args.target, args.trials, 1, args.epochs))
        two.append(trials_per_hour(args.csv, args.target, args.trials, 2, args.epochs))
    print(f"| {args.trials} identical trials × {args.rounds} rounds ({args.epochs} epochs each) "
          f"| 1 worker × 2 threads {statistics.median(one):,.0f} trials/h "
          f"| 2 workers × 1 thread {statistics.median(two):,.0f} trials/h "
          f"| ratio {statistics.median(t / o for o, t in zip(one, two, strict=True)):.2f} |")


if __name__ == "__main__":
    main()
