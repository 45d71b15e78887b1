"""Writing and reading bundles with the real codec."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from provisioner import (
    Bundle,
    GeneratorInfo,
    HzgError,
    Limits,
    ModelSpec,
    SigningKey,
    TrustedKey,
    TrustStore,
    decode_bundle,
    open_bundle,
)
from provisioner.bundle import write_atomic
from provisioner.bundle.canonical import pack_canonical
from provisioner.bundle.canonical import decode_payload
from provisioner.bundle.limits import DEFAULT_LIMITS
from provisioner.bundle.tensors import decode_tensors, encode_tensors
from provisioner.errors import (
    BundleExpired,
    ConfigError,
    LimitExceeded,
    MalformedHeader,
    MalformedPayload,
    OutputFileError,
    UnsignedBundle,
    UntrustedSigner,
)
from scripts.make_vectors import tiny_bundle

ALL_DTYPES = {
    "bool": np.array([True, False, True]),
    "int8": np.array([-128, 0, 127], np.int8),
    "uint8": np.arange(6, dtype=np.uint8).reshape(2, 3),
    "int16": np.array([[-1]], np.int16),
    "int32": np.arange(24, dtype=np.int32).reshape(2, 3, 4),
    "int64": np.array(2**62, np.int64),  # rank 0
    "float32": np.linspace(-1, 1, 7, dtype=np.float32),
    "float64": np.zeros((0, 5)),  # zero-size
    "big_endian": np.arange(4, dtype=">i4"),
}


def make_bundle(tensors=None, **changes) -> Bundle:
    """One boolean column and a MADE model without hidden layers."""
    base = tiny_bundle()
    fields = dict(generator=GeneratorInfo("ab" * 16, "unit", 2, "tester", 1_700_000_000),
                  model=base.model, schema=base.schema, privacy=base.privacy,
                  provenance={"software": "test"},
                  tensors=base.tensors if tensors is None else tensors)
    fields.update(changes)
    return Bundle(**fields)


def trust_of(*keys: SigningKey) -> TrustStore:
    return TrustStore([TrustedKey(k.public_key, k.name, "memory") for k in keys])


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("owner")


def test_round_trip_every_dtype_and_shape():
    raw = pack_canonical({"tensors": encode_tensors(ALL_DTYPES)})
    tensors = decode_tensors(decode_payload(raw, limits=DEFAULT_LIMITS)["tensors"],
                             DEFAULT_LIMITS)
    for name, array in ALL_DTYPES.items():
        got = tensors[name]
        assert got.shape == array.shape
        np.testing.assert_array_equal(got, array)
        assert got.dtype.byteorder in "<|="  # stored little-endian
        assert not got.flags.writeable  # a view of the payload, not a copy


def test_bundle_round_trip(key):
    opened = decode_bundle(make_bundle().to_bytes(key), trust=trust_of(key))
    assert opened.verified and opened.trusted_key.name == "owner"
    assert opened.header.signer.key_id == key.key_id
    assert opened.bundle.generator == make_bundle().generator
    np.testing.assert_array_equal(opened.tensors["out.b"], make_bundle().tensors["out.b"])


def test_encoding_is_deterministic_and_order_free(key):
    forward = make_bundle(extensions={"a": "1", "b": "2"})
    backward = make_bundle(tensors=dict(reversed(list(forward.tensors.items()))),
                           extensions={"b": "2", "a": "1"})
    assert forward.to_bytes(key) == backward.to_bytes(key)


@pytest.mark.parametrize("bad_tensors, message", [
    ({"w": np.array([np.nan], np.float32)}, "NaN"),
    ({"bad name!": np.zeros(1)}, "name"),
    ({"c": np.zeros(2, np.complex64)}, "dtype"),
    ({"o": np.array([object()])}, "dtype"),
])
def test_writer_refuses_what_readers_refuse(key, bad_tensors, message):
    with pytest.raises(MalformedPayload, match=message):
        make_bundle(tensors=bad_tensors).to_bytes(key)


def test_writer_refuses_non_plain_header_values(key):
    with pytest.raises(MalformedHeader, match="plain msgpack"):
        make_bundle(provenance={"x": object()}).to_bytes(key)
    with pytest.raises(MalformedHeader, match="not finite"):
        make_bundle(provenance={"x": float("inf")}).to_bytes(key)


def test_writer_runs_the_readers_content_checks(key):
    """Bundle.to_bytes refuses, naming the rule, what verify would refuse."""
    schema = dict(make_bundle().schema)
    schema["columns"] = [dict(schema["columns"][0], name="x" * 300)]
    with pytest.raises(MalformedHeader, match="a reader would refuse it.*longer than 256"):
        make_bundle(schema=schema).to_bytes(key)
    with pytest.raises(MalformedPayload, match="a reader would refuse it.*mask"):
        make_bundle(tensors={"out.b": np.zeros(2, np.float32),
                             "out.w": np.ones((2, 2), np.float32)}).to_bytes(key)


def test_canonical_encoding_sorts_keys_and_uses_shortest_forms():
    assert pack_canonical({"b": 1, "a": 2}) == b"\x82\xa1a\x02\xa1b\x01"
    assert pack_canonical(1.0) == b"\xcb\x3f\xf0" + bytes(6)
    assert pack_canonical(300) == b"\xcd\x01\x2c"


def test_unsigned_needs_explicit_permission():
    data = make_bundle().to_unsigned_bytes()
    with pytest.raises(UnsignedBundle):
        decode_bundle(data, trust=None)
    opened = decode_bundle(data, trust=None, insecure_skip_verify=True)
    assert not opened.verified and opened.header.signer is None


def test_untrusted_key_is_refused_unless_skipping(key):
    data = make_bundle().to_bytes(key)
    stranger = SigningKey.generate("stranger")
    for trust in (None, TrustStore(), trust_of(stranger)):
        with pytest.raises(UntrustedSigner):
            decode_bundle(data, trust=trust)
    assert not decode_bundle(data, trust=None, insecure_skip_verify=True).verified


def test_expiry_uses_the_clock_with_skew(key):
    data = make_bundle(generator=GeneratorInfo("ab" * 16, "e", 1, "o", 100,
                                               expires_at=1000)).to_bytes(key)
    decode_bundle(data, trust=trust_of(key), now=1000 + 299)
    with pytest.raises(BundleExpired, match="expired"):
        decode_bundle(data, trust=trust_of(key), now=1000 + 301)


def test_lower_limits_are_enforced_and_higher_refused(key):
    data = make_bundle().to_bytes(key)
    with pytest.raises(LimitExceeded):
        decode_bundle(data, trust=trust_of(key), limits=Limits(max_decompressed_bytes=20))
    with pytest.raises(ConfigError, match="maximum"):
        Limits(max_header_bytes=2**40)


def test_tensor_count_limit(key):
    data = make_bundle().to_bytes(key)
    with pytest.raises(LimitExceeded, match="limit 1"):
        decode_bundle(data, trust=trust_of(key), limits=Limits(max_tensors=1))


def test_save_is_atomic(tmp_path, key, monkeypatch):
    target = tmp_path / "model.hzg"
    make_bundle().save(target, key)
    first = target.read_bytes()
    assert open_bundle(target, trust=trust_of(key)).verified

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    with pytest.raises(ConfigError, match="already exists; pass --force"):
        make_bundle().save(target, key)
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputFileError, match="No space left"):
        make_bundle(generator=GeneratorInfo("cd" * 16, "v2", 3, "o", 1)).save(
            target, key, overwrite=True)
    assert target.read_bytes() == first  # the old file is untouched ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.hzg"]  # ... no temp left


def test_write_atomic_fresh_target_never_half_written(tmp_path, monkeypatch):
    target = tmp_path / "new.hzg"
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O")))
    with pytest.raises(OutputFileError):
        write_atomic(target, b"x" * 100)
    assert list(tmp_path.iterdir()) == []


def test_open_bundle_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(HzgError, match="cannot read"):
        open_bundle(tmp_path / "nope.hzg", trust=None)


def test_open_bundle_checks_size_before_reading(tmp_path, key):
    path = tmp_path / "big.hzg"
    with open(path, "wb") as handle:
        handle.truncate(2 * 2**30 + 10)  # sparse: costs no disk
    start = time.perf_counter()
    with pytest.raises(LimitExceeded):
        open_bundle(path, trust=trust_of(key))
    assert time.perf_counter() - start < 5  # refused from the size alone, not read
