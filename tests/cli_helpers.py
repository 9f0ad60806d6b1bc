"""Running the ``automl`` command line in-process, shared by the CLI-level test files."""

from __future__ import annotations

from typer.testing import CliRunner

from automl.cli import app


def cli(*args: str) -> tuple[int, str, str]:
    """Run ``automl ARGS``; returns (exit code, stdout, stderr). Bugs re-raise their exception."""
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    """The single ``error: ...`` line a refusal prints (asserts there is exactly one)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]
