"""A study at a glance: plots and tables as MLflow artifacts and as one self-contained HTML page.

From an ``optuna.Study`` and its :func:`automl.study.describe` summary, :func:`build_report`
draws four sections (optimization history, parameter importances, parallel coordinates and the
leaderboard), each as a PNG (matplotlib, Agg, no pyplot state) with an HTML table of the numbers
behind it, plus the column table (the study's ``columns`` user attr). :func:`log_report` logs them
to the study's parent MLflow run under ``report/`` and never raises for a plot that cannot be
drawn; :func:`write_report` writes the page that ``automl report`` produces. The page embeds its
images as ``data:`` URIs and uses no external script, style sheet or font, so it opens offline.

This module sits below :mod:`automl.study` (which calls :func:`log_report` from
``finish_search``), so it takes the summary as data instead of importing ``study``.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from automl.errors import ConfigError
from automl.tracking import NullTracker, Tracker, temporary_dir

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
    """Everything a report shows: the summary (``describe()`` format) and its sections."""

    study_name: str
    summary: dict[str, Any]
    sections: tuple[Section, ...]
    created: str


# ---------------------------------------------------------------------------------- building
def build_report(study: optuna.Study, summary: dict[str, Any]) -> Report:
    """Draw every section of ``study``; a section that fails is kept with a note, never raised.

    ``summary`` is the study's :func:`automl.study.describe` dict (its leaderboard length is the
    number of leaderboard rows shown).
    """
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value)]
    direction = summary.get("direction") or _direction(study)
    metric = summary.get("metric") or "value"
    importances: dict[str, float] = {}
    builders: list[tuple[str, str, Callable[[], Section]]] = [
        ("history", "Optimization history",
         lambda: _history(trials, metric, direction)),
        ("importances", "Parameter importances",
         lambda: _importances(study, complete, importances)),
        ("parallel", "Parallel coordinates",
         lambda: _parallel(complete, metric, direction, importances)),
        ("leaderboard", "Leaderboard", lambda: _leaderboard(summary, metric)),
        ("columns", "Columns", lambda: _columns(study.user_attrs)),
    ]
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


def _history(trials: list[FrozenTrial], metric: str, direction: str) -> Section:
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if not done:
        return Section(name="history", title="Optimization history", png=None, table="",
                       note="no finished trial yet")
    better = max if direction == "maximize" else min
    rows, xs, ys, best_xs, best_ys, pruned_x, pruned_y = [], [], [], [], [], [], []
    best: float | None = None
    for t in done:
        value = t.value if t.state is TrialState.COMPLETE else _last_intermediate(t)
        if t.state is TrialState.COMPLETE and _finite(value):
            best = value if best is None else better(best, value)
            xs.append(t.number)
            ys.append(value)
        elif _finite(value):
            pruned_x.append(t.number)
            pruned_y.append(value)
        if best is not None:
            best_xs.append(t.number)
            best_ys.append(best)
        seconds = t.duration.total_seconds() if t.duration else None
        rows.append([t.number, t.state.name.lower(), _num(value), _num(best),
                     "" if seconds is None else f"{seconds:.1f}"])
    fig = _figure()
    ax = fig.add_subplot()
    if pruned_x:
        ax.scatter(pruned_x, pruned_y, marker="x", color="#999999",
                   label="pruned (last epoch's value)")
    ax.scatter(xs, ys, color="#1f77b4", label="complete", zorder=3)
    if best_xs:
        ax.step(best_xs, best_ys, where="post", color="#d62728", label=f"best ({direction})")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    if _wide(ys + pruned_y):
        ax.set_yscale("log")
        ax.set_ylabel(f"validation {metric} (log scale)")
    ax.set_title("Optimization history")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    table = _table(["trial", "state", metric, "best so far", "seconds"], rows)
    return Section(name="history", title="Optimization history", png=_png(fig), table=table)


def _wide(values: list[float]) -> bool:
    """Positive values spanning more than two orders of magnitude (drawn on a log axis)."""
    finite = [v for v in values if _finite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 100


def _last_intermediate(trial: FrozenTrial) -> float | None:
    if not trial.intermediate_values:
        return None
    return trial.intermediate_values[max(trial.intermediate_values)]


def _importances(study: optuna.Study, complete: list[FrozenTrial],
                 found: dict[str, float]) -> Section:
    title = "Parameter importances"
    if len(complete) < 2:
        return Section(name="importances", title=title, png=None, table="",
                       note=f"needs at least 2 completed trials ({len(complete)} so far)")
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    if not scores:
        return Section(name="importances", title=title, png=None, table="",
                       note="no parameter was sampled in every completed trial")
    found.update(scores)
    names = list(scores)[::-1]
    fig = _figure(8.0, max(2.5, 0.35 * len(names) + 1.2))
    ax = fig.add_subplot()
    ax.barh(names, [scores[n] for n in names], color="#1f77b4")
    ax.set_xlabel("importance (fANOVA, share of the metric's variance)")
    ax.set_title(f"Parameter importances ({len(complete)} completed trials)")
    ax.grid(axis="x", alpha=0.3)
    table = _table(["parameter", "importance"], [[n, f"{v:.3f}"] for n, v in scores.items()])
    return Section(name="importances", title=title, png=_png(fig), table=table,
                   note="parameters sampled in every completed trial only")


def _parallel(complete: list[FrozenTrial], metric: str, direction: str,
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
    dists = {n: next(t.distributions[n] for t in complete if n in t.distributions)
             for n in names}
    values = [float(t.value) for t in complete]  # type: ignore[arg-type]
    lo, hi = min(values), max(values)
    wide = _wide(values)  # a log axis and colour scale, so one outlier does not flatten the rest
    warp: Callable[[float], float] = math.log10 if wide else float
    fig = _figure(max(8.0, 1.3 * (len(names) + 1)), 4.6)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["viridis" if direction == "maximize" else "viridis_r"]
    order = sorted(complete, key=lambda t: t.value if direction == "maximize" else -t.value)
    for t in order:  # the best drawn last, on top
        shade = _scale(warp(t.value), warp(lo), warp(hi))  # type: ignore[arg-type]
        ys = [shade] + [_position(t.params.get(n), dists[n]) for n in names]
        ax.plot(range(len(ys)), ys, color=cmap(shade),
                alpha=0.8, linewidth=1.4, marker="o", markersize=3)
    labels = [metric, *names]
    for i, name in enumerate(labels):
        ax.axvline(i, color="#444444", linewidth=0.8)
        top, bottom = (_num(hi), _num(lo)) if i == 0 else _ends(dists[name])
        ax.text(i, 1.04, top, ha="center", va="bottom", fontsize=7)
        ax.text(i, -0.04, bottom, ha="center", va="top", fontsize=7)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    ax.set_xlim(-0.3, len(labels) - 0.7)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    scale = ScalarMappable((LogNorm if wide else Normalize)(lo, hi), cmap)  # best: yellow
    fig.colorbar(scale, ax=ax, label=f"validation {metric}", fraction=0.03, pad=0.01)
    ax.set_title(f"Parallel coordinates ({len(complete)} completed trials)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    rows = [[t.number, _num(t.value), *(_num(t.params.get(n)) for n in names)]
            for t in sorted(order, key=lambda t: t.number)]
    table = _table(["trial", metric, *names], rows)
    note = "parameters ordered by importance" if importances else ""
    return Section(name="parallel", title=title, png=_png(fig), table=table, note=note)


def _scale(value: float | None, lo: float, hi: float) -> float:
    if value is None or not math.isfinite(value):
        return math.nan
    return 0.5 if hi == lo else (value - lo) / (hi - lo)


def _position(value: Any, dist: Any) -> float:
    """Where ``value`` sits on its parameter's axis, 0..1 (``nan``: not sampled in the trial)."""
    if value is None:
        return math.nan
    if isinstance(dist, CategoricalDistribution):
        choices = list(dist.choices)
        return 0.5 if len(choices) < 2 else choices.index(value) / (len(choices) - 1)
    if isinstance(dist, FloatDistribution | IntDistribution):
        lo, hi, v = float(dist.low), float(dist.high), float(value)
        if dist.log and lo > 0:
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        return _scale(v, lo, hi)
    return math.nan


def _ends(dist: Any) -> tuple[str, str]:
    if isinstance(dist, CategoricalDistribution):
        choices = [str(c) for c in dist.choices]
        return choices[-1], choices[0]
    return _num(dist.high), _num(dist.low)


def _leaderboard(summary: dict[str, Any], metric: str) -> Section:
    title = "Leaderboard"
    board = summary.get("leaderboard") or []
    if not board:
        return Section(name="leaderboard", title=title, png=None, table="",
                       note="no completed trial yet")
    rows = []
    for rank, row in enumerate(board, 1):
        p = row.get("params") or {}
        rows.append([rank, row["trial"], _num(row["value"]), _network(p), _optimizer(p),
                     str(row.get("mlflow_run_id") or "")])
    labels = [f"#{r[0]} trial {r[1]}: {r[3]}" for r in rows][::-1]
    values = [float(row["value"]) for row in board][::-1]
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


def _network(p: dict[str, Any]) -> str:
    if "arch" not in p:
        return ""
    text = f"{p.get('arch')} {p.get('n_blocks')}x{p.get('d_block')}"
    return text + (" periodic" if p.get("embedding") == "periodic" else "")


def _optimizer(p: dict[str, Any]) -> str:
    if "optimizer" not in p:
        return ""
    return f"{p.get('optimizer')} lr={_num(p.get('lr'))} bs={p.get('batch_size')}"


def _columns(attrs: dict[str, Any]) -> Section:
    rows = [list(map(str, row)) for row in attrs.get("columns") or []]
    if not rows:
        return Section(name="columns", title="Columns", png=None, table="",
                       note="the study has no column table (not made by automl search)")
    schema = attrs.get("schema") or {}
    notes = [str(n) for n in schema.get("notes") or []] if isinstance(schema, dict) else []
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
    counts = ", ".join(f"{n} {state.lower()}" for state, n in (s.get("trials") or {}).items()
                       if n) or "none"
    rows = [["task", s.get("task")], ["target", s.get("target")],
            ["metric", f"{s.get('metric')} ({s.get('direction')})"],
            ["data", s.get("data_path")],
            ["trials", f"{counts} (budget {s.get('n_trials_budget')})"],
            ["best", "" if s.get("best_value") is None else
             f"{_num(s['best_value'])} (trial {s.get('best_trial')}, validation)"],
            ["MLflow", f"experiment {s.get('mlflow_experiment_id')}, parent run "
                       f"{s.get('mlflow_parent_run_id')}"]]
    boxes = [_table(None, [[k, "" if v is None else v] for k, v in rows], "kv")]
    test = s.get("test_metrics") or {}
    if test:
        boxes.append("<div><b>Test metrics</b> <span class=\"note\">(the best trial's model on "
                     "the held-out test split)</span>"
                     + _table(["metric", "test"], [[k, _num(v)] for k, v in test.items()])
                     + "</div>")
    if s.get("best_params"):
        boxes.append("<div><details><summary>best trial's parameters</summary>"
                     + _table(["parameter", "value"],
                              [[k, _num(v)] for k, v in s["best_params"].items()])
                     + "</details></div>")
    return '<div class="row">' + "\n".join(boxes) + "</div>"


_ORDER = ("leaderboard", "history", "importances", "parallel", "columns")


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
def log_report(study: optuna.Study, summary: dict[str, Any], tracker: Tracker,
               run_id: str) -> list[str]:
    """Log the report to MLflow run ``run_id`` under ``report/``; return the file names logged.

    Never raises for a report problem (a plot, a write, the upload): it is logged as a warning
    and the search goes on. A :class:`~automl.tracking.NullTracker` records nothing, so nothing
    is drawn for it.
    """
    if isinstance(tracker, NullTracker):
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


def write_report(study: optuna.Study, summary: dict[str, Any], output: Path | str) -> Path:
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
        raise ConfigError(f"cannot write {path} ({exc.strerror}); check -o") from None
    return path
