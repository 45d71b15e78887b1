"""Bias per group, tails and unique rows against hand-counted values."""

from __future__ import annotations

import numpy as np
import pytest

from tests.trainer.evaluate.conftest import frames_of
from trainer.evaluate.groups import group_rates, tails, unique_share


def test_positive_rate_per_group():
    real = {"sex": list("FFMM"), "y": ["1", "0", "1", "1"]}
    synthetic = {"sex": list("FFMM"), "y": ["0", "0", "1", "0"]}
    frames = frames_of(real, real, synthetic, {"sex": "categorical", "y": "categorical"})
    rates = {g.group: (g.real_rate, g.synthetic_rate) for g in
             group_rates(frames, "sex", "y", "1")}
    assert rates == {"F": (0.5, 0.0), "M": (1.0, 0.5)}


def test_numeric_groups_are_quantile_bins():
    real = {"age": [20.0, 30.0, 40.0, 50.0, 60.0, 70.0], "y": list("001111")}
    frames = frames_of(real, real, real, {"age": "numeric", "y": "categorical"})
    groups = group_rates(frames, "age", "y", "1")
    assert sum(g.real_rows for g in groups) == 6
    assert groups[0].group.startswith("[20,") and groups[-1].group.endswith("70]")
    assert all(g.real_rate == g.synthetic_rate for g in groups)


def test_tail_shares():
    real = {"v": np.arange(100.0)}  # 99th percentile 98.01: one row (99) above
    synthetic = {"v": [99.0, 99.0, 0.0, np.nan]}
    (tail,) = tails(frames_of(real, real, synthetic, {"v": "numeric"}))
    assert tail.threshold == pytest.approx(98.01)
    assert (tail.real_share, tail.synthetic_share) == (0.01, 0.5)


def test_unique_share():
    import pandas as pd

    frame = pd.DataFrame({"a": ["x", "x", "y"], "b": [1.0, 1.0, 2.0]})
    assert unique_share(frame, ["a", "b"]) == pytest.approx(1 / 3)
    assert unique_share(frame, ["a"]) == pytest.approx(1 / 3)
    assert unique_share(frame.iloc[:2], ["a", "b"]) == 0.0
