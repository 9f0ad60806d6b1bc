"""Messy real-world inputs through the real CLI: each one works, or is refused in one clear line.

Every input is generated here (no stored binaries). "Must work" cases run a full one-trial
``automl search`` where the whole path matters, else ``load_dataset`` + ``prepare_search`` (what
the CLI runs before any store is opened). Every refusal is checked for exit code 2, its one-line
message, no traceback, and that neither a study database nor an MLflow run was created.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import SHARED_DATASETS
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

import automl.cli
import automl.retry
from automl.cli import app
from automl.cli.render import MAX_COLUMN_ROWS
from automl.config import SearchConfig
from automl.data import ColumnKind, TaskType
from automl.plan import SearchPlan, prepare_search
from automl.reading import read_csv

FAST = ("--n-trials", "1", "--max-epochs", "2", "--patience", "1", "--threads", "1",
        "--device", "cpu")


# -------------------------------------------------------------------------------------- inputs
def frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A learnable binary problem: two numbers, a colour, target ``y`` (yes/no)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n).round(4), rng.normal(size=n).round(4)
    return pd.DataFrame({"x1": x1, "x2": x2, "color": rng.choice(["red", "green", "blue"], n),
                         "y": np.where(x1 + 0.5 * x2 > 0, "yes", "no")})


def text(df: pd.DataFrame, sep: str = ",", newline: str = "\n") -> str:
    return df.to_csv(index=False, sep=sep, lineterminator=newline)


def writes(name: str, content: str | bytes | Callable[[], str | bytes]) -> Callable[[Path], Path]:
    """A writer of ``content`` (or what a function makes) as ``folder/name``."""

    def write(folder: Path) -> Path:
        data = content() if callable(content) else content
        path = folder / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return write


def with_column(name: str, values: Callable[[int, np.random.Generator], object],
                n: int = 120) -> str:
    df = frame(n)
    df.insert(0, name, values(n, np.random.default_rng(1)))
    return text(df)


def missing_markers() -> str:
    df = frame(140)
    markers = ["", "?", "NA", "N/A", "null", "NaN", "nan"]
    df["x2"] = [markers[i % 7] if i % 3 == 0 else v for i, v in enumerate(df["x2"])]
    return text(df)


def infinities() -> str:
    df = frame()
    df["x2"] = [("inf", "-inf", "Infinity")[i % 3] if i % 10 == 0 else v
                for i, v in enumerate(df["x2"])]
    return text(df)


def quoted() -> str:
    df = frame()
    df["note"] = [f'line one, "quoted"\nline {i % 4}, end' for i in range(len(df))]
    return text(df)


def kinds_to_drop() -> str:
    df = frame()
    df.insert(0, "row_id", range(1000, 1000 + len(df)))
    df["const"] = "same"
    df["comment"] = [f"customer {i} wrote: item {('late', 'broken', 'fine')[i % 3]}"
                     for i in range(len(df))]
    return text(df)


def missing_target() -> str:
    df = frame(140)
    df.loc[df.index % 10 == 0, "y"] = ""
    return text(df)


def imbalanced(n_rare: int) -> Callable[[], str]:
    def make() -> str:
        rng = np.random.default_rng(0)
        n = 500 * n_rare
        x = rng.normal(size=n + n_rare).round(3)
        x[:n_rare] += 4
        return text(pd.DataFrame({"x": x, "y": ["rare"] * n_rare + ["common"] * n}))

    return make


def many_classes() -> str:
    rng = np.random.default_rng(0)
    labels = np.repeat([f"class_{i:02d}" for i in range(60)], 8)
    return text(pd.DataFrame({"x": rng.normal(size=len(labels)), "y": labels}))


def high_cardinality(n_levels: int) -> Callable[[], str]:
    def make() -> str:
        rng = np.random.default_rng(0)
        n = 20_000
        levels = rng.permutation(n) if n_levels == n else rng.integers(0, n_levels, n)
        x = rng.normal(size=n).round(3)
        return text(pd.DataFrame({"code": [f"L{v}" for v in levels], "x": x,
                                  "y": np.where(x > 0, "a", "b")}))

    return make


def wide() -> str:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(150, 2100)).round(2),
                      columns=[f"f{i:04d}" for i in range(2100)])
    df["y"] = np.where(df["f0000"] > 0, "a", "b")
    return text(df)


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- must work
@dataclass(frozen=True)
class Works:
    """An input that must be accepted; ``full`` runs a whole one-trial search through the CLI."""

    id: str
    write: Callable[[Path], Path]
    args: tuple[str, ...] = ("--target", "y")
    shows: tuple[str, ...] = ()  # lines of the plan the user must see (notes, table rows)
    check: Callable[[SearchPlan], None] | None = None
    full: bool = False


def kinds(**expected: ColumnKind) -> Callable[[SearchPlan], None]:
    def check(plan: SearchPlan) -> None:
        found = {c.name: c.kind for c in plan.schema.columns}
        assert {k: found.get(k) for k in expected} == expected

    return check


def assert_blank(plan: SearchPlan, name: str) -> None:
    """Column ``name`` is numeric, its cells of spaces missing like empty ones, not words."""
    (column,) = [c for c in plan.schema.columns if c.name == name]
    assert (column.kind, column.note) == (ColumnKind.NUMERIC, "")


def rows_and_classes(n_rows: int, classes: tuple[str, ...] | int) -> Callable[[SearchPlan], None]:
    def check(plan: SearchPlan) -> None:
        schema = plan.schema
        assert schema.n_rows == n_rows
        if isinstance(classes, int):
            assert len(schema.classes) == classes
        else:
            assert schema.classes == classes

    return check


def _cp1252(plan: SearchPlan) -> None:
    levels = set(read_csv(plan.cfg.csv_path)[0]["city"])
    assert levels == {"Zürich", "São Paulo", "Köln"}


def _quoted(plan: SearchPlan) -> None:
    assert plan.schema.n_rows == 120
    assert read_csv(plan.cfg.csv_path)[0]["note"].str.contains("\n").all()


def _high_cardinality(plan: SearchPlan) -> None:
    assert plan.schema.n_rows == 20_000
    # x twice (the code column dropped as an ID), or also the frequency twice and a level
    # code: never a column per level; the network embeds the code
    assert plan.tensors.d_in == 2 + 3 * len(plan.tensors.cardinalities) <= 5
    assert plan.tensors.x_train.element_size() * plan.tensors.x_train.nelement() < 10_000_000


def _decimal_comma_numbers(plan: SearchPlan) -> None:
    """A ``;`` file with decimal commas, as European spreadsheets write it: numbers, not text."""
    schema = plan.schema
    assert schema.task is TaskType.REGRESSION
    assert {c.name: c.kind for c in schema.columns}["x1"] is ColumnKind.NUMERIC
    assert read_csv(plan.cfg.csv_path)[0]["y"].equals(frame()["x1"].mul(3).round(2))


def _bool_target(plan: SearchPlan) -> None:
    assert plan.schema.classes == ("False", "True")


WORKS = [
    Works("utf8-bom", writes("bom.csv", lambda: "\ufeff" + text(frame())), full=True,
          check=kinds(x1=ColumnKind.NUMERIC)),
    Works("cp1252", writes("latin.csv", lambda: with_column(
        "city", lambda n, r: r.choice(["Zürich", "São Paulo", "Köln"], n)).encode("cp1252")),
          shows=("read as Windows-1252 text",), check=_cp1252),
    Works("utf16", writes("utf16.csv", lambda: text(frame()).encode("utf-16")),
          shows=("read as UTF-16 text",), check=rows_and_classes(120, ("no", "yes"))),
    Works("class-of-one-row-left-out", writes("typo.csv", lambda: text(frame().assign(
        y=lambda d: d.y.where(d.index != 7, "yse")))), full=True,
          shows=("class 'yse' (1 row) left out: a class needs at least 3 rows",),
          check=rows_and_classes(119, ("no", "yes"))),
    Works("numbers-with-units", writes("units.csv", lambda: text(frame().assign(
        x1=lambda d: [f"{v} kg" for v in d.x1], y=lambda d: [f"{v:.2f} m" for v in d.x2]))),
          full=True, shows=("unit 'kg' removed", "target 'y' read as numbers: unit 'm' removed"),
          check=kinds(x1=ColumnKind.NUMERIC)),
    Works("times-and-durations", writes("flights.csv", lambda: text(frame().assign(
        x1=lambda d: [f"{m // 60}h {m % 60}m" for m in (d.x1 * 60 + 300).astype(int)],
        dep=lambda d: [f"{i % 24:02d}:{i * 7 % 60:02d}" for i in range(len(d))]))),
          full=True, shows=("read as hours ('",),
          check=kinds(x1=ColumnKind.NUMERIC, dep=ColumnKind.NUMERIC)),
    Works("ratings", writes("ratings.csv", lambda: text(frame().assign(
        x1=lambda d: [f"{v:.1f}/5" for v in (d.x1 + 3).clip(0, 5)]))),
          full=True, shows=("ratings out of 5 read as their scores",),
          check=kinds(x1=ColumnKind.NUMERIC)),
    Works("comments-above-the-header", writes("commented.csv", lambda: "# exported by a tool\n"
          "# units: none\n\n" + text(frame())), full=True,
          shows=("skipped 3 lines above the header ('# exported by a tool', '# units: none')",),
          check=rows_and_classes(120, ("no", "yes"))),
    Works("title-above-the-header", writes("report.csv", lambda: "Sales report Q1,,,\n,,,\n"
          + text(frame())), shows=("skipped 2 lines above the header ('Sales report Q1')",),
          check=rows_and_classes(120, ("no", "yes"))),
    Works("hash-named-first-column", writes("hash.csv", lambda: text(frame().rename(
        columns={"x1": "#"}))), check=kinds(**{"#": ColumnKind.NUMERIC})),  # not a comment
    Works("a-copy-of-the-target", writes("leak.csv", lambda: text(frame().assign(
        outcome=lambda d: d.y.map({"yes": "Y", "no": "N"})))),
          shows=("warning column 'outcome' alone gives the target away; if it is known only "
                 "after the outcome, the model will fail on new rows: --drop outcome",)),
    Works("cells-of-spaces", writes("telco.csv", lambda: text(frame().assign(
        x1=lambda d: d.x1.astype(object).where(d.index % 40 > 0, " ")))),
          check=lambda plan: assert_blank(plan, "x1"), shows=("median-imputed + missing flag",)),
    Works("semicolon", writes("semi.csv", lambda: text(frame(), sep=";")), full=True,
          shows=("delimiter ';'",)),
    Works("tab", writes("tab.tsv.csv", lambda: text(frame(), sep="\t")),
          shows=("delimiter tab",), check=rows_and_classes(120, ("no", "yes"))),
    Works("pipe", writes("pipe.csv", lambda: text(frame(), sep="|")),
          shows=("delimiter '|'",), check=kinds(color=ColumnKind.CATEGORICAL)),
    Works("gzip", writes("data.csv.gz", lambda: gzip.compress(text(frame()).encode())),
          full=True),
    Works("crlf", writes("crlf.csv", lambda: text(frame(), newline="\r\n")),
          check=rows_and_classes(120, ("no", "yes"))),
    Works("quoted-newlines-commas", writes("quoted.csv", quoted), check=_quoted),
    Works("trailing-empty-lines", writes("trail.csv", lambda: text(frame()) + "\n\n,,,\n\n"),
          check=rows_and_classes(120, ("no", "yes"))),
    Works("trailing-delimiter", writes("trail_delim.csv", lambda: text(frame()).replace(
        "\n", ",\n")), shows=("ignored a trailing delimiter on every line",),
          check=kinds(x1=ColumnKind.NUMERIC, color=ColumnKind.CATEGORICAL)),
    Works("pandas-index-column", writes("index.csv", lambda: frame().to_csv()),
          shows=("column(s) 1 had no header name: called 'unnamed_1'",
                 "unnamed_1  id-like  dropped: unique integers"),
          check=kinds(unnamed_1=ColumnKind.ID)),
    Works("header-whitespace-forgiving-target",
          writes("spaces.csv", lambda: text(frame().rename(columns={"x1": " x1 ",
                                                                     "y": " Label "}))),
          args=("--target", "label"), full=True,
          shows=("spaces stripped from 2 header name(s): 'x1', 'Label'",
                 "--target 'label' matched column 'Label'", "target 'Label'")),
    Works("missing-markers", writes("markers.csv", missing_markers),
          shows=("x2  numeric  quantile → normal, or robust-scaled, median-imputed + "
                 "missing flag",)),
    Works("inf-is-missing", writes("inf.csv", infinities),
          shows=("x2  numeric  quantile → normal, or robust-scaled, median-imputed + "
                 "missing flag",)),
    Works("thousands-separators", writes("thousands.csv", lambda: with_column(
        "income", lambda n, r: [f"{v:,}" for v in r.integers(500, 5_000_000, n)])),
          shows=("income  numeric  quantile → normal, or robust-scaled; "
                 "thousands separators removed",)),
    Works("percentages", writes("rates.csv", lambda: with_column(
        "rate", lambda n, r: [f"{v:.1f}%" for v in r.uniform(-5, 40, n)])),
          shows=("rate  numeric  quantile → normal, or robust-scaled; percent signs removed",),
          check=kinds(rate=ColumnKind.NUMERIC)),
    Works("currency-amounts", writes("amounts.csv", lambda: with_column(
        "price", lambda n, r: [f"${v:,.2f}" for v in r.uniform(0, 20_000, n)])),
          shows=("price  numeric  quantile → normal, or robust-scaled; currency signs removed",),
          check=kinds(price=ColumnKind.NUMERIC)),
    Works("decimal-commas", writes("eu.csv", lambda: frame().assign(
        y=lambda d: d.x1.mul(3).round(2)).to_csv(index=False, sep=";", decimal=",")),
          full=True, shows=("decimal commas read as numbers in 'x1', 'x2', 'y'",),
          check=_decimal_comma_numbers),
    Works("french-numbers", writes("fr.csv", lambda: text(frame().assign(amount=[
        f"{v:,.2f}".replace(",", "\u202f").replace(".", ",")
        for v in np.random.default_rng(1).uniform(0, 50_000, 120)]), sep=";")),
          shows=("decimal commas read as numbers in 'amount'",),
          check=kinds(amount=ColumnKind.NUMERIC)),
    Works("euro-amounts-and-percentages", writes("de.csv", lambda: text(frame().assign(
        price=[f"{v:,.2f} €".replace(",", "X").replace(".", ",").replace("X", ".")
               for v in np.random.default_rng(1).uniform(0, 50_000, 120)],
        rate=[f"{v:.1f} %".replace(".", ",") for v in np.random.default_rng(2).uniform(0, 9, 120)]),
        sep=";")),
          shows=("decimal commas read as numbers in 'price', 'rate'",),
          check=kinds(price=ColumnKind.NUMERIC, rate=ColumnKind.NUMERIC)),
    Works("mixed-types-categorical", writes("mixed.csv", lambda: with_column(
        "code", lambda n, r: r.choice(["1", "2", "3.5", "n/k", "x"], n))),
          shows=("code  categorical  one-hot",), check=kinds(code=ColumnKind.CATEGORICAL)),
    Works("booleans", writes("bools.csv", lambda: text(frame().assign(
        b1=lambda d: np.where(d.x1 > 1, "True", "False"),
        b2=lambda d: np.where(d.x2 > 0, "yes", "no"), b3=lambda d: (d.x2 > 1).astype(int)))),
          shows=("b1  boolean  0/1", "b2  boolean  0/1", "b3  boolean  0/1")),
    Works("dates-and-datetimes", writes("dates.csv", lambda: text(frame().assign(
        day=[f"2023-{i % 12 + 1:02d}-{i % 28 + 1:02d}" for i in range(120)],
        at=[f"2024-03-{i % 28 + 1:02d} {i % 24:02d}:{i % 60:02d}:00" for i in range(120)]))),
          shows=("day  datetime  date parts (month, day, dayofweek)",
                 "at  datetime  date parts (day, dayofweek, hour)")),
    Works("constant-id-dropped-text-read", writes("drops.csv", kinds_to_drop), full=True,
          shows=("row_id   id-like      dropped: unique integers (a row number or key)",
                 "const    constant     dropped: a single value",
                 "comment  text         3 words in 2% of the rows or more, each 0/1: ")),
    Works("float-coded-classes", writes("float_classes.csv", lambda: text(frame().assign(
        y=lambda d: np.where(d.y == "yes", 1.0, 0.0)))),
          check=rows_and_classes(120, ("0", "1"))),
    Works("boolean-target", writes("bool_target.csv", lambda: text(frame().assign(
        y=lambda d: d.y == "yes"))), check=_bool_target),
    Works("string-classes-multiclass", writes("multi.csv", lambda: text(frame().assign(
        y=lambda d: pd.cut(d.x1, [-9, -0.5, 0.5, 9], labels=["low", "mid", "high"])))),
          full=True, shows=("task    multiclass (3 classes), target 'y', metric accuracy",)),
    Works("missing-target-dropped", writes("no_target.csv", missing_target), full=True,
          shows=("data    ", "126 rows", "dropped 14 rows with no target value")),
    Works("imbalance-1-to-500", writes("imbalanced.csv", imbalanced(3)), args=("-t", "y"),
          full=True, check=rows_and_classes(1503, ("common", "rare"))),
    Works("many-classes", writes("many.csv", many_classes), check=rows_and_classes(480, 60)),
    Works("regression-forced", writes("regress.csv", lambda: text(frame().assign(
        y=lambda d: (d.x1 * 2).round().astype(int)))), args=("--target", "y", "--task",
                                                             "regression"),
          full=True, shows=("task    regression, target 'y', metric rmse",)),
    Works("20k-levels-in-20k-rows", writes("unique_levels.csv", high_cardinality(20_000)),
          shows=("code  id-like  dropped: unique strings",), check=_high_cardinality),
    Works("12k-level-categorical", writes("levels.csv", high_cardinality(20_000 - 1)),
          shows=("code  categorical  embedded (", "levels, the rest as one) + frequency"),
          check=_high_cardinality),
    Works("2100-columns", writes("wide.csv", wide), full=True,
          shows=("2,100 model inputs", "f0029  numeric  quantile → normal, or robust-scaled",
                 "and 2,070 more columns (2,070 numeric)")),
]


def plan_lines(plan: SearchPlan) -> list[str]:
    """The plan as the CLI shows it, as plain aligned text (column widths vary by case)."""
    schema = plan.schema
    lines = list(schema.notes) + [f"warning {w}" for w in schema.warnings]
    lines.append(f"task    {schema.task.value}" + (
        f" ({len(schema.classes)} classes)" if schema.classes else "") +
        f", target {schema.target!r}, metric {plan.metric.name}")
    lines += ["  ".join(row) for row in plan.preprocessor.describe()]
    return lines


def normalise(output: str) -> str:
    """CLI output with the table's borders and padding reduced to two spaces between cells."""
    lines = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        lines.append("  ".join(c for c in cells if c) if "│" in line or "┃" in line else line)
    return "\n".join(lines)


def squeeze(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render the CLI's tables at 200 columns, as in a wide terminal, so rows are not wrapped."""
    monkeypatch.setattr(automl.cli.out, "width", 200)


@pytest.mark.parametrize("case", WORKS, ids=[c.id for c in WORKS])
def test_must_work(case: Works, tmp_path: Path, tmp_tracking_uri: str,
                   wide_terminal: None) -> None:
    csv = case.write(tmp_path)
    target = case.args[case.args.index("--target") + 1] if "--target" in case.args else "y"
    task = case.args[case.args.index("--task") + 1] if "--task" in case.args else None
    cfg = SearchConfig(csv_path=csv, target=target, task=task,
                       storage_url=f"sqlite:///{tmp_path}/studies/s.db",
                       tracking_uri=tmp_tracking_uri)
    if case.full:
        result = invoke("search", str(csv), *case.args, *FAST, "--storage", cfg.storage_url,
                        "--tracking-uri", tmp_tracking_uri, "--study", "s")
        assert result.exit_code == 0, result.output
        shown = squeeze(normalise(result.stdout))
        assert "1 trial run" in shown
        table = assert_recorded(cfg.storage_url, tmp_tracking_uri, "s")
        # the table shown is the table stored (a wide one's first rows)
        assert sum(squeeze("  ".join(row)) in shown for row in table) == min(
            len(table), MAX_COLUMN_ROWS)
    else:
        plan = prepare_search(cfg)
        shown = squeeze("\n".join(plan_lines(plan)))
        assert not (tmp_path / "studies").exists()
    for line in case.shows:
        assert squeeze(line) in shown
    if case.check is not None:
        case.check(prepare_search(cfg) if case.full else plan)


def assert_recorded(storage: str, tracking_uri: str, study_name: str) -> list[list[str]]:
    """The (column, kind, action) table, the same with the study and in the parent MLflow run."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    table = study.user_attrs["columns"]
    assert [row[0] for row in table] == [c["name"] for c in study.user_attrs["schema"]["columns"]]
    client = MlflowClient(tracking_uri)
    parent = study.user_attrs["mlflow_parent_run_id"]
    assert not {"schema", "columns"} & set(client.get_run(parent).data.params)  # an artifact
    with tempfile.TemporaryDirectory() as tmp:
        saved = json.loads(Path(client.download_artifacts(parent, "columns.json", tmp))
                           .read_text())
    assert [[c["column"], c["kind"], c["action"]] for c in saved["columns"]] == table
    assert saved["notes"] == study.user_attrs["schema"]["notes"]
    return table


# ----------------------------------------------------------------------------------- refusals
@dataclass(frozen=True)
class Refused:
    """An input or option that must be refused: exit 2 and one line containing ``says``."""

    id: str
    write: Callable[[Path], Path]
    says: tuple[str, ...]
    args: tuple[str, ...] = ("--target", "y")
    never_says: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _directory(folder: Path) -> Path:
    (folder / "data.csv").mkdir()
    return folder / "data.csv"


def _not_a_folder(folder: Path) -> Path:
    (folder / "file.txt").write_text("x")
    return writes("ok.csv", text(frame()))(folder)


REFUSED = [
    Refused("missing-file", lambda f: f / "nope.csv", ("nope.csv: no such file; check the path",)),
    Refused("directory", _directory, ("data.csv: is a directory; pass the path of a CSV file",)),
    Refused("binary", writes("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)),
            ("is a binary file, not CSV; pass a text CSV file",)),
    Refused("json", writes("records.csv", '[{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]\n'),
            ("looks like JSON, not CSV; convert it to CSV first",)),
    Refused("excel-zip", writes("book.csv", zip_bytes),
            ("looks like an Excel/zip file, not CSV; export it as CSV first",)),
    Refused("corrupt-gzip", writes("broken.csv.gz", lambda: gzip.compress(b"x,y\n1,2\n")[:15]),
            ("corrupt gzip file", "re-create it")),
    Refused("empty-file", writes("empty.csv", ""), ("the file is empty; pass a CSV with a "
                                                     "header row and data",)),
    Refused("blank-lines-only", writes("blank.csv", "\n\n  \n"), ("the file is empty",)),
    Refused("header-only", writes("header.csv", "x1,x2,y\n"),
            ("has a header but no data rows; add rows to the file",)),
    Refused("duplicate-headers", writes("dups.csv", "a,a,y\n1,2,x\n"),
            ("duplicate column name(s) 'a'; rename them so every header is unique",)),
    Refused("more-fields-than-header", writes("ragged.csv", text(frame()) + "1,2,red,yes,9\n"),
            ("cannot parse as CSV", "check the delimiter and quoting")),
    Refused("no-feature-columns", writes("nofeat.csv", lambda: text(pd.DataFrame(
        {"id": range(50), "const": 1, "y": ["a", "b"] * 25}))),
            ("no usable feature columns besides target 'y'; add feature columns to the CSV",)),
    Refused("too-few-rows-classification", writes("few.csv", "x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n"),
            ("target 'y': class 'b' has 2 rows; each class needs at least 3 rows",)),
    Refused("too-few-rows-regression", writes("few_reg.csv", lambda: text(pd.DataFrame(
        {"x": range(8), "y": np.linspace(0, 1, 8)}))),
            ("only 8 rows; a search needs at least 10: add rows",)),
    Refused("missing-target-close-matches", writes("label.csv", lambda: text(frame().rename(
        columns={"y": "label", "x1": "lable_a"}))),
            ("target column 'lables' not found; did you mean 'lable_a', 'label'?",
             "(use --target NAME)"), args=("--target", "lables")),
    Refused("one-class-target", writes("one.csv", lambda: text(frame().assign(y="yes"))),
            ("target 'y' has a single class ('yes'); a classifier needs at least two",)),
    Refused("constant-regression-target", writes("flat.csv", lambda: text(frame().assign(
        y=5.0))), ("target 'y' has a single value (5.0); there is nothing to learn: choose "
                   "another --target",), args=("--target", "y", "--task", "regression")),
    Refused("all-missing-target", writes("none.csv", lambda: text(frame().assign(y="?"))),
            ("target 'y' has no values; choose another --target",)),
    Refused("non-numeric-regression-target", writes("str_reg.csv", lambda: text(frame())),
            ("target 'y' is not numeric, so it cannot be regressed; drop --task regression",),
            args=("--target", "y", "--task", "regression")),
    Refused("binary-forced-on-3-classes", writes("three.csv", lambda: text(frame().assign(
        y=lambda d: pd.cut(d.x1, [-9, -0.5, 0.5, 9], labels=["low", "mid", "high"])))),
            ("target 'y' has 3 classes, so it is not binary; use --task multiclass",),
            args=("--target", "y", "--task", "binary")),
    Refused("imbalance-rare-class-too-small", writes("imb.csv", imbalanced(2)),
            ("target 'y': class 'rare' has 2 rows; each class needs at least 3 rows to "
             "appear in train, validation and test: add rows or merge rare classes",)),
    Refused("drop-unknown-column", writes("ok.csv", lambda: text(frame())),
            ("--drop 'colour': no such column; did you mean 'color'?",),
            args=("--target", "y", "--drop", "x2,colour")),
    Refused("numeric-text-column", writes("ok.csv", lambda: text(frame())),
            ("--numeric 'color': values such as", "are not numbers; leave the column out of "
             "--numeric"), args=("--target", "y", "--numeric", "color")),
    Refused("column-given-two-kinds", writes("ok.csv", lambda: text(frame())),
            ("column 'x1' is given to both --categorical and --drop; give it one of them",),
            args=("--target", "y", "--categorical", "x1", "--drop", "x1")),
    Refused("n-trials-zero", writes("ok.csv", lambda: text(frame())),
            ("--n-trials must be an int in the range [1, inf); got 0",),
            args=("--target", "y", "--n-trials", "0")),
    Refused("negative-timeout", writes("ok.csv", lambda: text(frame())),
            ("--timeout must be a positive, finite number; got -5.0",),
            args=("--target", "y", "--timeout", "-5")),
    Refused("unknown-metric", writes("ok.csv", lambda: text(frame())),
            ("unknown metric 'rmse' for a binary task; use one of: roc_auc, accuracy, "
             "f1_macro, log_loss, precision, recall, f1, pr_auc, balanced_accuracy",),
            args=("--target", "y", "--metric", "rmse")),
    Refused("split-by-text", writes("ok.csv", lambda: text(frame())),
            ("--split-by 'color': its values", "are neither dates nor numbers"),
            args=("--target", "y", "--split-by", "color")),
    Refused("split-by-with-folds", writes("ok.csv", lambda: text(frame())),
            ("--folds 3 with --split-by 'x1'",), args=("--target", "y", "--split-by", "x1",
                                                       "--folds", "3")),
    Refused("split-by-with-group-by", writes("ok.csv", lambda: text(frame())),
            ("--split-by with --group-by",), args=("--target", "y", "--split-by", "x1",
                                                    "--group-by", "color")),
    Refused("malformed-storage", writes("ok.csv", lambda: text(frame())),
            ("--storage", "is not a URL"), never_says=("s3cret",),
            args=("--target", "y", "--storage", "admin:s3cret@db.example/automl")),
    Refused("unreachable-storage", writes("ok.csv", lambda: text(frame())),
            ("cannot open the study storage 'postgresql://admin:***@127.0.0.1:1/automl'",
             "check --storage"), never_says=("s3cret",),
            args=("--target", "y", "--storage", "postgresql://admin:s3cret@127.0.0.1:1/automl")),
    Refused("storage-under-a-file", _not_a_folder,
            ("--storage", "cannot create or write the database there", "choose another path"),
            args=("--target", "y", "--storage", "sqlite:///{tmp}/file.txt/studies/s.db")),
    Refused("malformed-tracking-uri", writes("ok.csv", lambda: text(frame())),
            ("cannot open the MLflow store '//admin:***@mlflow.example'",
             "check --tracking-uri"), never_says=("s3cret",),
            args=("--target", "y", "--tracking-uri", "//admin:s3cret@mlflow.example")),
    Refused("unreachable-tracking-uri", writes("ok.csv", lambda: text(frame())),
            ("cannot open the MLflow store 'http://admin:***@127.0.0.1:1'",
             "check --tracking-uri"), never_says=("s3cret",),
            args=("--target", "y", "--tracking-uri", "http://admin:s3cret@127.0.0.1:1"),
            env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}),
]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(app, list(args))


def mlflow_runs(tracking_uri: str) -> int:
    client = MlflowClient(tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids)) if ids else 0


def assert_one_line_refusal(code: int, stderr: str, says: tuple[str, ...],
                            never_says: tuple[str, ...] = ()) -> None:
    assert code == 2, f"exit {code}: {stderr}"
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for part in says:
        assert part in lines[0]
    for secret in never_says:
        assert secret not in stderr


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_refused(case: Refused, tmp_path: Path, tmp_tracking_uri: str,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    # A store that cannot be reached is retried (0.2 + 1 + 3 s) before the refusal: the same
    # repeats and the same one line, without the waits.
    monkeypatch.setattr(automl.retry, "PAUSES_S", (0.0,) * len(automl.retry.PAUSES_S))
    csv = case.write(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    stores = {"--storage": f"sqlite:///{tmp_path}/studies/s.db", "--tracking-uri":
              tmp_tracking_uri}
    for option, default in stores.items():
        if option not in args:
            args += [option, default]
    result = invoke("search", str(csv), *args, *FAST[2:])
    assert_one_line_refusal(result.exit_code, result.stderr, case.says, case.never_says)
    assert not list(tmp_path.rglob("*.db")) or {p.name for p in tmp_path.rglob("*.db")} == {
        "mlflow.db"}, "a study database was created"
    assert mlflow_runs(tmp_tracking_uri) == 0


@pytest.mark.parametrize("args", [("--target", "nope"), ("--target", "y", "--metric", "rmse"),
                                  ("--target", "y", "--task", "regression")])
def test_refusal_with_default_stores_creates_nothing_at_all(
        args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no store options the default studies/ and mlruns/ folders are not even made."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    writes("data.csv", text(frame()))(tmp_path)
    result = invoke("search", "data.csv", *args)
    assert_one_line_refusal(result.exit_code, result.stderr, ())
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


# --------------------------------------------------------------------------- unreadable file
# Root reads every file, and CI runs as root: the CLI then runs in a child process that imports
# the tool as root (the interpreter may live under /root) and drops to user nobody before the
# command line is parsed, so the file is read with nobody's rights. A first refusal (of a missing
# file) runs as root, so that every module on the refusal path is imported while the checkout
# (possibly in a root-only folder) is still readable.
_AS_NOBODY = """
import contextlib, io, os, pwd, sys
import automl.cli
with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):
    automl.cli.app(["search", "/nonexistent/warm-up.csv", *sys.argv[3:]], prog_name="automl")
user = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(user.pw_gid)
os.setuid(user.pw_uid)
automl.cli.app(sys.argv[1:], prog_name="automl")
"""


@pytest.mark.parametrize(("args", "says"), [
    (("search", "data.csv", "--task", "classification"),
     ("'--task'", "'classification' is not one of 'binary', 'multiclass', 'regression'",
      "search --help`)")),
    (("search", "data.csv", "--n-trials", "ten"), ("'--n-trials'", "valid integer")),
    (("search", "data.csv", "--trials", "10"), ("No such option: --trials",)),
    (("search",), ("Missing argument", "search --help`)")),
    (("serch", "data.csv"), ("No such command 'serch'", "Did you mean 'search'?")),
])
def test_a_mistyped_command_line_is_one_line(args: tuple[str, ...], says: tuple[str, ...],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Click's usage block (usage, hint, blank line, error) is one line like every refusal."""
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert_one_line_refusal(result.exit_code, result.stderr, says)
    assert not list(tmp_path.iterdir()), "something was created"


def test_automl_alone_prints_the_help() -> None:
    result = invoke()
    assert "Commands:" in result.output and "search" in result.output


def _search_unprivileged(tmp_path: Path, args: list[str]) -> tuple[int, str]:
    """``automl search *args``: in this process, or as ``nobody`` when this is root (whom no
    file mode stops), from a world-writable ``tmp_path / "stores"``."""
    if os.geteuid() != 0:
        result = invoke("search", *args)
        return result.exit_code, result.stderr
    try:
        import pwd

        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to run unprivileged")
    # nobody must pass through tmp_path's folders (root-only, up to pytest-of-root; one more
    # under pytest-xdist) to meet the modes under test
    for folder in [tmp_path, *tmp_path.parents]:
        folder.chmod(folder.stat().st_mode | 0o711)
        if folder.name.startswith("pytest-of-"):
            break
    stores = tmp_path / "stores"
    stores.mkdir(mode=0o777, exist_ok=True)
    stores.chmod(0o777)
    done = subprocess.run([sys.executable, "-c", _AS_NOBODY, "search", *args],
                          capture_output=True, text=True, timeout=120, cwd=stores,
                          env={**os.environ, "HOME": str(stores)})
    return done.returncode, done.stderr


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    csv = writes("secret.csv", text(frame()))(tmp_path)
    csv.chmod(0)
    stores = tmp_path / "stores"
    code, stderr = _search_unprivileged(tmp_path, [
        str(csv), "--target", "y", "--storage", f"sqlite:///{stores}/s.db",
        "--tracking-uri", f"sqlite:///{stores}/mlflow.db"])
    assert_one_line_refusal(code, stderr, ("secret.csv: permission denied; make the file "
                                           "readable (chmod +r) or run as its owner",))
    assert not stores.exists() or not list(stores.iterdir()), "something was created"


def test_a_storage_below_a_folder_that_cannot_be_entered_is_refused(tmp_path: Path) -> None:
    csv = writes("data.csv", text(frame()))(tmp_path)
    csv.chmod(0o644)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o700 if os.geteuid() == 0 else 0)  # root's: nobody cannot enter it
    stores = tmp_path / "stores"
    code, stderr = _search_unprivileged(tmp_path, [
        str(csv), "--target", "y", "--storage", f"sqlite:///{locked}/studies/s.db",
        "--tracking-uri", f"sqlite:///{stores}/mlflow.db"])
    assert_one_line_refusal(code, stderr, ("--storage", "permission denied on a folder above",
                                           "choose a path you can reach"))
    locked.chmod(0o700)
    assert not list(locked.iterdir()), "something was created"


# ------------------------------------------------------------------------------ real datasets
SHARED = {"adult.csv": "class", "california_housing.csv": "median_house_value",
          "covertype_kaggle15k.csv": "Cover_Type", "credit_g.csv": "class",
          "titanic.csv": "Survived", "diamonds.csv": "price"}


def shared_files() -> Iterator[Path]:
    yield from sorted(SHARED_DATASETS.glob("*.csv")) if SHARED_DATASETS.is_dir() else []


@pytest.mark.skipif(not SHARED_DATASETS.is_dir(), reason="../shared/datasets is not here")
@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_dataset_needs_only_the_target(name: str) -> None:
    path = SHARED_DATASETS / name
    if not path.exists():
        pytest.skip(f"{name} is not in {SHARED_DATASETS}")
    plan = prepare_search(SearchConfig(csv_path=path, target=SHARED[name]))
    schema = plan.schema
    expected = {"california_housing.csv": TaskType.REGRESSION, "diamonds.csv": TaskType.REGRESSION,
                "covertype_kaggle15k.csv": TaskType.MULTICLASS}.get(name, TaskType.BINARY)
    assert schema.task is expected
    assert schema.n_missing_target == 0
    assert len(plan.tensors.x_train) + len(plan.tensors.x_val) + len(plan.tensors.x_test) == (
        schema.n_rows)
    assert bool(plan.tensors.x_train.isfinite().all())
    if name == "titanic.csv":
        kinds = {c.name: c.kind for c in schema.columns}
        assert kinds["PassengerId"] is ColumnKind.ID and kinds["Name"] is ColumnKind.TEXT
        assert [c.name for c in schema.dropped] == ["PassengerId"]


def test_every_shared_dataset_is_covered() -> None:
    assert {p.name for p in shared_files()} <= set(SHARED)


@pytest.mark.parametrize(("file", "name"), [("data/Churn 2024.csv.gz", "churn-2024"),
                                            ("données.csv", "donnees"),
                                            ("sales.tsv", "sales"), ("log.txt.gz", "log"),
                                            ("Café Sales.csv", "cafe-sales"),
                                            ("数据.csv", "study")])
def test_a_study_is_named_after_its_file(file: str, name: str) -> None:
    """``données.csv`` gave ``donn-es``: an accent is dropped, not turned into a dash."""
    from automl.plan import check_study_name, study_name_for

    assert check_study_name(study_name_for(file)) == name


def test_the_summary_shows_long_column_names_whole_and_tied_classes_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80 columns ``Horizontal_Distance_To_Fire_Points`` was cut to ``…_Fire_Po…``, a name
    that ``--drop`` does not take; seven classes of equal size were listed '7', '6', … '2'."""
    from automl.cli.render import _render_balance, _render_columns

    rng = np.random.default_rng(0)
    name = "Horizontal_Distance_To_Fire_Points"
    pd.DataFrame({name: rng.normal(size=210), "y": np.arange(210) % 7 + 1}).to_csv(
        tmp_path / "d.csv", index=False)
    plan = prepare_search(SearchConfig(csv_path=tmp_path / "d.csv", target="y",
                                       storage_url=f"sqlite:///{tmp_path}/s.db"))
    monkeypatch.setattr(automl.cli.out, "width", 80)
    with automl.cli.out.capture() as captured:
        _render_columns(plan)
        _render_balance(plan)
    shown = captured.get()
    assert name in shown
    assert "classes '1' 30 (14.3%), '2' 30 (14.3%), '3' 30" in shown
