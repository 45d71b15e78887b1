"""Who the synthetic rows represent: group disparities, tails and rare rows.

* **bias**: for each sensitive column, the target's positive rate in each
  group (each category, or each quantile bin of a number; at most the 12
  largest groups of the real rows, the rest pooled as ``<other>``), real
  beside synthetic, so an amplified or erased disparity shows;
* **tails**: for each numeric column, the share of rows above the real
  training rows' 99th percentile (about 1% of real rows by construction),
  real beside synthetic: a generator that never reaches the tail, or
  over-produces it, shows;
* **uniqueness**: the share of rows whose quasi-identifier combination
  occurs exactly once in their own table, real training rows beside
  synthetic (a k-anonymity view: those rows have k = 1).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.evaluate.fidelity import NULL, bin_edges, binned
from trainer.evaluate.frames import Frames, is_numeric_kind

__all__ = ("GroupRate", "Tail", "group_rates", "tails", "unique_share")

MAX_GROUPS = 12
OTHER = "<other>"


@dataclasses.dataclass(frozen=True)
class GroupRate:
    group: str
    real_rows: int
    real_rate: float | None
    synthetic_rows: int
    synthetic_rate: float | None


def group_rates(frames: Frames, column: str, target: str, positive: str) -> list[GroupRate]:
    """The target's positive rate per group of ``column`` (see the module doc)."""
    numeric = [column] if is_numeric_kind(frames.kinds[column]) else []
    edges = bin_edges(frames.train[[column]], numeric, bins=5)
    real = binned(frames.train[[column]], edges)[column]
    synthetic = binned(frames.synthetic[[column]], edges)[column]
    if numeric:
        cut = edges[column]
        names = {f"b{i:02d}": f"[{_num(cut[i])}, {_num(cut[i + 1])}" + (
            "]" if i == len(cut) - 2 else ")") for i in range(len(cut) - 1)}
        real = np.array([names.get(v, v) for v in real], dtype=object)
        synthetic = np.array([names.get(v, v) for v in synthetic], dtype=object)
    largest = [g for g, _ in Counter(real.tolist()).most_common(MAX_GROUPS)]
    if numeric:
        largest = sorted(largest, key=lambda g: (g == NULL, _lower(g)))
    keep = set(largest)
    real = np.array([g if g in keep else OTHER for g in real], dtype=object)
    synthetic = np.array([g if g in keep else OTHER for g in synthetic], dtype=object)
    y_real = np.array([str(v) == positive for v in frames.train[target].tolist()])
    y_syn = np.array([str(v) == positive for v in frames.synthetic[target].tolist()])
    groups = largest + ([OTHER] if (real == OTHER).any() or (synthetic == OTHER).any() else [])
    out = []
    for g in groups:
        r, s = real == g, synthetic == g
        out.append(GroupRate(str(g), int(r.sum()), float(y_real[r].mean()) if r.any() else None,
                             int(s.sum()), float(y_syn[s].mean()) if s.any() else None))
    return out


def _num(x: float) -> str:
    return f"{x:.6g}"


def _lower(label: str) -> float:
    try:
        return float(label[1:].split(",")[0])
    except ValueError:
        return float("inf")


@dataclasses.dataclass(frozen=True)
class Tail:
    column: str
    threshold: float
    real_share: float
    synthetic_share: float


def tails(frames: Frames, quantile: float = 0.99) -> list[Tail]:
    """Share of rows above the real rows' ``quantile``, per numeric column."""
    out = []
    for name in frames.numeric:
        real = frames.train[name].to_numpy(dtype=float)
        real = real[~np.isnan(real)]
        if real.size == 0:
            continue
        threshold = float(np.quantile(real, quantile))
        syn = frames.synthetic[name].to_numpy(dtype=float)
        out.append(Tail(name, threshold, float(np.mean(real > threshold)),
                        float(np.mean(syn > threshold))))  # NaN counts as not above
    return out


def unique_share(frame: Any, columns: Sequence[str]) -> float:
    """Share of rows whose values on ``columns`` occur exactly once in ``frame``."""
    if len(frame) == 0:
        return 0.0
    keys = [tuple(None if (isinstance(v, float) and v != v) else v for v in row)
            for row in frame[list(columns)].itertuples(index=False, name=None)]
    counts = Counter(keys)
    return float(np.mean([counts[k] == 1 for k in keys]))
