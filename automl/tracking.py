"""Experiment logging behind a small protocol: MLflow for real, a null tracker for tests.

One MLflow experiment per study, one parent run per study, one child run per trial. Trial runs
carry the tags ``automl.study``, ``automl.trial`` and ``automl.state``; their status mirrors the
Optuna state (COMPLETE → FINISHED, PRUNED → KILLED, FAIL → FAILED). Takes plain dicts and ints,
never Optuna objects.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from automl.errors import ConfigError
from automl.retry import repeat
from automl.stores import check_sqlite, driver_url, mask, reach_server, sqlite_path, store_lock
from automl.train import EpochLog, StopReason
from automl.wal import use_wal


class TrialOutcome(str, Enum):
    """How a trial ended, as its MLflow run records it (tag ``automl.state``).

    The first three are Optuna's finished states; ``INTERRUPTED`` is a trial that Optuna failed
    because Ctrl-C or SIGTERM stopped it, whose run ends KILLED rather than FAILED.
    """

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    INTERRUPTED = "INTERRUPTED"

    def __str__(self) -> str:
        return self.value


RUN_STATUS = {TrialOutcome.COMPLETE: "FINISHED", TrialOutcome.PRUNED: "KILLED",
              TrialOutcome.FAIL: "FAILED", TrialOutcome.INTERRUPTED: "KILLED"}
_MAX_TAG = 5000
_MAX_BATCH = 1000  # metrics per MLflow log_batch call
#: Seconds between writes of a trial's epoch curves: a short trial writes them once, at its end;
#: a long one every few seconds, so the MLflow UI follows it.
FLUSH_S = 5.0


class Tracker(Protocol):
    """Where trials are recorded. Every method takes plain data; run ids are strings.

    ``keeps_artifacts`` is ``False`` for a tracker that records nothing (no report is drawn
    for it).
    """

    keeps_artifacts: bool
    experiment_id: str

    def start_study(self, study_name: str, *, parent_run_id: str | None,
                    tags: dict[str, str], params: dict[str, Any]) -> str:
        """Open (or re-open) the study's parent run and return its id."""

    def start_trial(self, number: int, params: dict[str, Any]) -> str:
        """Open a child run for trial ``number`` with its params; return the run id."""

    def start_child(self, name: str, tags: dict[str, str], params: dict[str, Any]) -> str:
        """Open a child run of the study's parent run that is not a trial (e.g. the final
        model, ``automl.role=final``); closed with :meth:`end_trial`. Returns its id."""

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        """Log several metrics in one call."""

    def log_series(self, run_id: str, steps: Sequence[tuple[int, dict[str, float]]]) -> None:
        """Log the metrics of several steps (e.g. epochs) in as few calls as the store allows."""

    def end_trial(self, run_id: str, outcome: TrialOutcome, metrics: dict[str, float]) -> None:
        """Log final metrics and close the run with the status that mirrors ``outcome``."""

    def log_dir(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        """Upload a directory of files as artifacts."""

    def download_dir(self, run_id: str, artifact_path: str, dst: Path) -> Path | None:
        """Fetch a file or directory of artifacts; ``None`` when the run has none at that path
        (any other failure, such as an unreachable store, raises)."""

    def end_study(self, run_id: str) -> None:
        """Close the parent run as FINISHED (it is re-opened by the next worker/resume)."""

    def discard_run(self, run_id: str) -> None:
        """Close a run as FAILED and delete it (a run whose setup failed, holding nothing)."""

    def running_trial_runs(self, parent_run_id: str) -> dict[str, int]:
        """Child runs of ``parent_run_id`` still RUNNING: run id → trial number."""


class NullTracker:
    """Records nothing; run ids are ``null-<n>``. For tests and dry runs."""

    experiment_id = ""
    keeps_artifacts = False

    def __init__(self) -> None:
        self._n = 0

    def start_study(self, study_name: str, *, parent_run_id: str | None,
                    tags: dict[str, str], params: dict[str, Any]) -> str:
        return parent_run_id or "null-parent"

    def start_trial(self, number: int, params: dict[str, Any]) -> str:
        self._n += 1
        return f"null-{self._n}"

    def start_child(self, name: str, tags: dict[str, str], params: dict[str, Any]) -> str:
        self._n += 1
        return f"null-{self._n}"

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_series(self, run_id: str, steps: Sequence[tuple[int, dict[str, float]]]) -> None:
        pass

    def end_trial(self, run_id: str, outcome: TrialOutcome, metrics: dict[str, float]) -> None:
        pass

    def log_dir(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        pass

    def download_dir(self, run_id: str, artifact_path: str, dst: Path) -> Path | None:
        return None

    def end_study(self, run_id: str) -> None:
        pass

    def discard_run(self, run_id: str) -> None:
        pass

    def running_trial_runs(self, parent_run_id: str) -> dict[str, int]:
        return {}


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking", "mlflow.store"):
        logging.getLogger(name).setLevel(logging.WARNING)


def artifact_root(tracking_uri: str) -> str | None:
    """For a local SQLite store, artifacts live beside it in ``artifacts/``; else the server's.

    Raises:
        ConfigError: the SQLite store cannot be used (see :func:`automl.stores.check_sqlite`).
    """
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    check_sqlite(tracking_uri, "--tracking-uri")
    return (db.parent.resolve() / "artifacts").as_uri()


def prepare_store(tracking_uri: str) -> None:
    """Check a local SQLite store and create its folder (MLflow creates the file and schema).

    Raises:
        ConfigError: the SQLite store cannot be used; nothing was created.
    """
    db = sqlite_path(tracking_uri)
    if db is not None:
        check_sqlite(tracking_uri, "--tracking-uri")
        db.parent.mkdir(parents=True, exist_ok=True)


def _journal(tracking_uri: str) -> None:
    """A local SQLite store in WAL mode (see :mod:`automl.wal`), created if missing."""
    db = sqlite_path(tracking_uri)
    if db is not None:
        use_wal(db)


class MlflowRuns:
    """The runs and artifacts of an existing MLflow store, through its own ``MlflowClient`` (no
    global active run): what ``predict`` and ``export`` read and register, and what
    :class:`MlflowTracker` writes through."""

    def __init__(self, tracking_uri: str, client: Any = None) -> None:
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()
        self.tracking_uri = tracking_uri
        self.client = client or MlflowClient(tracking_uri=driver_url(tracking_uri))

    def has_run(self, run_id: str) -> bool:
        """Whether the store holds run ``run_id`` (an unreadable store raises)."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return True

    def log_dir(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)

    def download_dir(self, run_id: str, artifact_path: str, dst: Path) -> Path | None:
        if not self.has_artifact(run_id, artifact_path):
            return None
        return Path(self.client.download_artifacts(run_id, artifact_path, str(dst)))

    def has_artifact(self, run_id: str, artifact_path: str) -> bool:
        """Whether run ``run_id`` exists and has a file or folder at ``artifact_path``
        (a store that cannot be read raises)."""
        from mlflow.exceptions import MlflowException

        folder = str(PurePosixPath(artifact_path).parent)
        try:
            listed = self.client.list_artifacts(run_id, None if folder == "." else folder)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return any(item.path == artifact_path for item in listed)

    def is_deleted(self, run_id: str) -> bool:
        """Whether the store holds run ``run_id`` as deleted (a missing run: ``False``)."""
        from mlflow.exceptions import MlflowException

        try:
            return bool(self.client.get_run(run_id).info.lifecycle_stage == "deleted")
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise

    def study_runs(self, experiment_id: str, study_name: str) -> list[str]:
        """The ids of the live (not deleted) runs of ``study_name`` in experiment
        ``experiment_id``: its parent run, trial runs and final-model runs (tag
        ``automl.study``); none when the store has no such experiment."""
        from mlflow.entities import ViewType
        from mlflow.exceptions import MlflowException

        try:
            if self.client.get_experiment(experiment_id).lifecycle_stage == "deleted":
                return []
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise
        ids: list[str] = []
        token = None
        while True:
            page = self.client.search_runs(
                [experiment_id], filter_string=f"tags.`automl.study` = '{study_name}'",
                run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
            ids += [run.info.run_id for run in page]
            token = page.token
            if not token:
                return ids

    def delete_runs(self, run_ids: Sequence[str]) -> None:
        """Delete ``run_ids`` (MLflow's soft delete: ``mlflow gc`` purges them).

        Their experiment stays: restoring a deleted experiment (as a later search of the same
        name would) restores every run in it, these too."""
        for run_id in run_ids:
            self.client.delete_run(run_id)

    def register(self, name: str, run_id: str, local_dir: Path, artifact_path: str, *,
                 description: str, tags: dict[str, str]) -> str:
        """Log ``local_dir`` as ``artifact_path`` of run ``run_id`` and register it as a new
        version of model ``name`` (created if needed); returns the version.

        Raises:
            MlflowException: the registry refuses it.
        """
        from mlflow.exceptions import MlflowException

        self.log_dir(run_id, local_dir, artifact_path)
        try:
            self.client.create_registered_model(name, description=description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{self.client.get_run(run_id).info.artifact_uri}/{artifact_path}"
        return str(self.client.create_model_version(name, source, run_id=run_id,
                                                    tags=tags).version)


class MlflowTracker(MlflowRuns):
    """Logs a study to its MLflow experiment (created if missing) in the store.

    Raises:
        ConfigError: the tracking store cannot be reached, read or created (a local SQLite file
            that is not a usable database is refused before anything is written to it).
    """

    keeps_artifacts = True

    def __init__(self, tracking_uri: str, experiment_name: str, client: Any = None) -> None:
        prepare_store(tracking_uri)  # checks a local SQLite store before anything is written
        try:
            with store_lock(tracking_uri):
                if client is None:
                    reach_server(tracking_uri)  # MLflow would retry for ~100 s, logging each try
                    _journal(tracking_uri)
                super().__init__(tracking_uri, client)
                self.experiment_id = self._experiment(experiment_name)
        except Exception as exc:  # MLflow raises many types for a bad store
            raise ConfigError(f"cannot open the MLflow store {mask(tracking_uri)!r} "
                              f"({type(exc).__name__}); check --tracking-uri") from None
        self.parent_run_id: str | None = None
        self.study_name = experiment_name

    def _experiment(self, name: str) -> str:
        """The id of experiment ``name``, restored if deleted, created if missing (two workers
        creating it at once: the loser finds it on the repeat)."""
        from mlflow.exceptions import MlflowException

        def find_or_create() -> str:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                return str(self.client.create_experiment(
                    name, artifact_location=_join(artifact_root(self.tracking_uri), name)))
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return str(found.experiment_id)

        return repeat(find_or_create, lambda exc: isinstance(exc, MlflowException))

    def start_study(self, study_name: str, *, parent_run_id: str | None,
                    tags: dict[str, str], params: dict[str, Any]) -> str:
        self.study_name = study_name
        if parent_run_id is not None:
            self._reopen(parent_run_id)
        else:
            run = self.client.create_run(self.experiment_id, run_name=study_name,
                                         tags={**tags, "automl.study": study_name,
                                               "automl.role": "study"})
            parent_run_id = run.info.run_id
            self._log_params(parent_run_id, params)
        self.parent_run_id = parent_run_id
        return parent_run_id

    def _reopen(self, run_id: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.update_run(run_id, status="RUNNING")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise ConfigError(f"the study's MLflow run {run_id} is not in "
                              f"{mask(self.tracking_uri)!r}; pass the --tracking-uri the "
                              "study was made with") from None

    def start_trial(self, number: int, params: dict[str, Any]) -> str:
        tags = {"automl.study": self.study_name, "automl.trial": str(number),
                "automl.state": "RUNNING", "automl.role": "trial"}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number:04d}",
                                     tags=tags)
        self._log_params(run.info.run_id, params)
        return str(run.info.run_id)

    def start_child(self, name: str, tags: dict[str, str], params: dict[str, Any]) -> str:
        tags = {"automl.study": self.study_name, "automl.state": "RUNNING", **tags}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        self._log_params(run.info.run_id, params)
        return str(run.info.run_id)

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:_MAX_TAG]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        self.log_series(run_id, [(step or 0, metrics)])

    def log_series(self, run_id: str, steps: Sequence[tuple[int, dict[str, float]]]) -> None:
        self._log_batches(run_id, steps)

    def _log_batches(self, run_id: str, steps: Sequence[tuple[int, dict[str, float]]],
                     tags: dict[str, str] | None = None) -> None:
        """Log the finite metrics of ``steps`` in batches of :data:`_MAX_BATCH`; ``tags`` go
        with the first batch (a call of their own when there is no metric)."""
        from mlflow.entities import Metric, RunTag

        stamp = int(time.time() * 1000)
        batch = [Metric(k, float(v), stamp, step) for step, metrics in steps
                 for k, v in metrics.items() if v == v and abs(v) != float("inf")]
        run_tags = [RunTag(k, v) for k, v in (tags or {}).items()]
        for i in range(0, max(len(batch), 1 if run_tags else 0), _MAX_BATCH):
            self.client.log_batch(run_id, metrics=batch[i:i + _MAX_BATCH],
                                  tags=run_tags if i == 0 else [])

    def end_trial(self, run_id: str, outcome: TrialOutcome, metrics: dict[str, float]) -> None:
        self._log_batches(run_id, [(0, metrics)], tags={"automl.state": str(outcome)})
        self.client.set_terminated(run_id, status=RUN_STATUS.get(outcome, "FAILED"))

    def end_study(self, run_id: str) -> None:
        self.client.set_terminated(run_id, status="FINISHED")

    def discard_run(self, run_id: str) -> None:
        self.client.set_terminated(run_id, status="FAILED")
        self.client.delete_run(run_id)

    def running_trial_runs(self, parent_run_id: str) -> dict[str, int]:
        runs = self.client.search_runs(
            [self.experiment_id], max_results=1000,
            filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' "
                          "and attributes.status = 'RUNNING'")
        return {r.info.run_id: int(r.data.tags["automl.trial"]) for r in runs
                if r.data.tags.get("automl.trial", "").isdigit()}


def _join(root: str | None, name: str) -> str | None:
    """The artifact folder of experiment ``name`` under ``root``: its name made safe for every
    file system (at most 100 characters; a longer one keeps a hash of the whole name)."""
    if not root:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if len(safe) > 100:
        safe = f"{safe[:83]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return f"{root}/{safe}"


class TrackingCallback:
    """An :class:`~automl.train.EpochCallback` that logs each epoch's metrics (``step=epoch``),
    written together every :data:`FLUSH_S` seconds; call :meth:`flush` when training ends."""

    def __init__(self, tracker: Tracker, run_id: str, flush_s: float = FLUSH_S) -> None:
        self.tracker, self.run_id, self.flush_s = tracker, run_id, flush_s
        self._pending: list[tuple[int, dict[str, float]]] = []
        self._flushed = time.monotonic()

    def on_epoch_end(self, log: EpochLog) -> StopReason | None:
        metrics = {f"val_{k}": v for k, v in log.val.items()}
        metrics.update(train_loss=log.train_loss, lr=log.lr, epoch_seconds=log.seconds,
                       train_rows=log.train_rows)
        if math.isfinite(log.val_loss):  # classification only
            metrics["val_loss"] = log.val_loss
        self._pending.append((log.epoch, metrics))
        if time.monotonic() - self._flushed >= self.flush_s:
            self.flush()
        return None

    def flush(self) -> None:
        """Write the epochs not written yet."""
        pending, self._pending = self._pending, []
        self._flushed = time.monotonic()
        if pending:
            self.tracker.log_series(self.run_id, pending)


def temporary_dir() -> tempfile.TemporaryDirectory[str]:
    """A scratch directory for artifacts on their way to or from the store."""
    return tempfile.TemporaryDirectory(prefix="automl-")
