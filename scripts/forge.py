"""Build and sign arbitrary bundles, hostile ones included, with a test key.

    from scripts.forge import forge, made_header, GOLDEN
    header = made_header([boolean_column("smoker")], hidden=[65536])
    data = forge(header)                 # signed by the published test key

The real codec (``provisioner.bundle``) refuses to write anything a reader
would refuse. Tests, the test vectors and the fuzz harness need exactly such
files, signed by a trusted key, so that the checks *behind* the signature are
exercised. This module is that deliberately naive writer: it fills in the
payload section and the signer, signs, and checks nothing else. It is the
only code outside ``provisioner.bundle`` that assembles bundle bytes.

The keys are derived from fixed strings (``vector_key``), so the files are
reproducible. Their private halves are published: never trust them outside
tests.
"""

from __future__ import annotations

import copy
import hashlib
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from provisioner.bundle import layout  # noqa: E402
from provisioner.bundle.canonical import pack_canonical  # noqa: E402
from provisioner.keys import SigningKey  # noqa: E402

CREATED_AT = 1_795_000_000  # 2026-11-18T08:26:40Z; fixed so files are stable
NOW = CREATED_AT + 86_400  # the clock readers use when checking the vectors


def vector_key(label: str) -> SigningKey:
    """A reproducible Ed25519 key: its seed is SHA-256 of a fixed string."""
    seed = hashlib.sha256(f"hzg test vector key: {label}".encode()).digest()
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed), label)


GOLDEN = vector_key("golden")


# --- bytes ------------------------------------------------------------------


def assemble(header: bytes, payload: bytes, key: SigningKey | None, *,
             major: int = layout.FORMAT_MAJOR, minor: int = layout.FORMAT_MINOR,
             header_length: int | None = None, payload_length: int | None = None,
             magic: bytes = layout.MAGIC) -> bytes:
    """Prefix + header + payload, then a signature by ``key`` (zeros if None)."""
    prefix = struct.pack("<4sHHQQ", magic, major, minor,
                         len(header) if header_length is None else header_length,
                         len(payload) if payload_length is None else payload_length)
    signed = prefix + header + payload
    if key is None:
        return signed + bytes(layout.SIGNATURE_BLOCK_SIZE)
    return signed + bytes.fromhex(key.key_id) + key.sign(layout.SIGNATURE_CONTEXT + signed)


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The decoded header and the raw payload region of a (well-formed) bundle."""
    header_length, payload_length = struct.unpack_from("<QQ", data, 8)
    header = msgpack.unpackb(data[24:24 + header_length])
    payload = data[24 + header_length:24 + header_length + payload_length]
    return header, payload


def payload_plain(data: bytes) -> dict[str, Any]:
    """The decoded payload map of a (well-formed) bundle."""
    return msgpack.unpackb(zstandard.ZstdDecompressor().decompress(split(data)[1]))


def tensor_plain(array: np.ndarray, dtype: str = "float32") -> dict[str, Any]:
    little = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"data": little.tobytes(), "dtype": dtype, "shape": list(little.shape)}


def compress(raw: bytes, *, level: int = 3) -> bytes:
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(raw)


def zeros_frame(size: int, *, declare_size: bool = True) -> bytes:
    """A zstd frame of ``size`` zero bytes, made without holding them."""
    compressor = zstandard.ZstdCompressor(level=1, write_content_size=declare_size)
    chunk = bytes(1 << 24)
    obj = compressor.compressobj(size=size if declare_size else -1)
    parts, left = [], size
    while left:
        take = min(left, len(chunk))
        parts.append(obj.compress(chunk[:take]))
        left -= take
    parts.append(obj.flush())
    return b"".join(parts)


def zero_tensors_frame(shapes: Mapping[str, Sequence[int]]) -> tuple[bytes, int]:
    """(frame, raw size) of a canonical payload of all-zero float32 tensors.

    Streams the msgpack bytes through the compressor, so a payload of
    gigabytes costs no memory: the way a tiny file hides a huge model.
    """
    names = sorted(shapes, key=lambda n: n.encode())
    pieces: list[bytes] = []
    sizes: list[int] = []
    for name in names:
        count = int(np.prod(shapes[name], dtype=object)) * 4
        # map of 3 {data: bin(count), dtype, shape}, keys in canonical order
        head = b"\x83" + pack_canonical("data") + _bin_head(count)
        tail = pack_canonical("dtype") + pack_canonical("float32") + \
            pack_canonical("shape") + pack_canonical([int(s) for s in shapes[name]])
        pieces.append(pack_canonical(name) + head)
        sizes.append(count)
        pieces.append(tail)
    top = b"\x81" + pack_canonical("tensors") + _map_head(len(names))
    raw_size = len(top) + sum(len(p) for p in pieces) + sum(sizes)
    obj = zstandard.ZstdCompressor(level=1, write_content_size=True).compressobj(
        size=raw_size)
    out = [obj.compress(top)]
    chunk = bytes(1 << 22)
    for i, size in enumerate(sizes):
        out.append(obj.compress(pieces[2 * i]))
        left = size
        while left:
            take = min(left, len(chunk))
            out.append(obj.compress(chunk[:take]))
            left -= take
        out.append(obj.compress(pieces[2 * i + 1]))
    out.append(obj.flush())
    return b"".join(out), raw_size


def _bin_head(n: int) -> bytes:
    if n < 256:
        return b"\xc4" + bytes([n])
    if n < 65536:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def _map_head(n: int) -> bytes:
    if n < 16:
        return bytes([0x80 | n])
    if n < 65536:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def forge(header: dict[str, Any], tensors: Mapping[str, Any] | None = None, *,
          frame: tuple[bytes, int] | None = None, key: SigningKey | None = GOLDEN,
          minor: int = layout.FORMAT_MINOR, tensor_count: int | None = None,
          canonical: bool = True) -> bytes:
    """Sign ``header`` with a payload, filling in ``payload`` and ``signer``.

    Args:
      header: a plain header; its ``payload`` and ``signer`` are replaced.
      tensors: name -> numpy array (stored as float32) or an already plain
        tensor map entry; default: zero tensors of the header's MADE config.
      frame: (zstd frame, raw size) to use as the payload instead.
      key: the signer (None: unsigned).
      minor: the prefix's minor version.
      tensor_count: override ``payload.tensor_count``.
      canonical: encode the header canonically (else plain msgpack, which
        also allows values the canonical encoder refuses, e.g. NaN).
    """
    header = copy.deepcopy(header)
    if frame is None:
        if tensors is None:
            frame = zero_tensors_frame(made_shapes(header["model"]["config"]))
            count = len(made_shapes(header["model"]["config"]))
        else:
            plain = {name: value if isinstance(value, dict) else tensor_plain(value)
                     for name, value in tensors.items()}
            raw = pack_canonical({"tensors": plain})
            frame = (compress(raw), len(raw))
            count = len(plain)
    else:
        count = 0 if tensors is None else len(tensors)
    compressed, raw_size = frame
    header["payload"] = {
        "codec": "zstd", "compressed_size": len(compressed), "raw_size": raw_size,
        "sha256": hashlib.sha256(compressed).hexdigest(),
        "tensor_count": count if tensor_count is None else tensor_count,
    }
    header["signer"] = None if key is None else {"key_id": key.key_id, "name": key.name}
    encoded = pack_canonical(header) if canonical else msgpack.packb(header)
    return assemble(encoded, compressed, key, minor=minor)


# --- plain headers ----------------------------------------------------------


def made_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Tensor shapes a MADE config implies (HZG.md, model family made)."""
    vocab = sum(config["token_counts"])
    shapes: dict[str, tuple[int, ...]] = {}
    width = vocab
    for i, h in enumerate(config["hidden"]):
        shapes[f"hidden.{i}.w"] = (width, h)
        shapes[f"hidden.{i}.b"] = (h,)
        width = h
    shapes["out.w"] = (width, vocab)
    shapes["out.b"] = (vocab,)
    if config.get("direct"):
        shapes["direct.w"] = (vocab, vocab)
    return shapes


def boolean_column(name: str = "flag", **changes: Any) -> dict[str, Any]:
    column = {"categories": [False, True], "kind": "categorical", "metadata": "public",
              "name": name, "nullable": False, "rare_label": None,
              "value_type": "boolean"}
    column.update(changes)
    return column


def string_column(name: str, categories: Iterable[Any], **changes: Any) -> dict[str, Any]:
    column = {"categories": list(categories), "kind": "categorical",
              "metadata": "public", "name": name, "nullable": False,
              "rare_label": None, "value_type": "string"}
    column.update(changes)
    return column


def integer_column(name: str, categories: Iterable[int], **changes: Any) -> dict[str, Any]:
    return string_column(name, categories, value_type="integer", **changes)


def numeric_column(name: str, edges: Sequence[float], *, value_type: str = "float",
                   decimals: int = 2, weights: Sequence[float] | None = None,
                   starts: Sequence[int] = (0,), **changes: Any) -> dict[str, Any]:
    column = {"bin_starts": list(starts), "cell_edges": list(edges),
              "cell_weights": list(weights or [1.0] * (len(edges) - 1)),
              "decimals": decimals, "kind": "numeric", "metadata": "public",
              "name": name, "nullable": False, "value_type": value_type}
    column.update(changes)
    return column


def datetime_column(name: str, edges: Sequence[int], *, unit: str = "D",
                    format: str | None = None, starts: Sequence[int] = (0,),
                    **changes: Any) -> dict[str, Any]:
    column = {"bin_starts": list(starts), "cell_edges": list(edges),
              "cell_weights": [1.0] * (len(edges) - 1), "format": format,
              "kind": "datetime", "metadata": "public", "name": name,
              "nullable": False, "unit": unit, "value_type": "datetime"}
    column.update(changes)
    return column


def id_column(name: str, *, style: str = "pattern", pattern: str | None = "A-999",
              **changes: Any) -> dict[str, Any]:
    column = {"kind": "id", "metadata": "public", "name": name, "nullable": False,
              "pattern": pattern if style == "pattern" else None, "style": style,
              "value_type": "integer" if style == "sequence" else "string"}
    column.update(changes)
    return column


def column_tokens(column: Mapping[str, Any]) -> int:
    kind = column["kind"]
    if kind == "id":
        return 0
    if kind == "categorical":
        base = len(column["categories"]) + (column.get("rare_label") is not None)
    else:
        base = len(column["bin_starts"])
    return base + bool(column.get("nullable"))


def non_dp_privacy() -> dict[str, Any]:
    return {"accountant": None, "accountant_library": None, "delta": None, "dp": False,
            "epsilon": None, "mechanisms": [], "neighboring": "add_or_remove_one",
            "phases": [], "unit": "row"}


def dp_privacy(dp_columns: Sequence[str] = ()) -> dict[str, Any]:
    mechanisms = []
    if dp_columns:
        mechanisms.append({"columns": list(dp_columns), "kind": "gaussian",
                           "name": "metadata", "params": {"noise_multiplier": 40.0},
                           "phase": "main"})
    mechanisms.append({"columns": [], "kind": "poisson_subsampled_gaussian",
                       "name": "dp-sgd", "params": {"noise_multiplier": 1.1},
                       "phase": "main"})
    return {"accountant": "pld", "accountant_library": "dp-accounting 0.6.0",
            "delta": 1e-6, "dp": True, "epsilon": 1.0, "mechanisms": mechanisms,
            "neighboring": "add_or_remove_one",
            "phases": [{"delta": 1e-6, "epsilon": 1.0, "name": "main"}], "unit": "row"}


def made_header(columns: Sequence[dict[str, Any]], *, hidden: Sequence[int] = (),
                direct: bool = False, name: str = "forged",
                privacy: dict[str, Any] | None = None,
                token_counts: Sequence[int] | None = None) -> dict[str, Any]:
    """A header for ``columns`` and a MADE model whose config matches them."""
    counts = [column_tokens(c) for c in columns if c["kind"] != "id"] \
        if token_counts is None else list(token_counts)
    if privacy is None:
        dp_columns = [c["name"] for c in columns if c["metadata"] == "dp"]
        privacy = dp_privacy(dp_columns)
    return {
        "generator": {"created_at": CREATED_AT, "expires_at": None,
                      "id": "0123456789abcdef0123456789abcdef", "name": name,
                      "owner": "golden", "version": 1},
        "model": {"config": {"activation": "relu", "direct": direct,
                             "hidden": list(hidden), "token_counts": counts},
                  "family": "made"},
        "privacy": privacy,
        "provenance": {"software": "forge"},
        "schema": {"columns": list(columns), "rows": None},
    }
