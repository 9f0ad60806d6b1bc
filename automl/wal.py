"""Local SQLite stores in WAL mode, committed without waiting for the disk.

SQLite's default rollback journal waits for the disk three or four times per commit (the journal,
its folder, the database); in WAL mode a commit appends to the ``-wal`` file and waits once
(``synchronous=FULL``) or not at all (``synchronous=NORMAL``: the ``-wal`` file is synced when it
is checkpointed into the database, every ~4 MB). A search commits often (Optuna: every
parameter, epoch report and attribute; MLflow: a few writes per trial): ~800 and ~400 commits in
a 20-trial search of credit_g (1,000 rows), each sync 0.3–3 ms on this project's machine, up to
14 ms while other jobs write (benchmarks/RESULTS.md, "Overhead outside training").

:func:`use_wal` puts a file in WAL mode (stored in the file: every connection uses it; it needs
a local file system, as SQLite's locking does) and has every connection this process opens to it
through SQLAlchemy (Optuna's storage, MLflow's store) commit with ``synchronous=NORMAL``. What
that gives up, by SQLite's documentation: nothing when the process dies (Ctrl-C, SIGKILL, the OOM
killer: a commit is in the operating system's hands once it returns); after an operating-system
crash or a power loss each database is still consistent, but its last commits (seconds of them)
may be rolled back, and the study storage and the MLflow store may lose different amounts.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

_NO_SYNC_PER_COMMIT: set[str] = set()  # real paths of the files use_wal was given


def use_wal(path: Path) -> None:
    """Put the SQLite database ``path`` in WAL mode (creating an empty database if the file is
    missing; its folder must exist; waits up to 60 s for a busy database), and commit every
    connection this process opens to it through SQLAlchemy from now on with
    ``synchronous=NORMAL``."""
    with closing(sqlite3.connect(path, timeout=60)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    _NO_SYNC_PER_COMMIT.add(os.path.realpath(path))


@event.listens_for(Pool, "connect")
def _relax(dbapi_connection: Any, _record: Any) -> None:
    """``synchronous=NORMAL`` for a new SQLite connection to a file of :func:`use_wal` that is
    still in WAL mode (in a rollback journal it could cost the database, not only commits)."""
    if not _NO_SYNC_PER_COMMIT or not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = {os.path.realpath(row[2]) for row in dbapi_connection.execute("PRAGMA database_list")
             if row[2]}
    if files & _NO_SYNC_PER_COMMIT and \
            dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
