"""DP releases of the front end: what may leave the building, and with what probability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from provisioner.schema import Schema
from trainer.declarations import Declarations
from trainer.binning import fine_edges, quantile_bins, shrink_within_bins, split_edges
from trainer.column_types import TypedTable
from trainer.intake import exact_types
from trainer.load import RawTable
from trainer.derive import derive_metadata
from trainer.releases import (
    MetadataNoise,
    MetadataOptions,
    NoiseSource,
    normal_quantile,
    partition_select,
    plan_needs,
)


def table_of(declared: Declarations | None = None, **columns) -> TypedTable:
    return exact_types(RawTable.from_text(columns, "test"), declared)


def test_threshold_meets_its_delta_analytically():
    noise = MetadataNoise(1.0, vocab_sigma=40.0, range_sigma=80.0, grid_sigma=40.0,
                          threshold_delta=1e-7)
    # P(1 + N(0, σ²) > τ) = 1 - Φ((τ - 1)/σ) must equal threshold_delta
    tail = 0.5 * math.erfc((noise.threshold - 1) / noise.vocab_sigma / math.sqrt(2))
    assert math.isclose(tail, 1e-7, rel_tol=1e-3)
    assert math.isclose(normal_quantile(0.975), 1.959964, abs_tol=1e-5)


def test_singleton_survives_partition_selection_at_its_rate():
    # With threshold_delta = 0.05 a value held by one row must survive 5% of
    # the time. 4,000 trials: 3.5 standard deviations either side gives a
    # false-failure rate below 5e-4.
    sigma, delta = 10.0, 0.05
    tau = 1 + sigma * normal_quantile(1 - delta)
    source = NoiseSource(np.random.default_rng(1))
    values = np.array(["common"] * 200 + ["singleton"], dtype=object)
    trials = 4000
    survived = sum("singleton" in partition_select(values, sigma, tau, source, 10)[0]
                   for _ in range(trials))
    std = math.sqrt(trials * delta * (1 - delta))
    assert abs(survived - trials * delta) < 3.5 * std


def test_canaries_never_reach_the_schema():
    rng = np.random.default_rng(0)
    n = 5000
    cities = [str(c) for c in rng.choice(["Paris", "Lyon", "Nice"], size=n)]
    cities[17] = "CANARY-CITY-7f3a"
    incomes = [str(int(v)) for v in rng.integers(1000, 5000, size=n)]
    incomes[99] = "987654321"  # one extreme outlier
    table = table_of(city=cities, income=incomes)
    needs = plan_needs(table, Declarations.empty())
    noise = MetadataNoise(100.0, vocab_sigma=30.0, range_sigma=60.0, grid_sigma=30.0,
                          threshold_delta=1e-9)
    # fixed noise seed; the canary survives with probability 1e-9 per column
    derived = derive_metadata(table, Declarations.empty(), noise, MetadataOptions(), n,
                                NoiseSource(np.random.default_rng(5)))
    text = repr(derived.schema.to_plain())
    assert "CANARY" not in text
    income = derived.schema.column("income")
    assert income.grid.cell_edges[-1] < 1e6  # the outlier's range is not revealed
    assert set(derived.schema.column("city").categories) == {"Paris", "Lyon", "Nice"}
    assert {c.metadata for c in derived.schema.columns} == {"dp"}
    covered = {c for r in derived.releases for c in r.columns}
    assert covered == {"city", "income"}
    # numeric values are counted for point masses too, at the same threshold
    assert needs.partition == ("city", "income") and needs.atoms == ("income",)
    assert "987654321" not in text


def test_declared_public_columns_spend_nothing():
    # public means declared: the kinds and value types too, not only the values
    declared = Declarations.from_plain({"columns": {
        "flag": {"kind": "categorical", "value_type": "boolean", "nullable": False},
        "level": {"kind": "numeric", "value_type": "integer", "edges": [0, 5, 10], "bounds": [0, 9],
                  "nullable": False}}})
    table = table_of(declared, flag=["true", "false"] * 50, level=["1", "7"] * 50)
    needs = plan_needs(table, declared)
    assert needs.vocab == () and needs.partition == () and needs.fine == ()
    derived = derive_metadata(table, declared, MetadataNoise(1, 1, 1, 1, 1e-6),
                              MetadataOptions(), 100, NoiseSource(np.random.default_rng(6)))
    assert derived.releases == ()
    assert {c.metadata for c in derived.schema.columns} == {"public"}


def test_a_declared_category_list_is_counted_for_its_marginal_but_stays_public():
    # without the counts the column's marginal is only what DP-SGD learned
    # (adult at eps = 1: sex off by 0.020 in TVD, income by 0.027, against
    # 0.002 when the counts calibrate it); no partition selection, no delta
    declared = Declarations.from_plain({"columns": {
        "code": {"kind": "categorical", "value_type": "string", "categories": ["a", "b", "c"],
                 "nullable": False}}})
    table = table_of(declared, code=["a"] * 70 + ["b"] * 30)
    needs = plan_needs(table, declared)
    assert needs.vocab == ("code",) and needs.partition == ()
    derived = derive_metadata(table, declared, MetadataNoise(1, 1, 1, 1, 1e-6),
                              MetadataOptions(), 100, NoiseSource(np.random.default_rng(6)))
    assert derived.schema.column("code").metadata == "public"
    assert derived.schema.column("code").categories == ("a", "b", "c")
    counts = derived.marginals["code"].counts
    assert len(counts) == 3 and abs(counts[0] - 70) < 6 and abs(counts[2]) < 6  # σ = 1


def test_quantile_bins_keep_point_masses():
    weights = np.array([920.0] + [4.0] * 20)  # 92% at the first cell, like capital-gain
    starts = quantile_bins(weights, bins=20, max_exact=0)
    assert starts[:2] == [0, 1]  # the point mass is a bin of its own
    small = quantile_bins(np.ones(10), bins=20, max_exact=32)
    assert small == list(range(10))  # few exact cells: one token each


@pytest.mark.parametrize("lo, hi, integral, decimals, kind", [
    (17, 91, True, 0, "exact"), (0, 100000, True, 0, "geometric"),
    (-5.0, 5.0, False, 2, "linear"), (-1e6, 1e6, False, 0, "signed"),
])
def test_fine_edges_cover_the_range(lo, hi, integral, decimals, kind):
    edges = fine_edges(lo, hi, integral, decimals, MetadataOptions())
    assert edges[0] == lo and edges[-1] == hi and np.all(np.diff(edges) > 0)
    if kind == "exact":
        assert len(edges) == hi - lo + 1
    if kind == "geometric":
        assert edges[1] == 1  # zero has a cell of its own: [0, 1)
    if integral:
        assert np.all(edges == np.round(edges))


def test_schema_round_trips_through_plain():
    table = table_of(a=["x", "y"] * 30, n=[str(i % 7) for i in range(60)])
    derived = derive_metadata(table, Declarations.empty(),
                              MetadataNoise(1.0, 0.0, 0.0, 0.0, 0.5), MetadataOptions(), 60,
                              NoiseSource(np.random.default_rng(0)), dp=False)
    assert Schema.from_plain(derived.schema.to_plain()) == derived.schema


def test_within_bin_weights_drop_noise_but_keep_spikes():
    rng = np.random.default_rng(3)
    sigma = 40.0
    smooth = 300 + rng.normal(0, sigma, 30)           # flat density + noise
    spiky = np.array([5.0, 4000.0, 3.0, 2500.0, 0.0]) + rng.normal(0, sigma, 5)
    weights = shrink_within_bins(np.concatenate([smooth, spiky]), [0, 30], sigma)
    flat = weights[:30]
    # noise is pulled at least halfway to the mean; for pure noise over 30
    # cells that fails only if s² > 2.53 σ² (chi-square tail, about 1e-5)
    assert np.ptp(flat) < 0.5 * np.ptp(smooth)
    assert weights[31] > 3000 and weights[33] > 2000  # spikes stay
    assert weights[30] == weights[32] == weights[34] == 0.0  # empty cells stay empty


def test_a_cell_is_split_only_when_its_sub_cells_would_stand_above_the_noise():
    # 400 counts at σ = 60 fill three sub-cells above 2σ each, not four
    assert list(split_edges(0.0, 1000.0, 400.0, 60.0, 1.0, 8, 2.0)) == [0, 333, 667, 1000]
    assert list(split_edges(0.0, 1000.0, 100.0, 60.0, 1.0, 8, 2.0)) == [0, 1000]
    assert list(split_edges(0.0, 1000.0, 1e6, 60.0, 1.0, 8, 2.0)) == list(range(0, 1001, 125))
    # never finer than one unit of the values
    assert list(split_edges(5.0, 6.0, 1e6, 1.0, 1.0, 8, 2.0)) == [5, 6]
    assert list(split_edges(0.0, 3.0, 1e6, 1.0, 1.0, 8, 2.0)) == [0, 1, 2, 3]
    edges = split_edges(0.5, 0.9, 1e6, 1.0, 0.1, 8, 2.0)
    assert np.allclose(edges, [0.5, 0.6, 0.7, 0.8, 0.9])


def test_a_wide_table_gets_a_metadata_share_in_proportion_to_its_columns():
    from trainer.config import PrivacyConfig
    from trainer.privacy_plan import metadata_share, plan_first_phase, plan_main_phase
    from trainer.releases import Needs

    def needs(columns: int) -> Needs:
        names = tuple(f"c{i}" for i in range(columns))
        return Needs(names, names, (), 0, ())

    privacy = PrivacyConfig(epsilon=1.0, delta=1e-5)
    assert metadata_share(privacy, needs(15)) == pytest.approx(0.2)
    assert metadata_share(privacy, needs(32)) == pytest.approx(0.4)
    assert metadata_share(privacy, needs(200)) == pytest.approx(0.6)
    # up to the cap, each histogram's noise stays that of a 16-column table
    first = plan_first_phase(privacy)
    sigma = {c: plan_main_phase(privacy, first, needs(c)).metadata_noise.vocab_sigma
             for c in (16, 32, 48)}
    assert sigma[32] == pytest.approx(sigma[16], rel=0.02)
    assert sigma[48] == pytest.approx(sigma[16], rel=0.02)
    # the owner can keep the share fixed
    fixed = PrivacyConfig(epsilon=1.0, delta=1e-5, wide_metadata_share=0.2)
    assert metadata_share(fixed, needs(48)) == pytest.approx(0.2)
