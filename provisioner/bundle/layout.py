"""Byte layout of a ``.hzg`` file (format_spec/HZG.md, section "Layout").

    offset  size  field
    0       4     magic  b"HZG\\0"
    4       2     major version, u16 little-endian
    6       2     minor version, u16 little-endian
    8       8     header length H, u64 little-endian
    16      8     payload length P, u64 little-endian
    24      H     header: canonical msgpack map
    24+H    P     payload: one zstd frame holding a canonical msgpack map
    24+H+P  16    signer key id (all zero when unsigned)
    40+H+P  64    Ed25519 signature (all zero when unsigned)
"""

from __future__ import annotations

import struct
from typing import NamedTuple

MAGIC = b"HZG\x00"
FORMAT_MAJOR = 1
FORMAT_MINOR = 1

PREFIX = struct.Struct("<4sHHQQ")
PREFIX_SIZE = PREFIX.size  # 24
KEY_ID_SIZE = 16
SIGNATURE_SIZE = 64
SIGNATURE_BLOCK_SIZE = KEY_ID_SIZE + SIGNATURE_SIZE  # 80
MIN_FILE_SIZE = PREFIX_SIZE + 1 + 1 + SIGNATURE_BLOCK_SIZE

# Prepended to the signed bytes so an HZG signature can never be replayed as a
# signature over some other protocol's message (and vice versa).
SIGNATURE_CONTEXT = b"HZG bundle signature v1\x00"
UNSIGNED_KEY_ID = bytes(KEY_ID_SIZE)


class Prefix(NamedTuple):
    magic: bytes
    major: int
    minor: int
    header_length: int
    payload_length: int


def pack_prefix(header_length: int, payload_length: int) -> bytes:
    return PREFIX.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, header_length, payload_length)


def unpack_prefix(data: bytes) -> Prefix:
    return Prefix(*PREFIX.unpack_from(data, 0))
