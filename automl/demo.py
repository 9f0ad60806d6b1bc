"""``make demo``: search a scikit-learn bundled dataset with the CLI, then predict new rows.

Writes the Wisconsin breast-cancer data as two CSVs: ``demo/breast_cancer.csv`` (70% of the rows,
the training data) and ``demo/breast_cancer_new.csv`` (the other 30%: rows the search never
sees). Runs ``automl search demo/breast_cancer.csv --target diagnosis --timeout 45`` and
``automl predict demo-breast-cancer demo/breast_cancer_new.csv`` as a user would; the new rows
keep their labels, so ``predict`` scores its predictions against them and ``automl importance``
ranks the columns by what shuffling each costs on them. Uses the default stores (``studies/``,
``mlruns/``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from automl.cli import app

DEMO_DIR = Path("demo")
STUDY = "demo-breast-cancer"
TARGET = "diagnosis"


def write_demo_csvs(folder: Path = DEMO_DIR) -> tuple[Path, Path]:
    """The training CSV and the new rows' CSV (labelled too, for ``predict`` to score)."""
    bunch = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = bunch.frame.rename(columns={"target": TARGET})
    frame[TARGET] = frame[TARGET].map({0: "malignant", 1: "benign"})
    train, new = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame[TARGET])
    folder.mkdir(exist_ok=True)
    train_path, new_path = folder / "breast_cancer.csv", folder / "breast_cancer_new.csv"
    train.to_csv(train_path, index=False)
    new.to_csv(new_path, index=False)
    return train_path, new_path


def main() -> None:
    train_path, new_path = write_demo_csvs()
    print(f"wrote {train_path} ({len(pd.read_csv(train_path))} rows) and {new_path} "
          f"({len(pd.read_csv(new_path))} new rows); searching the first:\n")
    app(["search", str(train_path), "--target", TARGET, "--timeout", "45", "--study", STUDY],
        standalone_mode=False)
    predictions = DEMO_DIR / "predictions.csv"
    print(f"\npredicting the new rows: automl predict {STUDY} {new_path} -o {predictions}")
    app(["predict", STUDY, str(new_path), "-o", str(predictions)], standalone_mode=False)
    print(f"\nwhich columns the model needs: automl importance {STUDY} {new_path}")
    app(["importance", STUDY, str(new_path)], standalone_mode=False)
    print(f"\nthe study as JSON: automl show {STUDY} --json")


if __name__ == "__main__":
    main()
