"""The Optuna study storage: opening it, riding out dropped connections, claiming a unique key.

A PostgreSQL server may drop a connection at any moment (a restart, a failover, an admin's
``pg_terminate_backend``). :class:`ReconnectingStorage` repeats, on a fresh connection, every
call that is safe to repeat: reads, upserts of attributes and reports, a trial's parameters (a
repeated insert is ignored) and a trial's end (a repeat that finds that end stored is a
success). Creating a study or a trial is not repeated; the search loop goes on after a trial cut
that way (:func:`is_lost_connection`), and the cut trial is failed and queued again once stale.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from automl.errors import ConfigError, StudyNotFoundError
from automl.retry import repeat
from automl.stores import (
    check_sqlite,
    driver_url,
    mask,
    reach_server,
    read_only,
    sqlite_path,
    store_lock,
)
from automl.wal import use_wal

HEARTBEAT_INTERVAL_S = int(os.environ.get("AUTOML_HEARTBEAT_S", "10"))
MAX_RETRY = 2
#: A dropped connection, or (PendingRollback) a query Optuna retries on the connection it lost.
_TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
              sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.PendingRollbackError)
_F = TypeVar("_F", bound=Callable[..., Any])


def is_lost_connection(exc: BaseException | None) -> bool:
    """Whether ``exc`` comes from a dropped (or, for SQLite, briefly locked) database connection.

    Optuna wraps such errors in ``StorageInternalError`` (the driver error is its cause). One
    that cuts Optuna's storing of a trial's end can surface as an error of Optuna's own clean-up
    (``AssertionError("Should not reach.")`` when it re-reads the trial, still RUNNING, or
    ``UnboundLocalError`` when that read fails too), raised while handling it (its context).
    """
    if isinstance(exc, (AssertionError, UnboundLocalError)):
        exc = exc.__context__
    if isinstance(exc, optuna.exceptions.StorageInternalError):
        exc = exc.__cause__
    return isinstance(exc, _TRANSIENT)


def _reconnecting(method: _F) -> _F:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        return repeat(lambda: method(*args, **kwargs), is_lost_connection)
    return call  # type: ignore[return-value]


class ReconnectingStorage(RDBStorage):
    """An :class:`~optuna.storages.RDBStorage` whose repeatable calls survive a dropped
    connection (the pool's ``pre_ping`` replaces the dead one).

    ``heartbeatless_since`` maps a RUNNING trial (study id, number) to when this process first
    saw it without a heartbeat (``time.monotonic()``); ``beating`` holds the trials seen with
    one, which are never queried again (see :func:`fail_stale`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeatless_since: dict[tuple[int, int], float] = {}
        self.beating: set[tuple[int, int]] = set()

    # Reads, and writes that store the same row however often they run.
    get_study_id_from_name = _reconnecting(RDBStorage.get_study_id_from_name)
    get_study_name_from_id = _reconnecting(RDBStorage.get_study_name_from_id)
    get_study_directions = _reconnecting(RDBStorage.get_study_directions)
    get_study_user_attrs = _reconnecting(RDBStorage.get_study_user_attrs)
    get_study_system_attrs = _reconnecting(RDBStorage.get_study_system_attrs)
    get_trial_user_attrs = _reconnecting(RDBStorage.get_trial_user_attrs)
    get_trial_system_attrs = _reconnecting(RDBStorage.get_trial_system_attrs)
    get_all_studies = _reconnecting(RDBStorage.get_all_studies)
    get_trial_param = _reconnecting(RDBStorage.get_trial_param)
    get_trial_id_from_study_id_trial_number = _reconnecting(
        RDBStorage.get_trial_id_from_study_id_trial_number)
    get_trial = _reconnecting(RDBStorage.get_trial)
    _get_trials = _reconnecting(RDBStorage._get_trials)
    _get_best_trial_id = _reconnecting(RDBStorage._get_best_trial_id)
    _get_stale_trial_ids = _reconnecting(RDBStorage._get_stale_trial_ids)
    set_study_user_attr = _reconnecting(RDBStorage.set_study_user_attr)
    set_study_system_attr = _reconnecting(RDBStorage.set_study_system_attr)
    _set_trial_param = _reconnecting(RDBStorage._set_trial_param)  # a repeat's insert is ignored
    set_trial_intermediate_value = _reconnecting(RDBStorage.set_trial_intermediate_value)
    set_trial_user_attr = _reconnecting(RDBStorage.set_trial_user_attr)
    set_trial_system_attr = _reconnecting(RDBStorage.set_trial_system_attr)
    record_heartbeat = _reconnecting(RDBStorage.record_heartbeat)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        """Store a trial's state; a repeat after a cut call that had in fact committed the same
        end returns ``True`` instead of raising ``UpdateFinishedTrialError``. A waiting trial
        is claimed (``RUNNING``) by :meth:`_claim`."""
        if state == TrialState.RUNNING and values is None:
            return _reconnecting(self._claim)(trial_id)
        tries = 0

        def store() -> bool:
            nonlocal tries
            tries += 1
            try:
                return RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except optuna.exceptions.UpdateFinishedTrialError:
                if tries == 1 or not _stored(self, trial_id, state, values):
                    raise  # finished before this call, or finished otherwise
                return True

        return _reconnecting(store)()

    def _claim(self, trial_id: int) -> bool:
        """WAITING → RUNNING in one conditional UPDATE; ``False`` when another process claimed
        it first. Optuna reads the state, then writes it, and SQLite ignores ``SELECT ... FOR
        UPDATE`` (its driver even reads outside the write's transaction), so two processes of
        one SQLite study could both claim an enqueued trial and run it twice."""
        from optuna.storages._rdb.models import TrialModel

        trials = TrialModel.__table__
        with self.engine.begin() as connection:
            claimed = connection.execute(
                sqlalchemy.update(trials)
                .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.WAITING.name)
                .values(state=TrialState.RUNNING.name, datetime_start=datetime.now()))
        return claimed.rowcount == 1


def _stored(storage: RDBStorage, trial_id: int, state: TrialState,
            values: Sequence[float] | None) -> bool:
    trial = RDBStorage.get_trial(storage, trial_id)
    return trial.state == state and (values is None or trial.values == list(values))


def make_storage(url: str) -> ReconnectingStorage:
    """A reconnecting RDB storage with heartbeats (stale RUNNING trials are failed and retried).

    SQLite files get their folder created and WAL journaling (better for several local workers).
    A local SQLite file is checked before anything is written to it: one that is not a usable
    database, or holds a schema this Optuna cannot use (made by a newer Optuna, or by another
    program), is refused and left as it was.

    Raises:
        ConfigError: the URL is malformed, or the database cannot be reached, read, written or
            used (one line with the masked URL and the fix).
    """
    connect: dict[str, Any] = {}
    path = sqlite_path(url)
    check_sqlite(url, "--storage")
    with _opening(url), warnings.catch_warnings(), store_lock(url):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if path is not None:
            _check_schema(path, url)
            _prepare_sqlite(path)
            connect = {"connect_args": {"timeout": 60}}
        return ReconnectingStorage(
            driver_url(url), engine_kwargs={"pool_pre_ping": True, **connect},
            heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=2 * HEARTBEAT_INTERVAL_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )


def reach_storage(url: str) -> None:
    """Connect once to a database-server storage and write nothing (a no-op for SQLite, which
    :func:`automl.plan.prepare_search` checks): a search reaches both of its stores before it
    writes to either.

    Raises:
        ConfigError: the server cannot be reached (the masked URL and the fix).
    """
    with _opening(url):
        reach_server(url)


@contextlib.contextmanager
def _opening(url: str) -> Iterator[None]:
    """Turn any failure to open the storage at ``url`` into one password-free ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:  # SQLAlchemy/driver/sqlite3/OS errors come in many types
        raise ConfigError(f"cannot open the study storage {mask(url)!r} "
                          f"({_reason(exc)}); check --storage / AUTOML_STORAGE") from None


def _reason(exc: Exception) -> str:
    """A short, password-free reason: the exception type, with SQLite's own words for SQLite
    errors (e.g. "database or disk is full", "attempt to write a readonly database")."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, sqlite3.Error) and str(cause):
        return f"{type(exc).__name__}: {str(cause).splitlines()[0]}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def existing_storage(url: str) -> ReconnectingStorage:
    """:func:`make_storage` for a store that must already exist (a SQLite file is not created).

    Raises:
        StudyNotFoundError: no SQLite file at ``url``.
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise StudyNotFoundError(f"no study storage at {mask(url)!r}; run `automl search` "
                                 "first or pass --storage")
    return make_storage(url)


def _check_schema(path: Path, url: str) -> None:
    """Refuse, reading only, an SQLite file whose schema revision this Optuna does not know.

    Optuna would otherwise switch the file to WAL and add its tables before it notices (and
    raises a ``RuntimeError``). A file without Optuna's revision table is left to Optuna.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    with contextlib.closing(read_only(path)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # no such table: a new or pre-alembic store
            return
    if row is None:
        return
    head, known = _schema_revisions()
    revision = str(row[0])
    if revision == head:
        return
    if revision in known:
        raise ConfigError(f"the study storage {mask(url)!r} has the schema of an older Optuna; "
                          f"upgrade it with `optuna storage upgrade --storage {mask(url)}` or "
                          "pass another --storage")
    raise ConfigError(f"the study storage {mask(url)!r} has a schema this Optuna "
                      f"({optuna.__version__}) does not know (revision {revision!r}: a newer "
                      "Optuna's, or another program's database); upgrade Optuna "
                      "(pip install -U optuna) or pass another --storage")


@functools.cache
def _schema_revisions() -> tuple[str, tuple[str, ...]]:
    """This Optuna's newest schema revision and all it knows (read from a throwaway in-memory
    storage through RDBStorage's public version API)."""
    scratch = RDBStorage("sqlite:///:memory:")
    return scratch.get_head_version(), tuple(scratch.get_all_versions())


def _prepare_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    use_wal(path)


def study_exists(storage: RDBStorage, study_name: str) -> bool:
    """Whether ``storage`` holds a study named ``study_name``."""
    return any(s.study_name == study_name for s in storage.get_all_studies())


def load_study(url: str, study_name: str) -> optuna.Study:
    """Load a study that must exist.

    Raises:
        StudyNotFoundError: no storage there, or no such study (the message lists the ones
            there are).
    """
    storage = existing_storage(url)
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise StudyNotFoundError(f"no study named {study_name!r} in {mask(url)!r} "
                                 f"(studies: {known}); check the name or --storage")
    return optuna.load_study(study_name=study_name, storage=storage)


def delete_stored_study(url: str, study_name: str) -> None:
    """Delete study ``study_name`` and all its trials from the storage at ``url``."""
    optuna.delete_study(study_name=study_name, storage=existing_storage(url))


def claim(storage: RDBStorage, study_name: str, key: str, *, withdraw: bool = False) -> bool:
    """Insert (or delete) the study user attr ``key``: ``False`` when another process inserted
    it first. The database's unique (study, key) constraint decides, so of processes claiming
    together exactly one wins, on every database the storage runs on.

    Not repeated after a dropped connection: a repeat of an insert that had committed would
    find its own row and answer ``False``.
    """
    study_id = storage.get_study_id_from_name(study_name)
    row = (_ATTRS.c.study_id == study_id) & (_ATTRS.c.key == key)
    statement = (sqlalchemy.delete(_ATTRS).where(row) if withdraw else
                 sqlalchemy.insert(_ATTRS).values(study_id=study_id, key=key, value_json="true"))
    try:
        with storage.engine.begin() as connection:
            connection.execute(statement)
    except sqlalchemy.exc.IntegrityError:
        return False
    return True


# The two tables of Optuna's documented RDB schema read here (names only: no private API).
_ATTRS = sqlalchemy.table("study_user_attributes", sqlalchemy.column("study_id"),
                          sqlalchemy.column("key"), sqlalchemy.column("value_json"))
_HEARTBEATS = sqlalchemy.table("trial_heartbeats", sqlalchemy.column("trial_id"))


def fail_stale(study: optuna.Study, storage: ReconnectingStorage) -> None:
    """Fail (and queue again, up to :data:`MAX_RETRY` times) the RUNNING trials of dead workers:
    those whose heartbeat went stale (Optuna's check) and those that never sent one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
        _fail_heartbeatless(study, storage)


def _fail_heartbeatless(study: optuna.Study, storage: ReconnectingStorage) -> None:
    """Fail (and queue again) RUNNING trials that have gone long without any heartbeat.

    Optuna fails only trials whose heartbeat went stale; a worker killed between creating a trial
    and its first heartbeat (milliseconds later) leaves one RUNNING forever. "Long" is 5
    heartbeat intervals plus the grace period, timed by this process from when it first saw the
    trial without a heartbeat: no clock of another machine is compared with this one's.
    """
    if not storage.heartbeat_interval:
        return
    limit = 5 * storage.heartbeat_interval + (storage.grace_period or 0)
    seen, beating = storage.heartbeatless_since, storage.beating
    study_id = storage.get_study_id_from_name(study.study_name)
    now = time.monotonic()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        key = (study_id, trial.number)
        if key in beating:  # a trial that sent a heartbeat is Optuna's to judge from then on
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        if _has_heartbeat(storage, trial_id):
            beating.add(key)
            seen.pop(key, None)
            continue
        if now - seen.setdefault(key, now) < limit:
            continue
        try:
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        retry = storage.get_heartbeat_stale_trial_callback()
        if retry is not None:
            retry(study, storage.get_trial(trial_id))


@_reconnecting
def _has_heartbeat(storage: RDBStorage, trial_id: int) -> bool:
    """Whether the worker running the trial ever recorded a heartbeat for it (a read, repeated
    after a dropped connection like the storage's own)."""
    query = sqlalchemy.select(sqlalchemy.func.count()).select_from(_HEARTBEATS).where(
        _HEARTBEATS.c.trial_id == trial_id)
    with storage.engine.connect() as connection:
        return bool(connection.execute(query).scalar())
