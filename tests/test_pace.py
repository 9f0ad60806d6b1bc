"""A sampled network too slow to reach the pruner's first judgement within its time limit is
pruned early, in both records; a fast one trains as before."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from automl.config import SearchConfig, TrainConfig
from automl.data import TaskType
from automl.networks.mlp import MLP_PLE
from automl.networks.tabm import PUBLISHED
from automl.objective import PACE
from automl.plan import prepare_search
from automl.session import Progress, run_search
from automl.space import warm_start
from automl.train import StopReason, Watch, flushes_subnormals
from tests.conftest import write_csv

SLOW = PUBLISHED | {"n_blocks": 3, "d_block": 1024, "tabm_k": 32, "batch_size": 64,
                   "embedding": "none"}
FAST = MLP_PLE | {"n_blocks": 1, "d_block": 64, "embedding": "none"}


def _search(tmp_path: Path, tracking_uri: str, *configs: dict,
            on_trial: Callable[[Progress], None] | None = None) -> tuple[str, optuna.Study]:
    """``configs`` as the only trials of a new study on 2,000 rows: each trial may use 5 s,
    and the median pruner may judge it from epoch 10 on (no start-up trials)."""
    cfg = SearchConfig(csv_path=write_csv(tmp_path / "d.csv", n_rows=2000), target="y",
                       study_name="pace", n_trials=len(configs), folds=1, threads=1,
                       n_startup_trials=0, n_warmup_epochs=10,
                       storage_url=f"sqlite:///{tmp_path}/o.db", tracking_uri=tracking_uri,
                       train=TrainConfig(max_epochs=12, device="cpu", max_trial_seconds=5.0))
    study = optuna.create_study(study_name="pace", storage=cfg.storage_url,
                                direction="maximize")
    for params in configs:
        study.enqueue_trial(warm_start(TaskType.BINARY, ("linear",))[0] | params)
    run_search(prepare_search(cfg), finish=False, on_trial=on_trial)
    return "pace", optuna.load_study(study_name="pace", storage=cfg.storage_url)


@pytest.mark.slow
def test_a_network_too_slow_for_its_time_is_pruned_early_and_says_why(
        tmp_path: Path, tmp_tracking_uri: str) -> None:
    name, study = _search(tmp_path, tmp_tracking_uri, SLOW, FAST)
    slow, fast = study.trials
    assert slow.state is TrialState.PRUNED and slow.user_attrs["stop_reason"] == "too_slow"
    assert "its first 11 epochs would take about" in slow.user_attrs[PACE]
    # Stopped about a tenth of the way into its 5 s (after its first two steps), not at its end.
    assert slow.user_attrs["epoch_seconds"] < 5.0
    assert fast.state is TrialState.COMPLETE and PACE not in fast.user_attrs
    client = MlflowClient(tmp_tracking_uri)
    experiment = client.get_experiment_by_name(name)
    runs = {int(run.data.tags["automl.trial"]): run for run in client.search_runs(
        [experiment.experiment_id], "tags.`automl.role` = 'trial'")}
    assert runs[0].data.tags["automl.state"] == "PRUNED"
    assert runs[0].data.metrics["pace_forecast_s"] > runs[0].data.metrics["pace_limit_s"] == 5.0
    assert runs[1].data.tags["automl.state"] == "COMPLETE"


def test_the_watch_forecasts_from_the_steps_after_the_first_and_judges_once() -> None:
    now = [0.0]
    watch = Watch(deadline=None, pace_steps=100, pace_seconds=10.0, now=lambda: now[0])
    now[0] = 0.9  # a slow first step (one-off costs) does not condemn a fast network
    assert watch.after_batch() is None
    now[0] = 1.0
    assert watch.after_batch() is None and math.isnan(watch.forecast_seconds)
    now[0] = 50.0  # judged once: a later slowdown is the deadline's business
    assert watch.after_batch() is None


def test_the_deadline_still_stops_a_watched_run() -> None:
    now = [0.0]
    watch = Watch(deadline=5.0, pace_steps=10, pace_seconds=100.0, now=lambda: now[0])
    now[0] = 6.0
    assert watch.after_batch() is StopReason.TIMEOUT


def test_a_search_computes_with_subnormal_floats_flushed_to_zero_and_then_restores(
        tmp_path: Path, tmp_tracking_uri: str) -> None:
    """A CPU spends many times longer on a subnormal float (below float32's normal range)
    than on a normal one: a search never pays for them, and leaves the processor's mode as it
    found it."""
    seen: list[bool] = []
    _search(tmp_path, tmp_tracking_uri, FAST, on_trial=lambda _: seen.append(flushes_subnormals()))
    assert seen == [True] and not flushes_subnormals()
