"""Canonical, strict msgpack (HZG.md, "Canonical msgpack").

A value has exactly one encoding: maps have unique ``str`` keys sorted by
their UTF-8 bytes, integers and lengths use the shortest form, floats are
always float64 and finite, strings are valid UTF-8, and there are no ext
types. The reader decodes with size limits handed to the unpacker, then
re-encodes and compares bytes, so any non-canonical byte (a duplicate or
unsorted key, a long-form integer, a float32) is rejected rather than
silently normalised.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack

from provisioner.bundle.limits import Limits
from provisioner.errors import BundleError

PlainValue = Any  # None | bool | int | float | str | bytes | list | dict[str, ...]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def _canonicalize(value: PlainValue, depth: int) -> PlainValue:
    if depth > 64:
        raise ValueError("value nests deeper than 64 levels")
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"float {value} is not finite")
        return value
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


def _reject_ext(code: int, data: bytes) -> None:
    raise ValueError(f"msgpack ext type {code} is not allowed")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate map key {key!r}")
            seen.add(key)
    return result


def _check_tree(value: PlainValue, limits: Limits, allow_bytes: bool) -> None:
    stack: list[tuple[PlainValue, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limits.max_depth:
                raise ValueError(f"nesting deeper than {limits.max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, bytes):
            if not allow_bytes:
                raise ValueError("binary values are not allowed here")
        elif item is None or isinstance(item, (bool, int, str)):
            pass
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"float {item} is not finite")
        else:  # Timestamp (ext -1) or anything else a future msgpack may revive
            raise ValueError(f"{type(item).__name__} values are not allowed")


def unpack_canonical(
    data: bytes,
    *,
    limits: Limits,
    error: type[BundleError],
    region: str,
    allow_bytes: bool,
) -> PlainValue:
    """Strictly decode one canonical msgpack value occupying all of ``data``.

    Args:
      data: the bytes of the region.
      limits: size limits; they are handed to the unpacker so nothing larger
        is allocated.
      error: the ``BundleError`` subclass to raise.
      region: name used in messages ("header", "payload").
      allow_bytes: whether ``bin`` values may appear (payload only).
    """
    max_bin = len(data) if allow_bytes else 0
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=_reject_ext,
            object_pairs_hook=_unique_pairs,
            max_str_len=limits.max_string_bytes,
            max_bin_len=max_bin,
            max_array_len=limits.max_container_entries,
            max_map_len=limits.max_container_entries,
            max_ext_len=0,
        )
        _check_tree(value, limits, allow_bytes)
        canonical = pack_canonical(value)
    except error:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # ExtraData, FormatError, StackError, UnicodeDecodeError and our own
        # ValueErrors all land here: the message names the first problem.
        raise error(f"{region} is not valid HZG msgpack: {_describe(exc)}") from None
    if canonical != data:
        raise error(
            f"{region} is not canonical msgpack (keys must be sorted and unique, "
            "integers and lengths in shortest form, floats as float64)"
        )
    if not isinstance(value, dict):
        raise error(f"{region} must be a msgpack map, found {type(value).__name__}")
    return value


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {detail}" if detail else name
