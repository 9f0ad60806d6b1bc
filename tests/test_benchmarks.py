"""Helpers of the benchmarks in ``benchmarks/``: the multi-seed mean ± std cells."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Imports a module of ``benchmarks/`` as the scripts import each other (that folder on
    ``sys.path``)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module


def test_seed_lists_and_mean_std_cells(bench: Callable[[str], ModuleType]) -> None:
    multiseed = bench("multiseed")
    assert multiseed.parse_seeds("0, 1,2,") == [0, 1, 2]
    for bad in ("", "0,x"):
        with pytest.raises(ValueError):
            multiseed.parse_seeds(bad)
    assert multiseed.mean_std([0.8, 0.9]) == "0.8500 ± 0.0707"
    assert multiseed.mean_std([44_000.0, 46_000.0]) == "45,000.0 ± 1,414.2"
    assert multiseed.mean_std([531.0]) == "531.0 ± 0.0"  # the spread in the mean's digits
    assert multiseed.mean_std([0.8, math.nan]) == "n/a"
    assert multiseed.number(math.nan) == "n/a"
