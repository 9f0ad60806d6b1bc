"""Every store URL in one place: masking, SQLite paths, driver names, checks and the create lock.

The two stores of a search are given as URLs: the Optuna storage (``--storage``, any SQLAlchemy
URL) and the MLflow tracking URI (``--tracking-uri``). Local SQLite stores are written
``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``. This module is the only one
that takes such URLs apart; it imports nothing of the project but errors and config.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import quote

from automl.errors import ConfigError

_SQLITE = "sqlite:///"
_SERVER_SCHEMES = ("postgres", "postgresql", "mysql", "mariadb", "mssql")
#: A user name that can be shown as is (anything else is hidden with the password).
_PLAIN_USER = re.compile(r"[A-Za-z0-9._~%+-]+")
#: Schemes whose URLs with an empty authority (``sqlite:///``, ``file:///``) carry a path only.
_PATH_ONLY = re.compile(r"^(sqlite|file)(\+[A-Za-z0-9]+)?$", re.IGNORECASE)


def mask(url: str) -> str:
    """``url`` with its password hidden, for messages and logs.

    Parsed, not pattern-replaced: the user-info runs from ``://`` (or a leading ``//``) to the
    *last* ``@`` of the URL, so a password holding ``@``, ``:``, ``/``, ``%``, ``#`` or ``?``
    is hidden whole (SQLAlchemy's own parser splits such a password at its first ``@``). Only
    a plain user name (letters, digits, ``._~%+-``) is kept, as ``user:***@``; any other user
    name is hidden too (``***@``). A string with an ``@`` but no ``://`` cannot be parsed and
    keeps nothing before its last ``@``. URLs without a password are returned unchanged.

    Args:
        url: Any store URL or URI, well-formed or not.

    Returns:
        A string that contains no part of the password.

    >>> mask("postgresql://user:secret@db:5432/automl")
    'postgresql://user:***@db:5432/automl'
    >>> mask("postgresql://alice:Sec@ret%Word7@127.0.0.1:1/x")
    'postgresql://alice:***@127.0.0.1:1/x'
    >>> mask("sqlite:///studies/automl.db")
    'sqlite:///studies/automl.db'
    >>> mask("admin:s3cret@db.example/automl")
    '***@db.example/automl'
    """
    at = url.rfind("@")
    if at < 0:
        return url
    scheme, sep, _ = url.partition("://")
    if sep:
        start = len(scheme) + 3
        if url[start:start + 1] == "/" and _PATH_ONLY.match(scheme):
            return url  # sqlite:////folder/a@b.db: a path, no user-info
    elif url.startswith("//"):
        start = 2  # a scheme-relative URL: //user:password@host
    else:
        return f"***@{url[at + 1:]}"
    if at < start:
        return url
    userinfo, rest = url[start:at], url[at + 1:]
    user, colon, _ = userinfo.partition(":")
    if not _PLAIN_USER.fullmatch(user):
        return f"{url[:start]}***@{rest}"
    return f"{url[:start]}{user}{':***' if colon else ''}@{rest}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, as written (relative or absolute).

    Args:
        url: A store URL.

    Returns:
        The file's path; ``None`` for other schemes, ``sqlite://`` and ``sqlite:///:memory:``.

    >>> sqlite_path("sqlite:///studies/automl.db")
    PosixPath('studies/automl.db')
    >>> sqlite_path("sqlite:////tmp/mlflow.db"), sqlite_path("postgresql://u@h/db")
    (PosixPath('/tmp/mlflow.db'), None)
    """
    if not url.startswith(_SQLITE):
        return None
    path = url[len(_SQLITE):]
    return None if path in ("", ":memory:") else Path(path)


def cache_folder(storage_url: str) -> Path:
    """Where prepared data is cached (:mod:`automl.cache`): beside a SQLite study storage,
    else ``studies/cache``.

    >>> cache_folder("sqlite:///studies/automl.db"), cache_folder("postgresql://u@h/db")
    (PosixPath('studies/cache'), PosixPath('studies/cache'))
    """
    path = sqlite_path(storage_url)
    return (path.parent if path else Path("studies")) / "cache"


def absolute(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so it works from any folder.

    Other URLs (and absolute or in-memory SQLite ones) are returned unchanged.
    """
    path = sqlite_path(url)
    if path is None or path.is_absolute():
        return url
    return f"{_SQLITE}{path.resolve()}"


def driver_url(url: str) -> str:
    """``url`` with the installed PostgreSQL driver named (``postgresql://`` → ``+psycopg``:
    SQLAlchemy's default is psycopg2; the project installs psycopg 3), and an ``@`` in its
    password percent-encoded: SQLAlchemy ends a password at its first ``@``, so
    ``pw@x@db`` would name the host ``x@db``. Other URLs are returned unchanged.

    >>> driver_url("postgresql://u@db/automl")
    'postgresql+psycopg://u@db/automl'
    >>> driver_url("postgresql://u:p@ss@db/automl")
    'postgresql+psycopg://u:p%40ss@db/automl'
    """
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    scheme, sep, rest = url.partition("://")
    authority = rest.partition("?")[0]
    userinfo = authority[:max(authority.rfind("@"), 0)]
    if not sep or rest.startswith("/") or "@" not in userinfo:
        return url
    return f"{scheme}://{userinfo.replace('@', '%40')}{rest[len(userinfo):]}"


def is_server(url: str) -> bool:
    """Whether ``url`` names a database server (PostgreSQL, MySQL/MariaDB, SQL Server).

    >>> is_server("postgresql+psycopg://u@db/x"), is_server("sqlite:///a.db")
    (True, False)
    """
    scheme = url.partition(":")[0].partition("+")[0].lower()
    return scheme in _SERVER_SCHEMES


def reach_server(url: str) -> None:
    """Connect once to a database-server store and write nothing; a no-op for other URLs.

    Raises:
        Exception: what SQLAlchemy or the driver raises for a server that cannot be reached.
    """
    if not is_server(url):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(driver_url(url))
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def check_url(url: str, option: str) -> None:
    """Refuse a value that is not a URL at all (a bare path, a forgotten scheme).

    ``--storage`` needs ``scheme://...``; ``--tracking-uri`` (MLflow's own rules) also accepts
    ``scheme:...`` or an absolute path.

    Args:
        url: The option's value.
        option: The option's name, ``"--storage"`` or ``"--tracking-uri"``.

    Raises:
        ConfigError: one line naming the option, the (masked) value and an example.
    """
    scheme = r"^[a-zA-Z][a-zA-Z0-9+.-]*:" + ("//" if option == "--storage" else "")
    if not re.match(scheme, url) and not (option != "--storage" and url.startswith("/")):
        raise ConfigError(f"{option} {mask(url)!r} is not a URL; use e.g. "
                          "sqlite:///path/file.db or postgresql://user@host/db")


def check_sqlite(url: str, option: str) -> None:
    """Refuse a local SQLite store that cannot be used, before anything is written.

    A no-op for other URLs and for in-memory SQLite. The file may be missing (it is created,
    with its folders) or empty (SQLite initialises it). Reads its schema through a read-only
    SQLite connection: the file is never changed, and never opened with a descriptor of this
    module's own (closing one would drop the POSIX locks that this process's SQLite connections
    hold on the file; a WAL database whose lock is gone can be checkpointed and cut short by
    another process while this one still writes to it: a malformed database).

    Args:
        url: The store URL.
        option: The option that gave it (``"--storage"`` or ``"--tracking-uri"``), named in
            the message.

    Raises:
        ConfigError: one line naming the file and the fix, when the path is a directory, is
            under a file or under a folder that cannot be entered, or its folder or the file is
            not writable; or the file is not an SQLite database or SQLite cannot read it.
    """
    path = sqlite_path(url)
    if path is None:
        return
    try:
        _check_sqlite_path(path, url, option)
    except PermissionError:  # a folder above it cannot be searched: stat() itself fails
        raise ConfigError(f"{option} {url!r}: permission denied on a folder above {path}; "
                          "choose a path you can reach") from None


def _check_sqlite_path(path: Path, url: str, option: str) -> None:
    if path.is_dir():
        raise ConfigError(f"{option} {url!r} names a directory; name a database file in it, "
                          f"e.g. {_SQLITE}{path / 'automl.db'}")
    folder = _existing_folder(path)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {url!r}: cannot create or write the database there "
                          f"({folder} is not a writable folder); choose another path")
    if not path.exists():
        return
    if not path.is_file():
        raise ConfigError(f"{option} {url!r}: {path} is not a regular file; name a database "
                          "file instead")
    if not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"{option} {url!r}: {path} is read-only or unreadable; make it "
                          "writable (chmod u+rw) or choose another path")
    try:
        with closing(read_only(path)) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # parses it
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return  # in use by another process (a worker): readable, just not this second
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise ConfigError(f"{option} {url!r}: {path} is not an SQLite database; name "
                              "another file (or move this one away)") from None
        raise ConfigError(f"{option} {url!r}: SQLite cannot read {path} ({exc}); it is "
                          "damaged: restore it from a copy or choose another path") from None


def read_only(path: Path, timeout: float = 60.0) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` that cannot write to it (``mode=ro``).

    Raises:
        sqlite3.DatabaseError: the file cannot be opened or is not a database (raised by the
            first statement for a damaged file).
    """
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout)


def _existing_folder(path: Path) -> Path:
    """The nearest existing ancestor of ``path`` (its folder, when that exists)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


_HELD: set[tuple[int, int]] = set()  # (device, inode) of the folders this process has locked
_HELD_GUARD = threading.Lock()


@contextmanager
def store_lock(url: str) -> Iterator[None]:
    """Serialise creating/initialising a local SQLite store across processes.

    Holds an exclusive ``flock`` on the database's folder, opened read-only, so no lock file is
    ever left anywhere. A folder still to be made is made under the lock of its nearest
    existing ancestor, then locked itself; if it is still empty when the block ends (the
    command was refused before the database was written), it is removed again. Re-entrant
    within one process, by folder: the Optuna and MLflow stores of one folder nest. Several
    processes opening one fresh SQLite file at once would
    otherwise race on creating its schema. A no-op for non-SQLite URLs.

    Args:
        url: The store URL.

    Yields:
        Nothing; the lock is held for the ``with`` block.
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path = path.resolve()
    made: list[Path] = []
    handle = _lock_nearest(path)
    if not path.parent.is_dir():  # made under the ancestor's lock, then locked itself
        folder = path.parent
        while not folder.exists():
            made.append(folder)
            folder = folder.parent
        path.parent.mkdir(parents=True, exist_ok=True)
        outer, handle = handle, _lock_nearest(path)
        _unlock(outer)
    try:
        yield
    finally:
        for folder in made:  # deepest first; only folders this lock made, only when empty
            try:
                folder.rmdir()
            except OSError:
                break
        _unlock(handle)


def _lock_nearest(path: Path) -> int | None:
    """An exclusive ``flock`` on the nearest existing ancestor of ``path``: its descriptor, or
    ``None`` when this process holds that folder's lock already.

    Retries when the folder was removed, or a nearer one made, while it waited.
    """
    while True:
        folder = _existing_folder(path)
        try:
            handle = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:
            continue
        held = os.fstat(handle)
        identity = (held.st_dev, held.st_ino)
        with _HELD_GUARD:
            if identity in _HELD:
                os.close(handle)
                return None
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            same = os.stat(folder).st_ino == held.st_ino
        except FileNotFoundError:
            same = False
        if same and _existing_folder(path) == folder:
            with _HELD_GUARD:
                _HELD.add(identity)
            return handle
        _unlock(handle)


def _unlock(handle: int | None) -> None:
    """Release a lock taken by :func:`_lock_nearest` (``None``: one held further out)."""
    if handle is None:
        return
    held = os.fstat(handle)
    with _HELD_GUARD:
        _HELD.discard((held.st_dev, held.st_ino))
    fcntl.flock(handle, fcntl.LOCK_UN)
    os.close(handle)
