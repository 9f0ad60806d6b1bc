"""What every ``automl`` command shares: the Typer app, the consoles, the common options, and
the mapping of errors to one line and an exit code.

Every :class:`~automl.errors.AutoMLError` becomes one line on stderr and exit code 2 (``--debug``
shows the traceback instead); Ctrl-C ends the running trial cleanly and exits 130 (SIGTERM 143);
a storage connection still lost after the storage's repeats exits 1.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from automl.config import (
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    MEMORY_MARGIN,
    STORAGE_ENV,
    TRACKING_ENV,
    SearchConfig,
    TrainConfig,
    default_of,
)
from automl.errors import AutoMLError, ConfigError
from automl.interrupts import FinalStepInterrupted, TrialInterrupted, WorkersInterrupted

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


#: Click's ``UsageError`` (an unknown option or command, a bad or missing value), reached through
#: the subclass typer exports: typer 0.29 vendors Click and exports neither.
_UsageError: type[Exception] = typer.BadParameter.__mro__[1]


class _OneLineUsageError(typer.BadParameter.__mro__[2]):  # type: ignore[misc]
    """A usage error (an unknown option or command, a bad or missing value) on one line, exit 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        err.print(f"error: {self.format_message()}", soft_wrap=True)


class _Commands(TyperGroup):
    """The app's commands, whose usage errors are one line naming the problem and where the
    help is, instead of Click's usage block (``automl`` alone still prints the help)."""

    def make_context(self, info_name: str | None, args: list[str], *rest: Any,
                     **kwargs: Any) -> Any:
        if not args:
            return super().make_context(info_name, args, *rest, **kwargs)
        with _one_line_usage_errors():
            return super().make_context(info_name, args, *rest, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except _UsageError as exc:
        message = exc.format_message().replace("Value error, ", "").removesuffix(".")
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        raise _OneLineUsageError(message + where) from None


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="AutoML for tabular data: Optuna searches PyTorch networks, MLflow "
                       "records every trial.")


StorageOpt = typer.Option(None, "--storage", envvar=STORAGE_ENV, show_envvar=True,
                          help=f"Optuna storage URL [default: {DEFAULT_STORAGE}].")
TrackingOpt = typer.Option(None, "--tracking-uri", envvar=TRACKING_ENV, show_envvar=True,
                           help=f"MLflow tracking URI [default: {DEFAULT_TRACKING_URI}].")
#: Config fields whose CLI option has another name (others: ``n_trials`` → ``--n-trials``).
_FIELD_OPTIONS = {"timeout_s": "timeout", "storage_url": "storage", "experiment_name": "experiment"}
DataOpt = typer.Option(None, "--data", dir_okay=False,
                       help="The study's CSV in another place (moved, or this machine's path to "
                            "it); its content must match the study's [default: the stored "
                            "path].")
MemoryOpt = typer.Option(None, "--memory-limit", min=0.01,
                         help=f"GiB this process may use; a trial estimated to need more than "
                              f"{MEMORY_MARGIN:.0%} of what is left is skipped [default: the free "
                              "memory].")
DebugOpt = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")
JsonOpt = typer.Option(False, "--json", help="Print JSON (stable format, see README).")


def split_names(text: str | None) -> tuple[str, ...]:
    """A comma-separated option's names: ``mlp, tabm`` as ``("mlp", "tabm")``."""
    return () if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


@contextmanager
def user_errors(debug: bool, study: str | None = None) -> Iterator[None]:
    """AutoMLError → one line + exit 2; Ctrl-C → one line + exit 130; a storage connection
    still lost after the storage's repeats → one line + exit 1. A search gives its ``study``:
    the lines that say how to go on name it in their ``automl resume`` command; the commands
    that only read a study say to run them again."""
    try:
        yield
    except AutoMLError as exc:
        if debug:
            raise
        err.print(f"error: {_in_cli_words(exc)}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        if debug:
            raise
        from automl.workers import exit_code

        code = exit_code(exc)
        what = "terminated" if code == 143 else "interrupted"
        err.print(what if study is None else f"{what}: {_stopped(exc, study)}", soft_wrap=True)
        raise typer.Exit(code) from None
    except Exception as exc:
        from automl.storage import is_lost_connection

        if debug or not is_lost_connection(exc):
            raise
        then = ("run the command again" if study is None
                else f"continue with `automl resume {study}`")
        err.print(f"error: lost the connection to the study storage ({_root(exc)}); check the "
                  f"database, then {then}", soft_wrap=True)
        raise typer.Exit(1) from None


def _stopped(interrupt: KeyboardInterrupt, study: str) -> str:
    """What a signal stopped (see :mod:`automl.interrupts`) and how to go on."""
    resume = f"`automl resume {study}`"
    if isinstance(interrupt, FinalStepInterrupted):
        return (f"the final step (test score, final model, report) was stopped; {resume} runs "
                "it again")
    if isinstance(interrupt, TrialInterrupted):
        stopped = "the running trial was marked failed and its MLflow run closed"
    elif isinstance(interrupt, WorkersInterrupted):
        stopped = "every worker stopped (each said what, above)"
    else:
        stopped = "no trial was running, so none was cut short"
    return f"{stopped}; continue with {resume}"


def _root(exc: BaseException) -> str:
    """The first line of the driver's message under ``exc`` (the error that started it)."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _in_cli_words(exc: AutoMLError) -> str:
    """The message of ``exc``; a bad setting is named by its option (``--n-trials must be
    ...``) rather than by its config field (every checked field a command sets has an option)."""
    if not isinstance(exc, ConfigError) or exc.param is None:
        return str(exc)
    option = "--" + _FIELD_OPTIONS.get(exc.param, exc.param).replace("_", "-")
    return f"{option} must be {exc.expected}; got {exc.value!r}"


def quiet_libraries() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def check_output_file(path: Path, example: str, option: str = "-o") -> Path:
    """``path`` if a file can be written there, checked before any work is done (``example``:
    a file name the message suggests when ``path`` is a directory).

    Raises:
        ConfigError: ``path`` is a directory, or its folder does not exist or is not writable.
    """
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass a file name in it ({option} "
                          f"{path / example})")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {folder} does not exist; create it "
                          f"(mkdir -p {folder}) or check {option}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: the folder {folder} is not writable; check "
                          f"{option}")
    return path


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def search_default(name: str) -> Any:
    """The default of a :class:`SearchConfig` field, for an option's default and help."""
    return default_of(SearchConfig, name)


def train_default(name: str) -> Any:
    """The default of a :class:`TrainConfig` field, for an option's default and help."""
    return default_of(TrainConfig, name)
