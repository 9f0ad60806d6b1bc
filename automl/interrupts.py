"""Signals to safe points: a Ctrl-C or SIGTERM received while trials run is raised later.

A signal handler (:mod:`automl.workers`) calls :func:`defer`; while a search loop is
:func:`armed`, the exception waits until the loop reaches a safe point and calls
:func:`raise_pending`: the end of an epoch or the gate before a trial, where raising cannot cut
a database transaction in half. Outside an armed loop, :func:`defer` declines and the handler
raises at once. One process runs one search loop, so the state is module-wide. Where the search
knows what the signal stopped, it raises an :class:`Interrupted` that says so; a plain
``KeyboardInterrupt`` stopped no trial (the gate, reading the data, opening the stores).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_armed = False
_pending: KeyboardInterrupt | None = None


def defer(exc: KeyboardInterrupt) -> bool:
    """Have the running search raise ``exc`` at its next safe point instead of now.

    Returns ``False`` when no search loop is armed: the caller then raises ``exc`` itself, and
    it is kept all the same, because Python ignores an exception raised where the signal
    landed in a finalizer (SQLAlchemy's, while the stores open); the next safe point, the
    gate before a trial, then raises it. :func:`forget` drops it once the command ends.
    """
    global _pending
    _pending = exc
    return _armed


def forget() -> None:
    """Drop an interrupt kept by :func:`defer` (the command that received it has ended)."""
    global _pending
    _pending = None


def raise_pending() -> None:
    """Raise the deferred interrupt, if any (call only at a safe point)."""
    global _pending
    exc, _pending = _pending, None
    if exc is not None:
        raise exc


@contextmanager
def armed() -> Iterator[None]:
    """Defer interrupts while the block runs (the search loop); never nested."""
    global _armed
    _armed = True
    try:
        yield
    finally:
        _armed = False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM that stopped a search at a known point (the subclasses say which);
    its ``exit_code`` is the one of the signal that caused it (130 or 143)."""

    def __init__(self, cause: KeyboardInterrupt) -> None:
        super().__init__()
        self.exit_code = int(getattr(cause, "exit_code", 130))


class TrialInterrupted(Interrupted):
    """It stopped this process's running trial (Optuna FAIL, MLflow KILLED)."""


class WorkersInterrupted(Interrupted):
    """It was forwarded to the workers of ``--workers N``, which stopped their own trials."""


class FinalStepInterrupted(Interrupted):
    """It stopped a search's final step, while no trial was running."""
