"""Planning a search: settings and a CSV become a :class:`SearchPlan`; the study's identity.

:func:`prepare_search` reads and checks everything a search needs (the stores' URLs, the data,
the split, the fitted preprocessing) and creates nothing on disk, so a refusal leaves nothing
behind. :class:`StudySettings` is what a study stores about itself: written once as Optuna user
attrs (:meth:`StudySettings.to_attrs`), read back by ``resume``, ``worker`` and ``show``
(:meth:`StudySettings.from_attrs`), and compared on every continuation
(:meth:`StudySettings.differences`).
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from automl import cache
from automl.cache import Prepared
from automl.config import (
    CV_MAX_ROWS,
    PrunerKind,
    SearchConfig,
    TaskType,
)
from automl.data import Schema, encode_target, load_dataset
from automl.errors import ConfigError, DataError
from automl.features import Preprocessor, TensorSplits
from automl.folds import Folds, Validation, choose_validation, too_small_for_test
from automl.heap import release_free_memory
from automl.leaks import leak_note
from automl.metrics import Metric, default_metric, primary_metric
from automl.records import StudySettings
from automl.space import SPACE_VERSION, check_families
from automl.splits import group_codes, split, split_column
from automl.stores import cache_folder, check_sqlite, check_url
from automl.threshold import ThresholdMetric
from automl.train import RowGrowth

log = logging.getLogger(__name__)

#: Study names become MLflow experiment names and artifact folder names: keep them portable.
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPlan:
    """Everything decided before the first trial: the prepared data (schema, split, folds,
    preprocessing, tensors), the metric, the study's name, and what the final model's decision
    threshold maximises. ``cached``: the data was mapped from the cache (:mod:`automl.cache`)
    rather than read from the CSV."""

    cfg: SearchConfig
    study_name: str
    data: Prepared
    metric: Metric
    threshold_metric: ThresholdMetric
    families: tuple[str, ...] = ()  # the model families searched, in registry order
    cached: bool = False
    #: ``time.monotonic()`` when the run began (before the CSV was read): ``--timeout`` counts
    #: from here, so reading and preparing a large file is inside the run's time.
    started: float = field(default_factory=time.monotonic)

    @property
    def schema(self) -> Schema:
        return self.data.schema

    @property
    def fingerprint(self) -> str:
        return self.data.fingerprint

    @property
    def preprocessor(self) -> Preprocessor:
        return self.data.preprocessor

    @property
    def tensors(self) -> TensorSplits:
        return self.data.tensors

    @property
    def validation(self) -> Validation:
        return self.data.validation

    @property
    def test_too_small(self) -> bool:
        """No test split because the table is too small for a useful one (not because
        ``--test-fraction 0`` asked for none on a larger table)."""
        return not self.validation.test_fraction and too_small_for_test(self.data.n_rows,
                                                                        self.validation.folds)

    @property
    def folds(self) -> Folds | None:
        """The fold of each training row (cross-validated studies only)."""
        return self.data.folds

    def keep_data(self) -> None:
        """Save the prepared data in the cache, for a table big enough (see :mod:`automl.cache`)
        that was read from its CSV; later runs on the study map it instead."""
        if self.cached or len(self.tensors.y_train) <= cache.CACHE_ABOVE_ROWS:
            return
        folder = cache_folder(self.cfg.storage_url)
        try:
            cache.save(folder, _source(self.cfg), self.data)
        except OSError as exc:  # a cache only saves time: the search goes on without one
            log.warning("could not cache the prepared data in %s (%s)", folder, exc)

    @property
    def task(self) -> TaskType:
        return self.schema.task

    @property
    def threads(self) -> int:
        """torch threads: ``--threads``, else one for a small table (its batches are too small to
        split; measured 20x slower with two threads on a busy 2-core machine), else every core."""
        if self.cfg.threads:
            return self.cfg.threads
        return 1 if len(self.tensors.x_train) <= CV_MAX_ROWS else os.cpu_count() or 1

    @property
    def growth(self) -> RowGrowth | None:
        """How trials' training rows grow epoch by epoch (``None``: every row from the
        first epoch)."""
        return RowGrowth.for_split(len(self.tensors.y_train))

    @property
    def experiment(self) -> str:
        """The MLflow experiment: ``--experiment``, else the study name."""
        return self.cfg.experiment_name or self.study_name

    def settings(self) -> StudySettings:
        """What the study stores about itself (checked on resume, shown by ``show``)."""
        cfg, schema = self.cfg, self.schema
        return StudySettings(
            data_path=str(Path(cfg.csv_path).resolve()), target=schema.target, task=schema.task,
            metric=self.metric.name, direction=self.metric.direction,
            fingerprint=self.fingerprint, space_version=SPACE_VERSION,
            split_seed=cfg.seed, val_fraction=self.validation.val_fraction,
            test_fraction=self.validation.test_fraction,
            n_trials=cfg.n_trials, sampler=cfg.sampler, pruner=cfg.pruner, train=cfg.train,
            experiment=self.experiment, n_startup_trials=cfg.n_startup_trials,
            n_warmup_epochs=cfg.n_warmup_epochs, schema=schema.to_dict(),
            columns=tuple(self.preprocessor.describe()), positive_class=schema.positive_class,
            threshold_metric=str(self.threshold_metric), refit_all=cfg.refit_all,
            n_folds=self.validation.folds,
            split_by=self.validation.split_by, group_by=self.validation.group_by,
            folds=self.folds.encode() if self.folds else "",
            families=() if self.families == check_families(None) else self.families,
            column_choices=cfg.column_choices)

    def selection_targets(self) -> np.ndarray:
        """What trials' outputs are selected on (:mod:`automl.final`): the validation rows'
        targets, or for a cross-validated study every training row's (out-of-fold outputs);
        class codes, or values in target units."""
        y = self.tensors.y_train if self.folds else self.tensors.y_val
        y_np = y.cpu().numpy()
        return y_np if self.task.is_classification else self.tensors.decode_target(y_np)


def study_name_for(path: Path | str) -> str:
    """A study name derived from a file name: ``data/Churn 2024.csv.gz`` → ``churn-2024``,
    ``sales.tsv`` → ``sales``, ``données.csv`` → ``donnees`` (accents dropped, other letters a
    study name cannot hold become ``-``)."""
    stem = unicodedata.normalize("NFKD", Path(path).name.lower())
    stem = stem.encode("ascii", "ignore").decode()
    stem = re.sub(r"(\.(csv|tsv|txt|psv|dat))?(\.gz)?$", "", stem)
    return re.sub(r"[^a-z0-9_.-]+", "-", stem).strip("-")[:100].strip("-.") or "study"


def check_study_name(name: str) -> str:
    """``name`` if it can name a study, its MLflow experiment and its artifact folder.

    Raises:
        ConfigError: the message says what is allowed.
    """
    if not STUDY_NAME.fullmatch(name):
        raise ConfigError(f"study name {name[:40]!r}{'...' if len(name) > 40 else ''} "
                          f"({len(name)} characters) cannot be used; use 1 to 100 letters, "
                          "digits, '_', '.' or '-', starting with a letter or digit (--study)")
    return name


def default_pruner(n_train_rows: int) -> PrunerKind:
    """The pruner of a study that was not given one: successive halving from the first trial
    for a training split whose rows grow (:class:`~automl.train.RowGrowth`), where a median
    pruner would wait for five complete trials, each a long one; else the median pruner.

    >>> default_pruner(100_000), default_pruner(100_001)
    (<PrunerKind.MEDIAN: 'median'>, <PrunerKind.HALVING: 'halving'>)
    """
    return (PrunerKind.HALVING if RowGrowth.for_split(n_train_rows) is not None
            else PrunerKind.MEDIAN)


def prepare_search(cfg: SearchConfig) -> SearchPlan:
    """Read and check the data, split it and fit the preprocessing; creates nothing on disk.
    The plan's config has its pruner (:func:`default_pruner` when ``cfg`` has none).

    Raises:
        DataError, ConfigError: the data or the options cannot be used (nothing was created).
    """
    started = time.monotonic()
    check_url(cfg.storage_url, "--storage")
    check_url(cfg.tracking_uri, "--tracking-uri")
    check_sqlite(cfg.storage_url, "--storage")
    check_sqlite(cfg.tracking_uri, "--tracking-uri")
    study_name = check_study_name(cfg.study_name or study_name_for(cfg.csv_path))
    threshold_metric = ThresholdMetric.parse(cfg.threshold_metric)
    families = check_families(cfg.families)
    data = _cached(cfg)
    cached = data is not None
    data = data or _prepare(cfg)
    schema = data.schema
    metric = primary_metric(schema.task, cfg.metric or default_metric(schema.task,
                                                                      schema.minority_share),
                            schema.positive_code)
    if cfg.pruner is None:
        cfg = replace(cfg, pruner=default_pruner(len(data.tensors.y_train)))
    return SearchPlan(cfg=cfg, study_name=study_name, data=data, metric=metric,
                      threshold_metric=threshold_metric, families=families, cached=cached,
                      started=started)


def _validation(cfg: SearchConfig, n_rows: int, schema: Schema) -> Validation:
    return choose_validation(n_rows, cfg.folds, cfg.test_fraction,
                             min(schema.class_counts) if schema.class_counts else None,
                             cfg.val_fraction, split_column(schema, cfg.split_by, "--split-by"),
                             split_column(schema, cfg.group_by, "--group-by"))


def _source(cfg: SearchConfig) -> cache.Source:
    return cache.Source(path=Path(cfg.csv_path), target=cfg.target,
                        task=cfg.task.value if cfg.task else None,
                        positive_class=cfg.positive_class, seed=cfg.seed,
                        column_choices=cfg.column_choices)


def _cached(cfg: SearchConfig) -> Prepared | None:
    """The cache's entry for ``cfg``'s data, if it has the split ``cfg`` asks for."""
    try:
        data = cache.load(cache_folder(cfg.storage_url), _source(cfg))
    except OSError:  # the file is not there: reading it says so
        return None
    if data is None or data.validation != _validation(cfg, data.n_rows, data.schema):
        return None
    return data


def _draw_folds(train: pd.DataFrame, schema: Schema, validation: Validation,
                seed: int) -> Folds:
    """The study's folds of its training rows (each group of ``--group-by`` in one fold).

    Raises:
        DataError: fewer groups than folds.
    """
    column = validation.group_by
    groups = group_codes(train[column]) if column else None
    n_groups = 0 if groups is None else int(groups.max()) + 1
    if groups is not None and n_groups < validation.folds:
        raise DataError(f"--group-by {column!r}: the search rows hold {n_groups} groups, fewer "
                        f"than the {validation.folds} folds; use --folds {max(n_groups, 1)} or "
                        "fewer, or leave out --group-by")
    return Folds.draw(encode_target(train[schema.target], schema), validation.folds, seed,
                      stratify=schema.task.is_classification, groups=groups)


def _prepare(cfg: SearchConfig) -> Prepared:
    """Read the CSV, split it, draw the folds and fit the preprocessing."""
    dataset = load_dataset(cfg.csv_path, cfg.target, cfg.task, cfg.positive_class,
                           cfg.column_choices)
    schema, fingerprint, frame = dataset.schema, dataset.fingerprint, dataset.frame
    columns, n_rows = tuple(frame.columns), len(frame)
    del dataset
    validation = _validation(cfg, n_rows, schema)
    splits = split(frame, schema, seed=cfg.seed,
                   val_fraction=0.0 if validation.cross_validated else validation.val_fraction,
                   test_fraction=validation.test_fraction, split_by=validation.split_by,
                   group_by=validation.group_by)
    del frame  # the splits hold the rows now: a big table's parsed copy goes here
    schema = replace(schema, warnings=leak_note(splits.train, schema),
                     notes=schema.notes + ((splits.note,) if splits.note else ()))
    folds = _draw_folds(splits.train, schema, validation, cfg.seed
                        ) if validation.cross_validated else None
    preprocessor = Preprocessor(schema).fit(splits.train)
    tensors = preprocessor.tensors(splits)
    del splits
    release_free_memory()  # the table's small arrays are gone: 3.4 GiB of 10M rows' pages
    return Prepared(schema=schema, fingerprint=fingerprint, columns=columns, n_rows=n_rows,
                    validation=validation, folds=folds, preprocessor=preprocessor,
                    tensors=tensors)
