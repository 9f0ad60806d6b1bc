"""Preprocessing fitted on the training split only, then conversion to tensors.

:class:`Preprocessor` turns a DataFrame into a float32 matrix: continuous features first (numeric
columns and date parts; the frequency of high-cardinality levels), once per scaling of
:data:`~automl.config.SCALINGS` (a block mapped to a normal distribution by the training
quantiles, then a block robust-scaled and smooth-clipped), then 0/1 features (booleans, one-hot
levels, missing indicators, a text column's words), then one level code per categorical column
of more than :data:`MAX_ONEHOT_LEVELS` levels, which the networks embed. Each network reads one
of the continuous blocks: the scaling is searched per trial. Each used column has one fitted
encoder, by kind: :class:`NumericEncoder`, :class:`DatetimeEncoder`, :class:`BooleanEncoder`,
:class:`CategoricalEncoder`, :class:`TextEncoder`. Their whole state is plain JSON
(:meth:`Preprocessor.to_dict`), so a saved model loads without unpickling code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtri
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import QuantileTransformer

from automl.config import SCALINGS, Scaling
from automl.data import ColumnKind, Schema, encode_target, label_strings
from automl.errors import DataError
from automl.splits import Splits
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
#: Rows :meth:`Preprocessor.transform` encodes at a time.
TRANSFORM_ROWS = 100_000
LOG_TARGET_SKEW = 1.0  # a non-negative regression target more skewed than this is log1p'd
_LOG_TARGET_MAX = 700.0  # log-space ceiling when decoding: expm1 stays finite in float64
_DATE_PARTS = ("year", "month", "day", "dayofweek", "hour")
_DATE_ATTRS = {"dayofweek": "day_of_week"}  # saved state keeps the old part name
_TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "1.0"})
SMOOTH_CLIP = 3.0  # robust scaling's soft bound: x / sqrt(1 + (x / 3)²) stays inside ±3


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorSplits:
    """Model-ready splits. ``y`` holds class codes (int64) or standardised targets (float32).

    The ``d_in`` features start with ``n_scalings`` blocks of ``n_num`` continuous features
    (candidates for numeric embeddings; one block per scaling of
    :data:`~automl.config.SCALINGS`, or one quantile block for models saved before there were
    two), then the 0/1 features, then one level code (a whole number stored as float32) per
    embedded categorical, whose code counts ``cardinalities`` lists. ``positive`` is the class
    code of a binary target's positive class (1 otherwise).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    d_in: int
    d_out: int
    n_num: int
    target_mean: float = 0.0
    target_std: float = 1.0
    target_log: bool = False
    positive: int = 1
    n_scalings: int = 1
    cardinalities: tuple[int, ...] = ()

    def to(self, device: torch.device | str) -> TensorSplits:
        """The same splits on ``device``."""
        moved = {k: getattr(self, k).to(device) for k in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return dataclasses.replace(self, **moved)

    def decode_target(self, values: np.ndarray) -> np.ndarray:
        """Regression outputs or ``y`` values back in target units (see :func:`decode_target`)."""
        return decode_target(values, self.target_mean, self.target_std, self.target_log)

    @property
    def n_rows(self) -> int:
        """Every row of the three splits (what ``--refit-all`` trains on)."""
        return len(self.y_train) + len(self.y_val) + len(self.y_test)

    @property
    def n_features(self) -> int:
        """How many inputs one network reads: one continuous block and the 0/1 features."""
        return self.d_in - (self.n_scalings - 1) * self.n_num


class Preprocessor:
    """Fit on training rows, then transform any rows with the same columns.

    >>> from automl.data import infer_schema
    >>> df = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": list("abab"), "y": [0, 1, 0, 1]})
    >>> pre = Preprocessor(infer_schema(df, "y")).fit(df)
    >>> pre.transform(df).shape   # x (quantile), x (robust), x missing-indicator, c=a, c=b
    (4, 5)
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.state: dict[str, ColumnEncoder] = {}  # used column name → its fitted encoder
        self.scalings: tuple[Scaling, ...] = SCALINGS  # the continuous blocks, in order
        self.target_mean, self.target_std = 0.0, 1.0
        self.target_log = False

    # ------------------------------------------------------------------------------------ fit
    def fit(self, train: pd.DataFrame) -> Preprocessor:
        """Learn every column's transform (and the target's scale) from ``train`` alone.

        A regression target is standardised; first ``log1p``-transformed when it is
        non-negative and its training skewness exceeds :data:`LOG_TARGET_SKEW` (prices,
        counts, incomes), so the network fits relative rather than absolute differences.
        """
        for spec in self.schema.used:
            self.state[spec.name] = fit_encoder(spec.kind, train[spec.name])
        if not self.schema.task.is_classification:
            y = encode_target(train[self.schema.target], self.schema).astype(np.float64)
            y = y[np.isfinite(y)]
            self.target_log = bool(y.size and y.min() >= 0 and _skewness(y) > LOG_TARGET_SKEW)
            if self.target_log:
                y = np.log1p(y)
            self.target_mean = float(y.mean()) if y.size else 0.0
            self.target_std = float(y.std() or 1.0) if y.size else 1.0
        return self

    # ------------------------------------------------------------------------------ transform
    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The float32 feature matrix of ``frame`` (rows in order), made
        :data:`TRANSFORM_ROWS` rows at a time, so a big table's encoded columns are never all
        held beside the matrix.

        Raises:
            DataError: a feature column seen in training is missing.
        """
        missing = [name for name in self.state if name not in frame.columns]
        if missing:
            raise DataError(f"missing feature column(s) {', '.join(map(repr, missing))}; "
                            "the CSV needs every column the model was trained on")
        if len(frame) <= TRANSFORM_ROWS:
            return self._matrix(frame)
        first = self._matrix(frame.iloc[:TRANSFORM_ROWS])
        matrix = np.empty((len(frame), first.shape[1]), dtype=np.float32)
        matrix[:TRANSFORM_ROWS] = first
        for start in range(TRANSFORM_ROWS, len(frame), TRANSFORM_ROWS):
            rows = slice(start, start + TRANSFORM_ROWS)
            matrix[rows] = self._matrix(frame.iloc[rows])
        return matrix

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """:meth:`transform` of rows few enough to hold all their encoded columns at once."""
        columns = self._columns(frame)
        matrix = np.empty((len(frame), len(columns)), dtype=np.float32)  # no float64 copy
        for j, (_, column) in enumerate(columns):
            matrix[:, j] = column
        return matrix

    def _columns(self, frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
        """The matrix's columns in order, each with the input column it encodes."""
        continuous: list[tuple[str, Scaled]] = []
        rest: list[tuple[str, np.ndarray]] = []
        codes: list[tuple[str, np.ndarray]] = []
        for name, encoder in self.state.items():
            encoded = encoder.transform(frame[name])
            continuous.extend((name, c) for c in encoded.continuous)
            rest.extend((name, b) for b in encoded.binary)
            codes.extend((name, c) for c in encoded.codes)
        return ([(name, getattr(c, s)) for s in self.scalings for name, c in continuous]
                + rest + codes)

    def feature_columns(self) -> dict[str, tuple[int, ...]]:
        """Each used input column → the columns of :meth:`transform`'s matrix that encode it
        (its continuous features in every scaling's block, its 0/1 features, its level code):
        shuffling those together is shuffling the input column.

        >>> from automl.data import infer_schema
        >>> df = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": list("abab"), "y": [0, 1, 0, 1]})
        >>> Preprocessor(infer_schema(df, "y")).fit(df).feature_columns()
        {'x': (0, 1, 2), 'c': (3, 4)}
        """
        typical = pd.DataFrame({name: [e.typical()] for name, e in self.state.items()})
        found: dict[str, list[int]] = {name: [] for name in self.state}
        for j, (name, _) in enumerate(self._columns(typical)):
            found[name].append(j)
        return {name: tuple(columns) for name, columns in found.items()}

    @property
    def n_num(self) -> int:
        """How many continuous features each scaling's block holds."""
        return sum(encoder.n_continuous for encoder in self.state.values())

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """How many codes each embedded categorical has (the last columns of the output)."""
        return tuple(encoder.cardinality for encoder in self.state.values()
                     if isinstance(encoder, CategoricalEncoder) and encoder.cardinality)

    @property
    def n_scalings(self) -> int:
        """How many blocks of continuous features lead the output (one per scaling)."""
        return len(self.scalings)

    def encode_target(self, values: pd.Series) -> np.ndarray:
        """Class codes, or regression targets (``log1p``'d if fitted so) standardised with the
        training mean and std; :meth:`decode_target` inverts it."""
        y = encode_target(values, self.schema)
        if self.schema.task.is_classification:
            return y
        if self.target_log:
            y = np.log1p(np.clip(y.astype(np.float64), 0.0, None))
        return ((y - self.target_mean) / self.target_std).astype(np.float32)

    def decode_target(self, values: np.ndarray) -> np.ndarray:
        """Regression model outputs back in the target's own units (float64)."""
        return decode_target(values, self.target_mean, self.target_std, self.target_log)

    def tensors(self, splits: Splits) -> TensorSplits:
        """Transform the three splits into tensors (call after :meth:`fit`)."""
        parts = {}
        for part in ("train", "val", "test"):
            frame = getattr(splits, part)
            parts[f"x_{part}"] = torch.from_numpy(self.transform(frame))
            y = self.encode_target(frame[self.schema.target])
            parts[f"y_{part}"] = torch.from_numpy(np.array(y))
        d_out = len(self.schema.classes) if self.schema.task.is_classification else 1
        return TensorSplits(**parts, d_in=parts["x_train"].shape[1], d_out=d_out,
                            n_num=self.n_num, target_mean=self.target_mean,
                            target_std=self.target_std, target_log=self.target_log,
                            positive=self.schema.positive_code, n_scalings=self.n_scalings,
                            cardinalities=self.cardinalities)

    def not_numbers(self, frame: pd.DataFrame) -> tuple[NotNumbers, ...]:
        """The numeric columns of ``frame`` holding values that are not numbers: the model
        reads those as missing (the training median), which a caller should say."""
        found = []
        for name, encoder in self.state.items():
            if isinstance(encoder, NumericEncoder) and name in frame.columns:
                bad = encoder.not_numbers(frame[name])
                if len(bad):
                    found.append(NotNumbers(name, len(bad), str(bad.iloc[0]), encoder.units))
        return tuple(found)

    def describe(self) -> list[tuple[str, str, str]]:
        """One ``(column, kind, action)`` row per feature column, dropped ones included."""
        rows = []
        for spec in self.schema.columns:
            encoder = self.state.get(spec.name)
            action = encoder.describe() if encoder is not None else spec.note
            if encoder is not None and spec.note:
                action = f"{action}; {spec.note}"
            rows.append((spec.name, spec.kind.value, action))
        return rows

    # ---------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON data."""
        columns = {name: encoder.to_dict() for name, encoder in self.state.items()}
        return {"schema": self.schema.to_dict(), "columns": columns,
                "target_mean": self.target_mean, "target_std": self.target_std,
                "target_log": self.target_log, "scalings": list(self.scalings)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """The inverse of :meth:`to_dict`; reads every bundle format saved so far."""
        pre = cls(Schema.from_dict(d["schema"]))
        pre.state = {name: encoder_from_dict(e) for name, e in d["columns"].items()}
        pre.target_mean, pre.target_std = d["target_mean"], d["target_std"]
        pre.target_log = bool(d.get("target_log", False))  # older bundles: no log transform
        pre.scalings = tuple(d.get("scalings", ["quantile"]))  # older bundles: quantiles only
        return pre


# ------------------------------------------------------------------------------ column encoders
class NotNumbers(NamedTuple):
    """A numeric column's values that are not numbers (read as missing): how many, one of them,
    and the units the column's numbers were written in at training (see
    :attr:`NumericEncoder.units`)."""

    column: str
    count: int
    example: str
    units: tuple[str, ...] = ()


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

    def not_numbers(self, values: pd.Series) -> pd.Series:
        """The ``values`` that are there but that :meth:`transform` cannot read (another unit
        than the training one's among them)."""
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
    """A yes/no column: one 0/1 feature (true words → 1), plus a missing flag if needed."""

    indicator: bool
    kind: ClassVar[str] = "boolean"

    @classmethod
    def fit(cls, values: pd.Series) -> BooleanEncoder:
        """Note whether the training ``values`` have gaps."""
        return cls(bool(values.isna().any()))

    def transform(self, values: pd.Series) -> Encoded:
        """No continuous feature; the 0/1 value and its flag."""
        words = values.astype("string").str.strip().str.lower()
        bits = [words.isin(_TRUE_WORDS).fillna(False).to_numpy(dtype=np.float32)]
        if self.indicator:
            bits.append(values.isna().to_numpy(dtype=np.float32))
        return Encoded([], bits)

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
        """The saved JSON: ``kind`` and ``indicator``."""
        return {"kind": self.kind, "indicator": self.indicator}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BooleanEncoder:
        """The inverse of :meth:`to_dict`."""
        return cls(bool(d["indicator"]))


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
_ENCODERS: dict[str, type[ColumnEncoder]] = {
    e.kind: e for e in (NumericEncoder, DatetimeEncoder, BooleanEncoder, CategoricalEncoder,
                        TextEncoder)}


def fit_encoder(kind: ColumnKind, values: pd.Series) -> ColumnEncoder:
    """The encoder of a used column of ``kind``, fitted on its training ``values``."""
    return _ENCODERS[kind.value].fit(values)


def encoder_from_dict(d: dict[str, Any]) -> ColumnEncoder:
    """An encoder from its saved JSON (:meth:`to_dict` of any encoder, by its ``kind``)."""
    return _ENCODERS[d["kind"]].from_dict(d)


def _skewness(y: np.ndarray) -> float:
    """Sample skewness (Fisher-Pearson, biased); 0 for a constant or tiny sample."""
    std = float(y.std())
    if y.size < 3 or std == 0.0:
        return 0.0
    return float(np.mean(((y - y.mean()) / std) ** 3))


def decode_target(values: np.ndarray, mean: float, std: float, log: bool) -> np.ndarray:
    """Standardised model outputs (or encoded targets) back to the target's own units.

    The one inversion of :meth:`Preprocessor.encode_target`: un-standardise, then ``expm1``
    when the target was log-transformed (clipped to ``[0, e^700]``: the target was non-negative
    and a wild output must not overflow to infinity).

    >>> decode_target(np.array([0.0, 1.0]), mean=2.0, std=3.0, log=False).tolist()
    [2.0, 5.0]
    >>> decode_target(np.array([0.0]), mean=float(np.log1p(9.0)), std=1.0, log=True).round(6)
    array([9.])
    """
    out = np.asarray(values, dtype=np.float64) * std + mean
    if log:
        out = np.expm1(np.clip(out, 0.0, _LOG_TARGET_MAX))
    return out
