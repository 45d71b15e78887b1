"""The row count: the table's number of rows plus Laplace noise (its own phase).

Later parameters (the batch size as a sampling rate) may depend on it,
which is why it is a separate phase (see ``trainer.dp.accounting``).
"""

from __future__ import annotations

from trainer.releases.noise import MetadataNoise, NoiseSource
from trainer.releases.record import Release

__all__ = ("noisy_row_count",)


def noisy_row_count(rows: int, noise: MetadataNoise, source: NoiseSource) -> tuple[int, Release]:
    value = max(0, int(round(rows + source.laplace(noise.count_scale))))
    release = Release("row-count", "row-count", "laplace",
                      {"scale": noise.count_scale, "sensitivity": 1.0}, (),
                      noise_multiplier=noise.count_scale)
    return value, release

