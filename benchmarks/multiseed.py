"""What the multi-seed benchmarks (``quality.py``, ``small_data.py``) share: the ``--seeds`` list
and the mean ± std cells of their headline tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]`` (blank items ignored); ``ValueError`` on a non-integer or
    when no seed is left."""
    seeds = [int(item) for item in text.split(",") if item.strip()]
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def number(value: float) -> str:
    """A score for a table: 4 decimals below 100 (ROC-AUC, accuracy, small RMSEs), else one
    decimal with thousands separators (RMSE in dollars); ``n/a`` when not finite."""
    return _digits(value, value) if math.isfinite(value) else "n/a"


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` over seeds (sample std; 0 for a single value), both with the digits
    :func:`number` gives the mean; ``n/a`` if any value is not finite (a run without a score)."""
    if not all(math.isfinite(v) for v in values):
        return "n/a"
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{_digits(mean, mean)} ± {_digits(spread, mean)}"


def _digits(value: float, scale: float) -> str:
    return f"{value:.4f}" if abs(scale) < 100 else f"{value:,.1f}"
