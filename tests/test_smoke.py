"""The whole path on a tiny CSV: search → study + MLflow runs that agree."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from automl.plan import prepare_search
from automl.session import run_search


def test_search_records_every_trial_in_both_ledgers(search_cfg) -> None:
    cfg = search_cfg("binary", n_trials=3)
    summary = run_search(prepare_search(cfg))
    report = summary.report.to_json()
    assert report["trials"]["COMPLETE"] + report["trials"]["PRUNED"] == 3
    client = MlflowClient(cfg.tracking_uri)
    runs = client.search_runs([report["mlflow_experiment_id"]],
                              f"tags.`mlflow.parentRunId` = '{report['mlflow_parent_run_id']}'"
                              " and tags.`automl.role` = 'trial'")
    assert len(runs) == 3
    assert {r.info.status for r in runs} <= {"FINISHED", "KILLED"}
