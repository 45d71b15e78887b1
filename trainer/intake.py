"""The front end of training: cells in, first phase, typed columns out.

``intake`` reads the table's cells, runs the first phase (the Laplace row
count and the typing release), decides each column's type from declarations
or from the noisy counts, and parses every cell on its own under it. Every
later step (the main phase's plan, stage A and B, DP-SGD) starts from what
this returns, and nothing here branches on an exact property of the data:
"too few rows" and "δ below 1/rows" are judged on the noisy row count, the
types on noisy class counts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from provisioner.errors import InputDataError
from trainer.budget import resolve_delta
from trainer.column_types import TypedTable, type_table, typing_needs
from trainer.config import TrainConfig
from trainer.declarations import Declarations
from trainer.load import RawTable, read_table
from trainer.privacy_plan import FirstPhase, plan_first_phase
from trainer.releases.first_phase import FirstPhaseOutput, exact_first_phase, run_first_phase
from trainer.releases.noise import NoiseSource

__all__ = ("MIN_ROWS", "Intake", "exact_types", "intake")

MIN_ROWS = 10


@dataclasses.dataclass(frozen=True)
class Intake:
    """The typed table and what the first phase released and spent.

    Attributes:
      table: typed columns, parsed cell by cell.
      rows: the noisy row count (exact in non-private runs).
      delta: the run's δ (given, or the default checked on the noisy count).
      first: the first phase's releases.
      plan: the first phase's noise and spend; None in non-private runs.
    """

    table: TypedTable
    rows: int
    delta: float | None
    first: FirstPhaseOutput
    plan: FirstPhase | None


def intake(source_table: str | os.PathLike[str] | Any, config: TrainConfig,
           declared: Declarations, noise: NoiseSource, *, encoding: str = "utf-8",
           null_values: Sequence[str] = ("",)) -> Intake:
    """Read, run the first phase, type and parse.

    Args:
      source_table: a CSV/Parquet path, a pandas DataFrame or a RawTable.
      config: the run's configuration (budget shares of the first phase).
      declared: the owner's declarations.
      noise: the metadata noise source.
      encoding, null_values: how CSV text is read.
    """
    raw = source_table if isinstance(source_table, RawTable) else read_table(
        source_table, encoding=encoding, null_values=null_values, drop=declared.dropped)
    declared.check_columns(raw.names + declared.dropped)
    needs = typing_needs(raw, declared)
    p = config.privacy
    if not p.enabled:
        first = exact_first_phase(raw, needs)
        if first.rows < MIN_ROWS:
            raise InputDataError(f"the table has {first.rows} row(s); training needs at "
                                 f"least {MIN_ROWS}")
        table = type_table(raw, declared, first.class_counts, 0.0, first.rows, origin="exact")
        return Intake(_with_content(table), first.rows, None, first, None)
    plan = plan_first_phase(p, needs)
    first = run_first_phase(raw, plan, noise)
    if first.rows < MIN_ROWS:
        raise InputDataError(
            f"the table has too few rows for DP training (a noisy count of about "
            f"{first.rows}); training needs at least {MIN_ROWS}")
    delta = resolve_delta(p.delta, first.rows)
    table = type_table(raw, declared, first.class_counts, first.typing_sigma, first.rows)
    return Intake(_with_content(table), first.rows, delta, first, plan)


def _with_content(table: TypedTable) -> TypedTable:
    if not any(c.kind != "id" for c in table.columns):
        raise InputDataError("every column is an identifier: there is nothing to learn")
    return table


def exact_types(raw: RawTable, declared: Declarations | None = None) -> TypedTable:
    """Types decided on EXACT class counts: for ``hzg schema`` drafts only.

    .. warning:: Not differentially private: what it prints is read from the
       data exactly, for the owner to review before declaring it.
    """
    declared = declared or Declarations.empty()
    first = exact_first_phase(raw, typing_needs(raw, declared))
    return type_table(raw, declared, first.class_counts, 0.0, first.rows, origin="exact")
