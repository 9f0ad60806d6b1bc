"""The model bundle on disk: a save/load round trip gives the same predictions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from automl.bundle import ModelBundle, load_bundle, save_bundle
from automl.calibration import rescaled
from automl.data import load_dataset
from automl.errors import DataError
from automl.features import Preprocessor
from automl.intervals import Conformal
from automl.networks import (
    LinearSpec,
    MLPSpec,
    ModelSpec,
    ResNetSpec,
    TabMSpec,
    build_model,
    fit_bins,
)


def _bundle(csv: Path, spec: ModelSpec) -> tuple[ModelBundle, pd.DataFrame]:
    dataset = load_dataset(csv, "y")
    pre = Preprocessor(dataset.schema).fit(dataset.frame)
    d_in = pre.transform(dataset.frame.head(1)).shape[1]
    d_out = len(dataset.schema.classes) if dataset.schema.task.is_classification else 1
    torch.manual_seed(1)
    x = torch.from_numpy(pre.transform(dataset.frame)).float()
    network = build_model(spec, d_in, d_out, pre.n_num, pre.n_scalings,
                          bins=fit_bins(spec, x, pre.n_num, pre.n_scalings),
                          cardinalities=pre.cardinalities).eval()
    bundle = ModelBundle(preprocessor=pre, spec=spec, network=network, d_in=d_in,
                         metadata={"trial": 3, "value": np.float64(0.5)})
    return bundle, dataset.frame


@pytest.mark.parametrize(("task", "spec"), [
    ("binary", MLPSpec(norm="batch")),
    ("multiclass", ResNetSpec(embedding="periodic", norm="layer")),
    ("regression", MLPSpec(activation="gelu", scaling="robust")),
    ("binary", TabMSpec(k=4, d_block=16, embedding="periodic_lite")),
    ("regression", TabMSpec(k=4, d_block=16, scaling="robust")),
    ("multiclass", MLPSpec(embedding="piecewise", n_bins=8, scaling="robust")),
    ("binary", TabMSpec(k=4, d_block=16, embedding="piecewise", n_bins=16)),
])
def test_save_load_round_trip_gives_equal_outputs(make_csv: Callable[..., Path], tmp_path: Path,
                                                  task: str, spec: ModelSpec) -> None:
    bundle, frame = _bundle(make_csv(task=task, missing=True), spec)
    interval = None if task != "regression" else 0.9
    if interval:  # a regression model's intervals come back with it
        bundle.conformal = Conformal.fit(np.arange(50.0), np.zeros(50))
    else:  # a classifier's temperature too
        bundle.temperature = 1.7
    loaded = load_bundle(save_bundle(bundle, tmp_path / "model"))
    assert loaded.spec == spec
    assert loaded.metadata == {"trial": 3, "value": 0.5}
    assert loaded.schema == bundle.schema
    assert (loaded.conformal, loaded.temperature) == (bundle.conformal, bundle.temperature)
    pd.testing.assert_frame_equal(loaded.predict(frame, interval=interval),
                                  bundle.predict(frame, interval=interval))
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["bundle.json", "weights.pt"]


@pytest.mark.parametrize("spec", [TabMSpec(k=4, d_block=16, embedding="periodic_lite"),
                                  LinearSpec(scaling="robust")])
def test_a_many_level_categorical_round_trips_with_its_embeddings(tmp_path: Path,
                                                                  spec: ModelSpec) -> None:
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 60, 400)
    frame = pd.DataFrame({"x": rng.normal(size=400), "c": [f"shop{i}" for i in levels],
                          "y": np.where(levels % 3 == 0, "yes", "no")})
    (tmp_path / "data.csv").write_text(frame.to_csv(index=False))
    bundle, frame = _bundle(tmp_path / "data.csv", spec)
    seen_twice = int((frame["c"].value_counts() >= 2).sum())
    assert bundle.preprocessor.cardinalities == (seen_twice + 1,) and seen_twice > 32
    loaded = load_bundle(save_bundle(bundle, tmp_path / "model"))
    unseen = frame.head(3).assign(c="a shop never seen")
    for rows in (frame, unseen):
        pd.testing.assert_frame_equal(loaded.predict(rows), bundle.predict(rows))
    assert not loaded.predict(unseen).isna().any().any()


_OLD_NAMES = {"embeddings.periodic.weight": "embeddings.frequencies",
              "embeddings.linear.weight": "embeddings.weight",
              "embeddings.linear.bias": "embeddings.bias"}
_OLD_LINEAR = {"kind": "mlp", "n_blocks": 0, "d_block": 128, "dropout": 0.1, "norm": "none",
               "activation": "relu", "embedding": "none", "n_frequencies": 16,
               "frequency_scale": 0.1, "d_embedding": 16, "scaling": "robust"}


@pytest.mark.parametrize("spec", [MLPSpec(embedding="periodic", n_blocks=1), LinearSpec(
    scaling="robust")])
def test_a_bundle_saved_before_the_model_families_predicts_as_before(
        make_csv: Callable[..., Path], tmp_path: Path, spec: ModelSpec) -> None:
    """Before the families, periodic embeddings were automl's own module (other parameter
    names, same arithmetic) and the linear model an ``mlp`` of 0 blocks."""
    bundle, frame = _bundle(make_csv(task="binary"), spec)
    folder = save_bundle(bundle, tmp_path / "model")
    state = torch.load(folder / "weights.pt", weights_only=True)
    torch.save({_OLD_NAMES.get(k, k): v for k, v in state.items()}, folder / "weights.pt")
    document = json.loads((folder / "bundle.json").read_text())
    if isinstance(spec, LinearSpec):
        document["spec"] = _OLD_LINEAR
    else:
        del document["spec"]["kind"]  # the oldest specs had no kind: an MLP
    (folder / "bundle.json").write_text(json.dumps(document))
    assert {k for k in torch.load(folder / "weights.pt")} & set(_OLD_NAMES.values()) or \
        isinstance(spec, LinearSpec)
    loaded = load_bundle(folder)
    assert loaded.spec == spec
    pd.testing.assert_frame_equal(loaded.predict(frame), bundle.predict(frame))


def test_a_temperature_changes_the_probabilities_but_not_the_labels(
        make_csv: Callable[..., Path]) -> None:
    bundle, frame = _bundle(make_csv(task="multiclass"), MLPSpec())
    plain = bundle.predict(frame)
    bundle.temperature = 2.0
    tempered = bundle.predict(frame)
    probas = [c for c in plain.columns if c.startswith("proba_")]
    np.testing.assert_allclose(tempered[probas], rescaled(plain[probas].to_numpy(), 2.0))
    assert (tempered["prediction"] == plain["prediction"]).all()


def test_bundle_restores_labels_and_units(make_csv: Callable[..., Path]) -> None:
    bundle, frame = _bundle(make_csv(task="multiclass"), MLPSpec())
    out = bundle.predict(frame)
    assert list(out.columns) == ["prediction", *(f"proba_{c}" for c in bundle.schema.classes)]
    assert set(out["prediction"]) <= {"low", "mid", "high"}
    np.testing.assert_allclose(out.filter(like="proba_").sum(axis=1), 1.0, rtol=1e-9)


@pytest.mark.parametrize(("task", "spec"), [
    ("binary", MLPSpec(norm="batch")), ("multiclass", ResNetSpec(norm="batch")),
    ("regression", TabMSpec(k=4, d_block=16, embedding="piecewise", n_bins=8)),
])
def test_an_empty_batch_gets_an_empty_answer(make_csv: Callable[..., Path], task: str,
                                             spec: ModelSpec) -> None:
    """A served model sent no rows raised IndexError (the outputs of no batch were one
    column wide); it answers with the columns of any answer and no rows."""
    bundle, frame = _bundle(make_csv(task=task), spec)
    out = bundle.predict(frame.head(0))
    assert len(out) == 0
    assert list(out.columns) == list(bundle.predict(frame.head(2)).columns)


def test_load_refuses_a_folder_without_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no automl model here"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(DataError, match="format 99 is not supported"):
        load_bundle(tmp_path)
