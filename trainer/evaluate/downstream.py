"""Does a model trained on synthetic rows behave like one trained on real rows?

For the ``--target`` column:

* **train on synthetic, test on real** (TSTR) beside train on real, test on
  real (TRTR): a gradient-boosted model (scikit-learn's
  ``HistGradientBoosting*``) fit on each, scored on the holdout: ROC AUC for
  a categorical target (the positive class is the holdout's least frequent
  value, the rest negative), R² for a numeric one;
* **permutation importances** of both models on the holdout (mean drop of
  the score when a feature's values are shuffled, 5 repeats) and their
  Spearman rank correlation;
* **linear coefficients**: a logistic (classification) or least-squares
  (regression) model on standardised numbers (z-scores of the real training
  rows) and one-hot categories, fit on each table; the coefficients side by
  side.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from trainer.evaluate.frames import Frames, is_numeric_kind

__all__ = ("TargetModels", "positive_class", "rank_correlation", "target_models")

Frame = Any


def positive_class(holdout: Frame, target: str) -> str:
    """The holdout's least frequent target value (ties: the larger label)."""
    values = [v for v in holdout[target].tolist() if v is not None]
    labels, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
    return str(max(labels[counts == counts.min()]))


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties get average ranks); 0 if either is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


# HistGradientBoosting takes at most 255 levels per categorical feature; a
# high-cardinality column (an undecided column read as text, a city) keeps
# its most frequent real values and pools the rest in one more level.
MAX_LEVELS = 250


def _levels(frames: Frames, column: str) -> list[str]:
    values = [str(v) for part in (frames.train, frames.holdout)
              for v in part[column].tolist() if v is not None]
    labels, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
    if len(labels) <= MAX_LEVELS:
        return sorted(labels.tolist())
    order = np.lexsort((labels, -counts))[:MAX_LEVELS]  # most frequent, ties by label
    return sorted(labels[order].tolist())


class _Design:
    """Feature matrices for tree models (codes) and linear models (one-hot)."""

    def __init__(self, frames: Frames, target: str) -> None:
        self.features = [c for c in frames.kinds if c != target]
        self.numeric = [c for c in self.features if is_numeric_kind(frames.kinds[c])]
        self.categories = {c: _levels(frames, c) for c in self.features
                           if c not in self.numeric}
        stats = {}
        for c in self.numeric:
            values = frames.train[c].to_numpy(dtype=float)
            mean, std = np.nanmean(values), np.nanstd(values)
            stats[c] = (0.0 if np.isnan(mean) else float(mean),
                        float(std) if std and not np.isnan(std) else 1.0)
        self.stats = stats

    def trees(self, frame: Frame) -> np.ndarray:
        columns = []
        for c in self.features:
            if c in self.numeric:
                columns.append(frame[c].to_numpy(dtype=float))
            else:
                cats = self.categories[c]
                lookup = {v: i for i, v in enumerate(cats)}
                # a value outside the kept levels is one more level ("other")
                columns.append(np.array([lookup.get(str(v), len(cats)) if v is not None
                                         else np.nan for v in frame[c].tolist()], dtype=float))
        return np.stack(columns, axis=1)

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([c not in self.numeric for c in self.features])

    def linear_names(self) -> list[str]:
        names = list(self.numeric)
        for c, cats in self.categories.items():
            names += [f"{c}={v}" for v in cats[1:]]  # the first level is the reference
        return names

    def linear(self, frame: Frame) -> np.ndarray:
        parts = []
        for c in self.numeric:
            mean, std = self.stats[c]
            z = (frame[c].to_numpy(dtype=float) - mean) / std
            parts.append(np.nan_to_num(z, nan=0.0)[:, None])
        for c, cats in self.categories.items():
            lookup = {v: i for i, v in enumerate(cats)}
            codes = np.array([lookup.get(str(v), -1) if v is not None else -1
                              for v in frame[c].tolist()])
            onehot = np.zeros((len(frame), max(len(cats) - 1, 0)))
            rows = np.flatnonzero(codes >= 1)
            onehot[rows, codes[rows] - 1] = 1.0
            parts.append(onehot)
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(frame), 0))


@dataclasses.dataclass(frozen=True)
class TargetModels:
    """Model-based utility for one target column (see the module docstring).

    Attributes:
      target: the column.
      task: ``"classification"`` or ``"regression"``.
      metric: ``"roc_auc"`` or ``"r2"``.
      positive: the positive class (classification).
      synthetic_score: TSTR score; real_score: TRTR score.
      importances_real, importances_synthetic: feature -> permutation importance.
      importance_rank_correlation: Spearman's ρ between the two.
      coefficients: feature level -> (real, synthetic) linear coefficient.
    """

    target: str
    task: str
    metric: str
    positive: str | None
    synthetic_score: float
    real_score: float
    importances_real: dict[str, float]
    importances_synthetic: dict[str, float]
    importance_rank_correlation: float
    coefficients: dict[str, tuple[float, float]]


def _labels(frame: Frame, target: str, positive: str) -> np.ndarray:
    return np.array([str(v) == positive for v in frame[target].tolist()])


def target_models(frames: Frames, target: str, *, seed: int = 0,
                  max_rows: int = 20_000) -> TargetModels:
    """Fit the models of the module docstring on real and synthetic rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import r2_score, roc_auc_score

    rng = np.random.default_rng(seed)

    def cap(frame: Frame) -> Frame:
        if len(frame) <= max_rows:
            return frame
        return frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]

    train, synthetic, holdout = cap(frames.train), cap(frames.synthetic), frames.holdout
    design = _Design(frames, target)
    regression = is_numeric_kind(frames.kinds[target])
    positive = None if regression else positive_class(holdout, target)

    def outcome(frame: Frame) -> np.ndarray:
        if regression:
            return frame[target].to_numpy(dtype=float)
        return _labels(frame, target, positive)

    y_test = outcome(holdout)
    keep_test = ~np.isnan(y_test) if regression else np.ones(len(y_test), bool)
    x_test, y_test = design.trees(holdout)[keep_test], y_test[keep_test]

    def fit(frame: Frame) -> tuple[float, dict[str, float], np.ndarray]:
        y = outcome(frame)
        keep = ~np.isnan(y) if regression else np.ones(len(y), bool)
        x, y = design.trees(frame)[keep], y[keep]
        lin = design.linear(frame)[keep]
        if not regression and (y.all() or not y.any()):
            # one class only: a constant guess, no importances, no coefficients
            return 0.5, {f: 0.0 for f in design.features}, np.zeros(lin.shape[1])
        if regression:
            model = HistGradientBoostingRegressor(categorical_features=design.categorical_mask,
                                                  random_state=seed).fit(x, y)
            score = float(r2_score(y_test, model.predict(x_test)))
            scoring = "r2"
            linear = LinearRegression().fit(lin, y)
            coef = np.asarray(linear.coef_, dtype=float)
        else:
            model = HistGradientBoostingClassifier(categorical_features=design.categorical_mask,
                                                   random_state=seed).fit(x, y)
            score = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
            scoring = "roc_auc"
            linear = LogisticRegression(max_iter=2000).fit(lin, y)
            coef = np.asarray(linear.coef_[0], dtype=float)
        perm = permutation_importance(model, x_test, y_test, scoring=scoring, n_repeats=5,
                                      random_state=seed)
        importances = {f: float(v) for f, v in zip(design.features, perm.importances_mean)}
        return score, importances, coef

    from threadpoolctl import threadpool_limits

    # One thread: small models fit fastest that way, and several threads
    # per process oversubscribe a shared machine (measured 13x slower).
    with threadpool_limits(limits=1):
        real_score, imp_real, coef_real = fit(train)
        syn_score, imp_syn, coef_syn = fit(synthetic)
    rho = rank_correlation([imp_real[f] for f in design.features],
                           [imp_syn[f] for f in design.features])
    coefficients = {name: (float(a), float(b))
                    for name, a, b in zip(design.linear_names(), coef_real, coef_syn)}
    return TargetModels(target, "regression" if regression else "classification",
                        "r2" if regression else "roc_auc", positive, syn_score, real_score,
                        imp_real, imp_syn, rho, coefficients)
