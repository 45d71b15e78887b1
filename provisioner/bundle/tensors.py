"""Tensors as plain data: name, dtype from a closed list, shape, raw bytes.

Bytes are little-endian and C-ordered; nothing is pickled. Reading checks
the byte length against ``prod(shape) * itemsize`` with Python integers
(no overflow) before any array is built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from provisioner.bundle.limits import Limits
from provisioner.errors import MalformedPayload

# name in the file -> numpy dtype (explicitly little-endian)
DTYPES: dict[str, np.dtype] = {
    "bool": np.dtype("|b1"),
    "int8": np.dtype("|i1"),
    "uint8": np.dtype("|u1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
_NAME_OF = {dtype.newbyteorder("<"): name for name, dtype in DTYPES.items()}
TENSOR_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}$")


def dtype_name(array: np.ndarray) -> str:
    dtype = array.dtype
    key = dtype.newbyteorder("<") if dtype.byteorder in "<>=" else dtype
    try:
        return _NAME_OF[key]
    except KeyError:
        raise ValueError(
            f"dtype {dtype} cannot be stored; use one of {sorted(DTYPES)}"
        ) from None


def encode_tensors(tensors: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Tensors -> the payload's plain ``tensors`` map (writer side)."""
    plain: dict[str, Any] = {}
    for name, array in tensors.items():
        if not isinstance(name, str) or not TENSOR_NAME.match(name):
            raise ValueError(f"tensor name {name!r} is not allowed")
        array = np.asarray(array)
        kind = dtype_name(array)
        little = np.asarray(array, dtype=DTYPES[kind], order="C")  # keeps rank 0
        if array.dtype.kind == "f" and not np.all(np.isfinite(little)):
            raise ValueError(f"tensor {name!r} holds NaN or infinite values")
        plain[name] = {
            "data": little.tobytes(order="C"),
            "dtype": kind,
            "shape": [int(n) for n in little.shape],
        }
    return plain


def decode_tensors(plain: Any, limits: Limits) -> dict[str, np.ndarray]:
    """The payload's ``tensors`` map -> read-only arrays (reader side)."""
    if not isinstance(plain, dict):
        raise MalformedPayload("payload 'tensors' must be a map of name to tensor")
    if len(plain) > limits.max_tensors:
        raise MalformedPayload(
            f"payload holds {len(plain)} tensors, above the limit {limits.max_tensors}"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, entry in plain.items():
        if not TENSOR_NAME.match(name):
            raise MalformedPayload(f"tensor name {name!r} is not allowed")
        if not isinstance(entry, dict) or set(entry) != {"data", "dtype", "shape"}:
            raise MalformedPayload(
                f"tensor {name!r} must be a map with exactly data, dtype and shape"
            )
        kind, shape, data = entry["dtype"], entry["shape"], entry["data"]
        if kind not in DTYPES:
            raise MalformedPayload(
                f"tensor {name!r} has dtype {kind!r}; allowed: {', '.join(sorted(DTYPES))}"
            )
        if not isinstance(shape, list) or len(shape) > limits.max_rank:
            raise MalformedPayload(
                f"tensor {name!r} shape must be a list of at most {limits.max_rank} sizes"
            )
        for size in shape:
            if isinstance(size, bool) or not isinstance(size, int):
                raise MalformedPayload(f"tensor {name!r} shape holds a non-integer")
            if not 0 <= size <= limits.max_dim:
                raise MalformedPayload(
                    f"tensor {name!r} dimension {size} is outside 0..{limits.max_dim}"
                )
        if not isinstance(data, bytes):
            raise MalformedPayload(f"tensor {name!r} data must be msgpack bin")
        expected = math.prod(shape) * DTYPES[kind].itemsize
        if len(data) != expected:
            raise MalformedPayload(
                f"tensor {name!r} has {len(data)} bytes; shape {shape} of {kind} "
                f"needs {expected}"
            )
        array = np.frombuffer(data, dtype=DTYPES[kind]).reshape(tuple(shape))
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise MalformedPayload(f"tensor {name!r} holds NaN or infinite values")
        if kind == "bool" and np.any(np.frombuffer(data, np.uint8) > 1):
            raise MalformedPayload(f"tensor {name!r} holds bool bytes other than 0 and 1")
        arrays[name] = array
    return arrays
