"""The MLP family (Gorishniy et al. 2021, "Revisiting Deep Learning Models for Tabular Data"):
``[embeddings] → (Linear → norm → activation → dropout) × n_blocks → Linear``.

Its defaults are the tuned MLP of that paper as this search ran it before the families
(3 × 256), with piecewise-linear embeddings of 48 bins (MLP-PLE, Gorishniy et al. 2022: in a
60-s trial on one thread, 0.9184 validation ROC-AUC on adult against 0.9114 without, and 535
against 572 RMSE on diamonds; ``benchmarks/warm_start.py``, ``benchmarks/RESULTS.md``), and
RealMLP-TD's recipe (Holzmüller et al. 2024; pytabkit ``default_params.py``): 3 × 256, robust
scaling with a smooth clip, periodic embeddings with σ 0.1, dropout 0.15, weight decay 2e-2,
label smoothing 0.1, a flat-then-cosine schedule. RealMLP's Adam rate (4e-2) rests on its own
parametrisation and scaling layer, which this network does not have: here it starts at 2e-3
like TabM's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from automl.networks.base import (
    ACTIVATIONS,
    PIECEWISE_DEFAULT,
    Bins,
    Family,
    NetworkSpec,
    Norm,
    Suggest,
    TabularNetwork,
    check_choice,
    norm_layer,
    sample_network,
)

NORMS: tuple[Norm, ...] = ("none", "batch", "layer")


@dataclass(frozen=True, slots=True, kw_only=True)
class MLPSpec(NetworkSpec):
    """A network spec with a normalisation layer in each block."""

    kind: ClassVar[str] = "mlp"
    norm: Norm = "none"

    def __post_init__(self) -> None:
        NetworkSpec.__post_init__(self)
        check_choice("norm", self.norm, NORMS)


class MLPNet(TabularNetwork):
    """The plain MLP."""

    def __init__(self, *, spec: MLPSpec, d_in: int, d_out: int, n_num: int,
                 n_scalings: int, bins: Bins | None = None,
                 cardinalities: tuple[int, ...] = ()) -> None:
        super().__init__(spec=spec, d_in=d_in, n_num=n_num, n_scalings=n_scalings, bins=bins,
                         cardinalities=cardinalities)
        widths = [self.d_features] + [spec.d_block] * spec.n_blocks
        self.blocks = nn.Sequential(*(
            nn.Sequential(nn.Linear(d_a, d_b), norm_layer(spec.norm, d_b),
                          ACTIVATIONS[spec.activation](), nn.Dropout(spec.dropout))
            for d_a, d_b in itertools.pairwise(widths)))
        self.output = nn.Linear(spec.d_block, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.blocks(self.features(x)))


def sample_normed(trial: Suggest) -> dict[str, Any]:
    """:func:`sample_network`'s fields and the ``norm``."""
    return sample_network(trial) | {"norm": trial.suggest_categorical("norm", list(NORMS))}


_TUNED = {"arch": "mlp", "scaling": "quantile", "n_blocks": 3, "d_block": 256, "dropout": 0.1,
          "activation": "relu", "embedding": "none", "norm": "none", "optimizer": "adamw",
          "lr": 1e-3, "weight_decay": 1e-5, "schedule": "cosine", "batch_size": 256}
MLP_PLE = {**_TUNED, **PIECEWISE_DEFAULT}
REALMLP = {**_TUNED, "scaling": "robust", "dropout": 0.15, "embedding": "periodic",
           "periodic_n_frequencies": 16, "periodic_scale": 0.1, "periodic_d_embedding": 16,
           "lr": 2e-3, "weight_decay": 2e-2, "schedule": "flat_cosine", "label_smoothing": 0.1}

FAMILY = Family(kind="mlp", spec_type=MLPSpec, network=MLPNet, sample=sample_normed,
                defaults=(MLP_PLE, REALMLP))
