"""Columns that give the target away are named before the search (``automl.leaks``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli

from automl.data import Schema, infer_schema
from automl.leaks import leak_note
from automl.storage import load_study

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


def test_the_warning_comes_before_the_first_trial_again_after_the_last_and_is_stored(
        tmp_path: Path) -> None:
    """The plan scrolls away during a search; the perfect score at its end is shown beside
    the warning again, and the study and its report keep it."""
    _table(LABEL, status=np.where(CHURNED, "C", "S")).to_csv(tmp_path / "churn.csv",
                                                             index=False)
    storage = f"sqlite:///{tmp_path}/studies.db"
    code, stdout, stderr = cli("search", str(tmp_path / "churn.csv"), "--study", "churn",
                               "--n-trials", "1", "--max-epochs", "2", "--threads", "1",
                               "--storage", storage,
                               "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    assert code == 0, stderr
    lines = [line for line in stdout.splitlines() if line.startswith("warning ")]
    assert len(lines) == 2 and lines[0] == lines[1]
    assert "column 'status' alone gives the target away" in lines[0]
    schema = Schema.from_dict(load_study(storage, "churn").user_attrs["schema"])
    assert schema.warnings == (lines[0].removeprefix("warning "),)
    code, _, stderr = cli("report", "churn", "-o", str(tmp_path / "r.html"), "--storage",
                          storage)
    assert code == 0, stderr
    assert "warning: column &#x27;status&#x27; alone" in (tmp_path / "r.html").read_text()
