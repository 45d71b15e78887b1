"""``EvaluationResult``: every figure of an evaluation, and the verdicts.

Both ``hzg evaluate --json`` and the HTML report are rendered from one
:class:`EvaluationResult` (``to_plain()``), so their numbers agree.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from trainer.evaluate.distance import DistancePrivacy
from trainer.evaluate.downstream import TargetModels
from trainer.evaluate.groups import GroupRate, Tail
from trainer.evaluate.risks import Risk

__all__ = ("EvaluationResult", "Fidelity", "Verdict", "plain", "statement_in_words")

NOT_DP_NOTICE = (
    "These figures were computed on the REAL data and are NOT differentially private. "
    "Keep this report on-prem; do not attach it to the generator.")


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """Distribution fidelity (``trainer.evaluate.fidelity``).

    Attributes:
      tvd_1way: column -> 1-way TVD; tvd_1way_mean its mean.
      tvd_2way_mean: mean 2-way TVD over all pairs; worst_pairs: the 10
        pairs with the largest 2-way TVD, as (a, b, tvd).
      columns: column order of the association matrices.
      association_real, association_synthetic: Cramér's V matrices.
      association_difference_mean, association_difference_max: of |ΔV|.
      histograms: column -> {"labels", "real", "synthetic"} bin shares.
    """

    tvd_1way: dict[str, float]
    tvd_1way_mean: float
    tvd_2way_mean: float
    worst_pairs: list[tuple[str, str, float]]
    columns: list[str]
    association_real: list[list[float]]
    association_synthetic: list[list[float]]
    association_difference_mean: float
    association_difference_max: float
    histograms: dict[str, dict[str, list[Any]]]


@dataclasses.dataclass(frozen=True)
class Verdict:
    area: str
    status: str  # "good", "weak" or "poor"
    finding: str
    advice: str


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """An evaluation of one generator against real training and holdout rows.

    Attributes:
      generator: name, id, version, owner of the bundle (when known).
      rows: rows used: {"train", "holdout", "synthetic"}.
      seed: the sampling seed.
      fidelity: see :class:`Fidelity`.
      target: model-based utility for ``--target`` (None without one).
      distance: record-level privacy from distances.
      singling_out, linkability: anonymeter-style risks.
      inference: secret column -> attribute-inference risk.
      bias: sensitive column -> per-group positive rates of the target.
      tails: per numeric column, shares above the real 99th percentile.
      quasi_identifiers: the columns of the uniqueness view, with
        unique_real / unique_synthetic the shares of rows unique on them.
      privacy: the bundle's privacy statement (header.privacy, plain data).
    """

    generator: dict[str, Any]
    rows: dict[str, int]
    seed: int
    fidelity: Fidelity
    target: TargetModels | None
    distance: DistancePrivacy
    singling_out: Risk
    linkability: Risk
    inference: dict[str, Risk]
    bias: dict[str, list[GroupRate]]
    tails: list[Tail]
    quasi_identifiers: list[str]
    unique_real: float | None
    unique_synthetic: float | None
    privacy: dict[str, Any]
    notice: str = NOT_DP_NOTICE

    def to_plain(self) -> dict[str, Any]:
        """JSON-ready data (NaN becomes null); what ``--json`` writes."""
        out = plain(dataclasses.asdict(self))
        out["verdicts"] = [plain(dataclasses.asdict(v)) for v in self.verdicts()]
        out["privacy_in_words"] = statement_in_words(self.privacy)
        return out

    def summary(self) -> dict[str, float | None]:
        """The headline figures, named for a bundle's non-DP statistics section."""
        import re

        def name(text: str) -> str:
            return re.sub(r"[^a-z0-9_.]", "_", text.lower())[:64]

        d, f = self.distance, self.fidelity
        out: dict[str, float | None] = {
            "tvd_1way_mean": f.tvd_1way_mean, "tvd_2way_mean": f.tvd_2way_mean,
            "association_difference_mean": f.association_difference_mean,
            "mia_auc": d.mia_auc, "dcr_share": d.dcr_share,
            "exact_copy_rate": d.exact_copy_rate, "holdout_copy_rate": d.holdout_copy_rate,
            "singling_out.risk": self.singling_out.value,
            "linkability.risk": self.linkability.value,
        }
        if self.target is not None:
            out["target.synthetic_score"] = self.target.synthetic_score
            out["target.real_score"] = self.target.real_score
            out["target.importance_rank_correlation"] = self.target.importance_rank_correlation
        for column, risk in list(self.inference.items())[:8]:
            out[name(f"inference.{column}.risk")] = risk.value
        return {k: (None if v is None or not math.isfinite(v) else float(v))
                for k, v in out.items()}

    def verdicts(self) -> list[Verdict]:
        """Plain-language verdicts, in a fixed order of areas."""
        return _verdicts(self)


def plain(value: Any) -> Any:
    """Tuples to lists, NaN/inf to None, numpy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _grade(value: float, good: float, weak: float, *, higher_is_better: bool = False) -> str:
    if higher_is_better:
        return "good" if value >= good else "weak" if value >= weak else "poor"
    return "good" if value <= good else "weak" if value <= weak else "poor"


def _verdicts(r: EvaluationResult) -> list[Verdict]:
    out = []
    dp = bool(r.privacy.get("dp"))
    if dp:
        out.append(Verdict("Differential privacy", "good",
                           f"The generator is ({r.privacy['epsilon']:.4g}, "
                           f"{r.privacy['delta']:.2g})-differentially private per row.",
                           "Nothing to do; the guarantee covers everything in the bundle."))
    else:
        out.append(Verdict("Differential privacy", "poor",
                           "The generator is NOT differentially private: it was trained "
                           "with --insecure-no-dp and its metadata is exact.",
                           "Do not release it; retrain without --insecure-no-dp."))
    f = r.fidelity
    worst = max(f.tvd_1way, key=f.tvd_1way.get) if f.tvd_1way else "-"
    out.append(Verdict("Column distributions", _grade(f.tvd_1way_mean, 0.05, 0.10),
                       f"Mean 1-way TVD {f.tvd_1way_mean:.3f} (worst: {worst}, "
                       f"{f.tvd_1way.get(worst, 0.0):.3f}).",
                       "Fine as is." if f.tvd_1way_mean <= 0.05 else
                       "Declare public bounds and categories in a schema file, or raise "
                       "epsilon, to spend less budget on metadata."))
    pair = f.worst_pairs[0] if f.worst_pairs else ("-", "-", 0.0)
    out.append(Verdict("Pairs of columns", _grade(f.tvd_2way_mean, 0.10, 0.20),
                       f"Mean 2-way TVD {f.tvd_2way_mean:.3f}; worst pair {pair[0]} x "
                       f"{pair[1]} ({pair[2]:.3f}).",
                       "Fine as is." if f.tvd_2way_mean <= 0.10 else
                       "Train longer (--epochs) or with more budget; check the worst pairs "
                       "below."))
    out.append(Verdict("Associations", _grade(f.association_difference_mean, 0.05, 0.10),
                       f"Mean Cramér's V difference {f.association_difference_mean:.3f} "
                       f"(largest {f.association_difference_max:.3f}).",
                       "Fine as is." if f.association_difference_mean <= 0.05 else
                       "Relationships are weakened; see the difference heatmap."))
    if r.target is not None:
        t = r.target
        gap = t.real_score - t.synthetic_score
        name = "AUC" if t.metric == "roc_auc" else "R²"
        out.append(Verdict(f"Predicting {t.target}", _grade(gap, 0.03, 0.08),
                           f"A model trained on synthetic rows scores {name} "
                           f"{t.synthetic_score:.3f} on real holdout rows; trained on real "
                           f"rows, {t.real_score:.3f}.",
                           "Fine for model development." if gap <= 0.03 else
                           "Use synthetic rows for prototyping, then validate on real data."))
        out.append(Verdict("Model structure", _grade(t.importance_rank_correlation, 0.8, 0.5,
                                                     higher_is_better=True),
                           f"Feature importances rank-correlate at "
                           f"ρ = {t.importance_rank_correlation:.2f} between the two models.",
                           "Fine as is." if t.importance_rank_correlation >= 0.8 else
                           "Conclusions about which features matter may not transfer."))
    d = r.distance
    out.append(Verdict("Membership inference", _grade(d.mia_auc, 0.55, 0.60),
                       f"A distance attack tells training rows from holdout rows with AUC "
                       f"{d.mia_auc:.3f} (0.5 = no better than chance).",
                       "Fine as is." if d.mia_auc <= 0.55 else
                       "The generator may memorise: lower epsilon or check the training "
                       "settings."))
    copies = d.exact_copy_rate - d.holdout_copy_rate
    out.append(Verdict("Closest records and copies",
                       "good" if copies <= 0.01 and d.dcr_share <= 0.55 else
                       "weak" if copies <= 0.03 and d.dcr_share <= 0.6 else "poor",
                       f"{100 * d.exact_copy_rate:.2f}% of synthetic rows equal a training "
                       f"row (holdout rows: {100 * d.holdout_copy_rate:.2f}%); "
                       f"{100 * d.dcr_share:.1f}% are nearer the training rows than the "
                       "holdout.",
                       "Fine as is." if copies <= 0.01 else
                       "Synthetic rows copy training rows more than chance explains."))
    risks = [("Singling out", r.singling_out), ("Linkability", r.linkability)] + [
        (f"Inference of {k}", v) for k, v in r.inference.items()]
    for area, risk in risks:
        out.append(Verdict(area, _grade(risk.value, 0.05, 0.10),
                           f"Risk {risk.value:.3f} (95% interval {risk.ci_low:.3f} to "
                           f"{risk.ci_high:.3f}) over {risk.attacks} attacks.",
                           "Fine as is." if risk.value <= 0.05 else
                           "An attacker gains from the synthetic rows against the people in "
                           "the training table; lower epsilon."))
    for column, groups in r.bias.items():
        gaps = [abs(g.real_rate - g.synthetic_rate) for g in groups
                if g.real_rate is not None and g.synthetic_rate is not None
                and g.real_rows >= 50]
        worst_gap = max(gaps) if gaps else 0.0
        out.append(Verdict(f"Bias by {column}", _grade(worst_gap, 0.05, 0.10),
                           f"The largest gap in the target's positive rate between real and "
                           f"synthetic rows of one {column} group is {worst_gap:.3f}.",
                           "Fine as is." if worst_gap <= 0.05 else
                           "Group disparities are distorted; do not study fairness on these "
                           "rows."))
    if r.tails:
        worst_tail = max(r.tails, key=lambda t: abs(t.synthetic_share - t.real_share))
        diff = abs(worst_tail.synthetic_share - worst_tail.real_share)
        out.append(Verdict("Tails", _grade(diff, 0.005, 0.01),
                           f"Above the real 99th percentile of {worst_tail.column}: "
                           f"{100 * worst_tail.synthetic_share:.2f}% of synthetic rows vs "
                           f"{100 * worst_tail.real_share:.2f}% of real rows.",
                           "Fine as is." if diff <= 0.005 else
                           "Extreme values are under- or over-produced; declare bounds."))
    if r.unique_synthetic is not None and r.unique_real is not None:
        out.append(Verdict("Unique rows", "good" if r.unique_synthetic <= r.unique_real + 0.01
                           else "weak",
                           f"{100 * r.unique_synthetic:.1f}% of synthetic rows are unique on "
                           f"{', '.join(r.quasi_identifiers)} (real rows: "
                           f"{100 * r.unique_real:.1f}%).",
                           "Fine as is." if r.unique_synthetic <= r.unique_real + 0.01 else
                           "Unique combinations look identifying even when synthetic; "
                           "coarsen the quasi-identifiers before sharing."))
    return out


def statement_in_words(privacy: dict[str, Any]) -> list[str]:
    """The bundle's privacy statement as sentences."""
    if not privacy.get("dp"):
        return ["This generator was trained WITHOUT differential privacy. Its metadata "
                "(categories, ranges, bins) was read exactly from the data and its weights "
                "carry no guarantee. It must not leave the building."]
    lines = [
        f"Guarantee: ({privacy['epsilon']:.4g}, {privacy['delta']:.3g})-differential privacy "
        f"per {privacy.get('unit', 'row')}: adding or removing any one row of the training "
        "table changes the probability of any output by at most a factor "
        f"e^{privacy['epsilon']:.4g} ≈ {math.exp(privacy['epsilon']):.3g}, "
        f"except with probability {privacy['delta']:.3g}.",
        f"Accounting: {privacy.get('accountant')} accountant "
        f"({privacy.get('accountant_library')}); phases add up.",
    ]
    for phase in privacy.get("phases", []):
        names = [m["name"] for m in privacy.get("mechanisms", []) if m["phase"] == phase["name"]]
        lines.append(f"Phase {phase['name']}: ε {phase['epsilon']:.4g}, δ "
                     f"{phase['delta']:.3g}, spent by {', '.join(names) or 'nothing'}.")
    for m in privacy.get("mechanisms", []):
        p = m.get("params", {})
        if m["name"] == "dp-sgd":
            lines.append(
                f"DP-SGD: {p.get('steps')} steps, each on a Poisson sample of the rows "
                f"(rate {p.get('sampling_probability', 0):.4g}), each row's gradient clipped "
                f"to norm {p.get('clip_norm')}, Gaussian noise of {p.get('noise_multiplier', 0):.3g}"
                " times that norm added once per step.")
        elif m["kind"] == "laplace":
            lines.append(f"{m['name']}: Laplace noise of scale {p.get('scale', 0):.3g}.")
        else:
            cols = m.get("columns", [])
            lines.append(f"{m['name']}: one Gaussian release (noise multiplier "
                         f"{p.get('noise_multiplier', 0):.3g}) covering {len(cols)} column(s).")
    return lines
