"""Seconds to infer a big table's schema (task, classes, every column's kind) and to fit and
apply its preprocessing: the start of every search of it that the cache does not serve.

A generated table of ``--rows`` rows (4 million by default): a text target (``yes``/``no``),
a float, an integer code, a text category and a price written as ``$1,234``. ``infer_schema``,
then ``Preprocessor.fit`` and ``transform`` of every row, run ``--repeats`` times; the best and
median seconds of each are printed. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/inference.py [--rows N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from automl.data import infer_schema
from automl.features import Preprocessor


def table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "amount": rng.normal(size=n), "code": rng.integers(0, 100, n),
        "city": rng.choice(["Lyon", "Paris", "Nice", "Lille"], n),
        "price": pd.Series(rng.integers(1, 5000, n)).map("${:,}".format),
        "y": rng.choice(["yes", "no"], n)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    frame = table(args.rows)
    seconds: dict[str, list[float]] = {"schema": [], "preprocessing": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        schema = infer_schema(frame, "y")
        inferred = time.perf_counter()
        Preprocessor(schema).fit(frame).transform(frame)
        seconds["schema"].append(inferred - start)
        seconds["preprocessing"].append(time.perf_counter() - inferred)
    for step, times in seconds.items():
        print(f"{args.rows:,} rows, {step}: best {min(times):.2f} s, median "
              f"{statistics.median(times):.2f} s over {args.repeats}")


if __name__ == "__main__":
    main()
