"""The trained result as one object: fitted preprocessing, network weights, labels, metadata.

On disk a bundle is a folder of two files: ``bundle.json`` (the preprocessing state, the
architecture and metadata, plain JSON) and ``weights.pt`` (a ``state_dict`` loaded with
``weights_only=True``). Loading a bundle therefore never executes code from the files.

An ensemble bundle (format 2, written only when a bundle holds several networks) lists its
members in ``bundle.json`` (architecture, weight, weights file ``weights_<i>.pt``); its output
is the weighted average of the members' probabilities (classification) or values in target
units (regression). Format-1 folders (one network) load as before.

A binary classifier's bundle may hold a tuned decision threshold (``bundle.json`` key
``threshold``): :meth:`ModelBundle.predict` labels a row with the positive class
(:attr:`automl.data.Schema.positive_class`) when that class's probability is at least the
threshold. Bundles without one label by the largest probability. A regression model's bundle
may hold the calibration of its prediction intervals (key ``conformal``, see
:mod:`automl.intervals`), a classifier's the temperature of its probabilities (key
``temperature``, see :mod:`automl.calibration`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn import metrics as skm
from torch import nn

from automl.calibration import log_probabilities
from automl.data import Schema, TaskType
from automl.errors import ConfigError, DataError
from automl.features import Preprocessor
from automl.intervals import Conformal, check_level, interval_columns
from automl.metrics import evaluate, predictions
from automl.networks import Bins, ModelSpec, build_model, spec_from_dict
from automl.threshold import apply_threshold
from automl.train import predict_raw

BUNDLE_FORMAT = 1
ENSEMBLE_FORMAT = 2
#: The prediction intervals a regression model's scores check: the share of the true values
#: inside the 90% intervals (near 0.9 when they hold what they promise).
COVERAGE_LEVEL = 0.9
COVERAGE = "coverage_90"


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One network of an ensemble bundle, with its averaging weight (weights sum to 1)."""

    spec: ModelSpec
    network: nn.Module
    weight: float


@dataclass(kw_only=True)
class ModelBundle:
    """Everything needed to go from raw CSV rows to predictions in the target's own labels.

    ``members`` empty: one network (``spec``, ``network``). Otherwise the bundle is the weighted
    average of ``members`` and ``spec``/``network`` are those of ``members[0]`` (use
    :meth:`ensemble` to build one). ``threshold``: the decision threshold of a binary
    classifier (``None``: the largest probability wins). ``conformal``: the calibration of a
    regression model's prediction intervals (``None``: it has none). ``temperature``: what a
    classifier's log-probabilities are divided by (``None``: 1; see :mod:`automl.calibration`).
    """

    preprocessor: Preprocessor
    spec: ModelSpec
    network: nn.Module
    d_in: int
    metadata: dict[str, Any] = field(default_factory=dict)
    members: tuple[Member, ...] = ()
    threshold: float | None = None
    conformal: Conformal | None = None
    temperature: float | None = None

    @classmethod
    def ensemble(cls, preprocessor: Preprocessor, members: list[Member] | tuple[Member, ...],
                 d_in: int, metadata: dict[str, Any] | None = None) -> ModelBundle:
        """A bundle averaging ``members`` (weights normalised to sum to 1); one member with
        weight > 0 gives a plain single-network bundle.

        Raises:
            ValueError: no member has a positive weight.
        """
        kept = [m for m in members if m.weight > 0]
        total = sum(m.weight for m in kept)
        if not kept or total <= 0:
            raise ValueError("an ensemble needs at least one member with a positive weight")
        kept = sorted(kept, key=lambda m: -m.weight)
        normed = tuple(Member(spec=m.spec, network=m.network, weight=m.weight / total)
                       for m in kept)
        return cls(preprocessor=preprocessor, spec=normed[0].spec, network=normed[0].network,
                   d_in=d_in, metadata=dict(metadata or {}),
                   members=normed if len(normed) > 1 else ())

    @property
    def networks(self) -> tuple[Member, ...]:
        """The averaged networks: ``members``, or the one network with weight 1."""
        return self.members or (Member(spec=self.spec, network=self.network, weight=1.0),)

    @property
    def schema(self) -> Schema:
        """The training data's schema (target, task, classes, columns)."""
        return self.preprocessor.schema

    def raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's outputs for ``frame`` (logits, or values in target units)."""
        return self.output_of(torch.from_numpy(self.preprocessor.transform(frame)))

    def output_of(self, x: torch.Tensor) -> np.ndarray:
        """:meth:`raw_output` for already-preprocessed features ``x``.

        Classification: logits of one network; for an ensemble, the log of the weighted average
        of the members' probabilities (so a softmax gives the averaged probabilities back);
        either divided by the :attr:`temperature`, if any (see :mod:`automl.calibration`).
        Regression: values in target units (:meth:`Preprocessor.decode_target`), averaged.
        """
        out = self._averaged(x)
        return out / (self.temperature or 1.0) if self.schema.task.is_classification else out

    def _averaged(self, x: torch.Tensor) -> np.ndarray:
        """:meth:`output_of` before the :attr:`temperature`."""
        task = self.schema.task
        total: np.ndarray | None = None
        for member in self.networks:
            device = next(member.network.parameters()).device
            out = predict_raw(member.network, x.to(device))
            if len(self.networks) == 1:
                return out if task.is_classification else self.preprocessor.decode_target(out)
            value = (predictions(task, out) if task.is_classification
                     else self.preprocessor.decode_target(out).reshape(-1, 1))
            total = member.weight * value if total is None else total + member.weight * value
        assert total is not None
        return log_probabilities(total) if task.is_classification else total

    def cut(self, threshold: float | None = None) -> float | None:
        """The decision threshold :meth:`predict` applies with ``threshold``: it, else the
        bundle's own; ``None`` (the largest probability) unless the model is binary."""
        cut = self.threshold if threshold is None else threshold
        return cut if len(self.schema.classes) == 2 else None

    def check_interval(self, level: float, option: str = "--interval") -> None:
        """Check that this model gives prediction intervals of ``level``.

        Raises:
            ConfigError: ``level`` is not a coverage (see :func:`~automl.intervals.check_level`),
                or the model has no intervals; the message names ``level`` as ``option``, how
                it was asked.
        """
        check_level(level, option)
        if self.conformal is None:
            task = self.schema.task
            what = ("this regression model" if task is TaskType.REGRESSION
                    else f"this {task.value} model")
            raise ConfigError(f"{option}: {what} has no prediction intervals (a regression "
                              "study's final model has them; a trial's own model, or a final "
                              f"model built before them, has none); leave {option} out or use "
                              "the final model of a regression study")

    def predict(self, frame: pd.DataFrame, threshold: float | None = None,
                interval: float | None = None) -> pd.DataFrame:
        """One row per input row: ``prediction`` and, for classification, ``proba_<class>``;
        for regression with an ``interval`` level (0.9), the ends of the interval that holds
        the true value with that probability (``lower_90``, ``upper_90``; see
        :mod:`automl.intervals`).

        A binary ``prediction`` uses ``threshold`` if given, else the bundle's own
        :attr:`threshold`; the ``proba_*`` columns never depend on it.

        Raises:
            DataError: a feature column the model was trained on is missing.
            ConfigError: an ``interval`` that is not a coverage, or from a bundle without
                :attr:`conformal` (see :meth:`check_interval`).
        """
        return self.labelled(self.raw_output(frame), frame.index, threshold, interval)

    def labelled(self, output: np.ndarray, index: pd.Index,
                 threshold: float | None = None,
                 interval: float | None = None) -> pd.DataFrame:
        """:meth:`predict` of the rows (``index``) whose :meth:`raw_output` is ``output``."""
        if interval is not None:
            self.check_interval(interval)
        out = predictions(self.schema.task, output)
        if not self.schema.task.is_classification:
            result = pd.DataFrame({"prediction": out}, index=index)
            if interval is not None:
                assert self.conformal is not None  # checked above
                for name, end in zip(interval_columns(interval),
                                     self.conformal.bounds(out, interval), strict=True):
                    result[name] = end
            return result
        codes = out.argmax(axis=1)
        cut = self.cut(threshold)
        if cut is not None:
            positive = self.schema.positive_code
            codes = np.where(apply_threshold(out[:, positive], cut), positive, 1 - positive)
        labels = np.asarray(self.schema.classes, dtype=object)[codes]
        result = pd.DataFrame({"prediction": labels}, index=index)
        for i, label in enumerate(self.schema.classes):
            result[f"proba_{label}"] = out[:, i]
        return result

    def scores(self, output: np.ndarray, y_true: np.ndarray,
               threshold: float | None = None) -> dict[str, float]:
        """Every metric of the task (:func:`~automl.metrics.evaluate`) of the rows whose
        :meth:`raw_output` is ``output`` against ``y_true`` (class codes, or values in the
        target's units); with intervals (:attr:`conformal`), :data:`COVERAGE`; with a decision
        threshold (:meth:`cut`), also
        ``precision_at_threshold``, ``recall_at_threshold`` and ``f1_at_threshold`` of the
        positive class at it."""
        schema = self.schema
        scores = evaluate(schema.task, y_true, output, schema.positive_code)
        if self.conformal is not None and np.all(np.isfinite(output)):
            scores[COVERAGE] = self.conformal.coverage(
                y_true, predictions(schema.task, output), COVERAGE_LEVEL)
        cut = self.cut(threshold)
        if cut is not None:
            positive = schema.positive_code
            picked = apply_threshold(predictions(schema.task, output)[:, positive], cut)
            truth = y_true == positive
            for name, score in (("precision", skm.precision_score),
                                ("recall", skm.recall_score), ("f1", skm.f1_score)):
                scores[f"{name}_at_threshold"] = float(score(truth, picked, zero_division=0))
        return scores


def save_bundle(bundle: ModelBundle, path: Path) -> Path:
    """Write ``bundle`` into the folder ``path`` (created if needed); returns ``path``.

    One network: format 1 (``weights.pt``); an ensemble: format 2 (``weights_<i>.pt``).
    """
    path.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "format": BUNDLE_FORMAT, "spec": bundle.spec.to_dict(), "d_in": bundle.d_in,
        "d_out": _d_out(bundle), "n_num": bundle.preprocessor.n_num,
        "n_scalings": bundle.preprocessor.n_scalings,
        "cardinalities": list(bundle.preprocessor.cardinalities),
        "preprocessor": bundle.preprocessor.to_dict(), "metadata": bundle.metadata}
    if bundle.threshold is not None:
        document["threshold"] = bundle.threshold
    if bundle.conformal is not None:
        document["conformal"] = bundle.conformal.to_dict()
    if bundle.temperature is not None:
        document["temperature"] = bundle.temperature
    if bundle.members:
        document["format"] = ENSEMBLE_FORMAT
        document["members"] = [{"spec": m.spec.to_dict(), "weight": m.weight,
                                "weights": f"weights_{i}.pt", **_bins(m.network)}
                               for i, m in enumerate(bundle.members)]
        for i, member in enumerate(bundle.members):
            _save_state(member.network, path / f"weights_{i}.pt")
    else:
        document |= _bins(bundle.network)
        _save_state(bundle.network, path / "weights.pt")
    (path / "bundle.json").write_text(json.dumps(document, indent=1, default=_jsonable))
    return path


def _bins(network: nn.Module) -> dict[str, Bins]:
    """``{"bins": ...}``: a network's piecewise-linear bins, needed to rebuild it
    (:attr:`~automl.networks.base.TabularNetwork.bins`); empty if it has none."""
    bins = getattr(network, "bins", None)
    return {} if bins is None else {"bins": bins}


def _save_state(network: nn.Module, file: Path) -> None:
    torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, file)


def _load_network(folder: Path, spec: ModelSpec, document: dict[str, Any], file: str,
                  device: str, bins: Bins | None) -> nn.Module:
    if not re.fullmatch(r"weights(_\d+)?\.pt", file):
        raise DataError(f"{folder}: member weights file {file!r} is not a bundle file name")
    network = build_model(spec, document["d_in"], document["d_out"], document["n_num"],
                          document.get("n_scalings", 1), bins=bins,
                          cardinalities=tuple(document.get("cardinalities", ())))
    state = torch.load(folder / file, map_location=device, weights_only=True)
    network.load_state_dict(_upgraded(state))
    return network.to(device).eval()


def load_bundle(path: Path, device: str = "cpu") -> ModelBundle:
    """Read a bundle written by :func:`save_bundle` (weights with ``weights_only=True``).

    Raises:
        DataError: ``path`` holds no bundle, or one of an unknown format.
    """
    try:
        document = json.loads((Path(path) / "bundle.json").read_text())
    except (OSError, ValueError):
        raise DataError(f"{path}: no automl model here (bundle.json missing or corrupt)") from None
    if document.get("format") not in (BUNDLE_FORMAT, ENSEMBLE_FORMAT):
        raise DataError(f"{path}: model format {document.get('format')!r} is not supported; "
                        f"re-export it with this version of automl")
    preprocessor = Preprocessor.from_dict(document["preprocessor"])
    if document["format"] == ENSEMBLE_FORMAT:
        members = [Member(spec=(spec := spec_from_dict(m["spec"])), weight=float(m["weight"]),
                          network=_load_network(Path(path), spec, document, m["weights"],
                                                device, m.get("bins")))
                   for m in document["members"]]
        bundle = ModelBundle.ensemble(preprocessor, members, document["d_in"],
                                      document["metadata"])
    else:
        spec = spec_from_dict(document["spec"])
        network = _load_network(Path(path), spec, document, "weights.pt", device,
                                document.get("bins"))
        bundle = ModelBundle(preprocessor=preprocessor, spec=spec, network=network,
                             d_in=document["d_in"], metadata=document["metadata"])
    bundle.threshold, bundle.temperature = document.get("threshold"), document.get("temperature")
    if "conformal" in document:  # regression models built before intervals have none
        bundle.conformal = Conformal.from_dict(document["conformal"])
    return bundle


#: Periodic embeddings' weights before ``rtdl_num_embeddings`` (same shapes, same arithmetic).
_RENAMED = {"embeddings.frequencies": "embeddings.periodic.weight",
            "embeddings.weight": "embeddings.linear.weight",
            "embeddings.bias": "embeddings.linear.bias"}


def _upgraded(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with older bundles' parameter names renamed to today's."""
    return {_RENAMED.get(name, name): value for name, value in state.items()}


def _d_out(bundle: ModelBundle) -> int:
    return len(bundle.schema.classes) if bundle.schema.task.is_classification else 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
