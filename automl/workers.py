"""Running N local worker processes on one study, and ending a trial cleanly on a signal.

:func:`run_workers` initialises everything shared once (the Optuna schema, the study and its
attributes, the MLflow store, experiment and parent run), then starts ``automl worker`` processes
that each run trials until the study's budget is used. :func:`interrupts_end_trials` turns SIGINT
and SIGTERM into exceptions in the main thread so the running trial is failed in Optuna and its
MLflow run ends KILLED; a second signal exits at once. Exit codes: 130 (SIGINT), 143 (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

from automl import interrupts
from automl.config import STORAGE_ENV, TRACKING_ENV, SearchConfig
from automl.errors import StudyMismatchError, WorkerError
from automl.ledger import close_parent, reconcile_runs
from automl.plan import SearchPlan, prepare_search
from automl.queries import TrialCounts, resume_config
from automl.session import Progress, SearchSession, SearchSummary, run_search
from automl.storage import load_study

INDEX_ENV = "AUTOML_WORKER_INDEX"
PARENT_ENV = "AUTOML_WORKER_PARENT"
DEADLINE_ENV = "AUTOML_WORKER_DEADLINE"
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread; handled everywhere exactly like Ctrl-C.

    It subclasses ``KeyboardInterrupt`` because Optuna fails the running trial for that type
    (and re-raises it), and every clean-up path already expects it.
    """

    exit_code = 143


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """130 for Ctrl-C / SIGINT, 143 for SIGTERM."""
    return int(getattr(interrupt, "exit_code", 130))


@contextmanager
def interrupts_end_trials() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt`` and SIGTERM :class:`Terminated` in the main thread.

    While trials run, the exception is raised at the search's next safe point (the end of an
    epoch, the gate before a trial: :func:`automl.interrupts.defer`), so no database write
    is cut in half; the running trial then ends cleanly (Optuna FAIL, MLflow KILLED). Otherwise
    it is raised at once. A second signal exits at once with the signal's code (the heartbeat
    and the next run's reconciliation then tidy up). The previous handlers are restored on
    exit. Only callable from the main thread.
    """
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if received:
            os._exit(EXIT_CODES.get(signal.Signals(signum), 130))
        received.append(signum)
        exc = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if not interrupts.defer(exc):
            raise exc

    previous = {s: signal.signal(s, handle) for s in EXIT_CODES}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        interrupts.forget()


def threads_per_worker(n_workers: int, threads: int | None = None) -> int:
    """torch threads for each of ``n_workers`` so that workers x threads <= cores.

    An explicit ``threads`` is kept when it fits, else lowered.

    >>> threads_per_worker(3, None) <= max(1, (os.cpu_count() or 1) // 3)
    True
    """
    fair = max(1, (os.cpu_count() or 1) // max(1, n_workers))
    return min(threads, fair) if threads else fair


# ------------------------------------------------------------------------------------ a worker
def worker_config(storage_url: str, study_name: str, **overrides: Any) -> SearchConfig:
    """The config of a worker joining an existing study (data path, split, budget as stored).

    Raises:
        StudyNotFoundError: no such study, or it was not made by ``automl search``.
    """
    return resume_config(storage_url, study_name, **overrides)


def run_worker(cfg: SearchConfig, *,
               on_trial: Callable[[Progress], None] | None = None) -> SearchSummary:
    """Join ``cfg``'s existing study and run trials until its budget is used.

    The data is re-read from the stored path and must match the study's fingerprint. A worker
    started by :func:`run_workers` (``$AUTOML_WORKER_PARENT`` set) leaves the test scoring and the
    parent run to that process and stops (SIGTERM) if that process dies.

    Raises:
        StudyMismatchError: the data file changed since the study was made.
        KeyboardInterrupt: SIGINT/SIGTERM, after the running trial was closed.
    """
    plan = prepare_search(until_parent_deadline(cfg))
    _check_same_data(plan)
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():
        _watch_parent(int(parent))
    salt = int(os.environ.get(INDEX_ENV, "0") or 0) or 1 + os.getpid() % 997
    return run_search(plan, on_trial=on_trial, finish=not parent, sampler_salt=salt)


def until_parent_deadline(cfg: SearchConfig) -> SearchConfig:
    """``cfg`` with the time left until ``$AUTOML_WORKER_DEADLINE`` (a Unix time, set by
    :func:`run_workers` for a timed run) as its timeout, so a worker ends when its starting
    process's run would, however long its own start took (seconds of imports); else ``cfg``.

    >>> from pathlib import Path
    >>> os.environ[DEADLINE_ENV] = str(time.time() + 30)
    >>> 29 < until_parent_deadline(SearchConfig(csv_path=Path("d.csv"))).timeout_s <= 30
    True
    >>> del os.environ[DEADLINE_ENV]
    """
    deadline = os.environ.get(DEADLINE_ENV)
    if not deadline:
        return cfg
    return replace(cfg, timeout_s=max(1.0, float(deadline) - time.time()))


def _check_same_data(plan: SearchPlan) -> None:
    stored = load_study(plan.cfg.storage_url, plan.study_name).user_attrs.get("fingerprint")
    if stored != plan.fingerprint:
        raise StudyMismatchError(
            f"the data at {plan.cfg.csv_path} is not the data study {plan.study_name!r} was made "
            f"with (fingerprint {plan.fingerprint}, study has {stored}); give this "
            "worker the same file")


def _watch_parent(parent_pid: int, every_s: float = 1.0) -> None:
    """Send ourselves SIGTERM once the process that started us is gone (we were re-parented)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="automl-parent-watch", daemon=True).start()


# ------------------------------------------------------------------------------------- workers
@dataclass(slots=True)
class _Pool:
    """The started worker processes and the first signal this process received."""

    procs: list[subprocess.Popen[bytes]]
    received: int | None = None

    def forward(self, signum: int, frame: FrameType | None) -> None:
        self.received = self.received or signum
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signum)


def run_workers(plan_or_cfg: SearchPlan | SearchConfig, n_workers: int, *,
                on_trial: Callable[[Progress], None] | None = None,
                poll_s: float = 0.5) -> SearchSummary:
    """Run ``n_workers`` local ``automl worker`` processes on one study until its budget is used.

    Everything shared is created once, here, before any worker starts. Each worker gets
    ``threads_per_worker`` torch threads, what is left of ``--timeout`` (counted from this
    run's launch), the URLs through the environment (never on a command line) and its own
    process group: SIGINT/SIGTERM sent to this process are forwarded once to
    every worker, which end their trials cleanly, then this process raises. Afterwards the best
    model is scored on the test split and logged to the parent run, as in ``run_search``.

    Raises:
        WorkersInterrupted: a signal was received (its ``exit_code``: 143 for SIGTERM), after
            every worker exited.
        WorkerError: a worker exited with an error and the budget was not used.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    plan = plan_or_cfg if isinstance(plan_or_cfg, SearchPlan) else prepare_search(plan_or_cfg)
    session = SearchSession(plan)
    session.open()
    threads = threads_per_worker(n_workers, plan.cfg.threads)
    pool = _Pool([_start_worker(plan, index, threads) for index in range(1, n_workers + 1)])
    previous = {s: signal.signal(s, pool.forward) for s in EXIT_CODES}
    try:
        _wait(pool, lambda: on_trial(session.progress()) if on_trial else None, poll_s)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    reconcile_runs(session.study, session.tracker)  # type: ignore[arg-type]
    if pool.received is not None:
        close_parent(session.study, session.tracker)  # type: ignore[arg-type]
        raise interrupts.WorkersInterrupted(
            Terminated() if pool.received == signal.SIGTERM else KeyboardInterrupt())
    _check_exits(pool, TrialCounts.of(session.study), plan)
    session.n_run = TrialCounts.of(session.study).finished
    return session.summary(session.finish())


def _start_worker(plan: SearchPlan, index: int, threads: int) -> subprocess.Popen[bytes]:
    cfg = plan.cfg
    env = {**os.environ, STORAGE_ENV: cfg.storage_url, TRACKING_ENV: cfg.tracking_uri,
           INDEX_ENV: str(index), PARENT_ENV: str(os.getpid())}
    command = [sys.executable, "-m", "automl", "worker", plan.study_name, "--threads",
               str(threads), "--data", str(cfg.csv_path)]  # the file read here, whatever
    # path another machine's run stores meanwhile
    if cfg.timeout_s:  # what is left of this run's time: reading the CSV here counted
        left = max(1.0, cfg.timeout_s - (time.monotonic() - plan.started))
        command += ["--timeout", f"{left:.1f}"]
        env[DEADLINE_ENV] = f"{time.time() + left:.3f}"  # the worker's own start counts too
    if cfg.memory_limit_gb:
        command += ["--memory-limit", str(cfg.memory_limit_gb)]
    return subprocess.Popen(command, env=env, start_new_session=True)


def _wait(pool: _Pool, report: Callable[[], None], poll_s: float) -> None:
    while any(proc.poll() is None for proc in pool.procs):
        time.sleep(poll_s)
        if pool.received is None:
            report()


def _check_exits(pool: _Pool, counts: TrialCounts, plan: SearchPlan) -> None:
    failed = [(proc.pid, proc.returncode) for proc in pool.procs if proc.returncode != 0]
    if failed and (plan.cfg.n_trials is None or counts.finished < plan.cfg.n_trials):
        listed = ", ".join(f"pid {pid} exited {code}" for pid, code in failed)
        raise WorkerError(f"{len(failed)} of {len(pool.procs)} workers failed ({listed}) before "
                          f"the budget was used; see their messages above, then run `automl "
                          f"resume {plan.study_name}`")
