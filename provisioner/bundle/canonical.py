"""Canonical, strict msgpack (HZG.md, "Canonical msgpack").

A value has exactly one encoding: maps have unique ``str`` keys sorted by
their UTF-8 bytes, integers and lengths use the shortest form, floats are
always float64 and finite, strings are valid UTF-8 without control
characters, and there are no ext types.

Reading is defined by :func:`strict_decode`, a small decoder that walks the
bytes in order and stops at the first value that breaks a rule: a declared
length, entry count, nesting depth or value count above a limit is
``limit_exceeded``; anything else (a syntax error, a second encoding, an
unsorted or repeated key, a float32, NaN, an ext type) is the region's
``malformed_*`` code. Binary values come back as read-only ``memoryview``
slices of the input, so a payload's tensors are never copied.

Headers take a faster route to the same answer (:func:`decode_header`):
the C msgpack decoder with the limits handed to it, a walk over the result
and a byte-for-byte re-encode. Only when that route refuses a header does
the strict decoder run, to name the first problem exactly as the format
defines it; the tests hold the two routes to the same verdicts.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

import msgpack

from provisioner.bundle.limits import Limits
from provisioner.errors import BundleError, LimitExceeded, MalformedHeader, MalformedPayload

PlainValue = Any  # None | bool | int | float | str | bytes | list | dict[str, ...]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
# C0 controls, DEL and C1 controls: refused in every string of a bundle, so
# no name, label or format can start a line, move a cursor or end a cell.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _canonicalize(value: PlainValue, depth: int) -> PlainValue:
    if depth > 64:
        raise ValueError("value nests deeper than 64 levels")
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"integer {value} does not fit in 64 bits")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"float {value} is not finite")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_canonicalize(item, depth + 1) for item in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"map key {key!r} is not a string")
        return {
            key: _canonicalize(value[key], depth + 1)
            for key in sorted(value, key=lambda k: k.encode("utf-8"))
        }
    raise ValueError(f"{type(value).__name__} is not a plain msgpack type")


def pack_canonical(value: PlainValue) -> bytes:
    """Encode ``value`` canonically; raises ``ValueError`` on non-plain input."""
    return msgpack.packb(
        _canonicalize(value, 1), use_bin_type=True, use_single_float=False
    )


# --- the strict decoder: the definition ------------------------------------

_FLOAT64 = struct.Struct(">d")
# tag -> (bytes of the length or value that follow, smallest canonical value)
_UINTS = {0xCC: (1, 0x80), 0xCD: (2, 0x100), 0xCE: (4, 0x10000), 0xCF: (8, 0x100000000)}
_INTS = {0xD0: (1, -32), 0xD1: (2, -128), 0xD2: (4, -32768), 0xD3: (8, -(2**31))}
_STR_HEADS = {0xD9: (1, 32), 0xDA: (2, 0x100), 0xDB: (4, 0x10000)}
_BIN_HEADS = {0xC4: (1, 0), 0xC5: (2, 0x100), 0xC6: (4, 0x10000)}
_ARRAY_HEADS = {0xDC: (2, 16), 0xDD: (4, 0x10000)}
_MAP_HEADS = {0xDE: (2, 16), 0xDF: (4, 0x10000)}


class _Stop(Exception):
    """First problem found; carries the error class and the message."""

    def __init__(self, kind: type[BundleError], message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _StrictDecoder:
    def __init__(self, data: bytes | memoryview, limits: Limits, *, allow_bin: bool,
                 max_values: int, malformed: type[BundleError]) -> None:
        self.view = memoryview(data).toreadonly()
        self.data = self.view  # indexing a memoryview gives ints, like bytes
        self.end = len(self.view)
        self.pos = 0
        self.values = 0
        self.limits = limits
        self.allow_bin = allow_bin
        self.max_values = max_values
        self.malformed = malformed

    def bad(self, message: str) -> _Stop:
        return _Stop(self.malformed, f"at byte {self.pos}: {message}")

    def limit(self, message: str) -> _Stop:
        return _Stop(LimitExceeded, f"at byte {self.pos}: {message}")

    def take(self, count: int) -> memoryview:
        if self.end - self.pos < count:
            raise self.bad("the region ends inside a value")
        piece = self.view[self.pos:self.pos + count]
        self.pos += count
        return piece

    def length(self, size: int, minimum: int, what: str) -> int:
        value = int.from_bytes(self.take(size), "big")
        if value < minimum:
            raise self.bad(f"{what} length {value} is not in its shortest form")
        return value

    def value(self, depth: int) -> PlainValue:
        self.values += 1
        if self.values > self.max_values:
            raise self.limit(f"more than {self.max_values} values")
        tag = self.take(1)[0]
        if tag <= 0x7F:
            return tag
        if tag >= 0xE0:
            return tag - 0x100
        if 0xA0 <= tag <= 0xBF:
            return self.text(tag & 0x1F)
        if 0x90 <= tag <= 0x9F:
            return self.array(tag & 0x0F, depth)
        if 0x80 <= tag <= 0x8F:
            return self.mapping(tag & 0x0F, depth)
        if tag == 0xC0:
            return None
        if tag == 0xC2:
            return False
        if tag == 0xC3:
            return True
        if tag == 0xCB:
            number = _FLOAT64.unpack(self.take(8))[0]
            if not math.isfinite(number):
                raise self.bad(f"float {number} is not finite")
            return number
        if tag in _UINTS:
            size, minimum = _UINTS[tag]
            number = int.from_bytes(self.take(size), "big")
            if number < minimum:
                raise self.bad(f"integer {number} is not in its shortest form")
            return number
        if tag in _INTS:
            size, upper = _INTS[tag]
            number = int.from_bytes(self.take(size), "big", signed=True)
            if number >= upper:
                raise self.bad(f"integer {number} is not in its shortest form")
            return number
        if tag in _STR_HEADS:
            size, minimum = _STR_HEADS[tag]
            return self.text(self.length(size, minimum, "string"))
        if tag in _BIN_HEADS:
            size, minimum = _BIN_HEADS[tag]
            count = self.length(size, minimum, "binary")
            if not self.allow_bin:
                raise self.bad("binary values are not allowed here")
            return self.take(count)
        if tag in _ARRAY_HEADS:
            size, minimum = _ARRAY_HEADS[tag]
            return self.array(self.length(size, minimum, "array"), depth)
        if tag in _MAP_HEADS:
            size, minimum = _MAP_HEADS[tag]
            return self.mapping(self.length(size, minimum, "map"), depth)
        if tag == 0xCA:
            raise self.bad("float32 is not allowed; floats are float64")
        if tag in (0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8):
            raise self.bad("msgpack ext types are not allowed")
        raise self.bad(f"byte {tag:#04x} is not a msgpack type")

    def text(self, count: int) -> str:
        if count > self.limits.max_string_bytes:
            raise self.limit(f"string of {count} bytes, above the limit "
                             f"{self.limits.max_string_bytes}")
        raw = self.take(count)
        try:
            text = str(raw, "utf-8")
        except UnicodeDecodeError:
            raise self.bad("string is not valid UTF-8") from None
        if CONTROL_CHARACTERS.search(text):
            raise self.bad(f"string {_preview(text)} holds a control character")
        return text

    def container(self, count: int, depth: int) -> None:
        if count > self.limits.max_container_entries:
            raise self.limit(f"{count} entries, above the limit "
                             f"{self.limits.max_container_entries}")
        if depth + 1 > self.limits.max_depth:
            raise self.limit(f"nesting deeper than {self.limits.max_depth} levels")

    def array(self, count: int, depth: int) -> list[PlainValue]:
        self.container(count, depth)
        return [self.value(depth + 1) for _ in range(count)]

    def mapping(self, count: int, depth: int) -> dict[str, PlainValue]:
        self.container(count, depth)
        result: dict[str, PlainValue] = {}
        previous: str | None = None
        for _ in range(count):
            key = self.value(depth + 1)
            if not isinstance(key, str):
                raise self.bad(f"map key {_preview(key)} is not a string")
            if previous is not None and not key > previous:
                raise self.bad(f"map key {_preview(key)} is "
                               + ("repeated" if key == previous else "out of order"))
            previous = key
            result[key] = self.value(depth + 1)
        return result

    def top(self) -> dict[str, PlainValue]:
        if self.end == 0:
            raise self.bad("the region is empty")
        first = self.data[0]
        if not (0x80 <= first <= 0x8F or first in _MAP_HEADS):
            raise self.bad("the region must hold one msgpack map")
        value = self.value(0)
        if self.pos != self.end:
            raise self.bad(f"{self.end - self.pos} bytes follow the map")
        return value


def strict_decode(data: bytes | memoryview, *, limits: Limits, region: str,
                  allow_bin: bool, max_values: int) -> dict[str, PlainValue]:
    """Decode one canonical msgpack map filling ``data``, by the format's rules.

    Args:
      data: the region's bytes.
      limits: the reader's limits.
      region: "header" or "payload" (names the error and the message).
      allow_bin: whether ``bin`` values may appear (payload only); they are
        returned as read-only memoryviews of ``data``.
      max_values: the most msgpack values the region may hold.

    Raises:
      LimitExceeded, or MalformedHeader / MalformedPayload for ``region``.
    """
    malformed = MalformedHeader if region == "header" else MalformedPayload
    decoder = _StrictDecoder(data, limits, allow_bin=allow_bin, max_values=max_values,
                             malformed=malformed)
    try:
        return decoder.top()
    except _Stop as stop:
        raise stop.kind(f"{region} is not valid HZG msgpack {stop}") from None


# --- the fast route for headers ---------------------------------------------

_SCALARS = frozenset({type(None), bool, int, str, float})


def _fast_header(data: bytes, limits: Limits) -> dict[str, PlainValue] | None:
    """The header if it is valid, else None (the strict decoder then explains)."""
    try:
        value = msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True,
            ext_hook=_reject_ext, max_str_len=limits.max_string_bytes,
            max_bin_len=0, max_array_len=limits.max_container_entries,
            max_map_len=limits.max_container_entries, max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError):
        return None
    if not isinstance(value, dict) or not _walk_ok(value, limits):
        return None
    try:
        again = msgpack.packb(value, use_bin_type=True, use_single_float=False)
    except (ValueError, TypeError, OverflowError):
        return None
    # The decoded maps keep the file's key order; the walk checked that it is
    # sorted, so an identical re-encoding means every length, integer and
    # float was in its one canonical form and no key was repeated.
    return value if again == data else None


def _walk_ok(value: dict[str, PlainValue], limits: Limits) -> bool:
    """Depth, value count, types, finiteness, key order and control characters."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 1
    texts: list[str] = []
    while stack:
        item, depth = stack.pop()
        if depth > limits.max_depth:
            return False
        if type(item) is dict:
            keys = list(item)
            if keys != sorted(keys):  # code point order is UTF-8 byte order
                return False
            texts.extend(keys)
            children = list(item.values())
            count += 2 * len(children)
        else:
            children = item
            count += len(children)
        if count > limits.max_header_values:
            return False
        kinds = set(map(type, children))
        if not kinds <= _SCALARS | {list, dict}:
            return False  # bytes, Timestamp (ext -1), anything revived
        if float in kinds:
            floats = children if kinds == {float} else [c for c in children
                                                         if type(c) is float]
            if not all(map(math.isfinite, floats)):
                return False
        if str in kinds:
            texts.extend(children if kinds == {str} else
                         [c for c in children if type(c) is str])
        if list in kinds or dict in kinds:
            stack.extend((c, depth + 1) for c in children if type(c) in (list, dict))
    return not CONTROL_CHARACTERS.search("".join(texts))


def _reject_ext(code: int, data: bytes) -> None:
    raise ValueError(f"msgpack ext type {code} is not allowed")


def decode_header(data: bytes, *, limits: Limits) -> dict[str, PlainValue]:
    """The header region as plain values (see :func:`strict_decode`)."""
    value = _fast_header(data, limits)
    if value is not None:
        return value
    strict_decode(data, limits=limits, region="header", allow_bin=False,
                  max_values=limits.max_header_values)
    # the strict decoder accepted what the fast route refused: a reader bug
    raise MalformedHeader("header is not canonical HZG msgpack")


def decode_payload(raw: bytes | memoryview, *, limits: Limits) -> dict[str, PlainValue]:
    """The decompressed payload as plain values; tensor data as memoryviews."""
    return strict_decode(raw, limits=limits, region="payload", allow_bin=True,
                         max_values=limits.max_payload_values)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
