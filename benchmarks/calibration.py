"""Probabilities a user can read as frequencies: the final model's test log-loss and expected
calibration error with its fitted temperature (``automl.calibration``) and without it, side by
side on the same model.

For ``../shared/datasets/`` credit_g, titanic and adult and scikit-learn's bundled
breast_cancer, over outer 70/30 splits (seeds 0, 1, 2; stratified): ``automl search`` of the
70% (``--timeout``, defaults otherwise, its own folder and stores), then the study's final
model on the 30% it never saw, read once as saved and once with its temperature set to 1.
ROC-AUC is the same both ways (a temperature keeps every row's order); the log-loss and the
expected calibration error (15 equal-width bins of the largest probability) are not.

``.venv/bin/python benchmarks/calibration.py [--timeout 60] [--seeds 0,1,2] [--tables ...]``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import mean_std, runs_per_table
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from automl.predict import load_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TABLES = {
    "credit_g": lambda: pd.read_csv(SHARED / "credit_g.csv").rename(columns={"class": "y"}),
    "titanic": lambda: pd.read_csv(SHARED / "titanic.csv").rename(columns={"Survived": "y"}),
    "adult": lambda: pd.read_csv(SHARED / "adult.csv").rename(columns={"class": "y"}),
    "breast_cancer": lambda: load_breast_cancer(as_frame=True).frame.rename(
        columns={"target": "y"}),
}


def expected_calibration_error(truth: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """The mean gap between confidence and accuracy over equal-width bins of the largest
    probability, weighted by their rows (Guo et al. 2017)."""
    confidence, right = proba.max(axis=1), proba.argmax(axis=1) == truth
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(right[which == b].mean() - confidence[which == b].mean())
                     * np.mean(which == b) for b in range(bins) if np.any(which == b)))


def scored(frame: pd.DataFrame, seed: int, timeout: float) -> dict[str, tuple[float, float]]:
    """Test (log-loss, ECE) of the final model with its temperature (``fitted``) and at 1
    (``raw``), after a search of the other 70%; and the temperature."""
    train, test = train_test_split(frame, test_size=0.3, random_state=seed,
                                   stratify=frame["y"])
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        train.to_csv(folder / "train.csv", index=False)
        subprocess.run([sys.executable, "-m", "automl", "search", "train.csv", "--target", "y",
                        "--study", "bench", "--timeout", str(timeout), "--seed", str(seed)],
                       cwd=folder, check=True, capture_output=True)
        bundle, _ = load_model(f"sqlite:///{folder}/studies/automl.db", "bench",
                               tracking_uri=f"sqlite:///{folder}/mlruns/mlflow.db")
        classes = list(bundle.schema.classes)
        truth = test["y"].astype(str).map(classes.index).to_numpy()
        found = {"temperature": (bundle.temperature or 1.0, 0.0)}
        for name, temperature in (("fitted", bundle.temperature), ("raw", None)):
            bundle.temperature = temperature
            proba = bundle.predict(test.drop(columns="y"))[[f"proba_{c}" for c in classes]]
            found[name] = (float(log_loss(truth, proba.to_numpy(), labels=range(len(classes)))),
                           expected_calibration_error(truth, proba.to_numpy()))
        return found


def main() -> None:
    header = ("| table | seed | temperature | log-loss fitted / raw | ECE fitted / raw |\n"
              "|---|---|---|---|---|")
    for name, seeds, runs in runs_per_table(__doc__, header, TABLES, scored):
        for seed, run in zip(seeds, runs, strict=True):
            print(f"| {name} | {seed} | {run['temperature'][0]:.3f} | {run['fitted'][0]:.4f} / "
                  f"{run['raw'][0]:.4f} | {run['fitted'][1]:.4f} / {run['raw'][1]:.4f} |")
        for i, what in enumerate(("log-loss", "ECE")):
            print(f"| {name} | mean ± std | | {what}: {mean_std([r['fitted'][i] for r in runs])}"
                  f" / {mean_std([r['raw'][i] for r in runs])} | |")


if __name__ == "__main__":
    main()
