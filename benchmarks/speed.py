"""Speed benchmark: the project's training loop vs a hand-written one, and search overhead.

1. Samples/second of ``automl.train.fit`` against a minimal hand-written PyTorch loop on the same
   network, data and settings (AdamW, batch 256, a validation pass with ROC-AUC every epoch, as
   early stopping needs). Runs alternate A/B/A/B so machine noise hits both alike.
2. The share of a real study's wall time spent outside training (data loading, preprocessing,
   Optuna, MLflow): wall time of ``prepare_search`` + ``run_search`` minus the seconds spent in
   training epochs (``EpochLog.seconds``: forward, backward, step and the validation pass).
3. With ``--small-data SECONDS`` instead: the same split of a search of scikit-learn's diabetes
   table (a seeded 70% of its 442 rows, cross-validated, one thread) bounded by that time, as
   ``benchmarks/small_data.py`` runs it, and how many trials it ran.

Usage: ``.venv/bin/python benchmarks/speed.py [--csv PATH --target NAME] [--trials 20]
[--study-csv PATH --study-target NAME]`` or ``... speed.py --small-data 60``. The loop
comparison needs a binary target (the hand-written loop scores ROC-AUC); the study may use any
CSV. Defaults to ../shared/datasets/adult.csv; prints Markdown rows to paste into RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from sklearn.datasets import load_diabetes
from sklearn.metrics import roc_auc_score

from automl import objective
from automl.config import SearchConfig, TrainConfig
from automl.data import load_dataset
from automl.features import Preprocessor, TensorSplits
from automl.metrics import primary_metric
from automl.networks import MLPSpec, build_model
from automl.plan import prepare_search
from automl.session import run_search
from automl.splits import split
from automl.tracking import MlflowTracker
from automl.train import OptimSpec, fit

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv"
SPEC = MLPSpec(n_blocks=3, d_block=256, dropout=0.1)


def tensors_for(csv: Path, target: str) -> tuple[TensorSplits, object]:
    data = load_dataset(csv, target)
    splits = split(data.frame, data.schema, seed=0, val_fraction=0.15, test_fraction=0.15)
    return Preprocessor(data.schema).fit(splits.train).tensors(splits), data.schema


def hand_written(data: TensorSplits, epochs: int) -> float:
    """The minimal loop: permutation, slices, AdamW, a val pass with ROC-AUC per epoch."""
    torch.manual_seed(0)
    model = build_model(SPEC, data.d_in, data.d_out, data.n_num)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(data.x_train))
        for i in range(0, len(order), 256):
            idx = order[i:i + 256]
            loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            proba = model(data.x_val).softmax(1)[:, 1]
        roc_auc_score(data.y_val.numpy(), proba.numpy())
    return len(data.x_train) * epochs / (time.perf_counter() - start)


def project_loop(data: TensorSplits, schema: object, epochs: int) -> float:
    torch.manual_seed(0)
    model = build_model(SPEC, data.d_in, data.d_out, data.n_num)
    start = time.perf_counter()
    result = fit(model, data, task=schema.task, metric=primary_metric(schema.task),  # type: ignore
                 optim=OptimSpec(name="adamw", lr=1e-3, batch_size=256),
                 cfg=TrainConfig(max_epochs=epochs, patience=epochs + 1,
                                 device="cpu"))
    assert len(result.history) == epochs, "the loop must run every epoch to be comparable"
    return len(data.x_train) * epochs / (time.perf_counter() - start)


def loop_benchmark(csv: Path, target: str, epochs: int, repeats: int) -> dict[str, float]:
    data, schema = tensors_for(csv, target)
    ours, theirs = [], []
    for _ in range(repeats):
        theirs.append(hand_written(data, epochs))
        ours.append(project_loop(data, schema, epochs))
    return {"ours": statistics.median(ours), "hand": statistics.median(theirs),
            "ratio": statistics.median(o / h for o, h in zip(ours, theirs, strict=True))}


def overhead_benchmark(csv: Path, target: str, trials: int | None,
                       timeout: float | None = None, threads: int | None = None,
                       train: TrainConfig | None = None) -> dict[str, float]:
    """Run a real study (SQLite Optuna + SQLite MLflow in a temp dir) and split its wall time
    (``train``: max 20 epochs, patience 4 unless given)."""
    epoch_seconds: list[float] = []
    original_fit = objective.fit

    def timed_fit(*args: object, **kwargs: object):
        result = original_fit(*args, **kwargs)  # type: ignore[arg-type]
        epoch_seconds.extend(log.seconds for log in result.history)
        return result

    objective.fit = timed_fit  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(csv_path=csv, target=target, study_name="speed", n_trials=trials,
                           timeout_s=timeout, threads=threads,
                           storage_url=f"sqlite:///{tmp}/optuna.db",
                           tracking_uri=f"sqlite:///{tmp}/mlruns/mlflow.db",
                           train=train or TrainConfig(max_epochs=20, patience=4, device="cpu"))
        MlflowTracker(cfg.tracking_uri, "warm-up")  # schema migration: one-off
        start = time.perf_counter()
        summary = run_search(prepare_search(cfg))
        wall = time.perf_counter() - start
    objective.fit = original_fit  # type: ignore[assignment]
    training = sum(epoch_seconds)
    return {"wall": wall, "training": training, "overhead": (wall - training) / wall,
            "complete": summary.report.trials.complete,
            "pruned": summary.report.trials.pruned, "epochs": len(epoch_seconds)}


def small_data_benchmark(seconds: float) -> dict[str, float]:
    """:func:`overhead_benchmark` of a ``seconds``-long search of 70% of diabetes (default
    training settings, one thread)."""
    frame = load_diabetes(as_frame=True).frame.sample(frac=0.7, random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "diabetes.csv"
        frame.to_csv(csv, index=False)
        return overhead_benchmark(csv, "target", None, timeout=seconds, threads=1,
                                  train=TrainConfig(device="cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--target", default="class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--study-csv", type=Path, default=None,
                        help="data of the overhead study [default: --csv]; any task")
    parser.add_argument("--study-target", default=None, help="its target [default: --target]")
    parser.add_argument("--small-data", type=float, default=None, metavar="SECONDS",
                        help="only the split of a search of diabetes bounded by SECONDS")
    args = parser.parse_args()
    if args.small_data:
        small = small_data_benchmark(args.small_data)
        print(f"| {args.small_data:g}-s search of diabetes (309 rows, 5 folds) | wall "
              f"{small['wall']:.1f}s | training epochs {small['training']:.1f}s "
              f"({small['epochs']} epochs; {small['complete']} complete, {small['pruned']} "
              f"pruned) | outside training {small['overhead']:.1%} |")
        return
    torch.set_num_threads(2)
    loop = loop_benchmark(args.csv, args.target, args.epochs, args.repeats)
    print(f"| training loop, samples/s (median of {args.repeats}) | hand-written "
          f"{loop['hand']:,.0f} | automl.fit {loop['ours']:,.0f} | ratio {loop['ratio']:.3f} |")
    study_csv = args.study_csv or args.csv
    over = overhead_benchmark(study_csv, args.study_target or args.target, args.trials)
    print(f"| {args.trials}-trial study on {study_csv.name} | wall {over['wall']:.1f}s "
          f"| training epochs {over['training']:.1f}s ({over['epochs']} epochs; "
          f"{over['complete']} complete, {over['pruned']} pruned) "
          f"| outside training {over['overhead']:.1%} |")


if __name__ == "__main__":
    main()
