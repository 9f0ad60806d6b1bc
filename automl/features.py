"""Preprocessing fitted on the training split only, then conversion to tensors.

:class:`Preprocessor` turns a DataFrame into a float32 matrix: continuous features first (numeric
columns and date parts; the frequency of high-cardinality levels), once per scaling of
:data:`~automl.config.SCALINGS` (a block mapped to a normal distribution by the training
quantiles, then a block robust-scaled and smooth-clipped), then 0/1 features (booleans, one-hot
levels, missing indicators, a text column's words), then one level code per categorical column
of more than :data:`~automl.encoders.MAX_ONEHOT_LEVELS` levels, which the networks embed. Each
network reads one of the continuous blocks: the scaling is searched per trial. Each used column
has one fitted encoder for its kind (:mod:`automl.encoders`); their whole state is plain JSON
(:meth:`Preprocessor.to_dict`), so a saved model loads without unpickling code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from automl.config import SCALINGS, Scaling
from automl.data import Schema, encode_target
from automl.encoders import (
    READ_CHECKED,
    CategoricalEncoder,
    ColumnEncoder,
    NumericEncoder,
    Scaled,
    encoder_from_dict,
    fit_encoder,
)
from automl.errors import DataError
from automl.splits import Splits
from automl.words import counted

#: Rows :meth:`Preprocessor.transform` encodes at a time.
TRANSFORM_ROWS = 100_000
LOG_TARGET_SKEW = 1.0  # a non-negative regression target more skewed than this is log1p'd
_LOG_TARGET_MAX = 700.0  # log-space ceiling when decoding: expm1 stays finite in float64


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

    def unreadable(self, frame: pd.DataFrame) -> tuple[Unreadable, ...]:
        """The columns of ``frame`` holding values that are not what the column holds (a
        number, a date, a yes/no word, a one-hot level): the model reads those as missing (or
        as no level), which a caller should say."""
        found = []
        for name, encoder in self.state.items():
            if isinstance(encoder, READ_CHECKED) and name in frame.columns:
                bad = encoder.unreadable(frame[name])
                if len(bad):
                    units = encoder.units if isinstance(encoder, NumericEncoder) else ()
                    read_as = (encoder.read_as if isinstance(encoder, CategoricalEncoder)
                               else AS_IF_MISSING)
                    found.append(Unreadable(name, len(bad), str(bad.iloc[0]), encoder.holds,
                                            units, read_as))
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
#: How the model reads a value it cannot read, unless the column says otherwise.
AS_IF_MISSING = "as if missing"


class Unreadable(NamedTuple):
    """A column's values that are not what it ``holds`` (one and many: ``("a number",
    "numbers")``, a date, a yes/no value, a level the model learned): how many, one of them,
    the units a numeric column's numbers were written in at training (see
    :attr:`NumericEncoder.units`), and how the model reads them (``read_as``)."""

    column: str
    count: int
    example: str
    holds: tuple[str, str] = ("a number", "numbers")
    units: tuple[str, ...] = ()
    read_as: str = AS_IF_MISSING

    def __str__(self) -> str:
        """What a user reads: ``column 'x1': 2 values are not numbers (such as 'n/a?');
        predicted as if missing``."""
        are = f"is not {self.holds[0]}" if self.count == 1 else f"are not {self.holds[1]}"
        learned = (f" in {', '.join(map(repr, self.units))}, as the model learned"
                   if self.units else "")
        return (f"column {self.column!r}: {counted(self.count, 'value')} {are}{learned} (such "
                f"as {self.example!r}); predicted {self.read_as}")


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
