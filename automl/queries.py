"""Read-only views of stored studies: trial counts, the ranking, the study report, resume settings.

Every view is a typed object built from an ``optuna.Study``; nothing here writes. The JSON forms
(:meth:`StudyReport.to_json`, :meth:`StudyReport.to_row`) are the stable ``show --json`` and
``studies --json`` formats documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.config import SearchConfig
from automl.errors import DataError
from automl.records import (
    EXPERIMENT,
    FOLD_SCORES,
    PARENT_RUN,
    RUN_ID,
    TRAIN_ROWS,
    StudySettings,
    held_out_text,
)
from automl.storage import existing_storage, load_study

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialCounts:
    """A study's trials by state; :attr:`finished` (complete or pruned) is what the budget
    counts."""

    complete: int = 0
    pruned: int = 0
    fail: int = 0
    running: int = 0
    waiting: int = 0

    @classmethod
    def of(cls, study: optuna.Study) -> TrialCounts:
        states = [t.state for t in study.get_trials(deepcopy=False)]
        return cls(complete=states.count(TrialState.COMPLETE),
                   pruned=states.count(TrialState.PRUNED), fail=states.count(TrialState.FAIL),
                   running=states.count(TrialState.RUNNING),
                   waiting=states.count(TrialState.WAITING))

    @property
    def finished(self) -> int:
        return self.complete + self.pruned

    def __str__(self) -> str:
        """The states that have trials, ``"4 complete, 1 pruned"`` (``"no trials"`` when
        none has)."""
        return ", ".join(f"{n} {state.lower()}" for state, n in self.to_json().items() if n) \
            or "no trials"

    def to_json(self) -> dict[str, int]:
        """``{"COMPLETE": n, "PRUNED": n, "FAIL": n, "RUNNING": n, "WAITING": n}``."""
        return {"COMPLETE": self.complete, "PRUNED": self.pruned, "FAIL": self.fail,
                "RUNNING": self.running, "WAITING": self.waiting}


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderboardRow:
    """One complete trial of the leaderboard."""

    trial: int
    value: float
    params: dict[str, Any]
    mlflow_run_id: str | None
    spread: float | None = None  # standard deviation of the fold scores (cross-validated)
    rows: int | None = None  # training rows at its best epoch (older trials: not recorded)

    @classmethod
    def of(cls, trial: FrozenTrial) -> LeaderboardRow:
        folds = trial.user_attrs.get(FOLD_SCORES)
        return cls(trial=trial.number, value=float(trial.value),  # type: ignore[arg-type]
                   params=trial.params, mlflow_run_id=trial.user_attrs.get(RUN_ID),
                   spread=float(np.std(folds)) if folds else None,
                   rows=trial.user_attrs.get(TRAIN_ROWS))


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyReport:
    """A study at a glance: its settings, counts, best trial, test score and leaderboard."""

    study: str
    task: str | None
    metric: str | None
    direction: str | None
    target: str | None
    data_path: str | None
    n_trials_budget: int | None
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any] | None
    trials: TrialCounts
    test_metrics: dict[str, float]
    final_model: dict[str, Any] | None
    mlflow_experiment_id: str | None
    mlflow_parent_run_id: str | None
    leaderboard: tuple[LeaderboardRow, ...]
    split_by: str = ""  # the column whose latest rows were held out (see --split-by)
    group_by: str = ""  # the column whose groups were held out whole (see --group-by)
    last_trial: str | None = None  # when its latest trial started or ended (ISO 8601, local time)

    @property
    def held_out(self) -> str:
        """How ``--split-by`` or ``--group-by`` held rows out, in words (empty: at random)."""
        return held_out_text(self.split_by, self.group_by)

    def to_json(self) -> dict[str, Any]:
        """The ``show --json`` object."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return data | {"trials": self.trials.to_json(),
                       "leaderboard": [{"trial": r.trial, "value": r.value, "spread": r.spread,
                                        "rows": r.rows, "params": r.params,
                                        "mlflow_run_id": r.mlflow_run_id}
                                       for r in self.leaderboard]}

    def to_row(self) -> dict[str, Any]:
        """The ``studies --json`` object."""
        return {"study": self.study, "task": self.task, "metric": self.metric,
                "direction": self.direction, "best_value": self.best_value,
                "best_trial": self.best_trial, "trials": self.trials.to_json(),
                "last_trial": self.last_trial}


def network_label(params: dict[str, Any]) -> str:
    """A trial's network in a few words: ``linear``, ``mlp 3x256``, ``resnet 2x128 periodic``,
    ``tabm 2x512 k=32 periodic_lite`` (empty for parameters without an architecture)."""
    if params.get("arch") == "linear" or params.get("n_blocks") == 0:
        return "linear"
    if "arch" not in params:
        return ""
    text = f"{params['arch']} {params.get('n_blocks')}x{params.get('d_block')}"
    if "tabm_k" in params:
        text += f" k={params['tabm_k']}"
    embedding = params.get("embedding", "none")
    return text + (f" {embedding}" if embedding != "none" else "")


def optimizer_label(params: dict[str, Any]) -> str:
    """A trial's optimizer in a few words: ``adamw lr=1.0e-03 bs=256`` (empty without one)."""
    if "optimizer" not in params:
        return ""
    return f"{params['optimizer']} lr={params.get('lr', 0):.1e} bs={params.get('batch_size')}"


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, best first (ties: the earlier trial)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    return sorted(complete, key=lambda t: (sign * float(t.value), t.number))  # type: ignore


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best complete trial, or ``None`` before the first one."""
    top = ranked(study)
    return top[0] if top else None


def describe(study: optuna.Study, top: int = 5) -> StudyReport:
    """The study as a :class:`StudyReport` with its ``top`` best trials."""
    attrs = study.user_attrs
    board = ranked(study)[:top]
    best = board[0] if board else None
    return StudyReport(
        study=study.study_name, task=attrs.get("task"), metric=attrs.get("metric"),
        direction=attrs.get("direction"), target=attrs.get("target"),
        data_path=attrs.get("data_path"), n_trials_budget=attrs.get("n_trials"),
        best_value=best.value if best else None, best_trial=best.number if best else None,
        best_params=best.params if best else None, trials=TrialCounts.of(study),
        test_metrics=attrs.get("test_metrics", {}), final_model=attrs.get("final_model"),
        mlflow_experiment_id=attrs.get(EXPERIMENT),
        mlflow_parent_run_id=attrs.get(PARENT_RUN),
        leaderboard=tuple(LeaderboardRow.of(t) for t in board),
        split_by=attrs.get("split_by", ""), group_by=attrs.get("group_by", ""),
        last_trial=_last_trial(study))


def _last_trial(study: optuna.Study) -> str | None:
    """When the study's latest trial started or ended, to the second (``None``: no trial)."""
    times = [t.datetime_complete or t.datetime_start for t in study.get_trials(deepcopy=False)]
    known = [when for when in times if when is not None]
    return max(known).isoformat(timespec="seconds") if known else None


def show_study(storage_url: str, study_name: str, top: int = 5) -> StudyReport:
    """:func:`describe` for a stored study.

    Raises:
        StudyNotFoundError: no such study.
    """
    return describe(load_study(storage_url, study_name), top)


def list_studies(storage_url: str) -> list[StudyReport]:
    """One report (best trial only) per study in the storage."""
    storage = existing_storage(storage_url)
    return [describe(optuna.load_study(study_name=s.study_name, storage=storage), top=1)
            for s in storage.get_all_studies()]


def resume_config(storage_url: str, study_name: str, **overrides: Any) -> SearchConfig:
    """The :class:`SearchConfig` a study was made with, so ``resume`` needs nothing retyped.

    ``overrides`` that are not ``None`` (``n_trials``, ``timeout_s``, ``tracking_uri``...)
    replace stored values. The stored tracking URI is reused unless it was stored masked (a
    hidden password cannot be reused).

    Raises:
        StudyNotFoundError: no such study, or it was not made by ``automl search``.
        DataError: the stored data file is gone and no ``csv_path`` replaces it.
    """
    attrs = load_study(storage_url, study_name).user_attrs
    settings = StudySettings.from_attrs(attrs, study_name)
    tracking = attrs.get("tracking_uri", "***")
    stored = {} if "***" in tracking else {"tracking_uri": tracking}
    cfg = settings.to_config(study_name=study_name, storage_url=storage_url,
                             **(stored | {k: v for k, v in overrides.items() if v is not None}))
    if overrides.get("csv_path") is None and not cfg.csv_path.exists():
        raise DataError(f"study {study_name!r} reads its data from {cfg.csv_path}, which does "
                        "not exist here: put the file back, or pass where it is now with "
                        "--data PATH (the same content)")
    return cfg
