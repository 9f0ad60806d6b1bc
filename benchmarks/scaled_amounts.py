"""Amounts written with a scale (``$1.2M``, ``1.2K reviews``): what the search makes of them.

A generated table of 1,500 apps shaped like a well-known public one (Kaggle's Google Play Store
apps): the reviews as ``1.2K reviews`` or ``345 reviews``, the funding of the app's maker as
``$1.2M`` or ``$750K``, the category and whether the app is free; the target is the installs
of a month, which grow with the logarithms of the reviews and the funding. For each seed,
``automl search`` (3 trials, defaults otherwise) in a fresh folder, scored by the final model's
test RMSE as the search prints it. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/scaled_amounts.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main


def _scaled(value: float, unit: str = "") -> str:
    """``1234`` as ``1.2K``, ``1234567`` as ``1.2M``, ``345`` as ``345``, then ``unit``."""
    for scale, letter in ((1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.1f}{letter}{unit}"
    return f"{value:.0f}{unit}"


def write_table(path: Path, n: int = 1500) -> None:
    """The apps: monthly installs that grow with the log of the reviews and of the funding."""
    rng = np.random.default_rng(5)
    reviews = np.round(rng.lognormal(7, 2.2, size=n))
    funding = np.round(rng.lognormal(13.5, 1.5, size=n), -3)
    free = rng.random(n) < 0.8
    category = rng.choice(["GAME", "TOOLS", "FAMILY", "FINANCE", "HEALTH"], size=n)
    installs = (2000 * np.log1p(reviews) + 1500 * np.log(funding) + 4000 * free
                + rng.normal(0, 1500, size=n)).round()
    pd.DataFrame({
        "reviews": [_scaled(r, " reviews") for r in reviews],
        "funding": [f"${_scaled(f)}" for f in funding],
        "free": np.where(free, "Yes", "No"), "category": category,
        "installs": installs}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "rmse", "RMSE", ",.0f")


if __name__ == "__main__":
    main()
