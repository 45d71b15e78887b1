"""Record-level privacy from distances: closest records, copies, membership.

Distance between two rows is Gower's (the one anonymeter uses): the sum over
columns of ``|a − b| / range`` for numeric columns (range of the real
training rows, so a column contributes at most about 1) and of 1 for a
categorical mismatch; null against null is 0 and null against a value is 1.

* **DCR** (distance to closest record): for each synthetic row, the
  distance to its nearest real training row (of an equal-size sample); the
  same for each holdout row (real people the generator never saw) is the
  yardstick. A generator that
  copies or memorises puts synthetic rows much nearer the training rows
  than fresh real rows are.
* **DCR share**: the share of synthetic rows nearer to an equal-size sample
  of training rows than to the holdout (ties count ½); 0.5 means no sign of
  memorisation.
* **exact-copy rate**: the share of synthetic rows equal (on every
  evaluated column) to some training row, beside the same share of holdout
  rows: in a table with few distinct rows, real people share rows too.
* **membership inference**: members are training rows, non-members holdout
  rows (equally many); the attacker scores each by minus its distance to the
  nearest synthetic row and the AUC of that score is reported (0.5: the
  synthetic data does not tell members apart).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from trainer.evaluate.frames import Frames

__all__ = ("DistanceEncoder", "DistancePrivacy", "Encoded", "distance_privacy",
           "exact_copy_rate", "membership_auc", "nearest", "nearest_distances")

Frame = Any


class Encoded(NamedTuple):
    """Rows ready for Gower distances: scaled numbers, their null flags, category codes."""

    numbers: np.ndarray  # (n, numeric columns) float, 0 where null
    nulls: np.ndarray  # (n, numeric columns) float 1.0 where null
    codes: np.ndarray  # (n, categorical columns) int; equal codes = equal values

    def __len__(self) -> int:
        return len(self.numbers)


class DistanceEncoder:
    """Rows encoded so that :func:`nearest` computes the Gower distance of the
    module docstring: numbers scaled by the reference's range, categories as
    integer codes (a value the reference never had gets a code of its own;
    null is a value)."""

    def __init__(self, reference: Frame, kinds: dict[str, str]) -> None:
        self.numeric = [c for c, k in kinds.items() if k in ("numeric", "datetime")]
        self.categorical = [c for c, k in kinds.items() if k not in ("numeric", "datetime")]
        self.scale: dict[str, tuple[float, float]] = {}
        for name in self.numeric:
            values = reference[name].to_numpy(dtype=float)
            finite = values[~np.isnan(values)]
            lo = float(finite.min()) if finite.size else 0.0
            span = float(finite.max() - lo) if finite.size else 1.0
            self.scale[name] = (lo, span or 1.0)
        self.levels: dict[str, dict[Any, int]] = {
            name: {v: i for i, v in enumerate(dict.fromkeys(reference[name].tolist()))}
            for name in self.categorical}

    def __call__(self, frame: Frame) -> Encoded:
        n = len(frame)
        numbers = np.zeros((n, len(self.numeric)))
        nulls = np.zeros((n, len(self.numeric)))
        for j, name in enumerate(self.numeric):
            lo, span = self.scale[name]
            values = (frame[name].to_numpy(dtype=float) - lo) / span
            nulls[:, j] = np.isnan(values)
            numbers[:, j] = np.where(np.isnan(values), 0.0, values)
        codes = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            lookup = self.levels[name]
            unseen: dict[Any, int] = {}
            codes[:, j] = [lookup.get(v, unseen.setdefault(v, -1 - len(unseen))
                                      if v not in lookup else 0)
                           for v in frame[name].tolist()]
        return Encoded(numbers, nulls, codes)


def nearest(query: Encoded, reference: Encoded, *, budget: int = 4_000_000
            ) -> tuple[np.ndarray, np.ndarray]:
    """Gower distance from each query row to its nearest reference row, and that row.

    Ties go to the first reference row. Work is done in blocks of about
    ``budget`` query-reference pairs.
    """
    m = len(reference)
    block = max(1, budget // max(m, 1))
    best = np.empty(len(query))
    where = np.empty(len(query), dtype=np.int64)
    present_r = 1.0 - reference.nulls
    for start in range(0, len(query), block):
        stop = min(start + block, len(query))
        d = np.zeros((stop - start, m))
        for j in range(query.numbers.shape[1]):
            qv, qn = query.numbers[start:stop, j, None], query.nulls[start:stop, j, None]
            both = (1.0 - qn) * present_r[None, :, j]
            d += np.abs(qv - reference.numbers[None, :, j]) * both
            d += qn != reference.nulls[None, :, j]
        for j in range(query.codes.shape[1]):
            d += query.codes[start:stop, j, None] != reference.codes[None, :, j]
        where[start:stop] = np.argmin(d, axis=1)
        best[start:stop] = d[np.arange(stop - start), where[start:stop]]
    return best, where


def nearest_distances(query: Encoded, reference: Encoded) -> np.ndarray:
    """Gower distance from each query row to its nearest reference row."""
    return nearest(query, reference)[0]


def _row_keys(frame: Frame) -> list[tuple[Any, ...]]:
    out = []
    for row in frame.itertuples(index=False, name=None):
        out.append(tuple(None if (isinstance(v, float) and v != v) else v for v in row))
    return out


def exact_copy_rate(rows: Frame, reference: Frame) -> float:
    """Share of ``rows`` equal on every column to some row of ``reference``."""
    keys = _row_keys(rows)
    if not keys:
        return 0.0
    known = set(_row_keys(reference[list(rows.columns)]))
    return float(np.mean([k in known for k in keys]))


def membership_auc(member_scores: np.ndarray, non_member_scores: np.ndarray) -> float:
    """AUC of "member" scores above "non-member" ones (ties count ½)."""
    from scipy.stats import rankdata

    m, n = len(member_scores), len(non_member_scores)
    ranks = rankdata(np.concatenate([member_scores, non_member_scores]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


@dataclasses.dataclass(frozen=True)
class DistancePrivacy:
    """Distance-based privacy figures (see the module docstring).

    Attributes:
      dcr_synthetic: quantiles (5%, 50%) of synthetic rows' DCR to training rows.
      dcr_holdout: the same quantiles for holdout rows.
      dcr_share: share of synthetic rows nearer the training sample than the holdout.
      exact_copy_rate: share of synthetic rows that equal a training row.
      holdout_copy_rate: share of holdout rows that equal a training row.
      mia_auc: AUC of the distance-based membership-inference attack.
      rows: how many rows each side used.
    """

    dcr_synthetic: dict[str, float]
    dcr_holdout: dict[str, float]
    dcr_share: float
    exact_copy_rate: float
    holdout_copy_rate: float
    mia_auc: float
    rows: int
    histogram_synthetic: list[float]
    histogram_holdout: list[float]
    histogram_edges: list[float]


def distance_privacy(frames: Frames, *, seed: int = 0, max_rows: int = 5000) -> DistancePrivacy:
    """All figures of the module docstring on at most ``max_rows`` rows per side.

    The holdout sets the size: training rows (the members), holdout rows and
    synthetic rows are each ``min(len(holdout), max_rows)`` rows sampled
    without replacement (seeded), so no side has more rows to be near to.
    DCRs are measured to that sample of training rows.
    """
    rng = np.random.default_rng(seed)
    size = min(len(frames.holdout), len(frames.train), len(frames.synthetic), max_rows)

    def sample(frame: Frame) -> Frame:
        return frame.iloc[np.sort(rng.choice(len(frame), size, replace=False))]

    members, non_members, synthetic = (sample(frames.train), sample(frames.holdout),
                                       sample(frames.synthetic))
    encode = DistanceEncoder(frames.train, frames.kinds)
    member_v, hold_v, syn_v = encode(members), encode(non_members), encode(synthetic)
    d_syn = nearest_distances(syn_v, member_v)  # synthetic -> training rows
    d_hold = nearest_distances(hold_v, member_v)  # fresh real rows -> training rows
    to_holdout = nearest_distances(syn_v, hold_v)
    share = float(np.mean((d_syn < to_holdout) + 0.5 * (d_syn == to_holdout)))
    # membership inference: nearness to the synthetic rows
    score_in = -nearest_distances(member_v, syn_v)
    score_out = -nearest_distances(hold_v, syn_v)
    top = float(np.quantile(np.concatenate([d_syn, d_hold]), 0.99)) or 1.0
    edges = np.linspace(0.0, top, 31)
    return DistancePrivacy(
        dcr_synthetic=_quantiles(d_syn), dcr_holdout=_quantiles(d_hold),
        dcr_share=share,
        exact_copy_rate=exact_copy_rate(synthetic, frames.train),
        holdout_copy_rate=exact_copy_rate(non_members, frames.train),
        mia_auc=membership_auc(score_in, score_out), rows=size,
        histogram_synthetic=np.histogram(np.minimum(d_syn, top), edges)[0].tolist(),
        histogram_holdout=np.histogram(np.minimum(d_hold, top), edges)[0].tolist(),
        histogram_edges=edges.tolist())


def _quantiles(d: np.ndarray) -> dict[str, float]:
    return {"p05": float(np.quantile(d, 0.05)), "p50": float(np.quantile(d, 0.5))}
