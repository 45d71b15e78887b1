"""Fidelity and privacy diagnostics of synthetic data against real data.

These metrics read the REAL table, so their results are not differentially
private: they stay on-prem (the owner's report) and are never written into a
bundle. Definitions (used by ``scripts/bench_quality.py``):

* numeric columns are cut into (at most) 20 quantile bins of the real
  reference data; categorical values are their own bins; null is a bin;
* **1-way TVD**: mean over columns of ``½ Σ |p − q|`` of the binned marginals;
* **2-way TVD**: the same over all pairs of columns (joint bins);
* **association difference**: mean |ΔV| of pairwise Cramér's V on the bins;
* **TSTR AUC**: a HistGradientBoostingClassifier trained on synthetic rows,
  ROC AUC on real holdout rows (the target's most frequent value is class 0);
* **DCR share**: share of synthetic rows (a random 10,000 of them) whose
  nearest real row (Gower-like distance: range-scaled |Δ| for numbers,
  mismatch for categories) lies in the training part rather than an
  equal-size holdout; 0.5 means no memorisation signal;
* **exact-copy rate**: share of synthetic rows equal to some training row.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

Frame = Any  # pandas.DataFrame


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype)


def bin_edges(reference: Frame, bins: int = 20) -> dict[str, np.ndarray | None]:
    """Quantile edges of each numeric column of the reference; None for categoricals."""
    edges: dict[str, np.ndarray | None] = {}
    for name in reference.columns:
        column = reference[name]
        if _is_numeric(column):
            values = column.dropna().to_numpy(dtype=float)
            edges[name] = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
        else:
            edges[name] = None
    return edges


def binned(frame: Frame, edges: dict[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """Each column as an array of hashable bin labels (strings)."""
    out = {}
    for name, cut in edges.items():
        column = frame[name]
        if cut is None:
            out[name] = np.array(["<null>" if v is None or v != v else str(v)
                                  for v in column.tolist()], dtype=object)
        else:
            values = column.to_numpy(dtype=float, na_value=np.nan)
            index = np.clip(np.searchsorted(cut[1:-1], values, side="right"), 0,
                            max(len(cut) - 2, 0))
            labels = np.array([f"b{i}" for i in index], dtype=object)
            labels[np.isnan(values)] = "<null>"
            out[name] = labels
    return out


def _codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of two label arrays over their joint set of labels."""
    keys, inverse = np.unique(np.concatenate([a, b]).astype(str), return_inverse=True)
    return inverse[:len(a)], inverse[len(a):], len(keys)


def _tvd_codes(a: np.ndarray, b: np.ndarray, size: int) -> float:
    p = np.bincount(a, minlength=size) / max(len(a), 1)
    q = np.bincount(b, minlength=size) / max(len(b), 1)
    return float(0.5 * np.abs(p - q).sum())


def tvd(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance between the label distributions of a and b."""
    x, y, size = _codes(a, b)
    return _tvd_codes(x, y, size)


def marginal_tvds(real: Frame, synthetic: Frame, edges: dict[str, np.ndarray | None]
                  ) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    r, s = binned(real, edges), binned(synthetic, edges)
    codes = {name: _codes(r[name], s[name]) for name in edges}
    one = {name: _tvd_codes(*codes[name]) for name in edges}
    two = {}
    for x, y in itertools.combinations(edges, 2):
        (rx, sx, kx), (ry, sy, ky) = codes[x], codes[y]
        two[(x, y)] = _tvd_codes(rx * ky + ry, sx * ky + sy, kx * ky)
    return one, two


def _cramers_v_codes(x: np.ndarray, kx: int, y: np.ndarray, ky: int) -> float:
    table = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky).astype(float)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    if min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def cramers_v(x: np.ndarray, y: np.ndarray) -> float:
    """Cramér's V between two label arrays."""
    xs, xi = np.unique(x.astype(str), return_inverse=True)
    ys, yi = np.unique(y.astype(str), return_inverse=True)
    return _cramers_v_codes(xi, len(xs), yi, len(ys))


def association_difference(real: Frame, synthetic: Frame,
                           edges: dict[str, np.ndarray | None]) -> float:
    r, s = binned(real, edges), binned(synthetic, edges)
    codes = {name: _codes(r[name], s[name]) for name in edges}
    diffs = []
    for x, y in itertools.combinations(edges, 2):
        (rx, sx, kx), (ry, sy, ky) = codes[x], codes[y]
        diffs.append(abs(_cramers_v_codes(rx, kx, ry, ky) - _cramers_v_codes(sx, kx, sy, ky)))
    return float(np.mean(diffs))


def _features(frame: Frame, target: str, categories: dict[str, list[Any]]) -> np.ndarray:
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        series = frame[name]
        if name in categories:
            lookup = {v: i for i, v in enumerate(categories[name])}
            columns.append(np.array([lookup.get(str(v), np.nan) if v == v and v is not None
                                     else np.nan for v in series.tolist()], dtype=float))
        else:
            columns.append(series.to_numpy(dtype=float, na_value=np.nan))
    return np.stack(columns, axis=1)


def tstr_auc(train: Frame, test: Frame, target: str, *, seed: int = 0) -> float:
    """Train on ``train`` (synthetic or real), ROC AUC on real ``test``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    categorical = [name for name in test.columns if name != target
                   and not _is_numeric(test[name])]
    categories = {name: sorted({str(v) for v in test[name].dropna().tolist()}
                               | {str(v) for v in train[name].dropna().tolist()})
                  for name in categorical}
    positive = test[target].value_counts().index[-1]  # the less frequent class
    y_train = (train[target].astype(str) == str(positive)).to_numpy()
    y_test = (test[target].astype(str) == str(positive)).to_numpy()
    if y_train.all() or not y_train.any():
        return 0.5
    features = [n for n in test.columns if n != target]
    mask = np.array([n in categories for n in features])
    model = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed)
    model.fit(_features(train, target, categories), y_train)
    scores = model.predict_proba(_features(test, target, categories))[:, 1]
    return float(roc_auc_score(y_test, scores))


def _gower_matrix(frame: Frame, reference: Frame) -> np.ndarray:
    """Rows as vectors whose L1 distance is the Gower-like distance."""
    parts = []
    for name in reference.columns:
        if _is_numeric(reference[name]):
            ref = reference[name].to_numpy(dtype=float, na_value=np.nan)
            span = np.nanmax(ref) - np.nanmin(ref) or 1.0
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            parts.append(np.nan_to_num((values - np.nanmin(ref)) / span, nan=-1.0)[:, None])
        else:
            cats = sorted({str(v) for v in reference[name].tolist()})
            lookup = {c: i for i, c in enumerate(cats)}
            codes = np.array([lookup.get(str(v), -1) for v in frame[name].tolist()])
            onehot = np.zeros((len(codes), len(cats) + 1))
            onehot[np.arange(len(codes)), codes] = 0.5  # a mismatch costs 0.5 + 0.5 = 1
            parts.append(onehot)
    return np.concatenate(parts, axis=1)


def dcr_share(synthetic: Frame, train: Frame, holdout: Frame, *, seed: int = 0,
              max_queries: int = 10_000) -> float:
    """Share of synthetic rows nearer to train than to an equal-size holdout.

    At most ``max_queries`` synthetic rows are used (a random subset), which
    keeps the standard error of the share under 0.005.
    """
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    if len(synthetic) > max_queries:
        synthetic = synthetic.iloc[rng.choice(len(synthetic), max_queries, replace=False)]
    size = min(len(train), len(holdout))
    train_part = train.iloc[rng.choice(len(train), size, replace=False)]
    holdout_part = holdout.iloc[rng.choice(len(holdout), size, replace=False)]
    reference = train
    query = _gower_matrix(synthetic, reference)
    d_train = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(
        _gower_matrix(train_part, reference)).kneighbors(query)[0][:, 0]
    d_hold = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(
        _gower_matrix(holdout_part, reference)).kneighbors(query)[0][:, 0]
    closer = (d_train < d_hold).astype(float) + 0.5 * (d_train == d_hold)
    return float(closer.mean())


def exact_copy_rate(synthetic: Frame, train: Frame) -> float:
    def keys(frame: Frame) -> set[tuple[str, ...]] | list[tuple[str, ...]]:
        return [tuple("<null>" if v is None or v != v else str(v) for v in row)
                for row in frame.itertuples(index=False, name=None)]

    reference = set(keys(train[synthetic.columns]))
    rows = keys(synthetic)
    return float(np.mean([row in reference for row in rows])) if rows else 0.0


def report(synthetic: Frame, train: Frame, holdout: Frame, *, target: str | None = None,
           columns: Sequence[str] | None = None) -> dict[str, float]:
    """All metrics of the module docstring, as one dict."""
    columns = list(columns or train.columns)
    synthetic = synthetic[columns]
    edges = bin_edges(train[columns])
    one, two = marginal_tvds(train[columns], synthetic, edges)
    out = {
        "tvd_1way": float(np.mean(list(one.values()))),
        "tvd_2way": float(np.mean(list(two.values()))),
        "assoc_diff": association_difference(train[columns], synthetic, edges),
        "dcr_share": dcr_share(synthetic, train[columns], holdout[columns]),
        "exact_copy_rate": exact_copy_rate(synthetic, train[columns]),
    }
    if target is not None:
        out["tstr_auc"] = tstr_auc(synthetic, holdout[columns], target)
    return out
