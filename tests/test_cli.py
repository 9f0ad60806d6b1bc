"""The ``automl`` command line through typer's CliRunner, on real (temporary) stores.

User errors must end with exit code 2 and exactly one ``error: ...`` line on stderr (no
traceback), and a refused command must leave no study database or MLflow run behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import Result
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from automl.cli import app

COMMANDS = ("search", "resume", "show", "studies")
REPORT_KEYS = {"study", "task", "metric", "direction", "best_value", "best_params",
               "best_trial", "trials", "mlflow_experiment_id", "mlflow_parent_run_id",
               "leaderboard"}
STATES = {"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke ``automl``: from an empty working folder, ignoring the user's store variables."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    runner = CliRunner(env={"AUTOML_STORAGE": None, "MLFLOW_TRACKING_URI": None})

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def stores(tmp_storage_url: str, tmp_tracking_uri: str) -> list[str]:
    return ["--storage", tmp_storage_url, "--tracking-uri", tmp_tracking_uri]


FAST = ["--n-trials", "2", "--max-epochs", "3", "--patience", "2", "--threads", "1",
        "--device", "cpu"]


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------- help
def test_help_lists_the_commands(cli: Callable[..., Result]) -> None:
    result = _ok(cli("--help"))
    for command in COMMANDS:
        assert command in result.stdout


def test_no_arguments_shows_the_help(cli: Callable[..., Result]) -> None:
    result = cli()
    assert "Usage" in result.output and "search" in result.output


@pytest.mark.parametrize("command", ["--help", "search --help", "show --help"])
def test_help_answers_without_loading_the_libraries(command: str) -> None:
    """Help is instant: PyTorch, scikit-learn, Optuna and MLflow (2-3 s to import) are loaded
    by the commands that use them, not to print a usage."""
    heavy = {"torch", "sklearn", "optuna", "mlflow", "pandas"}
    script = (f"import sys; sys.argv = ['automl', *{command.split()!r}]\n"
              "from automl.cli import app\n"
              "try:\n    app()\nexcept SystemExit as end:\n    assert end.code == 0, end.code\n"
              f"print(sorted({heavy!r} & set(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert "Usage" in run.stdout and run.stdout.strip().endswith("[]"), run.stdout


def test_reading_studies_does_not_load_pytorch(tmp_path: Path) -> None:
    """``show`` and ``studies`` read the study's records (``automl.records``), not the
    library that trains: they answer in under a second."""
    storage = f"sqlite:///{tmp_path}/studies.db"
    optuna.create_study(study_name="s", storage=storage)
    script = ("import sys\nfrom automl.cli import app\n"
              "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print('torch' in sys.modules, 'sklearn' in sys.modules)")
    for args in (["studies", "--storage", storage],
                 ["show", "s", "--storage", storage]):
        run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                             text=True, check=True, cwd=tmp_path)
        assert run.stdout.strip().endswith("False False"), run.stdout + run.stderr


def test_studies_never_cut_a_study_name_or_its_best_value(cli: Callable[..., Result],
                                                           tmp_path: Path) -> None:
    """The name is what a user copies into the next command; 80 columns must not cut it, nor
    the task, metric and trial counts beside it (``regres…``, ``comple…``)."""
    storage = f"sqlite:///{tmp_path}/studies.db"
    name = "house_prices_with_every_column_2026"
    study = optuna.create_study(study_name=name, storage=storage)
    study.set_user_attr("task", "regression")
    study.set_user_attr("metric", "rmse")
    study.enqueue_trial({})
    study.optimize(lambda _: 1132836175.2, n_trials=1)

    out = _ok(cli("studies", "--storage", storage)).stdout
    assert name in out and "1.133e+09" in out
    assert "regression" in out and "1 complete" in out and "…" not in out
    ended = study.trials[0].datetime_complete
    assert "last trial" in out.splitlines()[0] and f"{ended:%Y-%m-%d %H:%M}" in out


def test_show_refuses_a_top_below_one(cli: Callable[..., Result], tmp_path: Path) -> None:
    """``--top -2`` sliced the leaderboard from the end: every row but the last two."""
    storage = f"sqlite:///{tmp_path}/studies.db"
    optuna.create_study(study_name="s", storage=storage)
    result = cli("show", "s", "--top", "-2", "--storage", storage)
    assert result.exit_code == 2 and "--top" in result.output


# -------------------------------------------------------------------------------------- search
@pytest.mark.parametrize(("value", "text"), [(0.93125, "0.9313"), (54.2345, "54.2345"),
                                           (1132836175.2, "1.133e+09"), (-25000.0, "-25,000"),
                                           (43581.4, "43,581"), (5980.1022, "5,980.1"),
                                           (527.9123, "527.9"),
                                           (1.472e-08, "1.472e-08"), (0.0, "0.0000"),
                                           (0.00042, "0.00042")])
def test_scores_keep_their_magnitude_in_the_leaderboard(value: float, text: str) -> None:
    """A price's RMSE is shown as 1.133e+09, not as ten digits that the column cuts, and a
    tiny one as 1.472e-08, not as 0.0000."""
    from automl.cli.render import score_text

    assert score_text(value) == text


def test_the_leaderboard_fits_80_columns_and_cuts_no_word(cli: Callable[..., Result],
                                                         tmp_path: Path) -> None:
    """``resnet 4x268 periodic_lite`` was shown as ``periodic_li…``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    storage = f"sqlite:///{tmp_path}/studies.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr("metric", "roc_auc")
    params = {"arch": "resnet", "n_blocks": 4, "d_block": 268, "embedding": "periodic_lite",
              "optimizer": "rmsprop", "lr": 3.7e-4, "batch_size": 512}
    study.add_trial(optuna.trial.create_trial(
        params=params, value=0.98921, user_attrs={"fold_scores": [0.98, 0.99],
                                                  "mlflow_run_id": "39bf2767ea9e" * 2},
        distributions={k: FloatDistribution(1e-5, 1.0) if k == "lr" else
                       CategoricalDistribution([v]) for k, v in params.items()}))
    out = _ok(cli("show", "s", "--storage", storage)).stdout
    assert "periodic_lite" in out and "lr=3.7e-04" in out and "0.9892 ±" in out
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize(("share", "text"), [(0.125, "12.5%"), (5 / 20640, "<0.1%"),
                                           (0.0, "0.0%"), (0.002, "0.2%")])
def test_a_rare_class_share_is_not_written_as_none(share: float, text: str) -> None:
    """California's 'ISLAND', 5 rows of 20,640, read "(0.0%)"."""
    from automl.cli.render import percent

    assert percent(share) == text


@pytest.mark.parametrize(("spread", "value", "text"), [(0.000996, 0.9982, "0.0010"),
                                                      (0.0, 0.9982, "0.0000"),
                                                      (3.6e-09, 1.772e-08, "3.6e-09"),
                                                      (61400000.0, 2.649e+08, "6.14e+07"),
                                                      (1234.5, 43581.4, "1,234")])
def test_a_spread_is_written_like_its_score(spread: float, value: float, text: str) -> None:
    """``0.9982 ± 0.0010``, not ``0.9982 ± 0.000996``."""
    from automl.cli.render import score_text

    assert score_text(spread, scale=value) == text


def test_search_prints_the_leaderboard_and_how_to_open_mlflow(
        cli: Callable[..., Result], make_csv: Callable[..., Path], stores: list[str],
        tmp_tracking_uri: str) -> None:
    result = _ok(cli("search", make_csv(), "--study", "demo", *FAST, *stores))

    out = result.stdout
    assert "study 'demo'" in out  # the leaderboard's title
    assert "roc_auc" in out and "MLflow run" in out
    assert "2 trials run" in out
    assert f"mlflow ui --backend-store-uri {tmp_tracking_uri}" in out
    assert "Traceback" not in result.output
    client = MlflowClient(tmp_tracking_uri)
    experiment = client.get_experiment_by_name("demo")
    assert experiment is not None
    assert len(client.search_runs([experiment.experiment_id])) == 4  # parent, 2 trials, final
    assert not list((Path.cwd()).iterdir())  # the default stores were not touched


def test_show_gives_the_final_models_test_scores_as_the_search_did(
        cli: Callable[..., Result], make_csv: Callable[..., Path], stores: list[str],
        tmp_storage_url: str) -> None:
    searched = _ok(cli("search", make_csv(n_rows=400), "--study", "tested", "--folds", "1",
                       *FAST, *stores)).stdout
    shown = _ok(cli("show", "tested", "--storage", tmp_storage_url)).stdout
    [line] = [line for line in searched.splitlines() if line.startswith("final model on the")]
    assert line.startswith("final model on the 60 held-out test rows, which no selection step "
                           "saw: roc_auc ")
    assert line in shown.splitlines()


def test_show_studies_and_resume(cli: Callable[..., Result], make_csv: Callable[..., Path],
                                 stores: list[str], tmp_storage_url: str,
                                 tmp_tracking_uri: str) -> None:
    csv = make_csv()
    _ok(cli("search", csv, "--study", "demo", *FAST[:1], "1", *FAST[2:], *stores))
    # Resume needs only the study and its storage: the data, settings and MLflow store are
    # the stored ones.
    resumed = _ok(cli("resume", "demo", "--n-trials", "2", "--storage", tmp_storage_url))
    assert "1 trial run" in resumed.stdout
    assert f"--backend-store-uri {tmp_tracking_uri}" in resumed.stdout

    report = json.loads(_ok(cli("show", "demo", "--json", "--storage", tmp_storage_url)).stdout)
    assert set(report) >= REPORT_KEYS
    assert (report["study"], report["task"], report["metric"]) == ("demo", "binary", "roc_auc")
    assert set(report["trials"]) == STATES
    assert report["trials"]["COMPLETE"] + report["trials"]["PRUNED"] == 2
    assert all(set(row) == {"trial", "value", "spread", "rows", "params",
                              "mlflow_run_id"}
               for row in report["leaderboard"])
    runs = MlflowClient(tmp_tracking_uri).search_runs(
        [report["mlflow_experiment_id"]],
        f"tags.`mlflow.parentRunId` = '{report['mlflow_parent_run_id']}' "
        "and tags.`automl.role` = 'trial'")
    assert len(runs) == 2

    rows = json.loads(_ok(cli("studies", "--json", "--storage", tmp_storage_url)).stdout)
    assert [row["study"] for row in rows] == ["demo"]
    assert {"study", "task", "metric", "direction", "best_value", "best_trial",
            "trials", "last_trial"} <= set(rows[0])
    assert rows[0]["best_value"] == report["best_value"]
    last = optuna.load_study(study_name="demo", storage=tmp_storage_url).trials[-1]
    assert rows[0]["last_trial"] == report["last_trial"] == (
        last.datetime_complete.isoformat(timespec="seconds"))  # type: ignore[union-attr]

    table = _ok(cli("show", "demo", "--storage", tmp_storage_url)).stdout
    assert "study 'demo'" in table and "metric roc_auc (maximize)" in table
    summary = " ".join(resumed.stdout.split()).split("final model: ")[1].split(" decision")[0]
    assert f"final model (what predict uses): {summary}" in " ".join(table.split())
    assert "pooled out-of-fold roc_auc" in summary  # what it is and its score, as the search said

    unknown = cli("show", "demmo", "--storage", tmp_storage_url)
    _assert_one_line_error(unknown, "'demmo'", "studies: demo")

    # --n-trials is a total: 1 after 2 finished runs nothing, and the summary says so
    again = _ok(cli("resume", "demo", "--n-trials", "1", "--storage", tmp_storage_url)).stdout
    assert "0 trials run" in again
    assert "nothing left to run: the study's 2 finished trials reach its budget of 1, a total " \
           "(not more trials); `automl resume demo --n-trials 12` runs 10 more" in \
           " ".join(again.split())


def test_a_search_whose_trials_all_stopped_early_says_how_to_get_a_model(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every trial pruned or cut by the time limit: the summary says there is no model yet and
    how to give the search more time, instead of an empty leaderboard alone."""
    from automl.cli.render import render_summary
    from automl.queries import describe
    from automl.session import FinalStep, SearchSummary

    study = optuna.create_study(study_name="short")
    trial = study.ask()
    trial.report(0.6, 0)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    render_summary(SearchSummary(study_name="short", report=describe(study), n_run_here=1,
                                  elapsed_s=3.0, final_step=FinalStep.HERE))

    out = " ".join(capsys.readouterr().out.split())
    assert "1 pruned" in out and "no model yet" in out
    assert "automl resume short --timeout SECONDS" in out


def test_an_ensembles_score_is_shown_beside_its_best_trials_on_the_same_rows() -> None:
    """The leaderboard shows each trial's mean of fold scores, the final line the ensemble's
    pooled out-of-fold score (0.8442 beside a best trial of 0.7929 ± 0.0960 looked like a
    jump): the best trial's own pooled score is now beside it, named by its number even when
    the ensemble leaves it out (it was named by the ensemble's first member's)."""
    from automl.cli.common import out
    from automl.cli.render import _render_final

    final = {"kind": "ensemble", "trials": [3, 1], "weights": [0.5, 0.5], "val_score": 0.8442,
             "best_trial": 3, "best_trial_score": 0.8301, "cross_validated": True}
    with out.capture() as captured:
        _render_final(final, "roc_auc", 0)
        _render_final({**final, "best_trial": 7}, "roc_auc", 0)
        _render_final({**final, "kind": "bag", "trials": [3], "weights": [1.0]}, "roc_auc", 0)
    lines = [line for line in captured.get().splitlines() if line.startswith("final model")]
    assert lines == [
        "final model: an ensemble of trials 3, 1 (each the average of its fold networks); "
        "pooled out-of-fold roc_auc 0.8442 (best trial 3 alone: 0.8301)",
        "final model: an ensemble of trials 3, 1 (each the average of its fold networks); "
        "pooled out-of-fold roc_auc 0.8442 (best trial 7 alone: 0.8301)",
        "final model: trial 3 (the average of its fold networks); "
        "pooled out-of-fold roc_auc 0.8442"]


def test_columns_chosen_by_the_user_are_learned_kept_and_not_asked_for(
        cli: Callable[..., Result], tmp_path: Path, stores: list[str], tmp_storage_url: str,
        tmp_tracking_uri: str) -> None:
    """``--numeric`` keeps a count in row order that the rules drop as a row number (and the
    model learns it), ``--drop`` leaves out a leak that new data does not have, and
    ``--categorical`` reads codes as levels, ``--text`` a column of repeated titles as their
    words; resume keeps the choices, a search that changes them on the same study is
    refused."""
    rng = np.random.default_rng(0)
    n = 200
    week = np.arange(n)
    frame = pd.DataFrame({"week": week, "store": rng.choice([101, 205, 307], n),
                          "noise": rng.normal(size=n).round(3),
                          "manager": rng.choice(["Senior Sales Lead", "Sales Lead"], n)})
    frame["sales"] = (3 * week + 40 * (frame["store"] == 205) + rng.normal(size=n)).round(2)
    frame["leak"] = frame["sales"] + 1
    frame.to_csv(tmp_path / "sales.csv", index=False)
    choices = ["--numeric", "week", "--categorical", "store", "--text", "manager",
               "--drop", "leak"]
    found = _ok(cli("search", tmp_path / "sales.csv", "--target", "sales", "--study", "sales",
                    "--families", "linear", "--n-trials", "1", "--max-epochs", "60",
                    "--patience", "16", *choices, *stores)).stdout
    columns = {name: (kind, action) for name, kind, action in optuna.load_study(
        study_name="sales", storage=tmp_storage_url).user_attrs["columns"]}
    assert columns["week"] == ("numeric", "quantile → normal, or robust-scaled; chosen: --numeric")
    assert columns["store"] == ("categorical", "one-hot (3 levels); chosen: --categorical")
    assert columns["leak"] == ("ignored", "dropped: --drop")
    assert columns["manager"] == ("text", "1 word in 2% of the rows or more, each 0/1: senior; "
                                          "chosen: --text")
    rmse = float(found.split("out-of-fold rmse ")[1].split()[0])
    assert rmse < 0.1 * frame["sales"].std(), found  # the week explains the sales

    new = frame.drop(columns=["sales", "leak"]).assign(store=lambda d: d.store.astype(float))
    new.loc[0, "noise"] = np.nan  # the file reads `store` as 101.0, 205.0: still its levels
    new.to_csv(tmp_path / "new.csv", index=False)
    _ok(cli("predict", "sales", tmp_path / "new.csv", "-o", tmp_path / "out.csv",
            "--storage", tmp_storage_url))
    predicted = pd.read_csv(tmp_path / "out.csv")["prediction"]
    assert np.sqrt(np.mean((predicted - frame["sales"]) ** 2)) < 0.1 * frame["sales"].std()

    resumed = _ok(cli("resume", "sales", "--n-trials", "2", "--storage", tmp_storage_url))
    assert "1 trial run" in resumed.stdout  # the stored choices: the stored data matrix
    changed = cli("search", tmp_path / "sales.csv", "--target", "sales", "--study", "sales",
                  "--families", "linear", "--n-trials", "3", "--drop", "leak", *stores)
    _assert_one_line_error(changed, "column_choices: study has '--numeric week --categorical "
                                    "store --text manager --drop leak', now '--drop leak'")


def test_a_wide_table_shows_its_dropped_columns_and_counts_the_rest(
        cli: Callable[..., Result], tmp_path: Path, stores: list[str]) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 80)).round(3),
                         columns=[f"g{i:02d}" for i in range(80)])
    frame.insert(70, "row_id", range(120))
    frame["batch"] = "b1"
    frame["y"] = np.where(frame.g00 > 0, "up", "down")
    frame.to_csv(tmp_path / "wide.csv", index=False)
    out = _ok(cli("search", tmp_path / "wide.csv", "--target", "y", "--n-trials", "1",
                  "--max-epochs", "1", "--threads", "1", *stores)).stdout
    assert "columns (30 of 82)" in out
    assert "│ row_id " in out and "│ batch " in out  # the dropped ones, wherever they are
    assert "│ g00 " in out and "│ g27 " in out and "│ g28 " not in out
    assert "and 52 more columns (52 numeric); `automl report wide` lists every one" in out


# ------------------------------------------------------------------------------------ refusals
def _created(tmp_path: Path) -> list[Path]:
    """Files a refused command must not leave: study databases, MLflow stores, default dirs."""
    return sorted(p for p in tmp_path.rglob("*") if p.suffix in (".db", ".lock") or p.name in (
        "studies", "mlruns", "artifacts"))


@pytest.mark.parametrize(("args", "fragments"), [
    (["missing.csv"], ["missing.csv", "no such file"]),
    (["{csv}", "--target", "colr"], ["'colr' not found", "did you mean 'color'"]),
    (["{csv}", "--n-trials", "0"], ["--n-trials must be an int in the range [1, inf); got 0"]),
    (["{csv}", "--metric", "bogus"], ["'bogus'", "roc_auc", "accuracy"]),
    (["{csv}", "--storage", "nonsense"], ["--storage 'nonsense' is not a URL"]),
    (["{csv}", "--families", "mlp,transformer"],
     ["--families must be some of linear, mlp, tabm, resnet; got 'mlp,transformer'"]),
    (["{csv}", "--tracking-uri", "nonsense"], ["--tracking-uri 'nonsense' is not a URL"]),
    (["{csv}", "--tracking-uri", "postgresql://nobody@127.0.0.1:1/none"],
     ["cannot open the MLflow store", "check --tracking-uri"]),
    (["{csv}", "--storage", "postgresql://nobody@127.0.0.1:1/none"],
     ["cannot open the study storage", "check --storage"]),
], ids=["missing-file", "missing-target", "zero-trials", "unknown-metric", "bad-storage",
        "unknown-family",
        "bad-tracking-uri", "unreachable-tracking-server", "unreachable-storage-server"])
def test_search_refusals_are_one_line_and_create_nothing(
        cli: Callable[..., Result], make_csv: Callable[..., Path], tmp_path: Path,
        args: list[str], fragments: list[str]) -> None:
    csv = make_csv()
    defaults = {"--storage": f"sqlite:///{tmp_path}/studies/optuna.db",
                "--tracking-uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    extra = [part for key, value in defaults.items() if key not in args for part in (key, value)]
    args = [str(csv) if a == "{csv}" else a for a in args]

    result = cli("search", *FAST, *args, *extra)  # the last --n-trials wins

    _assert_one_line_error(result, *fragments)
    assert _created(tmp_path) == []


@pytest.mark.parametrize(("args", "fragments"), [
    (["show", "nope", "--storage", "sqlite:///{tmp}/studies/optuna.db"],
     ["no study storage", "automl search"]),
    (["show", "nope", "--storage", "nonsense"], ["cannot open the study storage 'nonsense'"]),
    (["studies", "--storage", "nonsense"], ["cannot open the study storage 'nonsense'"]),
    (["studies", "--storage", "sqlite:///{tmp}/studies/optuna.db"], ["no study storage"]),
    (["resume", "nope", "--storage", "sqlite:///{tmp}/studies/optuna.db"],
     ["no study storage"]),
], ids=["show-no-storage", "show-bad-storage", "studies-bad-storage", "studies-no-storage",
        "resume-no-storage"])
def test_report_refusals_are_one_line_and_create_nothing(
        cli: Callable[..., Result], tmp_path: Path, args: list[str],
        fragments: list[str]) -> None:
    result = cli(*(a.replace("{tmp}", str(tmp_path)) for a in args))

    _assert_one_line_error(result, *fragments)
    assert _created(tmp_path) == []


def test_ctrl_c_in_a_command_that_only_reads_says_interrupted_and_nothing_about_trials(
        ) -> None:
    """`automl predict` stopped by Ctrl-C said "the running trial was marked failed ...;
    continue with `automl resume STUDY`": it runs no trial and has no study to resume."""
    import typer

    from automl.cli.common import err, user_errors
    from automl.interrupts import TrialInterrupted

    with err.capture() as captured, pytest.raises(typer.Exit) as stopped, user_errors(False):
        raise KeyboardInterrupt
    assert stopped.value.exit_code == 130 and captured.get().strip() == "interrupted"
    with err.capture() as captured, pytest.raises(typer.Exit), user_errors(False, "churn"):
        raise TrialInterrupted(KeyboardInterrupt())
    assert captured.get().strip() == ("interrupted: the running trial was marked failed and its "
                                      "MLflow run closed; continue with `automl resume churn`")


def test_a_password_never_reaches_the_terminal(cli: Callable[..., Result],
                                               tmp_path: Path) -> None:
    result = cli("studies", "--storage", "nonsense://admin:hunter2@db/automl")
    line = _assert_one_line_error(result, "admin:***@db")
    assert "hunter2" not in result.output and "hunter2" not in line


def test_debug_shows_the_traceback_instead(cli: Callable[..., Result]) -> None:
    result = cli("search", "missing.csv", "--debug", "--storage", "sqlite:///x/o.db")
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "DataError"
