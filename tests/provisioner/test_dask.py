"""The Dask adapter on a real distributed.LocalCluster with two worker processes."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from provisioner import generator as generator_module  # noqa: E402
from provisioner.aggregate import aggregate  # noqa: E402
from provisioner.dask import sample_dataframe, to_parquet  # noqa: E402
from provisioner.generator import load  # noqa: E402
from tests.conftest import VECTORS  # noqa: E402
from tests.provisioner import builders as b  # noqa: E402

R = 8192


def same(left, right) -> None:
    """Equal frames up to how strings are stored (Dask converts them to its own
    Arrow string dtype, whose null is pd.NA rather than NaN)."""
    def plain(frame):
        return frame.astype(object).where(frame.notna(), None)

    assert list(left.dtypes.map(str).str.replace("string", "str")) == \
        list(right.dtypes.map(str).str.replace("string", "str"))
    pd.testing.assert_frame_equal(plain(left), plain(right))


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    # ":0": a free port. None still binds 8787, and warns when another
    # cluster on the machine holds it (a warning at the end of a green run).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", worker_dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def kinds():
    return load(VECTORS / "valid" / "kinds.hzg", trust=VECTORS / "keys" / "golden.pub")


@pytest.fixture(scope="module")
def mixture():
    bank = b.generator([b.categorical("city", ["Oslo", "Bergen"], rare="__rare__"),
                        b.numeric("age", [18, 30, 66]), b.sequence_id("row")],
                       owner="bank", rows=3000, seed=1)
    clinic = b.generator([b.categorical("city", ["Bergen", "Tromso"]),
                          b.numeric("age", [0, 40, 101], value_type="float", decimals=1)],
                         owner="clinic", rows=1000, seed=2)
    return aggregate([bank, clinic], source_column="source")


def test_a_generator_on_the_cluster_equals_one_process(client, kinds):
    n = 3 * R + 5
    frame = sample_dataframe(kinds, n, npartitions=4, seed=3)
    assert frame.npartitions == 4 and frame.known_divisions
    same(frame.compute(), kinds.sample(n, seed=3).to_pandas())


@pytest.mark.parametrize("where", [None, {"city": "Bergen"}])
def test_a_mixture_on_the_cluster_equals_one_process(client, mixture, where):
    n = 2 * R + 7
    frame = sample_dataframe(mixture, n, npartitions=3, seed=5, where=where)
    expected = mixture.sample(n, seed=5, where=where).to_pandas()
    same(frame.compute(), expected)


def test_to_parquet_through_dask_with_provenance(client, mixture, tmp_path):
    import json

    out = tmp_path / "mix"
    record = to_parquet(mixture, 2 * R, out, seed=8, npartitions=2)
    written = pd.read_parquet(out)
    expected = mixture.sample(2 * R, seed=8).to_pandas()
    same(written.reset_index(drop=True), expected)
    assert [s["generator"]["owner"] for s in json.loads(open(record).read())["sources"]] \
        == ["bank", "clinic"]


def test_workers_verify_each_bundle_once(client, kinds, mixture):
    sample_dataframe(kinds, 3 * R, npartitions=3, seed=1).compute()
    sample_dataframe(mixture, 3 * R, npartitions=3, seed=1).compute()

    def counts():
        return generator_module.verifications, len(generator_module._RESTORED)

    for verified, distinct in client.run(counts).values():
        assert verified == distinct <= 3  # kinds, bank and clinic: at most once each
