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

import dataclasses
from collections.abc import Callable

import numpy as np

from provisioner.schema import Grid
from trainer.binning import (
    fine_edges,
    monotone_tail,
    quantile_bins,
    shrink_within_bins,
    significant_span,
    split_edges,
    tail_runs,
    tail_to_keep,
    with_point_cells,
)
from trainer.calibrate import MarginalTarget
from trainer.column_types import TypedTable
from trainer.declarations import Declarations
from trainer.releases.needs import MetadataOptions, Needs
from trainer.releases.noise import MetadataNoise, NoiseSource, noisy_histogram, normal_quantile
from trainer.releases.stage_a import StageA

__all__ = ("LOOKS", "run_stage_b")

LOOKS = 2  # histograms per column: a first look, then a zoom or a second look
ZOOM_GAIN = 4  # zoom when the new grid has 4x the cells the values occupied
ZOOM_LOSS = 0.1  # ... and its span holds all but a tenth of the column's values
STRICT_ZOOM_LOSS = 0.02  # ... or, onto the cells that stand out from all the noise, a fiftieth
BEYOND_Z = 2.0  # ... unless more are shown outside it at 2 sd
ZOOM_CELL_Z = 5.0  # a zoom has as many cells as the values fill at 5 sd of noise each
SPLIT_CELLS = 8  # a span cell is looked at again as up to 8 sub-cells
SPLIT_Z = 2.0  # ... each of which would hold more than 2 sd of its noise


def run_stage_b(table: TypedTable, declared: Declarations, needs: Needs, stage_a: StageA,
                noise: MetadataNoise, options: MetadataOptions, rows_noisy: int,
                source: NoiseSource, out_targets: dict[str, MarginalTarget] | None = None
                ) -> dict[str, Grid]:
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

        def grid_on(a: float, b: float, cells: int = options.fine_cells) -> np.ndarray:
            edges = fine_edges(a, b, integral, decimals,
                               dataclasses.replace(options, fine_cells=cells),
                               floor=stage_a.floors.get(column.name, 0.0))
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
        sigma = noise.grid_sigma
        # the column's values: the released row count less its released nulls
        values_noisy, values_var = stage_a.value_count(column.name, rows_noisy,
                                                       noise.row_count_variance)

        # A zoom's cells hold ZOOM_CELL_Z sd of their noise on average: a bin's
        # noisy count sums the noise of its cells, so 100 cells of a few rows
        # each (20k pressures at ε = 1) give 20 bins each off by a quarter
        zoom_cells = options.fine_cells if sigma <= 0 else int(np.clip(
            values_noisy / (ZOOM_CELL_Z * sigma), options.numeric_bins, options.fine_cells))

        def leaves_rows_out(first: int, last: int, loss: float = ZOOM_LOSS) -> bool:
            # a zoom clips the rows outside its span into its end cells: it is
            # right only when they are few. Values spread over many cells
            # that are each under the noise (weather's wind gusts: 40 heaped
            # values of a few hundred rows each) can leave a handful of noise
            # cells standing out, which hold a fraction of the column
            held = float(noisy[first:last + 1].sum())
            sd = np.sqrt(values_var + (last - first + 1) * sigma**2)
            return values_noisy - held > loss * values_noisy + BEYOND_Z * sd

        def misses_core(edges: np.ndarray, first: int, last: int) -> bool:
            # stage A found values in its first and last core cells; a fine
            # look whose span reaches neither is under its noise there (values
            # spread thinly over many fine cells), not right
            if core is None or d.bounds is not None:
                return False
            (_, top_of_a), (bottom_of_b, _) = _core_cells(edges, core)
            return first > top_of_a or last < bottom_of_b

        # Two looks at each column (two histograms of the release). The first
        # finds where the values are on stage A's coarse range (or the
        # declared bounds): the span of cells its counts support. When the
        # values sit in a few of stage A's cells (latitudes, pressures, years:
        # a narrow range far from zero) the second look is a fresh grid over
        # just that span (a zoom; a first look that misses a cell of stage A's
        # core is not trusted with one). Otherwise the second look measures
        # the span's cells again (the two are averaged) and, beyond it, runs
        # of 1, 2, 4, ... cells out to the range's ends: a tail whose rows are
        # spread thinly (ages past 70, incomes' upper deciles) is under the
        # noise in every fine cell, and shows in the runs.
        edges = grid_on(lo, hi)
        noisy = measure(edges)
        first, last = significant_span(noisy, sigma)
        zoom = False
        # a zoom onto the cells that stand out from all the noise when they
        # hold all but a fiftieth of the values, or else onto the span: one
        # noise cell far from the values must not stretch the span, neither
        # ruling the zoom out (mplsstops' longitudes, one first-grid cell, kept
        # 41 cells and came out as 3 bins in about one fit in twenty) nor
        # making it twenty times too coarse (3 bins again, in one fit in forty)
        strict = significant_span(noisy, sigma, z=_cell_z(len(noisy), 0.001))
        for (a, b), loss in ((strict, STRICT_ZOOM_LOSS), ((first, last), ZOOM_LOSS)):
            if d.bounds is None and not zoom and not misses_core(edges, a, b) \
                    and not leaves_rows_out(a, b, loss):
                zoomed = grid_on(float(edges[a]), float(edges[b + 1]), zoom_cells)
                zoom = len(zoomed) - 1 >= ZOOM_GAIN * (b - a + 1)
        if zoom:
            looked = _zoom(zoomed, measure(zoomed), sigma)
        else:
            core_cells = _core_cells(edges, core) if core is not None and d.bounds is None \
                else None
            looked = _body_and_tails(edges, noisy, first, last, measure, sigma, unit,
                                     declared=d.bounds is not None, core_cells=core_cells)
        max_exact = options.max_exact_tokens if integral else 0
        grid, target = looked.grid(options.numeric_bins, max_exact)
        grids[column.name] = grid
        out_targets[column.name] = target
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


def _cell_z(cells: int, rate: float = 0.05) -> float:
    """How far above the noise a fine cell must be to count on its own.

    One cell in many is above 3σ by chance (13% in 100 cells of noise): a
    cell stands alone only above the level that all of them keep under with
    probability ``1 - rate``; what that loses, the tail runs find when it is
    mass.
    """
    return max(3.0, normal_quantile(1.0 - rate / max(cells, 1)))


TAIL_Z = 2.0  # a tail run is kept while the mass beyond it shows at 2 sd


@dataclasses.dataclass(frozen=True)
class _Looked:
    """What the two looks support: cells, their noisy counts and noise variances.

    ``body`` is the slice of cells whose counts come with the within-bin
    shrinkage of ``shrink_within_bins`` (at each cell's own noise: cells seen
    on both looks are averaged, split cells less so); the cells before and
    after it are tail runs (their counts refitted by ``monotone_tail``). ``beyond`` holds
    the noisy sum and variance of the cells cut off below and above: their
    rows are clipped into the end cells, so their counts belong to the end bins.
    """

    edges: np.ndarray
    counts: np.ndarray
    variances: np.ndarray
    body: slice
    beyond: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))

    def grid(self, bins: int, max_exact: int) -> tuple[Grid, MarginalTarget]:
        """Bins and decoding weights (post-processing), and the per-bin targets."""
        a, b = self.body.start, self.body.stop
        body = self.counts[a:b]
        body_sds = np.sqrt(self.variances[a:b])
        n = len(self.counts)
        if n <= max_exact:
            starts = list(range(n))
        else:
            # Cells under 2σ are more likely noise than mass; each tail is one bin.
            weights = np.where(body > 2 * body_sds, body, 0.0)
            starts = ([0] if a > 0 else []) + [a + s for s in quantile_bins(weights, bins, 0)] \
                + ([b] if b < n else [])
        decode = np.zeros(n)
        decode[a:b] = shrink_within_bins(body, [s - a for s in starts if a <= s < b] or [0],
                                         body_sds)
        decode[:a] = self.counts[:a]  # tails arrive refitted (non-negative)
        decode[b:] = self.counts[b:]
        grid = Grid(tuple(float(e) for e in self.edges), tuple(float(w) for w in decode),
                    tuple(starts))
        # Per-bin totals of the noisy counts, the clipped ends in the end bins:
        # unbiased marginals, with the cells' noise variances summed.
        cell_bin = np.searchsorted(np.asarray(starts), np.arange(n), side="right") - 1
        counts = np.bincount(cell_bin, weights=self.counts, minlength=len(starts))
        variances = np.bincount(cell_bin, weights=self.variances, minlength=len(starts))
        (low, low_var), (high, high_var) = self.beyond
        counts[0] += low
        variances[0] += low_var
        counts[-1] += high
        variances[-1] += high_var
        return grid, MarginalTarget(counts, variances)


_Run = tuple[int, int, float, float]  # grid cells [a, b), noisy count, noise variance


def _kept_tail(runs: list[_Run], declared: bool = False, reach: int | None = None
               ) -> tuple[list[_Run], tuple[float, float]]:
    """The runs of a tail (nearest first) that the range keeps, their counts
    refitted to thin outwards (``monotone_tail``), and the noisy sum and
    variance of the rest, which is clipped into the last kept run.

    Without declared bounds the runs are kept while the mass beyond them
    shows (``tail_to_keep`` at TAIL_Z), and at least out to the run holding
    ``reach`` (a cell stage A's counts place values in); declared bounds keep
    every run. Post-processing of the counts.
    """
    if not runs:
        return [], (0.0, 0.0)
    counts = np.array([r[2] for r in runs])
    variances = np.array([r[3] for r in runs])
    keep = len(runs)
    if not declared:
        keep = tail_to_keep(counts, variances, TAIL_Z)
        if reach is not None:
            keep = max(keep, next(i + 1 for i, (a, b, _, _) in enumerate(runs)
                                  if a <= reach < b or i == len(runs) - 1))
    sizes = np.array([r[1] - r[0] for r in runs[:keep]], dtype=np.float64)
    fitted = monotone_tail(counts[:keep], sizes, variances[:keep])
    kept = [(a, b, float(f), v) for (a, b, _, v), f in zip(runs[:keep], fitted)]
    return kept, (float(counts[keep:].sum()), float(variances[keep:].sum()))


def _with_tails(edges: np.ndarray, left: list[_Run], body_edges: np.ndarray,
                body_counts: np.ndarray, body_variances: np.ndarray, right: list[_Run],
                beyond: tuple[tuple[float, float], tuple[float, float]]) -> _Looked:
    """A look of kept tail runs (each nearest first, cells of ``edges``) on
    both sides of a body of cells."""
    left = left[::-1]  # outermost first, as on the grid
    return _Looked(
        np.concatenate([[edges[a] for a, _, _, _ in left], body_edges,
                        [edges[b] for _, b, _, _ in right]]),
        np.concatenate([[r[2] for r in left], body_counts, [r[2] for r in right]]),
        np.concatenate([[r[3] for r in left], body_variances, [r[3] for r in right]]),
        slice(len(left), len(left) + len(body_counts)), beyond)


def _zoom(edges: np.ndarray, noisy: np.ndarray, sigma: float) -> _Looked:
    """The second look on a zoomed grid: the span its counts support, and
    tail runs beyond it.

    A zoom's cells are finer than the first look's, so a thin end of the
    column (baseball's seasons before 1897: 5% of rows, a few dozen a year)
    is under the noise in every cell and as a run; cut at the span, its rows
    were clipped into the first season kept. Beyond the span, runs of 1, 2,
    4, ... cells are kept as the first grid's tails are (``_kept_tail``).
    """
    first, last = significant_span(noisy, sigma)
    right = [(last + 1 + a, last + 1 + b) for a, b in tail_runs(0, len(noisy) - last - 1)]
    left = [(first - b, first - a) for a, b in tail_runs(0, first)]  # nearest first

    def runs_of(cells: list[tuple[int, int]]) -> list[_Run]:
        return [(a, b, float(noisy[a:b].sum()), (b - a) * sigma**2) for a, b in cells]

    right_runs, beyond_high = _kept_tail(runs_of(right))
    left_runs, beyond_low = _kept_tail(runs_of(left))
    return _with_tails(edges, left_runs, edges[first:last + 2], noisy[first:last + 1],
                       np.full(last - first + 1, sigma**2), right_runs,
                       (beyond_low, beyond_high))


def _body_and_tails(edges: np.ndarray, noisy: np.ndarray, first: int, last: int,
                    measure: Callable[[np.ndarray], np.ndarray], sigma: float, unit: float,
                    *, declared: bool,
                    core_cells: tuple[tuple[int, int], tuple[int, int]] | None) -> _Looked:
    """The second look: the span ``[first, last]`` again, and tail runs beyond it.

    The span's cells are looked at again and combined with the first look;
    its ends are cut again where the second look no longer supports them, and
    what is cut becomes tail runs of 1, 2, 4, ... of those cells. A span cell
    where mass starts or stops (a neighbour under half its first count: a
    cluster of ids, the edge of a spike, a range's end) is looked at again as
    whole-unit sub-cells (``split_edges``), as many as its count fills above
    the noise: values clustered inside a wide cell then decode inside their
    cluster instead of across the cell. Smooth stretches keep their cells
    whole (a split there only spreads the same count over noisier cells).
    Beyond the span each run's count is the second look's, combined with the
    first look's cells inside the run (inverse-variance weights: m cells of
    the first look have variance m·σ²). Without declared bounds a tail keeps
    its runs while the mass beyond shows (``tail_to_keep``), and at least out
    to stage A's core end cells (values are known to lie there). Declared
    bounds keep every run: they are the output range, and the refitted counts
    say where its rows are.
    """
    right = [(last + 1 + a, last + 1 + b) for a, b in tail_runs(0, len(noisy) - last - 1)]
    left = [(first - b, first - a) for a, b in tail_runs(0, first)]  # nearest first

    def is_edge(j: int) -> bool:
        return any(0 <= i < len(noisy) and noisy[i] < noisy[j] / 2 for i in (j - 1, j + 1))

    subs = [split_edges(edges[j], edges[j + 1], float(noisy[j]), sigma, unit,
                        SPLIT_CELLS, SPLIT_Z) if is_edge(j) else edges[j:j + 2]
            for j in range(first, last + 1)]
    parts = np.array([len(e) - 1 for e in subs])  # k_j sub-cells of span cell j
    starts = np.concatenate([[0], np.cumsum(parts)])
    span_edges = np.concatenate([subs[0]] + [e[1:] for e in subs[1:]])
    second = measure(np.concatenate([[edges[a] for a, _ in reversed(left)], span_edges,
                                     [edges[b] for _, b in right]]))
    body_stop = len(left) + int(starts[-1])
    sub_counts = second[len(left):body_stop]
    looked_again = np.add.reduceat(sub_counts, starts[:-1])  # S_j, variance k_j·σ²
    # The first look's count c_j (variance σ²) and S_j by inverse variance:
    # (k·c + S) / (k + 1), variance k·σ² / (k + 1) (the plain average at k = 1).
    first_counts = noisy[first:last + 1]
    averaged = (parts * first_counts + looked_again) / (parts + 1)
    averaged_var = sigma**2 * parts / (parts + 1)
    # ... and each sub-cell s_i + (c - S) / (k + 1), which sum to the combined
    # count, each with variance k·σ² / (k + 1)
    sub_estimates = sub_counts + np.repeat((first_counts - looked_again) / (parts + 1), parts)
    # The span's ends are checked again on the second look alone: the first
    # chose them, so its counts there are biased upwards.
    low, high = significant_span(looked_again / np.sqrt(parts), sigma,
                                 z=_cell_z(len(looked_again)))
    low, high = first + low, first + high  # cells of the first grid

    def inner(runs: list[tuple[int, int]]) -> list[_Run]:
        return [(a, b, float(averaged[a - first:b - first].sum()),
                 float(averaged_var[a - first:b - first].sum())) for a, b in runs]

    def outer(runs: list[tuple[int, int]], looked: np.ndarray) -> list[_Run]:
        return [(a, b, ((b - a) * float(c) + float(noisy[a:b].sum())) / (b - a + 1),
                 sigma**2 * (b - a) / (b - a + 1)) for (a, b), c in zip(runs, looked)]

    # stage A's core end cells, when the span does not reach them
    reach_high = reach_low = None
    if core_cells is not None:
        (_, top_of_low), (bottom_of_high, _) = core_cells
        reach_high = bottom_of_high if bottom_of_high > high else None
        reach_low = top_of_low if top_of_low < low else None
    right_runs, beyond_high = _kept_tail(
        inner([(high + 1 + a, high + 1 + b) for a, b in tail_runs(0, last - high)])
        + outer(right, second[body_stop:]), declared, reach_high)
    left_runs, beyond_low = _kept_tail(
        inner([(low - b, low - a) for a, b in tail_runs(0, low - first)])
        + outer(left, second[:len(left)][::-1]), declared, reach_low)
    # body cells come back as their sub-cells
    start, stop = int(starts[low - first]), int(starts[high - first + 1])  # body sub-cells
    return _with_tails(edges, left_runs, span_edges[start:stop + 1], sub_estimates[start:stop],
                       np.repeat(averaged_var, parts)[start:stop], right_runs,
                       (beyond_low, beyond_high))
