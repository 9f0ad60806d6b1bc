"""Which scaling a linear model needs (issue 12): scikit-learn's ridge / logistic regression on
standard-scaled, robust-scaled + smooth-clipped (automl's ``robust`` block) and quantile-normal
(automl's ``quantile`` block) inputs, on the small-data benchmark's outer 70/30 splits.

Usage: ``.venv/bin/python benchmarks/linear_scaling.py [--seeds 0,1,2]``
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from small_data import DATASETS, TARGET

from automl.encoders import SMOOTH_CLIP


def _smooth_clip(z: np.ndarray) -> np.ndarray:
    return z / np.sqrt(1 + (z / SMOOTH_CLIP) ** 2)


SCALERS = {
    "standard": StandardScaler,
    "robust + smooth clip": lambda: make_pipeline(RobustScaler(),
                                                  FunctionTransformer(_smooth_clip)),
    "quantile-normal": lambda: QuantileTransformer(output_distribution="normal",
                                                   n_quantiles=100),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    seeds = [int(s) for s in parser.parse_args().seeds.split(",")]
    print("| dataset | metric | " + " | ".join(SCALERS) + " |")
    print("|---|---|" + "---|" * len(SCALERS))
    for name in ("breast_cancer", "wine", "digits", "diabetes"):  # all-numeric tables
        load, task = DATASETS[name]
        frame = load()
        x, y = frame.drop(columns=TARGET).to_numpy(float), frame[TARGET].to_numpy()
        scores = {scaler: [] for scaler in SCALERS}
        for seed in seeds:
            xa, xb, ya, yb = train_test_split(x, y, test_size=0.3, random_state=seed,
                                              stratify=None if task == "regression" else y)
            for scaler, make in SCALERS.items():
                model = make_pipeline(make(), Ridge() if task == "regression"
                                      else LogisticRegression(max_iter=5000)).fit(xa, ya)
                if task == "regression":
                    scores[scaler].append(mean_squared_error(yb, model.predict(xb)) ** 0.5)
                elif task == "binary":
                    scores[scaler].append(roc_auc_score(yb == model.classes_[1],
                                                        model.predict_proba(xb)[:, 1]))
                else:
                    scores[scaler].append(accuracy_score(yb, model.predict(xb)))
        metric = {"regression": "RMSE", "binary": "ROC-AUC"}.get(task, "accuracy")
        print(f"| {name} | {metric} | " + " | ".join(
            f"{statistics.mean(v):.4f}" for v in scores.values()) + " |")


if __name__ == "__main__":
    main()
