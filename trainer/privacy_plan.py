"""How a training run spends its privacy budget, fixed before values are read.

A run has two phases that compose by addition (basic composition), because
the second phase's parameters depend on the first phase's output:

1. **phase "row-count"** (:class:`FirstPhase`): pure-ε Laplace releases
   whose results later parameters may depend on; today the row count (it
   sets the sampling rate). Its ε is ``row_count_share`` of the total,
   divided between its releases by weight, so that more releases (e.g. the
   counts that decide column types) can join it.
2. **phase "main"** (:class:`MainPhase`): the metadata releases (stage A:
   value lists, nulls, ranges; stage B: fine histograms) and DP-SGD,
   composed jointly by the accountant. The metadata takes
   ``metadata_share`` of the phase's budget in Gaussian-equivalent squared
   units; DP-SGD's σ is then calibrated so that metadata and DP-SGD
   together meet the phase's ε.

:class:`PrivacyPlan` binds the two phases to the DP-SGD
:class:`~trainer.dp.plan.DPExecutionPlan` and the step at which the budget
tracker stops. ``hzg budget`` and ``hzg train`` both plan through
:func:`plan_privacy`, so they print and spend the same σ::

    first = plan_first_phase(config.privacy)
    main = plan_main_phase(config.privacy, first, needs)
    plan = plan_privacy(config, main, rows_noisy, first=first)
    plan.dpsgd.noise_multiplier, plan.max_steps

Everything here is data-independent: it reads the budget, the recipe, the
number of histograms of each release (from column kinds and declarations)
and the *released* row count.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from provisioner.errors import ConfigError
from trainer.config import PrivacyConfig, TrainConfig, default_batch_size
from trainer.dp.plan import DPExecutionPlan
from trainer.releases import MetadataNoise, Needs

__all__ = (
    "FIRST_PHASE",
    "MAIN_PHASE",
    "FirstPhase",
    "MainPhase",
    "PrivacyPlan",
    "gaussian_multiplier_for",
    "plan_first_phase",
    "plan_main_phase",
    "plan_privacy",
    "raw_metadata_noise",
)

FIRST_PHASE = "row-count"
MAIN_PHASE = "main"


def _gaussian_delta(epsilon: float, z: float) -> float:
    """Exact δ(ε) of the Gaussian mechanism with noise multiplier z (Balle & Wang 2018)."""
    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    return cdf(-epsilon * z + 0.5 / z) - math.exp(epsilon) * cdf(-epsilon * z - 0.5 / z)


def gaussian_multiplier_for(epsilon: float, delta: float) -> float:
    """The Gaussian noise multiplier z that alone spends exactly (ε, δ).

    Only used to split the budget (in Gaussian-equivalent units); the
    accountant then composes the actual mechanisms.
    """
    lo, hi = 1e-3, 1e4
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if _gaussian_delta(epsilon, mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi


@dataclasses.dataclass(frozen=True)
class FirstPhase:
    """Phase "row-count": pure-ε Laplace releases, δ = 0.

    Attributes:
      epsilon: the phase's ε (the sum of its releases' ε).
      weights: release name -> its weight; each gets ``epsilon · w / Σw``.
    """

    epsilon: float
    weights: tuple[tuple[str, float], ...] = (("row-count", 1.0),)

    name = FIRST_PHASE
    delta = 0.0

    def epsilon_of(self, release: str) -> float:
        weights = dict(self.weights)
        if release not in weights:
            raise ConfigError(f"phase {self.name!r} plans no release named {release!r}")
        return self.epsilon * weights[release] / math.fsum(weights.values())

    def laplace_scale(self, release: str, sensitivity: float = 1.0) -> float:
        """Laplace scale of a release of L1 ``sensitivity``: sensitivity / its ε."""
        return sensitivity / self.epsilon_of(release)


@dataclasses.dataclass(frozen=True)
class MainPhase:
    """Phase "main": metadata releases and DP-SGD, composed jointly.

    Attributes:
      epsilon: the phase's ε.
      delta: the accountant's δ of the phase.
      threshold_delta: δ of partition selection, spent outside the
        accountant (added to the phase's δ).
      metadata_noise: noise scales of the metadata releases.
      stage_a_multiplier, stage_b_multiplier: effective Gaussian noise
        multipliers of the two metadata releases (None when empty).
    """

    epsilon: float
    delta: float
    threshold_delta: float
    metadata_noise: MetadataNoise
    stage_a_multiplier: float | None
    stage_b_multiplier: float | None

    name = MAIN_PHASE

    @property
    def metadata_events(self) -> tuple[Any, ...]:
        """The Gaussian DpEvents of stage A and B, composed with DP-SGD."""
        import dp_accounting

        return tuple(dp_accounting.GaussianDpEvent(z)
                     for z in (self.stage_a_multiplier, self.stage_b_multiplier)
                     if z is not None)


def plan_first_phase(privacy: PrivacyConfig,
                     weights: Mapping[str, float] | None = None) -> FirstPhase:
    """The first phase's ε and how its releases share it (data-independent)."""
    share = dict(weights or {"row-count": 1.0})
    if any(w <= 0 for w in share.values()):
        raise ConfigError("first-phase release weights must be positive")
    return FirstPhase(privacy.epsilon * privacy.row_count_share, tuple(share.items()))


def plan_main_phase(privacy: PrivacyConfig, first: FirstPhase, needs: Needs) -> MainPhase:
    """Split the rest of (ε, δ) between metadata (stage A, B) and DP-SGD.

    ``privacy.delta`` must be resolved (see ``PrivacyConfig.resolved_delta``).

    Privacy:
      Data-independent: uses the budget, the shares and the number of
      histograms each release holds (from column kinds and declarations).
    """
    if privacy.delta is None:
        raise ConfigError("internal: plan the main phase with a resolved delta")
    delta = privacy.delta
    main_epsilon = privacy.epsilon - first.epsilon
    threshold_delta = privacy.threshold_delta_share * delta if needs.partition else 0.0
    main_delta = delta - threshold_delta - first.delta
    # Gaussian-equivalent budget of the main phase, split in squared units
    # (the way independent Gaussian mechanisms compose).
    mu = 1.0 / gaussian_multiplier_for(main_epsilon, main_delta)
    meta = privacy.metadata_share * mu**2
    has_a = bool(needs.vocab or needs.range_histograms)
    has_b = bool(needs.stage_b_histograms)
    share_a = (privacy.vocabulary_share if has_b else 1.0) if has_a else 0.0
    share_b = (1.0 - share_a) if has_b else 0.0
    r = privacy.range_noise_ratio
    vocab_sigma = range_sigma = grid_sigma = 1.0
    if has_a:
        weight = len(needs.vocab) + needs.range_histograms / r**2
        vocab_sigma = math.sqrt(weight / (share_a * meta))
        range_sigma = r * vocab_sigma
    if has_b:
        grid_sigma = math.sqrt(needs.stage_b_histograms / (share_b * meta))
    per_column = threshold_delta / len(needs.partition) if needs.partition else 1e-12
    noise = MetadataNoise(count_scale=first.laplace_scale("row-count"),
                          vocab_sigma=vocab_sigma, range_sigma=range_sigma,
                          grid_sigma=grid_sigma, threshold_delta=per_column)
    return MainPhase(main_epsilon, main_delta, threshold_delta, noise,
                     needs.stage_a_multiplier(noise), needs.stage_b_multiplier(noise))


def raw_metadata_noise() -> MetadataNoise:
    """Metadata "read from the raw data": noise that changes nothing.

    An audit control only: every value present in the table, even once,
    survives partition selection and every range is exact (σ = 1e-9, so
    thresholds fall below one row).
    """
    return MetadataNoise(count_scale=1e-9, vocab_sigma=1e-9, range_sigma=1e-9,
                         grid_sigma=1e-9, threshold_delta=0.999)


@dataclasses.dataclass(frozen=True)
class PrivacyPlan:
    """The whole run's privacy plan: phases, metadata noise, DP-SGD plan.

    Attributes:
      epsilon, delta: the budget.
      accountant: ``"pld"`` or ``"rdp"``.
      first, main: the two phases.
      dpsgd: the DP-SGD execution plan (calibrated jointly with the main
        phase's metadata events).
      max_steps: the steps the budget tracker allows (≤ ``dpsgd.steps``).
    """

    epsilon: float
    delta: float
    accountant: str
    first: FirstPhase
    main: MainPhase
    dpsgd: DPExecutionPlan
    max_steps: int

    @property
    def delta_by_phase(self) -> dict[str, float]:
        """The accountant δ of each phase (partition selection's δ comes on top)."""
        return {self.first.name: self.first.delta, self.main.name: self.main.delta}

    def to_plain(self) -> dict[str, Any]:
        """The plan as ``hzg budget --json`` prints it."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "accountant": self.accountant,
            "phases": [
                {"name": self.first.name, "epsilon": self.first.epsilon,
                 "delta": self.first.delta,
                 "releases": {n: self.first.epsilon_of(n) for n, _ in self.first.weights}},
                {"name": self.main.name, "epsilon": self.main.epsilon,
                 "delta": self.main.delta + self.main.threshold_delta,
                 "accountant_delta": self.main.delta,
                 "partition_selection_delta": self.main.threshold_delta,
                 "metadata_noise_multipliers": {
                     "stage_a": self.main.stage_a_multiplier,
                     "stage_b": self.main.stage_b_multiplier}},
            ],
            "dpsgd": dict(self.dpsgd.to_plain(), capacity=self.dpsgd.capacity,
                          num_examples=self.dpsgd.num_examples),
            "max_steps": self.max_steps,
        }


def plan_privacy(config: TrainConfig, main: MainPhase, rows: int, *,
                 first: FirstPhase, num_devices: int = 1) -> PrivacyPlan:
    """Calibrate DP-SGD for the main phase's budget and bind the whole plan.

    Args:
      config: recipe and budget (``config.privacy.delta`` resolved).
      main, first: the phases.
      rows: the released (noisy) row count; q = batch / rows.
      num_devices: devices the batch is sharded over.

    Privacy:
      Data-independent given the released row count: σ is calibrated so
      that the metadata events and all planned steps meet the main phase's
      ε at its δ, and the tracker stops at the last step within it.
    """
    from trainer.dp.plan import budget_tracker, make_plan

    p = config.privacy
    batch = min(config.batch_size or default_batch_size(rows), rows)
    dpsgd = make_plan(rows, batch, l2_clip=config.clip_norm, epochs=config.epochs,
                      target_epsilon=main.epsilon, delta=main.delta,
                      accountant=p.accountant, extra_events=main.metadata_events,
                      num_devices=num_devices)
    tracker = budget_tracker(dpsgd, main.epsilon, main.delta, accountant=p.accountant,
                             extra_events=main.metadata_events)
    return PrivacyPlan(p.epsilon, p.delta, p.accountant, first, main, dpsgd,
                       tracker.max_steps)
