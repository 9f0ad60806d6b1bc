"""What a study records about itself and its trials, read without loading the library.

:class:`StudySettings` is the study's stored identity and settings (Optuna user attrs: what
``resume`` and workers continue with, and what a continued study must share); the names below
are the user attrs each trial gets. ``automl show`` and ``studies`` read them without
importing PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automl.config import (
    NO_CHOICES,
    ColumnChoices,
    Direction,
    PrunerKind,
    SamplerKind,
    SearchConfig,
    TaskType,
    TrainConfig,
    default_of,
)
from automl.errors import ConfigError, StudyNotFoundError

#: The Optuna trial attr that names the trial's MLflow run.
RUN_ID = "mlflow_run_id"
#: The Optuna study attrs that name the study's MLflow parent run and experiment.
PARENT_RUN = "mlflow_parent_run_id"
EXPERIMENT = "mlflow_experiment_id"
#: The Optuna trial attr of a cross-validated trial: each fold's score (at the epoch
#: :func:`automl.folds.crossfit_epochs` chose for it), in fold order.
FOLD_SCORES = "fold_scores"
#: The Optuna trial attr (and leaderboard column) of the rows a trial trained at its best epoch.
TRAIN_ROWS = "train_rows"

#: The settings a continued study must share with its first run (its data, split, folds and
#: space).
IDENTITY = ("fingerprint", "target", "task", "metric", "space_version", "split_seed",
            "val_fraction", "test_fraction", "positive_class", "n_folds", "folds", "split_by",
            "group_by", "families", "column_choices")
#: What a study made before a setting existed has for it.
_LEGACY: dict[str, Any] = {"n_folds": 1, "folds": "", "split_by": "", "group_by": "",
                           "families": [],
                           "column_choices": NO_CHOICES.to_dict()}


@dataclass(frozen=True, slots=True, kw_only=True)
class StudySettings:
    """What a study stores about itself; the same keys as every study made so far."""

    data_path: str
    target: str
    task: TaskType
    metric: str
    direction: Direction
    fingerprint: str
    space_version: int
    split_seed: int
    val_fraction: float
    test_fraction: float
    n_trials: int | None  # None: no trial count (a study bounded by --timeout alone)
    sampler: SamplerKind
    pruner: PrunerKind
    train: TrainConfig
    experiment: str
    n_startup_trials: int
    n_warmup_epochs: int
    schema: dict[str, Any]
    columns: tuple[tuple[str, str, str], ...]
    positive_class: str | None = None
    threshold_metric: str = "f1"
    refit_all: bool = False  # the final model trained again on every row (see automl.final)
    n_folds: int = 1
    folds: str = ""  # :meth:`automl.folds.Folds.encode` of a cross-validated study
    split_by: str = ""  # the column whose latest rows are held out (empty: a random split)
    group_by: str = ""  # the column whose groups of rows are held out whole
    families: tuple[str, ...] = ()  # the model families searched (empty: every one)
    column_choices: ColumnChoices = NO_CHOICES  # --numeric, --categorical, --text, --drop

    def to_attrs(self) -> dict[str, Any]:
        """Plain JSON values, one Optuna user attr each."""
        attrs = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return attrs | {"task": self.task.value, "direction": self.direction.value,
                        "sampler": self.sampler.value, "pruner": self.pruner.value,
                        "train": asdict(self.train), "columns": [list(c) for c in self.columns],
                        "families": list(self.families),
                        "column_choices": self.column_choices.to_dict()}

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any], study_name: str) -> StudySettings:
        """The settings stored by :meth:`to_attrs` (older studies: defaults where missing).

        Raises:
            StudyNotFoundError: the study was not made by ``automl search``.
        """
        if "data_path" not in attrs:
            raise StudyNotFoundError(f"study {study_name!r} was not made by automl search; "
                                     "start it with `automl search`")

        def stored(name: str) -> Any:
            return attrs[name] if name in attrs else default_of(SearchConfig, name)

        return cls(
            data_path=attrs["data_path"], target=attrs["target"], task=TaskType(attrs["task"]),
            metric=attrs["metric"], direction=Direction(attrs["direction"]),
            fingerprint=attrs["fingerprint"], space_version=attrs["space_version"],
            split_seed=attrs["split_seed"], val_fraction=attrs["val_fraction"],
            test_fraction=attrs["test_fraction"], n_trials=attrs.get("n_trials"),
            sampler=SamplerKind(stored("sampler")),
            pruner=PrunerKind(attrs.get("pruner", PrunerKind.MEDIAN)),
            train=TrainConfig(**attrs.get("train", {})),
            experiment=attrs.get("experiment") or study_name,
            n_startup_trials=stored("n_startup_trials"),
            n_warmup_epochs=stored("n_warmup_epochs"), schema=attrs.get("schema", {}),
            columns=tuple(tuple(row) for row in attrs.get("columns", ())),
            positive_class=attrs.get("positive_class"),
            threshold_metric=stored("threshold_metric"), refit_all=stored("refit_all"),
            n_folds=attrs.get("n_folds", _LEGACY["n_folds"]),
            folds=attrs.get("folds", _LEGACY["folds"]),
            split_by=attrs.get("split_by", _LEGACY["split_by"]),
            group_by=attrs.get("group_by", _LEGACY["group_by"]),
            families=tuple(attrs.get("families", _LEGACY["families"])),
            column_choices=ColumnChoices.from_dict(
                attrs.get("column_choices", _LEGACY["column_choices"])))

    def differences(self, attrs: dict[str, Any]) -> list[str]:
        """How stored ``attrs`` differ from these settings on :data:`IDENTITY` (none: empty)."""
        mine = self.to_attrs()
        theirs = {key: attrs.get(key, _LEGACY.get(key)) for key in IDENTITY}
        return [f"{key}: study has {_shown(key, theirs[key])}, now {_shown(key, mine[key])}"
                for key in IDENTITY if theirs[key] != mine[key]]

    def to_config(self, *, study_name: str, storage_url: str, **overrides: Any) -> SearchConfig:
        """The :class:`SearchConfig` that continues this study; ``overrides`` that are not
        ``None`` (``n_trials``, ``timeout_s``, ``tracking_uri``, ``threads``...) win.

        Raises:
            ConfigError: the study has no trial budget (it was started with ``--timeout``
                alone) and neither a new one nor a timeout is given: it would run forever.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        if self.n_trials is None and not {"n_trials", "timeout_s"} & set(given):
            raise ConfigError(f"study {study_name!r} has no trial budget, only the time "
                              "limit of each run: give this run --timeout SECONDS (resume also "
                              "takes a total with --n-trials N)")
        return SearchConfig(**{
            "csv_path": Path(self.data_path), "target": self.target, "task": self.task,
            "metric": self.metric, "seed": self.split_seed, "study_name": study_name,
            "val_fraction": self.val_fraction, "test_fraction": self.test_fraction,
            "n_trials": self.n_trials, "storage_url": storage_url, "sampler": self.sampler,
            "pruner": self.pruner, "train": self.train, "experiment_name": self.experiment,
            "n_startup_trials": self.n_startup_trials, "n_warmup_epochs": self.n_warmup_epochs,
            "positive_class": self.positive_class, "threshold_metric": self.threshold_metric,
            "refit_all": self.refit_all,
            "folds": self.n_folds, "split_by": self.split_by or None,
            "group_by": self.group_by or None,
            "families": self.families or None,
            "column_choices": self.column_choices} | given)


def _shown(key: str, value: Any) -> str:
    """A stored value for a message: column choices as options, the rest :func:`_short`."""
    return f"'{ColumnChoices.from_dict(value)}'" if key == "column_choices" else _short(value)


def _short(value: Any) -> str:
    """A stored value for a message: long fold assignments cut short."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text) - 2} chars)"


def held_out_text(split_by: str, group_by: str) -> str:
    """How ``--split-by`` or ``--group-by`` held a study's rows out, in words (empty: rows
    held out at random).

    >>> held_out_text("date", ""), held_out_text("", "customer")
    ("the latest rows by 'date'", "whole groups of 'customer'")
    """
    if split_by:
        return f"the latest rows by {split_by!r}"
    return f"whole groups of {group_by!r}" if group_by else ""


def final_model_text(final: dict[str, Any]) -> str:
    """What a study's final model is (its stored ``final_model`` attr), in words.

    >>> final_model_text({"kind": "ensemble", "trials": [7, 3]})
    'an ensemble of trials 7, 3'
    >>> final_model_text({"kind": "refit", "trials": [7]})
    'trial 7 refitted on the training and validation rows'
    >>> final_model_text({"kind": "ensemble", "trials": [7, 3], "refit_all_rows": 3000})
    'an ensemble of trials 7, 3, trained again on all 3,000 rows'
    """
    trials = ", ".join(map(str, final.get("trials", [])))
    what = {"ensemble": f"an ensemble of trials {trials}",
            "refit": f"trial {trials} refitted on the training and validation rows"}.get(
                final.get("kind", ""), f"trial {trials}")
    rows = final.get("refit_all_rows")
    return f"{what}, trained again on all {rows:,} rows" if rows else what
