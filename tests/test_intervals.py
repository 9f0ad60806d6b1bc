"""Prediction intervals of regression models (split conformal, :mod:`automl.intervals`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from automl.errors import ConfigError
from automl.intervals import Conformal, check_level


def test_intervals_hold_the_asked_share_of_new_values() -> None:
    """Errors of a standard deviation of 10: 90% intervals are about ±16.4, and hold about 90%
    of new values; 50% intervals hold about half."""
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 100, 3000)
    calibration = Conformal.fit(pred + rng.normal(0, 10, 3000), pred)
    assert calibration.half_width(0.9) == pytest.approx(16.45, rel=0.05)
    new = rng.uniform(0, 100, 20_000)
    truth = new + rng.normal(0, 10, 20_000)
    assert calibration.coverage(truth, new, 0.9) == pytest.approx(0.9, abs=0.01)
    assert calibration.coverage(truth, new, 0.5) == pytest.approx(0.5, abs=0.015)


def test_a_log_scale_target_gets_intervals_that_widen_with_the_prediction() -> None:
    """Errors of 20% of the value (a price): on the log scale, an interval around 1,000 is ten
    times as wide as one around 100, never below 0, and each holds about 90%."""
    rng = np.random.default_rng(1)
    pred = rng.uniform(10, 10_000, 3000)
    calibration = Conformal.fit(pred * np.exp(rng.normal(0, 0.2, 3000)), pred, log=True)
    (low, high) = calibration.bounds(np.array([100.0, 1000.0, 0.0]), 0.9)
    assert (high[1] - low[1]) / (high[0] - low[0]) == pytest.approx(10, rel=0.05)
    assert low[2] == 0.0
    for around in (100.0, 1000.0):
        truth = around * np.exp(rng.normal(0, 0.2, 5000))
        assert calibration.coverage(truth, np.full(5000, around), 0.9) == \
            pytest.approx(0.9, abs=0.02)


def test_few_calibration_rows_widen_the_interval_to_keep_its_promise() -> None:
    """Nine errors: a 90% interval needs the 10th of 10 ranks, so it reaches the largest."""
    calibration = Conformal.fit(np.arange(1.0, 10.0), np.zeros(9))
    assert calibration.half_width(0.9) == 9.0
    assert calibration.half_width(0.5) == pytest.approx(5.0)


def test_a_calibration_round_trips_through_json() -> None:
    calibration = Conformal.fit(np.array([1.0, 5.0, 2.0]), np.array([1.5, 3.0, 2.0]), log=True)
    assert Conformal.from_dict(json.loads(json.dumps(calibration.to_dict()))) == calibration


@pytest.mark.parametrize("level", [0.0, 1.0, 90.0, -0.1])
def test_a_level_that_is_no_coverage_is_refused_with_an_example(level: float) -> None:
    with pytest.raises(ConfigError, match=r"give one between 0 and 1, such as 0.9"):
        check_level(level)
