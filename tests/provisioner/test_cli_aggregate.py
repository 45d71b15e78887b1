"""`hzg aggregate`, `hzg sample --partition` and `hzg inspect A B` on real files."""

from __future__ import annotations

import json

import pytest

from provisioner.cli import main
from tests.provisioner import builders as b

COLUMNS_BANK = [b.categorical("city", ["Oslo", "Bergen"], rare="__rare__"),
                b.numeric("age", [18, 30, 50, 66]), b.sequence_id("row")]
COLUMNS_CLINIC = [b.categorical("city", ["Bergen", "Tromso"]),
                  b.numeric("age", [0, 40, 101], value_type="float", decimals=1),
                  b.categorical("ward", ["A", "B"])]


@pytest.fixture()
def lab(tmp_path):
    """Two owners' bundles and their public keys, as a lab receives them."""
    keys = tmp_path / "keys"
    keys.mkdir()
    bank, clinic = b.key("bank"), b.key("clinic")
    b.write_pub(bank, keys)
    b.write_pub(clinic, keys)
    b.bundle(COLUMNS_BANK, owner="bank", rows=3000, seed=1).save(tmp_path / "bank.hzg", bank)
    b.bundle(COLUMNS_CLINIC, owner="clinic", rows=1000, seed=2).save(
        tmp_path / "clinic.hzg", clinic)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_aggregate_writes_rows_and_provenance(lab, capsys):
    out = lab / "mix.csv"
    code, _, err = run(capsys, "aggregate", lab / "bank.hzg", lab / "clinic.hzg", "-n", 4000,
                       "--trust", lab / "keys", "-o", out, "--seed", 3,
                       "--source-column", "source")
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "city,age,row,ward,source" and len(lines) == 4001
    record = json.loads((lab / "mix.csv.provenance.json").read_text())
    assert [s["generator"]["owner"] for s in record["sources"]] == ["bank", "clinic"]
    assert [s["file"] for s in record["sources"]] == [str(lab / "bank.hzg"),
                                                      str(lab / "clinic.hzg")]
    assert sum(record["output"]["rows_by_source"].values()) == 4000
    assert record["request"]["weights"] == "rows" and record["request"]["seed"] == 3
    assert "composes across them" in err and "(2, 2e-06)-DP" in err
    assert b.key("clinic").key_id in err


def _spoil_clinic(lab, problem: str):
    """Make clinic.hzg fail as ``problem`` says; the trust to pass."""
    if problem == "truncated":
        data = (lab / "clinic.hzg").read_bytes()
        (lab / "clinic.hzg").write_bytes(data[:-10])
    if problem == "expired":
        b.bundle(COLUMNS_CLINIC, owner="clinic", expires_at=b.CREATED_AT + 1).save(
            lab / "clinic.hzg", b.key("clinic"), overwrite=True)
    return lab / "keys" / "bank.pub" if problem == "untrusted" else lab / "keys"


@pytest.mark.parametrize("problem", ["untrusted", "truncated", "expired"])
def test_one_bad_bundle_fails_the_whole_command(lab, capsys, problem):
    trust = _spoil_clinic(lab, problem)
    before = set(lab.iterdir())
    code, out, err = run(capsys, "aggregate", lab / "bank.hzg", lab / "clinic.hzg", "-n", 10,
                         "--trust", trust, "-o", lab / "mix.parquet", "--seed", 1)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "clinic.hzg" in err
    assert set(lab.iterdir()) == before  # no output, no provenance, no temp file


@pytest.mark.parametrize("problem", ["none", "untrusted", "truncated"])
def test_verify_checks_every_bundle_and_names_the_bad_one(lab, capsys, problem):
    trust = _spoil_clinic(lab, problem)
    code, out, err = run(capsys, "verify", lab / "bank.hzg", lab / "clinic.hzg",
                         "--trust", trust)
    if problem == "none":
        lines = out.strip().splitlines()
        assert code == 0 and err == "" and len(lines) == 2
        assert "bank.hzg: OK" in lines[0] and "clinic.hzg: OK" in lines[1]
    else:
        assert code == 1 and out == ""
        assert len(err.strip().splitlines()) == 1 and "clinic.hzg" in err


def strip_header(text: str) -> str:
    return text.split("\n", 1)[1]


@pytest.mark.parametrize("verb", ["sample", "aggregate"])
@pytest.mark.parametrize("where", [[], ["--where", "city=Bergen"]])
def test_partitions_are_byte_identical_to_one_run(lab, capsys, verb, where):
    bundles = [lab / "bank.hzg"] + ([lab / "clinic.hzg"] if verb == "aggregate" else [])
    common = [verb, *bundles, "-n", 20_000, "--trust", lab / "keys", "--seed", 5, *where]
    assert run(capsys, *common, "-o", lab / "whole.csv")[0] == 0
    for i in range(4):
        code, _, err = run(capsys, *common, "--partition", f"{i}/4", "-o", lab / f"p{i}.csv")
        assert code == 0, err
    parts = [(lab / f"p{i}.csv").read_text() for i in range(4)]
    assert parts[0] + "".join(strip_header(p) for p in parts[1:]) \
        == (lab / "whole.csv").read_text()
    record = json.loads((lab / "p3.csv.provenance.json").read_text())
    assert record["request"]["partition"] == {"index": 3, "of": 4, "rows": [16384, 20000]}


def test_parquet_and_stdout(lab, capsys):
    import pandas as pd

    args = ["aggregate", lab / "bank.hzg", lab / "clinic.hzg", "-n", 300, "--trust",
            lab / "keys", "--seed", 2, "--weights", "1,1", "--columns", "intersect"]
    assert run(capsys, *args, "-o", lab / "mix.parquet")[0] == 0
    code, out, err = run(capsys, *args)
    assert code == 0 and out.startswith("city,age\n") and len(out.splitlines()) == 301
    frame = pd.read_parquet(lab / "mix.parquet")
    assert list(frame.columns) == ["city", "age"] and len(frame) == 300
    assert "weights explicit" in err


@pytest.mark.parametrize("extra, message", [
    (["--weights", "1,x"], "--weights takes"),
    (["--weights", "1,2,3"], "3 numbers for 2"),
    (["--source-column", "city"], "already a column"),
    (["--partition", "4/4", "--seed", "1"], "--partition takes"),
    (["--partition", "1/4"], "need a seed"),
    (["--where", "city=Paris"], "no source generator"),
])
def test_bad_requests_fail_before_any_output(lab, capsys, extra, message):
    code, _, err = run(capsys, "aggregate", lab / "bank.hzg", lab / "clinic.hzg", "-n", 10,
                       "--trust", lab / "keys", "-o", lab / "x.csv", *extra)
    assert code == 1 and message in err and not (lab / "x.csv").exists()


def test_a_huge_output_asks_for_yes(lab, capsys):
    code, _, err = run(capsys, "sample", lab / "bank.hzg", "-n", 10**10, "--trust",
                       lab / "keys", "-o", lab / "big.csv")
    assert code == 1 and "pass --yes" in err and "GB" in err
    assert not (lab / "big.csv").exists()


def test_inspect_several_bundles_side_by_side(lab, capsys):
    code, out, _ = run(capsys, "inspect", lab / "bank.hzg", lab / "clinic.hzg", "--trust",
                       lab / "keys")
    assert code == 0
    assert "bank.hzg" in out and "clinic.hzg" in out and "(absent)" in out
    assert "union of 4 columns" in out and "composes across them" in out
    code, out, _ = run(capsys, "inspect", lab / "bank.hzg", lab / "clinic.hzg", "--trust",
                       lab / "keys", "--json")
    assert [s["header"]["generator"]["owner"] for s in json.loads(out)] == ["bank", "clinic"]
