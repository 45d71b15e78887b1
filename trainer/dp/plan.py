"""The DP execution plan of a DP-SGD run, and the budget tracker.

A :class:`DPExecutionPlan` is frozen and binds, in one object, everything the
guarantee depends on: how batches are selected (Poisson sampling at rate q,
carried in fixed-shape chunks of a given capacity), the clipping bound C,
the noise multiplier σ (noise std σ·C on the clipped sum), the number of
steps and the neighbouring relation. Its :attr:`~DPExecutionPlan.dp_event`
is the event the accountant composes, so the ε reported is the ε of the run
that happens, and :meth:`~DPExecutionPlan.to_plain` is the one place the
DP-SGD parameters are written for the privacy statement::

    plan = make_plan(num_examples=32561, batch_size=256, l2_clip=1.0,
                     epochs=10, target_epsilon=1.0, delta=1e-6)
    plan.noise_multiplier      # calibrated by PLD for 1271 steps
    plan.dp_event              # SelfComposed(PoissonSampled(q, Gaussian(σ)), steps)
    tracker = budget_tracker(plan, target_epsilon=1.0, delta=1e-6)
    tracker.allows_step(steps_done)   # False once one more step would exceed ε

Because the plan is a frozen dataclass, a broken variant is the same plan
with one field replaced, which is how the empirical audit builds its
negative controls (``scripts/audit_dp.py``)::

    dataclasses.replace(plan, clip=False)                        # clipping off
    dataclasses.replace(plan, noise_multiplier=plan.noise_multiplier / 10)
    dataclasses.replace(plan, batch_selection=ShuffledBatches(...))

Such variants have no valid event (``dp_event`` raises), except σ/10 whose
event honestly says what it spends; a run of a variant can still *claim*
the original plan's ε, which is the bug the audit must catch.

Everything here depends only on public parameters (the row count used for q
must itself be public or a DP estimate), so decisions taken from it, such as
stopping, spend no privacy.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from typing import Any, Union

import dp_accounting
import numpy as np

from provisioner._checks import positive, positive_int, probability
from provisioner.errors import ConfigError
from trainer.dp import accounting
from trainer.dp.accounting import NEIGHBORING_RELATION, Accountant

__all__ = (
    "BatchSelection",
    "BudgetTracker",
    "DPExecutionPlan",
    "PoissonBatches",
    "ShuffledBatches",
    "budget_tracker",
    "make_plan",
)


# --- batch selection --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PoissonBatches:
    """Each row joins each step's batch independently with probability q.

    The logical batch (random size, mean q·N) is carried in fixed-shape
    masked chunks of ``capacity`` rows; a draw above capacity is split into
    more chunks, never truncated (see :mod:`trainer.dp.sampling`).

    Attributes:
        num_examples: N, the public (or DP-released) row count that q and
            the normaliser q·N were set from. The sampler draws from the rows
            that exist (:meth:`batches` is told how many), so this count need
            not be exact.
        sampling_prob: q (the sampler realises ``floor(q·2³²)/2³² ≤ q``).
        capacity: rows per fixed-shape chunk (a multiple of ``num_devices``).
        num_devices: devices the batch axis is sharded over.
    """

    num_examples: int
    sampling_prob: float
    capacity: int
    num_devices: int = 1

    name = "poisson"

    def __post_init__(self) -> None:
        positive_int(num_examples=self.num_examples, capacity=self.capacity,
                     num_devices=self.num_devices)
        positive(sampling_prob=self.sampling_prob)
        if self.sampling_prob > 1:
            raise ConfigError(f"Expected 0 < sampling_prob={self.sampling_prob} <= 1.")
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
    def steps_per_epoch(self) -> int:
        return max(1, round(1 / self.sampling_prob))

    def batches(self, num_rows: int,
                rng: np.random.Generator | None = None) -> Iterator[tuple[Any, ...]]:
        """Endless stream of steps' batches over ``num_rows`` rows, as chunks.

        Privacy: leave ``rng`` None in DP training (OS randomness); a seeded
        generator makes the batches known to whoever knows the seed.
        """
        from trainer.dp.sampling import sample_chunks

        while True:
            yield sample_chunks(num_rows, self.sampling_prob, self.capacity, rng=rng)

    def dp_event(self, noise_multiplier: float, steps: int) -> dp_accounting.DpEvent:
        return accounting.dpsgd_event(noise_multiplier, self.sampling_prob, steps)

    def to_plain(self) -> dict[str, Any]:
        return {
            "sampler": self.name,
            "sampling_probability": self.sampling_prob,
            "overflow": "split into extra chunks, never dropped",
        }


@dataclasses.dataclass(frozen=True)
class ShuffledBatches:
    """Fixed-size batches cut from a shuffled order: NOT what the accountant assumes.

    What most data loaders do: each epoch, permute the rows and take
    consecutive batches of exactly ``batch_size`` (the remainder is
    dropped). The batch size no longer varies and every row appears exactly
    once per epoch, so the Poisson amplification argument does not apply;
    with a ``seed`` (data loaders seeded "for reproducibility") the order is
    known to anyone who reads the code. The trainer never uses this: it
    exists so that the audit can show it would be caught.

    Attributes:
        num_examples: N.
        batch_size: B, the rows of every batch.
        seed: seed of the order (None: OS randomness, order kept secret).
        num_devices: devices the batch axis is sharded over.
    """

    num_examples: int
    batch_size: int
    seed: int | None = None
    num_devices: int = 1

    name = "shuffled"

    def __post_init__(self) -> None:
        positive_int(num_examples=self.num_examples, batch_size=self.batch_size,
                     num_devices=self.num_devices)
        if self.batch_size > self.num_examples:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the table "
                f"({self.num_examples} rows)."
            )

    @property
    def sampling_prob(self) -> float:
        return self.batch_size / self.num_examples

    @property
    def expected_batch_size(self) -> float:
        return float(self.batch_size)

    @property
    def capacity(self) -> int:
        return -(-self.batch_size // self.num_devices) * self.num_devices

    @property
    def steps_per_epoch(self) -> int:
        return self.num_examples // self.batch_size

    def order(self, num_rows: int, epoch: int,
              rng: np.random.Generator | None = None) -> np.ndarray:
        """The row order of ``epoch`` (reproducible from the seed when there is one)."""
        if self.seed is not None:
            rng = np.random.default_rng([self.seed, epoch])
        elif rng is None:
            rng = np.random.default_rng(np.frombuffer(os.urandom(16), "<u8"))
        return rng.permutation(num_rows)

    def batches(self, num_rows: int,
                rng: np.random.Generator | None = None) -> Iterator[tuple[Any, ...]]:
        from trainer.dp.sampling import split_into_chunks

        epoch = 0
        while True:
            order = self.order(num_rows, epoch, rng)
            for k in range(num_rows // self.batch_size):
                part = order[k * self.batch_size:(k + 1) * self.batch_size]
                yield split_into_chunks(np.sort(part), self.capacity)
            epoch += 1

    def dp_event(self, noise_multiplier: float, steps: int) -> dp_accounting.DpEvent:
        del noise_multiplier, steps
        raise ConfigError(
            "shuffled fixed-size batches have no add-or-remove-one accounting here "
            "(adding a row shifts every later batch); train with Poisson batches."
        )

    def to_plain(self) -> dict[str, Any]:
        return {"sampler": self.name, "batch_size": self.batch_size, "seed": self.seed}


BatchSelection = Union[PoissonBatches, ShuffledBatches]


# --- the plan ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DPExecutionPlan:
    """Everything one DP-SGD run's guarantee depends on, fixed before it starts.

    Attributes:
        batch_selection: how each step's rows are chosen
            (:class:`PoissonBatches` in training).
        l2_clip: C, the bound on each example's whole gradient; the noise's
            sensitivity.
        noise_multiplier: σ; each step adds N(0, σ²C²) to the clipped sum.
        steps: planned number of steps.
        clip: False turns per-example clipping off (an audit control only:
            the sensitivity is then unbounded and there is no guarantee).
        neighboring_relation: the adjacency the event is computed for.

    Warning:
        Nothing may rescale the clipped sum before the noise is added: the
        step divides the *noised* sum by :attr:`expected_batch_size`.
    """

    batch_selection: BatchSelection
    l2_clip: float
    noise_multiplier: float
    steps: int
    clip: bool = True
    neighboring_relation: str = NEIGHBORING_RELATION

    def __post_init__(self) -> None:
        positive(l2_clip=self.l2_clip, noise_multiplier=self.noise_multiplier)
        if (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                or self.steps < 0):
            raise ConfigError(f"Expected steps={self.steps!r} to be an integer >= 0.")
        if self.neighboring_relation != NEIGHBORING_RELATION:
            raise ConfigError(
                f"neighboring_relation={self.neighboring_relation!r}: only "
                f"{NEIGHBORING_RELATION!r} is accounted."
            )

    # what the step and the sampler read
    @property
    def num_examples(self) -> int:
        return self.batch_selection.num_examples

    @property
    def sampling_prob(self) -> float:
        """q (for shuffled batches: B / N, what a buggy accountant would use)."""
        return self.batch_selection.sampling_prob

    @property
    def capacity(self) -> int:
        return self.batch_selection.capacity

    @property
    def num_devices(self) -> int:
        return self.batch_selection.num_devices

    @property
    def expected_batch_size(self) -> float:
        """The divisor of the noised sum: q·N (a public constant)."""
        return self.batch_selection.expected_batch_size

    @property
    def noise_stddev(self) -> float:
        """σ·C, the standard deviation of the noise on each coordinate of the sum."""
        return self.noise_multiplier * self.l2_clip

    # what the accountant reads
    @property
    def dp_event(self) -> dp_accounting.DpEvent:
        """The DpEvent of all planned steps."""
        return self.event_for(self.steps)

    def event_for(self, steps: int) -> dp_accounting.DpEvent:
        """The DpEvent of the first ``steps`` steps (what was actually spent)."""
        if not self.clip:
            raise ConfigError(
                "a plan without per-example clipping has unbounded sensitivity: "
                "it is not differentially private."
            )
        return self.batch_selection.dp_event(self.noise_multiplier, steps)

    def epsilon(
        self,
        delta: float,
        *,
        steps: int | None = None,
        accountant: Accountant = "pld",
        extra_events: Sequence[dp_accounting.DpEvent] = (),
    ) -> float:
        """ε after ``steps`` (default: all planned) steps at ``delta``."""
        event = self.event_for(self.steps if steps is None else steps)
        extra = list(extra_events)
        if extra:
            event = dp_accounting.ComposedDpEvent(
                extra if isinstance(event, dp_accounting.NoOpDpEvent) else [*extra, event])
        return accounting.event_epsilon(event, delta, accountant=accountant)

    def to_plain(self, *, steps_taken: int | None = None) -> dict[str, Any]:
        """The DP-SGD parameters as the privacy statement records them.

        This is the only place they are written.
        """
        return {
            **self.batch_selection.to_plain(),
            "noise_multiplier": self.noise_multiplier,
            "clip_norm": self.l2_clip,
            "steps": self.steps if steps_taken is None else steps_taken,
            "planned_steps": self.steps,
            "expected_batch_size": self.expected_batch_size,
            "clipping": "per example, whole gradient" if self.clip else "none",
            "normalizer": "expected batch size",
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
) -> DPExecutionPlan:
    """Build a Poisson-sampled plan from the user's figures.

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
        extra_events: other mechanisms of the same accounting phase.
        num_devices: devices to shard over (capacity is rounded to it).
        num_std: capacity headroom in standard deviations of the batch size.

    Returns:
        A :class:`DPExecutionPlan` with :class:`PoissonBatches`.
    """
    from trainer.dp.sampling import batch_capacity

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
            target_epsilon,  # type: ignore[arg-type]
            delta,
            q,
            steps,
            accountant=accountant,
            extra_events=extra_events,
        )
    capacity = batch_capacity(num_examples, q, num_devices=num_devices, num_std=num_std)
    return DPExecutionPlan(
        PoissonBatches(num_examples, q, capacity, num_devices),
        l2_clip=float(l2_clip),
        noise_multiplier=float(noise_multiplier),
        steps=steps,
    )


# --- stopping ------------------------------------------------------------------


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
    plan: DPExecutionPlan,
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
    plan.event_for(0)  # refuses plans without a valid event
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
