"""How one accounted data access is described to the privacy ledger."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ("FIRST_PHASE", "MAIN_PHASE", "Release")

# The ledger's phases: the first fixes the main one's parameters.
FIRST_PHASE = "first"
MAIN_PHASE = "main"


@dataclasses.dataclass(frozen=True)
class Release:
    """One accounted data access, described for the ledger."""

    name: str
    phase: str
    kind: str
    params: dict[str, Any]
    columns: tuple[str, ...]
    noise_multiplier: float  # Laplace: scale/sensitivity; Gaussian: σ/Δ₂
    extra_delta: float = 0.0

