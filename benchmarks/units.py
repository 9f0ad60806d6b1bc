"""Numbers written with their unit (``1248 CC``, ``23.4 kmpl``): what the search makes of them.

A generated table of 1,000 used cars shaped like a well-known public one (CarDekho's): the
engine in ``CC``, the power in ``bhp``, the mileage in ``kmpl`` (``km/kg`` for gas cars), the
year, the kilometres driven and the fuel; the target is the selling price. For each seed,
``automl search`` (3 trials, defaults otherwise) in a fresh folder, scored by the final model's
test RMSE as the search prints it. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/units.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main


def write_table(path: Path, n: int = 1000) -> None:
    """The cars: a price that grows with power and year, falls with kilometres driven."""
    rng = np.random.default_rng(3)
    engine = rng.integers(800, 3000, size=n)
    power = (engine * rng.uniform(0.05, 0.09, size=n)).round(1)
    gas = rng.random(n) < 0.05
    mileage = (40 - engine / 150 + rng.normal(0, 2, size=n)).round(1)
    year = rng.integers(2005, 2021, size=n)
    driven = rng.integers(1_000, 200_000, size=n)
    price = (power * 6_000 * 0.9 ** (2021 - year) - driven * 0.4
             + rng.normal(0, 20_000, size=n)).round(-3)
    pd.DataFrame({
        "year": year, "km_driven": driven,
        "fuel": np.where(gas, "CNG", rng.choice(["Petrol", "Diesel"], size=n)),
        "mileage": [f"{m} {'km/kg' if g else 'kmpl'}" for m, g in zip(mileage, gas, strict=True)],
        "engine": [f"{e} CC" for e in engine], "max_power": [f"{p} bhp" for p in power],
        "selling_price": price}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "rmse", "RMSE", ",.0f")


if __name__ == "__main__":
    main()
