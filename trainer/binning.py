"""Binning: fine grids, quantile bins and within-bin shrinkage.

Pure functions of public options and of already released (noisy) counts:
post-processing, no data is read here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the options are public settings; binning imports no release
    from trainer.releases.needs import MetadataOptions

__all__ = ("fine_edges", "monotone_tail", "occupied_span", "quantile_bins",
           "shrink_within_bins", "significant_span", "split_edges", "tail_runs",
           "tail_to_keep", "with_point_cells")


def fine_edges(lo: float, hi: float, integral: bool, decimals: int,
               options: MetadataOptions, floor: float = 0.0) -> np.ndarray:
    """Cell edges of the fine grid on [lo, hi): exact integers, or linear/geometric.

    ``floor`` is where the positive values start when the range holds 0
    (released by stage A): the grid's positive cells start there, with a
    zero cell and one cell under it, instead of at one unit of the column's
    precision.
    """
    if integral:
        lo, hi = math.floor(lo), math.ceil(hi)
        if hi - lo <= options.max_exact_cells:
            return np.arange(lo, hi + 1, dtype=np.float64)
    unit = 1.0 if integral else 10.0 ** -max(decimals, 0)
    cells = options.fine_cells
    # the positive values start at ``start``; under it a zero cell [0, unit)
    # when 0 is in range (it decodes to 0 exactly) and one cell up to start
    start = max(lo, unit, floor if floor < hi else 0.0)
    under = [] if lo >= start else [lo, unit] if lo == 0 < unit < start else [lo]
    span_pos = (math.log10(hi / start) if hi > 0 else 0.0)
    if lo >= 0 and hi > 0 and span_pos > 2:
        # heavy right tail: geometric cells
        edges = np.concatenate([under, np.geomspace(start, hi, cells + 1)])
    elif hi <= 0 and lo < 0 and math.log10(-lo / max(-hi, unit)) > 2:
        edges = -np.geomspace(-lo, max(-hi, unit), cells + 1)
        if hi > edges[-1]:
            edges = np.concatenate([edges, [hi]])
    elif lo < 0 < hi and max(-lo, hi) / unit > 1000:
        # each side's share of the cells by its decades (none under one unit)
        neg_span, pos_span = math.log(max(-lo / unit, 1.0)), math.log(max(hi / start, 1.0))
        share = neg_span / (neg_span + pos_span) if neg_span + pos_span > 0 else 0.5
        n_neg = max(2, int(round(cells * share)))
        neg = -np.geomspace(-lo, unit, n_neg + 1)
        pos = np.geomspace(start, hi, max(2, cells - n_neg) + 1)
        edges = np.concatenate([neg, [0.0], [unit] if start > unit else [], pos])
    elif lo >= 0 and start > max(lo, unit):
        edges = np.concatenate([under, np.linspace(start, hi, cells + 1)])
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



def shrink_within_bins(noisy: np.ndarray, starts: Sequence[int],
                       sigma: float | np.ndarray) -> np.ndarray:
    """Decoding weights: noisy cell counts shrunk toward their bin's mean.

    Within a bin, cell counts vary by signal (spikes, slopes) and by the
    release's noise σ. Empirical Bayes: with observed variance s² the signal
    variance is what exceeds σ² clearly (by two standard errors of s²), and
    each count is pulled toward the bin mean by λ = signal / (signal + σ²).
    Smooth bins become uniform (noise ignored), spiky bins keep their spikes;
    cells then under 2σλ are taken as empty. ``sigma`` is one noise sd for all
    cells or one per cell (cells measured more often are less noisy); a bin
    uses the root mean square of its cells'. Post-processing of the released
    counts.
    """
    weights = np.zeros_like(noisy)
    sds = np.broadcast_to(np.asarray(sigma, dtype=np.float64), noisy.shape)
    bounds = list(starts) + [len(noisy)]
    for a, b in zip(bounds, bounds[1:]):
        cells = noisy[a:b]
        sd = math.sqrt(float(np.mean(sds[a:b] ** 2)))
        if b - a == 1:
            weights[a:b] = max(float(cells[0]), 0.0)
            continue
        mean = float(cells.mean())
        # the variance of pure noise over m cells fluctuates by about
        # sqrt(2/(m-1)) of σ²: count as signal only what lies clearly above it
        excess = 1.0 + 2.0 * math.sqrt(2.0 / (b - a - 1))
        signal = max(float(cells.var(ddof=1)) - excess * sd**2, 0.0)
        lam = signal / (signal + sd**2) if sd > 0 else 1.0
        shrunk = mean + lam * (cells - mean)
        weights[a:b] = np.where(shrunk > 2 * sd * lam, shrunk, 0.0)
    return np.maximum(weights, 0.0)


def split_edges(lo: float, hi: float, count: float, sigma: float, unit: float,
                most: int, z: float) -> np.ndarray:
    """Edges of whole-unit sub-cells of the cell ``[lo, hi)`` for a second look.

    As many sub-cells (up to ``most``, each at least one unit wide) as the
    cell's noisy ``count`` can fill while each would hold more than ``z·σ``
    on average: a sub-cell under its noise tells nothing the whole cell did
    not. Returns ``[lo, hi]`` (no split) when fewer than two would. Post-
    processing of the first look's count.
    """
    units = int(math.floor((hi - lo) / unit + 1e-9))
    k = min(most, units, int(count // (z * sigma)) if sigma > 0 else most)
    if k < 2:
        return np.array([lo, hi], dtype=np.float64)
    edges = lo + np.round(np.linspace(0.0, units, k + 1)) * unit
    edges[-1] = hi
    return np.unique(edges)


def occupied_span(weights: np.ndarray) -> tuple[int, int]:
    """First and last cell with weight (the whole grid if none has any)."""
    nonzero = np.flatnonzero(weights > 0)
    if nonzero.size == 0:
        return 0, len(weights) - 1
    return int(nonzero[0]), int(nonzero[-1])


def with_point_cells(edges: np.ndarray, points: Sequence[float], unit: float) -> np.ndarray:
    """Edges with a cell ``[v, v + unit)`` for each point mass ``v`` inside them.

    Decoding draws a value uniformly at the column's precision inside a
    cell, so a cell one unit wide decodes to exactly ``v``: values that many
    rows share (57.0, 0.30, 40 hours) come back as themselves instead of
    being smeared over a wider cell.
    """
    lo, hi = float(edges[0]), float(edges[-1])
    extra = []
    for v in points:
        v = float(v)
        if lo <= v < hi:
            extra.append(v)
            if v + unit < hi:
                extra.append(v + unit)
    if not extra:
        return edges
    merged = np.unique(np.concatenate([edges, np.asarray(extra, dtype=np.float64)]))
    # drop slivers narrower than a unit next to a point cell (rounding debris)
    keep = np.concatenate([[True], np.diff(merged) > unit * 1e-6])
    return merged[keep]


def significant_span(noisy: np.ndarray, sigma: float, z: float = 3.0,
                     tail_z: float = 4.5) -> tuple[int, int]:
    """First and last cell of the range that the noisy counts support.

    A cell counts on its own above ``z·σ``. Beyond the outermost such cell the
    range reaches on over the run of ``m`` cells next to it with the largest
    standardised sum, when that sum exceeds ``tail_z·σ·√m``: a long thin tail
    (sparse, spread-out values, every cell under the noise) is kept instead of
    being clipped into one end cell, and the run stops where its mass stops.
    Post-processing of the counts.
    """
    n = len(noisy)
    if n == 0:
        return 0, -1
    first, last = occupied_span(np.where(noisy > z * sigma, noisy, 0.0))
    if sigma <= 0:
        return first, last
    right = _farthest_run(noisy[last + 1:], sigma * tail_z)
    left = _farthest_run(noisy[:first][::-1], sigma * tail_z)
    return first - left, last + right


def _farthest_run(cells: np.ndarray, scale: float) -> int:
    """How many of ``cells`` (starting next to the occupied span) form the tail.

    The tail is the run ``cells[:b]`` with the largest standardised sum
    ``S_b/√b``: it grows while the run gathers mass and falls once it only
    gathers noise, so it ends where the mass ends. It counts when ``S_b``
    exceeds ``scale·√b``; 0 when no run does.
    """
    m = len(cells)
    if m == 0:
        return 0
    b = np.arange(1, m + 1, dtype=np.float64)
    standardised = np.cumsum(cells) / np.sqrt(b)
    best = int(np.argmax(standardised))
    return best + 1 if standardised[best] > scale else 0


def tail_runs(start: int, stop: int) -> list[tuple[int, int]]:
    """Runs of cells ``start..stop-1`` of doubling length, nearest first.

    A tail beyond the range the fine counts support holds few rows spread over
    many cells, each under the noise; counted in runs of 1, 2, 4, ... cells
    outwards, the mass near the range shows and the far, thin part is summed
    over enough cells to show too, with only about log2(cells) counts. The
    last run takes what is left.
    """
    runs, at, size = [], start, 1
    while at < stop:
        end = min(at + size, stop)
        runs.append((at, end))
        at, size = end, size * 2
    return runs


def tail_to_keep(counts: np.ndarray, variances: np.ndarray, z: float) -> int:
    """How many tail cells (nearest first) the range keeps.

    Cell ``k`` is kept while its count together with everything beyond it
    exceeds ``z`` standard deviations (mass lies at ``k`` or further out, even
    when no cell alone shows it); the first cell where it does not ends the
    tail. Testing outwards and stopping at the first quiet sum keeps noise far
    out from stretching the range: to pass, it would have to pass at every
    cell between. 0 when the nearest cell already fails.
    """
    outer_sums = np.cumsum(counts[::-1])[::-1]
    outer_sds = np.sqrt(np.cumsum(variances[::-1])[::-1])
    quiet = np.flatnonzero(outer_sums <= z * outer_sds)
    return int(quiet[0]) if quiet.size else len(counts)


def monotone_tail(counts: np.ndarray, sizes: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Tail counts (nearest first) refitted so that density never rises outwards.

    A distribution's tail thins out away from its body; weighted
    pool-adjacent-violators on the density (count per cell of the fine grid)
    enforces that, which removes most of the noise of thin cells without
    moving their total, and negative densities become 0. Post-processing.
    """
    density = counts / sizes
    weight = sizes**2 / np.maximum(variances, 1e-12)  # 1 / var(density)
    blocks: list[list[float]] = []  # [weighted mean, weight, cells]
    for d, w in zip(density, weight):
        blocks.append([float(d), float(w), 1])
        # a block denser than the one nearer the body violates the order: pool
        while len(blocks) > 1 and blocks[-1][0] > blocks[-2][0]:
            d2, w2, n2 = blocks.pop()
            d1, w1, n1 = blocks[-1]
            blocks[-1] = [(d1 * w1 + d2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    if not blocks:
        return np.zeros(0)
    fitted = np.concatenate([np.full(n, d) for d, _, n in blocks])
    return np.maximum(fitted, 0.0) * sizes
