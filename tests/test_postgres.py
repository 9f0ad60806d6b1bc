"""Several workers on one PostgreSQL study, dropped connections and masked passwords (issue 3).

Needs the PostgreSQL service at ``$AUTOML_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Skipped with the reason when it cannot be reached,
except under ``CI=true``, where that is a failure. Each test uses its own study name; the MLflow
store is a per-test SQLite copy.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import psycopg
import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from test_workers import (
    FINISHED,
    automl_env,
    check_ledgers,
    child_runs,
    run,
    search_args,
    start,
    states,
    wait_for,
)

from automl.storage import make_storage
from automl.stores import driver_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def with_query(url: str, **params: str) -> str:
    joined = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{joined}"


def finished(storage: str, study: str) -> int:
    counts = states(storage, study)
    return sum(counts.get(s, 0) for s in FINISHED)


def test_three_workers_share_one_study(pg_url: str, make_csv: Callable[..., Path],
                                       tmp_tracking_uri: str) -> None:
    study, budget, n_workers = unique("pg-workers"), 5, 3
    env = automl_env(pg_url, tmp_tracking_uri)
    done = run([*search_args(make_csv(), study, budget, epochs=2), "--workers", str(n_workers)],
               env, timeout=170)
    assert done.returncode == 0, done.stderr
    storage = driver_url(pg_url)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert budget <= finished(storage, study) <= budget + n_workers - 1
    check_ledgers(tmp_tracking_uri, storage, study)
    runs = child_runs(tmp_tracking_uri, storage, study)
    assert len(runs) == sum(t.state.name != "WAITING" for t in trials)
    client = MlflowClient(tmp_tracking_uri)
    experiment = client.get_experiment_by_name(study).experiment_id
    parents = client.search_runs([experiment], "tags.`automl.role` = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    workers = {line.split(":")[0] for line in done.stdout.splitlines()
               if re.match(r"worker \d+: trial", line)}
    assert len(workers) >= 2, done.stdout  # the work was shared


@contextmanager
def next_statement_cut(engine: sqlalchemy.Engine, pg_url: str) -> Iterator[list[int]]:
    """Terminate the server backend of the next statement ``engine`` sends, just before it runs
    (a real dropped connection, mid-call); yields the list of backends terminated."""
    cut: list[int] = []

    def terminate(conn: sqlalchemy.Connection, *_: object) -> None:
        if not cut:
            cut.append(conn.connection.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("select pg_terminate_backend(%s)", (cut[0],))

    sqlalchemy.event.listen(engine, "before_cursor_execute", terminate)
    try:
        yield cut
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", terminate)


def test_a_call_cut_by_a_dropped_connection_is_repeated_on_a_new_one(pg_url: str) -> None:
    storage = make_storage(pg_url)
    study = optuna.create_study(study_name=unique("pg-cut"), storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    with next_statement_cut(storage.engine, pg_url) as cut:
        assert [t.number for t in study.get_trials()] == [0]  # a read
    assert cut
    with next_statement_cut(storage.engine, pg_url) as cut:
        study.tell(trial, 0.5)  # a trial's end
    assert cut
    [stored] = optuna.load_study(study_name=study.study_name, storage=pg_url).trials
    assert stored.state is TrialState.COMPLETE and stored.value == 0.5


def test_dropped_connections_between_trials_do_not_fail_the_study(
        pg_url: str, make_csv: Callable[..., Path], tmp_tracking_uri: str) -> None:
    study, name = unique("pg-drop"), unique("automl-test")
    url = with_query(pg_url, application_name=name)
    storage = driver_url(pg_url)
    proc = start(search_args(make_csv(), study, 4, epochs=3), automl_env(url, tmp_tracking_uri))
    wait_for(lambda: finished(storage, study) >= 1, 120, "a finished trial")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        killed = admin.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                               "where application_name = %s", (name,)).fetchone()
    assert killed and killed[0] >= 1
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert finished(storage, study) == 4  # a trial cut mid-query is failed and retried
    assert states(storage, study).get("RUNNING", 0) == 0
    check_ledgers(tmp_tracking_uri, storage, study)


def test_password_never_leaves_the_url(pg_url: str, make_csv: Callable[..., Path],
                                       tmp_tracking_uri: str) -> None:
    found = re.match(r"^(\w+(?:\+\w+)?://)([^:@/]*)(?::([^@/]*))?@(.*)$", pg_url)
    assert found, f"cannot parse {pg_url}"
    scheme, user, password, rest = found.groups()
    # trust auth ignores a password; an "@" in it must neither show nor cut the URL's host
    secret = password or "S3c@r:t-" + uuid.uuid4().hex[:8]
    url = f"{scheme}{user or 'postgres'}:{secret}@{rest}"
    study = unique("pg-secret")
    env = automl_env(url, tmp_tracking_uri)
    outputs = [run(search_args(make_csv(), study, 2, epochs=1), env)]
    at_once = [start(args, env) for args in (  # the rest side by side: a process start is slow
        ["show", study, "--json"], ["studies"], ["resume", study, "--n-trials", "3"],
        ["resume", "no-such-study"],
        ["show", study, "--storage", f"{scheme}{user}:{secret}@127.0.0.1:1/none"])]
    for process in at_once:
        stdout, stderr = process.communicate(timeout=120)
        outputs.append(subprocess.CompletedProcess(process.args, process.returncode, stdout,
                                                   stderr))
    outputs.append(run(["worker", study], env))  # after the resume: the budget is reached
    expected = [0, 0, 0, 0, 2, 2, 0]
    assert [o.returncode for o in outputs] == expected, "\n".join(  # each step that differs
        f"step {i}: {o.stderr}" for i, (o, code) in enumerate(zip(outputs, expected, strict=True))
        if o.returncode != code)
    for out in outputs:
        assert secret not in out.stdout + out.stderr
    assert "***" in outputs[5].stderr
    loaded = optuna.load_study(study_name=study, storage=driver_url(url))
    stored = [loaded.user_attrs, loaded._storage.get_study_system_attrs(loaded._study_id)]
    stored += [t.user_attrs | t.system_attrs for t in loaded.get_trials(deepcopy=False)]
    assert secret not in json.dumps(stored, default=str)
    client = MlflowClient(tmp_tracking_uri)
    experiment = client.get_experiment_by_name(study).experiment_id
    for logged in client.search_runs([experiment], max_results=1000):
        assert secret not in json.dumps([logged.data.params, logged.data.tags])
