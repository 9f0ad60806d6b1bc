"""Data that changes over time: what a random split and ``--split-by`` promise, and what the
model then scores on later rows.

A generated table of customers over two years (``signup``: a date) whose churn depends on
their usage, their plan and, more and more over time, their price, while the prices rise; the
model is searched on those two years and then scored, through ``automl predict``, on the
following year (rows no search saw, later than all of them). For each seed, ``automl search``
(3 trials, defaults otherwise) in a fresh folder, once with rows held out at random and once
with ``--split-by signup``: the test ROC-AUC it prints, and its ROC-AUC on the next year. A
held-out score near the next year's is one a user can plan with.

``.venv/bin/python benchmarks/drift.py [--seeds 0,1,2]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import mean_std, number, parse_seeds, search_in
from sklearn.metrics import roc_auc_score


def customers(n: int, start: str, days: int, seed: int) -> pd.DataFrame:
    """``n`` customers who signed up in the ``days`` after ``start``; where the drift has got
    to is the signup's years after 2022-01-01."""
    rng = np.random.default_rng(seed)
    signup = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    years = ((signup - pd.Timestamp("2022-01-01")).days / 365).to_numpy()
    usage = rng.gamma(2.0, 10.0, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    price = (20 + 10 * (plan == "plus") + 25 * (plan == "pro")) * (1 + 0.15 * years) \
        + rng.normal(0, 3, n)
    logit = 1.0 - 0.08 * usage + 0.6 * (plan == "basic") + years * (price - 30) / 12
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"signup": signup.strftime("%Y-%m-%d"), "usage": usage.round(1),
                         "plan": plan, "price": price.round(2),
                         "churned": np.where(churned, "yes", "no")})


def next_year_score(folder: Path, future: pd.DataFrame) -> float:
    """ROC-AUC of study ``bench``'s final model in ``folder`` on the ``future`` rows."""
    rows = folder / "future.csv"
    future.drop(columns="churned").to_csv(rows, index=False)
    subprocess.run([sys.executable, "-m", "automl", "predict", "bench", str(rows), "-o",
                    str(folder / "out.csv")], cwd=folder, capture_output=True, check=True)
    proba = pd.read_csv(folder / "out.csv")["proba_yes"]
    return float(roc_auc_score(future["churned"] == "yes", proba))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2])
    args = parser.parse_args()
    scores: dict[str, list[tuple[float, float]]] = {"random split": [], "--split-by signup": []}
    for seed in args.seeds:
        past = customers(3000, "2022-01-01", 730, seed)
        future = customers(2000, "2024-01-01", 365, seed + 100)
        for split, extra in zip(scores, ((), ("--split-by", "signup")), strict=True):
            with tempfile.TemporaryDirectory() as name:
                folder = Path(name)
                past.to_csv(folder / "past.csv", index=False)
                held = search_in(folder, folder / "past.csv", seed, "roc_auc", *extra)
                scores[split].append((held, next_year_score(folder, future)))
    print("| split | seed | test ROC-AUC printed | ROC-AUC on the next year "
          "| printed − next year |\n|---|---|---|---|---|")
    for split, pairs in scores.items():
        for seed, (held, later) in zip(args.seeds, pairs, strict=True):
            print(f"| {split} | {seed} | {number(held)} | {number(later)} | "
                  f"{held - later:+.4f} |")
        gaps = [held - later for held, later in pairs]
        print(f"| {split} | mean ± std | {mean_std([h for h, _ in pairs])} | "
              f"{mean_std([later for _, later in pairs])} | {mean_std(gaps)} |")


if __name__ == "__main__":
    main()
