"""Gower distances, copies and membership inference against hand values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.trainer.evaluate.conftest import frames_of
from trainer.evaluate.distance import (
    DistanceEncoder,
    distance_privacy,
    exact_copy_rate,
    membership_auc,
    nearest,
)

KINDS = {"age": "numeric", "c": "categorical"}


def test_gower_distance_by_hand():
    reference = pd.DataFrame({"age": [0.0, 10.0], "c": ["a", "b"]})
    encode = DistanceEncoder(reference, KINDS)  # age range 10
    query = pd.DataFrame({"age": [5.0, np.nan, 10.0], "c": ["a", "b", "z"]})
    distance, index = nearest(encode(query), encode(reference))
    # (5, a): to row 0 = 0.5 + 0, to row 1 = 0.5 + 1 -> 0.5 at row 0
    # (null, b): a null against a value costs 1: to row 1 = 1 + 0
    # (10, z): z is unseen, a mismatch with both: to row 1 = 0 + 1
    assert distance.tolist() == [0.5, 1.0, 1.0]
    assert index.tolist() == [0, 1, 1]
    both_null = pd.DataFrame({"age": [np.nan], "c": ["a"]})
    assert nearest(encode(both_null), encode(both_null))[0].tolist() == [0.0]


def test_exact_copy_rate():
    train = pd.DataFrame({"age": [1.0, 2.0], "c": ["a", "b"]})
    synthetic = pd.DataFrame({"age": [1.0, 1.0, 2.0, np.nan], "c": ["a", "b", "a", "a"]})
    assert exact_copy_rate(synthetic, train) == 0.25


def test_membership_auc_counts_ties_half():
    assert membership_auc(np.array([3.0, 2.0]), np.array([1.0, 0.0])) == 1.0
    assert membership_auc(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.5
    assert membership_auc(np.array([0.0]), np.array([1.0])) == 0.0


def _people(rng, n):
    return {"age": rng.normal(40, 10, n).round(6), "c": rng.choice(list("abcd"), n).tolist()}


def test_a_generator_that_copies_its_training_rows_is_caught():
    rng = np.random.default_rng(0)
    train, holdout = _people(rng, 300), _people(rng, 300)
    frames = frames_of(train, holdout, train, KINDS)
    d = distance_privacy(frames)
    assert d.exact_copy_rate == 1.0 and d.holdout_copy_rate == 0.0
    assert d.dcr_synthetic["p50"] == 0.0 < d.dcr_holdout["p50"]
    assert d.mia_auc == 1.0  # every member is at distance 0 from a synthetic row
    assert d.dcr_share == 1.0


def test_fresh_rows_from_the_same_population_show_no_signal():
    # Fixed seed. Over seeds, |AUC − 0.5| > 0.08 with 300 + 300 rows has
    # probability about 5e-5 (the AUC's standard deviation is ~0.024).
    rng = np.random.default_rng(1)
    train, holdout, synthetic = _people(rng, 300), _people(rng, 300), _people(rng, 300)
    d = distance_privacy(frames_of(train, holdout, synthetic, KINDS))
    assert d.exact_copy_rate == 0.0
    assert abs(d.mia_auc - 0.5) < 0.08
    assert abs(d.dcr_share - 0.5) < 0.1
    assert sum(d.histogram_synthetic) == sum(d.histogram_holdout) == d.rows == 300
