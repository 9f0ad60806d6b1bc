"""The exception hierarchy: every failure a user can cause is an :class:`AutoMLError`.

The CLI prints an ``AutoMLError``'s message on one line and exits with code 2; anything else is a
bug and keeps its traceback. Messages name the problem *and* the fix.
"""

from __future__ import annotations


class AutoMLError(Exception):
    """Base class of every error a user can cause and fix."""


class DataError(AutoMLError):
    """The CSV cannot be used as given (unreadable, empty, bad target, too few rows...)."""


class ConfigError(AutoMLError):
    """An option or setting is invalid (out of range, unknown name, malformed URL...).

    ``param`` names the setting (a config field such as ``n_trials``) when one value is at
    fault, with what it must be (``expected``) and what it was (``value``), so that a front end
    can say it in its own words (the CLI names its option: ``--n-trials``).
    """

    def __init__(self, message: str, *, param: str | None = None, expected: str = "",
                 value: object = None) -> None:
        super().__init__(message)
        self.param, self.expected, self.value = param, expected, value


class StudyNotFoundError(AutoMLError):
    """The named study does not exist in the storage."""


class StudyMismatchError(AutoMLError):
    """An existing study cannot be continued with this data or these settings."""


class TrialError(AutoMLError):
    """One trial failed for a reason of its own (diverged, out of memory); the search goes on."""


class WorkerError(AutoMLError):
    """A worker process of ``--workers N`` failed before the study's budget was used."""


def os_reason(exc: OSError) -> str:
    """What an ``OSError`` says went wrong, for a message: never ``None`` (``strerror`` is
    missing for some, e.g. errors raised by libraries with only a text)."""
    return exc.strerror or str(exc) or type(exc).__name__
