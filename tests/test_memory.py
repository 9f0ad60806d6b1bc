"""The memory guard: estimates that follow a network's size, and trials it refuses to train."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from mlflow import MlflowClient
from optuna.trial import TrialState

from automl import heap
from automl.config import SearchConfig, TrainConfig
from automl.memory import GIB, free_bytes, training_bytes
from automl.networks import build_model, spec_from_dict
from automl.objective import MEMORY
from automl.plan import prepare_search
from automl.session import run_search
from tests.conftest import write_csv


def _tabm(d_block: int, k: int) -> torch.nn.Module:
    spec = spec_from_dict({"kind": "tabm", "n_blocks": 2, "d_block": d_block, "k": k})
    return build_model(spec, d_in=10, d_out=2, n_num=10, n_scalings=1)


def test_the_estimate_grows_with_the_batch_the_width_and_the_ensemble() -> None:
    x = torch.randn(4, 10)
    base = training_bytes(_tabm(64, 4), x, batch_size=256, eval_batch_size=256)
    assert training_bytes(_tabm(64, 4), x, 1024, 256) > 3 * base // 2
    assert training_bytes(_tabm(256, 4), x, 256, 256) > 3 * base
    assert training_bytes(_tabm(64, 32), x, 256, 256) > 4 * base
    wide = _tabm(512, 32)  # 2 blocks of 32 x 512 floats a row: at least 128 KiB a row
    assert training_bytes(wide, x, 1024, 8192) > 8192 * 2 * 32 * 512 * 4


def test_a_memory_limit_leaves_what_this_process_does_not_use() -> None:
    assert free_bytes(100 * GIB) < 100 * GIB
    assert free_bytes(1) < 0  # this process alone uses more
    assert 0 < free_bytes() < 2**62


def _search(tmp_path: Path, tracking_uri: str, n_trials: int,
            memory_limit_gb: float) -> tuple[str, optuna.Study]:
    """A short search of a 200-row CSV under ``memory_limit_gb``: its name and study."""
    cfg = SearchConfig(csv_path=write_csv(tmp_path / "d.csv", n_rows=200), target="y",
                       n_trials=n_trials, folds=1, storage_url=f"sqlite:///{tmp_path}/o.db",
                       tracking_uri=tracking_uri, memory_limit_gb=memory_limit_gb, threads=1,
                       train=TrainConfig(max_epochs=2, device="cpu"))
    name = run_search(prepare_search(cfg)).study_name
    return name, optuna.load_study(study_name=name, storage=cfg.storage_url)


def test_the_guard_skips_what_cannot_fit_and_says_so_in_both_records(
        tmp_path: Path, tmp_tracking_uri: str) -> None:
    """With less room than any network needs, no trial trains: each ends pruned, with the
    reason in its Optuna attrs and its MLflow run; the search itself ends normally."""
    name, study = _search(tmp_path, tmp_tracking_uri, n_trials=2, memory_limit_gb=0.01)
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all("--memory-limit 0.01" in t.user_attrs[MEMORY] for t in study.trials)
    assert not any(t.intermediate_values for t in study.trials)  # nothing was trained
    client = MlflowClient(tmp_tracking_uri)
    experiment = client.get_experiment_by_name(name)
    trial_runs = client.search_runs([experiment.experiment_id], "tags.`automl.role` = 'trial'")
    assert len(trial_runs) == 2 and all(
        run.data.tags["automl.state"] == "PRUNED" and run.data.metrics["memory_need_gib"] > 0
        for run in trial_runs)


def test_a_generous_limit_trains_as_before(tmp_path: Path, tmp_tracking_uri: str) -> None:
    _, study = _search(tmp_path, tmp_tracking_uri, n_trials=1, memory_limit_gb=64.0)
    trial = study.trials[0]
    assert trial.state is TrialState.COMPLETE and MEMORY not in trial.user_attrs


_HEAP_PROBE = """
import os, runpy, sys, numpy as np
release_free_memory = runpy.run_path(sys.argv[1])["release_free_memory"]
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
block = np.ones(2 << 20)  # freeing a 16-MiB block raises glibc's mmap threshold above it
del block
pairs = [(np.ones(1 << 17), np.ones(64)) for _ in range(300)]  # 1 MiB, then a tiny one
survivors = [tiny for _, tiny in pairs]  # they hold the heap's top: no automatic trim
del pairs
freed = resident()
release_free_memory()
print(freed - resident(), len(survivors))
"""


@pytest.mark.skipif(heap._malloc_trim() is None or not Path("/proc/self/statm").exists(),
                    reason="glibc's malloc_trim and /proc are Linux's")
def test_small_arrays_freed_into_the_heap_leave_the_process_once_released() -> None:
    # A fresh process, with the module alone: the libraries the package imports (and a
    # long-lived process's history) decide whether glibc keeps freed pages at all.
    done = subprocess.run([sys.executable, "-c", _HEAP_PROBE, heap.__file__],
                          capture_output=True, text=True, check=True)
    released, survivors = map(int, done.stdout.split())
    assert released > 200 * 2**20 and survivors == 300
