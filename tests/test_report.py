"""The study report (issue 6): artifacts on the parent run, `automl report`, and the MLflow UI seen
by a real headless Chromium.

Every test uses real Optuna and MLflow SQLite stores; the browser test starts `automl ui` and
Debian's `chromium` (installed by `make test`; the test skips without it unless CI=true).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from cli_helpers import cli, one_error_line
from conftest import SharedStudy
from mlflow.tracking import MlflowClient

import automl.report
from automl.config import SearchConfig, TrainConfig
from automl.plan import prepare_search
from automl.queries import describe
from automl.records import final_model_text
from automl.report import build_report, log_report, report_html
from automl.session import run_search
from automl.storage import load_study
from automl.tracking import MlflowTracker

REPORT_FILES = {"columns.html", "history.html", "history.png", "importances.html",
                "importances.png", "leaderboard.html", "leaderboard.png", "parallel.html",
                "parallel.png", "report.html", "threshold.html", "threshold.png"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Finished:
    cfg: SearchConfig
    tmp: Path

    @property
    def stores(self) -> list[str]:
        return ["--storage", self.cfg.storage_url, "--tracking-uri", self.cfg.tracking_uri]

    @property
    def study(self) -> optuna.Study:
        return load_study(self.cfg.storage_url, self.cfg.study_name)


def _search(tmp: Path, migrated_db: Path, name: str) -> Finished:
    """A finished binary study: 2 trials, 3 epochs, on a 120-row CSV with a categorical."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=120), rng.normal(size=120)
    frame = pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4),
                          "color": rng.choice(["red", "green", "blue"], size=120),
                          "y": np.where(x1 + 0.5 * x2 > 0, "yes", "no")})
    frame.to_csv(tmp / "data.csv", index=False)
    (tmp / "mlruns").mkdir()
    shutil.copy(migrated_db, tmp / "mlruns" / "mlflow.db")
    cfg = SearchConfig(csv_path=tmp / "data.csv", target="y", study_name=name, n_trials=2,
                       storage_url=f"sqlite:///{tmp}/studies/optuna.db",
                       tracking_uri=f"sqlite:///{tmp}/mlruns/mlflow.db", threads=1,
                       n_startup_trials=2, n_warmup_epochs=1, test_fraction=0.15,
                       train=TrainConfig(max_epochs=3, patience=2, device="cpu"))
    run_search(prepare_search(cfg))
    return Finished(cfg=cfg, tmp=tmp)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory,
             shared_study: Callable[..., SharedStudy]) -> Finished:
    """The session's finished binary study with a test split (what ``_search`` makes, read
    only here); files are written to a folder of this module."""
    return Finished(cfg=shared_study("binary", test_fraction=0.15).cfg,
                    tmp=tmp_path_factory.mktemp("report"))


class _Resources(HTMLParser):
    """Every tag name and every URL-carrying attribute value of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "data")]


# --------------------------------------------------------------------------- fast: artifacts
def test_a_search_logs_the_report_to_the_parent_run(finished: Finished) -> None:
    summary = describe(finished.study, top=10).to_json()
    client = MlflowClient(tracking_uri=finished.cfg.tracking_uri)
    parent = summary["mlflow_parent_run_id"]
    assert client.get_run(parent).info.status == "FINISHED"
    names = {Path(a.path).name for a in client.list_artifacts(parent, "report")}
    assert names == REPORT_FILES
    folder = Path(client.download_artifacts(parent, "report", str(finished.tmp / "dl")))
    for png in folder.glob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC), png
    leaderboard = (folder / "leaderboard.html").read_text()
    assert summary["leaderboard"], "the tiny study has completed trials"
    for row in summary["leaderboard"]:
        assert row["mlflow_run_id"] in leaderboard
    columns = (folder / "columns.html").read_text()
    for column, kind, _ in finished.study.user_attrs["columns"]:
        assert f"<td>{column}</td><td>{kind}</td>" in columns


# ------------------------------------------------------------------------ fast: automl report
def test_automl_report_writes_one_self_contained_page(finished: Finished) -> None:
    out = finished.tmp / "report.html"
    code, _, stderr = cli("report", finished.cfg.study_name, "-o", str(out),
                          "--storage", finished.cfg.storage_url)
    assert code == 0, stderr
    assert f"written to {out}" in stderr
    page = out.read_text(encoding="utf-8")

    parsed = _Resources()
    parsed.feed(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parsed.tags)
    assert not re.search(r"url\(|@import", page)
    assert all(not re.match(r"\s*(https?:)?//", url, re.I) for url in parsed.urls)
    images = [u for u in parsed.urls if u.startswith("data:")]
    assert len(images) == 5  # history, importances, parallel, leaderboard, threshold (binary)
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1]).startswith(PNG_MAGIC)

    summary = describe(finished.study, top=10).to_json()
    for rank, row in enumerate(summary["leaderboard"], 1):
        assert f"<tr><td>{rank}</td><td>{row['trial']}</td>" in page
    for column in ("x1", "x2", "color"):
        assert f"<td>{column}</td>" in page
    counts = summary["trials"]
    assert f"{counts['COMPLETE']} complete" in page
    assert summary["test_metrics"]
    for name in summary["test_metrics"]:
        assert f"<td>{name}</td>" in page
    # the test scores are the final model's, which the page names (it said "the best trial's")
    final = summary["final_model"]
    assert "the final model on the held-out test rows, which no selection step saw" in page
    assert f"<td>final model</td><td>{final_model_text(final)}; " in page


def test_automl_report_refusals_exit_2_with_one_line(finished: Finished) -> None:
    storage = ["--storage", finished.cfg.storage_url]
    code, _, stderr = cli("report", "no-such-study", "-o", str(finished.tmp / "x.html"),
                          *storage)
    assert code == 2
    assert "no study named 'no-such-study'" in one_error_line(stderr)
    code, _, stderr = cli("report", finished.cfg.study_name, "-o",
                          str(finished.tmp / "missing" / "x.html"), *storage)
    assert code == 2
    assert "check -o" in one_error_line(stderr)
    code, _, stderr = cli("report", finished.cfg.study_name, "-o", str(finished.tmp), *storage)
    assert code == 2
    assert f"is a directory; pass a file name in it (-o {finished.tmp / 'report.html'})" in \
        one_error_line(stderr)


def test_a_section_that_cannot_be_drawn_is_noted_and_never_raised(tmp_tracking_uri: str) -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 0.01}, distributions={"lr": optuna.distributions.FloatDistribution(
            1e-5, 1e-1, log=True)}, value=0.7))
    study.set_user_attr("columns", 5)  # not a table: drawing the column section fails
    report = build_report(study, describe(study))
    notes = {s.name: s.note for s in report.sections}
    assert notes["importances"] == "needs at least 2 completed trials (1 so far)"
    assert notes["columns"].startswith("not drawn (TypeError")
    assert {s.name for s in report.sections if s.png} == {"history", "parallel", "leaderboard"}
    assert "needs at least 2 completed trials" in report_html(report)

    tracker = MlflowTracker(tmp_tracking_uri, "broken-columns")
    run_id = tracker.start_study("broken", parent_run_id=None, tags={}, params={})
    logged = log_report(study, describe(study), tracker, run_id)
    assert "report.html" in logged and "importances.png" not in logged
    names = {Path(a.path).name for a in tracker.client.list_artifacts(run_id, "report")}
    assert names == set(logged)
    # an empty study still gives a page
    assert "no finished trial yet" in report_html(build_report(
        optuna.create_study(), describe(optuna.create_study())))


# ------------------------------------------------------------------ slow: the MLflow UI seen
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def chromium_path() -> str:
    """Debian's chromium, or skip (fail under CI=true, where `make test` installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (make test installs Debian's `chromium` when root)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def chromium(binary: str, profile: Path, url: str, *args: str, timeout: float = 40) -> str:
    """Run headless Chromium once on ``url``; its stdout. Killed with its group on timeout."""
    process = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--virtual-time-budget=15000", *args, url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        stdout, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return stdout


def page_text(dom: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ui(tmp_path: Path, _migrated_mlflow_db: Path) -> Iterator[tuple[Finished, str, str]]:
    """`automl ui` on a finished tiny study; yields it, the URL printed and the chromium binary.

    The UI's process group (and the server's) is always killed.
    """
    binary = chromium_path()  # skip before any work when there is no browser
    done = _search(tmp_path, _migrated_mlflow_db, "ui-study")
    port = _free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "automl", "ui", done.cfg.study_name, "--port", str(port),
             *done.stores], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "#/experiments/" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        url = re.search(r"http://\S+#/experiments/\d+", log.read_text())
        assert url, log.read_text()
        while time.monotonic() < deadline:  # the server answers
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        else:
            pytest.fail(f"the MLflow UI did not answer within 60 s:\n{log.read_text()}")
        yield done, url.group(0), binary
    finally:
        servers = _children(process.pid)  # `mlflow ui` runs in a process group of its own
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        for pid in servers:  # left behind only if `automl ui` itself had to be killed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.slow
def test_the_mlflow_ui_in_headless_chromium_shows_the_study_and_its_trial_runs(
        ui: tuple[Finished, str, str], tmp_path: Path) -> None:
    done, url, binary = ui
    experiment = url.rsplit("/", 1)[1]
    profile = tmp_path / "chromium-profile"

    # the page `automl ui` prints: the study's experiment, rendered by the MLflow app
    shot = tmp_path / "ui.png"
    chromium(binary, profile, url, f"--screenshot={shot}", "--window-size=1400,900")
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 20_000
    text = page_text(chromium(binary, profile, url, "--dump-dom"))
    assert f"Experiment {experiment}" in text and done.cfg.study_name in text, text[:2000]

    # its runs table: the parent run (its children nested, collapsed) and every run counted
    client = MlflowClient(tracking_uri=done.cfg.tracking_uri)
    n_runs = len(client.search_runs([experiment]))
    text = page_text(chromium(binary, profile, f"{url}/runs", "--dump-dom"))
    assert done.cfg.study_name in text and f"{n_runs} matching runs" in text, text[:2000]

    # the child runs by name, in MLflow's comparison view of the trial runs
    trials = client.search_runs([experiment], "tags.`automl.role` = 'trial'")
    ids = urllib.parse.quote(json.dumps([r.info.run_id for r in trials]))
    compare = url.split("#")[0] + f"#/compare-runs?runs={ids}&experiments=" + \
        urllib.parse.quote(json.dumps([experiment]))
    shot = tmp_path / "compare.png"
    chromium(binary, profile, compare, f"--screenshot={shot}", "--window-size=1400,1000")
    assert shot.read_bytes().startswith(PNG_MAGIC)
    text = page_text(chromium(binary, profile, compare, "--dump-dom"))
    assert "Comparing 2 Runs" in text, text[:2000]
    assert "trial-0000" in text and "trial-0001" in text, text[:2000]


def test_optuna_plots_leave_no_figure_style_or_warning_behind() -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True)
                   + t.suggest_int("depth", 1, 4), n_trials=6)
    backend = ("backend", "backend_fallback")  # Agg is chosen on purpose, once a process
    style = {k: v for k, v in matplotlib.rcParams.items() if k not in backend}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ExperimentalWarning would raise here
        report = build_report(study, describe(study))
    pngs = {s.name: s.png for s in report.sections}
    for name in ("history", "importances", "parallel"):
        assert (pngs[name] or b"").startswith(PNG_MAGIC), name
    assert matplotlib.get_backend().lower() == "agg"
    assert plt.get_fignums() == []
    assert {k: v for k, v in matplotlib.rcParams.items() if k not in backend} == style


def test_fanova_runs_once_and_the_importances_plot_is_the_one_optuna_draws_with_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True)
                   + t.suggest_int("depth", 1, 4), n_trials=6)
    fanova = optuna.importance.FanovaImportanceEvaluator
    evaluate, calls = fanova.evaluate, []
    monkeypatch.setattr(fanova, "evaluate",
                        lambda self, *args, **kwargs: calls.append(1) or evaluate(self, *args,
                                                                                  **kwargs))
    [importances] = [s for s in build_report(study, describe(study)).sections
                     if s.name == "importances"]
    assert len(calls) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = automl.report._optuna_png(
            lambda: optuna.visualization.matplotlib.plot_param_importances(
                study, evaluator=fanova(seed=0), target_name="validation value"), 8.0, 2.5)
    assert importances.png == own


@pytest.mark.parametrize("scale", [2.0 ** -30, 2.0 ** 30])
def test_importances_do_not_depend_on_the_metric_s_units(scale: float) -> None:
    """An RMSE of a target in micrometres (values near 1e-9) had fANOVA see no spread at all
    ("zero total variance"); the shares must be those of the same study in plain units (a
    power of two apart, so that the values differ by their scale only)."""
    def study_of(factor: float) -> optuna.Study:
        study = optuna.create_study(direction="minimize",
                                    sampler=optuna.samplers.RandomSampler(0))
        study.optimize(lambda t: factor * (t.suggest_float("lr", 1e-4, 1.0, log=True)
                                           + t.suggest_int("depth", 1, 4)), n_trials=8)
        return study

    def shares(study: optuna.Study) -> dict[str, float]:
        [section] = [s for s in build_report(study, describe(study)).sections
                     if s.name == "importances"]
        assert section.png, section.note
        found: dict[str, float] = {}
        automl.report._importances(study, study.trials, "rmse", found)
        return found

    assert shares(study_of(scale)) == shares(study_of(1.0))


def test_importances_of_trials_that_all_score_the_same_are_noted() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True) * 0 + 1.0, n_trials=4)
    notes = {s.name: s.note for s in build_report(study, describe(study)).sections}
    assert notes["importances"] == "every completed trial has the same value: nothing to attribute"
