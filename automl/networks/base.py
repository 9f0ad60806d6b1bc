"""What every model family shares: the spec fields, the input layer and the family record.

A network's inputs hold ``n_scalings`` blocks of the ``n_num`` continuous features (one per
:data:`~automl.config.SCALINGS`), then the other encoded columns, then one level code per
categorical of many levels (``cardinalities``: each one's number of codes).
:class:`TabularNetwork` reads the continuous block of its spec's ``scaling``, optionally embeds
it with ``rtdl_num_embeddings``' periodic embeddings (Gorishniy et al. 2022), embeds each level
code (:class:`CategoricalEmbeddings`), and hands the flat features to the family's body.
Modules know nothing about data: every dimension is an explicit keyword argument.

Piecewise-linear embeddings (``piecewise``) encode each continuous feature by where it falls
among its quantile bins, fitted by :func:`fit_bins` on the network's training rows only; the
bins are part of the network (:attr:`TabularNetwork.bins`) and saved with it.

The contract between a network and the training loop: in training mode a network returns
``(batch, d_out)``, or ``(batch, k, d_out)`` when it has ``k`` heads (the loss is then the mean
of the heads' losses); in evaluation mode every network returns ``(batch, d_out)``. ``d_out``
is 1 for regression and the number of classes for classification (outputs are logits).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Protocol, get_args

import torch
from rtdl_num_embeddings import PeriodicEmbeddings, PiecewiseLinearEmbeddings, compute_bins
from torch import nn

from automl.config import SCALINGS, Scaling

Norm = Literal["none", "batch", "layer"]
Embedding = Literal["none", "periodic", "periodic_lite", "piecewise"]
Bins = list[list[float]]  # per continuous feature, its sorted bin edges (at least two)
Activation = Literal["relu", "gelu", "silu"]
#: The piecewise-linear embedding of the warm starts that use one (rtdl's 48 bins, 16 dims).
PIECEWISE_DEFAULT: dict[str, Any] = {"embedding": "piecewise", "piecewise_n_bins": 48,
                                     "piecewise_d_embedding": 16}
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """What every family's spec has: the ``scaling`` of the continuous inputs it reads, and
    its family's registry key as the class attribute :attr:`kind`."""

    kind: ClassVar[str]
    scaling: Scaling = "quantile"

    def __post_init__(self) -> None:
        check_choice("scaling", self.scaling, SCALINGS)

    def to_dict(self) -> dict[str, Any]:
        """The fields and ``kind``: what a bundle stores and :func:`spec_from_dict` reads."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec(ModelSpec):
    """A family with hidden blocks: depth, width, dropout, activation, and the embedding of the
    continuous inputs (``periodic``: a linear layer per feature after the periodic features,
    as in PLR; ``periodic_lite``: one linear layer shared by all features, TabM's default;
    ``piecewise``: piecewise-linear encoding on ``n_bins`` quantile bins, then a linear layer
    per feature, rtdl_num_embeddings' version B)."""

    n_blocks: int = 2
    d_block: int = 128
    dropout: float = 0.1
    activation: Activation = "relu"
    embedding: Embedding = "none"
    n_frequencies: int = 16
    frequency_scale: float = 0.1
    d_embedding: int = 16
    n_bins: int = 48

    def __post_init__(self) -> None:
        ModelSpec.__post_init__(self)
        if self.n_blocks < 1 or self.d_block < 1:
            raise ValueError(f"n_blocks and d_block must be positive: {self.n_blocks=}, "
                             f"{self.d_block=}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1): {self.dropout=}")
        check_choice("activation", self.activation, get_args(Activation))
        check_choice("embedding", self.embedding, get_args(Embedding))
        if min(self.n_frequencies, self.d_embedding) < 1 or not self.frequency_scale > 0:
            raise ValueError(f"periodic embedding sizes and scale must be positive: "
                             f"{self.n_frequencies=}, {self.d_embedding=}, "
                             f"{self.frequency_scale=}")
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be at least 2: {self.n_bins=}")


def check_choice(name: str, value: object, options: tuple[object, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}: {name}={value!r}")


def norm_layer(norm: Norm, d: int) -> nn.Module:
    """``BatchNorm1d``, ``LayerNorm`` or nothing, for ``d`` features."""
    if norm == "batch":
        return nn.BatchNorm1d(d)
    return nn.LayerNorm(d) if norm == "layer" else nn.Identity()


#: The widest embedding of a categorical column.
MAX_CATEGORY_WIDTH = 16


def category_width(cardinality: int) -> int:
    """The embedding width of a column of ``cardinality`` codes: fast.ai's rule of thumb
    ``1.6 n^0.56``, at most :data:`MAX_CATEGORY_WIDTH`.

    >>> [category_width(n) for n in (4, 41, 101, 5001)]
    [3, 13, 16, 16]
    """
    return min(MAX_CATEGORY_WIDTH, round(1.6 * cardinality ** 0.56))


class CategoricalEmbeddings(nn.Module):
    """One embedding table per categorical column, ``category_width(n)`` wide for ``n`` codes
    (or ``width`` wide when given), initialised uniformly in ``±1/sqrt(width)`` (as rtdl's
    ``CategoricalEmbeddings``); reads the codes as floats ``(batch, n_columns)`` and returns
    ``(batch, sum of widths)``."""

    def __init__(self, cardinalities: tuple[int, ...], width: int | None = None) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(n, width or category_width(n))
                                    for n in cardinalities)
        for table in self.tables:
            bound = table.embedding_dim ** -0.5
            nn.init.uniform_(table.weight, -bound, bound)

    @property
    def widths(self) -> list[int]:
        return [table.embedding_dim for table in self.tables]

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        index = codes.long()
        return torch.cat([table(index[:, j]) for j, table in enumerate(self.tables)], dim=1)


class TabularNetwork(nn.Module):
    """The input layer every family shares; subclasses add a body reading :meth:`features`.

    :attr:`d_features` is the width of :meth:`features`' output and :attr:`feature_sizes`
    its split into one representation per input feature (``d_embedding`` wide for an embedded
    continuous feature, a categorical's embedding width for its level code (``d_category``
    instead of :func:`category_width` when given), 1 for any other column). :attr:`bins` are the
    piecewise-linear embedding's bins (``None`` for any other embedding): a ``piecewise`` spec
    needs them.
    """

    def __init__(self, *, spec: ModelSpec, d_in: int, n_num: int, n_scalings: int,
                 bins: Bins | None = None, cardinalities: tuple[int, ...] = (),
                 d_category: int | None = None) -> None:
        super().__init__()
        block = SCALINGS.index(spec.scaling)
        if block >= n_scalings:
            raise ValueError(f"the inputs hold {n_scalings} scaling(s); {spec.scaling=} is not "
                             "among them")
        self.continuous = slice(block * n_num, (block + 1) * n_num)
        self.rest = slice(n_scalings * n_num, d_in - len(cardinalities))
        self.codes = slice(d_in - len(cardinalities), d_in)
        self.embeddings = _embeddings(spec, n_num, bins) if n_num else None
        self.bins = bins if isinstance(self.embeddings, PiecewiseLinearEmbeddings) else None
        self.categories = (CategoricalEmbeddings(cardinalities, d_category)
                           if cardinalities else None)
        d_num = 1 if self.embeddings is None else self.embeddings.get_output_shape()[1]
        dense_sizes = [d_num] * n_num + [1] * (self.rest.stop - self.rest.start)
        self.d_dense = sum(dense_sizes)
        self.feature_sizes = dense_sizes + (self.categories.widths if self.categories else [])
        self.d_features = sum(self.feature_sizes)

    def dense_features(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous (embedded or not) and 0/1 inputs ``(batch, d_dense)``."""
        continuous = x[:, self.continuous]
        if self.embeddings is not None:
            continuous = self.embeddings(continuous).flatten(1)
        return torch.cat([continuous, x[:, self.rest]], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flat input representation ``(batch, d_features)`` of the raw inputs ``x``: the
        dense features, then the level codes' embeddings."""
        if self.categories is None:
            return self.dense_features(x)
        return torch.cat([self.dense_features(x), self.categories(x[:, self.codes])], dim=1)


def _embeddings(spec: ModelSpec, n_num: int,
                bins: Bins | None) -> PeriodicEmbeddings | PiecewiseLinearEmbeddings | None:
    embedding = getattr(spec, "embedding", "none")
    if embedding == "none":
        return None
    assert isinstance(spec, NetworkSpec)
    if embedding == "piecewise":
        if bins is None or len(bins) != n_num:
            raise ValueError(f"piecewise-linear embeddings need the bins of all {n_num} "
                             "continuous features (fit_bins)")
        with _one_bin_allowed():
            return PiecewiseLinearEmbeddings([torch.tensor(b) for b in bins], spec.d_embedding,
                                             activation=False, version="B")
    return PeriodicEmbeddings(n_num, spec.d_embedding, n_frequencies=spec.n_frequencies,
                              frequency_init_scale=spec.frequency_scale,
                              lite=embedding == "periodic_lite")


#: Rows the piecewise-linear bins are computed from. A quantile of a million rows is within
#: about 0.001 (in share of rows) of the full table's, while binning ten million rows in float64
#: held 3 GiB beside the data.
MAX_BIN_ROWS = 1_000_000


def fit_bins(spec: ModelSpec, x_train: torch.Tensor, n_num: int,
             n_scalings: int) -> Bins | None:
    """The quantile bins of each continuous feature of ``spec``'s scaling block in the training
    rows ``x_train`` (at most ``spec.n_bins``, fewer for a feature with few distinct values or a
    table with few rows); ``None`` unless ``spec`` embeds piecewise-linearly. A feature constant
    in these rows gets one bin around its value. Of more than :data:`MAX_BIN_ROWS` rows, a
    fixed random sample of that many is binned. The edges are float32 values, as the network
    holds them, and strictly increasing: two quantiles that round to one float32 are one edge
    (on scikit-learn's wine table, quantiles interpolated between neighbouring values did, and
    rtdl refused the unsorted bins)."""
    if getattr(spec, "embedding", "none") != "piecewise" or not n_num or len(x_train) < 3:
        return None
    assert isinstance(spec, NetworkSpec)
    start = SCALINGS.index(spec.scaling) * n_num
    block = slice(start, start + n_num)
    if len(x_train) > MAX_BIN_ROWS:  # a fixed sample: the same bins for every trial
        sample = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))
        columns = x_train[sample[:MAX_BIN_ROWS].to(x_train.device), block]
    else:
        columns = x_train[:, block]
    return [_edges(column, spec.n_bins) for column in columns.detach().double().cpu().T]


def _edges(column: torch.Tensor, n_bins: int) -> list[float]:
    """At most ``n_bins`` quantile bins of ``column`` as strictly increasing float32 edges; one
    bin around its value when it has just one (in float32)."""
    low, high = float(column.min()), float(column.max())
    edges = torch.empty(0)
    if low != high:
        with _one_bin_allowed():
            edges = compute_bins(column[:, None], min(n_bins, len(column) - 1))[0]
        edges = edges.float().unique()
    return edges.tolist() if len(edges) > 1 else [low - 1.0, high + 1.0]


@contextmanager
def _one_bin_allowed() -> Iterator[None]:
    """Silences rtdl_num_embeddings' warning about a feature with one bin (two distinct
    values): its piecewise-linear encoding is min-max scaling, which is what such a feature
    needs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*just two bin edges")
        yield


class Suggest(Protocol):
    """The part of an Optuna trial a family's sampler uses (Optuna itself stays out of here)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """One model family, as the registry holds it.

    ``sample(trial)`` draws the family's own spec fields (beyond ``kind`` and ``scaling``) as
    keyword arguments of ``spec_type``; ``network(spec=..., d_in=..., d_out=..., n_num=...,
    n_scalings=..., bins=..., cardinalities=...)`` builds the module; ``defaults`` are the
    family's published default configurations as full Optuna parameter sets (architecture and
    optimisation), which the search tries first; ``cpu_defaults``, where a family has them,
    replace ``defaults`` in a search on CPU, where the published ones cost too much per epoch.
    """

    kind: str
    spec_type: type[ModelSpec]
    network: Callable[..., nn.Module]
    sample: Callable[[Suggest], dict[str, Any]]
    defaults: tuple[dict[str, Any], ...] = ()
    cpu_defaults: tuple[dict[str, Any], ...] | None = None

    def warm_start(self, *, cpu: bool) -> tuple[dict[str, Any], ...]:
        """The defaults a search on CPU (``cpu``) or on a GPU tries first."""
        return self.cpu_defaults if cpu and self.cpu_defaults is not None else self.defaults


def sample_network(trial: Suggest) -> dict[str, Any]:
    """The :class:`NetworkSpec` fields, with ranges from the published spaces (TabM's paper:
    1–5 blocks of 64–1024; rtdl_num_embeddings: the frequency scale σ matters most and is
    below 1 on 80% of tasks, so it is drawn on a log scale from 0.01)."""
    fields: dict[str, Any] = {
        "n_blocks": trial.suggest_int("n_blocks", 1, 5),
        "d_block": trial.suggest_int("d_block", 64, 1024, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "activation": trial.suggest_categorical("activation", list(get_args(Activation))),
        "embedding": trial.suggest_categorical("embedding", list(get_args(Embedding))),
    }
    if fields["embedding"] == "piecewise":
        fields |= {
            "n_bins": trial.suggest_int("piecewise_n_bins", 8, 64, log=True),
            "d_embedding": trial.suggest_int("piecewise_d_embedding", 8, 32, log=True),
        }
    elif fields["embedding"] != "none":
        fields |= {
            "n_frequencies": trial.suggest_int("periodic_n_frequencies", 8, 64, log=True),
            "frequency_scale": trial.suggest_float("periodic_scale", 0.01, 10.0, log=True),
            "d_embedding": trial.suggest_int("periodic_d_embedding", 8, 32, log=True),
        }
    return fields
