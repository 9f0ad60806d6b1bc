"""Torch networks for tabular data, and the one factory that builds them from a spec.

Two families, after Gorishniy et al. 2021 ("Revisiting Deep Learning Models for Tabular Data"):
a plain MLP and a residual MLP (ResNet). Either can embed its continuous inputs with periodic
embeddings (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular Deep
Learning"). With ``n_blocks=0`` either is a linear model (logistic or linear regression) on its
inputs: the baseline every search can fall back on. The inputs hold the continuous features once
per scaling (:data:`~automl.config.SCALINGS`); a network reads the block of its spec's
``scaling``. Modules know nothing about data: every dimension is an explicit argument.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

from automl.config import SCALINGS, Scaling

Kind = Literal["mlp", "resnet"]
Norm = Literal["none", "batch", "layer"]
Embedding = Literal["none", "periodic"]
_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """The searched architecture (filled by :mod:`automl.space`)."""

    kind: Kind = "mlp"
    n_blocks: int = 2
    d_block: int = 128
    dropout: float = 0.1
    norm: Norm = "none"
    activation: str = "relu"
    embedding: Embedding = "none"
    n_frequencies: int = 16
    frequency_scale: float = 0.1
    d_embedding: int = 16
    scaling: Scaling = "quantile"

    def __post_init__(self) -> None:
        if self.n_blocks < 0 or self.d_block < 1:
            raise ValueError(f"n_blocks must be ≥ 0 and d_block positive: {self.n_blocks=}, "
                             f"{self.d_block=}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1): {self.dropout=}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}: "
                             f"{self.activation=}")
        for name, options in (("kind", get_args(Kind)), ("norm", get_args(Norm)),
                              ("embedding", get_args(Embedding)), ("scaling", SCALINGS)):
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {list(options)}: "
                                 f"{name}={getattr(self, name)!r}")
        if min(self.n_frequencies, self.d_embedding) < 1 or not self.frequency_scale > 0:
            raise ValueError(f"periodic embedding sizes and scale must be positive: "
                             f"{self.n_frequencies=}, {self.d_embedding=}, "
                             f"{self.frequency_scale=}")

    @property
    def is_linear(self) -> bool:
        """No hidden block and no embedding: a linear (logistic) model of the inputs."""
        return self.n_blocks == 0 and self.embedding == "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _norm(norm: Norm, d: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm1d(d)
    return nn.LayerNorm(d) if norm == "layer" else nn.Identity()


class PeriodicEmbeddings(nn.Module):
    """Per-feature ``Linear(cos(2πcx), sin(2πcx))`` + ReLU ("PLR" embeddings), flattened.

    Input ``(batch, n_features)`` → output ``(batch, n_features * d_embedding)``.
    """

    def __init__(self, *, n_features: int, n_frequencies: int, frequency_scale: float,
                 d_embedding: int) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_features, n_frequencies) * frequency_scale)
        self.weight = nn.Parameter(torch.empty(n_features, 2 * n_frequencies, d_embedding))
        self.bias = nn.Parameter(torch.zeros(n_features, d_embedding))
        nn.init.uniform_(self.weight, -1 / math.sqrt(2 * n_frequencies),
                         1 / math.sqrt(2 * n_frequencies))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * self.frequencies * x.unsqueeze(-1)
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        out = torch.einsum("bfk,fkd->bfd", periodic, self.weight) + self.bias
        return torch.relu(out).flatten(1)


class _MLPBlock(nn.Sequential):
    def __init__(self, *, d_in: int, d_out: int, norm: Norm, activation: str, dropout: float):
        super().__init__(nn.Linear(d_in, d_out), _norm(norm, d_out), _ACTIVATIONS[activation](),
                         nn.Dropout(dropout))


class _ResidualBlock(nn.Module):
    def __init__(self, *, d: int, norm: Norm, activation: str, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(_norm(norm, d), nn.Linear(d, 2 * d), _ACTIVATIONS[activation](),
                                  nn.Dropout(dropout), nn.Linear(2 * d, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TabularNet(nn.Module):
    """``[embeddings] → blocks → output`` on ``n_scalings`` blocks of ``n_num`` continuous
    inputs, then the other inputs, of which it reads the continuous block of ``spec.scaling``.

    With ``spec.n_blocks == 0`` there are no blocks: the output layer reads the (embedded)
    inputs directly.
    """

    def __init__(self, *, spec: ModelSpec, d_in: int, d_out: int, n_num: int,
                 n_scalings: int = 1) -> None:
        super().__init__()
        block = SCALINGS.index(spec.scaling)
        if block >= n_scalings:
            raise ValueError(f"the inputs hold {n_scalings} scaling(s); {spec.scaling=} is not "
                             "among them")
        self.continuous = slice(block * n_num, (block + 1) * n_num)
        self.rest = n_scalings * n_num
        self.n_num = n_num if spec.embedding == "periodic" else 0
        self.embeddings = PeriodicEmbeddings(
            n_features=self.n_num, n_frequencies=spec.n_frequencies,
            frequency_scale=spec.frequency_scale, d_embedding=spec.d_embedding,
        ) if self.n_num else None
        d_first = d_in - self.rest + n_num - self.n_num + self.n_num * spec.d_embedding
        if spec.n_blocks == 0:
            self.blocks = nn.Identity()
            self.output = nn.Linear(d_first, d_out)
        elif spec.kind == "mlp":
            blocks = [_MLPBlock(d_in=d_first if i == 0 else spec.d_block, d_out=spec.d_block,
                                norm=spec.norm, activation=spec.activation, dropout=spec.dropout)
                      for i in range(spec.n_blocks)]
            self.blocks = nn.Sequential(*blocks)
            self.output = nn.Linear(spec.d_block, d_out)
        else:
            self.blocks = nn.Sequential(
                nn.Linear(d_first, spec.d_block),
                *(_ResidualBlock(d=spec.d_block, norm=spec.norm, activation=spec.activation,
                                 dropout=spec.dropout) for _ in range(spec.n_blocks)))
            self.output = nn.Sequential(_norm(spec.norm, spec.d_block),
                                        _ACTIVATIONS[spec.activation](),
                                        nn.Linear(spec.d_block, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        continuous, rest = x[:, self.continuous], x[:, self.rest:]
        if self.embeddings is not None:
            continuous = self.embeddings(continuous)
        return self.output(self.blocks(torch.cat([continuous, rest], dim=1)))


def build_model(spec: ModelSpec, d_in: int, d_out: int, n_num: int = 0,
                n_scalings: int = 1) -> nn.Module:
    """The network for ``spec`` with ``d_in`` inputs, led by ``n_scalings`` blocks of ``n_num``
    continuous ones.

    >>> net = build_model(ModelSpec(n_blocks=2, d_block=8), d_in=5, d_out=3)
    >>> net(torch.zeros(4, 5)).shape
    torch.Size([4, 3])
    """
    if d_in < 1 or d_out < 1 or n_scalings < 1 or not 0 <= n_num * n_scalings <= d_in:
        raise ValueError(f"need d_in ≥ 1, d_out ≥ 1, 0 ≤ n_num × n_scalings ≤ d_in: {d_in=}, "
                         f"{d_out=}, {n_num=}, {n_scalings=}")
    return TabularNet(spec=spec, d_in=d_in, d_out=d_out, n_num=n_num, n_scalings=n_scalings)
