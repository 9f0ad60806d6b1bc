"""One measure written in several units (``512 GB`` beside ``1 TB``, ``1.37 kg`` beside
``850 g``): what the search makes of it.

A generated table of 1,500 laptops shaped like a well-known public one (Kaggle's laptop
prices): the RAM as ``8 GB`` or ``512 MB``, the storage as ``256 GB`` or ``1 TB``, the weight as
``1.37kg`` or, for one laptop in five, ``1,370 g``, the processor's clock as ``2.3GHz`` or
``800MHz``, and the maker; the target is the price in euros, which grows with the RAM, the
storage and the clock and falls with the weight. For each seed, ``automl search`` (3 trials,
defaults otherwise) in a fresh folder, scored by the final model's test RMSE as the search
prints it. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/mixed_units.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main


def _bytes(gigabytes: float) -> str:
    """``0.5`` as ``512 MB``, ``1024`` as ``1 TB``, ``8`` as ``8 GB``."""
    if gigabytes < 1:
        return f"{gigabytes * 1024:.0f} MB"
    return f"{gigabytes / 1024:g} TB" if gigabytes >= 1024 else f"{gigabytes:g} GB"


def write_table(path: Path, n: int = 1500) -> None:
    """The laptops: a price that grows with the log of the RAM and storage and with the clock,
    and falls with the weight."""
    rng = np.random.default_rng(7)
    ram = rng.choice([0.5, 1, 2, 4, 8, 16, 32], size=n, p=[.05, .05, .1, .25, .3, .2, .05])
    storage = rng.choice([128, 256, 512, 1024, 2048], size=n, p=[.15, .3, .3, .2, .05])
    weight = np.round(rng.uniform(0.9, 3.5, size=n), 2)
    clock = np.round(rng.uniform(0.8, 3.6, size=n), 1)
    maker = rng.choice(["Dell", "HP", "Lenovo", "Asus", "Apple"], size=n)
    price = (300 * np.log2(ram * 2) + 250 * np.log2(storage / 64) + 400 * clock
             - 300 * weight + 200 * (maker == "Apple") + rng.normal(0, 150, size=n)).round()
    in_grams = rng.random(n) < 0.2
    pd.DataFrame({
        "ram": [_bytes(r) for r in ram], "storage": [_bytes(s) for s in storage],
        "weight": np.where(in_grams, [f"{w * 1000:,.0f} g" for w in weight],
                           [f"{w:.2f}kg" for w in weight]),
        "clock": [f"{c * 1000:.0f}MHz" if c < 1 else f"{c:.1f}GHz" for c in clock],
        "maker": maker, "price": price}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "rmse", "RMSE", ",.1f")


if __name__ == "__main__":
    main()
