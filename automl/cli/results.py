"""``automl show``, ``studies`` and ``report``: read-only views of stored studies."""

from __future__ import annotations

from pathlib import Path

import typer

from automl.cli.common import (
    DebugOpt,
    JsonOpt,
    StorageOpt,
    app,
    check_output_file,
    err,
    out,
    print_json,
    quiet_libraries,
    user_errors,
)
from automl.cli.render import render_leaderboard, render_threshold, score_text
from automl.config import default_storage
from automl.records import final_model_text
from automl.words import counted


@app.command()
def show(
    study: str = typer.Argument(..., help="Study name."),
    top: int = typer.Option(5, "--top", min=1, help="Rows of the leaderboard."),
    as_json: bool = JsonOpt,
    storage: str | None = StorageOpt,
    debug: bool = DebugOpt,
) -> None:
    """Show a study's leaderboard: best trials, their parameters, scores and MLflow run ids."""
    from automl.queries import show_study

    with user_errors(debug):
        report = show_study(storage or default_storage(), study, top)
        if as_json:
            print_json(report.to_json())
            return
        render_leaderboard(report)
        held = f"; held out: {report.held_out}" if report.held_out else ""
        out.print(f"task {report.task}, metric {report.metric} ({report.direction}){held}; "
                  f"trials: {report.trials}")
        if report.trials.waiting:
            out.print(f"{counted(report.trials.waiting, 'trial')} waiting: warm-start "
                      "configurations the search queued and had no time for; `automl resume "
                      f"{study}` runs them first", soft_wrap=True)
        if report.final_model:
            out.print(f"final model (what predict uses): "
                      f"{final_model_text(report.final_model)}", soft_wrap=True)
        render_threshold(report.final_model)


@app.command(name="studies")
def studies(
    as_json: bool = JsonOpt,
    storage: str | None = StorageOpt,
    debug: bool = DebugOpt,
) -> None:
    """List the studies in the storage: task, metric, best value, trials by state."""
    from automl.queries import list_studies

    with user_errors(debug):
        reports = list_studies(storage or default_storage())
        if as_json:
            print_json([r.to_row() for r in reports])
            return
        rows = [("study", "task", "metric", "best", "trials")] + [
            (r.study, str(r.task), str(r.metric),
             "-" if r.best_value is None else score_text(r.best_value),
             str(r.trials))
            for r in reports]
        for line in _aligned(rows):
            out.print(line, soft_wrap=True, markup=False)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """``rows`` as lines of left-aligned columns two spaces apart. A line wider than the
    terminal wraps there instead of being cut: a study name is copied into the next command."""
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


@app.command()
def report(
    study: str = typer.Argument(..., help="Study to report on."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o",
                                help="The HTML file to write."),
    top: int = typer.Option(10, "--top", min=1, help="Rows of the leaderboard."),
    storage: str | None = StorageOpt,
    debug: bool = DebugOpt,
) -> None:
    """Write a study's report as one self-contained HTML file that opens offline."""
    from automl.queries import describe
    from automl.report import write_report
    from automl.storage import load_study

    with user_errors(debug):
        quiet_libraries()
        check_output_file(output, "report.html")
        found = load_study(storage or default_storage(), study)
        path = write_report(found, describe(found, top), output)
        err.print(f"report of study {study!r} written to {path}", soft_wrap=True)
