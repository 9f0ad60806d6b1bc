"""Temperature scaling of a classifier's probabilities (:mod:`automl.calibration`)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import log_loss, roc_auc_score

from automl.calibration import fit_temperature, rescaled


def _labels(logits: np.ndarray, temperature: float, seed: int = 0) -> np.ndarray:
    """Classes drawn from ``softmax(logits / temperature)``, row by row."""
    rng = np.random.default_rng(seed)
    proba = softmax(logits / temperature, axis=1)
    return (rng.random(len(proba))[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)


@pytest.mark.parametrize("truth", [0.5, 2.0])
def test_the_temperature_of_too_sure_or_too_unsure_probabilities_is_found(truth: float) -> None:
    """Labels drawn at temperature 2 from logits the model gives at 1 (a model twice too
    sure): the fitted temperature is about 2, and the rescaled probabilities' log-loss on new
    rows is lower; the same for a model twice too unsure."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20_000, 3))
    y = _labels(logits, truth)
    proba = softmax(logits, axis=1)
    fitted = fit_temperature(y[:10_000], proba[:10_000])
    assert fitted == pytest.approx(truth, rel=0.1)
    new = slice(10_000, None)
    assert log_loss(y[new], rescaled(proba[new], fitted), labels=range(3)) < \
        log_loss(y[new], proba[new], labels=range(3))


def test_a_temperature_keeps_every_rows_order_and_largest_class() -> None:
    rng = np.random.default_rng(2)
    proba = softmax(rng.normal(0, 2, (500, 2)), axis=1)
    y = rng.integers(0, 2, 500)
    for temperature in (0.3, 3.0):
        hot = rescaled(proba, temperature)
        assert np.array_equal(hot.argmax(axis=1), proba.argmax(axis=1))
        assert roc_auc_score(y, hot[:, 1]) == roc_auc_score(y, proba[:, 1])
        np.testing.assert_allclose(hot.sum(axis=1), 1.0)


def test_probabilities_already_calibrated_keep_a_temperature_near_one() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (20_000, 2))
    assert fit_temperature(_labels(logits, 1.0), softmax(logits, axis=1)) == \
        pytest.approx(1.0, abs=0.05)
