"""DPPlan: the public parameters of a DP-SGD run, and the budget tracker.

A plan binds what the accountant needs (q, σ, steps) to what the step needs
(C, expected batch size, padded capacity), so the ε that is reported is the
ε of the run that happens::

    plan = make_plan(num_examples=32561, batch_size=256, l2_clip=1.0,
                     epochs=10, target_epsilon=1.0, delta=1e-6)
    plan.noise_multiplier      # calibrated by PLD for 1271 steps
    plan.dp_event              # SelfComposed(PoissonSampled(q, Gaussian(σ)), steps)
    tracker = budget_tracker(plan, target_epsilon=1.0, delta=1e-6)
    tracker.allows_step(steps_done)   # False once one more step would exceed ε

Everything here depends only on public parameters (the row count used for q
must itself be public or a DP estimate), so decisions taken from it, such as
stopping, spend no privacy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import dp_accounting

from provisioner._checks import positive, positive_int, probability
from provisioner.errors import ConfigError
from trainer.dp import accounting
from trainer.dp.accounting import Accountant
from trainer.dp.sampling import batch_capacity, realised_sampling_prob

__all__ = (
    "BudgetTracker",
    "DPPlan",
    "budget_tracker",
    "make_plan",
)


@dataclasses.dataclass(frozen=True)
class DPPlan:
    """Public parameters of one DP-SGD run.

    Attributes:
        num_examples: N, rows the sampler draws from.
        sampling_prob: q (the sampler realises ``floor(q·2³²)/2³² ≤ q``).
        noise_multiplier: σ.
        l2_clip: C.
        steps: planned number of steps.
        capacity: rows per fixed-shape chunk (a multiple of ``num_devices``).
        num_devices: devices the batch axis is sharded over.
    """

    num_examples: int
    sampling_prob: float
    noise_multiplier: float
    l2_clip: float
    steps: int
    capacity: int
    num_devices: int = 1

    def __post_init__(self) -> None:
        positive_int(
            num_examples=self.num_examples,
            capacity=self.capacity,
            num_devices=self.num_devices,
        )
        positive(
            sampling_prob=self.sampling_prob,
            noise_multiplier=self.noise_multiplier,
            l2_clip=self.l2_clip,
        )
        if self.sampling_prob > 1:
            raise ConfigError(f"Expected 0 < sampling_prob={self.sampling_prob} <= 1.")
        if (
            isinstance(self.steps, bool)
            or not isinstance(self.steps, int)
            or self.steps < 0
        ):
            raise ConfigError(f"Expected steps={self.steps!r} to be an integer >= 0.")
        if self.capacity % self.num_devices:
            raise ConfigError(
                f"capacity={self.capacity} must be a multiple of "
                f"num_devices={self.num_devices}."
            )

    @property
    def expected_batch_size(self) -> float:
        """q·N, the divisor of the noised sum."""
        return self.sampling_prob * self.num_examples

    @property
    def dp_event(self) -> dp_accounting.DpEvent:
        """The DpEvent of all planned steps."""
        return accounting.dpsgd_event(
            self.noise_multiplier, self.sampling_prob, self.steps
        )

    def event_for(self, steps: int) -> dp_accounting.DpEvent:
        """The DpEvent of the first ``steps`` steps (what was actually spent)."""
        return accounting.dpsgd_event(self.noise_multiplier, self.sampling_prob, steps)

    def epsilon(
        self,
        delta: float,
        *,
        steps: int | None = None,
        accountant: Accountant = "pld",
        extra_events: Sequence[dp_accounting.DpEvent] = (),
    ) -> float:
        """ε after ``steps`` (default: all planned) steps at ``delta``."""
        return accounting.epsilon(
            self.noise_multiplier,
            self.sampling_prob,
            self.steps if steps is None else steps,
            delta,
            accountant=accountant,
            extra_events=extra_events,
        )

    def to_plain(self, *, steps_taken: int | None = None) -> dict[str, Any]:
        """Ledger parameters (msgpack-plain) of this run."""
        return {
            "sampler": "poisson",
            "sampling_prob": self.sampling_prob,
            "realised_sampling_prob": realised_sampling_prob(self.sampling_prob),
            "noise_multiplier": self.noise_multiplier,
            "l2_clip": self.l2_clip,
            "steps": self.steps if steps_taken is None else steps_taken,
            "planned_steps": self.steps,
            "expected_batch_size": self.expected_batch_size,
            "capacity": self.capacity,
            "overflow": "split into extra chunks, never dropped",
            "clipping": "per-example, whole gradient",
            "num_examples": self.num_examples,
        }


def make_plan(
    num_examples: int,
    batch_size: int,
    *,
    l2_clip: float,
    steps: int | None = None,
    epochs: float | None = None,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float | None = None,
    accountant: Accountant = "pld",
    extra_events: Sequence[dp_accounting.DpEvent] = (),
    num_devices: int = 1,
    num_std: float = 5.0,
) -> DPPlan:
    """Build a plan from the user's figures.

    Args:
        num_examples: N (public, or a DP estimate).
        batch_size: expected batch size B; q = B / N.
        l2_clip: C.
        steps: number of steps, or
        epochs: passes over the data; ``steps = int(epochs / q)``.
        noise_multiplier: σ, or
        target_epsilon: the ε to calibrate σ for (needs ``delta``);
            ``extra_events`` are composed jointly and count against it.
        delta: δ for calibration.
        accountant: ``"pld"`` (default) or ``"rdp"``.
        extra_events: other mechanisms of the same ledger phase.
        num_devices: devices to shard over (capacity is rounded to it).
        num_std: capacity headroom in standard deviations of the batch size.

    Returns:
        A :class:`DPPlan`.
    """
    positive_int(num_examples=num_examples, batch_size=batch_size)
    if batch_size > num_examples:
        raise ConfigError(
            f"batch_size={batch_size} is larger than the table ({num_examples} rows)."
        )
    q = batch_size / num_examples
    if (steps is None) == (epochs is None):
        raise ConfigError("Give exactly one of steps or epochs.")
    if steps is None:
        positive(epochs=epochs)  # type: ignore[arg-type]
        steps = int(epochs / q)  # type: ignore[operator]
    positive_int(steps=steps)
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ConfigError("Give exactly one of noise_multiplier or target_epsilon.")
    if noise_multiplier is None:
        if delta is None:
            raise ConfigError("Calibrating for target_epsilon needs a delta.")
        probability(delta=delta)
        noise_multiplier = accounting.calibrate_noise_multiplier(
            target_epsilon,
            delta,
            q,
            steps,  # type: ignore[arg-type]
            accountant=accountant,
            extra_events=extra_events,
        )
    capacity = batch_capacity(num_examples, q, num_devices=num_devices, num_std=num_std)
    return DPPlan(
        num_examples=num_examples,
        sampling_prob=q,
        noise_multiplier=float(noise_multiplier),
        l2_clip=float(l2_clip),
        steps=steps,
        capacity=capacity,
        num_devices=num_devices,
    )


@dataclasses.dataclass(frozen=True)
class BudgetTracker:
    """Stops training at the last step whose ε stays within the target.

    ``max_steps`` is computed once from public parameters, so checking it
    before each step costs nothing and reveals nothing.

    Attributes:
        target_epsilon: the budget.
        delta: δ it is measured at.
        max_steps: the most steps allowed (≤ the plan's steps).
        accountant: the accountant used.
    """

    target_epsilon: float
    delta: float
    max_steps: int
    accountant: str

    def allows_step(self, steps_done: int) -> bool:
        """True if taking one more step after ``steps_done`` stays within ε."""
        return steps_done + 1 <= self.max_steps

    def would_exceed(self, steps_done: int) -> bool:
        """True if one more step after ``steps_done`` would exceed the target ε."""
        return not self.allows_step(steps_done)


def budget_tracker(
    plan: DPPlan,
    target_epsilon: float,
    delta: float,
    *,
    accountant: Accountant = "pld",
    extra_events: Sequence[dp_accounting.DpEvent] = (),
) -> BudgetTracker:
    """A :class:`BudgetTracker` for ``plan`` (at most ``plan.steps`` steps).

    Privacy:
        Data-independent: the stopping step depends on (q, σ, δ, target ε,
        extra events) only.
    """
    positive(target_epsilon=target_epsilon)
    probability(delta=delta)
    max_steps = accounting.max_steps_within(
        target_epsilon,
        delta,
        plan.noise_multiplier,
        plan.sampling_prob,
        max_steps=plan.steps,
        accountant=accountant,
        extra_events=extra_events,
    )
    return BudgetTracker(float(target_epsilon), float(delta), max_steps, accountant)
