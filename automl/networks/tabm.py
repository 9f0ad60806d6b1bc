"""The TabM family (Gorishniy et al. 2025, "TabM: Advancing Tabular Deep Learning with
Parameter-Efficient Ensembling"), built from the ``tabm`` package: ``k`` MLPs in one network,
sharing their weights except for BatchEnsemble's per-member scalings.

In training mode the network returns every member's output, ``(batch, k, d_out)``, and the
loop trains on the mean of the ``k`` losses; in evaluation mode it returns one output per row:
the mean of the members' predictions for regression, and for classification the log of the mean
of their probabilities (a softmax of it gives that mean back).

Its default is ``TabM.make``'s (tabm README): ``k = 32`` members, 3 × 512 (2 × 512 with numeric
embeddings), dropout 0.1, AdamW at 2e-3 with weight decay 3e-4, batch 256, here with lite
periodic embeddings. That is the warm start on a GPU. On CPU an epoch of it costs about 90
epochs of the 3 × 256 MLP (``benchmarks/family_cost.py``), and in a 60-s trial on one thread
it trains 3 epochs of adult; the CPU warm start is the same recipe at 2 × 256 with ``k = 4``
and piecewise-linear embeddings (the paper's best variant, TabM with PLE), which reached the
best validation score of the warm-start candidates measured in that time on adult and the
fourth best on diamonds (``benchmarks/RESULTS.md``). The search draws ``k`` from 4 to 32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from tabm import EnsembleView, LinearEnsemble, make_tabm_backbone

from automl.networks.base import (
    PIECEWISE_DEFAULT,
    Bins,
    Family,
    NetworkSpec,
    Suggest,
    TabularNetwork,
    sample_network,
)

K_CHOICES = (4, 8, 16, 32)
_BACKBONE_ACTIVATIONS = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TabMSpec(NetworkSpec):
    """A network spec with ``k`` BatchEnsemble members."""

    kind: ClassVar[str] = "tabm"
    k: int = 32

    def __post_init__(self) -> None:
        NetworkSpec.__post_init__(self)
        if self.k < 1:
            raise ValueError(f"k must be positive: {self.k=}")


class TabMNet(TabularNetwork):
    """``[embeddings] → k-member BatchEnsemble MLP → k output layers``."""

    def __init__(self, *, spec: TabMSpec, d_in: int, d_out: int, n_num: int,
                 n_scalings: int, bins: Bins | None = None,
                 cardinalities: tuple[int, ...] = ()) -> None:
        super().__init__(spec=spec, d_in=d_in, n_num=n_num, n_scalings=n_scalings, bins=bins,
                         cardinalities=cardinalities)
        self.k, self.classification = spec.k, d_out > 1
        self.ensemble_view = EnsembleView(k=spec.k)
        self.backbone = make_tabm_backbone(
            d_in=self.d_features, n_blocks=spec.n_blocks, d_block=spec.d_block,
            dropout=spec.dropout, activation=_BACKBONE_ACTIVATIONS[spec.activation], k=spec.k,
            start_scaling_init="random-signs" if self.embeddings is None else "normal",
            start_scaling_init_chunks=self.feature_sizes)
        self.output = LinearEnsemble(spec.d_block, d_out, k=spec.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads = self.output(self.backbone(self.ensemble_view(self.features(x))))
        return heads if self.training else self.mean_prediction(heads)

    def mean_prediction(self, heads: torch.Tensor) -> torch.Tensor:
        """``(batch, k, d_out)`` → ``(batch, d_out)``: the log of the mean probability
        (classification) or the mean value (regression)."""
        if not self.classification:
            return heads.mean(dim=1)
        return torch.logsumexp(torch.log_softmax(heads, dim=-1), dim=1) - math.log(self.k)


def _sample(trial: Suggest) -> dict[str, Any]:
    return sample_network(trial) | {"k": trial.suggest_categorical("tabm_k", list(K_CHOICES))}


#: ``TabM.make``'s defaults, with lite periodic embeddings (the warm start on a GPU).
PUBLISHED = {"arch": "tabm", "scaling": "quantile", "n_blocks": 2, "d_block": 512, "dropout": 0.1,
             "activation": "relu", "embedding": "periodic_lite", "periodic_n_frequencies": 48,
             "periodic_scale": 0.01, "periodic_d_embedding": 16, "tabm_k": 32,
             "optimizer": "adamw", "lr": 2e-3, "weight_decay": 3e-4, "schedule": "constant",
             "batch_size": 256}
#: The same recipe sized for a CPU: 2 × 256, 4 members, piecewise-linear embeddings.
ON_CPU = {**{k: v for k, v in PUBLISHED.items() if not k.startswith("periodic_")},
          "d_block": 256, "tabm_k": 4, **PIECEWISE_DEFAULT}

FAMILY = Family(kind="tabm", spec_type=TabMSpec, network=TabMNet, sample=_sample,
                defaults=(PUBLISHED,), cpu_defaults=(ON_CPU,))
