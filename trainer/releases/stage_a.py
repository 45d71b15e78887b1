"""Stage A: one Gaussian release over every column that needs it.

Per-value counts of string columns and of the exact values of numeric
columns (kept only above a threshold: *partition selection*; a numeric
value kept is a *point mass*, a value many rows share; an integer column's
are counted at σ_range with their own threshold), null counts, coarse signed-log2 magnitude
histograms and decimal-place histograms of numeric columns, yearly
histograms of datetime columns, and the character-class shapes of string
identifiers and of the values of a text column that are not released (its
fillers' shape). Each row adds 1 to at most one cell of each histogram, so with noise
σ_h on histogram h the release is a Gaussian mechanism with effective noise
multiplier ``(Σ_h 1/σ_h²)^(-1/2)``.

Partition selection: a value held by a single row survives only if its noisy
count ``1 + N(0, σ²)`` exceeds the threshold τ; τ is set so that this has
probability ``threshold_delta`` per column, and one row can create one new
value per column, so the release adds ``columns × threshold_delta`` to δ
outside the accountant. Values below τ are never revealed, not even their
number: they map to the column's *rare* token. A text column's shape
histogram is a second selection (limit one shape), so it adds its own
``threshold_delta``; it counts only the rows whose value was not released,
which the first selection (already noisy) decides: adaptive composition of
Gaussian releases, at the same cost.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from provisioner.errors import InputDataError
from provisioner.schema import storable_category
from trainer.binning import significant_span
from trainer.column_types import TypedColumn, TypedTable
from trainer.declarations import ColumnDeclaration, Declarations
from trainer.releases.needs import MetadataOptions, Needs
from trainer.releases.noise import MetadataNoise, NoiseSource, noisy_histogram

__all__ = ("NULL_Z", "StageA", "TICKS_PER_DAY", "id_shape", "partition_select", "run_stage_a")

# signed log2 magnitude cells: 0, then ±[2^k, 2^(k+1)) for k in MAG_MIN..MAG_MAX-1;
# a bundle's cell edges lie within ±2^53 (HZG.md), so larger values fall in
# the top cell and are clipped to it
MAG_MIN, MAG_MAX = -20, 53
YEAR_MIN, YEAR_MAX = 1800, 2200
TICKS_PER_DAY = {"D": 1, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}
RANGE_Z = 4.5  # a magnitude cell counts as occupied above 4.5 σ (false alarm ~3e-6)
EXTEND_Z = 2.0
MISSING_Z = 3.0  # values missing from the span at 3 sd extend it (false alarm ~1e-3)
NULL_Z = 3.0
FLOOR_MARGIN = 2  # octaves kept under where positive values show (_positive_floor)


def _magnitude_cells(values: np.ndarray) -> np.ndarray:
    """Cell index of each value on the signed log2 grid (0 is its own cell)."""
    k = np.clip(np.floor(np.log2(np.maximum(np.abs(values), 2.0**MAG_MIN))), MAG_MIN,
                MAG_MAX - 1).astype(np.int64) - MAG_MIN
    width = MAG_MAX - MAG_MIN
    return np.where(values == 0, width, np.where(values > 0, width + 1 + k, width - 1 - k))


def _cell_range(cell: int) -> tuple[float, float]:
    width = MAG_MAX - MAG_MIN
    if cell == width:
        return 0.0, 0.0
    if cell > width:
        k = cell - width - 1 + MAG_MIN
        return 2.0**k, 2.0 ** (k + 1)
    k = width - 1 - cell + MAG_MIN
    return -(2.0 ** (k + 1)), -(2.0**k)


@dataclasses.dataclass
class StageA:
    """Released stage-A facts per column (all post-processing of noisy counts).

    ``null_counts`` hold every cell encoded as null: null in the source plus
    cells that did not parse (``unparsed_counts``, released apart for the
    owner); ``null_sigmas`` are their noise standard deviations.
    """

    categories: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    category_counts: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    null_counts: dict[str, float] = dataclasses.field(default_factory=dict)
    null_sigmas: dict[str, float] = dataclasses.field(default_factory=dict)
    unparsed_counts: dict[str, float] = dataclasses.field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    # the first and last of the cells that stage A's counts support on their
    # own (each above RANGE_Z·σ), as (lo, hi, noisy count) each, when they are
    # not one cell: values are known to lie in both, which stage B checks its
    # look against (the counts have noise σ_range)
    cores: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = \
        dataclasses.field(default_factory=dict)
    decimals: dict[str, int] = dataclasses.field(default_factory=dict)
    # where a range that starts at 0 has its positive values start: the lower
    # edge of the lowest positive magnitude cell the counts support, with a
    # margin (``_positive_floor``)
    floors: dict[str, float] = dataclasses.field(default_factory=dict)
    atoms: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    patterns: dict[str, str | None] = dataclasses.field(default_factory=dict)
    # the noisy count of a text column's released shape
    pattern_counts: dict[str, float] = dataclasses.field(default_factory=dict)

    def value_count(self, name: str, rows: float, rows_variance: float) -> tuple[float, float]:
        """The released count of a column's non-null cells and its noise
        variance: the released row count less the column's released nulls."""
        return (rows - self.null_counts.get(name, 0.0),
                rows_variance + self.null_sigmas.get(name, 0.0)**2)


def run_stage_a(table: TypedTable, declared: Declarations, needs: Needs, noise: MetadataNoise,
                options: MetadataOptions, rows_noisy: int, source: NoiseSource) -> StageA:
    """Stage A for every column of ``needs``; one noise stream per column.

    Privacy:
      One Gaussian release (see the module docstring): every histogram here
      takes one unit of one cell per row, at σ_vocab or σ_range.
    """
    out = StageA()
    tau = noise.threshold
    for column in table.columns:
        d = declared.get(column.name)
        stream = source.stream("stage-a", column.name)
        if column.name in needs.atoms:
            # values that many rows share (heaping, point masses): partition
            # selection over exact values, at the threshold of categories
            coarse = column.name in needs.coarse_atoms
            kept, _ = partition_select(
                column.values[~column.null], noise.range_sigma if coarse else noise.vocab_sigma,
                noise.atom_threshold if coarse else tau, stream, options.max_atoms)
            out.atoms[column.name] = sorted(float(v) for v in kept)
        elif column.name in needs.vocab:
            if column.kind == "id":
                out.patterns[column.name] = _select_pattern(column, noise, tau, stream)
                continue
            values = column.values[~column.null]
            _null_cells(column, noise.vocab_sigma, stream, out)
            if column.name in needs.partition:
                kept, counts = partition_select(values, noise.vocab_sigma, tau, stream,
                                                options.max_categories)
                out.categories[column.name] = kept
                out.category_counts[column.name] = counts
            elif column.kind in ("categorical", "text") and d.categories is not None \
                    and column.value_type != "boolean":
                out.category_counts[column.name] = _declared_counts(
                    values, d.categories, noise.vocab_sigma, stream)
        if column.name in needs.shapes:
            released = out.categories.get(column.name, d.categories or ())
            out.patterns[column.name], out.pattern_counts[column.name] = _select_pattern(
                column, noise, tau, stream, exclude=released, with_count=True)
        if column.name in needs.ranged:
            _stage_a_numeric(column, d, noise, rows_noisy, stream, out)
    return out


def _null_classes(column: TypedColumn) -> np.ndarray:
    """Per row: 0 null in the source, 1 did not parse, 2 a value."""
    return np.where(column.unparsed, 1, np.where(column.null, 0, 2))


def _keep_nulls(name: str, noisy_null: float, noisy_unparsed: float, sigma: float,
                out: StageA) -> None:
    out.null_counts[name] = noisy_null + noisy_unparsed
    out.null_sigmas[name] = sigma * math.sqrt(2)
    out.unparsed_counts[name] = noisy_unparsed


def _null_cells(column: TypedColumn, sigma: float, source: NoiseSource, out: StageA) -> None:
    """Release the counts of null and of unparsed cells (two cells).

    A row with a value adds to neither, so that beside the column's value
    counts every row still adds 1 to one cell of one histogram.
    """
    classes = _null_classes(column)
    hist = noisy_histogram(classes[classes < 2], 2, sigma, source)
    _keep_nulls(column.name, float(hist[0]), float(hist[1]), sigma, out)


def partition_select(values: np.ndarray, sigma: float, tau: float, source: NoiseSource,
                     limit: int) -> tuple[list[Any], list[float]]:
    counter = Counter(values.tolist())
    # values a bundle cannot hold (over-long or control-character labels,
    # integers past int64) are never released: they stay rare. The rule looks
    # at each value alone, so it leaks nothing about the others.
    keys = [k for k in counter if _storable(k)]
    noisy = np.array([counter[k] for k in keys], dtype=np.float64) + source.gaussian(
        sigma, len(keys))
    order = np.argsort(-noisy, kind="stable")
    kept = [(keys[i], float(noisy[i])) for i in order if noisy[i] > tau][:limit]
    return [k for k, _ in kept], [c for _, c in kept]


def _declared_counts(values: np.ndarray, categories: tuple[Any, ...], sigma: float,
                     source: NoiseSource) -> list[float]:
    """Noisy counts of a declared category list, in its order (a row holding
    another value adds to no cell: it is rare, or null under a closed list)."""
    counter = Counter(values.tolist())
    return [float(c) for c in np.array([counter.get(v, 0) for v in categories], dtype=np.float64)
            + source.gaussian(sigma, len(categories))]


def _storable(value: Any) -> bool:
    """Whether a bundle can hold ``value`` as a category (other values, e.g.
    the floats of a heap search, are not categories and always pass)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return storable_category(value, "integer")
    if isinstance(value, str):
        return storable_category(value, "string")
    return True


def id_shape(text: str) -> str:
    """Character classes of an identifier: 9 digit, A upper, a lower; others literal."""
    out = []
    for ch in text:
        if ch.isdigit() and ch.isascii():
            out.append("9")
        elif ch.isascii() and ch.isupper():
            out.append("A")
        elif ch.isascii() and ch.islower():
            out.append("a")
        elif ch in "9Aax\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _select_pattern(column: TypedColumn, noise: MetadataNoise, tau: float,
                    source: NoiseSource, exclude: Sequence[Any] = (),
                    with_count: bool = False) -> Any:
    """The most common character-class shape if it survives partition
    selection (one row adds 1 to one shape), else None.

    ``exclude``: values whose rows are left out (a text column's released
    values: the filler stands for the others). ``with_count``: return
    (shape, its noisy count), the count 0 when none survives.
    """
    left_out = set(exclude)
    shapes = np.array([id_shape(str(v)) for v in column.values[~column.null]
                       if v not in left_out], dtype=object)
    kept, counts = partition_select(shapes, noise.vocab_sigma, tau, source, 1)
    pattern = kept[0] if kept and len(kept[0]) <= 128 else None
    if with_count:
        return pattern, counts[0] if pattern is not None else 0.0
    return pattern


class _Occupied(NamedTuple):
    """What ``_occupied_cells`` finds: the span's first and last cell, its
    core's first and last cell with their noisy counts, and the noisy
    histogram itself (post-processing reads it again)."""

    first: int
    last: int
    core_first: int
    core_last: int
    core_first_count: float
    core_last_count: float
    counts: np.ndarray


def _occupied_cells(column: TypedColumn, cells: np.ndarray, size: int, sigma: float,
                    source: NoiseSource, out: StageA, what: str,
                    possible: np.ndarray | None = None,
                    rows: tuple[float, float] | None = None
                    ) -> _Occupied:
    """Release a histogram of ``cells`` plus null and unparsed cells; first/last
    occupied cell, first/last cell of the *core* (cells above RANGE_Z·σ
    on their own, or the significant run when there is none), the noisy
    counts of those two cells and the noisy histogram (``size`` cells).

    A cell counts as occupied above RANGE_Z·σ, and so does a run of cells whose
    sum is above RANGE_Z·σ·√m (values spread thinly); the cells just beyond the
    first and the last also count above EXTEND_Z·σ, because a column's
    extremes often sit alone in a cell of their own (16 for a 1-16 code starts
    a new power of two; years of schooling under 8, 3% of a survey, fill the
    cell [4, 8) and nothing else) and cutting them there would clip every
    such row to the value next to them (a false extension only widens the
    range, which stage B trims again). The
    null and unparsed cells' noisy counts are kept for the column's null
    decision and the owner. With ``rows`` (the released row count and its
    variance), a span that holds MISSING_Z sd fewer values than the column
    has (row count less nulls) reaches on to the side where its cells show
    the missing values (``_missing_reach``). Cells that no value can fall in (``possible``
    False: magnitudes under one unit of the column's decimals) are skipped,
    so that an integer's 0 and 1 are neighbours.
    """
    classes = _null_classes(column)
    extra = np.concatenate([np.full(int(np.sum(classes == 0)), size),
                            np.full(int(np.sum(classes == 1)), size + 1)]).astype(np.int64)
    hist = noisy_histogram(np.append(cells, extra).astype(np.int64), size + 2, sigma, source)
    _keep_nulls(column.name, float(hist[-2]), float(hist[-1]), sigma, out)
    index = np.arange(size) if possible is None else np.flatnonzero(possible)
    counts = hist[:-2][index]
    if not np.any(counts > RANGE_Z * sigma):
        # values spread thinly over many cells (a mostly-null column of
        # budgets from 1e3 to 1e8): no cell alone, but a run of cells together
        runs = _significant_runs(counts, RANGE_Z * sigma)
        if runs is None:
            raise InputDataError(_too_small(column.name, what))
        first, last = int(index[runs[0]]), int(index[runs[1]])
        return _Occupied(first, last, first, last, 0.0, 0.0, hist[:-2])
    core = np.flatnonzero(counts > RANGE_Z * sigma)
    # cells above RANGE_Z·σ, and beyond them any run of cells significant together
    first, last = significant_span(counts, sigma, z=RANGE_Z, tail_z=RANGE_Z)
    if last + 1 < len(counts) and counts[last + 1] > EXTEND_Z * sigma:
        last += 1
    if first > 0 and counts[first - 1] > EXTEND_Z * sigma:
        first -= 1
    if rows is not None:
        values, values_var = out.value_count(column.name, *rows)
        sd = math.sqrt(values_var + (last - first + 1) * sigma**2)
        missing = values - float(counts[first:last + 1].sum())
        if missing > MISSING_Z * sd:
            up, down = _missing_reach(counts[last + 1:], missing - sd), \
                _missing_reach(counts[:first][::-1], missing - sd)
            if up[1] >= down[1]:
                last += up[0]
            else:
                first -= down[0]
    return _Occupied(int(index[first]), int(index[last]), int(index[core[0]]),
                     int(index[core[-1]]), float(counts[core[0]]), float(counts[core[-1]]),
                     hist[:-2])


def _positive_floor(found: _Occupied, possible: np.ndarray | None,
                    sigma: float) -> float | None:
    """The lower edge of the lowest positive magnitude cell that the counts
    support, when the span runs through the zero cell into positive values;
    None when that is the lowest possible cell anyway.

    A zero-inflated float printed to 15 digits (randhie's spending, 0 in 91%
    of rows and 4.49 to 38,650 in the rest) has a range that starts at 0 and
    a resolution of 1e-9; a geometric grid from 1e-9 spends most of its cells
    on the twelve empty decades under the values, and a bin over them
    decodes rows at 1e-5. The start is the first positive cell that stands
    out (RANGE_Z·σ, or a run below it that does, as for the span) or, when
    none does (values spread thinly, found by the value count), the start of
    the run of cells with the largest standardised sum; less FLOOR_MARGIN
    octaves for the values just under it (a thin start is under the noise).
    Post-processing of the released magnitude histogram.
    """
    zero = MAG_MAX - MAG_MIN
    if found.first > zero or found.last <= zero:
        return None
    cells = np.arange(zero + 1, found.last + 1)
    if possible is not None:
        cells = cells[possible[cells]]
    counts = found.counts[cells]
    if np.any(counts > RANGE_Z * sigma):
        start = significant_span(counts, sigma, z=RANGE_Z, tail_z=RANGE_Z)[0]
    else:
        start = _best_run(counts)[0]
    start = max(start - FLOOR_MARGIN, 0)
    return _cell_range(int(cells[start]))[0] if start > 0 else None


def _missing_reach(cells: np.ndarray, missing: float) -> tuple[int, float]:
    """How many of ``cells`` (next to the span, nearest first) to add to it,
    and how strongly they show mass (their largest standardised sum ``S/√m``).

    A zero-inflated count (a visit count that is 0 in 96% of rows, the rest
    spread over 1 to 60) has no cell and no run above the range's bar, yet
    the released value count shows the rows missing: the span reaches on to
    the first cell by which the cells' running sum has gathered ``missing``,
    or else to the end of the run that stands out most. Post-processing of
    released counts.
    """
    if not cells.size:
        return 0, -np.inf
    cum = np.cumsum(cells)
    standardised = cum / np.sqrt(np.arange(1, cells.size + 1))
    enough = np.flatnonzero(cum >= missing)
    m = int(enough[0]) + 1 if enough.size else int(np.argmax(standardised)) + 1
    return m, float(standardised.max())


def _best_run(hist: np.ndarray) -> tuple[int, int, float]:
    """The run of cells with the largest standardised sum ``S/√m``: its first
    and last cell and that sum."""
    cum = np.concatenate([[0.0], np.cumsum(hist)])
    a, b = np.triu_indices(len(hist) + 1, k=1)  # runs hist[a:b]
    standardised = (cum[b] - cum[a]) / np.sqrt(b - a)
    best = int(np.argmax(standardised))
    return int(a[best]), int(b[best]) - 1, float(standardised[best])


def _significant_runs(hist: np.ndarray, scale: float) -> tuple[int, int] | None:
    """The run of cells with the largest standardised sum ``S/√m``, if it
    exceeds ``scale`` (first and last cell), else None."""
    first, last, strength = _best_run(hist)
    return (first, last) if strength > scale else None


def _fewest_decimals(hist: np.ndarray, sigma: float, rows: float) -> int:
    """Fewest decimals k such that at most ~1% of rows (beyond noise) need more.

    ``hist[j]`` is the noisy count of values written with j decimals (9: nine
    or more). The rows beyond k are tested as a whole (NULL_Z sd of their
    sum) and each cell beyond k alone (RANGE_Z σ): values printed to 15 digits
    all land in the last cell, and the sum of nine noisy cells (sd 3σ) hides
    them where that cell alone (sd σ) shows them (5% of a survey's limitation
    scores, fractions among 0s and 1s, came back rounded to 0 or 1). An
    integral column comes out with 0 decimals as before but for a false alarm
    of ~3e-5 more (nine cells at 4.5σ).

    Privacy: post-processing of the decimals histogram.
    """
    tail = np.cumsum(hist[::-1])[::-1]  # tail[j] = rows needing >= j decimals
    share = 0.01 * rows
    for k in range(9):
        whole = tail[k + 1] <= max(share, NULL_Z * math.sqrt(9 - k) * sigma)
        if whole and np.all(hist[k + 1:] <= max(share, RANGE_Z * sigma)):
            return k
    return 9


def _stage_a_numeric(column: TypedColumn, d: ColumnDeclaration, noise: MetadataNoise,
                     rows_noisy: int, source: NoiseSource, out: StageA) -> None:
    sigma = noise.range_sigma
    present = ~column.null
    if column.kind == "numeric" and column.value_type == "float" and d.decimals is None:
        places = column.decimals[present]
        hist = noisy_histogram(places, 10, sigma, source)
        out.decimals[column.name] = _fewest_decimals(hist, sigma, rows_noisy)
    if d.bounds is None:
        if column.kind == "datetime":
            days = column.values[present] // TICKS_PER_DAY[column.unit]
            years = (days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
                     + 1970)
            cells = np.clip(years, YEAR_MIN - 1, YEAR_MAX) - (YEAR_MIN - 1)
            found = _occupied_cells(column, cells, YEAR_MAX - YEAR_MIN + 2, sigma,
                                    source, out, "its years",
                                    rows=(float(rows_noisy), noise.row_count_variance))

            def year_span(first: int, last: int) -> tuple[float, float]:
                first = max(first + YEAR_MIN - 1, YEAR_MIN)
                last = min(last + YEAR_MIN - 1, YEAR_MAX - 1)
                lo = np.datetime64(f"{first:04d}-01-01").astype(f"datetime64[{column.unit}]")
                hi = np.datetime64(f"{last + 1:04d}-01-01").astype(
                    f"datetime64[{column.unit}]")
                return float(lo.astype(np.int64)), float(hi.astype(np.int64))

            out.ranges[column.name] = year_span(found.first, found.last)
            if found.core_first != found.core_last:
                out.cores[column.name] = (
                    (*year_span(found.core_first, found.core_first), found.core_first_count),
                    (*year_span(found.core_last, found.core_last), found.core_last_count))
        else:
            cells = _magnitude_cells(column.values[present])
            size = 2 * (MAG_MAX - MAG_MIN) + 1
            # Magnitudes the values cannot have are skipped, so that the zero
            # cell neighbours the smallest possible one: under 1 for integers
            # (public), under one unit of the released decimals for floats
            # (post-processing): rain gauges read 0 in 93% of hours and 0.01
            # or more in the rest, 13 empty cells away from zero on the full grid.
            possible = None
            places = 0 if column.value_type == "integer" else out.decimals.get(
                column.name, d.decimals)
            if places is not None:
                smallest = 10.0**-places
                possible = np.array([max(abs(a), abs(b)) > smallest or a == b == 0.0
                                     for a, b in map(_cell_range, range(size))])
            found = _occupied_cells(column, cells, size, sigma, source, out,
                                    "its range", possible,
                                    rows=(float(rows_noisy), noise.row_count_variance))
            lo, hi = _cell_range(found.first)[0], _cell_range(found.last)[1]
            if hi == 0.0:  # the top occupied cell is exactly zero
                hi = 1.0 if column.value_type == "integer" else 1e-9
            out.ranges[column.name] = (lo, hi)
            floor = _positive_floor(found, possible, sigma)
            if floor is not None:
                out.floors[column.name] = floor
            if found.core_first != found.core_last:
                out.cores[column.name] = (
                    (*_cell_range(found.core_first), found.core_first_count),
                    (*_cell_range(found.core_last), found.core_last_count))
    elif d.nullable is None:
        _null_cells(column, sigma, source, out)


def _too_small(name: str, what: str) -> str:
    return (f"column {name!r}: too few rows to find {what} under DP at this budget; "
            "declare bounds in the schema file, raise epsilon, or drop the column")
