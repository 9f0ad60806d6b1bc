"""A read CSV's schema and task, its fingerprint and its target's values (how its rows are
held out is :mod:`automl.splits`').

Everything here is plain pandas/numpy and pure apart from :func:`load_dataset`, which reads
the file (:mod:`automl.reading`); how a value is written (a number with a unit, a date) is
:mod:`automl.written`'s. Bad input raises :class:`~automl.errors.DataError` with a
message that names the problem and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.config import NO_CHOICES, ColumnChoices, TaskType
from automl.errors import DataError
from automl.reading import read_csv
from automl.words import counted
from automl.written import (
    are_dates,
    as_floats,
    date_order_note,
    missing_words,
    not_numbers,
    units_in,
    written_numbers,
)

MAX_CLASSES_FOR_INTEGER_TARGET = 20
MIN_ROWS_PER_CLASS = 3
#: A target with no class of :data:`MIN_ROWS_PER_CLASS` rows among this many is an id or a
#: date, not classes (fewer rows: a table too small, which the split refuses).
_MIN_ROWS_FOR_AN_ID = 20
MIN_ROWS_REGRESSION = 10
#: A column of this many levels or more, each a few of a small set of words (job titles), is
#: read as text: its words are learned across levels (see :func:`_titles`).
TITLES_MIN_LEVELS = 50
TITLES_MAX_WORD_SHARE = 0.2
_BOOL_WORDS = ({"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})
_ID_NAME_RE = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index)$", re.IGNORECASE)
_CAMEL_ID_RE = re.compile(r"[a-z](Id|ID)$")


class ColumnKind(str, Enum):
    """What a feature column holds; the last four are dropped."""

    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"  # its frequent words (see automl.encoders.TextEncoder)
    CONSTANT = "constant"
    ID = "id-like"
    FREE_TEXT = "free text"  # text as studies made before TEXT dropped it
    IGNORED = "ignored"  # dropped by the user (--drop)

    @property
    def is_used(self) -> bool:
        return self in (ColumnKind.NUMERIC, ColumnKind.BOOLEAN, ColumnKind.CATEGORICAL,
                        ColumnKind.DATETIME, ColumnKind.TEXT)


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSpec:
    """One feature column: its name, inferred kind, and why (for dropped or coerced columns)."""

    name: str
    kind: ColumnKind
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """The inferred shape of a dataset: the target, the task and every feature column.

    ``classes`` holds the original class labels as strings (empty for regression); a class's
    code is its index. ``class_counts`` are the rows of each class (same order);
    ``positive_class`` is the label binary metrics (precision, recall, F1, PR-AUC) and the
    decision threshold are about (binary only; see :func:`infer_positive`).
    ``n_missing_target`` rows were dropped because their target was empty.
    ``target_units``: the units a regression target was written in (``1.2 kg`` beside
    ``800 g``; see :func:`~automl.written.units_in`), which a labelled file's target is read
    in (in the same reference unit, another measure's as missing).
    ``notes`` tell the user what was read or matched differently from the file as written
    (delimiter, encoding, stripped headers, a forgiving ``--target`` match); ``warnings`` what
    to act on before trusting the model (a column that gives the target away, see
    :mod:`automl.leaks`).
    """

    target: str
    task: TaskType
    columns: tuple[ColumnSpec, ...]
    classes: tuple[str, ...] = ()
    class_counts: tuple[int, ...] = ()
    positive_class: str | None = None
    n_rows: int = 0
    n_missing_target: int = 0
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    target_units: tuple[str, ...] = ()  # a regression target's units (see units_in)

    @property
    def minority_share(self) -> float | None:
        """The smallest class's share of the rows (``None``: regression or no counts)."""
        if not self.class_counts:
            return None
        return min(self.class_counts) / sum(self.class_counts)

    @property
    def positive_code(self) -> int:
        """The class code of :attr:`positive_class` (1 when unset: older schemas)."""
        if self.positive_class in self.classes:
            return self.classes.index(self.positive_class)  # type: ignore[arg-type]
        return 1

    @property
    def used(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.kind.is_used)

    @property
    def dropped(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if not c.kind.is_used)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; :meth:`from_dict` inverts it."""
        return {
            "target": self.target, "task": self.task.value, "classes": list(self.classes),
            "class_counts": list(self.class_counts), "positive_class": self.positive_class,
            "n_rows": self.n_rows, "n_missing_target": self.n_missing_target,
            "notes": list(self.notes), "warnings": list(self.warnings),
            "columns": [{"name": c.name, "kind": c.kind.value, "note": c.note}
                        for c in self.columns],
            "target_units": list(self.target_units),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        columns = tuple(ColumnSpec(name=c["name"], kind=ColumnKind(c["kind"]), note=c["note"])
                        for c in d["columns"])
        return cls(target=d["target"], task=TaskType(d["task"]), columns=columns,
                   classes=tuple(d["classes"]),
                   class_counts=tuple(d.get("class_counts", ())),
                   positive_class=d.get("positive_class"), n_rows=d["n_rows"],
                   n_missing_target=d["n_missing_target"], notes=tuple(d.get("notes", ())),
                   warnings=tuple(d.get("warnings", ())),
                   target_units=tuple(d.get("target_units", ())))


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A loaded CSV: rows with a known target, its schema, and the raw file's fingerprint."""

    frame: pd.DataFrame
    schema: Schema
    fingerprint: str


# ---------------------------------------------------------------------------------------- schema
#: The kind each option of :class:`~automl.config.ColumnChoices` gives its columns.
CHOSEN_KINDS = {"--numeric": ColumnKind.NUMERIC, "--categorical": ColumnKind.CATEGORICAL,
                "--text": ColumnKind.TEXT, "--drop": ColumnKind.IGNORED}


def resolve_target(frame: pd.DataFrame, target: str | None) -> str:
    """The target column's name: ``target`` matched forgivingly, or the last column.

    Raises:
        DataError: no column matches; the message lists the closest names.
    """
    if target is None:
        return str(frame.columns[-1])
    found = find_column(frame.columns, target)
    if found is None:
        raise DataError(f"target column {target!r} not found; {_closest(frame.columns, target)} "
                        "(use --target NAME)")
    return found


def find_column(columns: Iterable[object], name: str) -> str | None:
    """Column ``name``, else the only one equal to it but for case and surrounding spaces."""
    names = [str(c) for c in columns]
    if name in names:
        return name
    folded = [c for c in names if c.strip().casefold() == name.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def named_column(columns: Iterable[object], name: str, option: str, where: str = "") -> str:
    """The one of ``columns`` that ``option`` names ``name`` (see :func:`find_column`).

    Raises:
        DataError: no column matches (``where``: the file, for the message); the message
            lists the closest names.
    """
    columns = [str(c) for c in columns]
    found = find_column(columns, name)
    if found is None:
        raise DataError(f"{option} {name!r}: no such column{f' in {where}' if where else ''}; "
                        f"{_closest(columns, name)}")
    return found


def _closest(columns: Iterable[object], name: str) -> str:
    """``did you mean ...?`` with the closest column names, else the first ten names."""
    folded = {str(c).strip().casefold(): str(c) for c in columns}
    matches = difflib.get_close_matches(name.strip().casefold(), list(folded), n=3, cutoff=0.5)
    close = [folded[m] for m in matches]
    return f"did you mean {', '.join(map(repr, close))}?" if close else (
        f"the columns are {', '.join(map(repr, list(folded.values())[:10]))}")


def resolve_choices(frame: pd.DataFrame, target: str,
                    choices: ColumnChoices) -> dict[str, str]:
    """The option that chose each column of ``choices`` (its names matched like the target's).

    Raises:
        DataError: a name matches no column or the target, or two names match one column.
    """
    resolved: dict[str, str] = {}
    for option, names in choices.options().items():
        for name in names:
            found = named_column(frame.columns, name, option)
            if found == target:
                raise DataError(f"{option} {name!r} is the target; leave it out of {option}")
            if resolved.get(found, option) != option:
                raise DataError(f"column {found!r} is given to both {resolved[found]} and "
                                f"{option}; give it one of them")
            resolved[found] = option
    return resolved


def infer_task(target: pd.Series, forced: TaskType | str | None = None) -> TaskType:
    """Regression for a numeric target with many distinct values, classification otherwise.

    >>> infer_task(pd.Series([0.0, 1.0, 1.0]))
    <TaskType.BINARY: 'binary'>
    >>> infer_task(pd.Series(range(100)) * 1.5)
    <TaskType.REGRESSION: 'regression'>
    """
    values = target.dropna()
    numeric = pd.Series(target_values(values), index=values.index)
    is_numeric = bool(numeric.notna().all()) and not pd.api.types.is_bool_dtype(values)
    if forced is not None:
        task = TaskType(forced)
        if task is TaskType.REGRESSION and not is_numeric:
            raise DataError(f"target {target.name!r} is not numeric, so it cannot be regressed; "
                            "drop --task regression or clean the column")
        n_classes = label_strings(values).nunique()
        if task is TaskType.BINARY and n_classes > 2:
            raise DataError(f"target {target.name!r} has {n_classes} classes, so it is not "
                            "binary; use --task multiclass or leave --task out")
        return task
    n_unique = values.nunique()
    integral = is_numeric and bool(np.all(np.mod(numeric.to_numpy(dtype=float), 1) == 0))
    if is_numeric and not (integral and n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET):
        return TaskType.REGRESSION
    n_classes = label_strings(values).nunique()  # "cat " and "cat" are one class
    return TaskType.BINARY if n_classes <= 2 else TaskType.MULTICLASS


def label_strings(values: pd.Series) -> pd.Series:
    """Class labels as strings, with float-coded integers shown as integers (``1.0`` → ``1``).

    >>> label_strings(pd.Series([1.0, 0.0, 1.0])).tolist()
    ['1', '0', '1']
    >>> label_strings(pd.Series([True, False])).tolist()
    ['True', 'False']
    """
    codes, distinct = pd.factorize(values)  # a million-row target has a handful of values
    labels = np.array([*_distinct_labels(pd.Series(distinct, dtype=object)), None], dtype=object)
    return pd.Series(labels[codes], index=values.index, name=values.name)


def _distinct_labels(distinct: pd.Series) -> list[str]:
    """The labels of a target's distinct (known) values: ``True``/``False``, integers for
    numbers that are all whole, else the text stripped."""
    if len(distinct) and all(isinstance(v, (bool, np.bool_)) for v in distinct):
        return [str(bool(v)) for v in distinct]
    numeric = pd.to_numeric(distinct, errors="coerce").astype(float)
    if len(distinct) and numeric.notna().all() and bool(np.all(np.mod(numeric, 1) == 0)):
        return [str(int(v)) for v in numeric]
    return [str(v).strip() for v in distinct]


def infer_column(series: pd.Series) -> ColumnSpec:
    """The kind of one feature column (see :class:`ColumnKind`), with a note on why.

    >>> infer_column(pd.Series(["a", "b", "a"], name="c")).kind
    <ColumnKind.CATEGORICAL: 'categorical'>
    """
    name, values = str(series.name), series.dropna()
    if values.empty:
        return ColumnSpec(name=name, kind=ColumnKind.CONSTANT, note="dropped: no values")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        x = values.to_numpy(dtype=float)  # no hashing of a million floats: min, max, compare
        if x.min() == x.max():
            return _one_value(name, has_gaps=len(values) < len(series))
        if bool(np.all((x == 0) | (x == 1))):
            return ColumnSpec(name=name, kind=ColumnKind.BOOLEAN)
        if _looks_like_id(values, len(series), name):
            return ColumnSpec(name=name, kind=ColumnKind.ID,
                              note="dropped: unique integers (a row number or key)")
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC)
    n_unique = values.nunique()
    if n_unique <= 1:
        return _one_value(name, has_gaps=len(values) < len(series))
    if _is_boolean(values):
        return ColumnSpec(name=name, kind=ColumnKind.BOOLEAN)
    if pd.api.types.is_numeric_dtype(values):
        if _looks_like_id(values, len(series), name):
            return ColumnSpec(name=name, kind=ColumnKind.ID,
                              note="dropped: unique integers (a row number or key)")
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC)
    return _infer_text_column(name, values.astype(str).str.strip(), len(series))


def _one_value(name: str, *, has_gaps: bool) -> ColumnSpec:
    """A column of one value: constant, or, with empty cells, a flag of where it is given (a
    ``Y`` or blank ``has_garage``: its missing flag holds all it says)."""
    if has_gaps:
        return ColumnSpec(name=name, kind=ColumnKind.BOOLEAN,
                          note="one value or empty: learned as given / not given")
    return ColumnSpec(name=name, kind=ColumnKind.CONSTANT, note="dropped: a single value")


def choose_column(series: pd.Series, option: str) -> ColumnSpec:
    """Column ``series`` of the kind ``option`` gives it (see :data:`CHOSEN_KINDS`).

    Raises:
        DataError: ``--numeric`` for a column with values that are not numbers, but for a
            few words standing for missing values (see :func:`~automl.written.missing_words`).
    """
    name, kind = str(series.name), CHOSEN_KINDS[option]
    action = "dropped" if kind is ColumnKind.IGNORED else "chosen"
    note = f"{action}: {option}"
    if kind is ColumnKind.NUMERIC and len(bad := not_numbers(series)):
        words = missing_words(series.dropna().astype(str).str.strip(), min_levels=0)
        if not words:
            raise DataError(f"{option} {name!r}: values such as {str(bad.iloc[0])!r} are not "
                            f"numbers; leave the column out of {option}")
        note += f"; {words}"
    return ColumnSpec(name=name, kind=kind, note=note)


def _is_boolean(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values):
        return set(np.unique(values.to_numpy())) <= {0, 1}
    words = set(values.astype(str).str.strip().str.lower().unique())
    return any(words <= pair for pair in _BOOL_WORDS)


def _looks_like_id(values: pd.Series, n_rows: int, name: str) -> bool:
    """Unique integers that count rows (a dense or sorted range) or are named like a key.

    Unique integers spread widely in random order (prices, incomes) stay numeric.
    """
    if n_rows < 20 or len(values) != n_rows:
        return False
    x = values.to_numpy(dtype=float)
    if not (pd.api.types.is_integer_dtype(values) or bool(np.all(np.mod(x, 1) == 0))):
        return False
    if values.nunique() != n_rows:
        return False
    dense = x.max() - x.min() < 2 * n_rows
    ordered = bool(np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0))
    named = bool(_ID_NAME_RE.search(name) or _CAMEL_ID_RE.search(name))
    return dense or ordered or named


def _infer_text_column(name: str, text: pd.Series, n_rows: int) -> ColumnSpec:
    sample = text.iloc[:2000]
    written = written_numbers(text)
    if written:
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC, note=written)
    if are_dates(sample):
        return ColumnSpec(name=name, kind=ColumnKind.DATETIME, note=date_order_note(text))
    words = missing_words(text)
    if words:
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC, note=words)
    distinct = pd.Series(text.unique())
    unique_share = len(distinct) / max(len(text), 1)
    if n_rows >= 20 and unique_share > 0.5:
        words = sample.str.count(" ").mean()
        if words >= 2:
            return ColumnSpec(name=name, kind=ColumnKind.TEXT)
        if unique_share > 0.95:
            return ColumnSpec(name=name, kind=ColumnKind.ID, note="dropped: unique strings")
    if len(distinct) >= TITLES_MIN_LEVELS and (titles := _titles(distinct)):
        return ColumnSpec(name=name, kind=ColumnKind.TEXT, note=titles)
    numeric = pd.to_numeric(distinct, errors="coerce")
    mixed = "mixed numbers and text" if numeric.notna().any() else ""
    return ColumnSpec(name=name, kind=ColumnKind.CATEGORICAL, note=mixed)


def _titles(levels: pd.Series) -> str:
    """The note of a column whose many levels are a few words in combination (``Senior Data
    Engineer``, ``Junior Sales Manager``): levels of two words or more on average, made of
    fewer distinct words than :data:`TITLES_MAX_WORD_SHARE` of the levels; else ``""``."""
    words = levels.str.lower().str.split()
    distinct = words.explode().nunique()
    if words.str.len().mean() < 2 or distinct >= TITLES_MAX_WORD_SHARE * len(levels):
        return ""
    return f"read as words: {counted(len(levels), 'level')} of {counted(distinct, 'word')}"


def infer_schema(frame: pd.DataFrame, target: str | None = None,
                 task: TaskType | str | None = None, positive: str | None = None,
                 choices: ColumnChoices = NO_CHOICES) -> Schema:
    """The schema of ``frame``: target (resolved), task, classes, their counts, the positive
    class of a binary target (``positive``, else inferred) and every feature column (of the
    kind ``choices`` gives it, else inferred). Rows without a target, and those of classes too
    rare to learn (see :func:`_rare_classes`), are left out of ``n_rows`` and ``classes``.

    Raises:
        DataError: no such target, no usable target values, one class only, no features,
            ``positive`` given for a non-binary target or not one of its labels, a choice
            that cannot be followed (see :func:`resolve_choices`, :func:`choose_column`).
    """
    return _schema_and_rows(frame, target, task, positive, choices)[0]


def _schema_and_rows(frame: pd.DataFrame, target: str | None, task: TaskType | str | None,
                     positive: str | None,
                     choices: ColumnChoices) -> tuple[Schema, pd.DataFrame]:
    """:func:`infer_schema`, and the rows of ``frame`` it learns from (``frame`` itself when
    it keeps them all)."""
    asked, target = target, resolve_target(frame, target)
    notes = (f"--target {asked!r} matched column {target!r}",) if asked not in (None, target) \
        else ()
    y = frame[target]
    known, words = known_target(y)
    notes += (f"target {target!r}: {words}", ) if words else ()
    if not known.any():
        raise DataError(f"target {target!r} has no values; choose another --target")
    n_missing = int((~known).sum())
    guess = TaskType(task) if task is not None else infer_task(y[known])
    labels = label_strings(y[known]) if guess.is_classification else None
    class_rows = labels.value_counts() if labels is not None else None
    if class_rows is not None:
        _refuse_unlearnable_classes(target, class_rows, default=asked is None)
    rare = _rare_classes(class_rows) if class_rows is not None else None
    if rare is not None:  # left out, like rows without a target
        kept = ~labels.isin(rare.index).to_numpy()
        known[known] = kept
        labels = labels[kept]
        notes += (_left_out_note(rare),)
    task_type = infer_task(y[known], task) if task is not None or rare is not None else guess
    classes: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    if task_type.is_classification:
        classes = tuple(sorted(labels.unique(), key=_natural_key))
        if len(classes) < 2:
            raise DataError(f"target {target!r} has a single class ({classes[0]!r}); "
                            "a classifier needs at least two")
        sizes = labels.value_counts()
        counts = tuple(int(sizes[c]) for c in classes)
    elif y[known].nunique() < 2:
        raise DataError(f"target {target!r} has a single value ({y[known].iloc[0]}); there is "
                        "nothing to learn: choose another --target")
    chosen = _positive_class(target, task_type, classes, counts, positive)
    if task is None:
        notes += _ordered_classes_note(classes)
    notes += _case_twins_note(classes)
    written = "" if task_type is not TaskType.REGRESSION or pd.api.types.is_numeric_dtype(y) \
        else written_numbers(y[known].astype(str).str.strip())
    notes += (f"target {target!r} read as numbers: {written}",) if written else ()
    rows = frame if known.all() else frame[known]
    options = resolve_choices(frame, target, choices)
    columns = tuple(choose_column(rows[c], options[c]) if c in options else infer_column(rows[c])
                    for c in frame.columns if c != target)
    if not any(c.kind.is_used for c in columns):
        raise DataError(f"no usable feature columns besides target {target!r}; "
                        "add feature columns to the CSV")
    return Schema(target=target, task=task_type, columns=columns, classes=classes,
                  class_counts=counts, positive_class=chosen, n_rows=len(rows),
                  n_missing_target=n_missing, notes=notes,
                  target_units=units_in(y[known]) if written else ()), rows


def _refuse_unlearnable_classes(target: str, sizes: pd.Series, default: bool) -> None:
    """Refuse a target most of whose rows are in classes of fewer than
    :data:`MIN_ROWS_PER_CLASS` rows (``sizes``: the rows of each class): one value a row (an
    id, a date, a name) or amounts the reader did not take for numbers. ``default``: the
    target is the last column, not chosen.

    Raises:
        DataError: such a target, in one line naming a value and the fix.
    """
    rare = sizes[sizes < MIN_ROWS_PER_CLASS]
    n_rows = int(sizes.sum())
    choose = ("pass --target with the column to predict (without it, the last column is the "
              "target)" if default else "choose another --target")
    if rare.sum() == n_rows >= _MIN_ROWS_FOR_AN_ID:
        raise DataError(f"target {target!r} has {len(sizes):,} different values in its "
                        f"{n_rows:,} rows (such as {rare.index[0]!r}), like an id or a "
                        f"date: there are no classes to learn; {choose}")
    if len(sizes) - len(rare) < 2 or 2 * rare.sum() <= n_rows:
        return  # learnable once the rare classes are left out, or a table the split refuses
    raise DataError(f"target {target!r}: {rare.sum():,} of its {n_rows:,} rows are in "
                    f"classes of fewer than {MIN_ROWS_PER_CLASS} rows (such as "
                    f"{rare.index[0]!r}), too few to learn; write numbers plainly (1234.5) "
                    f"to have them regressed, or {choose}")


def _rare_classes(sizes: pd.Series) -> pd.Series | None:
    """The classes of fewer than :data:`MIN_ROWS_PER_CLASS` rows (a label written once by
    mistake, a category seen twice) with their row counts (``sizes``: every class's), when at
    least two classes remain without them; else ``None`` (there is nothing to leave out, or
    the split refuses the table)."""
    rare = sizes[sizes < MIN_ROWS_PER_CLASS]
    return rare if len(rare) and len(sizes) - len(rare) >= 2 else None


def _left_out_note(rare: pd.Series) -> str:
    shown = ", ".join(f"{label!r} ({counted(n, 'row')})"
                      for label, n in rare.iloc[:3].items())
    more = f" and {len(rare) - 3} more" if len(rare) > 3 else ""
    return (f"{'class' if len(rare) == 1 else 'classes'} {shown}{more} left out: a class needs "
            f"at least {MIN_ROWS_PER_CLASS} rows to be learned and scored, so the model never "
            "predicts it; add rows of it to keep it")


def _ordered_classes_note(classes: tuple[str, ...]) -> tuple[str, ...]:
    """A note for a target read as 3+ classes that are all integers (a rating, a count): the
    classes are unordered unless the user says they are numbers."""
    if len(classes) < 3 or not all(c.lstrip("-").isdigit() for c in classes):
        return ()
    return (f"the {len(classes)} classes are integers, from {classes[0]} to {classes[-1]}, "
            "learned as unordered labels; --task regression learns them as ordered numbers",)


def _case_twins_note(classes: tuple[str, ...]) -> tuple[str, ...]:
    """A note for classes that differ only by case (``yes`` beside ``Yes``): likely one class
    written two ways, which the model learns as two."""
    groups: dict[str, list[str]] = {}
    for label in classes:
        groups.setdefault(label.casefold(), []).append(label)
    twins = [" and ".join(map(repr, g)) for g in groups.values() if len(g) > 1]
    if not twins:
        return ()
    return (f"classes {'; '.join(twins[:3])} differ only by case and are learned as different "
            "classes; write them one way in the CSV to merge them",)


def infer_positive(classes: tuple[str, ...], counts: tuple[int, ...]) -> str:
    """The positive class of a binary target: the minority class; on a tie, the second label.

    >>> infer_positive(("no", "yes"), (90, 10)), infer_positive(("0", "1"), (5, 5))
    ('yes', '1')
    """
    return classes[0] if counts[0] < counts[1] else classes[1]


def _positive_class(target: str, task: TaskType, classes: tuple[str, ...],
                    counts: tuple[int, ...], asked: str | None) -> str | None:
    if asked is None:
        return infer_positive(classes, counts) if task is TaskType.BINARY else None
    if task is not TaskType.BINARY:
        raise DataError(f"--positive-class is for binary targets; {target!r} is a "
                        f"{task.value} target")
    if str(asked) not in classes:
        shown = ", ".join(repr(c) for c in classes)
        raise DataError(f"--positive-class {asked!r} is not a label of target {target!r}; "
                        f"its labels are {shown}")
    return str(asked)


def _natural_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


# --------------------------------------------------------------------------------------- dataset
def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of the frame (header, dtypes, every cell): equal data, equal fingerprint."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update("\x1f".join(map(str, frame.dtypes)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def load_dataset(path: Path | str, target: str | None = None,
                 task: TaskType | str | None = None, positive: str | None = None,
                 choices: ColumnChoices = NO_CHOICES) -> Dataset:
    """Read, fingerprint and describe a CSV, keeping only the rows whose target is known
    (``positive``: the positive class of a binary target; ``choices``: kinds the user gave
    columns; see :func:`infer_schema`)."""
    frame, notes = read_csv(path)
    schema, rows = _schema_and_rows(frame, target, task, positive, choices)
    schema = replace(schema, notes=notes + schema.notes)
    digest = fingerprint(frame)
    if rows is not frame:  # the rows it learns from, a copy made once while inferring
        frame = rows.reset_index(drop=True)
    return Dataset(frame=frame, schema=schema, fingerprint=digest)


def known_target(y: pd.Series) -> tuple[pd.Series, str]:
    """The rows whose target is known, and, when a few words among the target's numbers stand
    for missing values (``unknown``, see :func:`~automl.written.missing_words`; more than
    :data:`MAX_CLASSES_FOR_INTEGER_TARGET` distinct numbers, so a regression target), the note
    saying that they are read as missing (their rows are dropped like empty ones); else an
    empty note."""
    known = y.notna()
    if pd.api.types.is_numeric_dtype(y) or not known.any():
        return known, ""
    text = y[known].astype(str).str.strip()
    words = missing_words(text, min_levels=MAX_CLASSES_FOR_INTEGER_TARGET + 1)
    if not words:
        return known, ""
    known[known] = ~np.isnan(as_floats(text))
    return known, words


def target_values(values: pd.Series, units: tuple[str, ...] = ()) -> np.ndarray:
    """A target's values as numbers (NaN where one is not): as written, or, when every value
    is text with thousands separators, a percent or a currency sign, or a unit, without them;
    given the ``units`` it was learned in (:attr:`Schema.target_units`), read in them (see
    :func:`~automl.written.as_floats`)."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    codes, distinct = pd.factorize(values)  # each distinct value read once
    text = pd.Series(distinct, dtype=object)
    numbers = (as_floats(text, units=units or None) if units or written_numbers(text.astype(str))
               else pd.to_numeric(text, errors="coerce").astype(float).to_numpy())
    return np.append(numbers, np.nan)[codes]


def encode_target(values: pd.Series, schema: Schema) -> np.ndarray:
    """Class codes (int64, index into ``schema.classes``) or float32 regression values."""
    if not schema.task.is_classification:
        return target_values(values, schema.target_units).astype(np.float32)
    codes = {label: i for i, label in enumerate(schema.classes)}
    return label_strings(values).map(codes).to_numpy(dtype=np.int64)
