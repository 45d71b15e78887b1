"""Stage B: one Gaussian release of a fine histogram per numeric/datetime column.

The grid of each histogram is fixed by stage A's (already released) range or
by declared bounds; bins and the within-bin decoding weights are
post-processing of the noisy counts (``trainer.binning``). Each row adds 1 to
one cell of each histogram, so with ``k`` histograms at noise σ the release
has noise multiplier ``σ/√k``.
"""

from __future__ import annotations

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

__all__ = ("run_stage_b",)


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
        points = stage_a.atoms.get(column.name, ())
        if points:
            edges = with_point_cells(edges, points, 1.0 if integral else 10.0 ** -decimals)
        values = np.clip(column.values[~column.null], edges[0], np.nextafter(edges[-1], -np.inf))
        cells = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        noisy = noisy_histogram(cells, len(edges) - 1, noise.grid_sigma, source)
        # Cells under 2σ are more likely noise than mass. Declared bounds are
        # the output range; otherwise the grid's ends are cut where neither a
        # cell (3σ) nor the whole tail beyond it is significant, so that a
        # lone noisy cell cannot stretch the range (rows beyond the ends are
        # clipped into the end cells) and a thin tail is not cut off.
        weights = np.where(noisy > 2 * noise.grid_sigma, noisy, 0.0)
        if d.bounds is not None:
            first, last = 0, len(noisy) - 1
        else:
            first, last = significant_span(noisy, noise.grid_sigma)
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
