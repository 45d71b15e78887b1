"""How a training run spends its privacy budget, fixed before values are read.

A run has two phases that compose by addition (basic composition), because
the second phase's parameters depend on the first phase's output:

1. **phase "first"** (:class:`FirstPhase`): the releases whose results
   later parameters depend on: the Laplace row count (it sets the sampling
   rate; ``row_count_share`` of ε) and the typing release (noisy counts of
   the cell classes of every column whose type is not declared: they decide
   the column types, and so which metadata histograms run;
   ``typing_share`` of ε and ``typing_delta_share`` of δ). The accountant
   composes the two; with no column to type the phase is the pure-ε count.
2. **phase "main"** (:class:`MainPhase`): the metadata releases (stage A:
   value lists, nulls, ranges; stage B: fine histograms), DP-SGD and the
   dependency check after it (``dependency_share``: a few noisy
   histograms and counts),
   composed jointly by the accountant. The metadata takes
   ``metadata_share`` of the phase's budget in Gaussian-equivalent squared
   units (more for a wide table: :func:`metadata_share`); DP-SGD's σ is then
   calibrated so that metadata and DP-SGD together meet the phase's ε.

:class:`PrivacyPlan` binds the two phases to the DP-SGD
:class:`~trainer.dp.plan.DPExecutionPlan` and the step at which the budget
tracker stops. ``hzg budget`` and ``hzg train`` both plan through
:func:`plan_privacy`, so they print and spend the same σ::

    first = plan_first_phase(config.privacy, typing_needs(raw, declared))
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
from typing import Any

from provisioner.errors import ConfigError
from trainer.column_types import TypingNeeds
from trainer.config import (
    METADATA_REFERENCE_COLUMNS,
    PrivacyConfig,
    TrainConfig,
    default_batch_size,
)
from trainer.dp.plan import DPExecutionPlan
from trainer.releases import MetadataNoise, Needs
from trainer.releases.record import FIRST_PHASE, MAIN_PHASE

__all__ = (
    "FIRST_PHASE",
    "MAIN_PHASE",
    "FirstPhase",
    "MainPhase",
    "PrivacyPlan",
    "gaussian_multiplier_for",
    "metadata_share",
    "plan_first_phase",
    "plan_main_phase",
    "plan_privacy",
    "raw_metadata_noise",
)



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
    """Phase "first": the Laplace row count and the typing release.

    Attributes:
      epsilon: what the phase spends (its events composed at ``delta``).
      delta: the accountant's δ of the phase (0: the count alone, pure ε).
      count_scale: Laplace scale of the row count (sensitivity 1).
      typing_sigma: Gaussian σ of every cell-class count (0 without typing).
      typing: the typing release's layout (which columns, which classes).
    """

    epsilon: float
    delta: float
    count_scale: float
    typing_sigma: float
    typing: TypingNeeds

    name = FIRST_PHASE

    @property
    def typing_multiplier(self) -> float | None:
        """Noise multiplier of the typing release (σ / its L2 sensitivity)."""
        if not self.typing.columns:
            return None
        return self.typing_sigma / self.typing.sensitivity

    def laplace_scale(self, release: str) -> float:
        """Laplace scale of a release of this phase (the row count)."""
        if release != "row-count":
            raise ConfigError(f"phase {self.name!r} plans no Laplace release {release!r}")
        return self.count_scale

    def to_plain(self) -> dict[str, Any]:
        releases: dict[str, Any] = {"row-count": {"laplace_scale": self.count_scale}}
        if self.typing.columns:
            releases["cell-classes"] = {"sigma": self.typing_sigma,
                                        "noise_multiplier": self.typing_multiplier,
                                        "columns": list(self.typing.columns)}
        return {"name": self.name, "epsilon": self.epsilon, "delta": self.delta,
                "releases": releases}


def _first_phase_epsilon(count_scale: float, z: float | None, delta: float,
                         accountant: str) -> float:
    import dp_accounting

    from trainer.dp.accounting import event_epsilon

    laplace = dp_accounting.LaplaceDpEvent(count_scale)
    if z is None:
        return event_epsilon(laplace, 0.0, accountant=accountant)
    event = dp_accounting.ComposedDpEvent([laplace, dp_accounting.GaussianDpEvent(z)])
    return event_epsilon(event, delta, accountant=accountant)


def plan_first_phase(privacy: PrivacyConfig, typing: TypingNeeds | None = None) -> FirstPhase:
    """Fix the first phase's noise from the budget and the typing layout.

    The row count takes ``row_count_share`` of ε (Laplace scale
    1/(share·ε)); the typing σ is the least that keeps the phase within
    ``(row_count_share + typing_share)·ε`` at ``typing_delta_share·δ``
    (δ = the given one, or the default 1e-6 until the noisy count checks it).

    Privacy:
      Data-independent: uses the budget and ``typing`` (declarations and
      storage types) only.
    """
    from trainer.budget import DEFAULT_DELTA

    typing = typing or TypingNeeds({})
    epsilon, accountant = privacy.epsilon, privacy.accountant
    count_scale = 1.0 / (privacy.row_count_share * epsilon)
    if not typing.columns:
        return FirstPhase(_first_phase_epsilon(count_scale, None, 0.0, accountant), 0.0,
                          count_scale, 0.0, typing)
    delta = privacy.typing_delta_share * (privacy.delta if privacy.delta is not None
                                          else DEFAULT_DELTA)
    target = (privacy.row_count_share + privacy.typing_share) * epsilon

    def too_little(z: float) -> bool:
        return _first_phase_epsilon(count_scale, z, delta, accountant) > target

    # start from the classical Gaussian bound (enough noise, usually by 1.5-3x)
    # and bracket the least noise multiplier that meets the target
    spare = max(target - 1.0 / count_scale, 1e-3 * target)
    hi = math.sqrt(2.0 * math.log(1.25 / delta)) / spare
    while too_little(hi):
        hi *= 2.0
    lo = hi / 4.0
    while not too_little(lo):
        lo /= 2.0
    while hi / lo > 1.005:  # σ within 0.5% of the least that meets the target
        mid = (lo * hi) ** 0.5
        if too_little(mid):
            lo = mid
        else:
            hi = mid
    spent = _first_phase_epsilon(count_scale, hi, delta, accountant)
    return FirstPhase(spent, delta, count_scale, hi * typing.sensitivity, typing)


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
      dependency_checks: how many candidate pairs the dependency check after
        training may test (each with a joint histogram and a count; a row
        moves each by at most 1).
      dependency_sigma: their Gaussian σ.
    """

    epsilon: float
    delta: float
    threshold_delta: float
    metadata_noise: MetadataNoise
    stage_a_multiplier: float | None
    stage_b_multiplier: float | None
    dependency_checks: int = 0
    dependency_sigma: float = 0.0

    name = MAIN_PHASE

    @property
    def dependency_multiplier(self) -> float | None:
        """Noise multiplier of the dependency check (σ over its L2 sensitivity
        √(2·checks)), None when it is planned empty."""
        if not self.dependency_checks:
            return None
        return self.dependency_sigma / math.sqrt(2 * self.dependency_checks)

    @property
    def metadata_events(self) -> tuple[Any, ...]:
        """The Gaussian DpEvents of stage A and B and of the dependency check,
        composed with DP-SGD."""
        import dp_accounting

        return tuple(dp_accounting.GaussianDpEvent(z)
                     for z in (self.stage_a_multiplier, self.stage_b_multiplier,
                               self.dependency_multiplier)
                     if z is not None)


def metadata_share(privacy: PrivacyConfig, needs: Needs) -> float:
    """The metadata's share of the main phase: ``metadata_share`` up to
    ``METADATA_REFERENCE_COLUMNS`` columns with metadata releases, then in
    proportion to their number, up to ``wide_metadata_share``.

    Privacy:
      Data-independent: the columns come from kinds and declarations.
    """
    columns = len(set(needs.vocab) | set(needs.shapes) | set(needs.ranged) | set(needs.fine))
    wide = privacy.metadata_share * columns / METADATA_REFERENCE_COLUMNS
    return min(max(privacy.metadata_share, wide),
               max(privacy.wide_metadata_share, privacy.metadata_share))


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
    threshold_delta = privacy.threshold_delta_share * delta if needs.selections else 0.0
    main_delta = delta - threshold_delta - first.delta
    # Gaussian-equivalent budget of the main phase, split in squared units
    # (the way independent Gaussian mechanisms compose).
    mu = 1.0 / gaussian_multiplier_for(main_epsilon, main_delta)
    meta = metadata_share(privacy, needs) * mu**2
    has_a = bool(needs.vocab or needs.shapes or needs.range_histograms)
    has_b = bool(needs.stage_b_histograms)
    share_a = (privacy.vocabulary_share if has_b else 1.0) if has_a else 0.0
    share_b = (1.0 - share_a) if has_b else 0.0
    r = privacy.range_noise_ratio
    vocab_sigma = range_sigma = grid_sigma = 1.0
    if has_a:
        weight = needs.vocab_histograms + needs.range_noise_histograms / r**2
        vocab_sigma = math.sqrt(weight / (share_a * meta))
        range_sigma = r * vocab_sigma
    if has_b:
        grid_sigma = math.sqrt(needs.stage_b_histograms / (share_b * meta))
    per_column = threshold_delta / needs.selections if needs.selections else 1e-12
    noise = MetadataNoise(count_scale=first.laplace_scale("row-count"),
                          vocab_sigma=vocab_sigma, range_sigma=range_sigma,
                          grid_sigma=grid_sigma, threshold_delta=per_column)
    # the dependency check: its own share, taken from DP-SGD's; each check is
    # a joint histogram and a count, of sensitivity 1 each: 2·checks of them
    # form one Gaussian of L2 sensitivity √(2·checks)
    checks = needs.dependency_checks(privacy.dependency_checks)
    dependency_sigma = (math.sqrt(2 * checks / (privacy.dependency_share * mu**2))
                        if checks else 0.0)
    return MainPhase(main_epsilon, main_delta, threshold_delta, noise,
                     needs.stage_a_multiplier(noise), needs.stage_b_multiplier(noise),
                     checks, dependency_sigma)


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
                self.first.to_plain(),
                {"name": self.main.name, "epsilon": self.main.epsilon,
                 "delta": self.main.delta + self.main.threshold_delta,
                 "accountant_delta": self.main.delta,
                 "partition_selection_delta": self.main.threshold_delta,
                 "metadata_noise_multipliers": {
                     "stage_a": self.main.stage_a_multiplier,
                     "stage_b": self.main.stage_b_multiplier,
                     "dependency_check": self.main.dependency_multiplier}},
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
