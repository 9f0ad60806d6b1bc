"""Networks: every spec builds a module with the right output shape; bad specs fail early."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from automl.model import ModelSpec, PeriodicEmbeddings, TabularNet, build_model

D_IN, N_NUM = 7, 3
GRID = list(itertools.product(["mlp", "resnet"], ["none", "periodic"],
                              ["none", "batch", "layer"], [1, 3]))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("kind", "embedding", "norm", "d_out"), GRID,
                         ids=["-".join(map(str, case)) for case in GRID])
def test_output_shape(kind: Any, embedding: Any, norm: Any, d_out: int) -> None:
    spec = ModelSpec(kind=kind, embedding=embedding, norm=norm, n_blocks=2, d_block=8,
                     n_frequencies=4, d_embedding=4)
    net = build_model(spec, d_in=D_IN, d_out=d_out, n_num=N_NUM)
    x = torch.randn(5, D_IN)

    net.train()
    out = net(x)
    assert out.shape == (5, d_out)
    out.sum().backward()  # every parameter is reachable from the output
    assert all(p.grad is not None for p in net.parameters())

    net.eval()
    with torch.no_grad():
        single = net(x[:1])
    assert single.shape == (1, d_out) and torch.isfinite(single).all()


@pytest.mark.parametrize("n_blocks", [1, 4])
def test_mlp_has_one_block_per_n_blocks(n_blocks: int) -> None:
    net = build_model(ModelSpec(kind="mlp", n_blocks=n_blocks, d_block=8), d_in=3, d_out=2)
    assert isinstance(net, TabularNet)
    assert len(net.blocks) == n_blocks  # type: ignore[arg-type]


def test_periodic_embedding_replaces_only_the_continuous_inputs() -> None:
    spec = ModelSpec(embedding="periodic", n_frequencies=4, d_embedding=5, n_blocks=1, d_block=8)
    net = build_model(spec, d_in=D_IN, d_out=2, n_num=N_NUM)
    assert isinstance(net, TabularNet) and isinstance(net.embeddings, PeriodicEmbeddings)
    first = net.blocks[0][0]  # type: ignore[index]
    assert first.in_features == (D_IN - N_NUM) + N_NUM * 5


def test_periodic_embedding_without_continuous_inputs_is_skipped() -> None:
    net = build_model(ModelSpec(embedding="periodic", d_block=8), d_in=4, d_out=2, n_num=0)
    assert isinstance(net, TabularNet) and net.embeddings is None
    assert net(torch.zeros(2, 4)).shape == (2, 2)


def test_periodic_embeddings_shape() -> None:
    emb = PeriodicEmbeddings(n_features=3, n_frequencies=6, frequency_scale=0.1, d_embedding=4)
    assert emb(torch.randn(10, 3)).shape == (10, 12)


def test_dropout_is_off_in_eval_mode() -> None:
    net = build_model(ModelSpec(dropout=0.5, d_block=16), d_in=4, d_out=1)
    net.eval()
    x = torch.randn(8, 4)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


INVALID_SPECS: list[dict[str, Any]] = [
    {"n_blocks": -1}, {"d_block": 0}, {"dropout": -0.1}, {"dropout": 1.0},
    {"activation": "tanh"}, {"kind": "transformer"}, {"norm": "group"}, {"embedding": "ple"},
    {"n_frequencies": 0}, {"d_embedding": 0}, {"frequency_scale": 0.0},
]


@pytest.mark.parametrize("changes", INVALID_SPECS, ids=[str(c) for c in INVALID_SPECS])
def test_invalid_spec_raises_value_error_naming_the_field(changes: dict[str, Any]) -> None:
    (name,) = changes
    with pytest.raises(ValueError, match=name):
        ModelSpec(**changes)


@pytest.mark.parametrize(("d_in", "d_out", "n_num"), [
    (0, 1, 0), (3, 0, 0), (3, 1, -1), (3, 1, 4),
])
def test_build_model_rejects_bad_dimensions(d_in: int, d_out: int, n_num: int) -> None:
    with pytest.raises(ValueError, match="d_in"):
        build_model(ModelSpec(), d_in=d_in, d_out=d_out, n_num=n_num)


def test_spec_to_dict_round_trip() -> None:
    spec = ModelSpec(kind="resnet", norm="layer", embedding="periodic", n_blocks=3)
    assert ModelSpec(**spec.to_dict()) == spec


@pytest.mark.parametrize(("scaling", "read", "ignored"), [("quantile", 0, 1), ("robust", 1, 0)])
@pytest.mark.parametrize("embedding", ["none", "periodic"])
def test_a_network_reads_only_the_continuous_block_of_its_scaling(
        scaling: Any, read: int, ignored: int, embedding: Any) -> None:
    """Inputs: 2 blocks of N_NUM continuous features, then 2 others; one block is never read."""
    spec = ModelSpec(n_blocks=1, d_block=8, scaling=scaling, embedding=embedding,
                     n_frequencies=4, d_embedding=4)
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
        build_model(ModelSpec(scaling="robust"), d_in=4, d_out=2, n_num=2, n_scalings=1)
