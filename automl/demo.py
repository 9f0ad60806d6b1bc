"""``make demo``: write a scikit-learn bundled dataset to CSV and search it with the CLI.

Runs ``automl search demo/breast_cancer.csv --target diagnosis --n-trials 15 --metric
log_loss`` as a user would. Uses the default stores (``studies/``, ``mlruns/``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

from automl.cli import app

DEMO_DIR = Path("demo")


def write_demo_csv(folder: Path = DEMO_DIR) -> Path:
    """The Wisconsin breast-cancer data (569 rows, 30 features) as a CSV with a string target."""
    bunch = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = bunch.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    folder.mkdir(exist_ok=True)
    path = folder / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path


def main() -> None:
    path = write_demo_csv()
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB); searching it:\n")
    app(["search", str(path), "--target", "diagnosis", "--n-trials", "15", "--metric",
         "log_loss", "--study", "demo-breast-cancer", "--max-epochs", "40"],
        standalone_mode=False)
    print("\nthe study as JSON: automl show demo-breast-cancer --json")


if __name__ == "__main__":
    main()
