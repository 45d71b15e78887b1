"""The row count: the table's number of rows plus Laplace noise (first phase).

Later parameters (the batch size as a sampling rate) may depend on it,
which is why it is in the first phase (see ``trainer.releases.first_phase``).
"""

from __future__ import annotations

from trainer.releases.noise import NoiseSource
from trainer.releases.record import FIRST_PHASE, Release

__all__ = ("noisy_row_count",)


def noisy_row_count(rows: int, scale: float, source: NoiseSource) -> tuple[int, Release]:
    """The row count plus Laplace(scale) noise, rounded and clamped at 0.

    Privacy:
      Sensitivity 1 under add/remove-one: (1/scale)-DP.
    """
    value = max(0, int(round(rows + source.laplace(scale))))
    release = Release("row-count", FIRST_PHASE, "laplace",
                      {"scale": scale, "sensitivity": 1.0}, (), noise_multiplier=scale)
    return value, release

