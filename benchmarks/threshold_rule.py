"""The decision threshold's rule (issue 15): the exact validation best against the bagged one.

F1 picks the threshold on the validation rows; with a few hundred positive rows the single best
threshold sits where the validation noise favours it. :func:`automl.threshold.tune_threshold`
averages the best thresholds of bootstrap resamples instead. This script measures what that is
worth on rows neither rule saw, on many splits (each seconds long), with scikit-learn's
``HistGradientBoostingClassifier`` defaults as the model:

for each table (``../shared/datasets/adult.csv`` at its own 24% positive rows, and with
positives dropped, as in ``imbalance.py``, to ``--shares``) and each split seed, a stratified
70/15/15 split; HGB (``random_state`` = seed) fitted on the 70%; its positive-class
probabilities thresholded by each rule on the 15% validation rows; F1 on the 15% test rows.
Prints a Markdown table: mean test F1 per rule, the mean paired difference ± its standard
error, and on how many splits the bagged rule won, lost or tied.

Usage: ``.venv/bin/python benchmarks/threshold_rule.py [--shares 0.24,0.05,0.02] [--splits 30]``
(``0.24`` means adult as it is).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from automl.data import label_strings
from automl.threshold import RESAMPLES, ThresholdMetric, apply_threshold, tune_threshold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imbalance import TARGET, adult_table  # the imbalance benchmark's tables
from quality import coded_features  # the HGB feature coding

ADULT_SHARE = 0.24  # the --shares value that means adult as it is


def split_f1s(table: pd.DataFrame, seed: int) -> tuple[float, float, int]:
    """Test F1 at the exact and at the bagged threshold on one split; validation positives."""
    labels = label_strings(table[TARGET])
    is_positive = (labels == labels.value_counts().idxmin()).to_numpy()
    rows = np.arange(len(table))
    train, rest = train_test_split(rows, test_size=0.3, random_state=seed, stratify=is_positive)
    val, test = train_test_split(rest, test_size=0.5, random_state=seed,
                                 stratify=is_positive[rest])
    x_train, x_val = coded_features(table.iloc[train], table.iloc[val], TARGET)
    _, x_test = coded_features(table.iloc[train], table.iloc[test], TARGET)
    model = HistGradientBoostingClassifier(random_state=seed).fit(x_train, is_positive[train])
    val_scores, test_scores = (model.predict_proba(x)[:, 1] for x in (x_val, x_test))
    exact_f1, bagged_f1 = (
        skm.f1_score(is_positive[test], apply_threshold(test_scores, tune_threshold(
            is_positive[val], val_scores, ThresholdMetric(), resamples=resamples).value))
        for resamples in (0, RESAMPLES))
    return float(exact_f1), float(bagged_f1), int(is_positive[val].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", default="0.24,0.05,0.02",
                        help="positive shares of the tables (0.24: adult as it is)")
    parser.add_argument("--splits", type=int, default=30, help="split seeds 0..N-1 [30]")
    args = parser.parse_args()
    print(f"`{shlex.join(['benchmarks/threshold_rule.py', *sys.argv[1:]])}`\n")
    print("| table | splits | validation positives | test F1, exact best | test F1, bagged | "
          "bagged − exact (± s.e.) | bagged won / lost / tied |")
    print("|---|---|---|---|---|---|---|")
    for share in (float(s) for s in args.shares.split(",")):
        table = adult_table(None if share == ADULT_SHARE else share)
        runs = np.array([split_f1s(table, seed) for seed in range(args.splits)])
        gain = runs[:, 1] - runs[:, 0]
        print(f"| adult at {share:.0%} positive | {args.splits} | {runs[:, 2].mean():.0f} | "
              f"{runs[:, 0].mean():.4f} | {runs[:, 1].mean():.4f} | {gain.mean():+.4f} ± "
              f"{gain.std(ddof=1) / np.sqrt(len(gain)):.4f} | {(gain > 0).sum()} / "
              f"{(gain < 0).sum()} / {(gain == 0).sum()} |", flush=True)


if __name__ == "__main__":
    main()
