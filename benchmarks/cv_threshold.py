"""Where cross-validation stops paying (issue 12): ``--folds 5`` against ``--folds 1`` (one
validation split) at several table sizes, under the same ``--timeout``.

From ``../shared/datasets/adult.csv`` (binary, 24% positive), per seed: 5,000 rows held out
(stratified) as the test rows, then the first N of the remaining shuffled rows as the table a user
searches: ``automl search table.csv --target class --timeout T --folds K --test-fraction 0``
(every row goes to the search in both modes; ``--folds 1`` keeps 15% of them for validation),
then ``automl predict`` on the held-out rows, scored by ROC-AUC (the study metric) and log-loss.

Usage: ``.venv/bin/python benchmarks/cv_threshold.py [--sizes 1500,5000,15000] [--seeds 0,1]
[--timeout 90] [--output FILE]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import publish
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from small_data import SHARED, _cli

TARGET, POSITIVE, TEST_ROWS = "class", ">50K", 5000


def one_run(table: pd.DataFrame, test: pd.DataFrame, folds: int, timeout: float,
            folder: Path) -> tuple[float, float, str]:
    """ROC-AUC and log-loss on ``test`` of a search on ``table``, and its trial count (NaN
    scores when no trial completed in the time)."""
    table.to_csv(folder / "table.csv", index=False)
    test.drop(columns=TARGET).to_csv(folder / "test.csv", index=False)
    stores = ["--storage", f"sqlite:///{folder}/optuna.db",
              "--tracking-uri", f"sqlite:///{folder}/mlruns/mlflow.db"]
    out = _cli("search", str(folder / "table.csv"), "--target", TARGET, "--study", "cv",
               "--timeout", f"{timeout:g}", "--folds", str(folds), "--test-fraction", "0",
               *stores)
    trials = next((line.split(" trial")[0].strip() for line in out.splitlines()
                   if " run in " in line), "?")
    try:
        _cli("predict", "cv", str(folder / "test.csv"), "-o", str(folder / "out.csv"), *stores)
    except RuntimeError as exc:
        if "no completed trial" not in str(exc):
            raise
        return math.nan, math.nan, f"{trials}, none completed"
    proba = pd.read_csv(folder / "out.csv")[f"proba_{POSITIVE}"].to_numpy()
    truth = (test[TARGET] == POSITIVE).to_numpy()
    return (float(roc_auc_score(truth, proba)),
            float(log_loss(truth, np.clip(proba, 1e-7, 1 - 1e-7))), trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1500,5000,15000")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    frame = pd.read_csv(SHARED / "adult.csv")
    lines = ["| rows | seed | folds | test ROC-AUC | test log-loss | trials |",
             "|---|---|---|---|---|---|"]
    means: dict[tuple[int, int], list[float]] = {}
    for seed in map(int, args.seeds.split(",")):
        rest, test = train_test_split(frame, test_size=TEST_ROWS, random_state=seed,
                                      stratify=frame[TARGET])
        rest = rest.sample(frac=1.0, random_state=seed)
        for size in map(int, args.sizes.split(",")):
            for folds in (1, 5):
                with tempfile.TemporaryDirectory(prefix="automl-cv-") as tmp:
                    auc, loss, trials = one_run(rest.iloc[:size], test, folds, args.timeout,
                                                Path(tmp))
                means.setdefault((size, folds), []).append(auc)
                lines.append(f"| {size} | {seed} | {folds} | {auc:.4f} | {loss:.4f} | "
                             f"{trials} |")
                print(lines[-1], flush=True)
    lines += ["", "| rows | folds 1: mean ROC-AUC | folds 5: mean ROC-AUC | 5 − 1 |",
              "|---|---|---|---|"]
    for size in map(int, args.sizes.split(",")):  # a run without a model scores 0.5 (chance)
        one, five = (statistics.mean(0.5 if math.isnan(a) else a for a in means[size, k])
                     for k in (1, 5))
        lines.append(f"| {size} | {one:.4f} | {five:.4f} | {five - one:+.4f} |")
    publish(lines, args.output)


if __name__ == "__main__":
    main()
