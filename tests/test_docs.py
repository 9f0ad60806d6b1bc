"""Every command a user can run is explained: it has help text and the README shows it."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer.main

from automl.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
CLI: click.Group = typer.main.get_command(app)  # type: ignore[assignment]
COMMANDS = sorted(CLI.commands)


def test_the_cli_has_commands() -> None:
    assert {"search", "resume", "show", "studies"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help(name: str) -> None:
    command = CLI.commands[name]
    assert command.help and command.help.strip(), f"`automl {name}` has no help text"
    undocumented = [p.name for p in command.params if not getattr(p, "help", None)]
    assert undocumented == [], f"`automl {name}` options without help: {undocumented}"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme(name: str) -> None:
    shown = re.search(rf"\bautoml {re.escape(name)}\b", README.read_text(encoding="utf-8"))
    assert shown is not None, f"README.md never shows `automl {name}`"
