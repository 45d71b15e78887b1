"""The sampling scheme hzg-blocks v1: golden rows, keys, blocks, partitions."""

from __future__ import annotations

import io

import numpy as np
import pytest

from provisioner import scheme
from provisioner.aggregate import aggregate
from provisioner.errors import ConfigError, SamplingError
from provisioner.generator import load
from provisioner.models.made import MadeConfig
from provisioner.sinks import write_csv_stream
from provisioner.table import Table
from tests.conftest import VECTORS
from tests.provisioner import builders

TRUST = VECTORS / "keys" / "golden.pub"
R = scheme.DEFAULT_BLOCK_ROWS


@pytest.fixture(scope="module")
def kinds():
    return load(VECTORS / "valid" / "kinds.hzg", trust=TRUST)


@pytest.fixture(scope="module")
def tiny():
    return load(VECTORS / "valid" / "tiny.hzg", trust=TRUST)


def csv(table: Table) -> str:
    out = io.StringIO()
    write_csv_stream([table], table.columns, out)
    return out.getvalue()


# What seed 7 makes from the shipped vectors under hzg-blocks v1. A change
# here changes what every seed produces: bump scheme.VERSION and say so in
# the README.
GOLDEN_KINDS = """\
color,age,income,joined,customer,vip
,38,44908.58,2021-11-24,C-82311,True
green,26,,2020-09-02,C-37661,False
,44,0.00,2019-09-08,C-90030,True
red,21,,2021-12-14,C-10622,False
"""
GOLDEN_KINDS_WHERE = """\
color,age,income,joined,customer,vip
blue,35,0.00,2021-03-20,C-81873,True
blue,24,0.00,2020-04-03,C-33345,True
blue,63,42354.07,2023-07-13,C-96737,True
"""
GOLDEN_MIXTURE = """\
color,age,income,joined,customer,vip,smoker,from
,,,,,,False,golden/tiny
red,40,0.00,2021-12-12,C-95634,True,,golden/kinds
,,,,,,False,golden/tiny
,70,0.00,2021-01-19,C-68347,False,,golden/kinds
blue,19,0.00,2023-06-09,C-82517,True,,golden/kinds
"""


def test_golden_rows_of_the_shipped_vector(kinds, tiny):
    assert scheme.NAME == "hzg-blocks" and scheme.VERSION == 1
    assert kinds.block_rows == tiny.block_rows == 8192
    assert csv(kinds.sample(4, seed=7)) == GOLDEN_KINDS
    assert csv(kinds.sample(3, seed=7, where={"color": "blue", "vip": True})) \
        == GOLDEN_KINDS_WHERE
    mixture = aggregate([kinds, tiny], weights=[3, 1], source_column="from")
    assert csv(mixture.sample(5, seed=7)) == GOLDEN_MIXTURE


def test_keys_are_fixed_width():
    # SeedSequence drops trailing zero words and splits big integers into
    # several words: variable-length keys would make these two equal.
    a = scheme.rng(scheme.DrawKey(2**32, 5, 0), 0).random(4)
    b = scheme.rng(scheme.DrawKey(0, 1, 5), 0).random(4)
    c = scheme.rng(scheme.DrawKey(0, 1, 5), 1).random(4)
    assert not np.array_equal(a, b) and not np.array_equal(b, c)
    assert scheme.child_seed(7, 0) != scheme.child_seed(7, 1)
    assert 0 <= scheme.child_seed(2**63 - 1, 3) < 2**63


def test_block_size_is_bounded_by_the_model():
    adult_like = MadeConfig(token_counts=(20,) * 15, hidden=(128,))
    assert scheme.block_rows(adult_like.sampling_bytes_per_row()) == R
    hostile = MadeConfig(token_counts=(65536,), hidden=(65536,) * 8)
    rows = scheme.block_rows(hostile.sampling_bytes_per_row())
    assert 1 <= rows < R and rows * hostile.sampling_bytes_per_row() <= scheme.BLOCK_BYTES
    assert scheme.block_rows(10**12) == 1


def test_rows_do_not_depend_on_how_many_are_asked(kinds):
    """The first rows of a block are the same whether the block is made whole
    or cut short, with or without conditions."""
    for where in (None, {"color": ["red", "blue"]}):
        whole = kinds.sample(R + 10, seed=3, where=where)
        for n in (1, 100, R):
            assert csv(kinds.sample(n, seed=3, where=where)) == csv(whole.slice(0, n))


def test_round_sizes_depend_only_on_the_block():
    assert scheme.round_size(R, 0, 0) == R
    assert scheme.round_size(R, 0, 5 * R) == R
    assert scheme.round_size(R, R // 2, R) == R
    assert scheme.round_size(R, R - 100, R) < 200


@pytest.mark.parametrize("where", [None, ["color=blue"], ["vip=True", "age=40"]])
@pytest.mark.parametrize("parts", [1, 3, 4, 7])
def test_partitions_concatenate_to_the_whole(kinds, where, parts):
    n = 3 * R + 77
    whole = kinds.sample(n, seed=11, where=where)
    pieces = [kinds.sample(n, seed=11, where=where, partition=i, partitions=parts)
              for i in reversed(range(parts))][::-1]  # made in any order
    assert sum(p.num_rows for p in pieces) == n
    assert csv(Table.concat(pieces)) == csv(whole)


def test_sequence_ids_number_output_rows_in_every_partition():
    generator = builders.generator([builders.sequence_id("row"),
                                    builders.categorical("c", ["a", "b", "c"])])
    n = 2 * R + 5
    for where in (None, {"c": "b"}):
        whole = generator.sample(n, seed=1, where=where)
        assert np.array_equal(whole["row"], np.arange(1, n + 1))
        last = generator.sample(n, seed=1, where=where, partition=3, partitions=4)
        assert np.array_equal(last["row"], np.arange(2 * R + 1, n + 1))


def test_partition_arguments_are_checked(kinds):
    with pytest.raises(ConfigError, match="need a seed"):
        kinds.sample(10, partition=0, partitions=2)
    with pytest.raises(ConfigError):
        kinds.sample(10, seed=1, partition=2, partitions=2)
    with pytest.raises(ConfigError):
        kinds.sample(10, seed=1, partition=0)
    # more partitions than blocks: the extra ones are empty
    assert kinds.sample(10, seed=1, partition=1, partitions=3).num_rows == 0


def test_an_impossible_in_practice_condition_stops(kinds):
    # age=40 sits in a one-year bin of the vector's grid; with vip and a
    # colour it is rare but possible: the scheme must not give up on it
    table = kinds.sample(5, seed=2, where=["age=40", "color=green", "vip=False"])
    assert set(table["age"]) == {40}
    # token "b" of the only column gets probability about exp(-60)
    generator = builders.generator([builders.categorical("c", ["a", "b"])], bias=[0, -60])
    with pytest.raises(SamplingError, match="practically impossible"):
        generator.sample(5, seed=1, where={"c": "b"})
