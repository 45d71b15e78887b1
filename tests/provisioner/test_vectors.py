"""Every test vector is accepted or refused exactly as index.json says."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import zstandard

from provisioner import HzgError, decode_bundle
from provisioner.cli import main
from provisioner.generator import Generator
from tests.conftest import ROOT, VECTORS, load_index, load_vector

INDEX = load_index()
VECTORS_LIST = INDEX["vectors"]


def vector_id(vector) -> str:
    return vector["file"] + (" (skip verify)" if vector.get("insecure_skip_verify") else "")


def full_read(data: bytes, trust, *, skip: bool = False):
    """What `hzg verify` does: decode, then build a generator from the content."""
    opened = decode_bundle(data, trust=trust, now=INDEX["now"], insecure_skip_verify=skip)
    Generator.from_opened(opened)
    return opened


@pytest.mark.parametrize("vector", VECTORS_LIST, ids=vector_id)
def test_vector_outcome(vector, golden_trust):
    data = load_vector(vector["file"])
    skip = vector.get("insecure_skip_verify", False)
    if vector["expect"] == "ok":
        full_read(data, golden_trust, skip=skip)
        return
    with pytest.raises(HzgError) as caught:
        full_read(data, golden_trust, skip=skip)
    assert caught.value.code == vector["expect"], str(caught.value)
    assert "\n" not in str(caught.value)


def test_strict_decoder_and_fast_route_agree_on_every_header():
    """The two header decoders of provisioner.bundle.canonical give one verdict."""
    import struct

    from provisioner.bundle.canonical import _fast_header, strict_decode
    from provisioner.bundle.limits import DEFAULT_LIMITS

    for vector in VECTORS_LIST:
        data = load_vector(vector["file"])
        if len(data) < 24:
            continue
        length = struct.unpack_from("<Q", data, 8)[0]
        region = data[24:24 + length]
        if len(region) != length or not region:
            continue
        fast = _fast_header(region, DEFAULT_LIMITS) is not None
        try:
            strict_decode(region, limits=DEFAULT_LIMITS, region="header", allow_bin=False,
                          max_values=DEFAULT_LIMITS.max_header_values)
            strict = True
        except HzgError:
            strict = False
        assert fast == strict, vector["file"]


def test_key_ids_of_the_shipped_keys():
    from provisioner.keys import load_public_key

    for entry in INDEX["keys"]:
        assert load_public_key(VECTORS / entry["file"]).key_id == entry["key_id"]


@pytest.mark.parametrize("vector", [v for v in INDEX["vectors"] if "decoded" in v],
                         ids=lambda v: v["file"])
def test_valid_vector_decodes_to_expected_content(vector, golden_trust):
    opened = full_read(load_vector(vector["file"]), golden_trust)
    expected = json.loads((VECTORS / vector["decoded"]).read_text())
    header = opened.header.to_plain()
    if vector["file"] == "valid/newer-minor.hzg":
        # this reader drops the keys of the header's sections it does not
        # know (a newer minor version's); schema and privacy are kept as read
        expected["header"].pop("future_field")
        expected["header"]["generator"].pop("future_generator_field")
    assert header == expected["header"]
    assert sorted(opened.tensors) == sorted(expected["tensors"])
    for name, want in expected["tensors"].items():
        got = opened.tensors[name]
        assert str(got.dtype) == want["dtype"] and list(got.shape) == want["shape"]
        np.testing.assert_array_equal(got.ravel(), np.array(want["values"], got.dtype))


def test_vectors_are_fresh():
    """make_vectors.py reproduces the committed files byte for byte."""
    if zstandard.__version__ != INDEX["zstandard_version"]:
        pytest.skip("zstd output is only byte-stable within one zstandard version")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_vectors.py"),
                             "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_spec_dump_is_the_tiny_vector():
    spec = (ROOT / "format_spec" / "HZG.md").read_text()
    block = spec.split("<!-- dump:begin")[1].split("<!-- dump:end")[0]
    lines = [line for line in block.splitlines()
             if line[:6].strip() and all(c in "0123456789abcdef" for c in line[:6])]
    dumped = bytearray()
    for line in lines:
        offset = int(line[:6], 16)
        hex_part = line[8:44].split()
        if offset != len(dumped):
            break  # the decompressed payload restarts at offset 0
        dumped += bytes(int(h, 16) for h in hex_part)
    assert bytes(dumped) == load_vector("valid/tiny.hzg")


@pytest.mark.parametrize("vector", VECTORS_LIST, ids=vector_id)
def test_cli_verify_one_line_and_exit_code(vector, capsys, monkeypatch):
    name, expect = vector["file"], vector["expect"]
    if "expir" in name:
        pytest.skip("the CLI uses the real clock; expiry is covered with a fixed clock")
    skip = ["--insecure-skip-verify"] if vector.get("insecure_skip_verify") else []
    code = main(["verify", str(VECTORS / name), "--trust",
                 str(VECTORS / "keys" / "golden.pub"), *skip])
    out, err = capsys.readouterr()
    if skip:  # the warning that verification is skipped comes first
        assert err.startswith("hzg: warning: --insecure-skip-verify")
        err = err.split("\n", 1)[1]
    if expect == "ok":
        assert code == 0 and out.startswith("OK ")
        assert err == ""
    else:
        assert code == 1
        assert err.startswith("hzg: error: ") and err.count("\n") == 1
        assert "Traceback" not in err and out == ""


def test_cli_in_a_real_process_has_no_traceback():
    for name, code in (("malformed/zstd-bomb.hzg", 1), ("valid/kinds.hzg", 0)):
        result = subprocess.run(
            [sys.executable, "-m", "provisioner.cli", "verify", str(VECTORS / name),
             "--trust", str(VECTORS / "keys" / "golden.pub")],
            capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == code, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == (1 if code else 0)
