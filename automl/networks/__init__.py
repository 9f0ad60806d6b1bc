"""Model families as a registry: one module per family, one line in :data:`FAMILIES`, and its
name in :data:`automl.config.FAMILY_NAMES` (which the command line's help reads without loading
PyTorch; a test checks that the two agree).

A family (:class:`~automl.networks.base.Family`) owns its spec, its part of the search space,
its published defaults and its network; :func:`build_model` and :func:`spec_from_dict` are the
only ways the rest of the code reaches them. Families: ``linear``, ``mlp``, ``tabm`` and
``resnet``; see each module.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from automl.networks import linear, mlp, resnet, tabm
from automl.networks.base import Bins, Family, ModelSpec, fit_bins
from automl.networks.linear import LinearSpec
from automl.networks.mlp import MLPSpec
from automl.networks.resnet import ResNetSpec
from automl.networks.tabm import TabMSpec

#: The families, in the order of :data:`~automl.config.FAMILY_NAMES` (the warm start's order).
FAMILIES: dict[str, Family] = {f.kind: f for f in (
    linear.FAMILY, mlp.FAMILY, tabm.FAMILY, resnet.FAMILY)}

__all__ = ["FAMILIES", "Bins", "Family", "LinearSpec", "MLPSpec", "ModelSpec", "ResNetSpec",
           "TabMSpec", "build_model", "fit_bins", "spec_from_dict"]


def spec_from_dict(document: dict[str, Any]) -> ModelSpec:
    """The spec :meth:`ModelSpec.to_dict` wrote. Specs written before the families (no
    ``kind`` means ``mlp``; an ``mlp`` of 0 blocks is the linear model) read as they were.

    Raises:
        ValueError: an unknown family or field, or a field out of range.
    """
    fields = dict(document)
    kind = fields.pop("kind", "mlp")
    if kind == "mlp" and fields.get("n_blocks") == 0:
        kind, fields = "linear", {"scaling": fields.get("scaling", "quantile")}
    if kind not in FAMILIES:
        raise ValueError(f"unknown model family {kind!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[kind].spec_type(**fields)


def build_model(spec: ModelSpec, d_in: int, d_out: int, n_num: int = 0,
                n_scalings: int = 1, bins: Bins | None = None,
                cardinalities: tuple[int, ...] = ()) -> nn.Module:
    """The network for ``spec`` with ``d_in`` inputs, led by ``n_scalings`` blocks of ``n_num``
    continuous ones and ended by one level code per entry of ``cardinalities`` (its number of
    codes), and ``d_out`` outputs (1 for regression, else one logit per class); ``bins``
    (:func:`fit_bins` of the training rows) for piecewise-linear embeddings.

    >>> import torch
    >>> net = build_model(MLPSpec(n_blocks=2, d_block=8), d_in=5, d_out=3)
    >>> net(torch.zeros(4, 5)).shape
    torch.Size([4, 3])
    """
    n_codes = len(cardinalities)
    if (d_in < 1 or d_out < 1 or n_scalings < 1 or not 0 <= n_num * n_scalings + n_codes <= d_in
            or min(cardinalities, default=1) < 1):
        raise ValueError(f"need d_in ≥ 1, d_out ≥ 1, 0 ≤ n_num × n_scalings + "
                         f"len(cardinalities) ≤ d_in, cardinalities ≥ 1: {d_in=}, {d_out=}, "
                         f"{n_num=}, {n_scalings=}, {cardinalities=}")
    return FAMILIES[spec.kind].network(spec=spec, d_in=d_in, d_out=d_out, n_num=n_num,
                                       n_scalings=n_scalings, bins=bins,
                                       cardinalities=tuple(cardinalities))
