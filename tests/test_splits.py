"""The one seeded split: every class in every part, rare classes, its seed; by time
(``--split-by``) and by group (``--group-by``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.data import Schema, TaskType, infer_schema, load_dataset
from automl.errors import DataError
from automl.splits import split, split_column


# ------------------------------------------------------------------------------------ the split
def _class_frame(counts: dict[str, int], seed: int = 0) -> tuple[pd.DataFrame, Schema]:
    rng = np.random.default_rng(seed)
    labels = [label for label, n in counts.items() for _ in range(n)]
    frame = pd.DataFrame({"x": rng.normal(size=len(labels)), "y": labels})
    return frame, infer_schema(frame, "y")


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(3, 300), min_size=2, max_size=6),
       seed=st.integers(0, 10**6))
def test_every_class_is_in_train_validation_and_test(counts: list[int], seed: int) -> None:
    frame, schema = _class_frame({f"c{i}": n for i, n in enumerate(counts)})
    parts = split(frame, schema, seed=seed, val_fraction=0.15, test_fraction=0.15)
    for part in (parts.train, parts.val, parts.test):
        assert set(part["y"]) == set(schema.classes)
    indices = [set(p.index) for p in (parts.train, parts.val, parts.test)]
    assert set.union(*indices) == set(frame.index)
    assert sum(map(len, indices)) == len(frame)  # disjoint


def test_imbalance_of_1_to_500_still_splits_when_the_rare_class_has_3_rows() -> None:
    frame, schema = _class_frame({"common": 1500, "rare": 3})
    parts = split(frame, schema, seed=0, val_fraction=0.15, test_fraction=0.15)
    assert [int((p["y"] == "rare").sum()) for p in (parts.train, parts.val, parts.test)] == [
        1, 1, 1]


def test_classes_of_one_or_two_rows_are_left_out_while_two_classes_remain(
        tmp_path: Path) -> None:
    """A label written once by mistake no longer refuses the table: its rows are left out,
    the note names it, and a third class so left out makes the task binary."""
    frame, schema = _class_frame({"a": 40, "b": 30, "typo": 1, "Rare": 2})
    assert schema.task is TaskType.BINARY and schema.classes == ("a", "b")
    assert (schema.n_rows, schema.n_missing_target) == (70, 0)
    assert "classes 'Rare' (2 rows), 'typo' (1 row) left out" in schema.notes[-1]
    frame.to_csv(tmp_path / "d.csv", index=False)
    dataset = load_dataset(tmp_path / "d.csv", "y")
    assert sorted(set(dataset.frame["y"])) == ["a", "b"] and len(dataset.frame) == 70
    parts = split(dataset.frame, dataset.schema, seed=0, val_fraction=0.15, test_fraction=0.15)
    assert sum(map(len, (parts.train, parts.val, parts.test))) == 70


@pytest.mark.parametrize(("counts", "test_fraction", "message"), [
    ({"common": 1000, "rare": 2}, 0.15,
     "target 'y': class 'rare' has 2 rows; each class needs at least 3 rows to appear in "
     "train, validation and test: add rows or merge rare classes"),
    ({"common": 1000, "rare": 2}, 0.0,
     "class 'rare' has 2 rows; each class needs at least 3 rows to appear in training and "
     "validation folds"),
    ({"a": 50, "b": 1, "c": 2, "d": 1, "e": 1}, 0.15,
     "class 'b' has 1 row, 'c' has 2 rows, 'd' has 1 row (and 1 more)"),
])
def test_too_rare_classes_are_refused(counts: dict[str, int], test_fraction: float,
                                      message: str) -> None:
    frame, schema = _class_frame(counts)
    with pytest.raises(DataError, match=pytest.importorskip("re").escape(message)):
        split(frame, schema, seed=0, val_fraction=0.15, test_fraction=test_fraction)


def test_regression_needs_ten_rows() -> None:
    frame = pd.DataFrame({"x": range(9), "y": np.linspace(0, 1, 9)})
    with pytest.raises(DataError, match="only 9 rows; a search needs at least 10"):
        split(frame, infer_schema(frame, "y", "regression"), seed=0, val_fraction=0.15,
              test_fraction=0.15)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_split_is_determined_by_its_seed(task: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    if task == "binary":
        frame["y"] = np.where(frame["y"] > 0, "a", "b")
    schema = infer_schema(frame, "y")

    def cut(seed: int) -> list[list[int]]:
        parts = split(frame, schema, seed=seed, val_fraction=0.2, test_fraction=0.1)
        return [p.index.tolist() for p in (parts.train, parts.val, parts.test)]

    assert cut(3) == cut(3)
    assert cut(3) != cut(4)


# ------------------------------------------------------------------------------ split by time
def _dated(n: int = 200, labels: np.ndarray | None = None) -> pd.DataFrame:
    """``n`` rows in shuffled time order, dates written day first (``13/01/2024``), one
    without a date; ``labels`` (by time order) default to alternating yes/no."""
    rng = np.random.default_rng(0)
    days = rng.permutation(n)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")
    frame = pd.DataFrame({"date": when.strftime("%d/%m/%Y"), "x": rng.normal(size=n),
                          "store": rng.choice(list("abc"), n),
                          "y": np.asarray(labels if labels is not None
                                          else np.where(np.arange(n) % 2, "yes", "no"))[days]})
    frame.loc[int(np.argmin(days)), "date"] = None
    return frame


@pytest.mark.parametrize("column", ["date", "x"])
def test_a_split_by_time_holds_out_the_latest_rows(column: str) -> None:
    """Validation rows come after every training row and test rows after every validation
    row; a row without a value in the column is trained on."""
    frame = _dated()
    schema = infer_schema(frame, "y")
    parts = split(frame, schema, seed=0, val_fraction=0.15, test_fraction=0.15,
                  split_by=split_column(schema, column.upper(), "--split-by"))
    assert (len(parts.train), len(parts.val), len(parts.test)) == (140, 30, 30)
    if column == "date":
        def when(part: pd.DataFrame) -> pd.Series:
            return pd.to_datetime(part["date"], format="%d/%m/%Y")
    else:
        def when(part: pd.DataFrame) -> pd.Series:
            return part["x"]
    assert when(parts.train).max() < when(parts.val).min()
    assert when(parts.val).max() < when(parts.test).min()
    assert parts.train[column].isna().sum() == (column == "date")
    first = (parts.val[column].iloc[when(parts.val).argmin()],
             parts.test[column].iloc[when(parts.test).argmin()])
    assert parts.note == (f"held out by {column!r}: validation rows from {first[0]}, test rows "
                          f"from {first[1]}")
    again = split(frame, schema, seed=1, val_fraction=0.15, test_fraction=0.15,
                  split_by=column)
    assert again.test.index.equals(parts.test.index)  # the order decides, not the seed


def test_a_split_by_time_keeps_the_rows_of_one_time_in_one_part() -> None:
    """Ten rows a day: a part's share ends after the last row of the day it reaches into, so
    no day is both trained on and scored; one day alone leaves nothing earlier to train on."""
    rng = np.random.default_rng(0)
    day = rng.permutation(np.repeat(np.arange(30), 10))
    frame = pd.DataFrame({"day": day, "x": rng.normal(size=300),
                          "y": np.where(rng.random(300) < 0.5, "yes", "no")})
    schema = infer_schema(frame, "y")
    parts = split(frame, schema, seed=0, val_fraction=0.15, test_fraction=0.15, split_by="day")
    days = [set(part["day"]) for part in (parts.train, parts.val, parts.test)]
    assert max(days[0]) < min(days[1]) and max(days[1]) < min(days[2])
    assert (len(parts.val), len(parts.test)) == (50, 50)  # 45 rows reach into a fifth day
    with pytest.raises(DataError, match="--split-by 'day': too few distinct times"):
        split(frame.assign(day=7), schema, seed=0, val_fraction=0.15, test_fraction=0.15,
              split_by="day")


def test_a_split_by_time_names_a_column_of_dates_or_numbers() -> None:
    frame = _dated()
    schema = infer_schema(frame, "y")
    with pytest.raises(DataError, match=r"--split-by 'store': its values \('[abc]', \.\.\.\) "
                                        "are neither dates nor numbers"):
        split(frame, schema, seed=0, val_fraction=0.15, test_fraction=0.15, split_by="store")
    with pytest.raises(DataError, match="--split-by 'y' is the target"):
        split_column(schema, "y", "--split-by")
    with pytest.raises(DataError, match="--split-by 'dat': no such column; did you mean 'date'"):
        split_column(schema, "dat", "--split-by")


def test_a_split_by_time_refuses_parts_the_classes_leave() -> None:
    """A class seen only in the latest rows is not in the training rows; a validation part of
    one class ranks nothing."""
    late = np.where(np.arange(200) % 2, "yes", "no").astype(object)
    late[-20:] = "new"
    schema_frame = _dated(labels=late)
    schema = infer_schema(schema_frame, "y")
    with pytest.raises(DataError, match="the training rows hold no 'new'"):
        split(schema_frame, schema, seed=0, val_fraction=0.15, test_fraction=0.15,
              split_by="date")
    one = np.where(np.arange(200) < 140, np.where(np.arange(200) % 2, "yes", "no"), "yes")
    frame = _dated(labels=one)
    with pytest.raises(DataError, match="the validation rows hold no 'no'"):
        split(frame, infer_schema(frame, "y"), seed=0, val_fraction=0.15, test_fraction=0.15,
              split_by="date")


# ----------------------------------------------------------------------------- split by group
def test_a_split_by_group_holds_out_whole_groups() -> None:
    """Each customer's rows are in one part; a row without a customer is a group of its own;
    the parts hold about their shares of the rows."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"customer": rng.integers(0, 80, 600).astype(str),
                          "x": rng.normal(size=600), "y": rng.choice(["no", "yes"], 600)})
    frame.loc[:9, "customer"] = None
    schema = infer_schema(frame, "y")
    parts = split(frame, schema, seed=0, val_fraction=0.15, test_fraction=0.15,
                  group_by=split_column(schema, "Customer", "--group-by"))
    seen = [set(p["customer"].dropna()) for p in (parts.train, parts.val, parts.test)]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert sum(map(len, seen)) == 80
    for part in (parts.val, parts.test):
        assert 60 <= len(part) <= 130  # 15% of 600, give or take a group
    assert sum(p["customer"].isna().sum() for p in (parts.train, parts.val, parts.test)) == 10
    n_groups = [len(names) + part["customer"].isna().sum()  # a row without one: its own
                for names, part in zip(seen, (parts.train, parts.val, parts.test), strict=True)]
    assert parts.note == (f"held out by 'customer': {n_groups[0]} groups for training, "
                          f"{n_groups[1]} groups for validation, {n_groups[2]} groups for test")
    again = split(frame, schema, seed=1, val_fraction=0.15, test_fraction=0.15,
                  group_by="customer")
    assert not again.test.index.equals(parts.test.index)  # the seed draws the groups


def test_a_split_by_group_holds_out_each_class_in_its_share() -> None:
    """100 patients, 10 of them positive (6 visits each, one label a patient): the groups
    were drawn regardless of their class, so the test or validation part of a seed often held
    no positive patient, and the search was refused; each part now holds about its share."""
    patients = np.repeat(np.arange(100), 6)
    frame = pd.DataFrame({"patient": patients.astype(str),
                          "x": np.random.default_rng(0).normal(size=600),
                          "y": np.where(patients < 10, "sick", "well")})
    schema = infer_schema(frame, "y")
    for seed in range(20):
        parts = split(frame, schema, seed=seed, val_fraction=0.15, test_fraction=0.15,
                      group_by="patient")
        sick = [(part["y"] == "sick").sum() // 6 for part in (parts.train, parts.val, parts.test)]
        assert sick == [7, 1, 2] or sick == [7, 2, 1], (seed, sick)


def test_a_split_by_group_needs_groups_enough() -> None:
    frame = pd.DataFrame({"site": ["a"] * 59 + ["b"], "x": np.random.default_rng(0).normal(
        size=60), "y": ["no", "yes"] * 30})
    with pytest.raises(DataError, match=r"--group-by 'site': too few groups \(2\)"):
        split(frame, infer_schema(frame, "y"), seed=0, val_fraction=0.15, test_fraction=0.15,
              group_by="site")
