"""Ratings out of a scale (``4.1/5``): what the search makes of them.

A generated table of 1,500 restaurants shaped like a well-known public one (Kaggle's Zomato
Bangalore restaurants): the rating as ``4.1/5`` (``NEW`` for a restaurant not yet rated), the
votes, the cost for two, online ordering, table booking and the kind of restaurant; the target is
the orders of a day, which grow with the rating (faster above 4), the votes and online ordering.
For each seed, ``automl search`` (3 trials, defaults otherwise) in a fresh folder, scored by the
final model's test RMSE as the search prints it. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/ratings.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main


def write_table(path: Path, n: int = 1500) -> None:
    """The restaurants: orders that grow with the rating (twice as fast above 4), the votes
    and online ordering; 8% are new, without a rating."""
    rng = np.random.default_rng(4)
    rating = np.clip(rng.normal(3.7, 0.45, size=n), 1.8, 4.9).round(1)
    new = rng.random(n) < 0.08
    votes = np.where(new, 0, rng.lognormal(4.5, 1.2, size=n).round()).astype(int)
    online = rng.random(n) < 0.6
    cost = rng.choice([300, 400, 500, 600, 800, 1000, 1200, 1500, 2000], size=n)
    kind = rng.choice(["Quick Bites", "Casual Dining", "Cafe", "Delivery", "Dessert Parlor"],
                      size=n)
    known = np.where(new, 3.5, rating)
    orders = (40 + 60 * (known - 3) + 90 * np.clip(known - 4, 0, None) + 8 * np.log1p(votes)
              + 25 * online - cost / 100 + rng.normal(0, 10, size=n)).round()
    pd.DataFrame({
        "rate": np.where(new, "NEW", [f"{r:.1f}/5" for r in rating]),
        "votes": votes, "approx_cost_for_two": [f"{c:,}" for c in cost],
        "online_order": np.where(online, "Yes", "No"),
        "book_table": rng.choice(["Yes", "No"], size=n, p=[0.15, 0.85]),
        "rest_type": kind, "orders": orders}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "rmse", "RMSE", ",.1f")


if __name__ == "__main__":
    main()
