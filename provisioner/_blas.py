"""Keep numpy's OpenBLAS on one thread while we sample on several.

Sampling runs many small matrix products (a few thousand rows by tens of
columns) in parallel Python threads. OpenBLAS would split each of them over
all cores again; on a busy machine its spinning threads then made a product
40x slower than on one thread (measured here). While sampling, the BLAS pool
is set to one thread and restored afterwards, the way threadpoolctl does it,
without depending on it. Where numpy does not use OpenBLAS (macOS
Accelerate, MKL) this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from collections.abc import Iterator

import numpy as np

# (get, set) symbol pairs of the OpenBLAS builds numpy ships or links
_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)
_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_controls: tuple[object, object] | None | bool = False  # False: not looked up yet


def _candidates() -> list[str]:
    paths: list[str] = []
    base = os.path.dirname(os.path.dirname(np.__file__))
    for folder in (os.path.join(base, "numpy.libs"), os.path.join(base, "numpy", ".libs")):
        paths.extend(glob.glob(os.path.join(folder, "*openblas*")))
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "openblas" in os.path.basename(path) and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def _find_controls() -> tuple[object, object] | None:
    for path in _candidates():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            getter = getattr(library, get_name, None)
            setter = getattr(library, set_name, None)
            if getter is not None and setter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Within the block, OpenBLAS uses one thread (re-entrant, thread-safe)."""
    global _depth, _saved, _controls
    with _lock:
        if _controls is False:
            _controls = _find_controls()
        if _controls is not None and _depth == 0:
            getter, setter = _controls
            _saved = int(getter())
            setter(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _controls is not None and _depth == 0 and _saved is not None:
                _controls[1](_saved)
                _saved = None
