"""The linear family: a linear (logistic) model of the preprocessed inputs.

What a user would write in five lines, as a network; the first configuration every search
tries, so no study ends worse, on its own validation scores, than the linear baseline. It reads
the robust-scaled block by default: the quantile map bends every column, which hurts a linear
model (``benchmarks/linear_scaling.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from automl.networks.base import Bins, Family, ModelSpec, Suggest, TabularNetwork


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearSpec(ModelSpec):
    """No architecture beyond the scaling it reads."""

    kind: ClassVar[str] = "linear"


class LinearNet(TabularNetwork):
    """``Linear(d_dense → d_out)`` on the spec's scaling block and the 0/1 columns, plus one
    learned ``d_out`` vector per level of each embedded categorical: the weights a one-hot
    encoding of every level would get, so the model stays linear (and its loss convex) in
    its parameters; an embedding followed by a linear layer would not be."""

    def __init__(self, *, spec: LinearSpec, d_in: int, d_out: int, n_num: int,
                 n_scalings: int, bins: Bins | None = None,
                 cardinalities: tuple[int, ...] = ()) -> None:
        super().__init__(spec=spec, d_in=d_in, n_num=n_num, n_scalings=n_scalings, bins=bins,
                         cardinalities=cardinalities, d_category=d_out)
        self.output = nn.Linear(self.d_dense, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.output(self.dense_features(x))
        if self.categories is None:
            return out
        levels = self.categories(x[:, self.codes])  # (batch, n_codes × d_out)
        return out + levels.unflatten(1, (len(self.categories.tables), -1)).sum(dim=1)


def _sample(trial: Suggest) -> dict[str, Any]:
    return {}


FAMILY = Family(kind="linear", spec_type=LinearSpec, network=LinearNet, sample=_sample,
                defaults=({"arch": "linear", "scaling": "robust", "optimizer": "adamw",
                           "lr": 1e-1, "weight_decay": 1e-4, "schedule": "cosine",
                           "batch_size": 64},))
