"""How trials are scored: one validation split, or k folds of the search rows (small data).

A table with at most :data:`CV_MAX_ROWS` search rows (the rows outside the test split) is
cross-validated: every trial trains one network per fold and is scored on the rows it did not
train on. With few rows one validation split is a small, noisy sample that the sampler, the
pruner and the ensemble all overfit; k folds score every configuration on every row, at k times
the training cost, which small data can afford. Larger tables keep one validation split.

:class:`Folds` is the fold of each search row, fixed per study: drawn once (stratified for
classification) and stored with the study (:meth:`Folds.encode`), so ``resume`` and every worker
score trials on the same folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from automl.config import CV_MAX_ROWS, DEFAULT_FOLDS, MAX_FOLDS, MIN_TEST_ROWS
from automl.errors import ConfigError
from automl.features import TensorSplits

DEFAULT_TEST_FRACTION = 0.15
DEFAULT_VAL_FRACTION = 0.15
#: A large table's validation split holds at most this many rows (every trial scores every
#: epoch on them, so their cost grows with the table for no gain in the ranking: the standard
#: error of a ROC-AUC on 20,000 rows is about 0.003), but never less than :data:`MIN_VAL_SHARE`
#: of the rows (AutoGluon's rule is ``max(1%, min(10%, 2,500 / n))``).
MAX_VAL_ROWS = 20_000
MIN_VAL_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Validation:
    """The scoring scheme of a study: ``folds`` (1: one validation split), the share of rows
    held out for the test split and the share that scores trials when there is one validation
    split (unused when cross-validating); ``split_by``: the column whose latest rows are held
    out, ``group_by``: the column whose groups of rows are held out whole (empty: rows held
    out at random, one by one)."""

    folds: int
    test_fraction: float
    val_fraction: float = DEFAULT_VAL_FRACTION
    split_by: str = ""
    group_by: str = ""

    @property
    def cross_validated(self) -> bool:
        return self.folds > 1


def too_small_for_test(n_rows: int, folds: int) -> bool:
    """Whether a table of ``n_rows`` is too small for a useful test split: cross-validated
    (``folds`` above 1), and the default share would hold fewer than :data:`MIN_TEST_ROWS`
    rows. Such a table gets none unless ``--test-fraction`` asks for one.

    >>> too_small_for_test(569, 5), too_small_for_test(1000, 5), too_small_for_test(569, 1)
    (True, False, False)
    """
    return folds > 1 and n_rows * DEFAULT_TEST_FRACTION < MIN_TEST_ROWS


def choose_validation(n_rows: int, folds: int | None, test_fraction: float | None,
                      smallest_class: int | None = None,
                      val_fraction: float | None = None, split_by: str = "",
                      group_by: str = "") -> Validation:
    """The scheme for a table of ``n_rows``; ``None`` options are chosen by size. A split by
    the order of column ``split_by`` has one validation split (folds drawn at random would
    score rows earlier than those they learn from).

    ``folds=None``: :data:`DEFAULT_FOLDS` when the search rows (outside the test split) are at
    most :data:`CV_MAX_ROWS`, else 1; never more folds than the smallest class has search rows.
    ``test_fraction=None``: :data:`DEFAULT_TEST_FRACTION`, or 0 for a cross-validated table whose
    test split would hold fewer than :data:`MIN_TEST_ROWS` rows.
    ``val_fraction=None``: :data:`DEFAULT_VAL_FRACTION`, cut to :data:`MAX_VAL_ROWS` rows but
    not under :data:`MIN_VAL_SHARE` (a fraction asked for is kept).

    >>> def scheme(v: Validation) -> tuple[int, float, float]:
    ...     return v.folds, v.test_fraction, v.val_fraction
    >>> scheme(choose_validation(1000, None, None))
    (5, 0.15, 0.15)
    >>> scheme(choose_validation(569, None, None))
    (5, 0.0, 0.15)
    >>> scheme(choose_validation(50_000, None, None))
    (1, 0.15, 0.15)
    >>> scheme(choose_validation(1_000_000, None, None))
    (1, 0.15, 0.02)
    >>> scheme(choose_validation(1000, None, None, split_by="date"))
    (1, 0.15, 0.15)

    Raises:
        ConfigError: ``folds`` is more than the smallest class has rows, or more than one
            with ``split_by``; both ``split_by`` and ``group_by``.
    """
    if split_by and group_by:
        raise ConfigError("--split-by with --group-by: rows are held out either by time or by "
                          "group; give one of them")
    if split_by and (folds or 1) > 1:
        raise ConfigError(f"--folds {folds} with --split-by {split_by!r}: a split by time "
                          "scores trials on one validation split of the latest rows; leave "
                          "out --folds, or --split-by for a random split")
    folds = 1 if split_by else folds
    share = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    search_rows = round(n_rows * (1 - share))
    class_rows = None if smallest_class is None else round(smallest_class * (1 - share))
    if folds is None:
        folds = DEFAULT_FOLDS if search_rows <= CV_MAX_ROWS else 1
        if class_rows is not None and folds > class_rows:
            folds = max(1, min(folds, class_rows)) if class_rows >= 2 else 1
    elif class_rows is not None and folds > class_rows:
        raise ConfigError(f"--folds {folds}: the smallest class has only {class_rows} search "
                          f"rows, so some folds would lack it; use --folds {max(1, class_rows)} "
                          "or fewer")
    if test_fraction is None and too_small_for_test(n_rows, folds):
        share = 0.0
    if val_fraction is None:
        val_fraction = max(MIN_VAL_SHARE, min(DEFAULT_VAL_FRACTION, MAX_VAL_ROWS / max(n_rows, 1)))
    return Validation(folds=folds, test_fraction=share, val_fraction=val_fraction,
                      split_by=split_by, group_by=group_by)


@dataclass(frozen=True, slots=True)
class Folds:
    """The fold (``0..k-1``) of each search row, in row order."""

    assignment: np.ndarray

    @property
    def k(self) -> int:
        return int(self.assignment.max()) + 1

    @classmethod
    def draw(cls, y: np.ndarray, k: int, seed: int, *, stratify: bool,
             groups: np.ndarray | None = None) -> Folds:
        """``k`` folds of the rows with labels ``y`` (stratified by class when ``stratify``;
        each of ``groups``, a group code a row, in one fold when given).

        >>> Folds.draw(np.array([0, 1] * 5), 5, seed=0, stratify=True).k
        5
        """
        if not 2 <= k <= MAX_FOLDS:
            raise ValueError(f"k must be in [2, {MAX_FOLDS}]: {k=}")
        kind = {(True, False): StratifiedKFold, (False, False): KFold,
                (True, True): StratifiedGroupKFold, (False, True): GroupKFold}
        splitter = kind[stratify, groups is not None](n_splits=k, shuffle=True,
                                                      random_state=seed)
        assignment = np.empty(len(y), dtype=np.int8)
        for fold, (_, rows) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
            assignment[rows] = fold
        return cls(assignment)

    def encode(self) -> str:
        """One digit per row: how the study stores its folds.

        >>> Folds(np.array([0, 2, 1], dtype=np.int8)).encode()
        '021'
        """
        return "".join(map(str, self.assignment.tolist()))

    @classmethod
    def decode(cls, text: str) -> Folds:
        """The folds stored by :meth:`encode`."""
        return cls(np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int8) - 48)

    def out_of_fold(self, outputs: list[np.ndarray]) -> np.ndarray:
        """One array in row order from each fold's outputs on its own rows (``outputs[j]``:
        the rows of fold ``j``, in row order).

        >>> Folds(np.array([1, 0, 1], dtype=np.int8)).out_of_fold([np.array([5.]),
        ...                                                        np.array([7., 8.])])
        array([7., 5., 8.])
        """
        result = np.zeros((len(self.assignment), *outputs[0].shape[1:]))
        for fold, output in enumerate(outputs):
            result[self.assignment == fold] = output
        return result

    def split(self, tensors: TensorSplits, fold: int) -> TensorSplits:
        """``tensors`` with fold ``fold`` of its training rows as the validation rows and the
        other folds as the training rows (the test rows unchanged)."""
        held = torch.from_numpy(self.assignment == fold).to(tensors.x_train.device)
        return replace(tensors, x_train=tensors.x_train[~held], y_train=tensors.y_train[~held],
                       x_val=tensors.x_train[held], y_val=tensors.y_train[held])


def crossfit_epochs(curves: Sequence[Sequence[float]], greater_is_better: bool,
                    losses: Sequence[Sequence[float]] | None = None) -> list[int]:
    """For each fold, the epoch at which it is scored: the best epoch of the *other* folds'
    mean validation curve, among the epochs this fold trained; of epochs that tie, the one
    where the other folds' mean validation loss (``losses``, curves like ``curves``) is lowest,
    else the earliest.

    Each fold's network is early-stopped on its own validation rows, the very rows its
    out-of-fold predictions are scored on; the best of a noisy curve flatters it, and more so the
    noisier the network (on scikit-learn's diabetes a periodic MLP scored 53.7 RMSE out of fold
    and 55.2 on the test rows, while the linear model's scores were level). An epoch chosen on
    the other folds is chosen without this fold's rows, so its score is an honest one. A fold
    that stopped early keeps its last score (and loss) for the later epochs; a non-finite score
    counts as the worst, a non-finite loss as 0.

    >>> crossfit_epochs([[0.5, 0.9, 0.6], [0.5, 0.6, 0.8], [0.5, 0.7, 0.7]], True)
    [2, 1, 1]
    >>> crossfit_epochs([[0.9, 0.9], [0.9, 0.9]], True, [[0.4, 0.3], [0.4, 0.5]])
    [0, 1]
    """
    table = _padded(curves, -np.inf if greater_is_better else np.inf)
    loss_table = _padded(losses, 0.0) if losses is not None else np.zeros_like(table)
    sign = 1.0 if greater_is_better else -1.0
    epochs = []
    for i, curve in enumerate(curves):
        others = sign * np.delete(table, i, axis=0).mean(axis=0)[:len(curve)]
        loss = np.delete(loss_table, i, axis=0).mean(axis=0)[:len(curve)]
        tied = np.flatnonzero(others == others.max())
        epochs.append(int(tied[np.argmin(loss[tied])]))  # argmin's ties: the earliest epoch
    return epochs


def _padded(curves: Sequence[Sequence[float]], fill: float) -> np.ndarray:
    """``curves`` as one table, each padded with its last value, non-finite values ``fill``."""
    table = np.empty((len(curves), max(len(c) for c in curves)))
    for i, curve in enumerate(curves):
        values = np.asarray(curve, dtype=np.float64)
        values[~np.isfinite(values)] = fill
        table[i, :len(values)], table[i, len(values):] = values, values[-1]
    return table
