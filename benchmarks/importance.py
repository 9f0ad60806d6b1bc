"""Column importance a user can act on: whether ``automl importance`` ranks the columns a target
is made of first, and how long it takes.

Tables: ``informative``, 3,000 rows of scikit-learn's ``make_classification`` whose first 3 of
10 columns carry the signal and the other 7 are noise (``shuffle=False``); and
``../shared/datasets/`` adult (48,842 rows, 14 columns), whose truth is not known, for the time
on a real table and what it ranks first. Over outer 70/30 splits (seeds 0, 1, 2): ``automl
search`` of the 70% (``--timeout``, defaults otherwise), then ``automl importance`` of its
final model on the 30% it never saw (defaults: 5 shuffles, at most 10,000 rows). Printed per
split: the columns ranked first, how many of the informative ones are in the top 3, and the
command's wall seconds (its start-up included).

``.venv/bin/python benchmarks/importance.py [--timeout 60] [--seeds 0,1,2] [--tables ...]``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from multiseed import runs_per_table
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
INFORMATIVE = ("f0", "f1", "f2")


def _informative() -> pd.DataFrame:
    x, y = make_classification(n_samples=3000, n_features=10, n_informative=3, n_redundant=0,
                               shuffle=False, random_state=0)
    frame = pd.DataFrame(x.round(5), columns=[f"f{i}" for i in range(10)])
    frame["y"] = y
    return frame


TABLES = {"informative": _informative,
          "adult": lambda: pd.read_csv(SHARED / "adult.csv").rename(columns={"class": "y"})}


def ranked(frame: pd.DataFrame, seed: int, timeout: float) -> tuple[list[str], float]:
    """The columns by importance on the test 30%, and ``automl importance``'s seconds."""
    train, test = train_test_split(frame, test_size=0.3, random_state=seed, stratify=frame["y"])
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        train.to_csv(folder / "train.csv", index=False)
        test.to_csv(folder / "test.csv", index=False)
        _cli(folder, "search", "train.csv", "--target", "y", "--study", "bench",
             "--timeout", str(timeout), "--seed", str(seed))
        start = time.perf_counter()
        found = json.loads(_cli(folder, "importance", "bench", "test.csv", "--json"))
        return [c["column"] for c in found["columns"]], time.perf_counter() - start


def _cli(folder: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "automl", *args], cwd=folder, check=True,
                          capture_output=True, text=True).stdout


def main() -> None:
    header = ("| table | seed | first 5 columns | informative in the top 3 | seconds |\n"
              "|---|---|---|---|---|")
    for name, seeds, runs in runs_per_table(__doc__, header, TABLES, ranked):
        for seed, (columns, seconds) in zip(seeds, runs, strict=True):
            found = (f"{len(set(columns[:3]) & set(INFORMATIVE))} of 3"
                     if name == "informative" else "-")
            print(f"| {name} | {seed} | {', '.join(columns[:5])} | {found} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
