"""Regenerate ``format_spec/vectors/``: golden and malformed ``.hzg`` files.

    python scripts/make_vectors.py            # rewrite the vectors
    python scripts/make_vectors.py --check    # fail if they would change

The valid bundles are written by the real codec. Malformed ones must break
rules the codec refuses to break, so this script also holds a deliberately
naive assembler (``assemble``) that signs whatever bytes it is given; it is
the only code outside ``provisioner.bundle`` that builds bundle bytes, and
it exists to produce files a reader must reject.

The signing keys are derived from fixed strings so the files are
reproducible. Their private halves are published here: never trust them
outside tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zstandard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.bundle import Bundle, GeneratorInfo, ModelSpec  # noqa: E402
from provisioner.bundle import layout  # noqa: E402
from provisioner.bundle.canonical import pack_canonical  # noqa: E402
from provisioner.keys import SigningKey  # noqa: E402
from provisioner.models.made import MadeConfig, masks, tensor_shapes  # noqa: E402
from provisioner.privacy import Mechanism, Phase, PrivacyStatement  # noqa: E402
from provisioner.schema import Column, Grid, Schema  # noqa: E402

VECTORS = ROOT / "format_spec" / "vectors"
CREATED_AT = 1_795_000_000  # 2026-11-18T08:26:40Z; fixed so files are stable
NOW = CREATED_AT + 86_400  # the clock readers use when checking the vectors


def vector_key(label: str) -> SigningKey:
    seed = hashlib.sha256(f"hzg test vector key: {label}".encode()).digest()
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed), label)


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


def assemble(header: bytes, payload: bytes, key: SigningKey | None, *,
             major: int = layout.FORMAT_MAJOR, minor: int = layout.FORMAT_MINOR,
             header_length: int | None = None, payload_length: int | None = None,
             magic: bytes = layout.MAGIC) -> bytes:
    prefix = struct.pack("<4sHHQQ", magic, major, minor,
                         len(header) if header_length is None else header_length,
                         len(payload) if payload_length is None else payload_length)
    signed = prefix + header + payload
    if key is None:
        return signed + bytes(layout.SIGNATURE_BLOCK_SIZE)
    return signed + bytes.fromhex(key.key_id) + key.sign(layout.SIGNATURE_CONTEXT + signed)


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    header_length, payload_length = struct.unpack_from("<QQ", data, 8)
    header = msgpack.unpackb(data[24:24 + header_length])
    payload = data[24 + header_length:24 + header_length + payload_length]
    return header, payload


def with_payload(header: dict[str, Any], payload: bytes, raw_size: int) -> dict[str, Any]:
    header = json.loads(json.dumps(header))
    header["payload"].update(compressed_size=len(payload), raw_size=raw_size,
                             sha256=hashlib.sha256(payload).hexdigest())
    return header


def zeros_frame(size: int, *, declare_size: bool = True) -> bytes:
    compressor = zstandard.ZstdCompressor(level=1, write_content_size=declare_size)
    chunk = bytes(1 << 24)
    parts = []
    obj = compressor.compressobj(size=size if declare_size else -1)
    left = size
    while left:
        take = min(left, len(chunk))
        parts.append(obj.compress(chunk[:take]))
        left -= take
    parts.append(obj.flush())
    return b"".join(parts)


def malformed(golden: SigningKey, other: SigningKey) -> list[tuple[str, bytes, str, str]]:
    """(name, bytes, expected error code, why) for every malformed vector."""
    good = kinds_bundle().to_bytes(golden)
    header, payload = split(good)
    h_len = struct.unpack_from("<Q", good, 8)[0]
    raw = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(payload))

    def resign(h: dict[str, Any], p: bytes = payload, **kw: Any) -> bytes:
        return assemble(pack_canonical(h), p, golden, **kw)

    def flip(data: bytes, offset: int) -> bytes:
        return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]

    def payload_of(tensors_plain: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        raw_bytes = pack_canonical({"tensors": tensors_plain})
        frame = zstandard.ZstdCompressor(level=3).compress(raw_bytes)
        h = with_payload(header, frame, len(raw_bytes))
        h["payload"]["tensor_count"] = len(tensors_plain)
        return h, frame

    sig_at = len(good) - layout.SIGNATURE_SIZE
    vectors: list[tuple[str, bytes, str, str]] = [
        ("empty", b"", "not_a_bundle", "an empty file"),
        ("bad-magic", b"HZX" + good[3:], "not_a_bundle", "magic bytes changed"),
        ("zip-polyglot", b"PK\x03\x04" + good[4:], "not_a_bundle", "starts like a zip file"),
        ("future-major", good[:4] + struct.pack("<H", 2) + good[6:], "unsupported_version",
         "major version 2"),
        ("truncated-prefix", good[:10], "truncated", "cut inside the fixed prefix"),
        ("truncated-header", good[:24 + h_len // 2], "truncated", "cut inside the header"),
        ("truncated-payload", good[:24 + h_len + len(payload) // 2], "truncated",
         "cut inside the payload"),
        ("truncated-signature", good[:-1], "truncated", "last byte of the signature missing"),
        ("trailing-bytes", good + b"\x00", "length_mismatch", "one byte after the signature"),
        ("header-length-max", good[:8] + struct.pack("<Q", 2**64 - 1) + good[16:],
         "limit_exceeded", "header length 2^64-1"),
        ("payload-length-over-limit", good[:16] + struct.pack("<Q", 2**31) + good[24:],
         "limit_exceeded", "payload length 2 GiB, above the 1 GiB limit"),
        ("header-tampered", flip(good, 24 + 40), "bad_signature", "one header bit flipped"),
        ("payload-tampered", flip(good, 24 + h_len + 20), "bad_signature",
         "one payload bit flipped"),
        ("signature-tampered", flip(good, sig_at + 5), "bad_signature",
         "one signature bit flipped"),
        ("key-id-tampered", flip(good, sig_at - 3), "untrusted_signer",
         "the signature block names a key nobody trusts"),
        ("version-downgrade", good[:6] + struct.pack("<H", 1) + good[8:], "bad_signature",
         "minor version changed after signing"),
        ("unsigned", kinds_bundle().to_unsigned_bytes(), "unsigned", "no signature at all"),
        ("untrusted-signer", kinds_bundle().to_bytes(other), "untrusted_signer",
         "validly signed by a key that is not trusted"),
    ]

    # Signed by the trusted key, broken inside: only the later checks catch these.
    ext = bytearray(pack_canonical(header))
    # swap the 12-byte fixstr "test vector" for a 12-byte ext8 value of type 1
    marker = ext.find(b"\xabtest vector")
    ext[marker:marker + 12] = b"\xc7\x09\x01" + b"ABCDEFGHI"
    vectors.append(("header-ext-type", assemble(bytes(ext), payload, golden),
                    "malformed_header", "a msgpack ext type in the header"))

    deep = json.loads(json.dumps(header))
    nested: Any = 1
    for _ in range(40):
        nested = [nested]
    deep["model"]["config"]["nest"] = nested
    vectors.append(("header-deep-nesting", resign(deep), "limit_exceeded",
                    "header nested 43 levels deep"))

    dup = pack_canonical(header)
    dup_bytes = bytearray(dup)
    dup_bytes[0] += 1  # one more map entry ...
    dup_bytes += pack_canonical({"signer": None})[1:]  # ... repeating the key 'signer'
    vectors.append(("header-duplicate-key", assemble(bytes(dup_bytes), payload, golden),
                    "malformed_header", "the key 'signer' appears twice"))

    unsorted = msgpack.packb(dict(reversed(list(header.items()))))
    vectors.append(("header-unsorted-keys", assemble(unsorted, payload, golden),
                    "malformed_header", "map keys not in canonical order"))

    vectors.append(("header-array32-bomb", assemble(b"\x81\xa1a\xdd\xff\xff\xff\xff",
                                                     payload, golden),
                    "limit_exceeded", "an array claiming 2^32-1 entries"))

    unknown = json.loads(json.dumps(header))
    unknown["future_field"] = "x"
    vectors.append(("header-unknown-key", resign(unknown), "malformed_header",
                    "unknown top-level key in a 1.0 bundle"))

    expired = json.loads(json.dumps(header))
    expired["generator"]["expires_at"] = CREATED_AT + 3600
    vectors.append(("expired", resign(expired), "expired", "expired before NOW"))

    wrong_digest = json.loads(json.dumps(header))
    wrong_digest["payload"]["sha256"] = "0" * 64
    vectors.append(("payload-digest-mismatch", resign(wrong_digest), "digest_mismatch",
                    "header SHA-256 does not match the payload"))

    bomb = zeros_frame(2 * 2**30)
    vectors.append(("zstd-bomb", resign(with_payload(header, bomb, 2 * 2**30), bomb),
                    "limit_exceeded", "2 GiB of zeros declared, above the 1 GiB limit"))
    vectors.append(("zstd-bomb-understated",
                    resign(with_payload(header, bomb, 1000), bomb),
                    "digest_mismatch", "header says 1000 bytes, the frame says 2 GiB"))
    sizeless = zeros_frame(1000, declare_size=False)
    vectors.append(("zstd-no-content-size",
                    resign(with_payload(header, sizeless, 1000), sizeless),
                    "malformed_payload", "zstd frame without a content size"))
    raw_size = header["payload"]["raw_size"]
    two = payload + payload
    vectors.append(("zstd-two-frames", resign(with_payload(header, two, raw_size), two),
                    "malformed_payload", "a second zstd frame after the first"))
    not_zstd = b"\x00" * 64
    vectors.append(("payload-not-zstd", resign(with_payload(header, not_zstd, 64), not_zstd),
                    "malformed_payload", "payload is not a zstd frame"))

    tensors = raw["tensors"]
    bad_dtype = dict(tensors)
    bad_dtype["out.b"] = dict(tensors["out.b"], dtype="complex64")
    h, frame = payload_of(bad_dtype)
    vectors.append(("tensor-bad-dtype", resign(h, frame), "malformed_payload",
                    "a dtype outside the closed list"))
    short = dict(tensors)
    short["out.b"] = dict(tensors["out.b"], data=tensors["out.b"]["data"][:-4])
    h, frame = payload_of(short)
    vectors.append(("tensor-short-data", resign(h, frame), "malformed_payload",
                    "tensor bytes shorter than its shape needs"))
    huge = dict(tensors)
    huge["out.b"] = dict(tensors["out.b"], shape=[2**31 - 1] * 3)
    h, frame = payload_of(huge)
    vectors.append(("tensor-huge-shape", resign(h, frame), "malformed_payload",
                    "a shape of 2^93 elements, which overflows 64-bit products"))
    nan = dict(tensors)
    nan["out.b"] = dict(tensors["out.b"], data=np.full(
        len(tensors["out.b"]["data"]) // 4, np.nan, "<f4").tobytes())
    h, frame = payload_of(nan)
    vectors.append(("tensor-nan", resign(h, frame), "malformed_payload", "NaN weights"))
    leaky = dict(tensors)
    direct = np.frombuffer(tensors["direct.w"]["data"], "<f4").copy()
    direct[0] = 1.0  # column 1 seeing itself breaks the autoregressive mask
    leaky["direct.w"] = dict(tensors["direct.w"], data=direct.tobytes())
    h, frame = payload_of(leaky)
    vectors.append(("made-mask-violated", resign(h, frame), "malformed_payload",
                    "a weight where the MADE mask is 0 (checked by verify)"))
    uncovered = json.loads(json.dumps(header))
    uncovered["privacy"]["mechanisms"][0]["columns"] = ["color"]
    vectors.append(("privacy-uncovered-column", resign(uncovered), "malformed_header",
                    "a column marked dp that no mechanism accounts for (checked by verify)"))
    return vectors


def newer_minor(golden: SigningKey) -> bytes:
    """A 1.1 bundle with a field 1.0 does not know: 1.0 readers must accept it."""
    header, payload = split(kinds_bundle().to_bytes(golden))
    header["future_field"] = {"anything": [1, 2, 3]}
    header["generator"]["future_generator_field"] = "ignored"
    return assemble(pack_canonical(header), payload, golden, minor=1)


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
        dtype = {"float32": "<f4"}[entry["dtype"]]
        tensors[name] = {"dtype": entry["dtype"], "shape": entry["shape"],
                         "values": np.frombuffer(entry["data"], dtype).tolist()}
    return {"header": header, "tensors": tensors}


def build() -> dict[str, bytes]:
    golden, other = vector_key("golden"), vector_key("other")
    files: dict[str, bytes] = {}
    for key in (golden, other):
        files[f"keys/{key.name}.pub"] = key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    files["keys/golden.key"] = golden.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    index: dict[str, Any] = {
        "about": "HZG format 1.0 test vectors; made by scripts/make_vectors.py",
        # zstd output may differ between library versions; the bytes of these
        # files are reproducible with this one (the test of freshness checks it).
        "zstandard_version": zstandard.__version__,
        "now": NOW,
        "trusted_keys": ["keys/golden.pub"],
        "vectors": [],
    }
    for name, data in (("tiny", tiny_bundle().to_bytes(golden)),
                       ("kinds", kinds_bundle().to_bytes(golden)),
                       ("newer-minor", newer_minor(golden))):
        files[f"valid/{name}.hzg"] = data
        files[f"valid/{name}.json"] = (json.dumps(expected_json(data), indent=1,
                                                  sort_keys=True) + "\n").encode()
        index["vectors"].append({"file": f"valid/{name}.hzg", "expect": "ok",
                                 "decoded": f"valid/{name}.json"})
    for name, data, code, why in malformed(golden, other):
        files[f"malformed/{name}.hzg"] = data
        index["vectors"].append({"file": f"malformed/{name}.hzg", "expect": code,
                                 "why": why})
    files["index.json"] = (json.dumps(index, indent=1) + "\n").encode()
    spec_path = ROOT / "format_spec" / "HZG.md"
    if spec_path.exists() and DUMP_BEGIN in spec_path.read_text():
        files["../HZG.md"] = spec_with_dump(
            spec_path.read_text(), annotated_dump(files["valid/tiny.hzg"])).encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed vectors differ from a fresh build")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [name for name, data in files.items()
                 if not (VECTORS / name).exists() or (VECTORS / name).read_bytes() != data]
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0
    for name, data in files.items():
        path = VECTORS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} files under {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
