"""Which release holds which histograms: fixed by kinds and declarations.

Nothing here reads a value: the number of histograms in each release (and
so its noise multiplier) depends only on the table's column kinds and what
the owner declared.
"""

from __future__ import annotations

import dataclasses
import math

from provisioner.errors import SchemaFileError
from trainer.column_types import TypedTable
from trainer.declarations import Declarations
from trainer.releases.noise import MetadataNoise

__all__ = ("MetadataOptions", "Needs", "plan_needs")


@dataclasses.dataclass(frozen=True)
class MetadataOptions:
    numeric_bins: int = 20
    max_exact_tokens: int = 32
    fine_cells: int = 100
    max_exact_cells: int = 200
    max_categories: int = 1000
    max_atoms: int = 64


@dataclasses.dataclass(frozen=True)
class Needs:
    """How many histograms each release holds: fixed by kinds and declarations."""

    vocab: tuple[str, ...]  # columns with a vocab/null/shape/value histogram (σ_vocab)
    partition: tuple[str, ...]  # the subset using partition selection
    ranged: tuple[str, ...]  # columns with range/decimal/year histograms (σ_range)
    range_histograms: int
    fine: tuple[str, ...]  # columns with a stage-B fine histogram
    # numeric columns whose exact values are counted (in vocab and partition):
    # values many rows share become point cells of the fine grid
    atoms: tuple[str, ...] = ()
    # declared functional dependencies (source, dependent): a joint token
    # histogram each, in stage B, whose noisy argmax maps source to dependent
    dependencies: tuple[tuple[str, str], ...] = ()
    # the integer ones among the atoms, counted at σ_range: their point masses
    # need less precision than a category (and a narrow integer range has a
    # cell per value anyway); a float's heaps (coordinates, 57.0) keep σ_vocab
    coarse_atoms: tuple[str, ...] = ()
    # text columns whose filler shape is released: one more histogram at
    # σ_vocab (character-class shapes of the values not released) with its
    # own partition selection
    shapes: tuple[str, ...] = ()
    # declared dependencies whose mapping is declared too: no histogram
    mapped: tuple[tuple[str, str], ...] = ()
    # columns the model generates (categorical, text, numeric, datetime): the
    # dependency check after training has candidates only with two or more
    modelled: int = 0

    def dependency_checks(self, most: int) -> int:
        """Candidate pairs the dependency check may test: ``most``, or fewer
        when the table has fewer column pairs (one needs two columns)."""
        return min(most, self.modelled * (self.modelled - 1) // 2)

    @property
    def stage_b_histograms(self) -> int:
        """Two looks per numeric/datetime column (see stage_b), one per dependency."""
        return 2 * len(self.fine) + len(self.dependencies)

    @property
    def vocab_histograms(self) -> int:
        """Stage-A histograms at σ_vocab: value, null and shape counts."""
        return len(self.vocab) - len(self.coarse_atoms) + len(self.shapes)

    @property
    def selections(self) -> int:
        """Partition selections: each adds ``threshold_delta`` to δ (one row can
        bring one new value to each)."""
        return len(self.partition) + len(self.shapes)

    @property
    def range_noise_histograms(self) -> int:
        """Stage-A histograms at σ_range: ranges, decimals, exact integer values."""
        return self.range_histograms + len(self.coarse_atoms)

    def stage_a_multiplier(self, noise: MetadataNoise) -> float | None:
        """Effective Gaussian noise multiplier of stage A, or None if empty."""
        inverse = self.vocab_histograms / noise.vocab_sigma**2 \
            + self.range_noise_histograms / noise.range_sigma**2
        return None if inverse == 0 else inverse ** -0.5

    def stage_b_multiplier(self, noise: MetadataNoise) -> float | None:
        count = self.stage_b_histograms
        return noise.grid_sigma / math.sqrt(count) if count else None


def plan_needs(table: TypedTable, declared: Declarations) -> Needs:
    """Which columns need which release; depends on kinds and declarations only."""
    vocab, partition, ranged, fine, atoms, dependencies = [], [], [], [], [], []
    mapped: list[tuple[str, str]] = []
    coarse_atoms: list[str] = []
    shapes: list[str] = []
    range_histograms = 0
    kinds = {column.name: column.kind for column in table.columns}
    for column in table.columns:
        d = declared.get(column.name)
        if d.determined_by is not None:
            pair = _dependency(column, d.determined_by, kinds)
            (dependencies if d.mapping is None else mapped).append(pair)
        if column.kind in ("categorical", "text"):
            # a declared list is counted too (no selection: the values are
            # public): its noisy counts are the calibration targets that keep
            # the column's marginal where the data has it
            counted = column.value_type != "boolean"
            if counted or d.nullable is None:
                vocab.append(column.name)
            if counted and d.categories is None:
                partition.append(column.name)
            if column.kind == "text" and d.pattern is None:
                shapes.append(column.name)
        elif column.kind in ("numeric", "datetime"):
            if d.edges is None:
                fine.append(column.name)
                if column.kind == "numeric":
                    atoms.append(column.name)
                    if column.value_type == "integer":
                        coarse_atoms.append(column.name)
                    vocab.append(column.name)
                    partition.append(column.name)
            count = 0
            if d.bounds is None:
                count += 1  # magnitude (numeric) or year (datetime) histogram, null cell included
            elif d.nullable is None:
                count += 1  # a one-cell null histogram
            if (column.kind == "numeric" and column.value_type == "float"
                    and d.decimals is None):
                count += 1
            if count:
                ranged.append(column.name)
                range_histograms += count
        elif column.kind == "id" and column.value_type == "string" and d.pattern is None:
            vocab.append(column.name)
            partition.append(column.name)
    modelled = sum(column.kind in ("categorical", "text", "numeric", "datetime")
                   for column in table.columns)
    return Needs(tuple(vocab), tuple(partition), tuple(ranged), range_histograms, tuple(fine),
                 tuple(atoms), tuple(dependencies), tuple(coarse_atoms), tuple(shapes),
                 tuple(mapped), modelled)


def _dependency(column, source: str, kinds: dict[str, str]) -> tuple[str, str]:
    """A declared dependency, checked against the kinds (public) only."""
    if kinds.get(source) != "categorical":
        raise SchemaFileError(
            f"column {column.name!r} is determined_by {source!r}, which is not a categorical "
            "column; only a categorical column can determine another")
    if column.kind not in ("categorical", "numeric"):
        raise SchemaFileError(
            f"column {column.name!r} is a {column.kind} column: only categorical and numeric "
            "columns can be determined_by another")
    return source, column.name

