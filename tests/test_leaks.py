"""Columns that give the target away are named before the search (``automl.leaks``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data import infer_schema
from automl.leaks import leak_note

RNG = np.random.default_rng(0)
N = 400
X = RNG.normal(size=N)
CHURNED = X + RNG.normal(size=N) > 0
LABEL = np.where(CHURNED, "churned", "stayed")
PRICE = RNG.normal(size=N) * 1000 + 5000


def _table(target: np.ndarray, **columns: object) -> pd.DataFrame:
    return pd.DataFrame({"x": X, **columns, "y": target})


@pytest.mark.parametrize(("frame", "named"), [
    # a coded copy of the class
    (_table(LABEL, status=np.where(CHURNED, "C", "S")), "'status'"),
    # a date only churned customers have: its being given gives the class away
    (_table(LABEL, cancel_date=np.where(CHURNED, "2024-03-01", None)), "'cancel_date'"),
    # numbers that split the two classes at one threshold
    (_table(LABEL, days_left=np.where(CHURNED, -1.0, 1.0) * RNG.uniform(1, 90, N)),
     "'days_left'"),
    # the target in other units
    (_table(PRICE, price_eur=PRICE * 0.92), "'price_eur'"),
])
def test_a_column_that_gives_the_target_away_is_named(frame: pd.DataFrame, named: str) -> None:
    (note,) = leak_note(frame, infer_schema(frame, "y"))
    assert note.startswith(f"column {named} alone gives the target away")
    assert note.endswith(f"--drop {named.strip(chr(39))}")


@pytest.mark.parametrize("frame", [
    _table(LABEL),  # a strong, noisy feature: x predicts the class, not exactly
    # values of a few rows each are pure by chance
    _table(LABEL, code=[f"k{i // 2}" for i in range(N)]),
    # missing in a few rows only
    _table(LABEL, note=np.where(np.arange(N) < 3, None, "ok")),
    _table(PRICE, noisy=PRICE + RNG.normal(size=N) * 100),
])
def test_a_column_that_only_predicts_the_target_is_not_named(frame: pd.DataFrame) -> None:
    assert leak_note(frame, infer_schema(frame, "y")) == ()


def test_the_drop_can_be_pasted_as_it_is() -> None:
    frame = _table(LABEL, **{"churn date": np.where(CHURNED, "2024-03-01", None)})
    (note,) = leak_note(frame, infer_schema(frame, "y"))
    assert note.endswith("--drop 'churn date'")


def test_every_column_is_named_with_one_drop() -> None:
    frame = _table(LABEL, a=np.where(CHURNED, 1, 0) * 3, b=np.where(CHURNED, "C", "S"))
    (note,) = leak_note(frame, infer_schema(frame, "y"))
    assert note.startswith("columns 'a', 'b' alone give the target away; if they are known")
    assert note.endswith("--drop a,b")
