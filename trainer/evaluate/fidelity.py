"""How close the synthetic distribution is to the real one.

Definitions (each tested against values worked out by hand on tiny tables):

* **bins**: numeric and datetime columns are cut into (at most) 20 quantile
  bins of the *real training* rows (repeated edges merge, and a value that
  fills several quantiles is a bin of its own), or one bin per value when
  they hold no more distinct values than that; each categorical
  value is its own bin; null is a bin of its own;
* **1-way TVD** of a column: ``½ Σ_b |p_b − q_b|`` over its bins, p real,
  q synthetic; 0 is identical, 1 disjoint;
* **2-way TVD** of a pair: the same over the joint bins of both columns;
* **association**: Cramér's V between two columns' bins,
  ``sqrt(χ² / (n · (min(r, c) − 1)))`` over the occupied rows and columns
  of their contingency table (0 when fewer than two are occupied); the
  association difference of a pair is ``|V_real − V_synthetic|``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainer.evaluate.frames import Frames

__all__ = (
    "association_matrix",
    "bin_edges",
    "binned",
    "column_tvds",
    "cramers_v",
    "frame_codes",
    "joint_codes",
    "numeric_edges",
    "pair_tvds",
    "tvd",
)

NULL = "<null>"
Frame = Any


def numeric_edges(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """Edges of the bins of finite ``values``: their quantiles, atoms apart.

    Bins are half-open, the last one closed, so plain quantile edges put a
    value that fills several quantiles in one bin with its neighbours: a 0/1
    column came out as one bin (any generator scored 0 on it), and a count
    that is zero in 96% of rows one bin with its non-zero tail. So a column
    with at most ``bins`` distinct values gets one bin per value, and
    otherwise each value that fills more than one quantile bin gets a bin of
    its own (its edge, and the next value above it as the next edge).
    """
    if not values.size:
        return np.array([0.0, 1.0])
    distinct = np.unique(values)
    if distinct.size <= bins:
        return np.append(distinct, distinct[-1] + 1.0)
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1))
    edges, repeats = np.unique(quantiles, return_counts=True)
    atoms = edges[repeats > 1]
    above = np.searchsorted(distinct, atoms, side="right")
    closing = np.array([distinct[i] if i < distinct.size else distinct[-1] + 1.0
                        for i in above])
    edges = np.unique(np.concatenate([edges, closing]))
    # an interpolated quantile between an atom and the next value bounds no value
    empty = np.zeros(edges.size, dtype=bool)
    for atom, close in zip(atoms, closing):
        empty |= (edges > atom) & (edges < close)
    return edges[~empty]


def bin_edges(reference: Frame, numeric: Sequence[str], bins: int = 20
              ) -> dict[str, np.ndarray | None]:
    """Quantile edges of each numeric column of ``reference``; None for the others."""
    edges: dict[str, np.ndarray | None] = {}
    for name in reference.columns:
        if name in numeric:
            values = reference[name].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            edges[name] = numeric_edges(values, bins)
        else:
            edges[name] = None
    return edges


def binned(frame: Frame, edges: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """Each column as an array of bin labels (strings; ``<null>`` for null)."""
    out = {}
    for name, cut in edges.items():
        column = frame[name]
        if cut is None:
            out[name] = np.array([NULL if v is None else str(v) for v in column.tolist()],
                                 dtype=object)
        else:
            values = column.to_numpy(dtype=float)
            index = np.clip(np.searchsorted(cut[1:-1], values, side="right"), 0,
                            max(len(cut) - 2, 0))
            labels = np.array([f"b{i:02d}" for i in index], dtype=object)
            labels[np.isnan(values)] = NULL
            out[name] = labels
    return out


def _codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of two label arrays over their joint set of labels."""
    keys, inverse = np.unique(np.concatenate([a, b]).astype(str), return_inverse=True)
    return inverse[:len(a)], inverse[len(a):], len(keys)


def joint_codes(real: Frame, synthetic: Frame, edges: Mapping[str, np.ndarray | None]
                ) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per column: (real codes, synthetic codes, number of labels)."""
    r, s = binned(real, edges), binned(synthetic, edges)
    return {name: _codes(r[name], s[name]) for name in edges}


def _tvd_codes(a: np.ndarray, b: np.ndarray, size: int) -> float:
    p = np.bincount(a, minlength=size) / max(len(a), 1)
    q = np.bincount(b, minlength=size) / max(len(b), 1)
    return float(0.5 * np.abs(p - q).sum())


def tvd(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Total-variation distance between the label distributions of a and b."""
    x, y, size = _codes(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    return _tvd_codes(x, y, size)


def column_tvds(codes: Mapping[str, tuple[np.ndarray, np.ndarray, int]]) -> dict[str, float]:
    """1-way TVD of every column."""
    return {name: _tvd_codes(*c) for name, c in codes.items()}


def pair_tvds(codes: Mapping[str, tuple[np.ndarray, np.ndarray, int]]
              ) -> dict[tuple[str, str], float]:
    """2-way TVD of every pair of columns (in column order)."""
    out = {}
    for x, y in itertools.combinations(codes, 2):
        (rx, sx, kx), (ry, sy, ky) = codes[x], codes[y]
        out[(x, y)] = _tvd_codes(rx * ky + ry, sx * ky + sy, kx * ky)
    return out


def _cramers_v_codes(x: np.ndarray, kx: int, y: np.ndarray, ky: int) -> float:
    table = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky).astype(float)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    if min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(min(1.0, np.sqrt(chi2 / (n * (min(table.shape) - 1)))))


def cramers_v(x: Sequence[Any], y: Sequence[Any]) -> float:
    """Cramér's V between two label arrays."""
    xs, xi = np.unique(np.asarray(x, dtype=object).astype(str), return_inverse=True)
    ys, yi = np.unique(np.asarray(y, dtype=object).astype(str), return_inverse=True)
    return _cramers_v_codes(xi, len(xs), yi, len(ys))


def association_matrix(codes: Mapping[str, tuple[np.ndarray, np.ndarray, int]],
                       side: int) -> np.ndarray:
    """Cramér's V of every pair (1 on the diagonal); ``side`` 0 real, 1 synthetic."""
    names = list(codes)
    out = np.eye(len(names))
    for i, j in itertools.combinations(range(len(names)), 2):
        a, b = codes[names[i]], codes[names[j]]
        out[i, j] = out[j, i] = _cramers_v_codes(a[side], a[2], b[side], b[2])
    return out


def frame_codes(frames: Frames, bins: int = 20
                ) -> tuple[dict[str, np.ndarray | None], dict[str, tuple[np.ndarray, np.ndarray, int]]]:
    """Edges from the real training rows, and the joint codes of train vs synthetic."""
    edges = bin_edges(frames.train, frames.numeric, bins)
    return edges, joint_codes(frames.train, frames.synthetic, edges)
