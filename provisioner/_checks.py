"""Keyword validators shared by the provisioner and the trainer.

``positive(noise_multiplier=-1)`` raises ``ConfigError("Expected
noise_multiplier=-1 > 0.")``: the message names the argument the user gave.
"""

from __future__ import annotations

import math

from provisioner.errors import ConfigError


def _finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"Expected {name} to be a number, got {value!r}.")
    if not math.isfinite(value):
        raise ConfigError(f"Expected {name}={value} to be finite.")


def positive(**values: float) -> None:
    """Every value is a finite number > 0."""
    for name, value in values.items():
        _finite(name, value)
        if value <= 0:
            raise ConfigError(f"Expected {name}={value} > 0.")


def non_negative(**values: float) -> None:
    """Every value is a finite number >= 0."""
    for name, value in values.items():
        _finite(name, value)
        if value < 0:
            raise ConfigError(f"Expected {name}={value} >= 0.")


def probability(**values: float) -> None:
    """Every value lies in the open interval (0, 1)."""
    for name, value in values.items():
        _finite(name, value)
        if not 0 < value < 1:
            raise ConfigError(f"Expected 0 < {name}={value} < 1.")


def positive_int(**values: int) -> None:
    """Every value is an integer >= 1."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"Expected {name}={value!r} to be an integer >= 1.")
