"""Train on synthetic, test on real; importances and coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.trainer.evaluate.conftest import frames_of
from trainer.evaluate.downstream import positive_class, rank_correlation, target_models


def test_positive_class_is_the_rarest():
    assert positive_class(pd.DataFrame({"y": list("aab")}), "y") == "b"
    assert positive_class(pd.DataFrame({"y": list("ab")}), "y") == "b"  # tie: larger label


def test_rank_correlation():
    assert rank_correlation([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3) and (1, 3, 2): ρ = 1 − 6·2 / (3·8) = 0.5
    assert rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert rank_correlation([1, 1, 1], [1, 2, 3]) == 0.0


def _classification(rng, n):
    x = rng.normal(size=n)
    return {"x": x, "noise": rng.normal(size=n), "y": np.where(x > 0, "yes", "no").tolist()}


KINDS = {"x": "numeric", "noise": "numeric", "y": "categorical"}


def test_a_faithful_copy_scores_like_the_real_rows():
    rng = np.random.default_rng(0)
    train, holdout = _classification(rng, 400), _classification(rng, 400)
    models = target_models(frames_of(train, holdout, train, KINDS), "y")
    assert models.task == "classification" and models.metric == "roc_auc"
    # the same rows, the same seed: the same model (near-perfect on a threshold)
    assert models.synthetic_score == models.real_score > 0.99
    assert models.importances_real["x"] > 0.3
    assert abs(models.importances_real["noise"]) < 0.01  # never helps the score
    assert models.importances_real == models.importances_synthetic
    assert models.coefficients["x"][0] == models.coefficients["x"][1] > 0


def test_a_synthetic_table_without_the_signal_scores_chance():
    rng = np.random.default_rng(1)
    train, holdout = _classification(rng, 400), _classification(rng, 400)
    scrambled = dict(train, y=list(rng.permutation(train["y"])))
    models = target_models(frames_of(train, holdout, scrambled, KINDS), "y")
    # Fixed seed; an AUC above 0.65 from labels independent of x has
    # probability below 1e-6 on 400 holdout rows.
    assert models.synthetic_score < 0.65 < models.real_score


def test_regression_target_and_linear_coefficients():
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, 500)
    train = {"x": x, "y": 2 * x + 1}
    holdout = {"x": x[:200] + 0.01, "y": 2 * (x[:200] + 0.01) + 1}
    models = target_models(frames_of(train, holdout, train, {"x": "numeric", "y": "numeric"}),
                           "y")
    assert models.metric == "r2" and models.real_score > 0.99
    # y = 2x + 1 and x enters as a z-score: the coefficient is 2·std(x)
    assert models.coefficients["x"][0] == pytest.approx(2 * np.std(x), rel=1e-9)
