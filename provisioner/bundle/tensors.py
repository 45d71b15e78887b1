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
from provisioner.errors import LimitExceeded, MalformedPayload

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


def decode_tensors(plain: Any, limits: Limits, *, strict: bool = True
                   ) -> dict[str, np.ndarray]:
    """The payload's ``tensors`` map -> read-only arrays (reader side).

    ``data`` values are buffers of the decompressed payload; the arrays view
    them without copying. Checks, per tensor in key order: the entry's keys,
    the dtype, the shape, the byte length, then the values (HZG.md,
    "Payload and tensors").
    """
    if not isinstance(plain, dict):
        raise MalformedPayload("payload 'tensors' must be a map of name to tensor")
    if len(plain) > limits.max_tensors:
        raise LimitExceeded(
            f"payload holds {len(plain)} tensors, above the limit {limits.max_tensors}"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, entry in plain.items():
        if not TENSOR_NAME.match(name):
            raise MalformedPayload(f"tensor name {name!r} is not allowed")
        if not isinstance(entry, dict):
            raise MalformedPayload(f"tensor {name!r} must be a map")
        missing = [key for key in ("data", "dtype", "shape") if key not in entry]
        unknown = sorted(set(entry) - {"data", "dtype", "shape"})
        if missing or (strict and unknown):
            raise MalformedPayload(
                f"tensor {name!r} must be a map with exactly data, dtype and shape"
            )
        kind, shape, data = entry["dtype"], entry["shape"], entry["data"]
        if not isinstance(kind, str) or kind not in DTYPES:
            raise MalformedPayload(
                f"tensor {name!r} has dtype {_shown(kind)}; allowed: "
                f"{', '.join(sorted(DTYPES))}"
            )
        if not isinstance(shape, list):
            raise MalformedPayload(f"tensor {name!r} shape must be an array of sizes")
        if len(shape) > limits.max_rank:
            raise LimitExceeded(
                f"tensor {name!r} has rank {len(shape)}, above the limit {limits.max_rank}"
            )
        for size in shape:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise MalformedPayload(
                    f"tensor {name!r} shape holds {_shown(size)}, not a size")
            if size > limits.max_dim:
                raise LimitExceeded(
                    f"tensor {name!r} dimension {size} is above the limit {limits.max_dim}"
                )
        if not isinstance(data, (bytes, memoryview)):
            raise MalformedPayload(f"tensor {name!r} data must be msgpack bin")
        expected = math.prod(shape) * DTYPES[kind].itemsize  # Python ints: no overflow
        if len(data) != expected:
            raise MalformedPayload(
                f"tensor {name!r} has {len(data)} bytes; shape {shape} of {kind} "
                f"needs {expected}"
            )
        array = np.frombuffer(data, dtype=DTYPES[kind]).reshape(tuple(shape))
        if array.dtype.kind == "f" and not all_finite(array):
            raise MalformedPayload(f"tensor {name!r} holds NaN or infinite values")
        if kind == "bool" and np.frombuffer(data, np.uint8).max(initial=0) > 1:
            raise MalformedPayload(f"tensor {name!r} holds bool bytes other than 0 and 1")
        arrays[name] = array
    return arrays


_CHUNK = 1 << 20


def all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity, checked in slices so the test allocates little."""
    flat = array.reshape(-1)
    return all(np.isfinite(flat[i:i + _CHUNK]).all() for i in range(0, flat.size, _CHUNK))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
