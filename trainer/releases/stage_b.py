"""Stage B: one Gaussian release of two fine histograms per numeric/datetime column.

The grid of the first histogram is fixed by stage A's (already released)
range or by declared bounds; the grid of the second by the first's noisy
counts (a zoom onto the cells the values occupy, or the same grid again).
Bins and the within-bin decoding weights are post-processing of the noisy
counts (``trainer.binning``). Each row adds 1 to one cell of each histogram,
so with ``k`` histograms at noise σ the release has noise multiplier
``σ/√k``; a grid chosen from earlier noisy output is adaptive composition,
which Gaussian mechanisms allow at the same multiplier.
"""

from __future__ import annotations

import math

import numpy as np

from provisioner.schema import Grid
from trainer.binning import (
    fine_edges,
    quantile_bins,
    shrink_within_bins,
    significant_span,
    with_point_cells,
)
from trainer.calibrate import MarginalTarget
from trainer.column_types import TypedTable
from trainer.declarations import Declarations
from trainer.releases.needs import MetadataOptions, Needs
from trainer.releases.noise import MetadataNoise, NoiseSource, noisy_histogram
from trainer.releases.stage_a import StageA

__all__ = ("LOOKS", "run_stage_b")

MISSING_Z = 3.0  # stage A's count of a core cell beyond what the span holds of it
LOOKS = 2  # histograms per column: a first look, then a zoom or a second look
ZOOM_GAIN = 4  # zoom when the new grid has 4x the cells the values occupied


def run_stage_b(table: TypedTable, declared: Declarations, needs: Needs, stage_a: StageA,
                noise: MetadataNoise, options: MetadataOptions, source: NoiseSource,
                out_targets: dict[str, MarginalTarget] | None = None) -> dict[str, Grid]:
    """Fine grids; fills ``out_targets`` with noisy per-bin counts where reliable."""
    grids: dict[str, Grid] = {}
    out_targets = {} if out_targets is None else out_targets
    for column in table.columns:
        d = declared.get(column.name)
        if column.kind not in ("numeric", "datetime"):
            continue
        if d.edges is not None:
            edges = np.asarray(d.edges)
            grids[column.name] = Grid(tuple(edges), tuple([1.0] * (len(edges) - 1)),
                                      tuple(range(len(edges) - 1)))
            continue
        decimals = d.decimals if d.decimals is not None else stage_a.decimals.get(column.name, 0)
        # a float column whose released decimals are 0 holds integers ("3.0"
        # cells): it gets the integer grid (post-processing of stage A)
        integral = (column.kind == "datetime" or column.value_type == "integer"
                    or decimals == 0)
        lo, hi = d.bounds if d.bounds is not None else stage_a.ranges[column.name]
        if d.bounds is not None and integral:
            hi = hi + 1  # declared bounds are inclusive; cells are half-open
        points = stage_a.atoms.get(column.name, ())
        stream = source.stream("stage-b", column.name)
        unit = 1.0 if integral else 10.0 ** -decimals

        def grid_on(a: float, b: float) -> np.ndarray:
            edges = fine_edges(a, b, integral, decimals, options)
            if points:
                edges = with_point_cells(edges, points, unit)
            if len(edges) < 2:  # a range narrower than one unit (only zeros seen)
                edges = np.array([a, max(b, a + unit)])
            return edges

        def measure(edges: np.ndarray) -> np.ndarray:
            values = np.clip(column.values[~column.null], edges[0],
                             np.nextafter(edges[-1], -np.inf))
            cells = np.clip(np.searchsorted(edges, values, side="right") - 1, 0,
                            len(edges) - 2)
            return noisy_histogram(cells, len(edges) - 1, noise.grid_sigma, stream)

        core = stage_a.cores.get(column.name)

        def span(noisy: np.ndarray, sigma: float) -> tuple[int, int]:
            # Declared bounds are the output range; otherwise the grid's ends
            # are cut where neither a cell (3σ) nor the whole tail beyond it is
            # significant, so that a lone noisy cell cannot stretch the range
            # (rows beyond the ends are clipped into the end cells) and a thin
            # tail is not cut off.
            if d.bounds is not None:
                return 0, len(noisy) - 1
            return significant_span(noisy, sigma)

        def misses_core(edges: np.ndarray, first: int, last: int) -> bool:
            # stage A found values in its first and last core cells; a fine
            # look whose span reaches neither is under its noise there (values
            # spread thinly over many fine cells), not right
            if core is None or d.bounds is not None:
                return False
            (_, top_of_a), (bottom_of_b, _) = _core_cells(edges, core)
            return first > top_of_a or last < bottom_of_b

        # Two looks at each column (two histograms of the release). The first
        # finds where the values are on stage A's coarse range; when they sit
        # in a few of its cells (latitudes, pressures, years: a narrow range
        # far from zero) the second is a fresh grid over just those cells,
        # otherwise it measures the same grid again and the two are averaged,
        # which is as precise as one look with all the budget. Without a zoom
        # the range keeps stage A's core whole (values spread thinly over many
        # fine cells can be under the noise in every one of them, while stage
        # A's coarse cells found them); a first look that misses a cell of the
        # core is not trusted with a zoom. A zoom is onto where the values are
        # (a narrow range, which may straddle two of stage A's cells).
        edges = grid_on(lo, hi)
        noisy = measure(edges)
        sigma = noise.grid_sigma
        first, last = span(noisy, sigma)
        missed = misses_core(edges, first, last)
        zoomed = grid_on(float(edges[first]), float(edges[last + 1]))
        zoom = not missed and len(zoomed) - 1 >= ZOOM_GAIN * (last - first + 1)
        if zoom:
            edges = zoomed
            noisy = measure(edges)
        else:
            noisy = (noisy + measure(edges)) / 2
            sigma = sigma / np.sqrt(2.0)
        first, last = span(noisy, sigma)
        if core is not None and d.bounds is None and not zoom:
            first, last = _reach_core(noisy, sigma, edges, first, last, core,
                                      noise.range_sigma)
        # Cells under 2σ are more likely noise than mass.
        weights = np.where(noisy > 2 * sigma, noisy, 0.0)
        edges, weights = edges[first:last + 2], weights[first:last + 1]
        max_exact = options.max_exact_tokens if integral else 0
        starts = quantile_bins(weights, options.numeric_bins, max_exact)
        decode_weights = shrink_within_bins(noisy[first:last + 1], starts, sigma)
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
            np.bincount(cell_bin[owner], minlength=len(starts)) * sigma**2)
    return grids


def _cell_of(edges: np.ndarray, value: float, side: str = "right") -> int:
    return int(np.clip(np.searchsorted(edges, value, side=side) - 1, 0, len(edges) - 2))


def _core_cells(edges: np.ndarray, core: tuple[tuple[float, float, float], ...]
                ) -> tuple[tuple[int, int], tuple[int, int]]:
    """First and last fine cell inside each of the two end cells of stage A's core."""
    def inside(lo: float, hi: float, _count: float) -> tuple[int, int]:
        first = _cell_of(edges, lo)
        return first, (_cell_of(edges, hi, "left") if hi > lo else first)

    return inside(*core[0]), inside(*core[1])


def _end_of_mass(cells: np.ndarray) -> int:
    """How many of ``cells`` (from the span outwards) hold the mass: the run with
    the largest standardised sum ``S_b/√b``, which grows while the run gathers
    mass and falls once it gathers only noise."""
    b = np.arange(1, len(cells) + 1, dtype=np.float64)
    return int(np.argmax(np.cumsum(cells) / np.sqrt(b))) + 1


def _reach_core(noisy: np.ndarray, sigma: float, edges: np.ndarray, first: int, last: int,
                core: tuple[tuple[float, float, float], ...], core_sigma: float
                ) -> tuple[int, int]:
    """Widen ``[first, last]`` into stage A's end cells of the core.

    Stage A found values in both end cells (each above 4.5σ of its coarse
    histogram) where the fine cells may each be under the noise. The span
    reaches into each of them, and on as far as the fine counts' mass goes
    (no significance needed: the cell's rows are established) when it does
    not reach them, or when stage A's count of the cell clearly exceeds the
    fine cells the span holds of it (3 sd: rows lie beyond). Post-processing
    of released counts.
    """
    (low_a, top_a), (low_b, top_b) = _core_cells(edges, core)
    count_a, count_b = core[0][2], core[1][2]

    def beyond(held: np.ndarray, count: float) -> bool:
        sd = math.sqrt(core_sigma**2 + len(held) * sigma**2)
        return count - float(held.sum()) > MISSING_Z * sd

    if last < top_b and (last < low_b or beyond(noisy[low_b:last + 1], count_b)):
        last = max(last + _end_of_mass(noisy[last + 1:top_b + 1]), low_b)
    if first > low_a and (first > top_a or beyond(noisy[first:top_a + 1], count_a)):
        first = min(first - _end_of_mass(noisy[low_a:first][::-1]), top_a)
    return first, last
