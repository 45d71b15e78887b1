"""1-way and 2-way TVD and Cramér's V against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.evaluate.fidelity import (
    association_matrix,
    bin_edges,
    column_tvds,
    cramers_v,
    joint_codes,
    pair_tvds,
    tvd,
)


def test_tvd_of_two_label_lists():
    # p = (1/2, 1/2), q = (3/4, 1/4): ½(|1/2 − 3/4| + |1/2 − 1/4|) = 1/4
    assert tvd(["a", "a", "b", "b"], ["a", "a", "a", "b"]) == pytest.approx(0.25)
    assert tvd(["a"], ["b"]) == 1.0


def test_numbers_are_binned_at_the_real_quantiles():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    synthetic = pd.DataFrame({"x": [1.0, 1.0, 1.0, 4.0]})
    edges = bin_edges(real, ["x"], bins=2)  # 1, 2.5, 4: {1, 2} | {3, 4}
    assert edges["x"].tolist() == [1.0, 2.5, 4.0]
    one = column_tvds(joint_codes(real, synthetic, edges))
    assert one["x"] == pytest.approx(0.25)  # (1/2, 1/2) vs (3/4, 1/4)


def test_a_few_valued_number_has_a_bin_per_value():
    # quantile edges of a 0/1 column are [0, 1]: one closed bin held both, and
    # a generator writing only zeros scored 0
    real = pd.DataFrame({"x": [0.0, 1.0, 1.0, 0.0], "k": [1.0, 2.0, 3.0, 3.0]})
    synthetic = pd.DataFrame({"x": [0.0] * 4, "k": [2.0, 2.0, 3.0, 3.0]})
    edges = bin_edges(real, ["x", "k"])
    assert edges["x"].tolist() == [0.0, 1.0, 2.0]
    one = column_tvds(joint_codes(real, synthetic, edges))
    assert one == {"x": 0.5, "k": 0.25}


def test_a_value_filling_several_quantiles_has_a_bin_of_its_own():
    # 95% zeros and a tail of 15 values: the quantile edges were [0, 15], one
    # bin, and a generator writing only zeros scored 0
    real = pd.DataFrame({"x": np.r_[np.zeros(285), np.arange(1.0, 16.0)]})
    synthetic = pd.DataFrame({"x": np.zeros(300)})
    edges = bin_edges(real, ["x"], bins=10)
    assert edges["x"].tolist() == [0.0, 1.0, 15.0]
    one = column_tvds(joint_codes(real, synthetic, edges))
    assert one["x"] == pytest.approx(0.05)


def test_nulls_are_a_bin_of_their_own():
    real = pd.DataFrame({"x": [1.0, np.nan], "c": ["a", None]})
    synthetic = pd.DataFrame({"x": [1.0, 1.0], "c": ["a", "a"]})
    one = column_tvds(joint_codes(real, synthetic, bin_edges(real, ["x"], bins=2)))
    assert one == {"x": 0.5, "c": 0.5}


def test_two_way_tvd_sees_what_marginals_miss():
    real = pd.DataFrame({"x": list("aabb"), "y": list("ppqq")})
    synthetic = pd.DataFrame({"x": list("aabb"), "y": list("qqpp")})
    codes = joint_codes(real, synthetic, bin_edges(real, []))
    assert column_tvds(codes) == {"x": 0.0, "y": 0.0}
    assert pair_tvds(codes) == {("x", "y"): 1.0}  # joint supports are disjoint


def test_cramers_v():
    assert cramers_v(list("aabb"), list("ppqq")) == pytest.approx(1.0)
    assert cramers_v(list("aabb"), list("pqpq")) == pytest.approx(0.0)
    # table [[3, 1], [1, 3]], n = 8, expected 2 per cell: χ² = 4·(1/2) = 2,
    # V = sqrt(2 / (8·1)) = 1/2
    assert cramers_v(list("aaaabbbb"), list("pppqpqqq")) == pytest.approx(0.5)
    assert cramers_v(list("aaaa"), list("pqpq")) == 0.0  # one row occupied


def test_association_matrices_real_and_synthetic():
    real = pd.DataFrame({"x": list("aabb"), "y": list("ppqq")})
    synthetic = pd.DataFrame({"x": list("aabb"), "y": list("pqpq")})
    codes = joint_codes(real, synthetic, bin_edges(real, []))
    assert association_matrix(codes, 0).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert association_matrix(codes, 1) == pytest.approx(np.eye(2))
