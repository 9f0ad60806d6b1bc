"""Imbalanced-classes benchmark (issue 15): test F1 and PR-AUC at a tuned decision threshold.

Two tables: ``adult.csv`` (target ``class``, 24% positive) and the same table with positives
dropped at random (seeded) down to 2% of the rows. On each:

* **automl**: a search with default settings (``--timeout`` seconds); its final model, with
  the decision threshold it tuned on the validation rows, predicts the test rows through
  :meth:`automl.bundle.ModelBundle.predict` (the path of ``automl predict``);
* **HGB**: scikit-learn ``HistGradientBoostingClassifier`` defaults (``random_state=0``) fitted
  on the training rows, its threshold tuned the same way (:func:`automl.threshold.tune_threshold`,
  F1) on the same validation rows.

Both use automl's own split of the table (70/15/15, stratified, by the search's seed), so
train, validation and test rows are the same; ``--seeds`` repeats the comparison on other
splits (the search seeded alike). The positive class is the minority class (``>50K``). Prints
a Markdown table with the mean difference per table (and writes it with ``--output``).

Usage: ``.venv/bin/python benchmarks/imbalance.py --timeout 300 [--tables adult,adult_2pct]
[--seeds 0,1,2]``
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingClassifier

from automl.config import SearchConfig, TrainConfig
from automl.data import label_strings, load_dataset
from automl.plan import SearchPlan, prepare_search
from automl.predict import load_model
from automl.reading import load_csv
from automl.session import run_search
from automl.splits import Splits, split
from automl.threshold import ThresholdMetric, apply_threshold, tune_threshold
from automl.tracking import MlflowTracker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import coded_features  # the quality benchmark's HGB feature coding

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv"
TARGET = "class"
TABLES = {"adult": None, "adult_2pct": 0.02}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One method's test scores on one table."""

    f1: float
    pr_auc: float
    threshold: float
    seconds: float
    note: str = ""


def adult_table(share: float | None) -> pd.DataFrame:
    """adult, or adult with positives dropped (seed 0) to ``share`` of the rows."""
    frame = load_csv(DATA)
    if share is None:
        return frame
    labels = label_strings(frame[TARGET])
    positive = labels.value_counts().idxmin()
    pos, neg = frame[labels == positive], frame[labels != positive]
    keep = round(share / (1 - share) * len(neg))
    return pd.concat([neg, pos.sample(n=keep, random_state=0)]).sort_index()


def make_table(share: float | None, folder: Path, name: str) -> Path:
    """:func:`adult_table` as a CSV in ``folder``."""
    path = folder / f"{name}.csv"
    adult_table(share).to_csv(path, index=False)
    return path


def scores(is_positive: np.ndarray, proba: np.ndarray, threshold: float) -> tuple[float, float]:
    """Test F1 of the positive class at ``threshold``, and average precision."""
    f1 = skm.f1_score(is_positive, apply_threshold(proba, threshold), zero_division=0)
    return float(f1), float(skm.average_precision_score(is_positive, proba))


def run_hgb(splits: Splits, positive: str) -> Outcome:
    """HGB defaults on the training rows; F1 threshold tuned on the validation rows."""
    start = time.monotonic()
    x_train, x_val = coded_features(splits.train, splits.val, TARGET)
    _, x_test = coded_features(splits.train, splits.test, TARGET)
    model = HistGradientBoostingClassifier(random_state=0)
    model.fit(x_train, label_strings(splits.train[TARGET]).to_numpy())
    column = list(model.classes_).index(positive)
    truth = {part: label_strings(getattr(splits, part)[TARGET]).to_numpy() == positive
             for part in ("val", "test")}
    tuned = tune_threshold(truth["val"], model.predict_proba(x_val)[:, column], ThresholdMetric())
    f1, ap = scores(truth["test"], model.predict_proba(x_test)[:, column], tuned.value)
    return Outcome(f1=f1, pr_auc=ap, threshold=tuned.value, seconds=time.monotonic() - start)


def run_automl(plan: SearchPlan, splits: Splits) -> Outcome:
    """The search, then its final model (and its own tuned threshold) on the test rows."""
    start = time.monotonic()
    summary = run_search(plan)
    seconds = time.monotonic() - start
    bundle, source = load_model(plan.cfg.storage_url, plan.study_name,
                                tracking_uri=plan.cfg.tracking_uri)
    positive = bundle.schema.positive_class
    out = bundle.predict(splits.test.reset_index(drop=True))
    is_positive = label_strings(splits.test[TARGET]).to_numpy() == positive
    f1 = skm.f1_score(is_positive, out["prediction"].astype(str).to_numpy() == positive)
    ap = skm.average_precision_score(is_positive, out[f"proba_{positive}"].to_numpy())
    trials = summary.report.trials
    note = (f"{trials.complete} complete + {trials.pruned} pruned trials, metric "
            f"{plan.metric.name}, final: {source.label}")
    return Outcome(f1=float(f1), pr_auc=float(ap), threshold=float(bundle.threshold or 0.5),
                   seconds=seconds, note=note)


def bench(name: str, share: float | None, timeout: float, folder: Path,
          threads: int | None, seed: int) -> tuple[list[str], Outcome, Outcome]:
    """The three Markdown rows of one table on one split, and both methods' outcomes."""
    csv = make_table(share, folder, name)
    study = f"{name}_seed{seed}"
    storage = f"sqlite:///{folder / study / 'optuna.db'}"
    tracking = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    MlflowTracker(tracking, study)  # the store exists beforehand, as for a user
    cfg = SearchConfig(csv_path=csv, target=TARGET, study_name=study, n_trials=100_000,
                       timeout_s=timeout, seed=seed, storage_url=storage, tracking_uri=tracking,
                       threads=threads, train=TrainConfig(device="cpu"))
    plan = prepare_search(cfg)
    splits = split(load_dataset(csv, TARGET).frame, plan.schema, seed=cfg.seed,
                   val_fraction=plan.validation.val_fraction,
                   test_fraction=plan.validation.test_fraction)  # the search's own split
    schema = plan.schema
    pos_share = schema.class_counts[schema.positive_code] / sum(schema.class_counts)
    hgb = run_hgb(splits, str(schema.positive_class))
    ours = run_automl(plan, splits)
    label = f"{name} seed {seed} ({pos_share:.1%} positive, {len(splits.test)} test rows)"
    return [f"| {label} | automl | {ours.f1:.4f} | {ours.pr_auc:.4f} | {ours.threshold:.3f} | "
            f"{ours.seconds:.0f} | {ours.note} |",
            f"| {label} | HGB | {hgb.f1:.4f} | {hgb.pr_auc:.4f} | {hgb.threshold:.3f} | "
            f"{hgb.seconds:.0f} | defaults, F1 threshold on the same validation rows |",
            f"| {label} | automl − HGB | {ours.f1 - hgb.f1:+.4f} | {ours.pr_auc - hgb.pr_auc:+.4f}"
            " | | | |"], ours, hgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="search budget per table in seconds [300]")
    parser.add_argument("--tables", default=",".join(TABLES),
                        help=f"comma-separated, of {', '.join(TABLES)}")
    parser.add_argument("--seeds", default="0", help="comma-separated split/search seeds [0]")
    parser.add_argument("--threads", type=int, default=None, help="torch threads [all cores]")
    parser.add_argument("--output", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    lines = [f"`{shlex.join(['benchmarks/imbalance.py', *sys.argv[1:]])}`", "",
             "| table | model | test F1 @ tuned threshold | test PR-AUC | threshold | seconds | "
             "notes |", "|---|---|---|---|---|---|---|"]
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tables.split(","):
            gaps = []
            for seed in seeds:
                rows, ours, hgb = bench(name, TABLES[name], args.timeout, Path(tmp),
                                        args.threads, seed)
                lines += rows
                gaps.append((ours.f1 - hgb.f1, ours.pr_auc - hgb.pr_auc))
                print("\n".join(rows), flush=True)
            f1_gap, ap_gap = np.mean(gaps, axis=0)
            lines.append(f"| {name}, mean of {len(seeds)} seeds | automl − HGB | {f1_gap:+.4f} "
                         f"| {ap_gap:+.4f} | | | |")
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
