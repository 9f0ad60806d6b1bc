"""Preprocessing fitted on the training split only, then conversion to tensors.

:class:`Preprocessor` turns a DataFrame into a float32 matrix: continuous features first (numeric
columns and date parts, mapped to a normal distribution by their training quantiles; the
frequency of high-cardinality levels), then 0/1 features (booleans, one-hot levels, missing
indicators). Its whole state is plain JSON (:meth:`Preprocessor.to_dict`), so a saved model loads
without unpickling code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtri

from automl.data import ColumnKind, Schema, Splits, encode_target
from automl.errors import DataError

MAX_ONEHOT_LEVELS = 32
N_QUANTILES = 1000
LOG_TARGET_SKEW = 1.0  # a non-negative regression target more skewed than this is log1p'd
_LOG_TARGET_MAX = 700.0  # log-space ceiling when decoding: expm1 stays finite in float64
_DATE_PARTS = ("year", "month", "day", "dayofweek", "hour")
_DATE_ATTRS = {"dayofweek": "day_of_week"}  # saved state keeps the old part name
_TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "1.0"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorSplits:
    """Model-ready splits. ``y`` holds class codes (int64) or standardised targets (float32).

    The first ``n_num`` of ``d_in`` features are continuous (candidates for numeric embeddings).
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

    def to(self, device: torch.device | str) -> TensorSplits:
        """The same splits on ``device``."""
        moved = {k: getattr(self, k).to(device) for k in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return TensorSplits(**moved, d_in=self.d_in, d_out=self.d_out, n_num=self.n_num,
                            target_mean=self.target_mean, target_std=self.target_std,
                            target_log=self.target_log)

    def decode_target(self, values: np.ndarray) -> np.ndarray:
        """Regression outputs or ``y`` values back in target units (see :func:`decode_target`)."""
        return decode_target(values, self.target_mean, self.target_std, self.target_log)


class Preprocessor:
    """Fit on training rows, then transform any rows with the same columns.

    >>> from automl.data import infer_schema
    >>> df = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": list("abab"), "y": [0, 1, 0, 1]})
    >>> pre = Preprocessor(infer_schema(df, "y")).fit(df)
    >>> pre.transform(df).shape   # x, x missing-indicator, c=a, c=b
    (4, 4)
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.state: dict[str, dict[str, Any]] = {}
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
            fit_column = _FITTERS[spec.kind]
            self.state[spec.name] = fit_column(train[spec.name])
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
        """The float32 feature matrix of ``frame`` (rows in order).

        Raises:
            DataError: a feature column seen in training is missing.
        """
        missing = [name for name in self.state if name not in frame.columns]
        if missing:
            raise DataError(f"missing feature column(s) {', '.join(map(repr, missing))}; "
                            "the CSV needs every column the model was trained on")
        continuous, binary = [], []
        for name, state in self.state.items():
            cont, bits = _TRANSFORMS[state["kind"]](frame[name], state)
            continuous.extend(cont)
            binary.extend(bits)
        columns = continuous + binary
        if not columns:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.column_stack(columns).astype(np.float32, copy=False)

    @property
    def n_num(self) -> int:
        """How many leading output features are continuous."""
        return sum(_n_continuous(s) for s in self.state.values())

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
                            target_std=self.target_std, target_log=self.target_log)

    def describe(self) -> list[tuple[str, str, str]]:
        """One ``(column, kind, action)`` row per feature column, dropped ones included."""
        rows = []
        for spec in self.schema.columns:
            state = self.state.get(spec.name)
            action = _describe(state) if state else spec.note
            if state and spec.note:
                action = f"{action}; {spec.note}"
            rows.append((spec.name, spec.kind.value, action))
        return rows

    # ---------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON data."""
        return {"schema": self.schema.to_dict(), "columns": self.state,
                "target_mean": self.target_mean, "target_std": self.target_std,
                "target_log": self.target_log}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        pre = cls(Schema.from_dict(d["schema"]))
        pre.state = d["columns"]
        pre.target_mean, pre.target_std = d["target_mean"], d["target_std"]
        pre.target_log = bool(d.get("target_log", False))  # older bundles: no log transform
        return pre


# ----------------------------------------------------------------------------- per-kind helpers
def _to_float(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)  # fast path (wide files)
    if not pd.api.types.is_numeric_dtype(values):
        values = values.astype("string").str.replace(",", "", regex=False)
    return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()


def _fit_quantiles(x: np.ndarray) -> dict[str, Any]:
    known = x[np.isfinite(x)]
    if known.size == 0:
        known = np.zeros(1)
    n = int(min(N_QUANTILES, max(known.size, 2)))
    quantiles = np.quantile(known, np.linspace(0, 1, n))
    return {"quantiles": quantiles.tolist(), "median": float(np.median(known)),
            "indicator": bool(np.isnan(x).any())}


def _quantile_normal(x: np.ndarray, state: dict[str, Any]) -> list[np.ndarray]:
    missing = ~np.isfinite(x)
    x = np.where(missing, state["median"], x)
    q = np.asarray(state["quantiles"])
    ref = np.linspace(0, 1, len(q))
    u = 0.5 * (np.interp(x, q, ref) - np.interp(-x, -q[::-1], -ref[::-1]))
    z = ndtri(np.clip(u, 1e-7, 1 - 1e-7))
    return [z]


def _indicator(x: np.ndarray, state: dict[str, Any]) -> list[np.ndarray]:
    return [(~np.isfinite(x)).astype(np.float32)] if state["indicator"] else []


def _fit_numeric(values: pd.Series) -> dict[str, Any]:
    return {"kind": "numeric", **_fit_quantiles(_to_float(values))}


def _numeric(values: pd.Series, state: dict[str, Any]) -> tuple[list, list]:
    x = _to_float(values)
    return _quantile_normal(x, state), _indicator(x, state)


def _date_parts(values: pd.Series) -> dict[str, np.ndarray]:
    stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    return {part: getattr(stamps.dt, _DATE_ATTRS.get(part, part)).astype(float).to_numpy()
            for part in _DATE_PARTS}


def _fit_datetime(values: pd.Series) -> dict[str, Any]:
    parts = _date_parts(values)
    kept = {p: _fit_quantiles(x) for p, x in parts.items() if np.nanstd(x) > 0}
    return {"kind": "datetime", "parts": kept}


def _datetime(values: pd.Series, state: dict[str, Any]) -> tuple[list, list]:
    parts = _date_parts(values)
    cont, bits = [], []
    for part, part_state in state["parts"].items():
        cont += _quantile_normal(parts[part], part_state)
        bits += _indicator(parts[part], part_state)
    return cont, bits


def _fit_boolean(values: pd.Series) -> dict[str, Any]:
    return {"kind": "boolean", "indicator": bool(values.isna().any())}


def _boolean(values: pd.Series, state: dict[str, Any]) -> tuple[list, list]:
    words = values.astype("string").str.strip().str.lower()
    bits = [words.isin(_TRUE_WORDS).fillna(False).to_numpy(dtype=np.float32)]
    if state["indicator"]:
        bits.append(values.isna().to_numpy(dtype=np.float32))
    return [], bits


def _levels(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().fillna("<missing>")


def _fit_categorical(values: pd.Series) -> dict[str, Any]:
    counts = _levels(values).value_counts()
    state: dict[str, Any] = {"kind": "categorical",
                             "levels": counts.index[:MAX_ONEHOT_LEVELS].tolist()}
    if len(counts) > MAX_ONEHOT_LEVELS:
        state["log_counts"] = np.log1p(counts[counts > 1]).round(4).to_dict()
    return state


def _categorical(values: pd.Series, state: dict[str, Any]) -> tuple[list, list]:
    levels = _levels(values)
    bits = [(levels == level).to_numpy(dtype=np.float32) for level in state["levels"]]
    if "log_counts" not in state:
        return [], bits
    log_counts = state["log_counts"]
    frequency = levels.map(log_counts).fillna(0.0).to_numpy(dtype=np.float32)
    scale = max(log_counts.values(), default=1.0) or 1.0
    return [frequency / scale], bits


def _n_continuous(state: dict[str, Any]) -> int:
    kind = state["kind"]
    if kind == "numeric":
        return 1
    if kind == "datetime":
        return len(state["parts"])
    return int(kind == "categorical" and "log_counts" in state)


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


def _describe(state: dict[str, Any]) -> str:
    kind = state["kind"]
    if kind == "numeric":
        text = "quantile → normal"
        return text + ", median-imputed + missing flag" if state["indicator"] else text
    if kind == "datetime":
        return f"date parts ({', '.join(state['parts'])}), quantile → normal"
    if kind == "boolean":
        return "0/1" + (" + missing flag" if state["indicator"] else "")
    extra = " + frequency of the rest" if "log_counts" in state else ""
    return f"one-hot ({len(state['levels'])} levels){extra}"


_FITTERS = {ColumnKind.NUMERIC: _fit_numeric, ColumnKind.DATETIME: _fit_datetime,
            ColumnKind.BOOLEAN: _fit_boolean, ColumnKind.CATEGORICAL: _fit_categorical}
_TRANSFORMS = {"numeric": _numeric, "datetime": _datetime, "boolean": _boolean,
               "categorical": _categorical}
