"""Held-out rows a user can plan with: the test score a search prints beside what its final
model then scores on the rows it will meet.

Two generated tables, each searched (3 trials, defaults otherwise, a fresh folder a run) once
with rows held out at random, one by one (the default), and once with each option made for it;
each final model is then scored through ``automl predict`` on rows no search saw:

- ``drift``: 3,000 customers who signed up over two years (``signup``, a date), whose churn
  falls with usage, rises on the basic plan and rises more and more with the price, while
  prices rise 15% a year; scored on 2,000 customers of the following year; ``--split-by
  signup``, and with ``--refit-all`` too (the final model then trained again on every row).
- ``groups``: 1,500 purchases of 300 customers (``customer``, an id; about five rows each),
  whether each is returned following the customer's own habit as much as the basket; scored on
  1,000 purchases of 200 new customers; ``--group-by customer``.

A printed score near the later one is one a user can plan with.

``.venv/bin/python benchmarks/held_out.py [--tables drift,groups] [--seeds 0,1,2]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import mean_std, number, parse_seeds, search_in
from sklearn.metrics import roc_auc_score


def churn(n: int, start: str, days: int, seed: int) -> pd.DataFrame:
    """``n`` customers who signed up in the ``days`` after ``start``; where the drift has got
    to is the signup's years after 2022-01-01. Target ``y``: churned."""
    rng = np.random.default_rng(seed)
    signup = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    years = ((signup - pd.Timestamp("2022-01-01")).days / 365).to_numpy()
    usage = rng.gamma(2.0, 10.0, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    price = (20 + 10 * (plan == "plus") + 25 * (plan == "pro")) * (1 + 0.15 * years) \
        + rng.normal(0, 3, n)
    logit = 1.0 - 0.08 * usage + 0.6 * (plan == "basic") + years * (price - 30) / 12
    return pd.DataFrame({"signup": signup.strftime("%Y-%m-%d"), "usage": usage.round(1),
                         "plan": plan, "price": price.round(2),
                         "y": np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")})


def returns(n_customers: int, first_id: int, seed: int) -> pd.DataFrame:
    """About five purchases each of ``n_customers`` customers numbered from ``first_id``, each
    with a habit of returning; target ``y``: the purchase was returned."""
    rng = np.random.default_rng(seed)
    habit = rng.normal(0, 1.5, n_customers)
    who = rng.integers(0, n_customers, 5 * n_customers)
    basket = rng.gamma(2.0, 30.0, len(who))
    discount = rng.uniform(0, 0.5, len(who))
    logit = habit[who] + 0.02 * (basket - 60) - 2 * (discount - 0.25)
    return pd.DataFrame({"customer": [f"c{first_id + c}" for c in who],
                         "basket": basket.round(2), "discount": discount.round(2),
                         "y": np.where(rng.random(len(who)) < 1 / (1 + np.exp(-logit)),
                                       "yes", "no")})


@dataclass(frozen=True)
class Table:
    """A table to search, the later rows to score its model on, and the options made for it
    (each searched beside rows held out one by one)."""

    searched: Callable[[int], pd.DataFrame]
    later: Callable[[int], pd.DataFrame]
    options: tuple[tuple[str, ...], ...]


TABLES = {
    "drift": Table(lambda seed: churn(3000, "2022-01-01", 730, seed),
                   lambda seed: churn(2000, "2024-01-01", 365, seed + 100),
                   (("--split-by", "signup"), ("--split-by", "signup", "--refit-all"))),
    "groups": Table(lambda seed: returns(300, 0, seed),
                    lambda seed: returns(200, 10_000, seed + 100),
                    (("--group-by", "customer"),)),
}


def later_score(folder: Path, later: pd.DataFrame) -> float:
    """ROC-AUC of study ``bench``'s final model in ``folder`` on the ``later`` rows."""
    rows = folder / "later.csv"
    later.drop(columns="y").to_csv(rows, index=False)
    subprocess.run([sys.executable, "-m", "automl", "predict", "bench", str(rows), "-o",
                    str(folder / "out.csv")], cwd=folder, capture_output=True, check=True)
    proba = pd.read_csv(folder / "out.csv")["proba_yes"]
    return float(roc_auc_score(later["y"] == "yes", proba))


def printed_and_later(table: Table, seed: int, *options: str) -> tuple[float, float]:
    """The test ROC-AUC a search of ``table`` prints, and its final model's on the later rows."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        table.searched(seed).to_csv(folder / "table.csv", index=False)
        printed = search_in(folder, folder / "table.csv", seed, "roc_auc", "--target", "y",
                            *options)
        return printed, later_score(folder, table.later(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2])
    args = parser.parse_args()
    print("| table | split | seed | test ROC-AUC printed | ROC-AUC on later rows "
          "| printed − later |\n|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        table = TABLES[name]
        for options in ((), *table.options):
            split = f"`{' '.join(options)}`" if options else "one by one"
            pairs = [printed_and_later(table, seed, *options) for seed in args.seeds]
            for seed, (printed, later) in zip(args.seeds, pairs, strict=True):
                print(f"| {name} | {split} | {seed} | {number(printed)} | {number(later)} | "
                      f"{printed - later:+.4f} |")
            print(f"| {name} | {split} | mean ± std | {mean_std([p for p, _ in pairs])} | "
                  f"{mean_std([later for _, later in pairs])} | "
                  f"{mean_std([p - later for p, later in pairs])} |")


if __name__ == "__main__":
    main()
