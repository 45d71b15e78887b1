"""Differentially private column metadata: counts, vocabularies, ranges, bins.

Everything the bundle says about the data outside the weights comes from
here, and each value either was declared public in the schema file or went
through one of three accounted releases:

1. **Row count** (its own phase): the table's row count plus Laplace noise.
   Later parameters (the batch size as a sampling rate) may depend on it,
   which is why it is a separate phase (see ``trainer.dp.accounting``).
2. **Stage A**, one Gaussian release over all columns that need it:
   per-value counts of string columns (kept only above a threshold:
   *partition selection*), null counts, coarse signed-log2 magnitude
   histograms and decimal-place histograms of numeric columns, yearly
   histograms of datetime columns, and the character-class shapes of string
   identifiers. Each row adds 1 to one cell of each histogram, so with
   noise σ_h on histogram h the release is a Gaussian mechanism with
   effective noise multiplier ``(Σ_h 1/σ_h²)^(-1/2)``.
3. **Stage B**, one Gaussian release: a fine histogram of each numeric and
   datetime column on a grid fixed by stage A's (already released) range.
   Bins and the within-bin decoding weights are post-processing of it.

Partition selection: a value held by a single row survives only if its noisy
count ``1 + N(0, σ²)`` exceeds the threshold τ; τ is set so that this has
probability ``threshold_delta`` per column, and one row can create one new
value per column, so the release adds ``columns × threshold_delta`` to δ
outside the accountant. Values below τ are never revealed, not even their
number: they map to the column's *rare* token.

Randomness comes from the OS (``os.urandom``) and is never stored.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from provisioner.errors import InputDataError
from provisioner.schema import Column, Grid, Schema
from trainer.calibrate import MarginalTarget
from trainer.declarations import ColumnDeclaration, SchemaFile
from trainer.load import TypedColumn, TypedTable

RARE_LABEL = "__rare__"
# signed log2 magnitude cells: 0, then ±[2^k, 2^(k+1)) for k in MAG_MIN..MAG_MAX-1
MAG_MIN, MAG_MAX = -20, 63
YEAR_MIN, YEAR_MAX = 1800, 2200
TICKS_PER_DAY = {"D": 1, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}
RANGE_Z = 4.5  # a magnitude cell counts as occupied above 4.5 σ (false alarm ~3e-6)
NULL_Z = 3.0


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


@dataclasses.dataclass(frozen=True)
class MetadataOptions:
    numeric_bins: int = 20
    max_exact_tokens: int = 32
    fine_cells: int = 100
    max_exact_cells: int = 200
    max_categories: int = 1000


@dataclasses.dataclass(frozen=True)
class Needs:
    """How many histograms each release holds: fixed by kinds and declarations."""

    vocab: tuple[str, ...]  # columns with a vocab/null/shape histogram (σ_vocab)
    partition: tuple[str, ...]  # the subset using partition selection
    ranged: tuple[str, ...]  # columns with range/decimal/year histograms (σ_range)
    range_histograms: int
    fine: tuple[str, ...]  # columns with a stage-B fine histogram

    def stage_a_multiplier(self, noise: MetadataNoise) -> float | None:
        """Effective Gaussian noise multiplier of stage A, or None if empty."""
        inverse = len(self.vocab) / noise.vocab_sigma**2 \
            + self.range_histograms / noise.range_sigma**2
        return None if inverse == 0 else inverse ** -0.5

    def stage_b_multiplier(self, noise: MetadataNoise) -> float | None:
        return noise.grid_sigma / math.sqrt(len(self.fine)) if self.fine else None


def plan_needs(table: TypedTable, declared: SchemaFile) -> Needs:
    """Which columns need which release; depends on kinds and declarations only."""
    vocab, partition, ranged, fine = [], [], [], []
    range_histograms = 0
    for column in table.columns:
        d = declared.get(column.name)
        if column.kind == "categorical":
            needs_values = column.value_type != "boolean" and d.categories is None
            if needs_values or d.nullable is None:
                vocab.append(column.name)
            if needs_values:
                partition.append(column.name)
        elif column.kind in ("numeric", "datetime"):
            if d.edges is None:
                fine.append(column.name)
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
    return Needs(tuple(vocab), tuple(partition), tuple(ranged), range_histograms, tuple(fine))


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


class NoiseSource:
    """Gaussian and Laplace noise seeded from the OS; never stored or logged."""

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self._rng = rng or np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(int.from_bytes(os.urandom(32), "little"))))

    def gaussian(self, sigma: float, size: int | tuple[int, ...]) -> np.ndarray:
        return self._rng.normal(0.0, sigma, size=size)

    def laplace(self, scale: float) -> float:
        return float(self._rng.laplace(0.0, scale))


# --- the row count (phase 1) ---------------------------------------------------


def noisy_row_count(rows: int, noise: MetadataNoise, source: NoiseSource) -> tuple[int, Release]:
    value = max(0, int(round(rows + source.laplace(noise.count_scale))))
    release = Release("row-count", "row-count", "laplace",
                      {"scale": noise.count_scale, "sensitivity": 1.0}, (),
                      noise_multiplier=noise.count_scale)
    return value, release


# --- stage A -------------------------------------------------------------------


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


def _noisy_histogram(cells: np.ndarray, size: int, sigma: float,
                     source: NoiseSource) -> np.ndarray:
    counts = np.bincount(cells, minlength=size)[:size].astype(np.float64)
    return counts + source.gaussian(sigma, size)


@dataclasses.dataclass
class StageA:
    """Released stage-A facts per column (all post-processing of noisy counts)."""

    categories: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    category_counts: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    null_counts: dict[str, float] = dataclasses.field(default_factory=dict)
    null_sigmas: dict[str, float] = dataclasses.field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    decimals: dict[str, int] = dataclasses.field(default_factory=dict)
    patterns: dict[str, str | None] = dataclasses.field(default_factory=dict)


def run_stage_a(table: TypedTable, declared: SchemaFile, needs: Needs, noise: MetadataNoise,
                options: MetadataOptions, rows_noisy: int, source: NoiseSource) -> StageA:
    out = StageA()
    tau = noise.threshold
    for column in table.columns:
        d = declared.get(column.name)
        if column.name in needs.vocab:
            if column.kind == "id":
                out.patterns[column.name] = _select_pattern(column, noise, tau, source)
                continue
            values = column.values[~column.null]
            noisy_null = float(column.null.sum()) + float(source.gaussian(noise.vocab_sigma, 1)[0])
            out.null_counts[column.name] = noisy_null
            out.null_sigmas[column.name] = noise.vocab_sigma
            if column.name in needs.partition:
                kept, counts = _partition_select(values, noise.vocab_sigma, tau, source,
                                                 options.max_categories)
                out.categories[column.name] = kept
                out.category_counts[column.name] = counts
        if column.name in needs.ranged:
            _stage_a_numeric(column, d, noise, rows_noisy, source, out)
    return out


def _partition_select(values: np.ndarray, sigma: float, tau: float, source: NoiseSource,
                      limit: int) -> tuple[list[Any], list[float]]:
    counter = Counter(values.tolist())
    keys = list(counter)
    noisy = np.array([counter[k] for k in keys], dtype=np.float64) + source.gaussian(
        sigma, len(keys))
    order = np.argsort(-noisy, kind="stable")
    kept = [(keys[i], float(noisy[i])) for i in order if noisy[i] > tau][:limit]
    return [k for k, _ in kept], [c for _, c in kept]


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
                    source: NoiseSource) -> str | None:
    shapes = np.array([id_shape(str(v)) for v in column.values], dtype=object)
    kept, _ = _partition_select(shapes, noise.vocab_sigma, tau, source, 1)
    if not kept or len(kept[0]) > 128:
        return None
    return kept[0]


def _occupied_cells(column: TypedColumn, cells: np.ndarray, size: int, sigma: float,
                    source: NoiseSource, out: StageA, what: str) -> tuple[int, int]:
    """Release a histogram of ``cells`` plus a null cell; first/last occupied cell.

    A cell counts as occupied above RANGE_Z·σ; the null cell's noisy count is
    kept for the column's null decision.
    """
    nulls = np.full(int(column.null.sum()), size)
    hist = _noisy_histogram(np.append(cells, nulls), size + 1, sigma, source)
    out.null_counts[column.name] = float(hist[-1])
    out.null_sigmas[column.name] = sigma
    occupied = np.flatnonzero(hist[:-1] > RANGE_Z * sigma)
    if occupied.size == 0:
        raise InputDataError(_too_small(column.name, what))
    return int(occupied[0]), int(occupied[-1])


def _stage_a_numeric(column: TypedColumn, d: ColumnDeclaration, noise: MetadataNoise,
                     rows_noisy: int, source: NoiseSource, out: StageA) -> None:
    sigma = noise.range_sigma
    present = ~column.null
    if d.bounds is None:
        if column.kind == "datetime":
            days = column.values[present] // TICKS_PER_DAY[column.unit]
            years = (days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
                     + 1970)
            cells = np.clip(years, YEAR_MIN - 1, YEAR_MAX) - (YEAR_MIN - 1)
            first, last = _occupied_cells(column, cells, YEAR_MAX - YEAR_MIN + 2, sigma,
                                          source, out, "its years")
            first = max(first + YEAR_MIN - 1, YEAR_MIN)
            last = min(last + YEAR_MIN - 1, YEAR_MAX - 1)
            lo = np.datetime64(f"{first:04d}-01-01").astype(f"datetime64[{column.unit}]")
            hi = np.datetime64(f"{last + 1:04d}-01-01").astype(f"datetime64[{column.unit}]")
            out.ranges[column.name] = (float(lo.astype(np.int64)), float(hi.astype(np.int64)))
        else:
            cells = _magnitude_cells(column.values[present])
            first, last = _occupied_cells(column, cells, 2 * (MAG_MAX - MAG_MIN) + 1, sigma,
                                          source, out, "its range")
            lo, hi = _cell_range(first)[0], _cell_range(last)[1]
            if hi == 0.0:  # the top occupied cell is exactly zero
                hi = 1.0 if column.value_type == "integer" else 1e-9
            out.ranges[column.name] = (lo, hi)
    elif d.nullable is None:
        noisy = float(column.null.sum()) + float(source.gaussian(sigma, 1)[0])
        out.null_counts[column.name] = noisy
        out.null_sigmas[column.name] = sigma
    if column.kind == "numeric" and column.value_type == "float" and d.decimals is None:
        places = column.decimals[present]
        hist = _noisy_histogram(places, 10, sigma, source)
        # fewest decimals such that at most ~1% of rows (beyond noise) need more
        tail = np.cumsum(hist[::-1])[::-1]  # tail[k] = rows needing >= k decimals
        allowance = max(0.01 * rows_noisy, NULL_Z * sigma * 3)
        chosen = 9
        for k in range(10):
            if k == 9 or tail[k + 1] <= allowance:
                chosen = k
                break
        out.decimals[column.name] = chosen


def _too_small(name: str, what: str) -> str:
    return (f"column {name!r}: too few rows to find {what} under DP at this budget; "
            "declare bounds in the schema file, raise epsilon, or drop the column")


# --- stage B -------------------------------------------------------------------


def fine_edges(lo: float, hi: float, integral: bool, decimals: int,
               options: MetadataOptions) -> np.ndarray:
    """Cell edges of the fine grid on [lo, hi): exact integers, or linear/geometric."""
    if integral:
        lo, hi = math.floor(lo), math.ceil(hi)
        if hi - lo <= options.max_exact_cells:
            return np.arange(lo, hi + 1, dtype=np.float64)
    unit = 1.0 if integral else 10.0 ** -max(decimals, 0)
    cells = options.fine_cells
    span_pos = (math.log10(hi / max(lo, unit)) if hi > 0 else 0.0)
    if lo >= 0 and hi > 0 and span_pos > 2:
        # heavy right tail: a zero cell (when 0 is in range) plus geometric cells
        start = max(lo, unit)
        edges = np.geomspace(start, hi, cells + 1)
        if lo < start:
            edges = np.concatenate([[lo], edges])
    elif hi <= 0 and lo < 0 and math.log10(-lo / max(-hi, unit)) > 2:
        edges = -np.geomspace(-lo, max(-hi, unit), cells + 1)
        if hi > edges[-1]:
            edges = np.concatenate([edges, [hi]])
    elif lo < 0 < hi and max(-lo, hi) / unit > 1000:
        share = math.log(-lo / unit) / (math.log(-lo / unit) + math.log(hi / unit))
        n_neg = max(2, int(round(cells * share)))
        neg = -np.geomspace(-lo, unit, n_neg + 1)
        pos = np.geomspace(unit, hi, max(2, cells - n_neg) + 1)
        edges = np.concatenate([neg, [0.0], pos])
    else:
        edges = np.linspace(lo, hi, cells + 1)
    edges = np.round(edges / unit) * unit
    edges[0], edges[-1] = lo, hi
    return np.unique(edges)


def quantile_bins(weights: np.ndarray, bins: int, max_exact: int) -> list[int]:
    """Greedy quantile binning over cells; heavy cells become bins of their own."""
    n = len(weights)
    if n <= max_exact:
        return list(range(n))
    total = float(weights.sum())
    if total <= 0:
        return [int(round(i * n / bins)) for i in range(bins) if int(round(i * n / bins)) < n]
    target = total / bins
    starts = [0]
    acc = 0.0
    for j, w in enumerate(weights):
        heavy = w >= target
        if j > starts[-1] and (heavy or acc >= target):
            starts.append(j)
            acc = 0.0
        acc += w
        if heavy and j + 1 < n:
            starts.append(j + 1)
            acc = 0.0
    return sorted(set(s for s in starts if s < n))


def run_stage_b(table: TypedTable, declared: SchemaFile, needs: Needs, stage_a: StageA,
                noise: MetadataNoise, options: MetadataOptions, source: NoiseSource,
                out_targets: dict[str, MarginalTarget] | None = None) -> dict[str, Grid]:
    """Fine grids; fills ``out_targets`` with noisy per-bin counts where reliable."""
    grids: dict[str, Grid] = {}
    out_targets = {} if out_targets is None else out_targets
    for column in table.columns:
        d = declared.get(column.name)
        if column.kind not in ("numeric", "datetime"):
            continue
        integral = column.kind == "datetime" or column.value_type == "integer"
        if d.edges is not None:
            edges = np.asarray(d.edges)
            grids[column.name] = Grid(tuple(edges), tuple([1.0] * (len(edges) - 1)),
                                      tuple(range(len(edges) - 1)))
            continue
        lo, hi = d.bounds if d.bounds is not None else stage_a.ranges[column.name]
        if d.bounds is not None and integral:
            hi = hi + 1  # declared bounds are inclusive; cells are half-open
        decimals = d.decimals if d.decimals is not None else stage_a.decimals.get(column.name, 0)
        edges = fine_edges(lo, hi, integral, decimals, options)
        values = np.clip(column.values[~column.null], edges[0], np.nextafter(edges[-1], -np.inf))
        cells = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        noisy = _noisy_histogram(cells, len(edges) - 1, noise.grid_sigma, source)
        # Cells under 2σ are more likely noise than mass; the grid's ends are
        # cut at 3σ so that a lone noisy cell cannot stretch the range (rows
        # beyond the ends are clipped into the end cells).
        weights = np.where(noisy > 2 * noise.grid_sigma, noisy, 0.0)
        first, last = _occupied_span(np.where(noisy > 3 * noise.grid_sigma, noisy, 0.0))
        edges, weights = edges[first:last + 2], weights[first:last + 1]
        max_exact = options.max_exact_tokens if integral else 0
        starts = quantile_bins(weights, options.numeric_bins, max_exact)
        decode_weights = shrink_within_bins(noisy[first:last + 1], starts, noise.grid_sigma)
        grids[column.name] = Grid(tuple(float(e) for e in edges),
                                  tuple(float(w) for w in decode_weights), tuple(starts))
        # Per-bin totals of the untrimmed noisy counts (cells cut off at the ends
        # belong to the end bins, as their rows are clipped there): unbiased
        # marginals, with noise variance σ² per cell summed.
        cell_bin = np.searchsorted(np.asarray(starts), np.arange(len(weights)),
                                   side="right") - 1
        owner = np.clip(np.arange(len(noisy)) - first, 0, len(weights) - 1)
        out_targets[column.name] = MarginalTarget(
            np.bincount(cell_bin[owner], weights=noisy, minlength=len(starts)),
            np.bincount(cell_bin[owner], minlength=len(starts)) * noise.grid_sigma**2)
    return grids


def shrink_within_bins(noisy: np.ndarray, starts: Sequence[int], sigma: float) -> np.ndarray:
    """Decoding weights: noisy cell counts shrunk toward their bin's mean.

    Within a bin, cell counts vary by signal (spikes, slopes) and by the
    release's noise σ. Empirical Bayes: with observed variance s² the signal
    variance is what exceeds σ² clearly (by two standard errors of s²), and
    each count is pulled toward the bin mean by λ = signal / (signal + σ²). Smooth bins become uniform (noise ignored),
    spiky bins keep their spikes; cells then under 2σλ are taken as empty.
    Post-processing of the released counts.
    """
    weights = np.zeros_like(noisy)
    bounds = list(starts) + [len(noisy)]
    for a, b in zip(bounds, bounds[1:]):
        cells = noisy[a:b]
        if b - a == 1:
            weights[a:b] = max(float(cells[0]), 0.0)
            continue
        mean = float(cells.mean())
        # the variance of pure noise over m cells fluctuates by about
        # sqrt(2/(m-1)) of σ²: count as signal only what lies clearly above it
        excess = 1.0 + 2.0 * math.sqrt(2.0 / (b - a - 1))
        signal = max(float(cells.var(ddof=1)) - excess * sigma**2, 0.0)
        lam = signal / (signal + sigma**2) if sigma > 0 else 1.0
        shrunk = mean + lam * (cells - mean)
        weights[a:b] = np.where(shrunk > 2 * sigma * lam, shrunk, 0.0)
    return np.maximum(weights, 0.0)


def _occupied_span(weights: np.ndarray) -> tuple[int, int]:
    """First and last cell with weight (the whole grid if none has any)."""
    nonzero = np.flatnonzero(weights > 0)
    if nonzero.size == 0:
        return 0, len(weights) - 1
    return int(nonzero[0]), int(nonzero[-1])


# --- putting it together ---------------------------------------------------------


def _null_estimate(stage_a: StageA, name: str) -> tuple[float, float]:
    """Released null count of a column (clamped at 0) and its noise variance."""
    return (max(stage_a.null_counts.get(name, 0.0), 0.0),
            stage_a.null_sigmas.get(name, 0.0) ** 2)


def _with_null(target: MarginalTarget, nullable: bool, fallback: int | None,
               null_count: float, null_var: float) -> MarginalTarget:
    """Add the null token, or fold nulls into the token they are encoded as."""
    counts, variances = list(target.counts), list(target.variances)
    if nullable:
        counts.append(null_count)
        variances.append(null_var)
    elif fallback is not None:
        counts[fallback] += null_count
        variances[fallback] += null_var
    return MarginalTarget(np.asarray(counts, dtype=float), np.asarray(variances, dtype=float))


@dataclasses.dataclass(frozen=True)
class DerivedSchema:
    """The schema plus what training needs from the same releases.

    Attributes:
      schema: the bundle's schema.
      releases: the accounted releases that produced it.
      null_fallback: token used for nulls in a column without a null token.
      marginals: noisy token counts and their noise variances (post-processing
        of DP releases), per column whose releases cover every token.
    """

    schema: Schema
    releases: tuple[Release, ...]
    null_fallback: dict[str, int]
    marginals: dict[str, MarginalTarget] = dataclasses.field(default_factory=dict)


def derive_schema(table: TypedTable, declared: SchemaFile, noise: MetadataNoise,
                  options: MetadataOptions, rows_noisy: int, source: NoiseSource,
                  *, dp: bool = True) -> DerivedSchema:
    """Build the bundle's schema: declared facts, or DP releases of the data.

    Args:
      table: the typed table.
      declared: public declarations.
      noise: noise scales (fixed before this call from the budget plan).
      options: binning options (public).
      rows_noisy: the released row count (phase 1).
      source: OS-seeded noise.
      dp: False only for non-private runs; then noise scales are ignored
        (they should be tiny) and columns are marked public. Never mixed.
    """
    needs = plan_needs(table, declared)
    stage_a = run_stage_a(table, declared, needs, noise, options, rows_noisy, source)
    bin_counts: dict[str, MarginalTarget] = {}
    grids = run_stage_b(table, declared, needs, stage_a, noise, options, source, bin_counts)
    columns: list[Column] = []
    marginals: dict[str, MarginalTarget] = {}
    fallback: dict[str, int] = {}
    null_bar = NULL_Z * noise.vocab_sigma
    for column in table.columns:
        d = declared.get(column.name)
        touched = (column.name in needs.vocab or column.name in needs.ranged
                   or column.name in needs.fine)
        origin = ("dp" if dp else "exact") if touched else "public"
        if d.nullable is not None:
            nullable = d.nullable
        elif column.kind == "id":
            nullable = False
        else:
            bar = null_bar if column.name in needs.vocab else NULL_Z * noise.range_sigma
            nullable = stage_a.null_counts.get(column.name, 0.0) > bar
        if column.kind == "categorical":
            if column.value_type == "boolean":
                categories: Sequence[Any] = (False, True)
                rare = None
            elif d.categories is not None:
                categories = d.categories
                rare = RARE_LABEL if d.rare else None
            else:
                categories = stage_a.categories[column.name]
                rare = RARE_LABEL
            out = Column(column.name, "categorical", column.value_type, nullable, origin,
                         categories=tuple(categories), rare_label=rare)
            counts = stage_a.category_counts.get(column.name)
            if not nullable and column.null.any():
                # nulls become the most frequent released value (DP counts)
                fallback[column.name] = int(np.argmax(counts)) if counts else 0
            if counts is not None and rare is not None:
                sigma = noise.vocab_sigma
                null_count, null_var = _null_estimate(stage_a, column.name)
                rest = rows_noisy - sum(counts) - null_count
                rest_var = 2 * noise.count_scale**2 + (len(counts) * sigma**2) + null_var
                marginals[column.name] = _with_null(
                    MarginalTarget(np.asarray(list(counts) + [max(rest, 0.0)]),
                                   np.asarray([sigma**2] * len(counts) + [rest_var])),
                    nullable, fallback.get(column.name), null_count, null_var)
        elif column.kind in ("numeric", "datetime"):
            grid = grids[column.name]
            decimals = 0
            if column.kind == "numeric" and column.value_type == "float":
                decimals = d.decimals if d.decimals is not None else stage_a.decimals[column.name]
            elif column.kind == "numeric" and d.decimals is not None:
                decimals = min(d.decimals, 0)
            unit = d.unit or column.unit
            out = Column(column.name, column.kind,
                         "datetime" if column.kind == "datetime" else column.value_type,
                         nullable, origin, decimals=decimals, grid=grid,
                         unit=unit if column.kind == "datetime" else None,
                         format=(d.format or column.format) if column.kind == "datetime"
                         else None)
            if not nullable and column.null.any():
                starts = np.asarray(grid.bin_starts)
                mass = np.add.reduceat(np.asarray(grid.cell_weights), starts)
                fallback[column.name] = int(np.argmax(mass))
            if column.name in bin_counts:
                null_count, null_var = _null_estimate(stage_a, column.name)
                marginals[column.name] = _with_null(
                    bin_counts[column.name], nullable, fallback.get(column.name),
                    null_count, null_var)
        else:
            if column.value_type == "integer":
                out = Column(column.name, "id", "integer", False, "public", style="sequence")
            else:
                pattern = d.pattern or stage_a.patterns.get(column.name)
                style = "pattern" if pattern else "uuid"
                out = Column(column.name, "id", "string", False,
                             origin if d.pattern is None else "public",
                             style=style, pattern=pattern)
        columns.append(out)
    releases: list[Release] = []
    if not dp:
        return DerivedSchema(Schema(tuple(columns), rows=None), (), fallback, marginals)
    z_a = needs.stage_a_multiplier(noise)
    if z_a is not None:
        releases.append(Release(
            "metadata-stage-a", "main", "gaussian",
            {"noise_multiplier": z_a, "vocab_sigma": noise.vocab_sigma,
             "range_sigma": noise.range_sigma, "threshold": noise.threshold,
             "threshold_delta_per_column": noise.threshold_delta,
             "partition_selection_columns": len(needs.partition)},
            tuple(sorted(set(needs.vocab) | set(needs.ranged))), z_a,
            extra_delta=noise.threshold_delta * len(needs.partition)))
    z_b = needs.stage_b_multiplier(noise)
    if z_b is not None:
        releases.append(Release(
            "metadata-stage-b", "main", "gaussian",
            {"noise_multiplier": z_b, "grid_sigma": noise.grid_sigma,
             "histograms": len(needs.fine)},
            needs.fine, z_b))
    return DerivedSchema(Schema(tuple(columns), rows=rows_noisy), tuple(releases), fallback,
                         marginals)
