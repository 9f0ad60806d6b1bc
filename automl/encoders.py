"""One fitted encoder per column kind: how a used column becomes the matrix's features.

Each encoder is fitted on the training rows of one column (``fit``), encodes any rows of it
(``transform``: its continuous features, under each scaling of
:data:`~automl.config.SCALINGS`, its 0/1 features and its level codes, see :class:`Encoded`),
says what it does in words (``describe``), and saves its whole state as plain JSON
(``to_dict``/``from_dict``): :class:`NumericEncoder`, :class:`DatetimeEncoder`,
:class:`BooleanEncoder`, :class:`CategoricalEncoder` and :class:`TextEncoder`, by the column's
:class:`~automl.data.ColumnKind` (:func:`fit_encoder`, :func:`encoder_from_dict`).
:class:`automl.features.Preprocessor` puts their features together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtri
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import QuantileTransformer

from automl.data import ColumnKind, label_strings
from automl.words import counted
from automl.written import (
    are_times,
    as_floats,
    day_first,
    not_numbers,
    parse_dates,
    units_in,
)

MAX_ONEHOT_LEVELS = 32
#: A categorical column of more levels is embedded instead: its levels seen at least
#: :data:`MIN_EMBEDDED_COUNT` times in training, the :data:`MAX_EMBEDDED_LEVELS` most frequent
#: (code 0 stands for every other level, unseen ones included).
MIN_EMBEDDED_COUNT = 2
MAX_EMBEDDED_LEVELS = 10_000
#: A text column's words become 0/1 features: those in at least :data:`MIN_WORD_SHARE` of
#: the training rows, the :data:`MAX_TEXT_WORDS` most frequent.
MIN_WORD_SHARE = 0.02
MAX_TEXT_WORDS = 32
TEXT_FIT_ROWS = 100_000  # a text column's words are learned from a sample of this many rows
_NAMED_WORDS = 5  # the words a column's description names
N_QUANTILES = 1000
_DATE_PARTS = ("year", "month", "day", "dayofweek", "hour")
_DATE_ATTRS = {"dayofweek": "day_of_week"}  # saved state keeps the old part name
_TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "1.0"})
_YES_NO_WORDS = _TRUE_WORDS | {"false", "no", "n", "f", "0", "0.0"}
SMOOTH_CLIP = 3.0  # robust scaling's soft bound: x / sqrt(1 + (x / 3)²) stays inside ±3


class Scaled(NamedTuple):
    """One continuous feature under each scaling of :data:`~automl.config.SCALINGS`."""

    quantile: np.ndarray
    robust: np.ndarray


class Encoded(NamedTuple):
    """One column's features, by where they go in the matrix: continuous, 0/1, level codes."""

    continuous: list[Scaled]
    binary: list[np.ndarray]
    codes: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True, slots=True)
class QuantileNormal:
    """One continuous value mapped to a standard normal by its training quantiles, and
    robust-scaled by them.

    The quantiles are scikit-learn's ``QuantileTransformer`` fit (every row, no subsampling).
    The mapping is its ``output_distribution="normal"`` formula except at the ends: a value tied
    with the lowest (highest) quantile keeps its mid-rank, where scikit-learn sends it to the
    bound (about ∓5.2) - zero-inflated columns and the first month would all become outliers.
    The robust scaling (Holzmüller et al. 2024, RealMLP) centres on the median, divides by the
    interquartile range (half the range if that is 0) and smooth-clips to ±:data:`SMOOTH_CLIP`:
    ``z / sqrt(1 + (z / 3)²)``; it keeps the column's shape, which a linear model needs.
    Missing values take the training median (and a 0/1 flag if training had any).
    """

    quantiles: tuple[float, ...]
    median: float
    indicator: bool

    @classmethod
    def fit(cls, x: np.ndarray) -> QuantileNormal:
        """Quantiles (at most :data:`N_QUANTILES`) and median of the finite values of ``x``."""
        known = x[np.isfinite(x)]
        if known.size < 2:  # none or one value: two equal quantiles (0 when none)
            known = np.resize(known if known.size else np.zeros(1), 2)
        fitted = QuantileTransformer(n_quantiles=min(N_QUANTILES, known.size),
                                     output_distribution="normal", subsample=None)
        fitted.fit(known.reshape(-1, 1))
        return cls(quantiles=tuple(fitted.quantiles_[:, 0].tolist()),
                   median=float(np.median(known)), indicator=bool(np.isnan(x).any()))

    def normal(self, x: np.ndarray) -> np.ndarray:
        """Standard-normal scores of ``x``, missing values median-imputed, clipped to ±5.2."""
        x = np.where(np.isfinite(x), x, self.median)
        q = np.asarray(self.quantiles)
        ref = np.linspace(0, 1, len(q))
        u = 0.5 * (np.interp(x, q, ref) - np.interp(-x, -q[::-1], -ref[::-1]))
        return ndtri(np.clip(u, 1e-7, 1 - 1e-7))

    def robust(self, x: np.ndarray) -> np.ndarray:
        """Robust-scaled, smooth-clipped ``x`` (see the class docstring), missing values 0."""
        x = np.where(np.isfinite(x), x, self.median)
        q = np.asarray(self.quantiles)
        q25, q75 = np.interp([0.25, 0.75], np.linspace(0, 1, len(q)), q)
        spread = (q75 - q25) or 0.5 * (q[-1] - q[0])
        z = (x - self.median) / spread if spread > 0 else np.zeros_like(x)
        return z / np.sqrt(1 + (z / SMOOTH_CLIP) ** 2)

    def scaled(self, x: np.ndarray) -> Scaled:
        """``x`` under both scalings."""
        return Scaled(quantile=self.normal(x), robust=self.robust(x))

    def flags(self, x: np.ndarray) -> list[np.ndarray]:
        """The missing-value indicator of ``x`` (none when training had no missing value)."""
        return [(~np.isfinite(x)).astype(np.float32)] if self.indicator else []

    def to_dict(self) -> dict[str, Any]:
        """The saved fields: ``quantiles``, ``median``, ``indicator``."""
        return {"quantiles": list(self.quantiles), "median": self.median,
                "indicator": self.indicator}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantileNormal:
        """The inverse of :meth:`to_dict`."""
        return cls(quantiles=tuple(map(float, d["quantiles"])), median=float(d["median"]),
                   indicator=bool(d["indicator"]))


@dataclass(frozen=True, slots=True)
class NumericEncoder:
    """A numeric column: one continuous feature, plus a missing flag if needed; ``hours``: its
    values are times or durations (``22:20``, ``2h 50m``), read as hours; ``units``: the units
    written after its numbers (``1248 CC``), the only ones new rows are read in."""

    values: QuantileNormal
    hours: bool = False
    units: tuple[str, ...] = ()
    kind: ClassVar[str] = "numeric"
    #: What each of its values must be, one and many (what :meth:`unreadable` values are not).
    holds: ClassVar[tuple[str, str]] = ("a number", "numbers")

    @classmethod
    def fit(cls, values: pd.Series) -> NumericEncoder:
        """Learn how the column is written and its quantiles from the training ``values``."""
        hours = are_times(values)
        return cls(QuantileNormal.fit(as_floats(values, hours)), hours,
                   () if hours else units_in(values))

    def transform(self, values: pd.Series) -> Encoded:
        """The features of ``values``: one continuous, and its missing flag if any."""
        x = as_floats(values, self.hours, self.units or None)
        return Encoded([self.values.scaled(x)], self.values.flags(x))

    def unreadable(self, values: pd.Series) -> pd.Series:
        """The ``values`` that are there but that :meth:`transform` cannot read (another unit
        than the training one's among them): it reads them as missing."""
        return not_numbers(values, self.hours, self.units or None)

    @property
    def n_continuous(self) -> int:
        """How many continuous features :meth:`transform` gives."""
        return 1

    def describe(self) -> str:
        """What is done to the column, in words."""
        text = "quantile → normal, or robust-scaled"
        return text + ", median-imputed + missing flag" if self.values.indicator else text

    def typical(self) -> float:
        """A value the column could hold: the training median."""
        return self.values.median

    def to_dict(self) -> dict[str, Any]:
        """The saved JSON: ``kind``, the :class:`QuantileNormal` fields and, for times and
        durations, ``hours``, for numbers with units, ``units``."""
        return {"kind": self.kind, **self.values.to_dict(),
                **({"hours": True} if self.hours else {}),
                **({"units": list(self.units)} if self.units else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericEncoder:
        """The inverse of :meth:`to_dict` (a model saved before units were kept reads any)."""
        return cls(QuantileNormal.from_dict(d), d.get("hours", False), tuple(d.get("units", ())))


def _date_parts(values: pd.Series, dayfirst: bool) -> dict[str, np.ndarray]:
    stamps = parse_dates(values, dayfirst)
    return {part: getattr(stamps.dt, _DATE_ATTRS.get(part, part)).astype(float).to_numpy()
            for part in _DATE_PARTS}


@dataclass(frozen=True, slots=True)
class DatetimeEncoder:
    """A date column: its varying parts (year, month, ...), each mapped like a numeric column;
    ``dayfirst``: its ``N/N/YYYY`` dates are day/month/year (see :func:`automl.written.day_first`;
    encoders saved before it read month first)."""

    parts: dict[str, QuantileNormal]
    dayfirst: bool = False
    kind: ClassVar[str] = "datetime"
    holds: ClassVar[tuple[str, str]] = ("a date", "dates")

    @classmethod
    def fit(cls, values: pd.Series) -> DatetimeEncoder:
        """Learn the column's date order, keep the date parts that vary in ``values`` and
        learn their quantiles."""
        dayfirst = day_first(values)
        parts = _date_parts(values, dayfirst)
        return cls({p: QuantileNormal.fit(x) for p, x in parts.items() if np.nanstd(x) > 0},
                   dayfirst)

    def transform(self, values: pd.Series) -> Encoded:
        """One continuous feature per kept part, then their missing flags."""
        parts = _date_parts(values, self.dayfirst)
        cont, bits = [], []
        for part, encoder in self.parts.items():
            cont.append(encoder.scaled(parts[part]))
            bits += encoder.flags(parts[part])
        return Encoded(cont, bits)

    def unreadable(self, values: pd.Series) -> pd.Series:
        """The ``values`` that are there but are not dates: :meth:`transform` reads them as
        missing."""
        known = values.dropna()
        return known[parse_dates(known, self.dayfirst).isna().to_numpy()]

    @property
    def n_continuous(self) -> int:
        """How many continuous features :meth:`transform` gives."""
        return len(self.parts)

    def describe(self) -> str:
        """What is done to the column, in words."""
        return f"date parts ({', '.join(self.parts)}), quantile → normal, or robust-scaled"

    def typical(self) -> str:
        """A value the column could hold."""
        return "2000-01-01"

    def to_dict(self) -> dict[str, Any]:
        """The saved JSON: ``kind``, ``parts`` (part name → :class:`QuantileNormal` fields)
        and ``dayfirst``."""
        return {"kind": self.kind, "parts": {p: e.to_dict() for p, e in self.parts.items()},
                "dayfirst": self.dayfirst}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatetimeEncoder:
        """The inverse of :meth:`to_dict`."""
        return cls({p: QuantileNormal.from_dict(s) for p, s in d["parts"].items()},
                   d.get("dayfirst", False))


@dataclass(frozen=True, slots=True)
class BooleanEncoder:
    """A yes/no column: one 0/1 feature (true words → 1), plus a missing flag if needed.

    ``yes_no``: its training values were all true and false words (``yes``/``no``, ``1``/``0``,
    ...), so another word (``maybe``) is not one and is read as missing; a column of one value
    and blanks (a flag of where it is given) reads any value as given. Encoders saved before
    ``yes_no`` read every other word as false."""

    indicator: bool
    yes_no: bool = False
    kind: ClassVar[str] = "boolean"
    holds: ClassVar[tuple[str, str]] = ("a yes/no value", "yes/no values")

    @classmethod
    def fit(cls, values: pd.Series) -> BooleanEncoder:
        """Note whether the training ``values`` have gaps and are all true or false words."""
        return cls(bool(values.isna().any()),
                   bool(_words(values.dropna()).isin(_YES_NO_WORDS).all()))

    def transform(self, values: pd.Series) -> Encoded:
        """No continuous feature; the 0/1 value and its flag (:meth:`unreadable` values are
        missing: 0, flagged)."""
        words = _words(values)
        bits = [words.isin(_TRUE_WORDS).fillna(False).to_numpy(dtype=np.float32)]
        if self.indicator:
            missing = values.isna().to_numpy()
            if self.yes_no:
                missing = missing | ~words.isin(_YES_NO_WORDS).fillna(False).to_numpy()
            bits.append(missing.astype(np.float32))
        return Encoded([], bits)

    def unreadable(self, values: pd.Series) -> pd.Series:
        """The ``values`` that are there but, in a yes/no column, are neither true nor false
        words: :meth:`transform` reads them as missing."""
        known = values.dropna()
        if not self.yes_no:
            return known.iloc[:0]
        return known[~_words(known).isin(_YES_NO_WORDS).to_numpy()]

    @property
    def n_continuous(self) -> int:
        """How many continuous features :meth:`transform` gives."""
        return 0

    def describe(self) -> str:
        """What is done to the column, in words."""
        return "0/1" + (" + missing flag" if self.indicator else "")

    def typical(self) -> str:
        """A value the column could hold."""
        return "true"

    def to_dict(self) -> dict[str, Any]:
        """The saved JSON: ``kind``, ``indicator`` and ``yes_no``."""
        return {"kind": self.kind, "indicator": self.indicator, "yes_no": self.yes_no}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BooleanEncoder:
        """The inverse of :meth:`to_dict`."""
        return cls(bool(d["indicator"]), bool(d.get("yes_no", False)))


def _words(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.lower()


def _levels(values: pd.Series) -> pd.Series:
    """Each value's level; numbers as the target's labels are (``94107.0`` → ``94107``), so a
    code column reads the same whether or not a file's missing cells made it float."""
    if pd.api.types.is_numeric_dtype(values):
        values = label_strings(values)
    return values.astype("string").str.strip().fillna("<missing>")


@dataclass(frozen=True, slots=True)
class CategoricalEncoder:
    """A categorical column: one-hot of its levels, or, with more than
    :data:`MAX_ONEHOT_LEVELS`, a level code for the network's embedding and the level's
    frequency.

    ``levels``: the one-hot levels. ``embedded``: the embedded levels (code ``i + 1`` for
    ``embedded[i]``; 0 for any other level); :data:`MIN_EMBEDDED_COUNT` and
    :data:`MAX_EMBEDDED_LEVELS` say which. ``log_counts``: ``log1p`` training count of every
    level seen twice or more, one continuous feature scaled to at most 1. Encoders saved before
    embeddings one-hot the 32 most frequent levels and add the frequency; they read back so.
    """

    levels: tuple[str, ...]
    log_counts: dict[str, float] | None = None
    embedded: tuple[str, ...] = ()
    kind: ClassVar[str] = "categorical"
    holds: ClassVar[tuple[str, str]] = ("a level the model learned", "levels the model learned")
    #: How :meth:`transform` reads an :meth:`unreadable` value: every one-hot column off.
    read_as: ClassVar[str] = "as none of them"

    @classmethod
    def fit(cls, values: pd.Series) -> CategoricalEncoder:
        """Count the training levels (missing is a level of its own)."""
        counts = _levels(values).value_counts()
        if len(counts) <= MAX_ONEHOT_LEVELS:
            return cls(tuple(counts.index.tolist()))
        embedded = counts[counts >= MIN_EMBEDDED_COUNT].index[:MAX_EMBEDDED_LEVELS]
        return cls((), np.log1p(counts[counts > 1]).round(4).to_dict(),
                   tuple(embedded.tolist()))

    def transform(self, values: pd.Series) -> Encoded:
        """The frequency feature if any (the same under both scalings: it is already in
        [0, 1]), the one-hot columns, and the level code if embedded."""
        levels = _levels(values)
        bits = [(levels == level).to_numpy(dtype=np.float32) for level in self.levels]
        codes = ()
        if self.embedded:
            index = pd.Index(self.embedded)
            codes = ((index.get_indexer(levels) + 1).astype(np.float32),)
        if self.log_counts is None:
            return Encoded([], bits, codes)
        frequency = levels.map(self.log_counts).fillna(0.0).to_numpy(dtype=np.float32)
        scale = max(self.log_counts.values(), default=1.0) or 1.0
        scaled = frequency / scale
        return Encoded([Scaled(quantile=scaled, robust=scaled)], bits, codes)

    def unreadable(self, values: pd.Series) -> pd.Series:
        """The ``values`` that are there but are none of a one-hot column's levels (``RED``
        where training had ``red``). An embedded column, or one with the frequency of the rest,
        learned a code for the levels it keeps no column for: none is unreadable there."""
        known = values.dropna()
        if self.embedded or self.log_counts is not None:
            return known.iloc[:0]
        return known[~_levels(known).isin(self.levels).to_numpy()]

    @property
    def n_continuous(self) -> int:
        """How many continuous features :meth:`transform` gives."""
        return int(self.log_counts is not None)

    @property
    def cardinality(self) -> int:
        """How many codes the level code takes (0: not embedded)."""
        return len(self.embedded) + 1 if self.embedded else 0

    def describe(self) -> str:
        """What is done to the column, in words."""
        if self.embedded:
            return f"embedded ({len(self.embedded)} levels, the rest as one) + frequency"
        extra = " + frequency of the rest" if self.log_counts is not None else ""
        return f"one-hot ({len(self.levels)} levels){extra}"

    def typical(self) -> str:
        """A value the column could hold: its most frequent training level."""
        return (self.levels or self.embedded or ("",))[0]

    def to_dict(self) -> dict[str, Any]:
        """The saved JSON: ``kind``, ``levels`` and, with many levels, ``log_counts`` and
        ``embedded``."""
        d: dict[str, Any] = {"kind": self.kind, "levels": list(self.levels)}
        if self.log_counts is not None:
            d["log_counts"] = dict(self.log_counts)
        if self.embedded:
            d["embedded"] = list(self.embedded)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CategoricalEncoder:
        """The inverse of :meth:`to_dict`."""
        log_counts = d.get("log_counts")
        return cls(tuple(d["levels"]), None if log_counts is None else dict(log_counts),
                   tuple(d.get("embedded", ())))


def _texts(values: pd.Series) -> pd.Series:
    """A text column as strings, missing values empty (no word)."""
    return values.astype("string").fillna("")


@dataclass(frozen=True, slots=True)
class TextEncoder:
    """A free-text column (names, titles, descriptions): one 0/1 feature per word of
    ``words``, set when the row's text holds it. The words are learned from the training rows:
    each in at least :data:`MIN_WORD_SHARE` of them but not in all, the :data:`MAX_TEXT_WORDS`
    most frequent, as scikit-learn's ``CountVectorizer`` reads words (lower case, two letters
    or digits or more), English stop words (``the``, ``and``, ``for``: scikit-learn's list)
    left out. A column with no such word gives no feature."""

    words: tuple[str, ...]
    kind: ClassVar[str] = "text"

    @classmethod
    def fit(cls, values: pd.Series) -> TextEncoder:
        """Learn the frequent words of the training ``values`` (of a sample of
        :data:`TEXT_FIT_ROWS` of them, which finds the same words), most frequent first."""
        if len(values) > TEXT_FIT_ROWS:
            values = values.sample(TEXT_FIT_ROWS, random_state=0)
        vectorizer = CountVectorizer(binary=True, min_df=MIN_WORD_SHARE, stop_words="english")
        try:
            rows = vectorizer.fit_transform(_texts(values))
        except ValueError:  # no word at all, or none frequent enough
            return cls(())
        counts = np.asarray(rows.sum(axis=0)).ravel()
        varying = np.flatnonzero(counts < len(values))  # a word in every row tells nothing
        kept = varying[np.argsort(-counts[varying], kind="stable")][:MAX_TEXT_WORDS]
        return cls(tuple(vectorizer.get_feature_names_out()[kept].tolist()))

    def transform(self, values: pd.Series) -> Encoded:
        """One 0/1 feature per word, in the order of :attr:`words`."""
        if not self.words:
            return Encoded([], [])
        counts = CountVectorizer(binary=True, vocabulary=self.words).transform(_texts(values))
        dense = counts.toarray().astype(np.float32)
        return Encoded([], list(dense.T))

    @property
    def n_continuous(self) -> int:
        """How many continuous features :meth:`transform` gives: none."""
        return 0

    def describe(self) -> str:
        """What is done to the column, in words (the most frequent named)."""
        share = f"{MIN_WORD_SHARE:.0%} of the rows"
        if not self.words:
            return f"no word in {share}: nothing learned"
        named = ", ".join(self.words[:_NAMED_WORDS]) + (
            ", ..." if len(self.words) > _NAMED_WORDS else "")
        return f"{counted(len(self.words), 'word')} in {share} or more, each 0/1: {named}"

    def typical(self) -> str:
        """A value the column could hold."""
        return ""

    def to_dict(self) -> dict[str, Any]:
        """The saved JSON: ``kind`` and ``words``."""
        return {"kind": self.kind, "words": list(self.words)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextEncoder:
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(d["words"]))


ColumnEncoder = NumericEncoder | DatetimeEncoder | BooleanEncoder | CategoricalEncoder | TextEncoder
#: The encoders that may meet values they cannot read (``unreadable``: not what the column
#: ``holds``), read as missing unless the encoder's ``read_as`` says otherwise; a text column
#: reads every value.
READ_CHECKED = (NumericEncoder, DatetimeEncoder, BooleanEncoder, CategoricalEncoder)
_ENCODERS: dict[str, type[ColumnEncoder]] = {
    e.kind: e for e in (NumericEncoder, DatetimeEncoder, BooleanEncoder, CategoricalEncoder,
                        TextEncoder)}


def fit_encoder(kind: ColumnKind, values: pd.Series) -> ColumnEncoder:
    """The encoder of a used column of ``kind``, fitted on its training ``values``."""
    return _ENCODERS[kind.value].fit(values)


def encoder_from_dict(d: dict[str, Any]) -> ColumnEncoder:
    """An encoder from its saved JSON (:meth:`to_dict` of any encoder, by its ``kind``)."""
    return _ENCODERS[d["kind"]].from_dict(d)
