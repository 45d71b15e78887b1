"""Noise scales of the metadata releases and the OS noise source.

The scales are fixed by the budget split before any value is read
(``trainer.train.plan_budget``); the source draws from ``os.urandom`` and is
never stored or logged.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

__all__ = ("MetadataNoise", "NoiseSource", "noisy_histogram", "normal_quantile")


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) by bisection on erfc (no scipy in the trainer's core)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclasses.dataclass(frozen=True)
class MetadataNoise:
    """Noise scales of the metadata releases, fixed before values are read.

    Attributes:
      count_scale: Laplace scale of the row count (sensitivity 1).
      vocab_sigma: Gaussian σ of value counts, null counts and id shapes.
      range_sigma: Gaussian σ of magnitude, decimal and year histograms.
      grid_sigma: Gaussian σ of the fine histograms (stage B).
      threshold_delta: per column, the probability that a value held by one
        row survives partition selection.
    """

    count_scale: float
    vocab_sigma: float
    range_sigma: float
    grid_sigma: float
    threshold_delta: float

    @property
    def threshold(self) -> float:
        return 1.0 + self.vocab_sigma * normal_quantile(1.0 - self.threshold_delta)


class NoiseSource:
    """Gaussian and Laplace noise seeded from the OS; never stored or logged."""

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self._rng = rng or np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(int.from_bytes(os.urandom(32), "little"))))

    def gaussian(self, sigma: float, size: int | tuple[int, ...]) -> np.ndarray:
        return self._rng.normal(0.0, sigma, size=size)

    def laplace(self, scale: float) -> float:
        return float(self._rng.laplace(0.0, scale))



def noisy_histogram(cells: np.ndarray, size: int, sigma: float,
                     source: NoiseSource) -> np.ndarray:
    """Counts of ``cells`` in ``0..size-1`` plus N(0, σ²) noise on each cell."""
    counts = np.bincount(cells, minlength=size)[:size].astype(np.float64)
    return counts + source.gaussian(sigma, size)
