"""The first phase's releases: the row count and the typing release.

Their outcomes fix the main phase's parameters (the sampling rate comes from
the noisy row count; which stage-A/B histograms run, and so their noise,
comes from the column types), so they form a phase of their own, planned by
``trainer.privacy_plan.plan_first_phase``: the accountant composes the two
within the phase, and the phases add up (basic composition, valid for any
choice the main phase makes from these outputs).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from trainer.column_types import TypingNeeds
from trainer.load import RawTable
from trainer.releases.cell_classes import exact_cell_classes, noisy_cell_classes
from trainer.releases.noise import NoiseSource
from trainer.releases.record import Release
from trainer.releases.row_count import noisy_row_count

if TYPE_CHECKING:
    from trainer.privacy_plan import FirstPhase

__all__ = ("FirstPhaseOutput", "exact_first_phase", "run_first_phase")


@dataclasses.dataclass(frozen=True)
class FirstPhaseOutput:
    """What the first phase released.

    Attributes:
      rows: the noisy row count (exact in non-private runs).
      class_counts: noisy class counts per column of the typing release.
      typing_sigma: their noise standard deviation (0 when exact).
      releases: the releases, for the privacy statement.
    """

    rows: int
    class_counts: dict[str, np.ndarray]
    typing_sigma: float
    releases: tuple[Release, ...]


def run_first_phase(table: RawTable, plan: FirstPhase, source: NoiseSource) -> FirstPhaseOutput:
    """Release the noisy row count and the noisy class counts."""
    rows, count = noisy_row_count(table.num_rows, plan.count_scale, source.stream("row-count"))
    releases = [count]
    counts: dict[str, np.ndarray] = {}
    if plan.typing.columns:
        counts, typing = noisy_cell_classes(table, plan.typing, plan.typing_sigma, source)
        releases.append(typing)
    return FirstPhaseOutput(rows, counts, plan.typing_sigma, tuple(releases))


def exact_first_phase(table: RawTable, needs: TypingNeeds) -> FirstPhaseOutput:
    """Exact counts, for non-private runs and for drafting a schema file."""
    return FirstPhaseOutput(table.num_rows, exact_cell_classes(table, needs), 0.0, ())
