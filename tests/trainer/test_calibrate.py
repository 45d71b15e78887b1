"""Calibration's blend of the model's marginals with the released counts."""

from __future__ import annotations

import numpy as np

from trainer.calibrate import MODEL_RELATIVE_ERROR, MarginalTarget, model_relative_error


def test_a_model_within_the_noise_keeps_the_least_relative_error():
    rng = np.random.default_rng(0)
    counts = np.array([4000.0, 2500.0, 1500.0, 800.0])
    sigma = 50.0
    target = MarginalTarget(counts + rng.normal(0, sigma, 4), np.full(4, sigma**2))
    assert model_relative_error(counts, target) == MODEL_RELATIVE_ERROR


def test_a_model_far_off_is_trusted_less():
    # the model holds 40% too many zeros (what DP-SGD left on a zero-heavy
    # count column); the released counts are precise (σ = 50 rows)
    released = np.array([2000.0, 3000.0, 3000.0, 2000.0])
    model = np.array([2800.0, 2700.0, 2700.0, 1800.0])
    target = MarginalTarget(released, np.full(4, 50.0**2))
    rho = model_relative_error(model, target)
    assert 0.15 < rho < 0.25
    # wide bins (variance of many cells) explain the same gaps: back to the floor
    wide = MarginalTarget(released, np.full(4, 900.0**2))
    assert model_relative_error(model, wide) == MODEL_RELATIVE_ERROR
