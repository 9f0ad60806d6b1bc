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
    """An option or setting is invalid (out of range, unknown name, malformed URL...)."""


class StudyNotFoundError(AutoMLError):
    """The named study does not exist in the storage."""


class StudyMismatchError(AutoMLError):
    """An existing study cannot be continued with this data or these settings."""


class TrialError(AutoMLError):
    """One trial failed for a reason of its own (diverged, out of memory); the search goes on."""


class WorkerError(AutoMLError):
    """A worker process of ``--workers N`` failed before the study's budget was used."""
