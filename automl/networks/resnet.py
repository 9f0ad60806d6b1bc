"""The ResNet family (Gorishniy et al. 2021): ``[embeddings] → Linear → residual blocks →
norm → activation → Linear``, each block ``x + Dropout(Linear(Dropout(act(Linear(norm(x))))))``
with a hidden width of ``2 × d_block``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from automl.networks.base import ACTIVATIONS, Bins, Family, TabularNetwork, norm_layer
from automl.networks.mlp import MLPSpec, sample_normed


@dataclass(frozen=True, slots=True, kw_only=True)
class ResNetSpec(MLPSpec):
    """The MLP's fields, read as residual blocks."""

    kind: ClassVar[str] = "resnet"


class _ResidualBlock(nn.Module):
    def __init__(self, *, spec: ResNetSpec) -> None:
        super().__init__()
        d = spec.d_block
        self.body = nn.Sequential(norm_layer(spec.norm, d), nn.Linear(d, 2 * d),
                                  ACTIVATIONS[spec.activation](), nn.Dropout(spec.dropout),
                                  nn.Linear(2 * d, d), nn.Dropout(spec.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetNet(TabularNetwork):
    """The residual MLP."""

    def __init__(self, *, spec: ResNetSpec, d_in: int, d_out: int, n_num: int,
                 n_scalings: int, bins: Bins | None = None,
                 cardinalities: tuple[int, ...] = ()) -> None:
        super().__init__(spec=spec, d_in=d_in, n_num=n_num, n_scalings=n_scalings, bins=bins,
                         cardinalities=cardinalities)
        self.blocks = nn.Sequential(nn.Linear(self.d_features, spec.d_block),
                                    *(_ResidualBlock(spec=spec) for _ in range(spec.n_blocks)))
        self.output = nn.Sequential(norm_layer(spec.norm, spec.d_block),
                                    ACTIVATIONS[spec.activation](),
                                    nn.Linear(spec.d_block, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.blocks(self.features(x)))


FAMILY = Family(kind="resnet", spec_type=ResNetSpec, network=ResNetNet, sample=sample_normed,
                defaults=({"arch": "resnet", "scaling": "quantile", "n_blocks": 2,
                           "d_block": 128, "dropout": 0.15, "activation": "relu",
                           "embedding": "none", "norm": "batch", "optimizer": "adamw",
                           "lr": 3e-4, "weight_decay": 1e-5, "schedule": "cosine",
                           "batch_size": 128},))
