"""A wide table's warm start: what a 3-trial search of 300 rows × 5,000 features costs.

The warm start trains every family's published defaults unjudged by the pruner; with
embeddings of each continuous feature, a wide table's networks get tens of thousands of inputs.
Generates the table (y from the first two features), runs ``automl search --n-trials 3`` in a
fresh folder and prints the wall time and each trial's network and seconds. Run it from two
checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/wide_table.py [--features 5000]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd


def write_table(path: Path, n_features: int) -> None:
    """300 rows of ``n_features`` normal features; ``y`` = whether the first two sum above 0."""
    x = np.random.default_rng(0).normal(size=(300, n_features))
    frame = pd.DataFrame(x, columns=[f"g{i}" for i in range(n_features)])
    frame.assign(y=(x[:, 0] + x[:, 1] > 0).astype(int)).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "wide.csv"
        write_table(csv, args.features)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "automl", "search", str(csv), "--n-trials", "3",
                        "--study", "wide"], cwd=folder, capture_output=True, check=True)
        wall = time.perf_counter() - start
        study = optuna.load_study(study_name="wide",
                                  storage=f"sqlite:///{folder}/studies/automl.db")
    print(f"| 300 × {args.features:,} | {wall:.0f} s | " + ", ".join(
        f"{t.params['arch']} {t.params.get('embedding', 'none')} "
        f"{(t.datetime_complete - t.datetime_start).total_seconds():.0f} s "
        f"({t.value:.4f})" for t in study.trials if t.datetime_complete) + " |")


if __name__ == "__main__":
    main()
