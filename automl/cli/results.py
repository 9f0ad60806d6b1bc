"""``automl show``, ``studies`` and ``report``: read-only views of stored studies; and
``automl delete``, the one command that removes one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from automl.cli.common import (
    DebugOpt,
    JsonOpt,
    StorageOpt,
    TrackingOpt,
    app,
    check_output_file,
    err,
    out,
    print_json,
    quiet_libraries,
    user_errors,
)
from automl.cli.render import (
    final_scores_text,
    render_leaderboard,
    render_threshold,
    score_text,
    test_scores_text,
)
from automl.config import default_storage
from automl.stores import mask
from automl.words import counted

if TYPE_CHECKING:  # the library is imported by the commands, so that `--help` is instant
    from automl.ledger import StudyDeletion


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
        final = report.final_model
        if final:
            out.print(f"final model (what predict uses): "
                      f"{final_scores_text(final, str(report.metric))}", soft_wrap=True)
        render_threshold(final)
        if final and final.get("test_metrics"):
            out.print(test_scores_text(final, final.get("test_rows")), soft_wrap=True)


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
        rows = [("study", "task", "metric", "best", "last trial", "trials")] + [
            (r.study, str(r.task), str(r.metric),
             "-" if r.best_value is None else score_text(r.best_value),
             "-" if r.last_trial is None else r.last_trial.replace("T", " ")[:16],
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


@app.command()
def delete(
    study: str = typer.Argument(..., help="Study to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking."),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    debug: bool = DebugOpt,
) -> None:
    """Delete a study: its trials from the storage and its MLflow runs (which MLflow keeps,
    deleted, until `mlflow gc`). Asks first unless --yes."""
    from automl.ledger import delete_study, plan_deletion

    with user_errors(debug):
        quiet_libraries()
        deletion = plan_deletion(storage or default_storage(), study, tracking_uri)
        what = _deletion_text(deletion)
        if not yes and not _confirmed(f"delete {what}?"):
            err.print("nothing deleted (--yes deletes without asking)")
            raise typer.Exit(1)
        delete_study(deletion)
        err.print(f"deleted {what}", soft_wrap=True)
        if deletion.run_ids:
            err.print(f"MLflow keeps what it deletes, artifacts included, until `mlflow gc "
                      f"--backend-store-uri {mask(deletion.tracking_uri)}` purges it",
                      soft_wrap=True)


def _confirmed(question: str) -> bool:
    """The user's yes to ``question`` on stderr; no answer (stdin closed) is a no."""
    try:
        return typer.confirm(question, err=True)
    except typer.Abort:
        return False
    finally:
        if not sys.stdin.isatty():  # an answer read from a pipe is not echoed
            err.print("")


def _deletion_text(deletion: StudyDeletion) -> str:
    """The study, its trials and runs, and the stores they are in."""
    runs = (f" and its {counted(len(deletion.run_ids), 'MLflow run')} from "
            f"{mask(deletion.tracking_uri)}" if deletion.run_ids else "")
    return (f"study {deletion.study_name!r} ({deletion.trials}) from "
            f"{mask(deletion.storage_url)}{runs}")
