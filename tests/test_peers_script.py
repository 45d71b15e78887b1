"""scripts/peers.py works without any peer installed, and its worker round trip
(subprocess, Parquet or CSV exchange) keeps columns, dtypes and nulls."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def peers(monkeypatch):
    spec = importlib.util.spec_from_file_location("hzg_peers_under_test",
                                                  ROOT / "scripts" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses needs the module registered
    spec.loader.exec_module(module)
    monkeypatch.setenv("HZG_PEERS_PYTHON", "none")
    yield module
    sys.modules.pop(spec.name, None)


def _table(rows: int = 60):
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "age": rng.integers(17, 90, rows),
        "weight": np.where(rng.random(rows) < 0.2, np.nan, rng.normal(70, 10, rows)),
        "city": [None if i % 7 == 0 else ["a", "b", "c"][i % 3] for i in range(rows)],
        "label": ["<=50K" if i % 2 else ">50K" for i in range(rows)],
    })


def test_all_peers_listed_and_none_runs_in_a_subprocess_when_lookup_disabled(peers):
    status = peers.available_peers()
    assert set(status) == {"mst", "aim", "dpctgan", "ctgan", "tvae", "dpmm-mst", "dpmm-aim"}
    for value in status.values():
        assert value == "in-process" or value.startswith("missing: ")


def test_missing_peer_is_a_clear_error(peers):
    status = peers.available_peers()
    missing = [name for name, value in status.items() if value.startswith("missing")]
    if not missing:
        pytest.skip("every peer is importable here")
    epsilon = 1.0 if missing[0] in peers.DP_PEERS else None
    with pytest.raises(peers.PeerUnavailable):
        peers.fit_and_sample(missing[0], _table(), 10, epsilon=epsilon)


def test_epsilon_rules(peers):
    with pytest.raises(ValueError):
        peers.fit_and_sample("mst", _table(), 10, epsilon=None)
    with pytest.raises(ValueError):
        peers.fit_and_sample("dpmm-aim", _table(), 10, epsilon=None)
    with pytest.raises(ValueError):
        peers.fit_and_sample("ctgan", _table(), 10, epsilon=1.0)
    with pytest.raises(ValueError):
        peers.fit_and_sample("nonesuch", _table(), 10, epsilon=None)


@pytest.mark.parametrize("parquet", [False, True])
def test_worker_round_trip(peers, parquet):
    if parquet and importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow not installed")
    table = _table()
    numeric, categorical = peers._column_kinds(table)
    assert numeric == ["age", "weight"] and categorical == ["city", "label"]
    result = peers._run_worker(sys.executable, peers._TEST_PEER, table, 500, numeric,
                               categorical, None, 1e-5, 3, 120, parquet)
    frame = result.frame
    assert list(frame.columns) == list(table.columns) and len(frame) == 500
    assert frame["age"].dtype.kind == "i"
    assert frame["weight"].dtype.kind == "f" and frame["weight"].isna().any()
    assert frame["city"].isna().any()
    assert set(frame["city"].dropna()) <= {"a", "b", "c"}
    assert set(frame["label"]) <= {"<=50K", ">50K"}
    assert result.peak_rss_mb and result.peak_rss_mb > 0
    assert result.fit_seconds >= 0 and result.rows_per_second > 0
    assert result.runner == f"subprocess:{sys.executable}"


def test_worker_timeout_and_failure_are_reported(peers, tmp_path):
    table = _table()
    numeric, categorical = peers._column_kinds(table)
    with pytest.raises(RuntimeError, match="exited with"):
        peers._run_worker(sys.executable, "nonesuch", table, 5, numeric, categorical,
                          None, 1e-5, 0, 120, False)
    with pytest.raises(TimeoutError):
        peers._run_worker(sys.executable, peers._TEST_PEER, table, 5, numeric,
                          categorical, None, 1e-5, 0, 0.01, False)


def test_rare_values_are_pooled_for_dpmm(peers):
    frame = pd.DataFrame({"city": ["a"] * 5 + ["b"] * 3 + ["c", "d", None]})
    pooled = peers._pool_rare(frame, ["city"], 2)
    assert pooled == ["city"]
    assert frame["city"].tolist()[:8] == ["a"] * 5 + ["b"] * 3
    assert frame["city"].tolist()[8:10] == ["<other>", "<other>"]
    assert frame["city"].isna().tolist()[-1]


def test_missing_sdmetrics_is_a_clear_error(peers):
    if peers._probe("in-process")["peers"].get("sdmetrics") == "ok":
        pytest.skip("sdmetrics is importable here")
    with pytest.raises(peers.PeerUnavailable):
        peers.column_pair_trends(_table(), _table())
