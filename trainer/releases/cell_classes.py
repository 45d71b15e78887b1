"""The typing release: noisy counts of each column's cell classes (first phase).

Which columns have which type is decided from these counts (post-processing,
``trainer.column_types``), so it belongs in the first phase with the row
count: its outcome fixes which main-phase mechanisms run and their noise.

Every column whose type is not fixed by the owner's declarations or by its
storage type takes part; each cell falls in exactly one class of a fixed
list (``trainer.cells``), so adding a row moves one count per such column by
one. With ``c`` columns the count vectors together have L2 sensitivity
``√c``, and Gaussian noise σ on every count is a Gaussian mechanism with
noise multiplier ``σ/√c``.
"""

from __future__ import annotations

import numpy as np

from trainer.cells import cell_classes
from trainer.column_types import TypingNeeds
from trainer.load import RawColumn, RawTable
from trainer.releases.noise import NoiseSource
from trainer.releases.record import FIRST_PHASE, Release

__all__ = ("exact_cell_classes", "noisy_cell_classes")


def _counts(column: RawColumn) -> np.ndarray:
    return cell_classes(column.storage, column.cells, column.null, column.unit)


def exact_cell_classes(table: RawTable, needs: TypingNeeds) -> dict[str, np.ndarray]:
    """The exact class counts: for non-private runs and for ``hzg schema`` only."""
    return {name: _counts(table.column(name)) for name in needs.columns}


def noisy_cell_classes(table: RawTable, needs: TypingNeeds, sigma: float,
                       source: NoiseSource) -> tuple[dict[str, np.ndarray], Release]:
    """Class counts plus N(0, σ²) each, and the release for the ledger.

    Privacy:
      Add/remove one row moves one count of each participating column by
      one: L2 sensitivity ``needs.sensitivity``; noise multiplier σ / Δ₂.
    """
    noisy: dict[str, np.ndarray] = {}
    for name in needs.columns:
        counts = _counts(table.column(name))
        if len(counts) != len(needs.classes[name]):
            raise AssertionError(f"internal: class list of {name!r} changed")
        noisy[name] = counts + source.stream("cell-classes", name).gaussian(sigma, len(counts))
    z = sigma / needs.sensitivity
    release = Release("cell-classes", FIRST_PHASE, "gaussian",
                      {"sigma": sigma, "l2_sensitivity": needs.sensitivity,
                       "noise_multiplier": z, "columns": len(needs.classes)},
                      needs.columns, noise_multiplier=z)
    return noisy, release

