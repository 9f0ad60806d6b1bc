"""The trained result as one object: fitted preprocessing, network weights, labels, metadata.

On disk a bundle is a folder of two files: ``bundle.json`` (the preprocessing state, the
architecture and metadata, plain JSON) and ``weights.pt`` (a ``state_dict`` loaded with
``weights_only=True``). Loading a bundle therefore never executes code from the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from automl.data import Schema
from automl.errors import DataError
from automl.features import Preprocessor
from automl.metrics import predictions
from automl.model import ModelSpec, build_model
from automl.train import predict_raw

BUNDLE_FORMAT = 1


@dataclass(kw_only=True)
class ModelBundle:
    """Everything needed to go from raw CSV rows to predictions in the target's own labels."""

    preprocessor: Preprocessor
    spec: ModelSpec
    network: nn.Module
    d_in: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> Schema:
        """The training data's schema (target, task, classes, columns)."""
        return self.preprocessor.schema

    def raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        """The network's outputs for ``frame`` (logits, or values in target units)."""
        x = torch.from_numpy(self.preprocessor.transform(frame))
        device = next(self.network.parameters()).device
        out = predict_raw(self.network, x.to(device))
        if self.schema.task.is_classification:
            return out
        return out * self.preprocessor.target_std + self.preprocessor.target_mean

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: ``prediction`` and, for classification, ``proba_<class>``.

        Raises:
            DataError: a feature column the model was trained on is missing.
        """
        out = predictions(self.schema.task, self.raw_output(frame))
        if not self.schema.task.is_classification:
            return pd.DataFrame({"prediction": out}, index=frame.index)
        labels = np.asarray(self.schema.classes, dtype=object)[out.argmax(axis=1)]
        result = pd.DataFrame({"prediction": labels}, index=frame.index)
        for i, label in enumerate(self.schema.classes):
            result[f"proba_{label}"] = out[:, i]
        return result


def save_bundle(bundle: ModelBundle, path: Path) -> Path:
    """Write ``bundle`` into the folder ``path`` (created if needed); returns ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    document = {"format": BUNDLE_FORMAT, "spec": bundle.spec.to_dict(),
                "d_in": bundle.d_in, "d_out": _d_out(bundle),
                "n_num": bundle.preprocessor.n_num, "preprocessor": bundle.preprocessor.to_dict(),
                "metadata": bundle.metadata}
    (path / "bundle.json").write_text(json.dumps(document, indent=1, default=_jsonable))
    state = {k: v.detach().cpu() for k, v in bundle.network.state_dict().items()}
    torch.save(state, path / "weights.pt")
    return path


def load_bundle(path: Path, device: str = "cpu") -> ModelBundle:
    """Read a bundle written by :func:`save_bundle` (weights with ``weights_only=True``).

    Raises:
        DataError: ``path`` holds no bundle, or one of an unknown format.
    """
    try:
        document = json.loads((Path(path) / "bundle.json").read_text())
    except (OSError, ValueError):
        raise DataError(f"{path}: no automl model here (bundle.json missing or corrupt)") from None
    if document.get("format") != BUNDLE_FORMAT:
        raise DataError(f"{path}: model format {document.get('format')!r} is not supported; "
                        f"re-export it with this version of automl")
    spec = ModelSpec(**document["spec"])
    network = build_model(spec, document["d_in"], document["d_out"], document["n_num"])
    state = torch.load(Path(path) / "weights.pt", map_location=device, weights_only=True)
    network.load_state_dict(state)
    return ModelBundle(preprocessor=Preprocessor.from_dict(document["preprocessor"]), spec=spec,
                       network=network.to(device).eval(), d_in=document["d_in"],
                       metadata=document["metadata"])


def _d_out(bundle: ModelBundle) -> int:
    return len(bundle.schema.classes) if bundle.schema.task.is_classification else 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
