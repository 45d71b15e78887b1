"""Sampling from a bundle: determinism, conditions, streaming sinks."""

from __future__ import annotations

import numpy as np
import pytest

from provisioner.errors import ConfigError, SamplingError
from provisioner.generator import load
from provisioner.scheme import DEFAULT_BLOCK_ROWS as BLOCK_ROWS
from provisioner.sinks import write_rows
from provisioner.table import Table
from tests.conftest import VECTORS

KINDS = VECTORS / "valid" / "kinds.hzg"
TRUST = VECTORS / "keys" / "golden.pub"


@pytest.fixture(scope="module")
def generator():
    return load(KINDS, trust=TRUST)


def same(a: Table, b: Table) -> bool:
    for name in a:
        x, y = a[name], b[name]
        if x.dtype.kind == "f":
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif x.dtype.kind == "M":
            if not np.array_equal(x.astype("int64"), y.astype("int64")):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def test_seed_fixes_the_rows_whatever_the_batch_size(generator):
    n = 2 * BLOCK_ROWS + 123
    whole = generator.sample(n, seed=42)
    for batch_size, threads in ((1000, 1), (BLOCK_ROWS, 2), (n, 3)):
        parts = list(generator.iter_batches(n, batch_size=batch_size, seed=42, threads=threads))
        assert [p.num_rows for p in parts[:-1]] == [batch_size] * (len(parts) - 1)
        assert same(Table.concat(parts), whole)
    assert not same(generator.sample(n, seed=43), whole)


def test_values_respect_the_schema(generator):
    table = generator.sample(5000, seed=1)
    assert table.num_rows == 5000
    assert set(table["color"]) <= {"red", "green", "blue", "(rare)", None}
    ages = table["age"]
    assert ages.dtype == np.int64 and ages.min() >= 17 and ages.max() <= 90
    income = table["income"][~np.isnan(table["income"])]
    assert np.all(np.round(income, 2) == income) and income.min() >= 0
    ids = table["customer"]
    assert all(len(v) == 7 and v.startswith("C-") and v[2:].isdigit() for v in ids)
    joined = table["joined"]
    assert joined.dtype == np.dtype("datetime64[D]")


def test_conditions_are_exact_and_match_rejection(generator):
    # Exact conditioning: the distribution of other columns among rows with
    # color=blue equals that of plain samples filtered on color=blue.
    conditioned = generator.sample(20_000, seed=3, where={"color": "blue"})
    assert set(conditioned["color"]) == {"blue"}
    plain = generator.sample(80_000, seed=4)
    filtered = plain["vip"][plain["color"] == "blue"]
    a = np.mean(conditioned["vip"].astype(bool))
    b = np.mean(filtered.astype(bool))
    # two independent proportions; 4.5 standard errors: false failure < 1e-5
    se = np.sqrt(a * (1 - a) / 20_000 + b * (1 - b) / len(filtered))
    assert abs(a - b) < 4.5 * se


def test_numeric_and_null_conditions(generator):
    table = generator.sample(100, seed=5, where=["age=40", "income="])
    assert set(table["age"]) == {40} and np.isnan(table["income"]).all()


@pytest.mark.parametrize("where, message", [
    (["color=purple"], "impossible condition"),
    (["age=200"], "impossible condition"),
    (["nope=1"], "unknown column"),
    (["customer=C-1"], "fresh identifiers"),
    (["color"], "COLUMN=VALUE"),
    (["vip="], "never holds nulls"),
])
def test_bad_conditions(generator, where, message):
    with pytest.raises(SamplingError, match=message):
        generator.iter_batches(10, where=where)


def test_bad_counts(generator):
    with pytest.raises(ConfigError):
        generator.sample(0)
    with pytest.raises(ConfigError):
        generator.sample(10, seed=-1)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_files_round_trip(generator, tmp_path, suffix):
    import pandas as pd

    path = tmp_path / f"out{suffix}"
    rows = write_rows(generator.iter_batches(3000, batch_size=700, seed=8),
                      generator.schema.columns, path)
    assert rows == 3000
    frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    expected = generator.sample(3000, seed=8).to_pandas()
    assert list(frame.columns) == list(expected.columns) and len(frame) == 3000
    np.testing.assert_array_equal(frame["age"].to_numpy(), expected["age"].to_numpy())
    assert frame["color"].fillna("?").tolist() == expected["color"].fillna("?").tolist()


def test_codes_convert_like_the_values(generator):
    """Categorical codes (the fast path to pandas and Arrow) match the values,
    through slicing and concatenation, nulls and the rare token included."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    parts = list(generator.iter_batches(5000, batch_size=1500, seed=3))
    table = Table.concat([p.slice(0, p.num_rows) for p in parts])
    assert set(table.codes) == {"color"}
    plain = Table(table.columns, dict(table.items()))  # the same values, no codes
    assert not plain.codes
    fast, slow = table.to_pandas(), plain.to_pandas()
    pd.testing.assert_frame_equal(fast, slow)
    assert {"red", None} <= set(table["color"]) and fast["color"].isna().any()
    assert table.to_arrow().equals(plain.to_arrow())


def test_failed_write_leaves_nothing(generator, tmp_path):
    def broken():
        yield from generator.iter_batches(100, seed=1)
        raise RuntimeError("disk on fire")

    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        write_rows(broken(), generator.schema.columns, path)
    assert list(tmp_path.iterdir()) == []


def test_one_thread_leaves_blas_alone_and_threads_hold_it_to_one(generator):
    """A Dask worker samples on one thread: nothing may touch process-wide BLAS
    settings then. With threads of its own the sampler holds BLAS to one."""
    from provisioner import _blas

    class DepthMeter:
        def __init__(self):
            self.depths = set()

        def drew(self, candidates, kept):
            self.depths.add(_blas._depth)

        def emitted(self, rows):
            pass

    for threads, depth in ((1, 0), (2, 1)):
        meter = DepthMeter()
        list(generator.iter_batches(3 * BLOCK_ROWS, seed=1, threads=threads, meter=meter))
        assert meter.depths == {depth}
