"""Small-data benchmark (issue 12): ``automl search`` at its defaults against a linear baseline.

For scikit-learn's bundled breast_cancer, wine, digits and diabetes and ``../shared/datasets/``
credit_g and titanic, over outer 70/30 splits (seeds 0, 1, 2; stratified for classification):

* **automl**: ``automl search train.csv --target y --timeout 60`` with every other setting at its
  default, then ``automl predict STUDY test.csv -o out.csv``: run as a user would (the CLI in a
  subprocess, its own temporary stores), scored on the 30% it never saw;
* **linear**: a scikit-learn pipeline fitted on the same 70%: median / most-frequent imputation,
  ``StandardScaler`` on numeric and ``OneHotEncoder`` on text columns, then
  ``LogisticRegression(max_iter=2000)`` or ``Ridge()``.

Scores are each task's default study metric (binary ROC-AUC, multiclass accuracy, regression
RMSE) and, for classification, accuracy of the largest probability. Prints one row per split and a
mean ± std table per dataset (``--output FILE`` also writes them), and whether the issue's floor
holds: automl's mean at least the baseline's on every dataset, ahead on at least four.

``--keep DIR`` keeps each search's folder (its CSVs and stores) as ``DIR/<dataset>-<seed>``, for
``benchmarks/final_rules.py`` to replay its final step.

Usage: ``.venv/bin/python benchmarks/small_data.py [--timeout 60] [--seeds 0,1,2]
[--datasets breast_cancer,wine,...] [--output FILE] [--search-options=--refit-all] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import mean_std, parse_seeds, publish
from sklearn import datasets as skd
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TARGET = "y"


def _bundled(loader: Callable[..., object], labels: str | None) -> Callable[[], pd.DataFrame]:
    """A scikit-learn bundled table with its target as column ``y`` (class labels as text)."""

    def load() -> pd.DataFrame:
        frame = loader(as_frame=True).frame.rename(columns={"target": TARGET})  # type: ignore
        if labels is not None:
            frame[TARGET] = [f"{labels}{v}" for v in frame[TARGET]]
        return frame

    return load


def _shared(name: str, target: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        frame = pd.read_csv(SHARED / f"{name}.csv")
        if target == "Survived":
            frame[target] = frame[target].map({0: "died", 1: "survived"})
        return frame.rename(columns={target: TARGET})

    return load


DATASETS: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "breast_cancer": (_bundled(skd.load_breast_cancer, "class_"), "binary"),
    "wine": (_bundled(skd.load_wine, "cultivar_"), "multiclass"),
    "digits": (_bundled(skd.load_digits, "digit_"), "multiclass"),
    "diabetes": (_bundled(skd.load_diabetes, None), "regression"),
    "credit_g": (_shared("credit_g", "class"), "binary"),
    "titanic": (_shared("titanic", "Survived"), "binary"),
}
PRIMARY = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
TIE = 1e-9  # means closer than this are level (the same scores, summed in another order)


@dataclass(frozen=True, slots=True)
class Scores:
    primary: float
    accuracy: float | None
    seconds: float
    note: str = ""


def score(task: str, truth: pd.Series, predicted: pd.DataFrame, seconds: float,
          note: str = "") -> Scores:
    """Scores of ``predicted`` (``automl predict``'s columns: ``prediction``, ``proba_<class>``)."""
    if task == "regression":
        rmse = float(np.sqrt(mean_squared_error(truth, predicted["prediction"])))
        return Scores(rmse, None, seconds, note)
    proba = predicted.filter(like="proba_")
    classes = [c.removeprefix("proba_") for c in proba.columns]
    picked = np.asarray(classes)[proba.to_numpy().argmax(axis=1)]
    accuracy = float(accuracy_score(truth.astype(str), picked))
    if task == "binary":
        auc = float(roc_auc_score(truth.astype(str) == classes[1], proba.iloc[:, 1]))
        return Scores(auc, accuracy, seconds, note)
    return Scores(accuracy, accuracy, seconds, note)


def linear(task: str, train: pd.DataFrame, test: pd.DataFrame) -> Scores:
    """The five-line baseline on the same split."""
    start = time.perf_counter()
    x, y = train.drop(columns=TARGET), train[TARGET]
    text = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numeric = [c for c in x.columns if c not in text]
    features = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore")), text))
    model = make_pipeline(features, Ridge() if task == "regression"
                          else LogisticRegression(max_iter=2000)).fit(x, y)
    x_test = test.drop(columns=TARGET)
    if task == "regression":
        predicted = pd.DataFrame({"prediction": model.predict(x_test)})
    else:
        proba = model.predict_proba(x_test)
        predicted = pd.DataFrame(proba, columns=[f"proba_{c}" for c in model.classes_])
    return score(task, test[TARGET], predicted, time.perf_counter() - start)


def outer_split(frame: pd.DataFrame, task: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The benchmark's 70/30 split of ``frame`` (stratified for classification)."""
    return train_test_split(frame, test_size=0.3, random_state=seed,
                            stratify=frame[TARGET] if task != "regression" else None)


def automl(task: str, train: pd.DataFrame, test: pd.DataFrame, timeout: float,
           folder: Path, options: tuple[str, ...] = ()) -> Scores:
    """``automl search`` (with ``options`` beside the defaults) then ``automl predict``, as a
    user runs them."""
    train.to_csv(folder / "train.csv", index=False)
    test.drop(columns=TARGET).to_csv(folder / "test.csv", index=False)
    stores = ["--storage", f"sqlite:///{folder}/studies/optuna.db",
              "--tracking-uri", f"sqlite:///{folder}/mlruns/mlflow.db"]
    start = time.perf_counter()
    searched = _cli("search", str(folder / "train.csv"), "--target", TARGET, "--study", "bench",
                    "--timeout", f"{timeout:g}", *options, *stores)
    _cli("predict", "bench", str(folder / "test.csv"), "-o", str(folder / "out.csv"), *stores)
    seconds = time.perf_counter() - start
    trials = next((line.split(" trial")[0].strip() for line in reversed(searched.splitlines())
                   if " run in " in line), "?")  # the last: with --workers, the study's
    final = next((line.split(";")[0].removeprefix("final model: ")
                  for line in searched.splitlines() if line.startswith("final model:")), "?")
    return score(task, test[TARGET], pd.read_csv(folder / "out.csv"), seconds,
                 f"{trials} trials; {final}")


def _cli(*args: str) -> str:
    command = [sys.executable, "-m", "automl", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


@contextlib.contextmanager
def _folder(keep: Path | None, name: str) -> Iterator[Path]:
    """``keep / name`` (made, left in place), or a temporary folder without ``keep``."""
    if keep is not None:
        (keep / name).mkdir(parents=True)
        yield keep / name
        return
    with tempfile.TemporaryDirectory(prefix="automl-small-") as tmp:
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--search-options", default="",
                        help="options added to each `automl search`, e.g. '--refit-all'")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each search's folder as DIR/<dataset>-<seed>")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    names = args.datasets.split(",")
    lines = [f"`{shlex.join(['benchmarks/small_data.py', *sys.argv[1:]])}`", "",
             "| dataset | seed | metric | automl | linear | automl run |",
             "|---|---|---|---|---|---|"]
    results: dict[str, list[tuple[Scores, Scores]]] = {name: [] for name in names}
    taken = [f"{name}-{seed}" for name in names for seed in seeds
             if args.keep and (args.keep / f"{name}-{seed}").exists()]
    if taken:
        parser.error(f"--keep {args.keep} already holds {', '.join(taken)}: remove them or "
                     "keep elsewhere")
    for name in names:
        load, task = DATASETS[name]
        frame = load()
        for seed in seeds:
            train, test = outer_split(frame, task, seed)
            with _folder(args.keep, f"{name}-{seed}") as folder:
                ours = automl(task, train, test, args.timeout, folder,
                              tuple(shlex.split(args.search_options)))
            base = linear(task, train, test)
            results[name].append((ours, base))
            lines.append(f"| {name} | {seed} | {PRIMARY[task]} | {ours.primary:.4f} | "
                         f"{base.primary:.4f} | {ours.seconds:.0f}s, {ours.note} |")
            print(lines[-1], flush=True)
    lines += ["", "| dataset | metric | automl mean ± std | linear mean ± std | automl ahead |",
              "|---|---|---|---|---|"]
    ahead = at_least = 0
    for name, pairs in results.items():
        task = DATASETS[name][1]
        ours = [o.primary for o, _ in pairs]
        base = [b.primary for _, b in pairs]
        sign = -1 if task == "regression" else 1
        diff = sign * (statistics.mean(ours) - statistics.mean(base))
        if abs(diff) < TIE:
            diff = 0.0
        ahead += diff > 0
        at_least += diff >= 0
        lines.append(f"| {name} | {PRIMARY[task]} | {mean_std(ours)} | {mean_std(base)} | "
                     f"{'yes' if diff > 0 else 'tie' if diff == 0 else 'no'} ({diff:+.4f}) |")
    lines += ["", f"floor (≥ linear on all {len(results)}, ahead on ≥ 4): at least on "
                  f"{at_least}/{len(results)}, ahead on {ahead}: "
                  f"{'MET' if at_least == len(results) and ahead >= 4 else 'MISSED'}"]
    publish(lines, args.output)


if __name__ == "__main__":
    main()
