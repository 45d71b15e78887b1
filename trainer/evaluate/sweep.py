"""The privacy–utility curve: train at several ε, evaluate each, plot utility against ε.

Every training reads the same people's rows, so the generators' budgets
add up (basic composition): releasing all of them, or any choice among them
made by looking at these real-data metrics, costs the *sum*, and the sweep
says so with the total. Choosing ε from a sweep is tuning on private data;
the total is the honest price of having looked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from trainer.evaluate.result import NOT_DP_NOTICE, plain

__all__ = ("SweepPoint", "SweepResult", "parse_epsilons", "render_sweep_html", "sweep")

Frame = Any


def parse_epsilons(text: str) -> list[float]:
    """``"0.5,1,2,4"`` -> [0.5, 1.0, 2.0, 4.0] (positive, no repeats)."""
    from provisioner.errors import ConfigError

    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--sweep {text!r}: give comma-separated epsilons, e.g. 0.5,1,2,4"
                          ) from None
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise ConfigError(f"--sweep {text!r}: every epsilon must be a positive number")
    if len(set(values)) != len(values):
        raise ConfigError(f"--sweep {text!r}: an epsilon is repeated")
    return sorted(values)


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One training of the sweep: its budget, what it spent, what it measured."""

    epsilon: float
    spent_epsilon: float
    spent_delta: float
    tvd_1way_mean: float
    tvd_2way_mean: float
    association_difference_mean: float
    target_score: float | None
    real_score: float | None
    mia_auc: float
    dcr_share: float


@dataclasses.dataclass(frozen=True)
class SweepResult:
    points: list[SweepPoint]
    target: str | None
    metric: str | None

    @property
    def total_epsilon(self) -> float:
        return math.fsum(p.spent_epsilon for p in self.points)

    @property
    def total_delta(self) -> float:
        return math.fsum(p.spent_delta for p in self.points)

    def to_plain(self) -> dict[str, Any]:
        out = plain(dataclasses.asdict(self))
        out["total_epsilon"] = self.total_epsilon
        out["total_delta"] = self.total_delta
        out["composition"] = ("basic: every training read the same rows, so the "
                              "budgets add up")
        out["notice"] = NOT_DP_NOTICE
        return out

    def total_in_words(self) -> str:
        return (f"Each training spent its own budget on the same people: together these "
                f"{len(self.points)} trainings spent epsilon {self.total_epsilon:.4g} "
                f"and delta {self.total_delta:.3g} (the sum, by basic composition). "
                "Releasing more than one of these generators, or picking one by these "
                "real-data metrics, costs that total.")


def sweep(train_fn: Callable[[float], Any], evaluate_fn: Callable[[Any], Any],
          epsilons: Sequence[float], progress: Callable[[str], None] | None = None
          ) -> SweepResult:
    """Train with ``train_fn(ε)`` and evaluate with ``evaluate_fn(bundle)`` at each ε."""
    from provisioner.generator import Generator

    points, target, metric = [], None, None
    for eps in epsilons:
        if progress:
            progress(f"training at epsilon {eps:g}")
        bundle = train_fn(eps)
        result = evaluate_fn(Generator(bundle))
        privacy = bundle.privacy
        t = result.target
        target, metric = (t.target, t.metric) if t is not None else (target, metric)
        points.append(SweepPoint(
            epsilon=eps, spent_epsilon=float(privacy["epsilon"]),
            spent_delta=float(privacy["delta"]),
            tvd_1way_mean=result.fidelity.tvd_1way_mean,
            tvd_2way_mean=result.fidelity.tvd_2way_mean,
            association_difference_mean=result.fidelity.association_difference_mean,
            target_score=None if t is None else t.synthetic_score,
            real_score=None if t is None else t.real_score,
            mia_auc=result.distance.mia_auc, dcr_share=result.distance.dcr_share))
    return SweepResult(points, target, metric)


def render_sweep_html(result: SweepResult) -> str:
    """The curve as one self-contained HTML page."""
    import html

    from trainer.evaluate.report import CSS, REAL, SYNTHETIC, _png, _pyplot, _table, number

    plt = _pyplot()
    p = result.to_plain()
    eps = [pt["epsilon"] for pt in p["points"]]
    panels = [("tvd_1way_mean", "mean 1-way TVD (lower is better)"),
              ("tvd_2way_mean", "mean 2-way TVD (lower is better)"),
              ("mia_auc", "membership-inference AUC (0.5 = chance)")]
    if result.target is not None:
        panels.insert(2, ("target_score", f"{result.metric} predicting {result.target}"))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2))
    for ax, (key, title) in zip(axes, panels):
        ax.plot(eps, [pt[key] for pt in p["points"]], "o-", color=SYNTHETIC,
                label="synthetic")
        if key == "target_score":
            ax.plot(eps, [pt["real_score"] for pt in p["points"]], "--", color=REAL,
                    label="trained on real rows")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_xticks(eps)
        ax.set_xticklabels([f"{e:g}" for e in eps])
        ax.set_xlabel("epsilon of the training")
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    rows = []
    for i, pt in enumerate(p["points"]):
        rows.append([number(["points", i, "epsilon"], pt["epsilon"], spec="g"),
                     number(["points", i, "spent_epsilon"], pt["spent_epsilon"], spec=".4g"),
                     number(["points", i, "tvd_1way_mean"], pt["tvd_1way_mean"]),
                     number(["points", i, "tvd_2way_mean"], pt["tvd_2way_mean"]),
                     number(["points", i, "target_score"], pt["target_score"]),
                     number(["points", i, "mia_auc"], pt["mia_auc"])])
    total = (f"<div class='notice'>{html.escape(result.total_in_words())} Total: ε = "
             f"{number(['total_epsilon'], p['total_epsilon'], spec='.4g')}, δ = "
             f"{number(['total_delta'], p['total_delta'], spec='.3g')}.</div>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>HZG privacy-utility sweep</title><style>{CSS}</style></head><body><main>"
            "<section id='sweep'><h1>Privacy–utility curve</h1>"
            f"<div class='notice'>{html.escape(NOT_DP_NOTICE)}</div>{total}"
            + _png(figure)
            + _table(["epsilon", "spent", "1-way TVD", "2-way TVD",
                      result.metric or "target score", "MIA AUC"], rows,
                     [True] * 6)
            + "</section></main></body></html>\n")
