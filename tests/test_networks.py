"""Networks: every family builds a module with the right output shape; bad specs fail early;
TabM trains on the mean of its heads' losses and predicts the mean of their probabilities."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import torch
from rtdl_num_embeddings import PeriodicEmbeddings
from torch import nn

import automl.networks.base
from automl.networks import (
    FAMILIES,
    LinearSpec,
    MLPSpec,
    ModelSpec,
    ResNetSpec,
    TabMSpec,
    build_model,
    fit_bins,
    spec_from_dict,
)
from automl.networks.mlp import MLPNet
from automl.networks.tabm import TabMNet
from automl.train import batch_loss

D_IN, N_NUM = 7, 3
SPECS: list[type[MLPSpec] | type[TabMSpec]] = [MLPSpec, ResNetSpec, TabMSpec]
GRID = list(itertools.product(SPECS, ["none", "periodic", "periodic_lite", "piecewise"], [1, 3]))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _small(spec_type: Any, **fields: Any) -> ModelSpec:
    sizes = {"n_blocks": 2, "d_block": 8, "n_frequencies": 4, "d_embedding": 4}
    spec: ModelSpec = spec_type(**(sizes | ({"k": 3} if spec_type is TabMSpec else {}) | fields))
    return spec


@pytest.mark.parametrize(("spec_type", "embedding", "d_out"), GRID,
                         ids=[f"{s.kind}-{e}-{d}" for s, e, d in GRID])
def test_output_shape(spec_type: Any, embedding: str, d_out: int) -> None:
    spec = _small(spec_type, embedding=embedding)
    x = torch.randn(5, D_IN)
    net = build_model(spec, d_in=D_IN, d_out=d_out, n_num=N_NUM,
                      bins=fit_bins(spec, torch.randn(40, D_IN), N_NUM, 1))

    net.train()
    out = net(x)
    heads = (3,) if spec_type is TabMSpec else ()
    assert out.shape == (5, *heads, d_out)
    out.sum().backward()  # every parameter is reachable from the output
    assert all(p.grad is not None for p in net.parameters())

    net.eval()
    with torch.no_grad():
        single = net(x[:1])
    assert single.shape == (1, d_out) and torch.isfinite(single).all()


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
@pytest.mark.parametrize("spec_type", [MLPSpec, ResNetSpec])
def test_every_norm_builds(spec_type: Any, norm: str) -> None:
    net = build_model(_small(spec_type, norm=norm), d_in=D_IN, d_out=2, n_num=N_NUM)
    assert net(torch.randn(4, D_IN)).shape == (4, 2)


@pytest.mark.parametrize("n_blocks", [1, 4])
def test_mlp_has_one_block_per_n_blocks(n_blocks: int) -> None:
    net = build_model(MLPSpec(n_blocks=n_blocks, d_block=8), d_in=3, d_out=2)
    assert isinstance(net, MLPNet) and len(net.blocks) == n_blocks


@pytest.mark.parametrize("lite", [False, True])
def test_periodic_embedding_replaces_only_the_continuous_inputs(lite: bool) -> None:
    spec = MLPSpec(embedding="periodic_lite" if lite else "periodic", n_frequencies=4,
                   d_embedding=5, n_blocks=1, d_block=8)
    net = build_model(spec, d_in=D_IN, d_out=2, n_num=N_NUM)
    assert isinstance(net, MLPNet) and isinstance(net.embeddings, PeriodicEmbeddings)
    assert net.blocks[0][0].in_features == (D_IN - N_NUM) + N_NUM * 5  # type: ignore[index]


def test_piecewise_bins_are_quantiles_of_the_training_rows_of_the_spec_scaling() -> None:
    spec = MLPSpec(embedding="piecewise", n_bins=4, scaling="robust")
    x = torch.zeros(100, 2 * N_NUM + 1)
    x[:, N_NUM:2 * N_NUM] = torch.arange(100.0)[:, None]  # the robust block: 0..99
    x[:, 2 * N_NUM - 1] = 7.0  # one robust column constant in these rows
    bins = fit_bins(spec, x, N_NUM, 2)
    assert bins is not None and len(bins) == N_NUM
    assert bins[0] == pytest.approx([0.0, 24.75, 49.5, 74.25, 99.0])  # 4 quantile bins
    assert bins[-1] == [6.0, 8.0]  # constant: one bin around its value
    net = build_model(spec, d_in=2 * N_NUM + 1, d_out=2, n_num=N_NUM, n_scalings=2, bins=bins)
    assert net.bins == bins and net(x[:3]).shape == (3, 2)  # type: ignore[union-attr]


def test_piecewise_bins_of_many_rows_come_from_a_fixed_sample_of_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = MLPSpec(embedding="piecewise", n_bins=4)
    x = torch.rand(20_000, D_IN, generator=torch.Generator().manual_seed(0))
    whole = fit_bins(spec, x, N_NUM, 1)
    monkeypatch.setattr(automl.networks.base, "MAX_BIN_ROWS", 2_000)
    sampled = fit_bins(spec, x, N_NUM, 1)
    assert sampled == fit_bins(spec, x, N_NUM, 1) and sampled != whole  # the same sample
    assert np.allclose(sampled, whole, atol=0.05)  # quartiles of 2,000 rows of U(0, 1)


def test_piecewise_embeddings_need_their_bins() -> None:
    with pytest.raises(ValueError, match="bins"):
        build_model(MLPSpec(embedding="piecewise"), d_in=D_IN, d_out=2, n_num=N_NUM)
    assert fit_bins(MLPSpec(embedding="periodic"), torch.randn(9, D_IN), N_NUM, 1) is None


def test_periodic_embedding_without_continuous_inputs_is_skipped() -> None:
    net = build_model(MLPSpec(embedding="periodic", d_block=8), d_in=4, d_out=2, n_num=0)
    assert isinstance(net, MLPNet) and net.embeddings is None
    assert net(torch.zeros(2, 4)).shape == (2, 2)


@pytest.mark.parametrize("spec_type", SPECS)
def test_dropout_is_off_in_eval_mode(spec_type: Any) -> None:
    net = build_model(_small(spec_type, dropout=0.5), d_in=4, d_out=1)
    net.eval()
    x = torch.randn(8, 4)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_the_linear_family_is_one_affine_map() -> None:
    net = build_model(LinearSpec(scaling="robust"), d_in=6, d_out=2, n_num=2, n_scalings=2)
    assert [type(m).__name__ for m in net.modules() if list(m.parameters(recurse=False))] == \
        ["Linear"]
    assert net(torch.zeros(3, 6)).shape == (3, 2)


def test_the_linear_family_adds_one_vector_per_level_of_an_embedded_categorical() -> None:
    """As one-hot encoding every level would: a level shifts the output by its own vector,
    whatever the other inputs are (no product of an embedding and a layer)."""
    net = build_model(LinearSpec(), d_in=5, d_out=3, n_num=2, cardinalities=(4, 6))
    assert [t.embedding_dim for t in net.categories.tables] == [3, 3]
    x = torch.cat([torch.randn(8, 3), torch.ones(8, 1), torch.full((8, 1), 5.0)], dim=1)
    other = x.clone()
    other[:, 3] = 2.0
    shift = net(other) - net(x)
    tables = net.categories.tables
    expected = (tables[0].weight[2] - tables[0].weight[1]).expand(8, 3)
    torch.testing.assert_close(shift, expected)


def _tabm(d_out: int) -> TabMNet:
    torch.manual_seed(0)
    net = build_model(TabMSpec(k=4, n_blocks=1, d_block=8, dropout=0.0), d_in=D_IN, d_out=d_out,
                      n_num=N_NUM)
    assert isinstance(net, TabMNet)
    return net


def test_tabm_predicts_the_mean_of_its_heads_probabilities() -> None:
    net, x = _tabm(3), torch.randn(6, D_IN)
    with torch.no_grad():
        heads = net.train()(x)  # no dropout: the heads are the eval-mode heads
        mean = net.eval()(x)
    assert torch.allclose(torch.softmax(mean, dim=1), torch.softmax(heads, dim=-1).mean(dim=1),
                          atol=1e-6)


def test_tabm_regression_predicts_the_mean_of_its_heads() -> None:
    net, x = _tabm(1), torch.randn(6, D_IN)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), net.train()(x).mean(dim=1), atol=1e-6)


@pytest.mark.parametrize(("loss_fn", "d_out", "target"), [
    (nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0, 0.5]), label_smoothing=0.1), 3,
     torch.tensor([0, 2, 1, 1, 0, 2])),
    (nn.MSELoss(), 1, torch.randn(6)),
])
def test_tabm_trains_on_the_mean_of_its_heads_losses(loss_fn: nn.Module, d_out: int,
                                                      target: torch.Tensor) -> None:
    with torch.no_grad():
        heads = _tabm(d_out).train()(torch.randn(6, D_IN))
    each = [batch_loss(loss_fn, heads[:, i], target) for i in range(heads.shape[1])]
    assert math.isclose(float(batch_loss(loss_fn, heads, target)),
                        float(torch.stack(each).mean()), rel_tol=1e-5)


INVALID_SPECS: list[tuple[Any, dict[str, Any]]] = [
    (MLPSpec, {"n_blocks": 0}), (MLPSpec, {"d_block": 0}), (MLPSpec, {"dropout": -0.1}),
    (MLPSpec, {"dropout": 1.0}), (MLPSpec, {"activation": "tanh"}), (MLPSpec, {"norm": "group"}),
    (MLPSpec, {"embedding": "ple"}), (MLPSpec, {"n_frequencies": 0}),
    (MLPSpec, {"d_embedding": 0}), (MLPSpec, {"frequency_scale": 0.0}), (TabMSpec, {"k": 0}),
    (MLPSpec, {"n_bins": 1}),
    (LinearSpec, {"scaling": "minmax"}),
]


@pytest.mark.parametrize(("spec_type", "changes"), INVALID_SPECS,
                         ids=[f"{s.kind}-{c}" for s, c in INVALID_SPECS])
def test_invalid_spec_raises_value_error_naming_the_field(spec_type: Any,
                                                          changes: dict[str, Any]) -> None:
    (name,) = changes
    with pytest.raises(ValueError, match=name):
        spec_type(**changes)


@pytest.mark.parametrize(("d_in", "d_out", "n_num"), [
    (0, 1, 0), (3, 0, 0), (3, 1, -1), (3, 1, 4),
])
def test_build_model_rejects_bad_dimensions(d_in: int, d_out: int, n_num: int) -> None:
    with pytest.raises(ValueError, match="d_in"):
        build_model(MLPSpec(), d_in=d_in, d_out=d_out, n_num=n_num)


@pytest.mark.parametrize("spec", [
    LinearSpec(scaling="robust"), MLPSpec(norm="layer", embedding="periodic", n_blocks=3),
    ResNetSpec(norm="batch"), TabMSpec(k=8, embedding="periodic_lite")])
def test_spec_to_dict_round_trip(spec: ModelSpec) -> None:
    assert spec_from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["kind"] in FAMILIES


@pytest.mark.parametrize(("document", "expected"), [
    ({"kind": "mlp", "n_blocks": 0, "d_block": 128, "dropout": 0.1, "norm": "none",
      "activation": "relu", "embedding": "none", "n_frequencies": 16, "frequency_scale": 0.1,
      "d_embedding": 16, "scaling": "robust"}, LinearSpec(scaling="robust")),
    ({"kind": "resnet", "n_blocks": 2, "d_block": 64, "norm": "batch"},
     ResNetSpec(n_blocks=2, d_block=64, norm="batch")),
    ({"n_blocks": 1}, MLPSpec(n_blocks=1)),
])
def test_specs_written_before_the_families_still_read(document: dict[str, Any],
                                                      expected: ModelSpec) -> None:
    assert spec_from_dict(document) == expected


def test_an_unknown_family_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'transformer'"):
        spec_from_dict({"kind": "transformer"})


@pytest.mark.parametrize(("scaling", "read", "ignored"), [("quantile", 0, 1), ("robust", 1, 0)])
@pytest.mark.parametrize(("spec_type", "embedding"), [
    (LinearSpec, None), (MLPSpec, "none"), (MLPSpec, "periodic"), (TabMSpec, "periodic_lite")])
def test_a_network_reads_only_the_continuous_block_of_its_scaling(
        scaling: Any, read: int, ignored: int, spec_type: Any, embedding: str | None) -> None:
    """Inputs: 2 blocks of N_NUM continuous features, then 2 others; one block is never read."""
    spec = (LinearSpec(scaling=scaling) if embedding is None
            else _small(spec_type, n_blocks=1, scaling=scaling, embedding=embedding))
    net = build_model(spec, d_in=2 * N_NUM + 2, d_out=2, n_num=N_NUM, n_scalings=2).eval()
    x = torch.randn(5, 2 * N_NUM + 2)
    blocks = [slice(i * N_NUM, (i + 1) * N_NUM) for i in range(2)]
    other = x.clone()
    other[:, blocks[ignored]] = torch.randn(5, N_NUM)
    assert torch.equal(net(other), net(x))
    other[:, blocks[read]] += 1.0
    assert not torch.allclose(net(other), net(x))


def test_a_scaling_the_inputs_do_not_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="robust"):
        build_model(MLPSpec(scaling="robust"), d_in=4, d_out=2, n_num=2, n_scalings=1)


CARDINALITIES = (5, 40)


@pytest.mark.parametrize("spec_type", [LinearSpec, *SPECS])
def test_every_family_embeds_the_level_codes_that_end_its_inputs(spec_type: Any) -> None:
    spec = spec_type() if spec_type is LinearSpec else _small(spec_type)
    d_in = D_IN + len(CARDINALITIES)
    net = build_model(spec, d_in=d_in, d_out=2, n_num=N_NUM, cardinalities=CARDINALITIES)
    x = torch.cat([torch.randn(6, D_IN), torch.tensor([[0.0, 39.0]] * 3 + [[4.0, 1.0]] * 3)],
                  dim=1)
    net.train()
    net(x).sum().backward()
    tables = net.categories.tables
    assert [t.num_embeddings for t in tables] == list(CARDINALITIES)
    assert all(t.weight.grad is not None and t.weight.grad.abs().sum() > 0 for t in tables)
    assert net.d_features == N_NUM + (D_IN - N_NUM) + sum(t.embedding_dim for t in tables)
    net.eval()
    other_level = x.clone()
    other_level[:, -1] = 7.0
    with torch.no_grad():
        assert not torch.allclose(net(x), net(other_level))  # the code is read


def test_level_codes_need_room_in_the_inputs() -> None:
    with pytest.raises(ValueError, match="cardinalities"):
        build_model(MLPSpec(), d_in=3, d_out=1, n_num=2, cardinalities=(4, 4))
    with pytest.raises(ValueError, match="cardinalities"):
        build_model(MLPSpec(), d_in=3, d_out=1, n_num=0, cardinalities=(0,))


def test_piecewise_bins_stay_sorted_once_rounded_to_the_networks_float32() -> None:
    # Three float32 neighbours: rtdl interpolates a quantile between the first two, a float64
    # edge that rounds onto its neighbour in float32 (seen on scikit-learn's wine table).
    eps = torch.finfo(torch.float32).eps
    column = torch.cat([torch.ones(50), torch.full((50,), 1 + eps), torch.full((50,), 1 + 2 * eps)])
    spec = MLPSpec(embedding="piecewise", n_bins=48, d_block=8)
    bins = fit_bins(spec, column[:, None].repeat(1, N_NUM), N_NUM, 1)
    assert bins is not None and bins[0] == [1.0, 1 + eps, 1 + 2 * eps]
    net = build_model(spec, d_in=N_NUM, d_out=2, n_num=N_NUM, bins=bins)
    assert net(column[:4, None].repeat(1, N_NUM)).shape == (4, 2)
