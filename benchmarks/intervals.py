"""Prediction intervals a user can trust: how many held-out true values the final model's
intervals hold, against the level asked.

For scikit-learn's bundled diabetes (442 rows, cross-validated, so calibrated out of fold) and
``../shared/datasets/`` california_housing (20,640 rows, one validation split; its target is
not skewed enough to be learned on a log scale, which only ``tests/test_intervals.py``
checks), over outer 70/30 splits (seeds 0, 1, 2): ``automl search`` of the 70%
(``--timeout``, defaults otherwise), then ``automl predict --interval LEVEL`` of the 30% it
never saw, for levels 0.8 and 0.9; printed: the share of the 30%'s true values inside the
intervals, and their mean width. A calibration that keeps its promise holds about the level.

``.venv/bin/python benchmarks/intervals.py [--timeout 60] [--seeds 0,1,2]``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import mean_std, runs_per_table
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
LEVELS = (0.8, 0.9)
TABLES = {"diabetes": lambda: load_diabetes(as_frame=True).frame.rename(columns={"target": "y"}),
          "california_housing": lambda: pd.read_csv(SHARED / "california_housing.csv").rename(
              columns={"median_house_value": "y"})}


def held(frame: pd.DataFrame, seed: int, timeout: float) -> dict[float, tuple[float, float]]:
    """For each level, the share of the test 30%'s values inside the intervals, and their mean
    width, after a search of the 70% (its own folder and stores)."""
    train, test = train_test_split(frame, test_size=0.3, random_state=seed)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        train.to_csv(folder / "train.csv", index=False)
        test.drop(columns="y").to_csv(folder / "test.csv", index=False)
        _cli(folder, "search", "train.csv", "--target", "y", "--study", "bench",
             "--timeout", str(timeout), "--seed", str(seed))
        found = {}
        for level in LEVELS:
            _cli(folder, "predict", "bench", "test.csv", "--interval", str(level), "-o",
                 "out.csv")
            out = pd.read_csv(folder / "out.csv")
            lower, upper = out.iloc[:, 1].to_numpy(), out.iloc[:, 2].to_numpy()
            truth = test["y"].to_numpy()
            found[level] = (float(np.mean((truth >= lower) & (truth <= upper))),
                            float(np.mean(upper - lower)))
        return found


def _cli(folder: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "automl", *args], cwd=folder, check=True,
                   capture_output=True, text=True)


def main() -> None:
    header = ("| table | level | held, per seed | held, mean ± std | mean width, per seed |\n"
              "|---|---|---|---|---|")
    for name, _, runs in runs_per_table(__doc__, header, TABLES, held):
        for level in LEVELS:
            shares = [run[level][0] for run in runs]
            widths = [run[level][1] for run in runs]
            print(f"| {name} | {level:g} | {' / '.join(f'{s:.3f}' for s in shares)} | "
                  f"{mean_std(shares)} | {' / '.join(f'{w:,.1f}' for w in widths)} |")


if __name__ == "__main__":
    main()
