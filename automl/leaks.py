"""Columns that give the target away: a copy of it, or a column filled in after the outcome
(a ``cancel_date`` that only churned customers have). A search on such a column scores a
perfect validation and a model that is useless on new rows, so the summary names them before
the first trial; the user decides (``--drop``).

A column gives the target away when, on the rows the search learns from:

* classification: each of its values (missing counted as one) belongs to one class only, over
  at least two values of at least :data:`MIN_LEVEL_ROWS` rows each (a value of a few rows is
  pure by chance); or whether it is given at all does; or, binary, its numbers split the two
  classes at one threshold;
* regression: its numbers and the target's are correlated beyond :data:`MAX_CORRELATION` (the
  target in other units).
"""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd

from automl.data import ColumnKind, Schema, encode_target
from automl.written import as_floats

#: Rows of a value needed before its purity counts.
MIN_LEVEL_ROWS = 5
#: Distinct values a column may have for the purity test (more: a continuous column).
MAX_LEVELS = 50
#: Correlation with a regression target beyond which a column is the target in other units.
MAX_CORRELATION = 0.9999
#: Rows looked at: a sample of a bigger table shows the same leak.
MAX_ROWS = 100_000


def leak_note(frame: pd.DataFrame, schema: Schema) -> tuple[str, ...]:
    """The note naming the used columns of ``frame`` that give ``schema``'s target away, or
    none."""
    if len(frame) > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, random_state=0)
    y = encode_target(frame[schema.target], schema)
    found = [c.name for c in schema.used if _gives_away(frame[c.name], c.kind, y, schema)]
    if not found:
        return ()
    names = ", ".join(map(repr, found[:5])) + (" ..." if len(found) > 5 else "")
    return (f"{'column' if len(found) == 1 else 'columns'} {names} alone "
            f"{'gives' if len(found) == 1 else 'give'} the target away; if "
            f"{'it is' if len(found) == 1 else 'they are'} known only after the outcome, the "
            f"model will fail on new rows: --drop {shlex.quote(','.join(found))}",)


def _gives_away(values: pd.Series, kind: ColumnKind, y: np.ndarray, schema: Schema) -> bool:
    if not schema.task.is_classification:
        return kind is ColumnKind.NUMERIC and _correlated(as_floats(values), y)
    codes, levels = pd.factorize(values, use_na_sentinel=False)
    if _pure(values.isna().to_numpy(dtype=np.int64), y) or (
            len(levels) <= MAX_LEVELS and _pure(codes, y)):
        return True
    return (len(schema.classes) == 2 and kind is ColumnKind.NUMERIC
            and _split_at_one_threshold(as_floats(values), y))


def _pure(codes: np.ndarray, y: np.ndarray) -> bool:
    """Whether each value (a code from 0) has one class, over 2+ values of enough rows."""
    sizes = np.bincount(codes)
    if len(sizes) < 2 or sizes.min() < MIN_LEVEL_ROWS:
        return False
    return len(np.unique(codes * (int(y.max()) + 1) + y)) == len(sizes)


def _split_at_one_threshold(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the known numbers of one class all lie below those of the other (both
    classes with :data:`MIN_LEVEL_ROWS` known numbers or more)."""
    known = np.isfinite(x)
    a, b = x[known & (y == 0)], x[known & (y == 1)]
    if min(len(a), len(b)) < MIN_LEVEL_ROWS or known.mean() < 0.95:
        return False
    return bool(a.max() < b.min() or b.max() < a.min())


def _correlated(x: np.ndarray, y: np.ndarray) -> bool:
    known = np.isfinite(x) & np.isfinite(y)
    if known.sum() < MIN_LEVEL_ROWS or np.std(x[known]) == 0 or np.std(y[known]) == 0:
        return False
    return bool(abs(np.corrcoef(x[known], y[known])[0, 1]) > MAX_CORRELATION)
