"""Seconds per epoch of one network whose activations shrink into float32's subnormal range,
with subnormals computed as they are and flushed to zero (``torch.set_flush_denormal``).

The network is trial 5 of adult's split-1 study at 600 s (2026-12-06, ``benchmarks/RESULTS.md``,
"A network too slow to be judged is pruned early"): a 4-member TabM of one block of 653 with
piecewise-linear embeddings, Adam at 0.0264, dropout 0.48, batch 64. Its data is prepared as
``automl search`` prepares the search rows of :func:`quality.outer_split` (seed 1), and it is
trained with the trial's seed (the study's 1 plus its number, 5), on one thread, once each way.

Usage: ``.venv/bin/python benchmarks/subnormals.py [--epochs 6]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from quality import DATA_DIR, outer_split

from automl.config import SearchConfig, TrainConfig
from automl.data import infer_task
from automl.plan import SearchPlan, prepare_search
from automl.reading import load_csv
from automl.space import params_from_dict
from automl.train import fit, network_for

SEED, TRIAL = 1, 5
PARAMS = {"arch": "tabm", "scaling": "quantile", "n_blocks": 1, "d_block": 653,
          "dropout": 0.4820285831866232, "activation": "relu", "embedding": "piecewise",
          "piecewise_n_bins": 27, "piecewise_d_embedding": 12, "tabm_k": 4,
          "optimizer": "adam", "lr": 0.026379076591700797,
          "weight_decay": 9.080416433772906e-05, "schedule": "constant", "batch_size": 64,
          "label_smoothing": 0.0, "resampling": "none", "class_weighting": "none"}


def epoch_seconds(plan: SearchPlan, epochs: int, flush: bool) -> list[float]:
    """Train the network for ``epochs`` epochs; each epoch's seconds."""
    torch.set_flush_denormal(flush)
    params = params_from_dict(PARAMS, plan.task)
    torch.manual_seed(SEED + TRIAL)
    network = network_for(params.model, plan.tensors)
    result = fit(network, plan.tensors, task=plan.task, metric=plan.metric, optim=params.optim,
                 cfg=TrainConfig(device="cpu", max_epochs=epochs, patience=epochs),
                 seed=SEED + TRIAL)
    return [log.seconds for log in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = load_csv(DATA_DIR / "adult.csv")
    search_rows, _ = outer_split(frame, "class", infer_task(frame["class"]), SEED)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "adult.csv"
        search_rows.to_csv(csv, index=False)
        plan = prepare_search(SearchConfig(
            csv_path=csv, target="class", study_name="subnormals", seed=SEED,
            test_fraction=0.0, threads=1, storage_url=f"sqlite:///{tmp}/optuna.db",
            tracking_uri=f"sqlite:///{tmp}/mlflow.db", train=TrainConfig(device="cpu")))
        rows = {flush: epoch_seconds(plan, args.epochs, flush) for flush in (False, True)}
    print("| subnormals | " + " | ".join(f"epoch {e}" for e in range(args.epochs)) + " | total |")
    print("|---" * (args.epochs + 2) + "|")
    for flush, seconds in rows.items():
        cells = " | ".join(f"{s:.1f}" for s in seconds)
        print(f"| {'flushed to zero' if flush else 'computed'} | {cells} | {sum(seconds):.1f} |")


if __name__ == "__main__":
    main()
