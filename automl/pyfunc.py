"""An automl bundle as an MLflow ``pyfunc`` model: save a directory that MLflow can load and serve.

The exported directory is a standard MLflow model (``MLmodel``, ``python_model.pkl``, explicit
``requirements.txt``) whose artifact ``bundle`` is the automl bundle folder (``bundle.json`` +
``weights.pt``). ``python_model.pkl`` pickles only the stateless :class:`AutomlPyfunc` wrapper
(by reference to this module); the network weights are read by :func:`~automl.bundle.load_bundle`
with ``weights_only=True``, so loading never unpickles code for the weights. Serving needs
``automl`` importable in the serving environment (``mlflow models serve --env-manager local``).

Nothing here knows about Optuna or studies; :mod:`automl.predict` picks the bundle.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

from automl.bundle import ModelBundle, load_bundle
from automl.data import ColumnKind
from automl.errors import ConfigError

BUNDLE_ARTIFACT = "bundle"
INTERVAL = "interval"  # the param that asks a regression model for its prediction intervals
log = logging.getLogger(__name__)
_REQUIREMENTS = ("mlflow", "torch", "pandas", "numpy", "scikit-learn", "scipy", "tabm",
                 "rtdl_num_embeddings")


class AutomlPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """MLflow ``PythonModel``: raw feature rows in, ``prediction`` (+ ``proba_<class>``) out."""

    def load_context(self, context: Any) -> None:
        """Load the bundle from the model's ``bundle`` artifact (weights with weights_only)."""
        self.bundle = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """:meth:`ModelBundle.predict` on ``model_input``; rows in input order, index reset.
        A regression model's ``params={"interval": 0.9}`` adds its prediction intervals'
        ends (``lower_90``, ``upper_90``); 0, the default, none.

        Raises:
            DataError: a feature column the model was trained on is missing.
            ConfigError: an interval from a model without intervals, or not in (0, 1).
        """
        frame = pd.DataFrame(model_input).reset_index(drop=True)
        for bad in self.bundle.preprocessor.unreadable(frame):
            log.warning("%s", bad)  # the server's log: a caller sees no stderr
        interval = float((params or {}).get(INTERVAL, 0.0)) or None
        if interval is not None:
            self.bundle.check_interval(interval, option=f"params[{INTERVAL!r}]")
        return self.bundle.predict(frame, interval=interval)


def pip_requirements() -> list[str]:
    """Pinned requirements of the serving environment (the versions installed here)."""
    pins = []
    for name in _REQUIREMENTS:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
            continue
        pins.append(f"{name}=={version.split('+')[0]}")
    return pins


def input_example(bundle: ModelBundle, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """A few rows of the model's feature columns: from ``rows`` if given, else synthesised.

    Synthesised values are each column's training median (numeric) or most frequent level
    (categorical), so the example is always one the model accepts; numbers written as text
    (``1248 CC``, ``2h 50m``) stay text, as the model reads them.
    """
    names = list(bundle.preprocessor.state)
    if rows is not None and all(n in rows.columns for n in names) and len(rows):
        example = rows[names].head(5).reset_index(drop=True).copy()
    else:
        example = pd.DataFrame({n: [e.typical()] for n, e in bundle.preprocessor.state.items()})
    kinds = {c.name: c.kind for c in bundle.schema.columns}
    for name in names:
        column = example[name]
        if kinds.get(name) is ColumnKind.NUMERIC and pd.api.types.is_numeric_dtype(column):
            example[name] = column.astype(np.float64)
        elif not pd.api.types.is_bool_dtype(column):
            example[name] = column.astype(object).where(column.notna(), None).map(
                lambda v: v if v is None else str(v))
    return example


def model_signature(bundle: ModelBundle, example: pd.DataFrame) -> Any:
    """Inputs: the feature columns, each of any type; outputs: the prediction columns.

    The bundle reads numbers from ints, floats or text and levels from any value, as
    ``automl predict`` does; a typed column would have MLflow refuse what ``pd.read_csv`` gives
    (an int64 column for a double: "Can not safely convert int64 to float64"; ints for a
    string column of codes) before the model sees it.
    """
    inputs = Schema([ColSpec(AnyType(), name) for name in example.columns])
    params = (ParamSchema([ParamSpec(INTERVAL, "double", 0.0)])
              if bundle.conformal is not None else None)
    return ModelSignature(inputs=inputs,
                          outputs=mlflow.models.infer_signature(
                              example, bundle.predict(example)).outputs, params=params)


def save_pyfunc(bundle_dir: Path, dst: Path, *, rows: pd.DataFrame | None = None) -> Path:
    """Write an MLflow pyfunc model directory at ``dst`` around the bundle in ``bundle_dir``.

    ``rows`` (raw training rows, optional) provide the input example. Returns ``dst``.

    Raises:
        ConfigError: ``dst`` exists and is not an empty directory.
        DataError: ``bundle_dir`` holds no usable bundle.
    """
    dst = Path(dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ConfigError(f"{dst} already exists and is not empty; choose a new directory or "
                          "remove it")
    if dst.exists():
        dst.rmdir()
    bundle = load_bundle(bundle_dir)
    example = input_example(bundle, rows)
    mlflow.pyfunc.save_model(
        path=str(dst), python_model=AutomlPyfunc(),
        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)}, pip_requirements=pip_requirements(),
        signature=model_signature(bundle, example), input_example=example)
    return dst
