"""``fit``: run a DP execution plan on a model, step by step.

The fit knows nothing about tables or bundles: it takes a
:class:`~trainer.dp.plan.DPExecutionPlan` (batch selection, clip, noise,
steps), the training data as a pytree of arrays with one row per example,
initial parameters, a clipper (the model's per-example gradient path) and
an optax optimizer, and returns the trained parameters and the number of
steps actually taken. Everything the guarantee depends on comes from the
plan::

    step = dp_step(plan, dense_clipper(loss, masks), optax.adam(1e-2))
    result = fit(plan, step, data, params, max_steps=tracker.max_steps)
    result.params, result.steps_taken   # steps_taken goes into the statement

Randomness (batch selection, noise keys, the model's initial key) comes from
a :class:`Randomness`: the OS by default, the only choice for DP training.
A seeded one makes the run reproducible and voids the guarantee; it exists
for non-private runs, tests and the empirical audit.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.dp.plan import DPExecutionPlan

__all__ = ("FitResult", "FitStep", "Randomness", "dp_step", "fit", "unclipped")


@dataclasses.dataclass(frozen=True)
class Randomness:
    """Where a run's random draws come from.

    Attributes:
      seed: None (default) for OS randomness, drawn fresh for every use and
        never stored; an integer makes every draw reproducible, which voids
        DP (anyone with the seed knows the batches and the noise).
    """

    seed: int | None = None

    @property
    def secret(self) -> bool:
        return self.seed is None

    def sampler_rng(self, *, dp: bool) -> np.random.Generator | None:
        """The batch sampler's generator: None (os.urandom) in DP runs."""
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        return None if dp else np.random.default_rng(int.from_bytes(os.urandom(8), "little"))

    def init_key(self) -> Any:
        import jax

        from trainer.dp.aggregate import os_random_key

        return os_random_key() if self.seed is None else jax.random.key(self.seed)

    def step_key(self, init_key: Any, step: int) -> Any:
        """The key of step ``step`` (0-based): fresh OS randomness, or derived."""
        import jax

        from trainer.dp.aggregate import os_random_key

        return os_random_key() if self.seed is None else jax.random.fold_in(init_key, step + 1)

    def noise_source(self) -> Any:
        """The metadata releases' noise source."""
        from trainer.releases import NoiseSource

        return NoiseSource(None if self.seed is None else np.random.default_rng(self.seed))


@dataclasses.dataclass(frozen=True)
class FitStep:
    """What :func:`fit` tells its ``on_step`` callback after each step."""

    step: int  # steps taken so far
    max_steps: int
    params: Any
    pairs: list[tuple[Any, Any]]  # this step's (batch, mask) chunks
    elapsed: float


@dataclasses.dataclass(frozen=True)
class FitResult:
    params: Any
    steps_taken: int
    max_steps: int
    compile_seconds: float
    train_seconds: float

    @property
    def stopped_early(self) -> bool:
        return self.steps_taken < self.max_steps


def unclipped(clipper: Any) -> Any:
    """The same clipper with the bound removed (an audit control only)."""

    def clip_nothing(params, batch, mask, key, l2_clip):
        del l2_clip
        return clipper(params, batch, mask, key, math.inf)

    return clip_nothing


def dp_step(plan: DPExecutionPlan, clipper: Any, optimizer: Any) -> Any:
    """The jitted DP-SGD step that carries out ``plan``'s clip and noise."""
    from trainer.dp.step import DpSgdStep

    return DpSgdStep(clipper if plan.clip else unclipped(clipper), optimizer,
                     l2_clip=plan.l2_clip, noise_multiplier=plan.noise_multiplier,
                     expected_batch_size=plan.expected_batch_size)


def fit(
    plan: DPExecutionPlan,
    step: Any,
    data: Any,
    params: Any,
    *,
    max_steps: int | None = None,
    randomness: Randomness = Randomness(),
    init_key: Any = None,
    max_seconds: float | None = None,
    on_step: Callable[[FitStep], None] | None = None,
) -> FitResult:
    """Run ``plan`` with ``step`` on ``data`` starting from ``params``.

    Args:
      plan: batch selection, clip, noise and planned steps.
      step: from :func:`dp_step` (or a ``PlainStep`` for non-private runs,
        which takes one chunk per call).
      data: pytree of arrays, leading axis = the plan's examples.
      params: initial parameters.
      max_steps: stop after this many steps (the budget tracker's answer;
        default: the plan's steps).
      randomness: OS (default) or seeded.
      init_key: the key step keys derive from when seeded.
      max_seconds: no step starts after this long (compilation excluded).
      on_step: called after every step.

    Returns:
      A :class:`FitResult`; ``steps_taken`` is what the privacy statement
      must record.
    """
    from trainer.dp.sampling import gather
    from trainer.dp.step import DpSgdStep

    dp = isinstance(step, DpSgdStep)
    max_steps = plan.steps if max_steps is None else max_steps
    import jax

    num_rows = int(np.shape(jax.tree.leaves(data)[0])[0])
    batches = plan.batch_selection.batches(num_rows, randomness.sampler_rng(dp=dp))
    opt_state = step.init(params)
    first = next(batches)
    started = time.perf_counter()
    compile_seconds = step.compile(params, opt_state, gather(data, first[0]), first[0].mask)
    compile_seconds = max(compile_seconds, time.perf_counter() - started)

    train_start = time.perf_counter()
    deadline = None if max_seconds is None else train_start + max_seconds
    taken = 0
    pending: Any = first
    for t in range(max_steps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        chunks = pending if pending is not None else next(batches)
        pending = None
        pairs = [(gather(data, c), c.mask) for c in chunks]
        key = randomness.step_key(init_key, t)
        if dp:
            params, opt_state = step(params, opt_state, pairs, key)
        else:
            params, opt_state = step(params, opt_state, pairs[0][0], pairs[0][1], key)
        taken = t + 1
        if on_step is not None:
            on_step(FitStep(taken, max_steps, params, pairs, time.perf_counter() - train_start))
    return FitResult(params, taken, max_steps, compile_seconds,
                     time.perf_counter() - train_start)
