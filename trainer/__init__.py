"""HZG trainer: turn a sensitive table into a signed, differentially private generator.

The heavy, on-prem half of HZG (JAX, optax, pandas, dp-accounting). Names are
loaded on first use so that light verbs (``hzg budget``) start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Declarations": "trainer.declarations",
    "PrivacyConfig": "trainer.config",
    "TrainConfig": "trainer.config",
    "TrainReport": "trainer.train",
    "read_table": "trainer.load",
    "train": "trainer.train",
}

__all__ = tuple(sorted(_EXPORTS))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
