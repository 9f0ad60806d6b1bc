"""How a study explores: its Optuna sampler and pruner, and the warm start queued before TPE.

:func:`open_study` creates a study, or loads it to continue, with the sampler and pruner of the
settings (:func:`first_prunable_step` and :func:`first_ranking_step` say from which step
that pruner can prune, and from which it ranks a trial against the median of the others);
:func:`start_study` also refuses a study made with other data or settings, queues the
warm-start configurations of a new study and stores the study's settings.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Container
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from automl.config import PrunerKind, SamplerKind, SearchConfig
from automl.data import ColumnKind, Schema
from automl.errors import StudyMismatchError
from automl.plan import SearchPlan
from automl.records import StudySettings
from automl.space import warm_start
from automl.storage import make_storage, study_exists
from automl.train import resolve_device

_COMPLETE = (TrialState.COMPLETE,)
#: ``--pruner median``: from this step (the second epoch) a trial whose best score so far is
#: worse than every complete trial's at the same step is pruned, before the median's warm-up
#: ends. On adult at 600 s such trials (SGD TabMs at 0.57-0.67 ROC-AUC at that step, beside
#: complete trials at 0.89-0.91) had run on for up to a minute to the median's first judgement.
HOPELESS_FROM_STEP = 1
#: ``--pruner patient``: epochs without a new best that a trial below the median may go on
#: before it is pruned, so a slow starter that is still climbing is judged by its trend.
PRUNE_PATIENCE = 2
#: ``--pruner halving``: the epoch of its first rung and how many of each rung's trials go on
#: to the next (a third: rungs at epochs 1, 3, 9, 27). In a study whose rows grow, epoch 1
#: ends after 10,000 + 20,000 rows (:class:`~automl.train.RowGrowth`).
HALVING_FIRST_RUNG = 1
HALVING_REDUCTION = 3
#: The smallest batch of the warm start of a study whose rows grow: at the linear model's 64,
#: one pass over 800,000 rows is 12,500 steps, and the first trial took 47 s of a 900 s run.
GROWING_WARM_START_BATCH = 512
#: Offsets the sampler's seed per worker, so workers started together do not propose the same
#: configurations (a prime, far above any study's trial count).
_SALT_STRIDE = 100_003


def open_study(cfg: SearchConfig, study_name: str, direction: str, sampler_salt: int = 0,
               storage: RDBStorage | None = None) -> optuna.Study:
    """Create the study, or load it if it exists (resume); sampler and pruner from ``cfg``.

    ``sampler_salt`` (e.g. a worker's index) offsets the sampler's seed, so workers started
    together do not propose the same configurations. ``storage``: an open storage for
    ``cfg.storage_url`` (else one is opened).
    """
    storage = storage or make_storage(cfg.storage_url)
    n_before = (storage.get_n_trials(storage.get_study_id_from_name(study_name))
                if study_exists(storage, study_name) else 0) + _SALT_STRIDE * sampler_salt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(
            study_name=study_name, storage=storage, direction=direction, load_if_exists=True,
            sampler=_sampler(cfg, n_before), pruner=_pruner(cfg))


def _sampler(cfg: SearchConfig, n_before: int) -> optuna.samplers.BaseSampler:
    # Offset the seed by the trials already there, so a resumed run does not replay the
    # random start-up configurations of the first one.
    seed = cfg.seed + n_before
    if cfg.sampler is SamplerKind.RANDOM:
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.n_startup_trials,
                                      multivariate=True, group=True, constant_liar=True)


def _min_resource(cfg: SearchConfig) -> int:
    """Hyperband's ``min_resource``: the step of its first rung."""
    return max(1, cfg.n_warmup_epochs)


def first_prunable_step(cfg: SearchConfig, n_complete: int | None = None, *,
                        cross_validated: bool = False) -> int | None:
    """The first step at which the pruner of ``cfg`` is asked whether to prune a trial
    (``None``: never) that starts when ``n_complete`` trials of its study are complete
    (``None``: however many).

    Before it the pruner answers no whatever was reported, and asking costs storage reads.
    It is :func:`first_ranking_step`, or, for the median pruner, the earlier step of its
    hopeless-trial check (:data:`HOPELESS_FROM_STEP`), which waits for the same start-up
    trials. A ``cross_validated`` study's table is small: its epochs are a few optimizer steps
    each, too few to call a trial hopeless, so it is not asked before the ranking step.
    """
    step = first_ranking_step(cfg, n_complete)
    if cfg.pruner is PrunerKind.MEDIAN and step is not None and not cross_validated:
        return min(step, HOPELESS_FROM_STEP)
    return step


def first_ranking_step(cfg: SearchConfig, n_complete: int | None = None) -> int | None:
    """The first step at which the pruner of ``cfg`` ranks a trial that starts when
    ``n_complete`` trials are complete (``None``: however many) against the others, and can
    prune one that is merely below the median or its rung (``None``: never).

    MedianPruner reads every complete trial before it looks at ``n_warmup_steps``
    (``n_warmup_epochs``), and prunes nothing while fewer than ``n_startup_trials`` are
    complete; the patient pruner prunes only where its median pruner does; Hyperband prunes
    only from its first rung, ``min_resource``, on, and successive halving from
    :data:`HALVING_FIRST_RUNG` on, from the first trial. With several workers, trials completed
    elsewhere while a trial runs do not make it prunable: it is judged by when it started.
    """
    if cfg.pruner is PrunerKind.NONE:
        return None
    if cfg.pruner is PrunerKind.HYPERBAND:
        return _min_resource(cfg)
    if cfg.pruner is PrunerKind.HALVING:
        return HALVING_FIRST_RUNG
    if n_complete is not None and n_complete < cfg.n_startup_trials:
        return None
    return cfg.n_warmup_epochs


def _pruner(cfg: SearchConfig) -> optuna.pruners.BasePruner:
    if cfg.pruner is PrunerKind.HYPERBAND:
        return optuna.pruners.HyperbandPruner(min_resource=_min_resource(cfg),
                                              max_resource=cfg.train.max_epochs,
                                              reduction_factor=3)
    if cfg.pruner is PrunerKind.HALVING:
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=HALVING_FIRST_RUNG,
                                                      reduction_factor=HALVING_REDUCTION)
    if cfg.pruner is PrunerKind.NONE:
        return optuna.pruners.NopPruner()
    median = optuna.pruners.MedianPruner(n_startup_trials=cfg.n_startup_trials,
                                         n_warmup_steps=cfg.n_warmup_epochs)
    if cfg.pruner is PrunerKind.PATIENT:
        return optuna.pruners.PatientPruner(median, patience=PRUNE_PATIENCE)
    # Percentile 100 keeps every trial at least as good as the worst complete one.
    hopeless = optuna.pruners.PercentilePruner(
        100.0, n_startup_trials=cfg.n_startup_trials,
        n_warmup_steps=min(HOPELESS_FROM_STEP, cfg.n_warmup_epochs))
    return AnyPruner(median, hopeless)


class AnyPruner(optuna.pruners.BasePruner):
    """Prunes a trial when any of ``pruners`` (Optuna's median and percentile pruners, which
    read a study's direction and complete trials) would, asked in order until one does.

    They read the complete trials once per trial, at its first check, rather than each at every
    epoch: a read of the study costs 2-6 ms, which was 6% of a 60-s search of a 300-row table.
    A trial that another worker completes meanwhile counts from the next trial on.
    """

    def __init__(self, *pruners: optuna.pruners.BasePruner) -> None:
        self.pruners = pruners
        self._complete: tuple[int, CompleteTrials] | None = None  # (trial number, its view)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if self._complete is None or self._complete[0] != trial.number:
            self._complete = (trial.number, CompleteTrials(study))
        view = self._complete[1]
        return any(pruner.prune(view, trial) for pruner in self.pruners)  # type: ignore[arg-type]


class CompleteTrials:
    """What a percentile pruner reads of a study: its direction and its complete trials, read
    once."""

    def __init__(self, study: optuna.Study) -> None:
        self.direction = study.direction
        self.trials = study.get_trials(deepcopy=False, states=_COMPLETE)

    def get_trials(self, deepcopy: bool = True,
                   states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """The complete trials (the only ones read: other ``states`` raise ``ValueError``)."""
        if states != _COMPLETE:
            raise ValueError(f"only the complete trials were read, not {states}")
        return copy.deepcopy(self.trials) if deepcopy else self.trials


def check_compatible(study: optuna.Study, settings: StudySettings) -> None:
    """Refuse to continue a study whose data, task, metric, split, space or column kinds
    (see :func:`kind_changes`) differ from ``settings``.

    Raises:
        StudyMismatchError: the message names every difference, how to continue the study
            (the file as it was, or its own settings) and how to start a new one.
    """
    if not study.user_attrs:
        return
    changed = kind_changes(study.user_attrs, settings)
    settings_differ = settings.differences(study.user_attrs)
    differences = settings_differ + changed
    if differences:
        name = study.study_name
        if study.user_attrs.get("fingerprint") != settings.fingerprint:
            keep = "the data file changed since the study began; restore it to continue the study"
        elif not settings_differ:  # the same file and settings, its columns read otherwise
            keep = ("this automl reads those columns otherwise than the version that began "
                    "the study, whose networks learned them as they were then: continue it "
                    "with that version")
        else:
            keep = f"continue it with its own settings (automl resume {name})"
        raise StudyMismatchError(
            f"study {name!r} was made with other settings ({'; '.join(differences)}): {keep}, "
            f"or start a new one: automl search {settings.data_path} --study {name}-2")


def kind_changes(attrs: dict[str, Any], settings: StudySettings) -> list[str]:
    """The columns of the same data that the study in ``attrs`` fed its networks otherwise
    (another kind, or used where it is now dropped or the reverse) than ``settings`` would: an
    automl whose column rules changed since the study began. Empty when the data differs (the
    fingerprint says so) or the study stored no schema; the target, then or now, is not a
    feature to compare (another ``--target`` is a difference of its own)."""
    if attrs.get("fingerprint") != settings.fingerprint:
        return []
    then, now = _kinds(attrs.get("schema", {})), _kinds(settings.schema)
    targets = {attrs.get("target"), settings.target}
    changed = [f"{name!r} study has {kind.value}, now {now[name].value if name in now else None}"
               for name, kind in then.items() if now.get(name) != kind and name not in targets
               and (kind.is_used or (name in now and now[name].is_used))]
    return [f"column kinds: {', '.join(changed)}"] if changed else []


def _kinds(schema: dict[str, Any]) -> dict[str, ColumnKind]:
    """Column name → kind in a stored :meth:`automl.data.Schema.to_dict` (none stored: empty)."""
    return {c.name: c.kind for c in Schema.from_dict(schema).columns} if schema else {}


def start_study(plan: SearchPlan, sampler_salt: int = 0,
                storage: RDBStorage | None = None) -> optuna.Study:
    """Open (or create) the plan's study after checking that it can be continued; a new study
    gets the warm start queued (in larger batches when its rows grow; CPU-sized on CPU); the
    settings are stored (a new budget among them)."""
    study = open_study(plan.cfg, plan.study_name, plan.metric.direction.value, sampler_salt,
                       storage)
    settings = plan.settings()
    check_compatible(study, settings)
    if not study.get_trials(deepcopy=False):
        least = GROWING_WARM_START_BATCH if plan.growth is not None else 0
        cpu = resolve_device(plan.cfg.train.device).type == "cpu"
        for params in warm_start(plan.task, plan.families, min_batch_size=least, cpu=cpu,
                                 n_continuous=plan.preprocessor.n_num)[
                                     :plan.cfg.n_trials or None]:
            study.enqueue_trial(params, skip_if_exists=True)
    for key, value in settings.to_attrs().items():
        if key not in study.user_attrs or study.user_attrs[key] != value:
            study.set_user_attr(key, value)
    return study
