"""A study at a glance: plots and tables as MLflow artifacts and as one self-contained HTML page.

From an ``optuna.Study`` and its :class:`~automl.queries.StudyReport`, :func:`build_report`
draws four sections, each as a PNG (matplotlib, Agg) with an HTML table of the numbers behind it:
the optimization history, parameter importances (fANOVA, seed 0) and parallel coordinates are
Optuna's own plots (``optuna.visualization.matplotlib``, figures closed, style restored); the
leaderboard is drawn here, and so is the precision-recall curve of a binary study's final model
(validation rows) with its tuned decision threshold marked (a section only such studies have).
The column table (the study's ``columns`` user attr) has no plot.
:func:`log_report` logs them to the study's parent MLflow run under ``report/`` and never raises
for a plot that cannot be drawn; :func:`write_report` writes the page that ``automl report``
produces. The page embeds its images as ``data:`` URIs and uses no external script, style sheet
or font, so it opens offline.

This module sits below :mod:`automl.session` (which calls :func:`log_report` from
the final step), so it takes the summary as data instead of importing ``session``.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.errors import ConfigError, os_reason
from automl.queries import StudyReport, network_label, optimizer_label
from automl.records import final_model_text
from automl.tracking import Tracker, temporary_dir

REPORT_ARTIFACT = "report"
MAX_PARALLEL_PARAMS = 8
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One part of the report: ``name`` is its file stem (``history`` → ``history.png``).

    ``png`` is ``None`` when there is nothing to draw or drawing failed; ``note`` says why.
    ``table`` is an HTML fragment with the numbers behind the plot.
    """

    name: str
    title: str
    png: bytes | None
    table: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything a report shows: the study's summary and its sections."""

    study_name: str
    summary: StudyReport
    sections: tuple[Section, ...]
    created: str


# ---------------------------------------------------------------------------------- building
def build_report(study: optuna.Study, summary: StudyReport) -> Report:
    """Draw every section of ``study``; a section that fails is kept with a note, never raised.

    ``summary`` is the study's :func:`automl.queries.describe` (its leaderboard length is the
    number of leaderboard rows shown).
    """
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value)]
    direction = summary.direction or _direction(study)
    metric = summary.metric or "value"
    importances: dict[str, float] = {}
    builders: list[tuple[str, str, Callable[[], Section]]] = [
        ("history", "Optimization history",
         lambda: _history(study, trials, metric, direction)),
        ("importances", "Parameter importances",
         lambda: _importances(study, complete, metric, importances)),
        ("parallel", "Parallel coordinates",
         lambda: _parallel(study, complete, metric, importances)),
        ("leaderboard", "Leaderboard", lambda: _leaderboard(summary, metric)),
        ("columns", "Columns", lambda: _columns(study.user_attrs)),
    ]
    threshold = (summary.final_model or {}).get("threshold")
    if threshold:
        builders.append(("threshold", "Decision threshold", lambda: _threshold(threshold)))
    sections = []
    for name, title, build in builders:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sections.append(build())
        except Exception as exc:  # a plot that cannot be drawn must not stop anything
            log.warning("report section %s not drawn: %s: %s", name, type(exc).__name__, exc)
            sections.append(Section(name=name, title=title, png=None, table="",
                                    note=f"not drawn ({type(exc).__name__}: {exc})"))
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(study_name=study.study_name, summary=summary, sections=tuple(sections),
                  created=created)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _direction(study: optuna.Study) -> str:
    return "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"


def _figure(width: float = 8.0, height: float = 4.2) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _optuna_png(draw: Callable[[], Any], width: float, height: float,
                log_y: bool = False) -> bytes:
    """The PNG of an ``optuna.visualization.matplotlib`` plot, drawn off-screen (Agg).

    Optuna draws on a pyplot figure and sets its ``ggplot`` style globally: the style is undone
    and the figure closed afterwards, so nothing leaks into the process.
    """
    import matplotlib

    matplotlib.use("Agg")  # never a window, and safe off the main thread
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib  # imported here: matplotlib is slow to import

    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fig = draw().figure
        try:
            fig.set_size_inches(width, height)
            if log_y:
                fig.axes[0].set_yscale("log")
            fig.tight_layout()
            return _png(fig)
        finally:
            plt.close(fig)


def _history(study: optuna.Study, trials: list[FrozenTrial], metric: str,
             direction: str) -> Section:
    title = "Optimization history"
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if not done:
        return Section(name="history", title=title, png=None, table="",
                       note="no finished trial yet")
    better = max if direction == "maximize" else min
    rows, values = [], []
    best: float | None = None
    for t in done:
        value = t.value if t.state is TrialState.COMPLETE else _last_intermediate(t)
        if t.state is TrialState.COMPLETE and value is not None and _finite(value):
            best = value if best is None else better(best, value)
            values.append(value)
        seconds = t.duration.total_seconds() if t.duration else None
        rows.append([t.number, t.state.name.lower(), _num(value), _num(best),
                     "" if seconds is None else f"{seconds:.1f}"])
    table = _table(["trial", "state", metric, "best so far", "seconds"], rows)
    if not values:
        return Section(name="history", title=title, png=None, table=table,
                       note="no completed trial yet (pruned trials: their last epoch's value)")
    png = _optuna_png(lambda: optuna.visualization.matplotlib.plot_optimization_history(
        study, target_name=f"validation {metric}"), 8.0, 4.2, log_y=_wide(values))
    return Section(name="history", title=title, png=png, table=table,
                   note="pruned trials are in the table with their last epoch's value")


def _wide(values: list[float]) -> bool:
    """Positive values spanning more than two orders of magnitude (drawn on a log axis)."""
    finite = [v for v in values if _finite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 100


def _last_intermediate(trial: FrozenTrial) -> float | None:
    if not trial.intermediate_values:
        return None
    return trial.intermediate_values[max(trial.intermediate_values)]


def _importances(study: optuna.Study, complete: list[FrozenTrial], metric: str,
                 found: dict[str, float]) -> Section:
    title = "Parameter importances"
    if len(complete) < 2:
        return Section(name="importances", title=title, png=None, table="",
                       note=f"needs at least 2 completed trials ({len(complete)} so far)")
    spread = statistics.pstdev(t.value for t in complete)
    if spread == 0:
        return Section(name="importances", title=title, png=None, table="",
                       note="every completed trial has the same value: nothing to attribute")
    fanova = optuna.importance.FanovaImportanceEvaluator
    scores = optuna.importance.get_param_importances(
        study, evaluator=fanova(seed=0), target=_rescaled(spread))
    if not scores:
        return Section(name="importances", title=title, png=None, table="",
                       note="no parameter was sampled in every completed trial")
    found.update(scores)
    png = _optuna_png(lambda: optuna.visualization.matplotlib.plot_param_importances(
        study, evaluator=_Computed(scores), target_name=f"validation {metric}"),
        8.0, max(2.5, 0.35 * len(scores) + 1.2))
    table = _table(["parameter", "importance"], [[n, f"{v:.3f}"] for n, v in scores.items()])
    return Section(name="importances", title=title, png=png, table=table,
                   note="fANOVA; parameters sampled in every completed trial only")


def _rescaled(spread: float) -> Callable[[FrozenTrial], float]:
    """A trial's value times the power of two that brings ``spread`` (the values' standard
    deviation) near 1.

    fANOVA's trees take a spread below ~1e-16 (an RMSE of a target in micrometres) for none
    at all; a power of two rescales exactly, so every other study's shares stay Optuna's own
    to the last bit."""
    factor = 2.0 ** -math.floor(math.log2(spread))
    return lambda trial: trial.value * factor


class _Computed(optuna.importance.BaseImportanceEvaluator):
    """Importances computed already, handed to Optuna's plot so that fANOVA runs once."""

    def __init__(self, importances: dict[str, float]) -> None:
        self.importances = importances

    def evaluate(self, study: optuna.Study, params: list[str] | None = None, *,
                 target: Callable[[FrozenTrial], float] | None = None) -> dict[str, float]:
        """The importances given (``study``, ``params`` and ``target`` are not read)."""
        return dict(self.importances)


def _parallel(study: optuna.Study, complete: list[FrozenTrial], metric: str,
              importances: dict[str, float]) -> Section:
    title = "Parallel coordinates"
    if not complete:
        return Section(name="parallel", title=title, png=None, table="",
                       note="no completed trial yet")
    counts: dict[str, int] = {}
    for t in complete:
        for name in t.params:
            counts[name] = counts.get(name, 0) + 1
    names = [n for n in importances if n in counts] or sorted(counts, key=lambda n: -counts[n])
    names = names[:MAX_PARALLEL_PARAMS]
    png = _optuna_png(lambda: optuna.visualization.matplotlib.plot_parallel_coordinate(
        study, params=names, target_name=f"validation {metric}"),
        max(8.0, 1.3 * (len(names) + 1)), 4.6)
    rows = [[t.number, _num(t.value), *(_num(t.params.get(n)) for n in names)]
            for t in sorted(complete, key=lambda t: t.number)]
    table = _table(["trial", metric, *names], rows)
    note = ("the most important parameters: by importance in the table, by name in the plot "
            "(Optuna's order)" if importances else "")
    return Section(name="parallel", title=title, png=png, table=table, note=note)


def _leaderboard(summary: StudyReport, metric: str) -> Section:
    title = "Leaderboard"
    board = summary.leaderboard
    if not board:
        return Section(name="leaderboard", title=title, png=None, table="",
                       note="no completed trial yet")
    rows = []
    for rank, row in enumerate(board, 1):
        p = row.params
        rows.append([rank, row.trial, _num(row.value), network_label(p), optimizer_label(p),
                     str(row.mlflow_run_id or "")])
    labels = [f"#{r[0]} trial {r[1]}: {r[3]}" for r in rows][::-1]
    values = [float(row.value) for row in board][::-1]
    fig = _figure(8.0, max(2.2, 0.45 * len(values) + 1.2))
    ax = fig.add_subplot()
    lo, hi = min(values), max(values)
    if _wide(values):  # e.g. log losses from 0.01 to 12: a log axis keeps the best apart
        ax.set_xscale("log")
        base, end = lo / 1.5, hi * 3
    else:
        pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.05
        base, end = lo - pad, hi + 2 * pad
    ax.barh(labels, [v - base for v in values], left=base, color="#2ca02c")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.4g}", va="center", fontsize=8)
    ax.set_xlim(base, end)
    ax.set_xlabel(f"validation {metric}" + (" (log scale)" if _wide(values) else ""))
    ax.set_title(f"Leaderboard (best {len(values)} trials)")
    ax.grid(axis="x", alpha=0.3)
    table = _table(["#", "trial", metric, "network", "optimizer", "MLflow run"], rows)
    return Section(name="leaderboard", title=title, png=_png(fig), table=table)


def _threshold(threshold: dict[str, Any]) -> Section:
    """The validation precision-recall curve with the chosen threshold's point."""
    curve = threshold.get("curve") or {}
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot()
    ax.plot(curve.get("recall", []), curve.get("precision", []), color="#1f77b4",
            label="final model, validation rows")
    ax.plot([threshold["recall"]], [threshold["precision"]], "o", color="#d62728",
            label=f"threshold {threshold['value']:.3g} ({threshold['metric']})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall curve of the positive class")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    table = _table(["threshold", "maximises", "value", "precision", "recall"],
                   [[_num(threshold["value"]), threshold["metric"], _num(threshold["score"]),
                     _num(threshold["precision"]), _num(threshold["recall"])]])
    note = ("predictions label a row positive when its probability is at least the threshold;"
            " `automl predict --threshold X` overrides it")
    if not threshold.get("feasible", True):
        note += "; no threshold met the constraint, the closest one is used"
    return Section(name="threshold", title="Decision threshold", png=_png(fig), table=table,
                   note=note)


def _columns(attrs: dict[str, Any]) -> Section:
    rows = [list(map(str, row)) for row in attrs.get("columns") or []]
    if not rows:
        return Section(name="columns", title="Columns", png=None, table="",
                       note="the study has no column table (not made by automl search)")
    schema = attrs.get("schema") or {}
    notes = [str(n) for n in schema.get("notes") or []] + [
        f"warning: {w}" for w in schema.get("warnings") or []] if isinstance(schema, dict) else []
    return Section(name="columns", title="Columns", png=None,
                   table=_table(["column", "kind", "action"], rows), note="; ".join(notes))


# ------------------------------------------------------------------------------------- HTML
_STYLE = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;height:auto;border:1px solid #eee}
.note{color:#666;font-size:.85em}.kv td:first-child{font-weight:600}
.row{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
details{margin:.4em 0}summary{cursor:pointer;color:#555;font-size:.9em}
""".strip()


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _table(header: list[str] | None, rows: list[list[Any]], css: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header or [])
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}>{thead}<tbody>{body}</tbody></table>"


def _img(section: Section) -> str:
    if section.png is None:
        return ""
    data = base64.b64encode(section.png).decode("ascii")
    return f'<img alt="{_esc(section.title)}" src="data:image/png;base64,{data}">'


def _section_body(section: Section, collapse_table: bool) -> str:
    parts = [_img(section)]
    if section.note:
        parts.append(f'<p class="note">{_esc(section.note)}</p>')
    if section.table:
        parts.append(f"<details><summary>the numbers</summary>{section.table}</details>"
                     if collapse_table and section.png is not None else section.table)
    return "\n".join(p for p in parts if p)


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _overview(report: Report) -> str:
    s = report.summary
    counts = ", ".join(f"{n} {state.lower()}" for state, n in s.trials.to_json().items()
                       if n) or "none"
    final = s.final_model or {}
    folds = bool(final.get("cross_validated")) or any(r.spread is not None
                                                      for r in s.leaderboard)
    rows = [["task", s.task], ["target", s.target], ["metric", f"{s.metric} ({s.direction})"],
            ["data", s.data_path], ["held out", s.held_out or "rows at random"],
            ["trials", f"{counts} (budget "
             f"{'until the time is up' if s.n_trials_budget is None else s.n_trials_budget})"],
            ["best", "" if s.best_value is None else
             f"{_num(s.best_value)} (trial {s.best_trial}, "
             f"{'the mean of its folds' if folds else 'validation'})"],
            ["final model", final and f"{final_model_text(final)}; "
                                      f"{'pooled out-of-fold' if folds else 'validation'} "
                                      f"{s.metric} {_num(final.get('val_score'))}"],
            ["MLflow", f"experiment {s.mlflow_experiment_id}, parent run "
                       f"{s.mlflow_parent_run_id}"]]
    boxes = [_table(None, [[k, v or ""] for k, v in rows], "kv")]
    test = s.test_metrics
    if test:
        boxes.append("<div><b>Test metrics</b> <span class=\"note\">(the final model on the "
                     "held-out test rows, which no selection step saw)</span>"
                     + _table(["metric", "test"], [[k, _num(v)] for k, v in test.items()])
                     + "</div>")
    if s.best_params:
        boxes.append("<div><details><summary>best trial's parameters</summary>"
                     + _table(["parameter", "value"],
                              [[k, _num(v)] for k, v in s.best_params.items()])
                     + "</details></div>")
    return '<div class="row">' + "\n".join(boxes) + "</div>"


_ORDER = ("leaderboard", "threshold", "history", "importances", "parallel", "columns")


def report_html(report: Report) -> str:
    """The whole report as one self-contained page (images as ``data:`` URIs, inline CSS)."""
    body = [f"<h1>Study {_esc(report.study_name)}</h1>",
            f'<p class="note">automl report, {_esc(report.created)}</p>', _overview(report)]
    for section in sorted(report.sections, key=lambda x: _ORDER.index(x.name)):
        body.append(f'<h2 id="{_esc(section.name)}">{_esc(section.title)}</h2>')
        body.append(_section_body(section, collapse_table=section.name != "leaderboard"))
    return _page(f"automl study {report.study_name}", "\n".join(body))


def section_html(report: Report, section: Section) -> str:
    """One section as its own self-contained page (the ``report/<name>.html`` artifacts)."""
    body = f"<h1>{_esc(section.title)}: study {_esc(report.study_name)}</h1>\n" + \
        _section_body(section, collapse_table=False)
    return _page(f"{section.title}: {report.study_name}", body)


def write_artifacts(report: Report, folder: Path) -> list[Path]:
    """Write ``<name>.png`` (drawn sections) and ``<name>.html`` per section, and
    ``report.html`` (the whole page) into ``folder``; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for section in report.sections:
        if section.png is not None:
            (folder / f"{section.name}.png").write_bytes(section.png)
            written.append(folder / f"{section.name}.png")
        (folder / f"{section.name}.html").write_text(section_html(report, section),
                                                     encoding="utf-8")
        written.append(folder / f"{section.name}.html")
    (folder / "report.html").write_text(report_html(report), encoding="utf-8")
    return [*written, folder / "report.html"]


# ----------------------------------------------------------------------------------- outputs
def log_report(study: optuna.Study, summary: StudyReport, tracker: Tracker,
               run_id: str) -> list[str]:
    """Log the report to MLflow run ``run_id`` under ``report/``; return the file names logged.

    Never raises for a report problem (a plot, a write, the upload): it is logged as a warning
    and the search goes on. A tracker that keeps no artifacts (``keeps_artifacts`` false) gets
    nothing, and nothing is drawn for it.
    """
    if not tracker.keeps_artifacts:
        return []
    try:
        report = build_report(study, summary)
        with temporary_dir() as tmp:
            files = write_artifacts(report, Path(tmp))
            tracker.log_dir(run_id, Path(tmp), REPORT_ARTIFACT)
        return [f.name for f in files]
    except Exception as exc:  # the report is a by-product: it never fails the search
        log.warning("study report not logged to run %s: %s: %s", run_id, type(exc).__name__,
                    exc)
        return []


def write_report(study: optuna.Study, summary: StudyReport, output: Path | str) -> Path:
    """Write the report of ``study`` as one self-contained HTML file at ``output``.

    Raises:
        ConfigError: ``output`` cannot be written (a directory, no such folder, no permission).
    """
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass a file name such as -o report.html")
    page = report_html(build_report(study, summary))
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({os_reason(exc)}); check -o") from None
    return path
