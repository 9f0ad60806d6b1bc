"""Numbers beside a few words for missing (``unknown``, ``n.a.``): what the search makes of them.

A generated table of 1,000 rows whose target is whether ``income`` is above its median, with
``unknown`` in about 5% of the incomes and ``n.a.`` in three ages, as exported files often have.
For each seed, ``automl search`` (3 trials, defaults otherwise) in a fresh folder, scored by the
final model's test ROC-AUC as the search prints it. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/missing_words.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main


def write_table(path: Path) -> None:
    """The table: ``income`` (lognormal, ``unknown`` in ~5% of rows), ``age`` (``n.a.`` in
    three), ``noise``, and ``y`` = income above its median."""
    rng = np.random.default_rng(2)
    income = rng.lognormal(10, 0.5, size=1000).round(0)
    written = income.astype(object)
    written[rng.random(1000) < 0.05] = "unknown"
    age = rng.integers(18, 80, size=1000).astype(object)
    age[:3] = "n.a."
    pd.DataFrame({"income": written, "age": age, "noise": rng.normal(size=1000),
                  "y": (income > np.median(income)).astype(int)}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "roc_auc", "ROC-AUC", ".4f")


if __name__ == "__main__":
    main()
