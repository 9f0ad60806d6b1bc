"""Schema and task inference, column kinds (Hypothesis properties), the fingerprint (the split:
tests/test_splits.py)."""

from __future__ import annotations

import io
import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import automl.reading
from automl.config import ColumnChoices
from automl.data import (
    ColumnKind,
    Schema,
    TaskType,
    encode_target,
    fingerprint,
    infer_column,
    infer_schema,
    infer_task,
    label_strings,
    load_dataset,
)
from automl.errors import ConfigError, DataError
from automl.reading import load_csv, read_csv
from automl.written import as_floats, parse_dates

PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def roundtrip(frame: pd.DataFrame, tmp_path: Path, name: str = "t.csv") -> pd.DataFrame:
    """``frame`` written as CSV and read back the way the tool reads files."""
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return load_csv(path)


# ------------------------------------------------------------------------------- task inference
@pytest.mark.parametrize(("values", "forced", "task"), [
    ([0, 1, 1, 0], None, TaskType.BINARY),
    ([0.0, 1.0, 1.0, 0.0], None, TaskType.BINARY),
    (["yes", "no", "no"], None, TaskType.BINARY),
    (["cat", "dog", "cat "], None, TaskType.BINARY),  # one class written with a space
    ([True, False, True], None, TaskType.BINARY),
    ([1, 2, 3, 2, 1], None, TaskType.MULTICLASS),
    (["a", "b", "c"], None, TaskType.MULTICLASS),
    ([1.0, 2.0, 3.0, 4.0], None, TaskType.MULTICLASS),
    (list(range(30)), None, TaskType.REGRESSION),
    ([0.5, 1.25, 2.0], None, TaskType.REGRESSION),
    ([0, 1, 0, 1], "regression", TaskType.REGRESSION),
    ([0.5, 1.25, 2.0, 0.5], "multiclass", TaskType.MULTICLASS),
    (["a", "b"], "multiclass", TaskType.MULTICLASS),
])
def test_infer_task(values: list[object], forced: str | None, task: TaskType) -> None:
    assert infer_task(pd.Series(values, name="y"), forced) is task


@pytest.mark.parametrize(("values", "forced", "message"), [
    (["a", "b", "a"], "regression", "is not numeric, so it cannot be regressed"),
    (["a", "b", "c"], "binary", "has 3 classes, so it is not binary; use --task multiclass"),
])
def test_forced_task_that_cannot_be_is_refused(values: list[object], forced: str,
                                               message: str) -> None:
    with pytest.raises(DataError, match=message):
        infer_task(pd.Series(values, name="y"), forced)


@pytest.mark.parametrize(("values", "labels"), [
    ([1.0, 0.0, 1.0], ["1", "0", "1"]),
    ([" yes", "no ", "yes"], ["yes", "no", "yes"]),
    ([True, False], ["True", "False"]),
    ([2, 10, 1], ["2", "10", "1"]),
])
def test_label_strings(values: list[object], labels: list[str]) -> None:
    assert label_strings(pd.Series(values)).tolist() == labels


# ------------------------------------------------------------------------------ schema inference
def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "row_id": np.arange(n), "x": rng.normal(size=n).round(3),
        "level": rng.choice(["low", "mid", "high"], n), "flag": rng.choice(["yes", "no"], n),
        "day": [f"2024-01-{i % 28 + 1:02d}" for i in range(n)], "const": ["k"] * n,
        "comment": [f"free text number {i} says {i * 7} things" for i in range(n)],
        "y": rng.choice(["cat", "dog"], n),
    })


@pytest.mark.parametrize(("column", "kind"), [
    ("row_id", ColumnKind.ID), ("x", ColumnKind.NUMERIC), ("level", ColumnKind.CATEGORICAL),
    ("flag", ColumnKind.BOOLEAN), ("day", ColumnKind.DATETIME), ("const", ColumnKind.CONSTANT),
    ("comment", ColumnKind.TEXT),
])
def test_schema_column_kinds(column: str, kind: ColumnKind) -> None:
    schema = infer_schema(_frame(), "y")
    spec = {c.name: c for c in schema.columns}[column]
    assert spec.kind is kind
    if not kind.is_used:
        assert spec.note.startswith("dropped: ")


def _titles(n_levels: int, rows: int = 600) -> pd.Series:
    """``rows`` values cycling through ``n_levels`` titles of 3 of 16 words."""
    words = [("Junior", "Mid", "Senior", "Lead"), ("Data", "Sales", "Legal", "Design"),
             ("Analyst", "Engineer", "Manager", "Director", "Clerk", "Aide", "Head", "Chief")]
    titles = [f"{a} {b} {c}" for a in words[0] for b in words[1] for c in words[2]]
    return pd.Series([titles[i % n_levels] for i in range(rows)], name="title")


@pytest.mark.parametrize(("values", "kind", "note"), [
    (_titles(128), ColumnKind.TEXT, "read as words: 128 levels of 16 words"),
    (_titles(40), ColumnKind.CATEGORICAL, ""),  # few levels: each learned from many rows
    (pd.Series([f"item{i} variant{i % 7}" for i in range(300)] * 2, name="sku"),
     ColumnKind.CATEGORICAL, ""),  # a word of its own in every level
    (pd.Series([f"Code{i % 90}" for i in range(600)], name="code"), ColumnKind.CATEGORICAL, ""),
])
def test_many_levels_of_few_words_are_read_as_words(values: pd.Series, kind: ColumnKind,
                                                    note: str) -> None:
    """Job titles (``Senior Data Engineer``): many levels, each a few of a small set of words."""
    spec = infer_column(values)
    assert (spec.kind, spec.note) == (kind, note)


def test_schema_defaults_and_round_trip() -> None:
    schema = infer_schema(_frame())  # no target: the last column
    assert (schema.target, schema.task, schema.classes) == ("y", TaskType.BINARY, ("cat", "dog"))
    assert [c.name for c in schema.dropped] == ["row_id", "const"]  # "comment" is text, read
    assert Schema.from_dict(schema.to_dict()) == schema


def test_target_is_matched_forgivingly_and_the_match_reported() -> None:
    frame = _frame().rename(columns={"y": "Label"})
    schema = infer_schema(frame, " label ")
    assert schema.target == "Label"
    assert schema.notes == ("--target ' label ' matched column 'Label'",)


@pytest.mark.parametrize(("values", "kind", "numbers"), [
    (["12.5%", "-3%", "100 %"], ColumnKind.NUMERIC, [12.5, -3.0, 100.0]),
    (["$1,234.50", "-$3", "£0.99"], ColumnKind.NUMERIC, [1234.5, -3.0, 0.99]),
    (["12 €", "3,500€", "7 €"], ColumnKind.NUMERIC, [12.0, 3500.0, 7.0]),
    (["0", "$4.99", "$0.99"], ColumnKind.NUMERIC, [0.0, 4.99, 0.99]),  # free apps beside paid
    (["1 234", "12\u00a0500", "300"], ColumnKind.NUMERIC, [1234.0, 12500.0, 300.0]),  # spaced
    (["10,000+", "500+", "1,000,000+"], ColumnKind.NUMERIC, [1e4, 500.0, 1e6]),  # installs
    (["(1,234.50)", "300.00", "($3)"], ColumnKind.NUMERIC, [-1234.5, 300.0, -3.0]),  # accounts
    (["$-335", "$1,189", "€-2.50"], ColumnKind.NUMERIC, [-335.0, 1189.0, -2.5]),  # f"${x:,}"
    (["(1,234.50", "300.00", "3)"], ColumnKind.CATEGORICAL, None),  # one parenthesis each
    (["5'10", "6'0''", "5' 7\""], ColumnKind.NUMERIC, [70.0, 72.0, 67.0]),  # heights, inches
    (["$1.2M", "$500K", "€3.5 bn"], ColumnKind.NUMERIC, [1.2e6, 5e5, 3.5e9]),  # funding rounds
    (["₹800", "Rs. 1,200", "¥95"], ColumnKind.NUMERIC, [800.0, 1200.0, 95.0]),  # rupees, yen
    (["₹ 5.5 Lakh", "₹ 12 Lakh", "₹ 1.2 Cr"], ColumnKind.NUMERIC, [5.5e5, 1.2e6, 1.2e7]),  # cars
    (["USD 1,234", "-USD 5", "EUR 1.2M"], ColumnKind.NUMERIC, [1234.0, -5.0, 1.2e6]),  # codes
    (["ABC 123", "XYZ 456", "ABC 7"], ColumnKind.CATEGORICAL, None),  # a plate, not a currency
    (["4.1/5", "3 / 5", "5/5"], ColumnKind.NUMERIC, [4.1, 3.0, 5.0]),  # ratings, their scores
    (["8 out of 10", "7 Out of 10", "10/10"], ColumnKind.NUMERIC, [8.0, 7.0, 10.0]),
    (["3/4", "1/2", "2/3"], ColumnKind.CATEGORICAL, None),  # fractions: no one scale
    (["25/5", "3/5", "12/5"], ColumnKind.CATEGORICAL, None),  # days of May: above the scale
    (["A-12%", "12%B", "%"], ColumnKind.CATEGORICAL, None),  # a sign alone makes no number
    (["12%", "$3", "1,5 kg"], ColumnKind.CATEGORICAL, None),  # units are text
])
def test_percentages_and_amounts_are_numbers_without_their_signs(
        values: list[str], kind: ColumnKind, numbers: list[float] | None) -> None:
    column = pd.Series(values * 10, name="c")
    assert infer_column(column).kind is kind
    if numbers is not None:
        np.testing.assert_allclose(as_floats(column)[:3], numbers)


@pytest.mark.parametrize(("written", "note"), [
    ("${:,.2f}", "currency signs removed"), ("{:,.0f}", "thousands separators removed")])
def test_a_target_of_written_amounts_is_regressed_on_their_numbers(written: str,
                                                                    note: str) -> None:
    """A price column such as "$1,004.54" was 200 classes of one row each, refused."""
    prices = np.random.default_rng(0).uniform(500, 5000, 60).round(2)
    frame = pd.DataFrame({"x": np.arange(60.0) % 7,
                          "price": pd.Series([written.format(p) for p in prices],
                                             dtype="string")})
    schema = infer_schema(frame, "price")
    assert schema.task is TaskType.REGRESSION
    assert schema.notes == (f"target 'price' read as numbers: {note}",)
    expected = [float(written.format(p).lstrip("$").replace(",", "")) for p in prices]
    np.testing.assert_allclose(encode_target(frame["price"], schema), expected, rtol=1e-6)


def test_a_target_whose_rows_are_mostly_in_rare_classes_is_refused() -> None:
    """Amounts the reader could not take for numbers were 270 classes; all but the two seen
    three times were left out, and the search trained a classifier on 6 of 300 rows."""
    labels = [f"code {i}" for i in range(294)] + ["a", "a", "a", "b", "b", "b"]
    frame = pd.DataFrame({"x": np.arange(300.0) % 7, "y": labels})
    with pytest.raises(DataError) as refused:
        infer_schema(frame, "y")
    message = str(refused.value)
    assert message.startswith("target 'y': 294 of its 300 rows are in classes of fewer than 3 "
                              "rows (such as 'code 0')"), message
    assert "choose another --target" in message
    left_out = pd.DataFrame({"x": np.arange(40.0) % 7, "y": ["a"] * 19 + ["b"] * 19 + ["c", "d"]})
    assert infer_schema(left_out, "y").classes == ("a", "b")  # a few rows left out, as before


@pytest.mark.parametrize(("target", "fix"), [
    (None, "pass --target with the column to predict (without it, the last column is the "
           "target)"),
    ("customer", "choose another --target")])
def test_a_target_of_one_value_a_row_is_refused_as_an_id(target: str | None, fix: str) -> None:
    """A CSV whose last column is a key: each value a class of one row. The split refused it
    with 'add rows or merge rare classes', which is no fix for an id."""
    frame = pd.DataFrame({"x": np.arange(50.0) % 7, "y": np.arange(50) % 2,
                          "customer": [f"C{i:04d}" for i in range(50)]})
    with pytest.raises(DataError) as refused:
        infer_schema(frame, target)
    assert str(refused.value) == ("target 'customer' has 50 different values in its 50 rows "
                                  "(such as 'C0000'), like an id or a date: there are no "
                                  f"classes to learn; {fix}")


@pytest.mark.parametrize(("ratings", "task", "noted"), [
    ([1, 2, 3, 4, 5, 10] * 5, None, True),   # stars: classes unless told they are numbers
    ([0, 1] * 15, None, False),               # a binary flag is a class
    (["lo", "mid", "hi"] * 10, None, False),  # text labels have no number order to offer
    ([1, 2, 3, 4, 5, 10] * 5, "multiclass", False),  # the user chose
])
def test_integer_classes_are_noted_with_the_option_that_orders_them(
        ratings: list, task: str | None, noted: bool) -> None:
    frame = pd.DataFrame({"x": np.arange(len(ratings)) % 7, "rating": ratings})
    notes = infer_schema(frame, "rating", task=task).notes
    expected = ("the 6 classes are integers, from 1 to 10, learned as unordered labels; "
                "--task regression learns them as ordered numbers",)
    assert notes == (expected if noted else ())


@pytest.mark.parametrize(("labels", "twins"), [
    (["yes", "no", "Yes"] * 10, ["classes 'Yes' and 'yes'"]),
    (["A", "b", "B", "a"] * 10, ["classes 'A' and 'a'; 'B' and 'b'"]),
    (["yes", "no"] * 15, []),
])
def test_classes_that_differ_by_case_only_are_noted(labels: list[str], twins: list[str]) -> None:
    """``Yes`` beside ``yes`` is most often one class written two ways: the summary says so."""
    frame = pd.DataFrame({"x": np.arange(len(labels)) % 7, "y": labels})
    notes = infer_schema(frame, "y").notes
    said = " differ only by case and are learned as different classes; write them one way " \
           "in the CSV to merge them"
    assert [n.removesuffix(said) for n in notes if n.endswith(said)] == twins


@pytest.mark.parametrize(("target", "message"), [
    ("flg", "target column 'flg' not found; did you mean 'flag'"),
    ("ROWID", "target column 'ROWID' not found; did you mean 'row_id'"),
    ("zzz", "target column 'zzz' not found; the columns are 'row_id', 'x'"),
])
def test_unknown_target_lists_close_names(target: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        infer_schema(_frame(), target)


@pytest.mark.parametrize(("choices", "kinds"), [
    (ColumnChoices(numeric=("row_id",)), {"row_id": ColumnKind.NUMERIC}),  # else id-like
    (ColumnChoices(categorical=("x", "comment")),
     {"x": ColumnKind.CATEGORICAL, "comment": ColumnKind.CATEGORICAL}),  # else numeric, text
    (ColumnChoices(drop=("level", "x")), {"level": ColumnKind.IGNORED, "x": ColumnKind.IGNORED}),
    (ColumnChoices(text=("level",)), {"level": ColumnKind.TEXT}),  # else categorical
    (ColumnChoices(numeric=(" ROW_ID",), drop=("Flag",)),  # matched as --target is
     {"row_id": ColumnKind.NUMERIC, "flag": ColumnKind.IGNORED}),
])
def test_chosen_kinds_win_over_inferred_ones(choices: ColumnChoices,
                                             kinds: dict[str, ColumnKind]) -> None:
    frame = _frame()
    inferred = {c.name: c.kind for c in infer_schema(frame, "y").columns}
    schema = infer_schema(frame, "y", choices=choices)
    assert {c.name: c.kind for c in schema.columns} == inferred | kinds
    assert all(c.note.endswith(("--numeric", "--categorical", "--text", "--drop"))
               for c in schema.columns if c.name in kinds)


def test_choices_without_text_are_stored_as_before_it_existed() -> None:
    """A study made before ``--text`` stored three lists; the same choices store the same."""
    old = {"numeric": ["a"], "categorical": [], "drop": ["b"]}
    assert ColumnChoices(numeric=("a",), drop=("b",)).to_dict() == old
    assert ColumnChoices.from_dict(old) == ColumnChoices(numeric=("a",), drop=("b",))
    chosen = ColumnChoices(text=("title",))
    assert ColumnChoices.from_dict(chosen.to_dict()) == chosen
    assert str(chosen) == "--text title"


def _numbers_with_words(levels: int, words: list[str], every: int = 20) -> pd.Series:
    """200 whole numbers cycling through ``levels`` values, every ``every``-th row one of
    ``words`` instead, as text (a CSV column that mixes them)."""
    values = [str(1000 + i % levels) for i in range(200)]
    for i in range(0, 200, every):
        values[i] = words[(i // every) % len(words)]
    return pd.Series(values, name="income")


@pytest.mark.parametrize(("series", "kind", "note"), [
    (_numbers_with_words(50, ["unknown"]), ColumnKind.NUMERIC,
     "'unknown' (10 rows) read as missing"),
    (_numbers_with_words(50, ["unknown", "n.a."]), ColumnKind.NUMERIC,
     "'unknown' (5 rows), 'n.a.' (5 rows) read as missing"),
    (pd.Series([f"{3 + i % 20 / 10:.1f}/5" if i % 20 else "NEW" for i in range(200)]),
     ColumnKind.NUMERIC, "ratings out of 5 read as their scores; 'NEW' (10 rows) read as "
     "missing"),  # a restaurant's rating, NEW before its first
    # what is removed from the numbers is said as in a column without the words
    (_numbers_with_words(50, ["unknown"]).map(lambda v: v if v == "unknown" else f"${v}"),
     ColumnKind.NUMERIC, "currency signs removed; 'unknown' (10 rows) read as missing"),
    (_numbers_with_words(50, ["n/a"]).map(lambda v: v if v == "n/a" else f"{int(v) * 9:,}"),
     ColumnKind.NUMERIC, "thousands separators removed; 'n/a' (10 rows) read as missing"),
    (_numbers_with_words(5, ["unknown"]), ColumnKind.CATEGORICAL,  # codes 1000-1004 + a word
     "mixed numbers and text"),
    (_numbers_with_words(50, ["a", "b", "c", "d"]), ColumnKind.CATEGORICAL,  # too many words
     "mixed numbers and text"),
    (_numbers_with_words(50, ["unknown"], every=2), ColumnKind.CATEGORICAL,  # half the rows
     "mixed numbers and text"),
])
def test_numbers_with_a_few_words_for_missing_are_numeric(series: pd.Series, kind: ColumnKind,
                                                          note: str) -> None:
    """An income column with ``unknown`` in 5% of its rows was a categorical of its eight
    repeated values, and a search on it scored ROC-AUC 0.51 where the numbers give 0.99."""
    spec = infer_column(series)
    assert (spec.kind, spec.note) == (kind, note)


def _with_units(units: list[str], every: int = 1) -> pd.Series:
    """200 numbers (40 distinct) as text, each followed by one of ``units`` (cycling every
    ``every`` rows)."""
    return pd.Series([f"{800 + 7 * (i % 40)}{units[(i // every) % len(units)]}"
                      for i in range(200)],
                     name="engine")


@pytest.mark.parametrize(("series", "kind", "note"), [
    (_with_units([" CC"]), ColumnKind.NUMERIC, "unit 'CC' removed"),
    (_with_units([" kmpl"] * 19 + [" km/kg"]), ColumnKind.NUMERIC,
     "units 'kmpl', 'km/kg' removed"),
    (_with_units([" °C"]), ColumnKind.NUMERIC, "unit '°C' removed"),
    (pd.Series([f"{1000 + 3 * i:,} sq.ft" for i in range(200)]), ColumnKind.NUMERIC,
     "unit 'sq.ft' removed"),
    (_with_units([" kg"]).where(lambda v: v.index % 20 > 0, "unknown"), ColumnKind.NUMERIC,
     "unit 'kg' removed; 'unknown' (10 rows) read as missing"),
    (_with_units(["A", "B", "C"]), ColumnKind.CATEGORICAL, ""),  # codes, not measures
    (_with_units(["am", "pm"], every=12), ColumnKind.CATEGORICAL, ""),
    (_with_units([" kg", " ml"]), ColumnKind.CATEGORICAL, ""),  # half and half: no one measure
    # one measure at several scales is read in the smallest: 500 g is 0.5 kg, 1 TB 1,000 GB
    (_with_units([" kg", " g"]), ColumnKind.NUMERIC, "units 'kg', 'g' converted to 'g'"),
    (_with_units([" km"] * 19 + [" m"]), ColumnKind.NUMERIC, "units 'km', 'm' converted to 'm'"),
    (_with_units(["GB"] * 3 + ["TB"]), ColumnKind.NUMERIC, "units 'GB', 'TB' converted to 'GB'"),
    (_with_units([" kg", " kgs"]), ColumnKind.NUMERIC, "units 'kg', 'kgs' removed"),  # one size
    # one unit at two scales, of no measure this reading knows: not read as one number
    (_with_units([" kPa"] * 19 + [" Pa"]), ColumnKind.CATEGORICAL, ""),
    (_with_units(["M"] * 19 + [" kg"]), ColumnKind.CATEGORICAL, ""),  # a scale beside a unit
    # scales alone are multiplied out (the Play Store's app sizes: 19M beside 201k)
    (_with_units(["M"] * 9 + ["k"]), ColumnKind.NUMERIC, "'M', 'k' read as millions, thousands"),
    (_with_units([" Lakh"] * 19 + [" Cr"]), ColumnKind.NUMERIC,
     "'Lakh', 'Cr' read as lakhs, crores"),
    # a scale before the unit (a store's reviews: 1.2K reviews beside 345 reviews)
    (_with_units(["K reviews"] * 9 + [" reviews"]), ColumnKind.NUMERIC,
     "unit 'reviews' removed; 'K' read as thousands"),
    (_with_units(["K reviews"] * 9 + ["K"]), ColumnKind.CATEGORICAL, ""),  # 800K of what?
])
def test_numbers_followed_by_a_unit_are_numeric(series: pd.Series, kind: ColumnKind,
                                                note: str) -> None:
    """``1248 CC`` (CarDekho's engines) was a categorical of hundreds of levels; a search of
    such a table scored a test RMSE of 132,000 where the numbers give 23,000
    (``benchmarks/units.py``)."""
    spec = infer_column(series)
    assert (spec.kind, spec.note) == (kind, note)
    if kind is ColumnKind.NUMERIC:
        assert np.isfinite(as_floats(series)).sum() == series.str[0].str.isdigit().sum()


def test_units_of_one_measure_are_read_in_its_smallest() -> None:
    """A phone's storage as ``512 GB`` beside ``1 TB``, or a parcel's weight as ``1.2 kg``
    beside ``800 g``, was a categorical of its text; each is now a number in the column's
    smallest unit."""
    storage = pd.Series(["512 GB", "1 TB", "64GB", "2 tb"])
    np.testing.assert_allclose(as_floats(storage), [512.0, 1000.0, 64.0, 2000.0])
    weight = pd.Series(["1.2 kg", "800 g", "1,500 g", "2 lbs"])
    np.testing.assert_allclose(as_floats(weight), [1200.0, 800.0, 1500.0, 907.18474])


def test_a_scale_before_a_unit_is_multiplied_out() -> None:
    """``1.2K reviews`` beside ``345 reviews`` was a categorical of its text; it is 1,200."""
    reviews = pd.Series(["1.2K reviews", "345 reviews", "19.5k reviews", "2 reviews"] * 5)
    np.testing.assert_allclose(as_floats(reviews)[:4], [1200.0, 345.0, 19500.0, 2.0])


def _times(write: Callable[[int], str]) -> pd.Series:
    """200 values written by ``write`` from minutes (40 distinct, 45 to 1,215)."""
    return pd.Series([write(45 + 30 * (i % 40)) for i in range(200)], name="duration")


def _parts(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return " ".join(filter(None, (f"{hours}h" if hours else "", f"{rest}m" if rest else "")))


@pytest.mark.parametrize(("series", "kind", "note"), [
    (_times(lambda m: f"{m // 60 % 24:02d}:{m % 60:02d}"), ColumnKind.NUMERIC,
     "read as hours ('00:45' → 0.75)"),
    (_times(lambda m: f"{m // 60}:{m % 60:02d}:30"), ColumnKind.NUMERIC,
     "read as hours ('0:45:30' → 0.7583)"),
    (_times(lambda m: f"{(m // 60 - 1) % 12 + 1}:{m % 60:02d} {'pm' if m >= 720 else 'am'}"),
     ColumnKind.NUMERIC, "read as hours ('12:45 am' → 0.75)"),
    (_times(_parts), ColumnKind.NUMERIC, "read as hours ('45m' → 0.75)"),
    (_times(lambda m: f"{m // 60} hrs {m % 60} mins"), ColumnKind.NUMERIC,
     "read as hours ('0 hrs 45 mins' → 0.75)"),
    # 3:45 beside 1:02:30 may be minutes beside hours: not read
    (_times(lambda m: f"{m // 60}:{m % 60:02d}" + (":00" if m > 600 else "")),
     ColumnKind.CATEGORICAL, ""),
    (_times(lambda m: f"PT{m // 60}H{m % 60}M" if m >= 60 else f"PT{m}M"), ColumnKind.NUMERIC,
     "read as hours ('PT45M' → 0.75)"),  # ISO 8601, as web APIs write durations
    (_times(lambda m: f"{m // 1440} days {m // 60 % 24:02d}:{m % 60:02d}:00"), ColumnKind.NUMERIC,
     "read as hours ('0 days 00:45:00' → 0.75)"),  # as pandas writes a duration
    (_times(lambda m: f"{m} min"), ColumnKind.NUMERIC, "unit 'min' removed"),  # one unit
    (_times(lambda m: f"{m} m"), ColumnKind.NUMERIC, "unit 'm' removed"),  # metres, maybe
])
def test_times_and_durations_are_read_as_hours(series: pd.Series, kind: ColumnKind,
                                               note: str) -> None:
    """``22:20`` and ``2h 50m`` (a flight's departure and duration) were categoricals of
    hundreds of levels; a search of such a table scored a test RMSE of 1,467 where the hours
    give 660 (``benchmarks/durations.py``; the fares' noise is 600)."""
    spec = infer_column(series)
    assert (spec.kind, spec.note) == (kind, note)
    if note.startswith("read as hours"):
        hours = as_floats(series)
        assert np.isfinite(hours).all() and hours.max() > 12
        np.testing.assert_allclose(np.diff(hours[:12]), 0.5, atol=1 / 59)


@pytest.mark.parametrize(("written", "hours"), [
    ("22:20", 22 + 1 / 3), ("1:05:30", 1 + 5 / 60 + 1 / 120), ("10:30 pm", 22.5),
    ("12:15 AM", 0.25), ("12:15 p.m.", 12.25), ("2h 50m", 2 + 5 / 6), ("19h", 19.0),
    ("45m", 0.75), ("1 hr 5 mins", 1 + 1 / 12), ("3 days 4 hours", 76.0), ("90s", 0.025),
    ("PT4M13S", 253 / 3600), ("P1DT2H", 26.0), ("PT1H2M", 1 + 1 / 30),
    ("1 days 02:30:00", 26.5), ("1 day, 2:30:00", 26.5), ("P", np.nan), ("PT", np.nan),
    ("12", np.nan), ("2h 50", np.nan)])
def test_a_time_or_a_duration_is_read_in_hours(written: str, hours: float) -> None:
    assert as_floats(pd.Series([written]), hours=True)[0] == pytest.approx(hours, nan_ok=True)


@pytest.mark.parametrize(("written", "number"), [
    ("19M", 19e6), ("201k", 201e3), ("1.2K", 1200.0), ("8.6 Lakh", 8.6e5), ("1.2 Cr", 1.2e7),
    ("2 bn", 2e9), ("12 m", 12.0), ("1248 CC", 1248.0), ("$1,234", 1234.0), ("1e5", 1e5)])
def test_a_scale_after_a_number_multiplies_it(written: str, number: float) -> None:
    assert as_floats(pd.Series([written]))[0] == pytest.approx(number)


def test_a_price_target_with_a_word_for_missing_is_regressed_without_those_rows(
        tmp_path: Path) -> None:
    """``unknown`` among 500 prices made the target one class per price, refused as classes
    too small to split; its rows are now dropped like rows with an empty target."""
    rng = np.random.default_rng(3)
    price = (1000 + 300 * rng.normal(size=200)).round(2).astype(object)
    price[::25] = "unknown"
    pd.DataFrame({"x": np.arange(200) % 7, "price": price}).to_csv(tmp_path / "p.csv",
                                                                     index=False)
    data = load_dataset(tmp_path / "p.csv", "price")
    assert data.schema.task is TaskType.REGRESSION
    assert (data.schema.n_missing_target, len(data.frame)) == (8, 192)
    assert "target 'price': 'unknown' (8 rows) read as missing" in data.schema.notes
    assert np.isfinite(encode_target(data.frame["price"], data.schema)).all()


@pytest.mark.parametrize("written", ["%B %d, %Y", "%d-%b-%Y", "%d-%b-%y", "%b %d %Y",
                                     "%d %B %Y", "%d %b %Y %H:%M", "%b %Y"])
def test_dates_with_the_month_s_name_are_dates(written: str) -> None:
    """``January 7, 2018`` (the Play Store's last updates) was dropped as free text and
    ``01-Jan-2017`` (a spreadsheet's export) as unique strings."""
    dates = pd.date_range("2017-01-01", periods=200, freq="3D")
    column = pd.Series(dates.strftime(written), name="updated")
    assert infer_column(column).kind is ColumnKind.DATETIME
    read = parse_dates(column).dt.tz_localize(None)
    if "%d" in written:
        assert (read == pd.Series(dates)).all()
    assert (read.dt.month == dates.month).all()


@pytest.mark.parametrize("written", ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"])
def test_times_with_an_offset_are_dates_read_in_utc(written: str) -> None:
    """``2017-01-01T00:00:00+01:00`` (an API's export) was dropped as unique strings."""
    stamps = pd.date_range("2017-01-01", periods=200, freq="7h", tz="Europe/Paris")
    column = pd.Series([s.strftime(written) for s in stamps], name="at")
    assert infer_column(column).kind is ColumnKind.DATETIME
    assert (parse_dates(column) == pd.Series(stamps).dt.tz_convert("UTC")).all()


@pytest.mark.parametrize("values", [["Mayday 12", "maybe 3"], ["Jan", "Feb"], ["decade 1990"]])
def test_words_that_begin_like_a_month_are_not_dates(values: list[str]) -> None:
    assert infer_column(pd.Series(values * 20, name="c")).kind is not ColumnKind.DATETIME


@pytest.mark.parametrize(("dates", "note"), [
    (["12/03/2024", "13/03/2024"], "read as day/month/year"),
    (["12/03/2024", "11/03/2024"], "read as month/day/year (no first number above 12 says "
                                   "otherwise)"),
    (["2024-03-12", "2024-03-13 10:00:00Z"], ""),
])
def test_the_order_of_a_date_column_is_said(dates: list[str], note: str) -> None:
    spec = infer_column(pd.Series(dates * 15, name="when"))
    assert (spec.kind, spec.note) == (ColumnKind.DATETIME, note)


@pytest.mark.parametrize(("values", "kind", "note"), [
    (["Y", None, "Y", None] * 10, ColumnKind.BOOLEAN,
     "one value or empty: learned as given / not given"),
    ([1.0, np.nan] * 20, ColumnKind.BOOLEAN, "one value or empty: learned as given / not given"),
    (["Y"] * 40, ColumnKind.CONSTANT, "dropped: a single value"),
    ([None] * 40, ColumnKind.CONSTANT, "dropped: no values"),
])
def test_a_column_of_one_value_and_blanks_is_a_flag(values: list[object], kind: ColumnKind,
                                                    note: str) -> None:
    """``has_garage``, ``Y`` or blank, was dropped as constant: all it says is where it is."""
    spec = infer_column(pd.Series(values, name="has_garage"))
    assert (spec.kind, spec.note) == (kind, note)


def test_numeric_chosen_for_numbers_with_a_few_words_reads_them_as_missing() -> None:
    frame = pd.DataFrame({"rating": _numbers_with_words(5, ["unknown"]), "y": [0, 1] * 100})
    [spec] = infer_schema(frame, "y", choices=ColumnChoices(numeric=("rating",))).columns
    assert spec.kind is ColumnKind.NUMERIC
    assert spec.note == "chosen: --numeric; 'unknown' (10 rows) read as missing"


@pytest.mark.parametrize(("choices", "message"), [
    (ColumnChoices(drop=("flg",)), "--drop 'flg': no such column; did you mean 'flag'"),
    (ColumnChoices(numeric=("y",)), "--numeric 'y' is the target; leave it out of --numeric"),
    (ColumnChoices(numeric=("level",)), "--numeric 'level': values such as '(high|low|mid)' are "
                                        "not numbers; leave the column out of --numeric"),
    (ColumnChoices(numeric=("x",), drop=("X",)), "column 'x' is given to both --numeric and "
                                                 "--drop; give it one of them"),
])
def test_a_choice_that_cannot_be_followed_is_refused(choices: ColumnChoices,
                                                     message: str) -> None:
    with pytest.raises(DataError, match=message):
        infer_schema(_frame(), "y", choices=choices)


def test_a_column_given_two_kinds_is_refused_before_any_data_is_read() -> None:
    with pytest.raises(ConfigError, match="column 'x' is given to both --categorical and --drop"):
        ColumnChoices(categorical=("x",), drop=("x", "z"))


def test_missing_target_rows_are_counted() -> None:
    frame = _frame()
    frame.loc[:9, "y"] = np.nan
    schema = infer_schema(frame, "y")
    assert (schema.n_rows, schema.n_missing_target) == (50, 10)


@pytest.mark.parametrize(("name", "values", "kind"), [
    ("amount", [7 * 10**6 - 1234 * i for i in range(25)], ColumnKind.ID),  # sorted: row order
    ("price", list(np.random.default_rng(1).permutation(10**6)[:25]), ColumnKind.NUMERIC),
    ("customer_id", list(np.random.default_rng(1).permutation(10**6)[:25]), ColumnKind.ID),
    ("PassengerId", list(np.random.default_rng(2).permutation(10**6)[:25]), ColumnKind.ID),
    ("paid", list(np.random.default_rng(3).permutation(10**6)[:25]), ColumnKind.NUMERIC),
    ("n", list(np.random.default_rng(4).permutation(25)), ColumnKind.ID),  # dense 0..n-1
    ("version", ["1.2.3", "1.10.2", "2.0.1"] * 9, ColumnKind.CATEGORICAL),  # not dates
    ("when", ["2020-01-05 10:00", "2021-03-04 11:30:00"] * 12, ColumnKind.DATETIME),
    ("money", ["1,234", "12,345.5", "7", "-1,000,000"] * 6, ColumnKind.NUMERIC),
    ("mixed", ["1", "2", "x", "3.5"] * 6, ColumnKind.CATEGORICAL),
])
def test_column_kind_table(name: str, values: list[object], kind: ColumnKind) -> None:
    assert infer_column(pd.Series(values, name=name)).kind is kind


# ------------------------------------------------------------- column kinds (Hypothesis property)
@PROPERTY
@given(distinct=st.lists(st.integers(-10**6, 10**6), min_size=3, max_size=60, unique=True),
       repeats=st.lists(st.integers(0, 2), min_size=1, max_size=20))
def test_integers_read_back_numeric(distinct: list[int], repeats: list[int],
                                    tmp_path: Path) -> None:
    values = distinct + [distinct[i] for i in repeats]  # some value repeats: not a key
    frame = roundtrip(pd.DataFrame({"n": values}), tmp_path)
    assert infer_column(frame["n"]).kind is ColumnKind.NUMERIC


@PROPERTY
@given(values=st.lists(st.floats(-1e9, 1e9).map(lambda f: round(f, 3) + 0.25), min_size=3,
                       max_size=60, unique=True),
       holes=st.lists(st.booleans(), max_size=60))
def test_floats_with_missing_read_back_numeric(values: list[float], holes: list[bool],
                                               tmp_path: Path) -> None:
    cells = values + ["" if hole else "inf" for hole in holes]  # empty and inf are missing
    frame = roundtrip(pd.DataFrame({"f": cells, "g": 1}), tmp_path)  # no all-empty rows
    assert frame["f"].isna().sum() == len(holes)
    assert infer_column(frame["f"]).kind is ColumnKind.NUMERIC


_WORD = st.text(string.ascii_letters, min_size=1, max_size=8).filter(
    lambda w: w.lower() not in {"na", "nan", "null", "none", "n", "y", "t", "f", "true",
                                "false", "yes", "no", "inf", "infinity"})


@PROPERTY
@given(levels=st.lists(_WORD, min_size=3, max_size=6, unique_by=str.lower),
       picks=st.lists(st.integers(0, 5), min_size=20, max_size=80))
def test_few_level_strings_read_back_categorical(levels: list[str], picks: list[int],
                                                 tmp_path: Path) -> None:
    values = [levels[i % len(levels)] for i in picks] + levels  # every level appears
    frame = roundtrip(pd.DataFrame({"c": values}), tmp_path)
    assert infer_column(frame["c"]).kind is ColumnKind.CATEGORICAL


@PROPERTY
@given(pair=st.sampled_from([("True", "False"), ("yes", "no"), ("Y", "N"), ("0", "1"),
                             ("true", "false")]),
       picks=st.lists(st.booleans(), min_size=4, max_size=40).filter(lambda p: len(set(p)) == 2),
       holes=st.booleans())
def test_two_word_columns_read_back_boolean(pair: tuple[str, str], picks: list[bool],
                                            holes: bool, tmp_path: Path) -> None:
    values = [pair[0] if p else pair[1] for p in picks] + ([""] if holes else [])
    frame = roundtrip(pd.DataFrame({"b": values}), tmp_path)
    assert infer_column(frame["b"]).kind is ColumnKind.BOOLEAN


@PROPERTY
@given(stamps=st.lists(st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                                    max_value=pd.Timestamp("2030-01-01").to_pydatetime()),
                       min_size=3, max_size=40, unique=True),
       with_time=st.booleans())
def test_dates_read_back_datetime(stamps: list, with_time: bool, tmp_path: Path) -> None:
    fmt = "%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d"
    values = [s.strftime(fmt) for s in stamps]
    if len(set(values)) < 2:
        return
    frame = roundtrip(pd.DataFrame({"d": values}), tmp_path)
    assert infer_column(frame["d"]).kind is ColumnKind.DATETIME


@PROPERTY
@given(value=st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), _WORD),
       n=st.integers(1, 50))
def test_one_value_columns_are_constant(value: object, n: int, tmp_path: Path) -> None:
    frame = roundtrip(pd.DataFrame({"k": [value] * n, "z": range(n)}), tmp_path)
    assert infer_column(frame["k"]).kind is ColumnKind.CONSTANT


# ------------------------------------------------------------------------------ the fingerprint
def test_fingerprint_follows_content_not_formatting(tmp_path: Path) -> None:
    text = "x,c,y\n1.5,a,yes\n2.5,b,no\n3.5,a,yes\n"
    variants = {"plain.csv": text, "crlf.csv": text.replace("\n", "\r\n"),
                "semicolon.csv": text.replace(",", ";"), "trailing.csv": text + "\n\n"}
    prints = set()
    for name, content in variants.items():
        (tmp_path / name).write_bytes(content.encode())
        prints.add(load_dataset(tmp_path / name, "y").fingerprint)
    assert len(prints) == 1
    changed = [text.replace("2.5", "2.6"), text.replace("x,c", "z,c"), text + "4.5,b,no\n",
               text.replace("yes\n2.5", "no\n2.5")]
    for i, content in enumerate(changed):
        (tmp_path / f"changed{i}.csv").write_text(content)
        prints.add(load_dataset(tmp_path / f"changed{i}.csv", "y").fingerprint)
    assert len(prints) == 1 + len(changed)


def test_fingerprint_is_a_pure_function_of_the_frame() -> None:
    frame = pd.read_csv(io.StringIO("a,b\n1,x\n2,y\n"))
    assert fingerprint(frame) == fingerprint(frame.copy())
    assert len(fingerprint(frame)) == 16


def test_a_file_read_in_chunks_reads_as_one_parse_of_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    n = 60  # six chunks of ten rows; the encoding is disproved only past the sniffed head
    frame = pd.DataFrame({
        "count": [float(i) for i in range(50)] + [np.nan] * 10,  # integers, then gaps
        "code": ["1.50"] * 30 + ["abc"] * 30,  # numbers in the first chunks, then text
        "city": ["Köln", "Basel"] * 20 + [np.nan] * 10 + ["Zürich"] * 10,  # an empty chunk
        "flag": [True, False] * 10 + [np.nan] + [True] * 39,  # flags with a gap
        "y": [0, 1] * (n // 2)})
    path = tmp_path / "d.csv"
    path.write_bytes(frame.to_csv(index=False, float_format="%g").encode("cp1252"))
    whole, whole_notes = read_csv(path)
    monkeypatch.setattr(automl.reading, "CHUNK_ROWS", 10)
    monkeypatch.setattr(automl.reading, "HEAD_BYTES", 64)
    chunked, chunked_notes = read_csv(path)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_notes == whole_notes == ("read as Windows-1252 text",)
    assert chunked["code"].tolist() == ["1.50"] * 30 + ["abc"] * 30
    assert chunked["city"].iloc[-1] == "Zürich"


def test_a_target_in_several_units_is_read_in_the_training_ones_later_too(
        tmp_path: Path) -> None:
    """Weights as ``1.2 kg`` beside ``800 g`` are learned in grams; a later file of kilograms
    alone (a labelled holdout that ``predict`` scores) is read in grams too, not in its own
    smallest unit, and a value in another measure is not read as a weight."""
    rng = np.random.default_rng(0)
    grams = rng.integers(300, 3000, 200)
    written = [f"{g / 1000:.2f} kg" if i % 4 else f"{g} g" for i, g in enumerate(grams)]
    pd.DataFrame({"x": grams + rng.normal(0, 50, 200), "weight": written}).to_csv(
        tmp_path / "parcels.csv", index=False)
    schema = load_dataset(tmp_path / "parcels.csv", "weight").schema
    assert schema.task is TaskType.REGRESSION and schema.target_units == ("g", "kg")
    later = pd.Series(["1.5 kg", "2 kg", "3 l"], name="weight")
    np.testing.assert_allclose(encode_target(later, schema), [1500.0, 2000.0, np.nan])
    assert Schema.from_dict(schema.to_dict()) == schema
