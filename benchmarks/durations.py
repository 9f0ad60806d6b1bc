"""Times and durations (``22:20``, ``2h 50m``): what the search makes of them.

A generated table of 1,500 flights shaped like a well-known public one (Kaggle's Indian flight
fares): the departure time as ``22:20``, the duration as ``2h 50m`` (``19h`` or ``45m`` where a
part is zero), the stops as ``non-stop`` or ``2 stops``, the airline and the days left before
the flight; the target is the fare, which grows with the duration and the stops and follows the
hour of departure. For each seed, ``automl search`` (3 trials, defaults otherwise) in a fresh
folder, scored by the final model's test RMSE as the search prints it. Run it from two
checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/durations.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main


def _written(minutes: int) -> str:
    """``170`` as ``2h 50m``, ``1140`` as ``19h``, ``45`` as ``45m``."""
    hours, rest = divmod(minutes, 60)
    return " ".join(part for part in (f"{hours}h" if hours else "", f"{rest}m" if rest else "")
                    if part)


def write_table(path: Path, n: int = 1500) -> None:
    """The flights: a fare that grows with the duration and the stops, is dearer for one
    airline and close to the flight, and follows the hour of departure (dearest at 19:00)."""
    rng = np.random.default_rng(3)
    stops = rng.choice([0, 1, 2, 3], size=n, p=[0.35, 0.45, 0.17, 0.03])
    minutes = 45 + 130 * stops + (rng.gamma(2, 120, size=n) * (stops > 0)).round(-1).astype(int)
    minutes += rng.integers(0, 40, size=n)
    departure = rng.integers(0, 24 * 12, size=n) * 5  # minutes after midnight
    airline = rng.choice(["IndiGo", "Air India", "Jet Airways", "SpiceJet", "Vistara"], size=n)
    days_left = rng.integers(1, 60, size=n)
    fare = (3000 + 9 * minutes + 1500 * stops + 2500 * (airline == "Jet Airways")
            + 1200 * np.cos((departure / 60 - 19) / 24 * 2 * np.pi) + 8000 / np.sqrt(days_left)
            + rng.normal(0, 600, size=n)).round()
    pd.DataFrame({
        "airline": airline, "days_left": days_left,
        "dep_time": [f"{d // 60:02d}:{d % 60:02d}" for d in departure],
        "duration": [_written(int(m)) for m in minutes],
        "total_stops": ["non-stop" if s == 0 else f"{s} stop{'s' if s > 1 else ''}"
                        for s in stops],
        "price": fare}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "rmse", "RMSE", ",.0f")


if __name__ == "__main__":
    main()
