"""Mixing generators from several owners: columns, weights, conditions, provenance."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from provisioner import generator as generator_module
from provisioner.aggregate import aggregate
from provisioner.errors import AggregationError, ImpossibleCondition, SamplingError
from provisioner.provenance import privacy_statement, record
from provisioner.reconcile import reconcile
from provisioner.sampling import Request
from provisioner.schema import Column
from provisioner.table import Table
from tests.provisioner import builders as b

R = 8192


@pytest.fixture(scope="module")
def bank():
    return b.generator([
        b.categorical("city", ["Oslo", "Bergen"], rare="__rare__"),
        b.numeric("age", [18, 30, 50, 66]),
        b.categorical("vip", [False, True], value_type="boolean"),
        b.datetime("joined", 18000, 19000, unit="D"),
        b.sequence_id("row"),
    ], owner="bank", name="customers", rows=3000, seed=1)


@pytest.fixture(scope="module")
def clinic():
    return b.generator([
        b.categorical("city", ["Bergen", "Tromso", "Oslo"], nullable=True),
        b.numeric("age", [0, 40, 101], value_type="float", decimals=1),
        b.datetime("joined", 1_500_000_000, 1_600_000_000, unit="s"),
        b.categorical("ward", ["A", "B"]),
    ], owner="clinic", name="patients", rows=1000, seed=2)


def test_columns_are_united_by_name(bank, clinic):
    mix = aggregate([bank, clinic], source_column="source")
    by_name = {c.name: c for c in mix.columns}
    assert list(by_name) == ["city", "age", "vip", "joined", "row", "ward", "source"]
    city = by_name["city"]
    assert city.categories == ("Oslo", "Bergen", "Tromso") and city.rare_label == "__rare__"
    assert city.nullable  # nullable at the clinic
    age = by_name["age"]
    assert (age.kind, age.value_type, age.decimals) == ("numeric", "float", 1)
    assert (age.grid.cell_edges[0], age.grid.cell_edges[-1]) == (0.0, 101.0)
    assert by_name["joined"].unit == "s"
    assert by_name["vip"].nullable and by_name["ward"].nullable  # absent somewhere
    intersect = aggregate([bank, clinic], columns="intersect")
    assert [c.name for c in intersect.columns] == ["city", "age", "joined"]


def test_codes_are_remapped_and_rare_stays_rare(bank, clinic):
    table = aggregate([bank, clinic], weights="equal", source_column="source").sample(
        20_000, seed=5)
    frame = table.to_pandas()
    plain = Table(table.columns, dict(table.items())).to_pandas()  # values, no codes
    assert frame.equals(plain)
    from_bank = frame[frame["source"] == "bank"]
    from_clinic = frame[frame["source"] == "clinic"]
    # Tromso is only the clinic's; the bank folds rare cities into __rare__
    assert "Tromso" not in set(from_bank["city"]) and "__rare__" in set(from_bank["city"])
    assert "__rare__" not in set(from_clinic["city"].dropna())
    assert set(from_clinic["city"].dropna()) <= {"Bergen", "Tromso", "Oslo"}
    assert from_clinic["vip"].isna().all() and from_bank["ward"].isna().all()
    assert from_bank["age"].dropna().between(18, 66).all()
    assert (from_bank["age"] == from_bank["age"].round()).all()
    assert np.array_equal(table["row"], np.arange(1, 20_001, dtype=float)
                          * np.where(frame["source"] == "bank", 1, np.nan),
                          equal_nan=True)


def test_table_concat_remaps_codes_of_different_tables():
    x = b.generator([b.categorical("c", ["x", "y"])], seed=3).sample(200, seed=1)
    y = b.generator([b.categorical("c", ["y", "z"])], seed=4).sample(200, seed=1)
    both = Table.concat([x, y])
    assert list(both["c"]) == list(x["c"]) + list(y["c"])
    assert both.columns[0].categories == ("x", "y", "z")
    assert both.to_pandas()["c"].tolist() == list(both["c"])


def test_kind_mismatch_names_the_column_and_both_kinds(bank):
    other = b.generator([b.numeric("city", [0, 10])], owner="other", seed=3)
    with pytest.raises(AggregationError,
                       match="'city' is categorical string at bank but numeric "
                             "integer at other"):
        aggregate([bank, other])


def test_categorical_integers_meet_numeric_columns():
    small = b.generator([b.categorical("n", [1, 2, 3], value_type="integer")], seed=5)
    large = b.generator([b.numeric("n", [0, 100])], owner="o2", seed=6)
    column = reconcile([("a", small.columns), ("b", large.columns)]).columns[0]
    assert (column.kind, column.value_type) == ("numeric", "integer")
    table = aggregate([small, large], weights="equal").sample(1000, seed=1)
    assert table["n"].dtype == np.int64 and table["n"].min() >= 0


def test_rows_weights_follow_the_dp_counts(bank, clinic):
    mix = aggregate([bank, clinic], source_column="source")
    assert mix.weighting == "rows" and np.allclose(mix.weights, [0.75, 0.25])
    share = np.mean(mix.sample(40_000, seed=9)["source"] == "bank")
    # binomial standard error 0.0022; 5 of them: false failure below 1e-6
    assert abs(share - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 40_000)
    explicit = aggregate([bank, clinic], weights=[1, 3], source_column="source")
    share = np.mean(explicit.sample(40_000, seed=9)["source"] == "bank")
    assert abs(share - 0.25) < 5 * np.sqrt(0.75 * 0.25 / 40_000)


def test_weights_are_checked(bank):
    no_count = b.generator([b.categorical("c", ["a"])], dp=False, rows=None,
                           owner="lab", seed=7)
    with pytest.raises(AggregationError, match="lab releases no DP row count"):
        aggregate([bank, no_count])
    assert aggregate([bank, no_count], weights="equal").weights.tolist() == [0.5, 0.5]
    for weights in ([1], [1, -1], [0, 0], "most"):
        with pytest.raises(AggregationError):
            aggregate([bank, no_count], weights=weights)


def test_conditions_filter_the_mixture(bank, clinic):
    mix = aggregate([bank, clinic], source_column="source")
    only_clinic = mix.sample(500, seed=1, where={"city": "Tromso"})
    assert set(only_clinic["source"]) == {"clinic"}
    either = mix.sample(4000, seed=1, where={"city": ["Tromso", "Oslo"]})
    assert set(either["source"]) == {"clinic", "bank"}
    assert set(mix.sample(300, seed=1, where={"source": "bank"})["source"]) \
        == {"bank"}
    no_ward = mix.sample(300, seed=1, where={"ward": None})
    assert set(no_ward["source"]) == {"bank"}
    with pytest.raises(ImpossibleCondition, match="no source generator"):
        mix.sample(5, seed=1, where={"city": "Paris"})
    with pytest.raises(SamplingError, match="unknown column"):
        mix.sample(5, seed=1, where={"planet": "Mars"})


@pytest.mark.parametrize("where", [None, {"city": "Bergen"}])
def test_mixture_partitions_concatenate_to_the_whole(bank, clinic, where):
    mix = aggregate([bank, clinic], source_column="source")
    n = 2 * R + 99
    whole = mix.sample(n, seed=4, where=where).to_pandas()
    parts = [mix.sample(n, seed=4, where=where, partition=i, partitions=4)
             for i in (3, 1, 0, 2)]
    joined = Table.concat([parts[2], parts[1], parts[3], parts[0]]).to_pandas()
    assert joined.equals(whole)


def test_provenance_names_every_owner_and_the_rule(bank, clinic):
    mix = aggregate([bank, clinic], source_column="source")
    request = Request(mix, 10, seed=3, where=None)
    found = record(mix, request, files=["bank.hzg", "clinic.hzg"])
    assert [s["label"] for s in found["sources"]] == ["bank", "clinic"]
    first = found["sources"][0]
    assert first["signer"]["key_id"] == b.key("bank").key_id and first["signer"]["verified"]
    assert first["generator"]["id"] == bank.info.id and first["dp_rows"] == 3000
    assert first["payload_sha256"] == bank.header.payload.sha256
    assert first["weight"] == pytest.approx(0.75)
    assert found["sampling"]["name"] == "hzg-blocks" and found["request"]["seed"] == 3
    composed = found["privacy"]["composed_if_present_at_all"]
    assert composed["epsilon"] == pytest.approx(2.0)
    assert composed["delta"] == pytest.approx(2e-6)
    assert any("composes across them" in line for line in found["privacy"]["statement"])


def test_a_non_dp_owner_is_said_to_give_no_guarantee(bank):
    lab = b.generator([b.categorical("city", ["Oslo"])], dp=False, owner="lab", seed=8)
    statement = privacy_statement([("bank", bank.privacy), ("lab", lab.privacy)])
    assert "composed_if_present_at_all" not in statement
    assert "lab NOT differentially private" in statement["statement"][0]


def test_generators_pickle_as_signed_bytes_verified_once(bank, clinic):
    mix = aggregate([bank, clinic], source_column="source")
    before = generator_module.verifications
    copies = [pickle.loads(pickle.dumps(mix)) for _ in range(3)]
    assert generator_module.verifications - before <= 2  # once per bundle per process
    assert copies[0].sources[0].trusted_key.key_id == bank.trusted_key.key_id
    assert copies[2].sample(100, seed=2).to_pandas().equals(
        mix.sample(100, seed=2).to_pandas())
    assert copies[1].sources[1] is copies[2].sources[1]


def test_the_union_of_identical_columns_is_the_column(bank):
    column = bank.columns[0]
    assert reconcile([("a", [column]), ("b", [column])]).columns[0] == column
    renamed = Column("city", "categorical", "string", False, "public",
                     categories=("Oslo", "Bergen"), rare_label="__rare__")
    assert reconcile([("a", [column]), ("b", [renamed])]).columns[0].metadata == "dp"
