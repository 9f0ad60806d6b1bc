"""What each warm-start candidate reaches in one trial's time (issue 11): the evidence behind the
families' defaults on CPU.

For a dataset's outer split (:func:`quality.outer_split`, ``--seed``), the data is prepared once
as ``automl search`` prepares it (validation split, preprocessing; no test split: the outer 20%
is left out), then each named configuration (:data:`CANDIDATES`) runs ``--repeats`` times (1) as
the trials of its own study, with the trial's time cap of a 600-s search (``--cap``, 60 s),
``--threads`` torch threads, early-stopping ``--patience`` (16, TabM's) and no pruner; as in a
search, a trial's seed is the study's plus its number, so repeats differ only by seed. Prints a
Markdown table: each trial's seed, best validation score (the study metric: ROC-AUC, accuracy
or RMSE), best epoch, seconds per epoch and why it stopped.

Usage: ``.venv/bin/python benchmarks/warm_start.py --datasets adult,diamonds [--seed 0]
[--cap 60] [--threads 1] [--candidates mlp,mlp_ple,tabm_cpu] [--repeats 1] [--patience 16]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna
from quality import DATA_DIR, outer_split, resolve

from automl.config import PrunerKind, SearchConfig, TrainConfig
from automl.data import infer_task, resolve_target
from automl.networks.base import PIECEWISE_DEFAULT
from automl.networks.linear import FAMILY as LINEAR
from automl.networks.mlp import MLP_PLE, REALMLP
from automl.networks.resnet import FAMILY as RESNET
from automl.networks.tabm import ON_CPU, PUBLISHED
from automl.plan import SearchPlan, prepare_search
from automl.reading import load_csv
from automl.session import run_search
from automl.space import warm_start
from automl.tracking import MlflowTracker


def _without_embedding(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items()
            if not k.startswith(("periodic_", "piecewise_"))} | {"embedding": "none"}


def _piecewise(params: dict[str, Any]) -> dict[str, Any]:
    return _without_embedding(params) | PIECEWISE_DEFAULT


#: Named configurations: today's warm start and the variants it was chosen among.
CANDIDATES: dict[str, dict[str, Any]] = {
    "linear": LINEAR.defaults[0],
    "mlp": _without_embedding(MLP_PLE),
    "mlp_ple": MLP_PLE,
    "realmlp": REALMLP,
    "realmlp_ple": _piecewise(REALMLP),
    "resnet": RESNET.defaults[0],
    "tabm_2x512_k8": PUBLISHED | {"tabm_k": 8},
    "tabm_2x256_k8": PUBLISHED | {"d_block": 256, "tabm_k": 8},
    "tabm_2x256_k8_ple": _piecewise(PUBLISHED) | {"d_block": 256, "tabm_k": 8},
    "tabm_cpu": ON_CPU,
}


def candidate_trials(plan: SearchPlan, name: str, repeats: int) -> list[optuna.trial.FrozenTrial]:
    """Run ``CANDIDATES[name]`` as the ``repeats`` trials of a new study in the plan's stores."""
    params = warm_start(plan.task, ("linear",))[0] | CANDIDATES[name]
    if not plan.task.is_classification:
        params.pop("label_smoothing", None)
    study_name = f"candidate-{name}"
    plan = dataclasses.replace(plan, study_name=study_name, cfg=dataclasses.replace(
        plan.cfg, study_name=study_name, n_trials=repeats))
    MlflowTracker(plan.cfg.tracking_uri, study_name)
    study = optuna.create_study(study_name=study_name, storage=plan.cfg.storage_url,
                                direction=plan.metric.direction.value)
    for _ in range(repeats):
        study.enqueue_trial(params)
    run_search(plan, finish=False)
    return optuna.load_study(study_name=study_name, storage=plan.cfg.storage_url).trials


def run_dataset(spec: str, args: argparse.Namespace, folder: Path) -> list[str]:
    """The table rows of every candidate on ``spec``'s outer split."""
    label, path, target = resolve(spec, args.data_dir)
    frame = load_csv(path)
    target = resolve_target(frame, target)
    task = infer_task(frame[target].dropna())
    train, _ = outer_split(frame, target, task, args.seed)
    csv = folder / f"{label}.csv"
    train.to_csv(csv, index=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = SearchConfig(csv_path=csv, target=target, study_name="candidates", n_trials=1,
                       seed=args.seed, pruner=PrunerKind.NONE, test_fraction=0.0,
                       threads=args.threads, storage_url=f"sqlite:///{folder / 'optuna.db'}",
                       tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
                       train=TrainConfig(device="cpu", max_trial_seconds=args.cap,
                                         max_epochs=200, patience=args.patience))
    plan = prepare_search(cfg)
    rows = []
    for name in args.candidates:
        for trial in candidate_trials(plan, name, args.repeats):
            attrs = trial.user_attrs
            rows.append(f"| {label} | {name} | {args.seed + trial.number} | {plan.metric.name} "
                        f"| {trial.value:.4f} | {attrs.get('best_epoch')} | "
                        f"{attrs.get('epoch_seconds', 0):.2f} | {attrs.get('stop_reason')} |")
            print(rows[-1], flush=True)
    return rows


def _names(text: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; known: {', '.join(CANDIDATES)}")
    return names


def main(argv: list[str] | None = None) -> list[str]:
    """Run the candidates on every dataset; returns the table's rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="adult,diamonds",
                        help="Names in ../shared/datasets or path.csv[:target].")
    parser.add_argument("--seed", type=int, default=0, help="Outer split and search seed.")
    parser.add_argument("--cap", type=float, default=60.0, help="Seconds per trial.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    parser.add_argument("--candidates", type=_names, default=list(CANDIDATES),
                        help=f"Comma-separated, among {', '.join(CANDIDATES)}.")
    parser.add_argument("--repeats", type=int, default=1, help="Trials (seeds) per candidate.")
    parser.add_argument("--patience", type=int, default=16, help="Early-stopping patience.")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "benchmarks/warm_start.py", *sys.argv[1:]])
    print(f"`{command}`\n\n| dataset | candidate | seed | metric | best validation score "
          f"| best epoch | s / epoch | stop |\n|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, spec in enumerate(args.datasets.split(",")):
            folder = Path(tmp) / str(number)
            folder.mkdir()
            rows += run_dataset(spec, args, folder)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    main()
