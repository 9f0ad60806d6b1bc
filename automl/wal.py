"""Local SQLite stores in WAL mode: one disk sync per commit instead of three or four.

SQLite's default rollback journal waits for the disk three or four times per commit (the journal,
its folder, the database); in WAL mode a commit appends to the ``-wal`` file and syncs it once,
with the same durability (``synchronous=FULL``). A search commits often (Optuna: every
parameter, epoch report and attribute; MLflow: a few writes per trial): ~800 and ~400 commits in
a 20-trial search of credit_g (1,000 rows), each sync 0.3–3 ms on this project's machine, up to
14 ms while other jobs write (benchmarks/RESULTS.md, "Overhead outside training"). WAL also lets
local workers read while one writes. It is stored in the file, so every later connection uses
it; it needs a local file system (as SQLite's locking does anyway).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def use_wal(path: Path) -> None:
    """Put the SQLite database ``path`` in WAL mode (creating an empty database if the file is
    missing; its folder must exist). Waits up to 60 s for a busy database."""
    with closing(sqlite3.connect(path, timeout=60)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
