"""Singling-out, linkability and attribute-inference risk (anonymeter's definitions).

``anonymeter`` (Giomi et al. 2023, the evaluator the French CNIL reviewed)
does not install beside our pins (it holds numpy below 2), so its three
attacks are written here to its definitions and checked against it on fixed
tables (``tests/trainer/evaluate/test_risks.py``). Each attack is run three
ways: against the training rows, against the holdout ("control": real rows
the generator never saw) and as a naive baseline; the **risk** is the excess
success on training rows over control rows, normalised by what was left to
gain::

    risk = (rate_train − rate_control) / (1 − rate_control)

with 95% intervals from Wilson score rates and first-order error
propagation, clipped to [0, 1]. A risk near 0 means the synthetic rows help
an attacker no more against the people they were trained on than against
anyone else.

* **singling out**: predicates of three columns are drawn from synthetic
  rows (``== value`` for categories, ``>= value`` above the column's median,
  ``<= value`` otherwise, ``is null``) and kept when they match exactly one
  synthetic row; an attack succeeds when its predicate matches exactly one
  real row;
* **linkability**: the columns are split in two halves; a real row is
  linked when the nearest synthetic row (Gower distance, numbers scaled by
  their range over the synthetic rows and the attacked rows) on each half
  is the same row;
* **attribute inference**: knowing every other column of a real row, the
  attacker guesses the secret column as that of the nearest synthetic row;
  a guess succeeds when it equals the secret (numbers: within 5%).

Differences from anonymeter, on purpose: nulls match nulls (anonymeter's
distance turns a null against a value into NaN); the training side uses as
many rows as the control side (anonymeter instead fits a correction for
unequal sizes of singling-out counts); and randomness is seeded.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.evaluate.distance import DistanceEncoder, nearest
from trainer.evaluate.frames import Frames, is_numeric_kind

__all__ = (
    "Risk",
    "inference_risk",
    "linkability_risk",
    "residual_risk",
    "singling_out_risk",
    "wilson_rate",
)

Frame = Any
Z95 = 1.959963984540054  # probit(0.975)


def wilson_rate(n_total: int, n_success: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score estimate of a success rate and its error half-width."""
    if n_total <= 0:
        return 0.5, 0.5
    z2 = z * z
    variance = n_success * (n_total - n_success) / n_total
    denominator = n_total + z2
    rate = (n_success + 0.5 * z2) / denominator
    return rate, (z / denominator) * math.sqrt(max(variance, 0.0) + 0.25 * z2)


def residual_risk(attack: tuple[float, float], control: tuple[float, float]
                  ) -> tuple[float, float]:
    """(excess of attack over control normalised by 1 − control, its error)."""
    (a, da), (c, dc) = attack, control
    if c >= 1.0:
        return 0.0, 1.0
    value = (a - c) / (1.0 - c)
    error = math.sqrt((da / abs(1.0 - c)) ** 2 + (dc * (a - 1.0) / (1.0 - c) ** 2) ** 2)
    return value, error


@dataclasses.dataclass(frozen=True)
class Risk:
    """One attack's privacy risk with its 95% interval and raw rates."""

    value: float
    ci_low: float
    ci_high: float
    attack_rate: float
    control_rate: float
    baseline_rate: float
    attacks: int

    @classmethod
    def from_counts(cls, attacks: int, success: float, control: float,
                    baseline: float) -> Risk:
        rate = wilson_rate(attacks, success)
        control_rate = wilson_rate(attacks, control)
        value, error = residual_risk(rate, control_rate)

        def clip(x: float) -> float:
            return min(max(x, 0.0), 1.0)

        return cls(clip(value), clip(value - error), clip(value + error), rate[0],
                   control_rate[0], wilson_rate(attacks, baseline)[0], attacks)


# --- singling out ---------------------------------------------------------------


class _Predicate:
    """A conjunction of per-column conditions, evaluated on plain frames."""

    def __init__(self, terms: list[tuple[str, str, Any]]) -> None:
        self.terms = terms

    def key(self) -> tuple[Any, ...]:
        return tuple(self.terms)

    def count(self, columns: dict[str, np.ndarray]) -> int:
        mask = None
        for name, op, value in self.terms:
            col = columns[name]
            if op == "null":
                m = _is_null(col)
            elif op == "==":
                m = col == value
            elif op == ">=":
                m = col >= value
            else:
                m = col <= value
            mask = m if mask is None else mask & m
            if not mask.any():
                return 0
        return int(mask.sum())


def _is_null(col: np.ndarray) -> np.ndarray:
    return col == -1 if col.dtype.kind == "i" else np.isnan(col)


class _Codebook:
    """Categorical values as integer codes shared by every table (-1 for null),
    so that predicates compare integers, not Python strings."""

    def __init__(self, frames: Sequence[Frame], kinds: dict[str, str]) -> None:
        self.kinds = kinds
        self.codes: dict[str, dict[Any, int]] = {}
        for name, kind in kinds.items():
            if not is_numeric_kind(kind):
                values = set()
                for frame in frames:
                    values.update(v for v in frame[name].tolist() if v is not None)
                self.codes[name] = {v: i for i, v in enumerate(sorted(values))}

    def columns(self, frame: Frame) -> dict[str, np.ndarray]:
        out = {}
        for name in self.kinds:
            if name in self.codes:
                lookup = self.codes[name]
                out[name] = np.array([-1 if v is None else lookup[v]
                                      for v in frame[name].tolist()], dtype=np.int64)
            else:
                out[name] = frame[name].to_numpy(dtype=float)
        return out


def _unique_rows(frame: Frame) -> Frame:
    keys = frame.astype(object).where(frame.notna(), None)
    return frame.loc[~keys.apply(tuple, axis=1).duplicated()].reset_index(drop=True)


def _record_predicate(columns: dict[str, np.ndarray], row: int, names: Sequence[str],
                      medians: dict[str, float]) -> _Predicate:
    """The predicate a synthetic row suggests (values as coded in ``columns``)."""
    terms = []
    for name in sorted(names):
        value = columns[name][row]
        if name in medians:
            if np.isnan(value):
                terms.append((name, "null", None))
            else:
                terms.append((name, ">=" if value > medians[name] else "<=", float(value)))
        elif value == -1:
            terms.append((name, "null", None))
        else:
            terms.append((name, "==", int(value)))
    return _Predicate(terms)


def _random_predicate(columns: dict[str, np.ndarray], names: Sequence[str],
                      medians: dict[str, float], rng: np.random.Generator) -> _Predicate:
    """A predicate on values drawn at random per column: the naive baseline."""
    terms = []
    for name in sorted(names):
        distinct = np.unique(columns[name])
        value = distinct[rng.integers(len(distinct))]
        if (name in medians and np.isnan(value)) or (name not in medians and value == -1):
            terms.append((name, "null", None))
        elif name in medians:
            terms.append((name, ("==", ">=", "<=")[rng.integers(3)], float(value)))
        else:
            terms.append((name, "==", int(value)))
    return _Predicate(terms)


def singling_out_risk(frames: Frames, *, attacks: int = 500, n_cols: int = 3,
                      max_attempts: int | None = None, seed: int = 0) -> Risk:
    """Multivariate singling-out risk (see the module docstring).

    At most ``max_attempts`` (default 200 per attack) synthetic rows are
    tried as predicates; the risk is measured on however many singled out a
    synthetic row.
    """
    max_attempts = 200 * attacks if max_attempts is None else max_attempts
    rng = np.random.default_rng(seed)
    kinds = frames.kinds
    names = list(kinds)
    n_cols = min(n_cols, len(names))
    synthetic = _unique_rows(frames.synthetic)
    control = _unique_rows(frames.holdout)
    train = _unique_rows(frames.train)
    size = min(len(train), len(control))
    train = train.iloc[np.sort(rng.choice(len(train), size, replace=False))]
    control = control.iloc[np.sort(rng.choice(len(control), size, replace=False))]
    book = _Codebook([synthetic, train, control], kinds)
    syn_cols = book.columns(synthetic)
    medians = {n: float(np.nanmedian(syn_cols[n])) for n in names if is_numeric_kind(kinds[n])}
    found: dict[tuple[Any, ...], _Predicate] = {}
    rows = rng.integers(len(synthetic), size=max_attempts)
    for row in rows:
        chosen = rng.choice(names, size=n_cols, replace=False)
        predicate = _record_predicate(syn_cols, int(row), chosen, medians)
        if predicate.key() not in found and predicate.count(syn_cols) == 1:
            found[predicate.key()] = predicate
            if len(found) >= attacks:
                break
    queries = list(found.values())
    n = len(queries)
    if n == 0:
        return Risk(0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0)
    train_cols, control_cols = book.columns(train), book.columns(control)
    success = sum(q.count(train_cols) == 1 for q in queries)
    in_control = sum(q.count(control_cols) == 1 for q in queries)
    baseline = sum(_random_predicate(syn_cols, rng.choice(names, size=n_cols, replace=False),
                                     medians, rng).count(train_cols) == 1 for _ in range(n))
    return Risk.from_counts(n, success, in_control, baseline)


# --- linkability and inference: nearest synthetic rows -----------------------------


def _nearest_index(query: Any, reference: Any) -> np.ndarray:
    return nearest(query, reference)[1]


def _targets(frame: Frame, count: int, rng: np.random.Generator) -> Frame:
    count = min(count, len(frame))
    return frame.iloc[np.sort(rng.choice(len(frame), count, replace=False))]


def _encoder(synthetic: Frame, targets: Frame, kinds: dict[str, str]) -> DistanceEncoder:
    """Numbers scaled by their range over the synthetic rows and the targets
    together, as anonymeter scales them."""
    import pandas as pd

    return DistanceEncoder(pd.concat([synthetic, targets], ignore_index=True), kinds)


def linkability_risk(frames: Frames, *, aux: tuple[Sequence[str], Sequence[str]] | None = None,
                     attacks: int = 500, seed: int = 0) -> Risk:
    """Linkability risk of the two halves ``aux`` (default: the columns split in order)."""
    rng = np.random.default_rng(seed)
    names = list(frames.kinds)
    if aux is None:
        half = len(names) // 2
        aux = (names[:half], names[half:])
    n = min(attacks, len(frames.train), len(frames.holdout))

    def links(frame: Frame) -> int:
        targets = _targets(frame, n, rng)
        found = []
        for side in aux:
            kinds = {c: frames.kinds[c] for c in side}
            encode = _encoder(frames.synthetic[list(side)], targets[list(side)], kinds)
            found.append(_nearest_index(encode(targets), encode(frames.synthetic)))
        return int(np.sum(found[0] == found[1]))

    success, control = links(frames.train), links(frames.holdout)
    m = len(frames.synthetic)
    baseline = int(np.sum(rng.integers(m, size=n) == rng.integers(m, size=n)))
    return Risk.from_counts(n, success, control, baseline)


def _guessed(guesses: np.ndarray, secrets: np.ndarray, numeric: bool) -> np.ndarray:
    if numeric:
        g, s = guesses.astype(float), secrets.astype(float)
        both_null = np.isnan(g) & np.isnan(s)
        with np.errstate(invalid="ignore", divide="ignore"):
            close = np.abs(g - s) / (np.abs(g) + 1e-12) <= 0.05
        return both_null | np.nan_to_num(close, nan=0).astype(bool)
    return np.array([a == b for a, b in zip(guesses.tolist(), secrets.tolist())])


def inference_risk(frames: Frames, secret: str, *, aux: Sequence[str] | None = None,
                   attacks: int = 500, seed: int = 0) -> Risk:
    """Attribute-inference risk of ``secret`` given ``aux`` (default: all other columns)."""
    rng = np.random.default_rng(seed)
    aux = [c for c in (aux or frames.kinds) if c != secret]
    kinds = {c: frames.kinds[c] for c in aux}
    syn_secret = frames.synthetic[secret].to_numpy()
    numeric = is_numeric_kind(frames.kinds[secret])
    n = min(attacks, len(frames.train), len(frames.holdout))

    def hits(frame: Frame) -> int:
        targets = _targets(frame, n, rng)
        encode = _encoder(frames.synthetic[aux], targets[aux], kinds)
        guesses = syn_secret[_nearest_index(encode(targets), encode(frames.synthetic))]
        return int(_guessed(guesses, targets[secret].to_numpy(), numeric).sum())

    success, control = hits(frames.train), hits(frames.holdout)
    naive = syn_secret[rng.integers(len(syn_secret), size=n)]
    baseline = int(_guessed(naive, _targets(frames.train, n, rng)[secret].to_numpy(),
                            numeric).sum())
    return Risk.from_counts(n, success, control, baseline)
