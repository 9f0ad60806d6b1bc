"""Store URLs: masking, SQLite paths and checks, the create lock; and what the CLI says about
stores it cannot use (real files, real stores, no mocks)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from cli_helpers import cli, one_error_line
from hypothesis import given, settings
from hypothesis import strategies as st
from test_inputs import FAST, frame, text

import automl.stores
from automl.errors import ConfigError
from automl.storage import make_storage
from automl.stores import (
    absolute,
    check_sqlite,
    check_url,
    driver_url,
    is_server,
    mask,
    sqlite_path,
    store_lock,
)
from automl.tracking import MlflowTracker

PASSWORD = "Sec@ret%Word7"
SERVER_URL = f"postgresql://alice:{PASSWORD}@127.0.0.1:1/x"


# ------------------------------------------------------------------------------------ masking
@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://user:secret@db:5432/automl", "postgresql://user:***@db:5432/automl"),
    (SERVER_URL, "postgresql://alice:***@127.0.0.1:1/x"),
    ("postgresql+psycopg://u:a:b/c@d#e?f@db/x", "postgresql+psycopg://u:***@db/x"),
    ("mysql://u:p w ü@h/db", "mysql://u:***@h/db"),
    ("https://u:pw@mlflow.example/", "https://u:***@mlflow.example/"),
    ("//admin:s3cret@mlflow.example", "//admin:***@mlflow.example"),
    ("postgresql://user@db/automl", "postgresql://user@db/automl"),
    ("postgresql://al/ice:pw@db/x", "postgresql://***@db/x"),
    ("postgresql://ál ice:pw@db/x", "postgresql://***@db/x"),
    ("postgresql://a@b:pw@db/x", "postgresql://***@db/x"),
    ("admin:s3cret@db.example/automl", "***@db.example/automl"),
    ("sqlite:///studies/automl.db", "sqlite:///studies/automl.db"),
    ("sqlite:////tmp/a@b/automl.db", "sqlite:////tmp/a@b/automl.db"),
    ("https://mlflow.example.com", "https://mlflow.example.com"),
    ("", ""),
])
def test_mask(url: str, masked: str) -> None:
    assert mask(url) == masked


def pieces(secret: str, rest: str) -> set[str]:
    """Every substring of ``secret`` of 3+ characters that does not also occur in ``rest``."""
    return {secret[i:j] for i in range(len(secret)) for j in range(i + 3, len(secret) + 1)
            if secret[i:j] not in rest}


ALPHABET = st.sampled_from(list("abcXYZ019@:/%#? éßжλ中"))


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, min_size=3, max_size=24))
def test_no_piece_of_any_password_survives(password: str) -> None:
    for template in ("postgresql://alice:{}@127.0.0.1:1/x", "mysql://u:{}@h/db",
                     "https://u:{}@mlflow.example/"):
        url = template.format(password)
        shown = mask(url)
        for piece in pieces(password, template.replace("{}", "")):
            assert piece not in shown, (url, shown)


# ------------------------------------------------------------------------------- URL helpers
def test_sqlite_paths_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:///studies/a.db") == Path("studies/a.db")
    assert sqlite_path("sqlite:////tmp/a.db") == Path("/tmp/a.db")
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql://u@h/db", "file:///x.db"):
        assert sqlite_path(url) is None
    assert absolute("sqlite:///studies/a.db") == f"sqlite:///{tmp_path}/studies/a.db"
    for url in ("sqlite:////tmp/a.db", "sqlite:///:memory:", SERVER_URL):
        assert absolute(url) == url


def test_driver_url_and_is_server() -> None:
    assert driver_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert driver_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert driver_url("sqlite:///a.db") == "sqlite:///a.db"
    assert driver_url("postgresql://u:p@ss@h/db") == "postgresql+psycopg://u:p%40ss@h/db"
    assert driver_url("sqlite:////data/a@b.db") == "sqlite:////data/a@b.db"  # a path
    assert driver_url("postgresql://u@h/db?o=a@b") == "postgresql+psycopg://u@h/db?o=a@b"
    assert all(is_server(u) for u in ("postgres://h/d", "postgresql+psycopg://h/d",
                                      "mysql://h/d", "mssql+pyodbc://h/d"))
    assert not any(is_server(u) for u in ("sqlite:///a.db", "http://h", "file:/x", "/abs"))


def test_check_url() -> None:
    check_url("sqlite:///a.db", "--storage")
    check_url("file:/x", "--tracking-uri")
    check_url("/abs/mlruns", "--tracking-uri")
    for url, option in (("a.db", "--storage"), ("file:/x", "--storage"),
                        ("mlruns", "--tracking-uri")):
        with pytest.raises(ConfigError, match="is not a URL"):
            check_url(url, option)


# ------------------------------------------------------------------------- unusable SQLite
def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def text_file(path: Path) -> None:
    path.write_text("id,name\n1,not a database\n")


def damaged(path: Path) -> None:
    """A real SQLite header, then garbage: only SQLite itself can tell."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(500)])
    data = bytearray(path.read_bytes())
    data[100:] = os.urandom(len(data) - 100)
    path.write_bytes(bytes(data))


BAD_FILES = {"random-bytes": (random_bytes, "is not an SQLite database"),
             "text-file": (text_file, "is not an SQLite database"),
             "damaged": (damaged, "SQLite cannot read")}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_check_sqlite_refuses_a_bad_file_without_touching_it(kind: str, tmp_path: Path) -> None:
    write, says = BAD_FILES[kind]
    path = tmp_path / "x.db"
    write(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=says):
        check_sqlite(f"sqlite:///{path}", "--storage")
    with pytest.raises(ConfigError, match=says):  # the storage itself checks too
        make_storage(f"sqlite:///{path}")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]


def test_check_sqlite_accepts_missing_empty_and_real_databases(tmp_path: Path) -> None:
    check_sqlite(f"sqlite:///{tmp_path}/new/folder/x.db", "--storage")
    (tmp_path / "empty.db").touch()
    check_sqlite(f"sqlite:///{tmp_path}/empty.db", "--storage")
    with sqlite3.connect(tmp_path / "real.db") as db:
        db.execute("CREATE TABLE t (x)")
    check_sqlite(f"sqlite:///{tmp_path}/real.db", "--storage")
    check_sqlite("postgresql://u:p@h/db", "--storage")
    assert not (tmp_path / "new").exists()


def test_check_sqlite_keeps_the_locks_of_this_process(tmp_path: Path) -> None:
    """Checking a store this process has open (a second session, a worker) must not drop the
    lock of its connection: another process closing the database would then take itself for
    the last one and checkpoint and delete the WAL file under this one's feet."""
    path = tmp_path / "x.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.commit()
        check_sqlite(f"sqlite:///{path}", "--storage")
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; "
                        "sqlite3.connect(sys.argv[1]).execute('SELECT * FROM t').close()",
                        str(path)], check=True, timeout=60)
        assert Path(f"{path}-wal").exists(), "another process checkpointed and deleted the WAL"


def test_check_sqlite_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names a directory"):
        check_sqlite(f"sqlite:///{tmp_path}", "--storage")


def journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def test_both_local_stores_are_in_wal_mode(tmp_path: Path, tmp_tracking_uri: str) -> None:
    """One disk sync per commit (a rollback journal takes three or four), readers beside a
    writer: the Optuna storage and the MLflow store, new or made before in rollback mode."""
    old = sqlite_path(tmp_tracking_uri)
    assert old is not None
    with closing(sqlite3.connect(old)) as db:
        db.execute("PRAGMA journal_mode=DELETE")
    make_storage(f"sqlite:///{tmp_path}/new/optuna.db").engine.dispose()
    MlflowTracker(f"sqlite:///{tmp_path}/new/mlflow.db", "e")
    MlflowTracker(tmp_tracking_uri, "e")
    assert [journal_mode(path) for path in (tmp_path / "new" / "optuna.db",
                                            tmp_path / "new" / "mlflow.db", old)] == ["wal"] * 3


def optuna_store_of_a_newer_optuna(path: Path) -> None:
    make_storage(f"sqlite:///{path}").engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("UPDATE alembic_version SET version_num = 'v99.0.0.a'")
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)


def test_a_schema_from_a_newer_optuna_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    optuna_store_of_a_newer_optuna(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="pip install -U optuna") as caught:
        make_storage(f"sqlite:///{path}")
    assert "\n" not in str(caught.value)
    assert path.read_bytes() == before


# -------------------------------------------------------------------------------- the lock
def lock_files() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("automl-*.lock")}


def test_store_lock_is_reentrant_and_leaves_nothing(tmp_path: Path) -> None:
    before = lock_files()
    url = f"sqlite:///{tmp_path}/a/b/x.db"
    with store_lock(url), store_lock(url):
        assert (tmp_path / "a" / "b").is_dir()
    assert lock_files() == before
    assert list(tmp_path.iterdir()) == [], "an empty folder the lock made is removed"
    with store_lock(url):
        (tmp_path / "a" / "b" / "x.db").touch()
    assert (tmp_path / "a" / "b" / "x.db").exists()
    with store_lock("postgresql://u@h/db"), store_lock("sqlite:///:memory:"):
        pass


# The holder imports automl.stores alone: the package's __init__ (torch, sklearn, ...) would
# only add seconds of start-up before the lock is taken.
_HOLD = """
import sys, time, types
package = types.ModuleType("automl")
package.__path__ = [sys.argv[3]]
sys.modules["automl"] = package
from automl.stores import store_lock
with store_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


_NEST = """
import sys, types
package = types.ModuleType("automl")
package.__path__ = [sys.argv[3]]
sys.modules["automl"] = package
from automl.stores import store_lock
with store_lock(sys.argv[1]), store_lock(sys.argv[2]):
    print("both held", flush=True)
"""


@pytest.mark.parametrize("second", ["mlflow.db", "new/mlflow.db"])
def test_the_two_stores_of_one_folder_lock_without_deadlock(tmp_path: Path, second: str) -> None:
    """`--storage sqlite:///D/optuna.db --tracking-uri sqlite:///D/mlflow.db` (the second store
    in D itself, or in a folder still to be made in D) once waited for itself forever."""
    done = subprocess.run(
        [sys.executable, "-c", _NEST, f"sqlite:///{tmp_path}/optuna.db",
         f"sqlite:///{tmp_path}/{second}", str(Path(automl.stores.__file__).parent)],
        capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "both held\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("folder_exists", [True, False])
def test_store_lock_serialises_processes(tmp_path: Path, folder_exists: bool) -> None:
    if folder_exists:
        (tmp_path / "s").mkdir()
    url = f"sqlite:///{tmp_path}/s/x.db"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, url, "1.5",
                               str(Path(automl.stores.__file__).parent)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        start = time.monotonic()
        done = threading.Event()

        def take() -> None:
            with store_lock(url):
                done.set()

        taker = threading.Thread(target=take)
        taker.start()
        taker.join(timeout=30)
        assert done.is_set()
        assert time.monotonic() - start > 0.5, "the lock was not waited for"
    finally:
        holder.wait(timeout=30)


# --------------------------------------------------------------------------------- the CLI
@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "data.csv").write_text(text(frame()))
    yield tmp_path / "data.csv"


def assert_refused(code: int, out: str, err: str, *says: str) -> str:
    assert code == 2, f"exit {code}: {out}{err}"
    assert "Traceback" not in out + err
    line = one_error_line(err)
    for part in says:
        assert part in line, line
    return line


@pytest.mark.parametrize("how", ["--storage", "AUTOML_STORAGE", "--tracking-uri",
                                 "MLFLOW_TRACKING_URI"])
def test_at_signs_in_credentials_never_show(how: str, data: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["search", str(data), "--target", "y", *FAST]
    if how.startswith("--"):
        args += [how, SERVER_URL]
    else:
        monkeypatch.setenv(how, SERVER_URL)
    if "storage" not in how.lower():
        args += ["--storage", f"sqlite:///{tmp_path}/s.db"]
    code, out, err = cli(*args)
    assert_refused(code, out, err, "alice:***@127.0.0.1:1/x")
    shown = out + err
    leaked = {p for p in pieces(PASSWORD, SERVER_URL.replace(PASSWORD, "")) if p in shown}
    assert not leaked, shown


@pytest.mark.parametrize("option", ["--storage", "--tracking-uri"])
@pytest.mark.parametrize("kind", ["random-bytes", "text-file", "damaged"])
def test_a_file_that_is_no_database_is_refused_unchanged(option: str, kind: str, data: Path,
                                                         tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    BAD_FILES[kind][0](corrupt)
    before = corrupt.read_bytes()
    other = "--tracking-uri" if option == "--storage" else "--storage"
    code, out, err = cli("search", str(data), "--target", "y", *FAST,
                         option, "sqlite:///corrupt.db", other, f"sqlite:///{tmp_path}/o/o.db")
    line = assert_refused(code, out, err, option, "corrupt.db")
    assert "another" in line or "restore" in line, line
    assert corrupt.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.db", "data.csv"]


def test_mlflow_tracker_refuses_a_corrupt_store(tmp_path: Path) -> None:
    corrupt = tmp_path / "mlflow.db"
    random_bytes(corrupt)
    before = corrupt.read_bytes()
    with pytest.raises(ConfigError, match=r"--tracking-uri.*is not an SQLite database"):
        MlflowTracker(f"sqlite:///{corrupt}", "e")
    assert corrupt.read_bytes() == before


def test_a_newer_schema_is_refused_through_the_cli(data: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    optuna_store_of_a_newer_optuna(newer)
    before = newer.read_bytes()
    code, out, err = cli("search", str(data), "--target", "y", *FAST, "--storage",
                         f"sqlite:///{newer}", "--tracking-uri", f"sqlite:///{tmp_path}/m/m.db")
    assert_refused(code, out, err, "newer.db", "pip install -U optuna")
    assert newer.read_bytes() == before


_AS_NOBODY = """
import os, pwd, sys
import automl.cli
user = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(user.pw_gid)
os.setuid(user.pw_uid)
automl.cli.app(sys.argv[1:], prog_name="automl")
"""


def run_unprivileged(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """The CLI as it is for a user (root writes anywhere: then as user nobody)."""
    if os.geteuid() != 0:
        return cli(*args)
    try:
        import pwd

        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to run the CLI unprivileged")
    for folder in [cwd, *cwd.parents][:4]:
        folder.chmod(folder.stat().st_mode | 0o711)
    # nobody must reach the interpreter's files too (a checkout under a private folder, such as
    # `mktemp -d`, hides its virtual environment, and a Python under /root its standard library;
    # modules imported lazily then fail to load)
    for prefix in {sys.prefix, sys.base_prefix}:
        for folder in Path(prefix).resolve().parents:
            if not folder.stat().st_mode & 0o001:
                folder.chmod(folder.stat().st_mode | 0o711)
    done = subprocess.run([sys.executable, "-c", _AS_NOBODY, *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env={**os.environ, "HOME": str(cwd)})
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("option", ["--storage", "--tracking-uri"])
@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_read_only_store_is_refused_unchanged(option: str, what: str, data: Path,
                                                tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    db = ro / "x.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE t (x)")
    writable = tmp_path / "rw"
    writable.mkdir()
    data.chmod(0o644)
    if what == "folder":
        db.chmod(0o666)
        ro.chmod(0o555)
    else:
        ro.chmod(0o777)
        db.chmod(0o444)
    writable.chmod(0o777)
    before = db.read_bytes()
    other = "--tracking-uri" if option == "--storage" else "--storage"
    try:
        code, out, err = run_unprivileged(
            ["search", str(data), "--target", "y", *FAST, option, f"sqlite:///{db}",
             other, f"sqlite:///{writable}/o.db"], tmp_path)
    finally:
        ro.chmod(0o755)
    assert_refused(code, out, err, option, "x.db", "choose another path")
    assert db.read_bytes() == before
    assert sorted(p.name for p in ro.iterdir()) == ["x.db"]
    assert not list(writable.iterdir())


def test_a_search_leaves_no_lock_file(data: Path, tmp_path: Path) -> None:
    before = lock_files()
    code, out, err = cli("search", str(data), "--target", "y", *FAST,
                         "--storage", "sqlite:///studies/s.db",
                         "--tracking-uri", "sqlite:///mlruns/mlflow.db")
    assert code == 0, out + err
    assert lock_files() <= before
    assert (tmp_path / "studies" / "s.db").exists()



def test_each_waiting_trial_is_claimed_by_one_process_only(tmp_path: Path) -> None:
    """Three fresh processes on one SQLite study ran the same enqueued trial twice, and the
    second to finish it crashed ("Cannot tell a COMPLETE trial"): Optuna checks that a trial
    is waiting and then claims it, and SQLite does not lock the row in between. Six storages
    (as six processes have) claim 200 waiting trials in shuffled orders, all at once; before
    the claim was one conditional UPDATE, 15 trials were claimed twice."""
    import random

    import optuna
    from optuna.trial import TrialState

    url = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="s", storage=make_storage(url))
    for x in range(200):
        study.enqueue_trial({"x": x})
    ids = [trial._trial_id for trial in study.get_trials()]
    winners: dict[int, list[int]] = {trial_id: [] for trial_id in ids}
    start = threading.Barrier(6)

    def claim(worker: int) -> None:
        storage, order = make_storage(url), random.Random(worker).sample(ids, len(ids))
        start.wait()
        for trial_id in order:
            if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                winners[trial_id].append(worker)
        storage.engine.dispose()

    threads = [threading.Thread(target=claim, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(claimed) == 1 for claimed in winners.values()), winners
    assert {trial.state for trial in study.get_trials()} == {TrialState.RUNNING}
