"""Noise scales of the metadata releases and the OS noise source.

The scales are fixed by the budget split before any value is read
(``trainer.train.plan_budget``); the source draws from ``os.urandom`` and is
never stored or logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
from collections.abc import Iterator

import numpy as np

__all__ = ("MetadataNoise", "NoiseSource", "noisy_histogram", "normal_quantile",
           "seeded_noise_for_tests")

# Set only by seeded_noise_for_tests; no configuration or CLI option reaches it.
_TEST_SEED: list[int] = []


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
    def row_count_variance(self) -> float:
        """Variance of the released row count's Laplace noise (2·scale²)."""
        return 2 * self.count_scale**2

    @property
    def threshold(self) -> float:
        """Partition selection's bar for values counted at σ_vocab (categories)."""
        return 1.0 + self.vocab_sigma * normal_quantile(1.0 - self.threshold_delta)

    @property
    def atom_threshold(self) -> float:
        """The bar for exact integer values, counted at σ_range (same δ)."""
        return 1.0 + self.range_sigma * normal_quantile(1.0 - self.threshold_delta)


def _os_generator() -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(int.from_bytes(os.urandom(32), "little"))))


class NoiseSource:
    """Gaussian and Laplace noise seeded from the OS; never stored or logged.

    Args:
      rng: a known generator, for tests of the mechanisms themselves and for
        non-private runs only.
    """

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self._test_seed = _TEST_SEED[-1] if rng is None and _TEST_SEED else None
        self._explicit = rng is not None
        if rng is not None:
            self._rng = rng
        elif self._test_seed is not None:
            self._rng = np.random.default_rng(self._test_seed)
        else:
            self._rng = _os_generator()

    def stream(self, *key: str) -> NoiseSource:
        """An independent source for one release of one column.

        From the OS, every stream is freshly seeded. Under
        :func:`seeded_noise_for_tests` a stream depends only on the seed and
        ``key``, so two neighbouring tables draw the same noise for the same
        column's histogram whatever happened to other columns.
        """
        if self._test_seed is not None:
            digest = hashlib.sha256("\x1f".join(key).encode()).digest()
            return NoiseSource(np.random.default_rng(
                [self._test_seed, int.from_bytes(digest[:8], "little")]))
        if self._explicit:
            return NoiseSource(np.random.default_rng(int(self._rng.integers(0, 2**63))))
        return NoiseSource()

    def gaussian(self, sigma: float, size: int | tuple[int, ...]) -> np.ndarray:
        return self._rng.normal(0.0, sigma, size=size)

    def laplace(self, scale: float) -> float:
        return float(self._rng.laplace(0.0, scale))


def noisy_histogram(cells: np.ndarray, size: int, sigma: float,
                     source: NoiseSource) -> np.ndarray:
    """Counts of ``cells`` in ``0..size-1`` plus N(0, σ²) noise on each cell."""
    counts = np.bincount(cells, minlength=size)[:size].astype(np.float64)
    return counts + source.gaussian(sigma, size)


@contextlib.contextmanager
def seeded_noise_for_tests(seed: int) -> Iterator[None]:
    """TESTS ONLY: metadata noise drawn from ``seed`` instead of the OS.

    .. warning:: Noise from a known seed gives no privacy. This exists so that
       a test can train on two neighbouring tables with the same noise and
       compare what the trainer did. No configuration, CLI option or
       environment variable reaches it; DP-SGD's noise keys are not affected.
    """
    _TEST_SEED.append(int(seed))
    try:
        yield
    finally:
        _TEST_SEED.pop()
