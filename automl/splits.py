"""How a table's rows are held out: the study's one seeded train/validation/test split.

Rows are held out one by one (stratified by class), by time (``--split-by``: the latest rows
are the test part, those before them the validation part) or by group (``--group-by``: each
group's rows in one part, each class's groups drawn apart). Bad input raises
:class:`~automl.errors.DataError` with a message that names the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from automl.data import (
    MIN_ROWS_PER_CLASS,
    MIN_ROWS_REGRESSION,
    ColumnKind,
    Schema,
    find_column,
    label_strings,
    named_column,
)
from automl.errors import DataError
from automl.words import counted
from automl.written import as_floats, day_first, parse_dates


@dataclass(frozen=True, slots=True, kw_only=True)
class Splits:
    """The study's one train/validation/test split (``test`` may be empty); ``note``: how
    ``--split-by`` or ``--group-by`` held rows out, for the summary."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    seed: int
    note: str = ""


def split_column(schema: Schema, name: str | None, option: str) -> str:
    """The feature column that ``option`` (``--split-by``, ``--group-by``) names ``name`` (see
    :func:`find_column`); empty when the option is not given.

    Raises:
        DataError: it names the target or no column.
    """
    if not name:
        return ""
    if find_column([schema.target], name) is not None:
        raise DataError(f"{option} {name!r} is the target; name another column")
    return named_column((c.name for c in schema.columns), name, option)


def split(frame: pd.DataFrame, schema: Schema, *, seed: int, val_fraction: float,
          test_fraction: float, split_by: str = "", group_by: str = "") -> Splits:
    """One seeded split; stratified for classification so every class is in every part. With
    ``split_by`` (a column of dates or numbers), by that column's order instead: its latest
    rows are the test part and the rows before them the validation part (rows without a
    value in it are trained on). With ``group_by``, the rows of each of its values go to one
    part, the groups drawn at random until a part has its share of the rows (a row without
    a value is a group of its own), for classification by the groups' majority class.

    Raises:
        DataError: too few rows (per class) for a train, a validation and a test part; a
            ``split_by`` column of neither dates nor numbers; parts that ``split_by`` or
            ``group_by`` leave without a class the training rows need, or with one class.
    """
    rng = np.random.default_rng(seed)
    if schema.task.is_classification:
        labels = label_strings(frame[schema.target]).to_numpy()
        groups = [np.flatnonzero(labels == c) for c in schema.classes]
        _check_class_sizes(schema, [len(g) for g in groups], test_fraction)
    else:
        if len(frame) < MIN_ROWS_REGRESSION:
            raise DataError(f"only {len(frame)} rows; a search needs at least "
                            f"{MIN_ROWS_REGRESSION}: add rows")
        labels, groups = None, [np.arange(len(frame))]
    note = ""
    if split_by:
        parts = _time_parts(frame, schema, split_by, val_fraction, test_fraction)
        note = _time_note(frame[split_by], parts)
    elif group_by:
        parts = _group_parts(frame[group_by], rng, val_fraction, test_fraction, labels)
        note = _group_note(frame[group_by], parts)
    else:
        cuts = [_cut(rng.permutation(group), val_fraction, test_fraction) for group in groups]
        parts = [np.concatenate(part) for part in zip(*cuts, strict=True)]
    train, val, test = (frame.iloc[np.sort(part)] for part in parts)
    held_by = ("--split-by", split_by) if split_by else ("--group-by", group_by)
    if held_by[1] and schema.task.is_classification:
        _check_parts(schema, *held_by, (train, val, test))
    return Splits(train=train, val=val, test=test, seed=seed, note=note)


def _group_note(values: pd.Series, parts: list[np.ndarray]) -> str:
    """How many groups of ``values`` each part (train, validation, test positions) holds,
    for the summary."""
    counts = [f"{len(np.unique(group_codes(values.iloc[part])))} groups for {name}"
              for name, part in zip(("training", "validation", "test"), parts, strict=True)
              if len(part)]
    return f"held out by {values.name!r}: {', '.join(counts)}"


def _time_note(values: pd.Series, latest_first: list[np.ndarray]) -> str:
    """Where the split by ``values`` cut time, for the summary: the earliest value of the
    validation and test parts (``latest_first``: train, validation, test positions, each
    latest first, as :func:`_time_parts` gives them)."""
    starts = [f"{name} rows from {values.iloc[part[-1]]}"
              for name, part in zip(("validation", "test"), latest_first[1:], strict=True)
              if len(part)]
    return f"held out by {values.name!r}: {', '.join(starts)}"


def group_codes(values: pd.Series) -> np.ndarray:
    """A group code (``0..n-1``) a row: rows of equal ``values`` share one; a row without a
    value is a group of its own."""
    codes, _ = pd.factorize(values)
    alone = codes < 0
    codes[alone] = codes.max() + 1 + np.arange(alone.sum())
    return codes


def _group_parts(groups: pd.Series, rng: np.random.Generator, val_fraction: float,
                 test_fraction: float, labels: np.ndarray | None = None) -> list[np.ndarray]:
    """The train, validation and test row positions, each group of rows (equal ``groups``
    values; a row without one alone) in one part: groups drawn in random order fill the test
    part, then the validation part (a group joins the part in which its first row falls).

    With ``labels`` (a classifier's, one a row) the groups of each majority label are drawn
    apart, each filling its share of the test and validation parts, as a stratified split
    does rows; the last group drawn of each is trained on, so no label is only held out."""
    codes = group_codes(groups)
    n_groups = int(codes.max()) + 1
    strata = np.zeros(n_groups, dtype=np.int64) if labels is None else _majorities(codes, labels)
    order = rng.permutation(n_groups)
    order = order[np.argsort(strata[order], kind="stable")]  # random order within a stratum
    sizes = np.bincount(codes, minlength=n_groups)[order]
    drawn_part = np.zeros(n_groups, dtype=np.int64)  # by place in the drawn order
    for stratum in np.unique(strata):
        at = np.flatnonzero(strata[order] == stratum)
        starts = np.cumsum(sizes[at]) - sizes[at]
        n_test, n_val = _part_sizes(int(sizes[at].sum()), val_fraction, test_fraction)
        drawn_part[at[:-1]] = np.where(starts < n_test, 2,
                                       np.where(starts < n_test + n_val, 1, 0))[:-1]
    if not (drawn_part == 0).any() or (val_fraction and not (drawn_part == 1).any()):
        raise DataError(f"--group-by {groups.name!r}: too few groups ({n_groups}) to hold "
                        "whole groups out for validation and test; add groups, or leave out "
                        "--group-by")
    row_part = drawn_part[np.argsort(order)[codes]]
    return [np.flatnonzero(row_part == part) for part in (0, 1, 2)]


def _majorities(codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The most frequent of ``labels`` in each group of ``codes`` (``0..n-1``), as a code.

    >>> _majorities(np.array([0, 0, 0, 1, 1]), np.array(["no", "yes", "yes", "no", "no"]))
    array([1, 0])
    """
    label_codes, distinct = pd.factorize(labels)
    n_groups, n_labels = int(codes.max()) + 1, len(distinct)
    counts = np.bincount(codes * n_labels + label_codes, minlength=n_groups * n_labels)
    return counts.reshape(n_groups, n_labels).argmax(axis=1)


def _time_parts(frame: pd.DataFrame, schema: Schema, column: str, val_fraction: float,
                test_fraction: float) -> list[np.ndarray]:
    """The train, validation and test row positions of a split by the time in ``column``,
    each latest first: the test part its latest rows, the validation part those before them,
    every row of one time in one part (a part ends after the last row of the time its share
    reaches into).

    Raises:
        DataError: the column holds neither dates nor numbers, or too few times for a
            training part.
    """
    when = _times(frame, schema, column)
    latest_first = np.argsort(-np.nan_to_num(when, nan=-np.inf), kind="stable")
    later = -np.nan_to_num(when[latest_first], nan=-np.inf)  # ascending: later times first
    n_test, n_val = _part_sizes(len(when), val_fraction, test_fraction)
    test_end = int(np.searchsorted(later, later[n_test - 1], "right")) if n_test else 0
    val_end = (int(np.searchsorted(later, later[min(test_end + n_val, len(later)) - 1], "right"))
               if n_val else test_end)
    if val_end >= int(np.isfinite(when).sum()):
        raise DataError(f"--split-by {column!r}: too few distinct times to keep earlier rows "
                        "for training; name a column with more of them, or leave out "
                        "--split-by")
    return [latest_first[val_end:], latest_first[test_end:val_end], latest_first[:test_end]]


def _times(frame: pd.DataFrame, schema: Schema, column: str) -> np.ndarray:
    """The values of ``column`` as numbers in time order (dates as seconds); NaN where a row
    has none.

    Raises:
        DataError: the column holds neither dates nor numbers.
    """
    values = frame[column]
    kind = next(c.kind for c in schema.columns if c.name == column)
    when = as_floats(values) if kind is not ColumnKind.DATETIME else np.full(len(values), np.nan)
    if np.isnan(when).all() and not pd.api.types.is_numeric_dtype(values):  # dates, then
        since = parse_dates(values, day_first(values)) - pd.Timestamp(0, tz="UTC")
        when = since.dt.total_seconds().to_numpy()  # NaN where a value is not a date
    if np.isnan(when).all():
        raise DataError(f"--split-by {column!r}: its values ({str(values.iloc[0])!r}, ...) are "
                        "neither dates nor numbers; name a column whose order is time")
    return when


def _check_parts(schema: Schema, option: str, column: str,
                 parts: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    """Raise :class:`DataError` where the rows that ``option`` held out by ``column`` leave
    a class out of the training rows, or a validation or test part with one class (nothing
    to rank)."""
    for name, part in zip(("training", "validation", "test"), parts, strict=True):
        held = set(label_strings(part[schema.target]))
        missing = [c for c in schema.classes if c not in held]
        if part.empty or not missing or (name != "training" and len(held) > 1):
            continue
        raise DataError(f"{option} {column!r}: the {name} rows hold no {missing[0]!r}; choose "
                        f"another --test-fraction, or leave out {option} for a random split")


def _check_class_sizes(schema: Schema, sizes: list[int], test_fraction: float) -> None:
    need = MIN_ROWS_PER_CLASS  # also without a test split: folds need a few rows of each class
    rare = [(label, size) for label, size in zip(schema.classes, sizes, strict=True)
            if size < need]
    if rare:
        shown = ", ".join(f"{label!r} has {counted(size, 'row')}"
                          for label, size in rare[:3])
        more = f" (and {len(rare) - 3} more)" if len(rare) > 3 else ""
        parts = ("train, validation and test" if test_fraction > 0
                 else "training and validation folds")
        raise DataError(f"target {schema.target!r}: class {shown}{more}; each class needs at "
                        f"least {need} rows to appear in {parts}: add rows or merge rare "
                        "classes")


def _part_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """The test and validation rows of ``n``: each fraction's share, at least one row."""
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    return n_test, n_val


def _cut(idx: np.ndarray, val_fraction: float, test_fraction: float) -> list[np.ndarray]:
    n_test, n_val = _part_sizes(len(idx), val_fraction, test_fraction)
    return [idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test]]
