"""Regenerate ``format_spec/vectors/``: golden and malformed ``.hzg`` files.

    python scripts/make_vectors.py            # rewrite the vectors
    python scripts/make_vectors.py --check    # fail if they would change

Every vector tests one rule of ``format_spec/HZG.md`` (its identifier in
bold brackets) and breaks nothing before it in the order of section 3, so a
reader that follows the spec reports exactly the code given. The valid
bundles are written by the real codec; the malformed ones are made from
them with ``scripts/forge.py``, which signs whatever bytes it is given.

**Adding a vector** is adding one function below, in the section of its
rule::

    @vector("column-unit-bad", "malformed_header", "column-datetime",
            "a datetime unit outside the list")
    def _(c: Ctx) -> bytes:
        h = c.header()
        c.column(h, "joined")["unit"] = "week"
        return c.sign(h)

``c.header()`` is a fresh copy of the ``kinds`` bundle's header, ``c.sign``
signs it over the valid payload (or ``payload=``/``tensors=``), and
``c.bytes`` are the valid file itself. A vector whose ``expect`` is ``ok``
goes to ``valid/`` with its decoded content beside it. Column keys of a
later minor version get their vectors here too (HZG.md 6.7).

The signing keys are derived from fixed strings so the files are
reproducible. Their private halves are published here: never trust them
outside tests.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zstandard
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.bundle import Bundle, GeneratorInfo, ModelSpec  # noqa: E402
from provisioner.bundle import layout  # noqa: E402
from provisioner.bundle.canonical import pack_canonical  # noqa: E402
from provisioner.keys import SigningKey  # noqa: E402
from provisioner.models.made import MadeConfig, masks, tensor_shapes  # noqa: E402
from provisioner.privacy import Mechanism, Phase, PrivacyStatement  # noqa: E402
from provisioner.schema import Column, Grid, Schema  # noqa: E402
from scripts.forge import (  # noqa: E402
    CREATED_AT,
    NOW,
    assemble,
    compress,
    forge,
    split,
    string_column,
    vector_key,
    zeros_frame,
)

VECTORS = ROOT / "format_spec" / "vectors"

__all__ = ["CREATED_AT", "NOW", "assemble", "kinds_bundle", "split", "tiny_bundle",
           "vector_key", "zeros_frame"]


# --- the valid bundles, written by the real codec ---------------------------

def _statement(columns: tuple[str, ...]) -> PrivacyStatement:
    mechanisms = []
    if columns:
        mechanisms.append(Mechanism(
            "metadata", "main", "gaussian",
            {"noise_multiplier": 40.0, "l2_sensitivity": 1.0}, columns))
    mechanisms.append(Mechanism(
        "dp-sgd", "main", "poisson_subsampled_gaussian",
        {"clip_norm": 1.0, "noise_multiplier": 1.1, "sampling_probability": 0.08,
         "steps": 250}))
    return PrivacyStatement(
        dp=True, epsilon=1.0, delta=1e-6, accountant="pld",
        accountant_library="dp-accounting 0.6.0",
        phases=(Phase("main", 1.0, 1e-6),), mechanisms=tuple(mechanisms))


def _weights(config: MadeConfig, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = masks(config)
    tensors = {}
    for name, shape in tensor_shapes(config).items():
        values = np.round(rng.normal(0, 0.5, size=shape), 2).astype(np.float32)
        tensors[name] = values * mask[name] if name in mask else values
    return tensors


def tiny_bundle() -> Bundle:
    """One boolean column, no hidden layer: small enough to dump in HZG.md."""
    schema = Schema((Column("smoker", "categorical", "boolean", metadata="public",
                            categories=(False, True)),), rows=None)
    config = MadeConfig(token_counts=(2,), hidden=(), direct=False)
    tensors = {"out.b": np.array([0.5, -0.5], np.float32),
               "out.w": np.zeros((2, 2), np.float32)}
    return Bundle(
        generator=GeneratorInfo(id="0123456789abcdef0123456789abcdef", name="tiny",
                                version=1, owner="golden", created_at=CREATED_AT),
        model=ModelSpec("made", config.to_plain()),
        schema=schema.to_plain(),
        privacy=_statement(()).to_plain(),
        provenance={"software": "hzg 0.1.0"},
        tensors=tensors,
    )


def kinds_bundle() -> Bundle:
    """Every column kind, two hidden layers and a direct layer."""
    columns = (
        Column("color", "categorical", "string", nullable=True, metadata="dp",
               categories=("red", "green", "blue"), rare_label="(rare)"),
        Column("age", "numeric", "integer", metadata="dp",
               grid=Grid((17.0, 30.0, 40.0, 41.0, 91.0), (3.0, 4.0, 2.0, 5.0), (0, 2, 3))),
        Column("income", "numeric", "float", nullable=True, metadata="dp", decimals=2,
               grid=Grid((0.0, 0.01, 1000.0, 50000.0), (9.0, 2.0, 1.0), (0, 1))),
        Column("joined", "datetime", "datetime", metadata="dp", unit="D",
               format="%Y-%m-%d", grid=Grid((18000.0, 19000.0, 20500.0), (1.0, 2.0), (0, 1))),
        Column("customer", "id", "string", metadata="dp", style="pattern",
               pattern="C-99999"),
        Column("vip", "categorical", "boolean", metadata="public",
               categories=(False, True)),
    )
    schema = Schema(columns, rows=1234)
    config = MadeConfig(token_counts=tuple(c.num_tokens for c in schema.modelled),
                        hidden=(8, 8), direct=True)
    dp_columns = tuple(c.name for c in columns if c.metadata == "dp")
    return Bundle(
        generator=GeneratorInfo(id="fedcba9876543210fedcba9876543210", name="kinds",
                                version=3, owner="golden", created_at=CREATED_AT,
                                expires_at=CREATED_AT + 10 * 365 * 86_400),
        model=ModelSpec("made", config.to_plain()),
        schema=schema.to_plain(),
        privacy=_statement(dp_columns).to_plain(),
        provenance={"software": "hzg 0.1.0"},
        tensors=_weights(config, seed=1),
        extensions={"purpose": "test vector"},
    )


# --- the naive assembler for malformed files -------------------------------


# --- the registry -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Vector:
    name: str
    expect: str
    rule: str
    why: str
    build: Callable[[Ctx], bytes]
    skip_verify: bool = False
    file: str | None = None  # reuse another vector's file (other reader options)

    @property
    def path(self) -> str:
        if self.file is not None:
            return self.file
        return f"{'valid' if self.expect == 'ok' else 'malformed'}/{self.name}.hzg"


REGISTRY: list[Vector] = []


def vector(name: str, expect: str, rule: str, why: str, *, skip_verify: bool = False,
           file: str | None = None) -> Callable[[Callable[[Ctx], bytes]], Callable]:
    """Register the function below as the builder of one vector."""
    def register(build: Callable[[Ctx], bytes]) -> Callable[[Ctx], bytes]:
        REGISTRY.append(Vector(name, expect, rule, why, build, skip_verify, file))
        return build
    return register


class Ctx:
    """What vector builders start from: the kinds bundle and the keys."""

    def __init__(self) -> None:
        self.golden, self.other = vector_key("golden"), vector_key("other")
        self.bytes = kinds_bundle().to_bytes(self.golden)
        self._header, self.payload = split(self.bytes)
        self.header_length = struct.unpack_from("<Q", self.bytes, 8)[0]
        self._tensors = msgpack.unpackb(
            zstandard.ZstdDecompressor().decompress(self.payload))["tensors"]

    def header(self) -> dict[str, Any]:
        """A fresh copy of the valid header (payload and signer included)."""
        return copy.deepcopy(self._header)

    def tensors(self) -> dict[str, Any]:
        """A fresh copy of the valid payload's plain tensor map."""
        return copy.deepcopy(self._tensors)

    @staticmethod
    def column(header: dict[str, Any], name: str) -> dict[str, Any]:
        return next(c for c in header["schema"]["columns"] if c["name"] == name)

    def sign(self, header: dict[str, Any], *, payload: bytes | None = None,
             tensors: dict[str, Any] | None = None, raw: bytes | None = None,
             frame: tuple[bytes, int] | None = None, key: SigningKey | None = ...,
             minor: int = layout.FORMAT_MINOR, fix_payload: bool = True,
             canonical: bool = True) -> bytes:
        """Sign ``header`` over a payload; fix its payload section unless told not to.

        ``tensors`` (a plain tensor map) or ``raw`` (payload msgpack bytes) are
        compressed; ``frame`` is (zstd bytes, raw size); default: the valid payload.
        """
        key = self.golden if key is ... else key
        header = copy.deepcopy(header)
        if tensors is not None:
            raw = pack_canonical({"tensors": tensors})
            header["payload"]["tensor_count"] = len(tensors)
        if raw is not None:
            frame = (compress(raw), len(raw))
        if frame is not None:
            payload, raw_size = frame
            if fix_payload:
                header["payload"]["raw_size"] = raw_size
        payload = self.payload if payload is None else payload
        if fix_payload:
            header["payload"]["compressed_size"] = len(payload)
            header["payload"]["sha256"] = hashlib.sha256(payload).hexdigest()
        if key is not None and header.get("signer") is not None:
            header["signer"] = {"key_id": key.key_id, "name": key.name}
        encoded = pack_canonical(header) if canonical else msgpack.packb(header)
        return assemble(encoded, payload, key, minor=minor)

    def raw_header(self, encoded: bytes, **kw: Any) -> bytes:
        """Sign header bytes as they are (for encodings the codec would fix)."""
        return assemble(encoded, self.payload, self.golden, **kw)

    @staticmethod
    def flip(data: bytes, offset: int) -> bytes:
        return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _packed(value: Any) -> bytes:
    return pack_canonical(value)


def _header_with_raw_value(c: Ctx, raw_value: bytes) -> bytes:
    """The valid header with ``provenance.x`` set to the raw msgpack bytes given."""
    h = c.header()
    h["provenance"]["x"] = "PLACEHOLDER-FOR-RAW-VALUE"
    encoded = pack_canonical(h)
    marker = _packed("PLACEHOLDER-FOR-RAW-VALUE")
    assert encoded.count(marker) == 1
    return c.raw_header(encoded.replace(marker, raw_value))


# --- 1-4: magic, prefix, lengths (HZG.md section 3) -------------------------

@vector("empty", "not_a_bundle", "magic", "an empty file")
def _(c: Ctx) -> bytes:
    return b""


@vector("bad-magic", "not_a_bundle", "magic", "magic bytes changed")
def _(c: Ctx) -> bytes:
    return b"HZX" + c.bytes[3:]


@vector("zip-polyglot", "not_a_bundle", "magic", "starts like a zip file")
def _(c: Ctx) -> bytes:
    return b"PK\x03\x04" + c.bytes[4:]


@vector("short-not-magic", "not_a_bundle", "magic", "two bytes that are not the magic's")
def _(c: Ctx) -> bytes:
    return b"HX"


@vector("short-magic-prefix", "truncated", "prefix-size",
        "the first two bytes of the magic and nothing else")
def _(c: Ctx) -> bytes:
    return b"HZ"


@vector("truncated-prefix", "truncated", "prefix-size", "cut inside the fixed prefix")
def _(c: Ctx) -> bytes:
    return c.bytes[:10]


@vector("future-major", "unsupported_version", "major-version", "major version 2")
def _(c: Ctx) -> bytes:
    return c.bytes[:4] + struct.pack("<H", 2) + c.bytes[6:]


@vector("major-zero", "unsupported_version", "major-version", "major version 0")
def _(c: Ctx) -> bytes:
    return c.bytes[:4] + struct.pack("<H", 0) + c.bytes[6:]


@vector("header-length-zero", "malformed_header", "region-lengths", "H = 0")
def _(c: Ctx) -> bytes:
    return assemble(b"", c.payload, c.golden)


@vector("header-length-max", "limit_exceeded", "region-lengths", "H = 2^64-1")
def _(c: Ctx) -> bytes:
    return c.bytes[:8] + struct.pack("<Q", 2**64 - 1) + c.bytes[16:]


@vector("payload-length-zero", "malformed_payload", "region-lengths", "P = 0")
def _(c: Ctx) -> bytes:
    return assemble(pack_canonical(c.header()), b"", c.golden)


@vector("payload-length-over-limit", "limit_exceeded", "region-lengths",
        "P = 65 MiB + 1, above the limit")
def _(c: Ctx) -> bytes:
    return c.bytes[:16] + struct.pack("<Q", 65 * 2**20 + 1) + c.bytes[24:]


@vector("truncated-header", "truncated", "file-length", "cut inside the header")
def _(c: Ctx) -> bytes:
    return c.bytes[:24 + c.header_length // 2]


@vector("truncated-payload", "truncated", "file-length", "cut inside the payload")
def _(c: Ctx) -> bytes:
    return c.bytes[:24 + c.header_length + len(c.payload) // 2]


@vector("truncated-signature", "truncated", "file-length",
        "last byte of the signature missing")
def _(c: Ctx) -> bytes:
    return c.bytes[:-1]


@vector("trailing-bytes", "length_mismatch", "file-length", "one byte after the signature")
def _(c: Ctx) -> bytes:
    return c.bytes + b"\x00"


# --- 5: the signature (section 2) --------------------------------------------

def _unsigned(c: Ctx) -> bytes:
    return kinds_bundle().to_unsigned_bytes()


@vector("unsigned", "unsigned", "sig-unsigned", "no signature at all")
def _(c: Ctx) -> bytes:
    return _unsigned(c)


@vector("unsigned-skipped", "ok", "sig-unsigned",
        "an unsigned bundle read with verification skipped", skip_verify=True,
        file="malformed/unsigned.hzg")
def _(c: Ctx) -> bytes:
    return _unsigned(c)


@vector("unsigned-with-signature", "bad_signature", "sig-unsigned-zero",
        "an all-zero key id beside non-zero signature bytes, even when skipping",
        skip_verify=True)
def _(c: Ctx) -> bytes:
    data = _unsigned(c)
    return data[:-1] + b"\x01"


@vector("untrusted-signer", "untrusted_signer", "sig-untrusted",
        "validly signed by a key that is not trusted")
def _(c: Ctx) -> bytes:
    return kinds_bundle().to_bytes(c.other)


@vector("untrusted-skipped", "ok", "sig-untrusted",
        "an untrusted signer read with verification skipped", skip_verify=True,
        file="malformed/untrusted-signer.hzg")
def _(c: Ctx) -> bytes:
    return kinds_bundle().to_bytes(c.other)


@vector("key-id-tampered", "untrusted_signer", "sig-untrusted",
        "the signature block names a key nobody trusts")
def _(c: Ctx) -> bytes:
    return c.flip(c.bytes, len(c.bytes) - layout.SIGNATURE_SIZE - 3)


@vector("header-tampered", "bad_signature", "sig-verify", "one header bit flipped")
def _(c: Ctx) -> bytes:
    return c.flip(c.bytes, 24 + 40)


@vector("payload-tampered", "bad_signature", "sig-verify", "one payload bit flipped")
def _(c: Ctx) -> bytes:
    return c.flip(c.bytes, 24 + c.header_length + 20)


@vector("signature-tampered", "bad_signature", "sig-verify", "one signature bit flipped")
def _(c: Ctx) -> bytes:
    return c.flip(c.bytes, len(c.bytes) - layout.SIGNATURE_SIZE + 5)


@vector("signature-zero", "bad_signature", "sig-verify",
        "a trusted key id with 64 zero signature bytes")
def _(c: Ctx) -> bytes:
    return c.bytes[:-layout.SIGNATURE_SIZE] + bytes(layout.SIGNATURE_SIZE)


@vector("version-downgrade", "bad_signature", "sig-verify",
        "the minor version changed after signing")
def _(c: Ctx) -> bytes:
    return c.bytes[:6] + struct.pack("<H", 0) + c.bytes[8:]


@vector("tampered-skipped", "ok", "sig-verify",
        "a bad signature by a trusted key, read with verification skipped",
        skip_verify=True, file="malformed/signature-tampered.hzg")
def _(c: Ctx) -> bytes:
    return c.flip(c.bytes, len(c.bytes) - layout.SIGNATURE_SIZE + 5)


@vector("key-id-of-pem", "untrusted_signer", "trust-key-id",
        "a key id taken from the PEM file instead of the raw key: no trusted key has it")
def _(c: Ctx) -> bytes:
    pem = c.golden.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    wrong = hashlib.sha256(pem).digest()[:16]
    h = c.header()
    h["signer"]["key_id"] = wrong.hex()
    signed = c.sign(h)[:-layout.SIGNATURE_BLOCK_SIZE]
    return signed + wrong + c.golden.sign(layout.SIGNATURE_CONTEXT + signed)


# --- the order of the steps (section 3) --------------------------------------

@vector("order-unsigned-before-header", "unsigned", "step-order",
        "unsigned and with a header that is not msgpack: the signature step comes first")
def _(c: Ctx) -> bytes:
    return assemble(b"\xc1" * 16, c.payload, None)


@vector("order-signature-before-bomb", "bad_signature", "step-order",
        "a 2 GiB zstd bomb under a bad signature: refused before any decompression")
def _(c: Ctx) -> bytes:
    data = c.sign(c.header(), frame=(zeros_frame(2 * 2**30), 2 * 2**30))
    return c.flip(data, len(data) - 1)


@vector("order-expiry-before-content", "expired", "step-order",
        "expired and with a malformed column: expiry (step 9) comes before content")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["expires_at"] = CREATED_AT + 3600
    c.column(h, "vip")["kind"] = "text"
    return c.sign(h)


@vector("order-cost-before-schema", "limit_exceeded", "step-order",
        "a hidden layer above the limit and a malformed column: cost limits come first")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["hidden"] = [65_536]
    c.column(h, "vip")["kind"] = "text"
    return c.sign(h)


@vector("order-content-before-payload", "malformed_header", "step-order",
        "a malformed column and a payload that is not zstd: content comes first")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["kind"] = "text"
    return c.sign(h, frame=(b"\x00" * 64, 64))


# --- 6: canonical msgpack (section 4) ---------------------------------------

@vector("header-not-a-map", "malformed_header", "mp-one-map", "the header is an array")
def _(c: Ctx) -> bytes:
    return c.raw_header(_packed([1, 2, 3]))


@vector("header-trailing-value", "malformed_header", "mp-one-map",
        "a second value after the header map")
def _(c: Ctx) -> bytes:
    return c.raw_header(pack_canonical(c.header()) + b"\x00")


@vector("header-truncated-value", "malformed_header", "mp-syntax",
        "the header region ends inside a string")
def _(c: Ctx) -> bytes:
    return c.raw_header(b"\x81\xa4name\xa5abc")


@vector("header-reserved-byte", "malformed_header", "mp-syntax",
        "the unused msgpack byte 0xc1")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xc1")


@vector("header-float32", "malformed_header", "mp-syntax", "a float32 value")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xca" + struct.pack(">f", 1.5))


@vector("header-ext-type", "malformed_header", "mp-no-ext", "a msgpack ext type")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xc7\x03\x01ABC")


@vector("header-timestamp", "malformed_header", "mp-no-ext",
        "the msgpack timestamp (ext type -1)")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xd6\xff" + struct.pack(">I", 1_700_000_000))


@vector("header-bin", "malformed_header", "mp-no-bin", "a bin value in the header")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xc4\x02ab")


@vector("header-long-int", "malformed_header", "mp-int-form",
        "the integer 5 written as uint8")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xcc\x05")


@vector("header-signed-positive", "malformed_header", "mp-int-form",
        "a non-negative integer written as int8")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xd0\x05")


@vector("header-nan", "malformed_header", "mp-float", "a NaN float64")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xcb" + struct.pack(">d", float("nan")))


@vector("header-infinity", "malformed_header", "mp-float", "an infinite float64")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xcb" + struct.pack(">d", float("inf")))


@vector("header-long-length", "malformed_header", "mp-len-form",
        "a 3-byte string with a str8 header")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xd9\x03abc")


@vector("header-long-array-length", "malformed_header", "mp-len-form",
        "a 2-entry array with an array16 header")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xdc\x00\x02\x01\x02")


@vector("header-bad-utf8", "malformed_header", "mp-utf8", "a string that is not UTF-8")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xa2\xc3\x28")


@vector("header-surrogate", "malformed_header", "mp-utf8",
        "a string holding an encoded surrogate (ED A0 80)")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xa3\xed\xa0\x80")


@vector("header-newline", "malformed_header", "mp-control",
        "a newline in the generator name (a forged second line)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["name"] = "kinds\nverified: signed by acme-bank"
    return c.sign(h)


@vector("header-escape", "malformed_header", "mp-control",
        "an ANSI escape sequence in a category")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "color")["categories"][0] = "\x1b[2Kred"
    return c.sign(h)


@vector("header-c1-control", "malformed_header", "mp-control",
        "the C1 control U+009B (CSI) in a column name")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["name"] = "vip\u009b"
    return c.sign(h)


@vector("header-control-key", "malformed_header", "mp-control",
        "a tab in a map key (provenance)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["provenance"]["a\tb"] = "x"
    return c.sign(h)


@vector("header-duplicate-key", "malformed_header", "mp-keys", "the key 'signer' twice")
def _(c: Ctx) -> bytes:
    encoded = bytearray(pack_canonical(c.header()))
    encoded[0] += 1  # one more map entry ...
    encoded += pack_canonical({"signer": None})[1:]  # ... repeating the key 'signer'
    return c.raw_header(bytes(encoded))


@vector("header-unsorted-keys", "malformed_header", "mp-keys",
        "map keys not in canonical order")
def _(c: Ctx) -> bytes:
    return c.raw_header(msgpack.packb(dict(reversed(list(c.header().items())))))


@vector("header-integer-key", "malformed_header", "mp-keys", "a map key that is an integer")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\x81\x01\x02")


@vector("header-string-too-long", "limit_exceeded", "mp-limit-string",
        "a string of 65,537 bytes")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["provenance"]["x"] = "y" * 65_537
    return c.sign(h)


@vector("header-string-at-limit", "ok", "mp-limit-string",
        "a string of exactly 65,536 bytes")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["provenance"]["x"] = "y" * 65_536
    return c.sign(h)


@vector("header-array32-bomb", "limit_exceeded", "mp-limit-entries",
        "an array announcing 2^32-1 entries in 8 bytes")
def _(c: Ctx) -> bytes:
    return c.raw_header(b"\x81\xa1a\xdd\xff\xff\xff\xff")


@vector("header-map-over-entries", "limit_exceeded", "mp-limit-entries",
        "a map announcing 1,048,577 entries")
def _(c: Ctx) -> bytes:
    return _header_with_raw_value(c, b"\xdf" + struct.pack(">I", 1_048_577))


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@vector("header-deep-nesting", "limit_exceeded", "mp-limit-depth",
        "an array at depth 33 (the top-level map is depth 1)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["provenance"]["x"] = _nested(31)  # map 1, provenance 2, arrays 3..33
    return c.sign(h)


@vector("header-depth-32", "ok", "mp-limit-depth", "arrays nested to depth 32 exactly")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["provenance"]["x"] = _nested(30)
    return c.sign(h)


@vector("header-too-many-values", "limit_exceeded", "mp-limit-values",
        "1,048,577 values in a 1 MiB header (two arrays of 524,288 zeros)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["provenance"]["x"] = [0] * 524_288
    h["provenance"]["y"] = [0] * 524_288
    return c.sign(h)


# --- 7-9: header schema, signer, expiry (section 5) --------------------------

@vector("header-unknown-key", "malformed_header", "minor-strict",
        "an unknown top-level key in a bundle of this minor version")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["future_field"] = "x"
    return c.sign(h)


@vector("header-missing-key", "malformed_header", "hdr-keys", "no 'provenance' key")
def _(c: Ctx) -> bytes:
    h = c.header()
    del h["provenance"]
    return c.sign(h)


@vector("header-section-not-a-map", "malformed_header", "hdr-keys",
        "'schema' is a string")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["schema"] = "columns"
    return c.sign(h)


@vector("generator-bad-id", "malformed_header", "hdr-generator",
        "a generator id in uppercase hex")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["id"] = h["generator"]["id"].upper()
    return c.sign(h)


@vector("generator-version-zero", "malformed_header", "hdr-generator", "version 0")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["version"] = 0
    return c.sign(h)


@vector("generator-version-float", "malformed_header", "hdr-generator",
        "version 3.0, a float where an integer is required")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["version"] = 3.0
    return c.sign(h)


@vector("generator-created-max", "malformed_header", "hdr-generator",
        "created_at 2^63-1, beyond year 9999")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["created_at"] = 2**63 - 1
    return c.sign(h)


@vector("generator-name-empty", "malformed_header", "hdr-generator", "an empty name")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["name"] = ""
    return c.sign(h)


@vector("generator-owner-257", "malformed_header", "hdr-generator",
        "an owner of 257 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["owner"] = "é" * 257
    return c.sign(h)


@vector("payload-bad-codec", "malformed_header", "hdr-payload", "codec 'gzip'")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["payload"]["codec"] = "gzip"
    return c.sign(h)


@vector("payload-sha-uppercase", "malformed_header", "hdr-payload",
        "the payload digest in uppercase hex")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["payload"]["sha256"] = h["payload"]["sha256"].upper()
    return c.sign(h, fix_payload=False)


@vector("signer-bad-key-id", "malformed_header", "hdr-signer",
        "a signer key id of 31 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["signer"]["key_id"] = h["signer"]["key_id"][:31]
    return assemble(pack_canonical(h), c.payload, c.golden)


@vector("extensions-not-string", "malformed_header", "hdr-extensions",
        "an extension whose value is an integer")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["extensions"] = {"purpose": 7}
    return c.sign(h)


@vector("extensions-bad-key", "malformed_header", "hdr-extensions",
        "an extension key with a space")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["extensions"] = {"my key": "x"}
    return c.sign(h)


SOURCE_STATISTICS = {
    "computed_at": CREATED_AT + 3600,
    "dp": False,
    "evaluator": "hzg evaluate 0.1.0",
    "metrics": {"tvd_1way_mean": 0.019, "tvd_2way_mean": 0.051, "mia_auc": 0.501,
                "target.synthetic_score": 0.89, "singling_out.risk": None},
    "notice": "NOT differentially private: computed by the owner on the real source rows; "
              "the privacy statement does not cover these figures.",
}


def _with_statistics(c: Ctx, **changes: Any) -> bytes:
    h = c.header()
    h["source_statistics"] = dict(copy.deepcopy(SOURCE_STATISTICS), **changes)
    return c.sign(h)


@vector("source-statistics", "ok", "hdr-source-statistics",
        "the kinds bundle with a section of non-DP statistics of the source")
def _(c: Ctx) -> bytes:
    return _with_statistics(c)


@vector("source-statistics-claims-dp", "malformed_header", "hdr-source-statistics",
        "a section of non-DP statistics that says dp: true")
def _(c: Ctx) -> bytes:
    return _with_statistics(c, dp=True)


@vector("source-statistics-bad-metric", "malformed_header", "hdr-source-statistics",
        "a metric whose value is a string")
def _(c: Ctx) -> bytes:
    return _with_statistics(c, metrics={"mia_auc": "0.5"})


@vector("source-statistics-too-many", "malformed_header", "hdr-source-statistics",
        "65 metrics, one more than the limit")
def _(c: Ctx) -> bytes:
    return _with_statistics(c, metrics={f"m{i}": 0.5 for i in range(65)})


@vector("source-statistics-no-notice", "malformed_header", "hdr-source-statistics",
        "a notice of spaces only")
def _(c: Ctx) -> bytes:
    return _with_statistics(c, notice=" ")


@vector("model-family-bad-form", "malformed_header", "hdr-model",
        "a family name with an uppercase letter")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["family"] = "MADE"
    return c.sign(h)


@vector("signer-mismatch", "malformed_header", "signer-match",
        "the header names another key than the signature block")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["signer"]["key_id"] = c.other.key_id
    return assemble(pack_canonical(h), c.payload, c.golden)


@vector("signer-missing", "malformed_header", "signer-match",
        "a signed bundle whose header signer is nil")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["signer"] = None
    return c.sign(h)


@vector("expired", "expired", "expiry", "expired an hour after creation, before now")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["expires_at"] = CREATED_AT + 3600
    return c.sign(h)


@vector("expiry-within-skew", "ok", "expiry", "expired 200 s before now (skew is 300 s)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["generator"]["expires_at"] = NOW - 200
    return c.sign(h)


# --- 10: cost limits (section 10.2) -----------------------------------------

def _dummy_frame() -> tuple[bytes, int]:
    return zeros_frame(64), 64  # never read: step 10 refuses first


@vector("cost-columns", "limit_exceeded", "limit-columns", "1,025 columns")
def _(c: Ctx) -> bytes:
    h = c.header()
    vip = c.column(h, "vip")
    h["schema"]["columns"] += [dict(vip, name=f"extra{i}") for i in range(1020)]
    h["model"]["config"]["token_counts"] += [2] * 1020
    return c.sign(h, frame=_dummy_frame())


@vector("cost-categories", "limit_exceeded", "limit-categories",
        "a column of 16,385 categories")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "color")["categories"] = [f"v{i}" for i in range(16_385)]
    return c.sign(h, frame=_dummy_frame())


@vector("cost-cells", "limit_exceeded", "limit-cells", "a grid of 65,537 cells")
def _(c: Ctx) -> bytes:
    h = c.header()
    age = c.column(h, "age")
    age["cell_edges"] = list(range(65_538))
    age["cell_weights"] = [1] * 65_537
    return c.sign(h, frame=_dummy_frame())


@vector("cost-tokens", "limit_exceeded", "limit-tokens",
        "token counts adding up to 16,385")
def _(c: Ctx) -> bytes:
    h = c.header()
    counts = h["model"]["config"]["token_counts"]
    counts[0] += 16_385 - sum(counts)
    return c.sign(h, frame=_dummy_frame())


@vector("cost-hidden-layers", "limit_exceeded", "limit-hidden", "nine hidden layers")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["hidden"] = [8] * 9
    return c.sign(h, frame=_dummy_frame())


@vector("cost-hidden-width", "limit_exceeded", "limit-hidden",
        "a hidden layer of 65,536 units in a 1 KB file")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["hidden"] = [65_536]
    return c.sign(h, frame=_dummy_frame())


@vector("cost-tensor-bytes", "limit_exceeded", "limit-tensor-bytes",
        "hidden layers of 16,384 and 1,024 units: 68 MB of float32 tensors")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["hidden"] = [1_024, 16_384]
    return c.sign(h, frame=_dummy_frame())


# --- 10: column schema (section 6) ------------------------------------------

@vector("schema-no-columns", "malformed_header", "schema-keys", "an empty column list")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["schema"]["columns"] = []
    return c.sign(h)


@vector("schema-duplicate-names", "malformed_header", "schema-keys",
        "two columns named 'age'")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["name"] = "age"
    return c.sign(h)


@vector("schema-only-ids", "malformed_header", "schema-keys", "no modelled column")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["schema"]["columns"] = [c.column(h, "customer")]
    return c.sign(h)


@vector("schema-rows-negative", "malformed_header", "schema-keys", "rows = -1")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["schema"]["rows"] = -1
    return c.sign(h)


@vector("column-name-257", "malformed_header", "column-common",
        "a column name of 257 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["name"] = "v" * 257
    return c.sign(h)


@vector("column-name-256", "ok", "column-common", "a column name of 256 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["name"] = "v" * 256
    return c.sign(h)


@vector("column-bad-kind", "malformed_header", "column-common", "kind 'text'")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["kind"] = "text"
    return c.sign(h)


@vector("column-bad-value-type", "malformed_header", "column-common",
        "a numeric column of value type 'string'")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["value_type"] = "string"
    return c.sign(h)


@vector("column-bad-metadata", "malformed_header", "column-common", "metadata 'secret'")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["metadata"] = "secret"
    return c.sign(h)


@vector("column-unknown-key", "malformed_header", "minor-strict",
        "an unknown column key in a bundle of this minor version")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["future"] = 1
    return c.sign(h)


@vector("column-no-tokens", "malformed_header", "column-tokens",
        "a categorical column without categories, rare or null token")
def _(c: Ctx) -> bytes:
    h = c.header()
    vip = c.column(h, "vip")
    vip["categories"] = []
    h["model"]["config"]["token_counts"][-1] = 0
    return c.sign(h)


@vector("categorical-duplicate", "malformed_header", "column-categorical",
        "a category listed twice")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "color")["categories"][1] = "red"
    return c.sign(h)


@vector("categorical-wrong-type", "malformed_header", "column-categorical",
        "an integer among string categories")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "color")["categories"][1] = 7
    return c.sign(h)


@vector("categorical-integer-2^63", "malformed_header", "column-categorical",
        "an integer category of 2^63, beyond int64")
def _(c: Ctx) -> bytes:
    h = c.header()
    vip = c.column(h, "vip")
    vip["value_type"] = "integer"
    vip["categories"] = [0, 2**63]
    return c.sign(h)


@vector("categorical-integer-as-float", "malformed_header", "column-categorical",
        "an integer category written as the float 1.0")
def _(c: Ctx) -> bytes:
    h = c.header()
    vip = c.column(h, "vip")
    vip["value_type"] = "integer"
    vip["categories"] = [0, 1.0]
    return c.sign(h)


@vector("categorical-integer-int64", "ok", "column-categorical",
        "integer categories at both ends of int64")
def _(c: Ctx) -> bytes:
    h = c.header()
    vip = c.column(h, "vip")
    vip["value_type"] = "integer"
    vip["categories"] = [-(2**63), 2**63 - 1]
    return c.sign(h)


@vector("categorical-label-1025", "malformed_header", "column-categorical",
        "a category of 1,025 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "color")["categories"][0] = "r" * 1_025
    return c.sign(h)


@vector("categorical-rare-on-boolean", "malformed_header", "column-categorical",
        "a rare label on a boolean column")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["rare_label"] = "(rare)"
    h["model"]["config"]["token_counts"][-1] = 3
    return c.sign(h)


@vector("numeric-decimals-16", "malformed_header", "column-numeric", "decimals = 16")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "income")["decimals"] = 16
    return c.sign(h)


@vector("numeric-integer-decimals", "malformed_header", "column-numeric",
        "an integer column with decimals = 1")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["decimals"] = 1
    return c.sign(h)


@vector("numeric-fractional-edge", "malformed_header", "column-numeric",
        "an integer column with the edge 30.5")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["cell_edges"][1] = 30.5
    return c.sign(h)


@vector("numeric-integral-float-edges", "ok", "column-numeric",
        "an integer column whose edges are integral floats and integers")
def _(c: Ctx) -> bytes:
    h = c.header()
    age = c.column(h, "age")
    age["cell_edges"] = [17, 30.0, 40, 41.0, 91]
    return c.sign(h)


@vector("numeric-edge-beyond-2^53", "malformed_header", "column-numeric",
        "an integer column with the edge 2^60")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["cell_edges"][-1] = 2**60
    return c.sign(h)


@vector("numeric-float-ticks-overflow", "malformed_header", "column-numeric",
        "a float column (2 decimals) with the edge 1e300")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "income")["cell_edges"][-1] = 1e300
    return c.sign(h)


@vector("datetime-past-9999", "malformed_header", "column-datetime",
        "a date edge in the year 10183")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "joined")["cell_edges"][-1] = 3_000_000
    return c.sign(h)


@vector("datetime-last-day", "ok", "column-datetime",
        "a date grid ending at 10000-01-01, the last allowed edge")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "joined")["cell_edges"][-1] = 2_932_897
    return c.sign(h)


@vector("datetime-bad-unit", "malformed_header", "column-datetime", "unit 'week'")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "joined")["unit"] = "week"
    return c.sign(h)


@vector("datetime-format-65", "malformed_header", "column-datetime",
        "a format of 65 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "joined")["format"] = "%Y" + "-" * 63
    return c.sign(h)


def _zoned(c: Ctx, zone: Any, unit: str = "s") -> bytes:
    h = c.header()
    joined = c.column(h, "joined")
    joined["unit"] = unit
    joined["timezone"] = zone
    return c.sign(h)


@vector("datetime-timezone", "ok", "column-timezone",
        "instants counted in seconds, shown in Europe/Paris")
def _(c: Ctx) -> bytes:
    return _zoned(c, "Europe/Paris")


@vector("datetime-timezone-offset", "ok", "column-timezone",
        "instants shown at the fixed offset -03:30")
def _(c: Ctx) -> bytes:
    return _zoned(c, "-03:30")


@vector("datetime-timezone-days", "malformed_header", "column-timezone",
        "a time zone on a column counted in days")
def _(c: Ctx) -> bytes:
    return _zoned(c, "UTC", unit="D")


@vector("datetime-timezone-bad-offset", "malformed_header", "column-timezone",
        "the offset +24:00")
def _(c: Ctx) -> bytes:
    return _zoned(c, "+24:00")


@vector("datetime-timezone-bad-name", "malformed_header", "column-timezone",
        "a zone name with an empty part")
def _(c: Ctx) -> bytes:
    return _zoned(c, "Europe//Paris")


@vector("datetime-timezone-nil", "malformed_header", "column-timezone",
        "a time zone that is nil")
def _(c: Ctx) -> bytes:
    return _zoned(c, None)


@vector("timezone-on-numeric", "malformed_header", "column-timezone",
        "a time zone on a numeric column")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["timezone"] = "UTC"
    return c.sign(h)


def _filled(c: Ctx, filler: Any, column: str = "color", rare: Any = ...) -> bytes:
    h = c.header()
    target = c.column(h, column)
    target["filler"] = filler
    if rare is not ...:
        target["rare_label"] = rare
    return c.sign(h)


@vector("text-filler", "ok", "column-filler",
        "a text column: the rare token decodes to fillers such as 'text-qzkw'")
def _(c: Ctx) -> bytes:
    return _filled(c, "te\\xt-aaaa")


@vector("text-filler-128-escaped", "ok", "column-filler",
        "a filler of 128 units written in 256 characters (all escaped)")
def _(c: Ctx) -> bytes:
    return _filled(c, "\\a" * 128)


@vector("text-filler-129", "malformed_header", "column-filler",
        "a filler of 129 units: a reader must bound what one row can hold")
def _(c: Ctx) -> bytes:
    return _filled(c, "a" * 129)


@vector("text-filler-empty", "malformed_header", "column-filler", "an empty filler")
def _(c: Ctx) -> bytes:
    return _filled(c, "")


@vector("text-filler-lone-backslash", "malformed_header", "column-filler",
        "a filler ending with a lone backslash")
def _(c: Ctx) -> bytes:
    return _filled(c, "Aa\\")


@vector("text-filler-nil", "malformed_header", "column-filler", "a filler that is nil")
def _(c: Ctx) -> bytes:
    return _filled(c, None)


@vector("text-filler-not-string", "malformed_header", "column-filler",
        "a filler that is an integer")
def _(c: Ctx) -> bytes:
    return _filled(c, 7)


@vector("text-filler-without-rare", "malformed_header", "column-filler",
        "a filler on a string column without a rare token")
def _(c: Ctx) -> bytes:
    return _filled(c, "aaaa", rare=None)


@vector("text-filler-on-boolean", "malformed_header", "column-filler",
        "a filler on a boolean column (no rare token)")
def _(c: Ctx) -> bytes:
    return _filled(c, "aaaa", column="vip")


@vector("filler-on-id", "malformed_header", "column-filler",
        "a filler on an id column")
def _(c: Ctx) -> bytes:
    return _filled(c, "aaaa", column="customer")


@vector("id-pattern-129", "malformed_header", "column-id",
        "an id pattern of 129 units")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "customer")["pattern"] = "9" * 129
    return c.sign(h)


@vector("id-pattern-128-escaped", "ok", "column-id",
        "an id pattern of 128 units written in 256 characters (all escaped)")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "customer")["pattern"] = "\\9" * 128
    return c.sign(h)


@vector("id-pattern-lone-backslash", "malformed_header", "column-id",
        "an id pattern ending with a lone backslash")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "customer")["pattern"] = "C-99\\"
    return c.sign(h)


@vector("id-nullable", "malformed_header", "column-id", "a nullable id column")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "customer")["nullable"] = True
    return c.sign(h)


@vector("id-sequence-with-pattern", "malformed_header", "column-id",
        "a sequence id with a pattern")
def _(c: Ctx) -> bytes:
    h = c.header()
    customer = c.column(h, "customer")
    customer["style"], customer["value_type"] = "sequence", "integer"
    return c.sign(h)


@vector("grid-not-increasing", "malformed_header", "column-grid",
        "two equal cell edges")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["cell_edges"][2] = 30.0
    return c.sign(h)


@vector("grid-negative-weight", "malformed_header", "column-grid", "a weight of -1")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["cell_weights"][0] = -1.0
    return c.sign(h)


@vector("grid-weight-1e308", "malformed_header", "column-grid",
        "a weight of 1e308, above 2^53")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["cell_weights"][0] = 1e308
    return c.sign(h)


@vector("grid-weight-count", "malformed_header", "column-grid",
        "one weight fewer than cells")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["cell_weights"].pop()
    return c.sign(h)


@vector("grid-bin-starts-not-zero", "malformed_header", "column-grid",
        "bin starts beginning at cell 1")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "age")["bin_starts"] = [1, 2, 3]
    return c.sign(h)


# --- 10: privacy statement (section 7) --------------------------------------

@vector("privacy-bad-accountant", "malformed_header", "privacy-keys",
        "accountant 'trust-me'")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["accountant"] = "trust-me"
    return c.sign(h)


@vector("privacy-epsilon-integer", "malformed_header", "privacy-keys",
        "epsilon written as the integer 1")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["epsilon"] = 1
    h["privacy"]["phases"][0]["epsilon"] = 1
    return c.sign(h)


@vector("privacy-bad-unit", "malformed_header", "privacy-keys", "privacy unit 'subject'")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["unit"] = "subject"
    return c.sign(h)


@vector("privacy-bad-relation", "malformed_header", "privacy-keys",
        "neighbouring relation 'replace_one'")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["neighboring"] = "replace_one"
    return c.sign(h)


@vector("privacy-phase-name-65", "malformed_header", "privacy-keys",
        "a phase name of 65 characters")
def _(c: Ctx) -> bytes:
    h = c.header()
    name = "p" * 65
    h["privacy"]["phases"][0]["name"] = name
    for mechanism in h["privacy"]["mechanisms"]:
        mechanism["phase"] = name
    return c.sign(h)


def _non_dp(c: Ctx) -> dict[str, Any]:
    h = c.header()
    h["privacy"] = {"accountant": None, "accountant_library": None, "delta": None,
                    "dp": False, "epsilon": None, "mechanisms": [],
                    "neighboring": "add_or_remove_one", "phases": [], "unit": "row"}
    for column in h["schema"]["columns"]:
        column["metadata"] = "exact"
    return h


@vector("non-dp", "ok", "privacy-non-dp", "a bundle trained without DP, marked so")
def _(c: Ctx) -> bytes:
    return c.sign(_non_dp(c))


@vector("non-dp-with-phases", "malformed_header", "privacy-non-dp",
        "dp false with a phase")
def _(c: Ctx) -> bytes:
    h = _non_dp(c)
    h["privacy"]["phases"] = [{"delta": 0.0, "epsilon": 1.0, "name": "main"}]
    return c.sign(h)


@vector("non-dp-with-epsilon", "malformed_header", "privacy-non-dp",
        "dp false with an epsilon")
def _(c: Ctx) -> bytes:
    h = _non_dp(c)
    h["privacy"]["epsilon"] = 1.0
    return c.sign(h)


@vector("non-dp-with-accountant", "malformed_header", "privacy-non-dp",
        "dp false with an accountant")
def _(c: Ctx) -> bytes:
    h = _non_dp(c)
    h["privacy"]["accountant"] = "pld"
    return c.sign(h)


@vector("non-dp-dp-column", "malformed_header", "privacy-non-dp",
        "dp false beside a column marked dp")
def _(c: Ctx) -> bytes:
    h = _non_dp(c)
    c.column(h, "age")["metadata"] = "dp"
    return c.sign(h)


@vector("dp-no-mechanisms", "malformed_header", "privacy-dp", "a DP statement without mechanisms")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["mechanisms"] = []
    for column in h["schema"]["columns"]:
        column["metadata"] = "public"
    return c.sign(h)


@vector("dp-unknown-phase", "malformed_header", "privacy-dp",
        "a mechanism of a phase that is not listed")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["mechanisms"][0]["phase"] = "other"
    return c.sign(h)


@vector("dp-sum-mismatch", "malformed_header", "privacy-dp",
        "phases adding up to epsilon 1.0 under a total of 1.1")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["epsilon"] = 1.1
    return c.sign(h)


@vector("dp-sum-within-tolerance", "ok", "privacy-dp",
        "phases of 0.1 + 0.2 under a total of 0.3 (rounding within 1e-9)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["epsilon"] = 0.3
    h["privacy"]["phases"] = [{"delta": 1e-6, "epsilon": 0.1, "name": "main"},
                              {"delta": 0.0, "epsilon": 0.2, "name": "second"}]
    return c.sign(h)


@vector("dp-exact-column", "malformed_header", "privacy-dp",
        "a DP statement beside a column read exactly from the data")
def _(c: Ctx) -> bytes:
    h = c.header()
    c.column(h, "vip")["metadata"] = "exact"
    return c.sign(h)


@vector("privacy-uncovered-column", "malformed_header", "privacy-dp",
        "a column marked dp that no mechanism accounts for")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["mechanisms"][0]["columns"] = ["color"]
    return c.sign(h)


@vector("dp-delta-one", "malformed_header", "privacy-dp", "delta = 1.0")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["delta"] = 1.0
    h["privacy"]["phases"][0]["delta"] = 1.0
    return c.sign(h)


# --- 10: the model (section 8) ----------------------------------------------

@vector("model-unknown-family", "malformed_header", "model-family",
        "a model family this reader does not implement")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["family"] = "transformer"
    return c.sign(h)


@vector("made-bad-activation", "malformed_header", "made-config", "activation 'tanh'")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["activation"] = "tanh"
    return c.sign(h)


@vector("made-zero-width", "malformed_header", "made-config", "a hidden layer of 0 units")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["hidden"] = [8, 0]
    return c.sign(h)


@vector("made-token-mismatch", "malformed_header", "made-token-counts",
        "token counts that differ from the schema's")
def _(c: Ctx) -> bytes:
    h = c.header()
    counts = h["model"]["config"]["token_counts"]
    counts[0], counts[1] = counts[1], counts[0]
    return c.sign(h)


# --- 11-13: payload digest, size and frame (section 9.1) ---------------------

@vector("payload-digest-mismatch", "digest_mismatch", "payload-digest",
        "a header SHA-256 that does not match the payload")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["payload"]["sha256"] = "0" * 64
    return c.sign(h, fix_payload=False)


@vector("payload-size-mismatch", "digest_mismatch", "payload-digest",
        "compressed_size one more than P")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["payload"]["compressed_size"] += 1
    return c.sign(h, fix_payload=False)


@vector("zstd-bomb", "limit_exceeded", "raw-size-limit",
        "2 GiB of zeros declared (65 KB on disk), above the 64 MiB limit")
def _(c: Ctx) -> bytes:
    return c.sign(c.header(), frame=(zeros_frame(2 * 2**30), 2 * 2**30))


@vector("raw-size-over-limit", "limit_exceeded", "raw-size-limit",
        "raw_size 64 MiB + 1, whatever the frame says")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["payload"]["raw_size"] = 64 * 2**20 + 1
    return c.sign(h)


@vector("payload-not-zstd", "malformed_payload", "zstd-frame", "64 zero bytes")
def _(c: Ctx) -> bytes:
    return c.sign(c.header(), frame=(b"\x00" * 64, 64))


@vector("zstd-skippable-first", "malformed_payload", "zstd-frame",
        "a skippable frame before the zstd frame")
def _(c: Ctx) -> bytes:
    skippable = b"\x50\x2a\x4d\x18" + struct.pack("<I", 4) + b"skip"
    raw_size = c.header()["payload"]["raw_size"]
    return c.sign(c.header(), frame=(skippable + c.payload, raw_size))


@vector("zstd-no-content-size", "malformed_payload", "zstd-content-size",
        "a zstd frame that does not declare its content size")
def _(c: Ctx) -> bytes:
    raw = zstandard.ZstdDecompressor().decompress(c.payload)
    obj = zstandard.ZstdCompressor(level=3, write_content_size=False).compressobj()
    return c.sign(c.header(), frame=(obj.compress(raw) + obj.flush(), len(raw)))


@vector("zstd-bomb-understated", "digest_mismatch", "zstd-size-match",
        "the header says 1000 bytes, the frame says 2 GiB")
def _(c: Ctx) -> bytes:
    return c.sign(c.header(), frame=(zeros_frame(2 * 2**30), 1000))


def _raw_frame(content: bytes, *, window_descriptor: int | None, dict_id: bytes = b"",
               checksum: bool = False) -> bytes:
    """A hand-made zstd frame of raw blocks (RFC 8878), for headers no encoder writes."""
    single = window_descriptor is None
    fcs = struct.pack("<I", len(content))  # Frame_Content_Size_Flag 2: 4 bytes
    flag = 0x80 | (0x20 if single else 0) | (0x04 if checksum else 0) | len(dict_id)
    header = b"\x28\xb5\x2f\xfd" + bytes([flag])
    if not single:
        header += bytes([window_descriptor])
    header += dict_id + fcs
    blocks = b""
    for start in range(0, len(content), 65_536):
        piece = content[start:start + 65_536]
        last = start + 65_536 >= len(content)
        blocks += (len(piece) << 3 | (1 if last else 0)).to_bytes(3, "little") + piece
    tail = b""
    if checksum:
        tail = b"\x00\x00\x00\x00"  # XXH64's low 4 bytes would go here
    return header + blocks + tail


@vector("zstd-window-too-large", "limit_exceeded", "zstd-window",
        "a frame asking for a 128 MiB window")
def _(c: Ctx) -> bytes:
    raw = zstandard.ZstdDecompressor().decompress(c.payload)
    frame = _raw_frame(raw, window_descriptor=17 << 3)  # 2^(10+17) = 128 MiB
    return c.sign(c.header(), frame=(frame, len(raw)))


@vector("zstd-dictionary", "malformed_payload", "zstd-dictionary",
        "a frame that needs dictionary 1")
def _(c: Ctx) -> bytes:
    raw = zstandard.ZstdDecompressor().decompress(c.payload)
    frame = _raw_frame(raw, window_descriptor=None, dict_id=b"\x01")
    return c.sign(c.header(), frame=(frame, len(raw)))


@vector("zstd-raw-blocks", "ok", "zstd-frame",
        "the payload in a hand-made frame of raw blocks, without checksum")
def _(c: Ctx) -> bytes:
    raw = zstandard.ZstdDecompressor().decompress(c.payload)
    return c.sign(c.header(), frame=(_raw_frame(raw, window_descriptor=None), len(raw)))


@vector("zstd-bad-checksum", "malformed_payload", "zstd-decompress",
        "a content checksum that does not match")
def _(c: Ctx) -> bytes:
    raw = zstandard.ZstdDecompressor().decompress(c.payload)
    frame = _raw_frame(raw, window_descriptor=None, checksum=True)
    return c.sign(c.header(), frame=(frame, len(raw)))


@vector("zstd-two-frames", "malformed_payload", "zstd-decompress",
        "a second zstd frame after the first")
def _(c: Ctx) -> bytes:
    raw_size = c.header()["payload"]["raw_size"]
    return c.sign(c.header(), frame=(c.payload + c.payload, raw_size))


@vector("zstd-skippable-after", "malformed_payload", "zstd-decompress",
        "a skippable frame after the zstd frame")
def _(c: Ctx) -> bytes:
    skippable = b"\x50\x2a\x4d\x18" + struct.pack("<I", 4) + b"skip"
    raw_size = c.header()["payload"]["raw_size"]
    return c.sign(c.header(), frame=(c.payload + skippable, raw_size))


@vector("zstd-trailing-byte", "malformed_payload", "zstd-decompress",
        "one byte after the zstd frame")
def _(c: Ctx) -> bytes:
    raw_size = c.header()["payload"]["raw_size"]
    return c.sign(c.header(), frame=(c.payload + b"\x00", raw_size))


# --- 14-15: the payload and the tensors (sections 9.2 and 8) -----------------

@vector("payload-not-canonical", "malformed_payload", "mp-keys",
        "payload map keys out of order")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    raw = msgpack.packb({"tensors": dict(reversed(list(tensors.items())))},
                        use_bin_type=True)
    return c.sign(c.header(), raw=raw)


@vector("payload-control-character", "malformed_payload", "mp-control",
        "a payload string holding a newline")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["dtype"] = "float32\n"
    return c.sign(c.header(), tensors=tensors)


@vector("payload-unknown-key", "malformed_payload", "minor-strict",
        "an unknown payload key in a bundle of this minor version")
def _(c: Ctx) -> bytes:
    raw = pack_canonical({"extra": 1, "tensors": c.tensors()})
    h = c.header()
    return c.sign(h, raw=raw)


@vector("payload-no-tensors", "malformed_payload", "payload-keys",
        "a payload map without 'tensors'")
def _(c: Ctx) -> bytes:
    return c.sign(c.header(), raw=pack_canonical({"weights": c.tensors()}))


@vector("payload-too-many-values", "limit_exceeded", "mp-limit-values",
        "65,537 values in the payload")
def _(c: Ctx) -> bytes:
    raw = pack_canonical({"padding": [0] * 65_536, "tensors": c.tensors()})
    return c.sign(c.header(), raw=raw)


@vector("tensor-too-many", "limit_exceeded", "tensor-limit", "1,025 tensors")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    for i in range(1_025 - len(tensors)):
        tensors[f"pad.{i:04d}"] = {"data": b"", "dtype": "uint8", "shape": [0]}
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-bad-name", "malformed_payload", "tensor-entry",
        "a tensor name starting with '.'")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors[".hidden"] = tensors.pop("out.b")
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-unknown-entry-key", "malformed_payload", "minor-strict",
        "a tensor with a fourth key in a bundle of this minor version")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["order"] = "C"
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-bad-dtype", "malformed_payload", "tensor-dtype",
        "a dtype outside the closed list")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["dtype"] = "complex64"
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-dtype-array", "malformed_payload", "tensor-dtype",
        "a dtype that is an array")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["dtype"] = ["float32"]
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-rank-9", "limit_exceeded", "tensor-shape", "a shape of rank 9")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["shape"] = tensors["out.b"]["shape"] + [1] * 8
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-negative-dim", "malformed_payload", "tensor-shape", "a dimension of -1")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["shape"] = [-1]
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-dim-2^31", "limit_exceeded", "tensor-shape", "a dimension of 2^31")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["shape"] = [2**31]
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-short-data", "malformed_payload", "tensor-data",
        "tensor bytes shorter than its shape needs")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["data"] = tensors["out.b"]["data"][:-4]
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-huge-shape", "malformed_payload", "tensor-data",
        "a shape of 2^93 elements, which overflows 64-bit products")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["shape"] = [2**31 - 1] * 3
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-data-string", "malformed_payload", "tensor-data",
        "tensor data as a string instead of bin")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["data"] = "x" * len(tensors["out.b"]["data"])
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-nan", "malformed_payload", "tensor-values", "NaN weights")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    count = len(tensors["out.b"]["data"]) // 4
    tensors["out.b"]["data"] = np.full(count, np.nan, "<f4").tobytes()
    return c.sign(c.header(), tensors=tensors)


@vector("tensor-bool-byte", "malformed_payload", "tensor-values",
        "a bool tensor holding the byte 2 (newer minor: the tensor is otherwise ignored)")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["extra"] = {"data": b"\x00\x02", "dtype": "bool", "shape": [2]}
    return c.sign(c.header(), tensors=tensors, minor=layout.FORMAT_MINOR + 1)


@vector("tensor-count-mismatch", "malformed_payload", "tensor-count",
        "the header counts one tensor more")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["payload"]["tensor_count"] += 1
    return c.sign(h)


@vector("made-missing-tensor", "malformed_payload", "made-tensors", "no 'direct.w'")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    del tensors["direct.w"]
    return c.sign(c.header(), tensors=tensors)


@vector("made-extra-tensor", "malformed_payload", "minor-strict",
        "a tensor the model does not define, in a bundle of this minor version")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["extra"] = {"data": b"", "dtype": "float32", "shape": [0]}
    return c.sign(c.header(), tensors=tensors)


@vector("made-wrong-dtype", "malformed_payload", "made-tensors", "out.b stored as float64")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    values = np.frombuffer(tensors["out.b"]["data"], "<f4").astype("<f8")
    tensors["out.b"] = {"data": values.tobytes(), "dtype": "float64",
                        "shape": tensors["out.b"]["shape"]}
    return c.sign(c.header(), tensors=tensors)


@vector("made-wrong-shape", "malformed_payload", "made-tensors", "out.b one longer")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    tensors["out.b"]["shape"][0] += 1
    tensors["out.b"]["data"] += b"\x00" * 4
    return c.sign(c.header(), tensors=tensors)


@vector("made-mask-violated", "malformed_payload", "made-masks",
        "a weight where the MADE mask is 0")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    direct = np.frombuffer(tensors["direct.w"]["data"], "<f4").copy()
    direct[0] = 1.0  # column 1 seeing itself breaks the autoregressive mask
    tensors["direct.w"]["data"] = direct.tobytes()
    return c.sign(c.header(), tensors=tensors)


@vector("made-negative-zero-mask", "ok", "made-masks",
        "-0.0 wherever the mask is 0: it counts as zero")
def _(c: Ctx) -> bytes:
    tensors = c.tensors()
    config = MadeConfig.from_plain(c.header()["model"]["config"])
    for name, mask in masks(config).items():
        values = np.frombuffer(tensors[name]["data"], "<f4").reshape(mask.shape).copy()
        values[mask == 0] = -0.0
        tensors[name]["data"] = values.tobytes()
    return c.sign(c.header(), tensors=tensors)


# --- compatibility (section 11) -----------------------------------------------

def _newer(c: Ctx) -> tuple[dict[str, Any], dict[str, Any]]:
    h = c.header()
    h["future_field"] = {"anything": [1, 2, 3]}
    h["generator"]["future_generator_field"] = "ignored"
    c.column(h, "age")["future_column_key"] = True
    h["privacy"]["phases"][0]["future"] = 0
    h["model"]["config"]["future"] = "x"
    tensors = c.tensors()
    tensors["out.b"]["future"] = 1
    tensors["future.w"] = {"data": b"\x01\x02", "dtype": "int8", "shape": [2]}
    return h, tensors


@vector("newer-minor", "ok", "minor-newer-ignored",
        "a 1.2 bundle with keys and a tensor 1.1 does not know")
def _(c: Ctx) -> bytes:
    h, tensors = _newer(c)
    raw = pack_canonical({"future": 1, "tensors": tensors})
    h["payload"]["tensor_count"] = len(tensors)
    return c.sign(h, raw=raw, minor=layout.FORMAT_MINOR + 1)


@vector("newer-minor-unknown-unit", "malformed_header", "privacy-keys",
        "a 1.2 bundle with a privacy unit 1.1 does not know (closed lists stay closed)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["privacy"]["unit"] = "subject"
    return c.sign(h, minor=layout.FORMAT_MINOR + 1)


@vector("newer-minor-over-limit", "limit_exceeded", "limit-hidden",
        "a 1.2 bundle above a 1.1 limit (limits are the same for every minor)")
def _(c: Ctx) -> bytes:
    h = c.header()
    h["model"]["config"]["hidden"] = [65_536]
    return c.sign(h, frame=_dummy_frame(), minor=layout.FORMAT_MINOR + 1)


@vector("minor-zero", "ok", "minor-any", "the kinds bundle as a 1.0 file")
def _(c: Ctx) -> bytes:
    return c.sign(c.header(), minor=0)


# --- the annotated dump in HZG.md -------------------------------------------


def _hex_lines(offset: int, chunk: bytes, note: str, indent: int) -> list[str]:
    lines = []
    for i in range(0, max(len(chunk), 1), 12):
        piece = " ".join(f"{b:02x}" for b in chunk[i:i + 12])
        text = ("  " * indent + note) if i == 0 else ""
        lines.append(f"{offset + i:06x}  {piece:<36}  {text}".rstrip())
    return lines


def annotate_msgpack(data: bytes, base: int, indent: int = 0) -> list[str]:
    """Annotate one canonical msgpack value per line (the subset HZG uses)."""
    lines: list[str] = []

    def walk(pos: int, depth: int, label: str) -> int:
        tag = data[pos]
        if tag <= 0x7F or tag >= 0xE0 or tag in (0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xD1,
                                                   0xD2, 0xD3):
            size = {0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5,
                    0xD3: 9}.get(tag, 1)
            value = msgpack.unpackb(data[pos:pos + size])
            lines.extend(_hex_lines(base + pos, data[pos:pos + size],
                                    f"{label}int {value}", depth))
            return pos + size
        if tag in (0xC0, 0xC2, 0xC3):
            name = {0xC0: "nil", 0xC2: "false", 0xC3: "true"}[tag]
            lines.extend(_hex_lines(base + pos, data[pos:pos + 1], f"{label}{name}", depth))
            return pos + 1
        if tag == 0xCB:
            value = struct.unpack(">d", data[pos + 1:pos + 9])[0]
            lines.extend(_hex_lines(base + pos, data[pos:pos + 9],
                                    f"{label}float64 {value!r}", depth))
            return pos + 9
        if 0xA0 <= tag <= 0xBF or tag in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
            if 0xA0 <= tag <= 0xBF:
                head, length = 1, tag & 0x1F
            else:
                head = {0xD9: 2, 0xC4: 2, 0xDA: 3, 0xC5: 3, 0xDB: 5, 0xC6: 5}[tag]
                length = int.from_bytes(data[pos + 1:pos + head], "big")
            body = data[pos + head:pos + head + length]
            shown = f'"{body.decode()}"' if tag not in (0xC4, 0xC5, 0xC6) \
                else f"bin, {length} bytes"
            lines.extend(_hex_lines(base + pos, data[pos:pos + head + length],
                                    f"{label}{shown}", depth))
            return pos + head + length
        if 0x80 <= tag <= 0x8F or 0x90 <= tag <= 0x9F or tag in (0xDC, 0xDD, 0xDE, 0xDF):
            is_map = 0x80 <= tag <= 0x8F or tag in (0xDE, 0xDF)
            if tag <= 0x9F:
                head, count = 1, tag & 0x0F
            else:
                head = 3 if tag in (0xDC, 0xDE) else 5
                count = int.from_bytes(data[pos + 1:pos + head], "big")
            kind = "map" if is_map else "array"
            lines.extend(_hex_lines(base + pos, data[pos:pos + head],
                                    f"{label}{kind} of {count}", depth))
            pos += head
            for _ in range(count):
                if is_map:
                    key_end = pos + 1 + (data[pos] & 0x1F)
                    key = data[pos + 1:key_end].decode()
                    lines.extend(_hex_lines(base + pos, data[pos:key_end], f"{key}:", depth + 1))
                    pos = walk(key_end, depth + 2, "")
                else:
                    pos = walk(pos, depth + 1, "")
            return pos
        raise ValueError(f"tag {tag:#x} not used by HZG")

    end = walk(0, indent, "")
    assert end == len(data)
    return lines


def annotated_dump(data: bytes) -> str:
    major, minor, h_len, p_len = struct.unpack_from("<HHQQ", data, 4)
    lines = _hex_lines(0, data[0:4], 'magic "HZG\\0"', 0)
    lines += _hex_lines(4, data[4:6], f"major version {major} (u16 LE)", 0)
    lines += _hex_lines(6, data[6:8], f"minor version {minor} (u16 LE)", 0)
    lines += _hex_lines(8, data[8:16], f"header length H = {h_len} (u64 LE)", 0)
    lines += _hex_lines(16, data[16:24], f"payload length P = {p_len} (u64 LE)", 0)
    lines.append("        --- header: canonical msgpack, H bytes ---")
    lines += annotate_msgpack(data[24:24 + h_len], 24)
    start = 24 + h_len
    payload = data[start:start + p_len]
    lines.append("        --- payload: one zstd frame, P bytes ---")
    lines += _hex_lines(start, payload, "zstd frame (decoded below)", 0)
    start += p_len
    lines.append("        --- signature block ---")
    lines += _hex_lines(start, data[start:start + 16], "signer key id (16 bytes)", 0)
    lines += _hex_lines(start + 16, data[start + 16:start + 80],
                        "Ed25519 signature (64 bytes)", 0)
    raw = zstandard.ZstdDecompressor().decompress(payload)
    lines.append("        --- the payload frame decompressed (offsets within it) ---")
    lines += annotate_msgpack(raw, 0)
    return "\n".join(lines)


DUMP_BEGIN = "<!-- dump:begin (scripts/make_vectors.py rewrites this block) -->"
DUMP_END = "<!-- dump:end -->"


def spec_with_dump(spec: str, dump: str) -> str:
    head, _, rest = spec.partition(DUMP_BEGIN)
    _, _, tail = rest.partition(DUMP_END)
    return f"{head}{DUMP_BEGIN}\n```text\n{dump}\n```\n{DUMP_END}{tail}"


def expected_json(data: bytes) -> dict[str, Any]:
    header, payload = split(data)
    raw = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(payload))
    tensors = {}
    for name, entry in sorted(raw["tensors"].items()):
        dtype = np.dtype(entry["dtype"] if entry["dtype"] != "bool" else "?").newbyteorder("<")
        tensors[name] = {"dtype": entry["dtype"], "shape": entry["shape"],
                         "values": np.frombuffer(entry["data"], dtype).tolist()}
    return {"header": header, "tensors": tensors}


def build() -> dict[str, bytes]:
    c = Ctx()
    files: dict[str, bytes] = {}
    for key in (c.golden, c.other):
        files[f"keys/{key.name}.pub"] = key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    files["keys/golden.key"] = c.golden.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    index: dict[str, Any] = {
        "about": f"HZG format {layout.FORMAT_MAJOR}.{layout.FORMAT_MINOR} test vectors; "
                 "made by scripts/make_vectors.py",
        # zstd output may differ between library versions; the bytes of these
        # files are reproducible with this one (the test of freshness checks it).
        "zstandard_version": zstandard.__version__,
        "now": NOW,
        "trusted_keys": ["keys/golden.pub"],
        "keys": [{"file": f"keys/{k.name}.pub", "key_id": k.key_id}
                 for k in (c.golden, c.other)],
        "vectors": [],
    }
    valid = [("tiny", tiny_bundle().to_bytes(c.golden)), ("kinds", c.bytes)]
    for name, data in valid:
        files[f"valid/{name}.hzg"] = data
        files[f"valid/{name}.json"] = _json(expected_json(data))
        index["vectors"].append({"file": f"valid/{name}.hzg", "expect": "ok",
                                 "rule": "accept-valid", "why": f"the {name} bundle",
                                 "decoded": f"valid/{name}.json"})
    names = set()
    for spec in REGISTRY:
        assert spec.name not in names, spec.name
        names.add(spec.name)
        data = spec.build(c)
        if spec.file is None:
            files[spec.path] = data
        else:
            assert files[spec.file] == data, spec.name
        entry: dict[str, Any] = {"file": spec.path, "expect": spec.expect,
                                 "rule": spec.rule, "why": spec.why}
        if spec.skip_verify:
            entry["insecure_skip_verify"] = True
        if spec.expect == "ok" and spec.file is None:
            decoded = spec.path.replace(".hzg", ".json")
            files[decoded] = _json(expected_json(data))
            entry["decoded"] = decoded
        index["vectors"].append(entry)
    files["index.json"] = (json.dumps(index, indent=1) + "\n").encode()
    spec_path = ROOT / "format_spec" / "HZG.md"
    if spec_path.exists() and DUMP_BEGIN in spec_path.read_text():
        files["../HZG.md"] = spec_with_dump(
            spec_path.read_text(), annotated_dump(files["valid/tiny.hzg"])).encode()
    return files


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed vectors differ from a fresh build")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [name for name, data in files.items()
                 if not (VECTORS / name).exists() or (VECTORS / name).read_bytes() != data]
        known = {p.relative_to(VECTORS).as_posix() for p in VECTORS.rglob("*") if p.is_file()}
        extra = sorted(known - set(files))
        for name in stale:
            print(f"stale: {name}")
        for name in extra:
            print(f"not made by this script: {name}")
        return 1 if stale or extra else 0
    for old in list(VECTORS.glob("valid/*")) + list(VECTORS.glob("malformed/*")):
        if old.relative_to(VECTORS).as_posix() not in files:
            old.unlink()
    for name, data in files.items():
        path = VECTORS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} files under {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
