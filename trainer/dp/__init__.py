"""Differentially private SGD for JAX models: sampling, clipping, noise, accounting.

One module per concern, data flowing top to bottom:

* :mod:`~trainer.dp.sampling` — Poisson samples (OS randomness) as fixed-shape
  masked chunks; overflow is split, never dropped.
* :mod:`~trainer.dp.clipping` — per-example clipping of the whole gradient,
  general ``vmap(grad)`` reference path.
* :mod:`~trainer.dp.dense` — the same clipped sum for dense-layer models
  without per-example gradients (single-pass "book-keeping" or ghost).
* :mod:`~trainer.dp.aggregate` — noise once on the clipped sum, divide by the
  expected batch size; an optax transformation.
* :mod:`~trainer.dp.step` — the jitted, sharded step (and a non-private twin).
* :mod:`~trainer.dp.accounting` — ε, σ calibration, composition by phase.
* :mod:`~trainer.dp.plan` — the DP execution plan (batch selection, clip,
  noise, steps, neighbouring relation) and the budget tracker.

Names are loaded on first use, so ``hzg budget`` (accounting only) does not
pay for importing JAX and optax.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AccountedMechanism": "trainer.dp.accounting",
    "BudgetTracker": "trainer.dp.plan",
    "Chunk": "trainer.dp.sampling",
    "ClippedSum": "trainer.dp.clipping",
    "DPExecutionPlan": "trainer.dp.plan",
    "DpSgdStep": "trainer.dp.step",
    "PhaseAccountant": "trainer.dp.accounting",
    "PlainStep": "trainer.dp.step",
    "PoissonBatches": "trainer.dp.plan",
    "ShuffledBatches": "trainer.dp.plan",
    "add_gaussian_noise": "trainer.dp.aggregate",
    "batch_capacity": "trainer.dp.sampling",
    "batch_mesh": "trainer.dp.step",
    "budget_tracker": "trainer.dp.plan",
    "calibrate_noise_multiplier": "trainer.dp.accounting",
    "clipped_grad_sum": "trainer.dp.clipping",
    "dense_clipped_grad_sum": "trainer.dp.dense",
    "dense_clipper": "trainer.dp.dense",
    "dp_accounting_version": "trainer.dp.accounting",
    "dp_aggregate": "trainer.dp.aggregate",
    "dpsgd_event": "trainer.dp.accounting",
    "epsilon": "trainer.dp.accounting",
    "event_epsilon": "trainer.dp.accounting",
    "event_from_plain": "trainer.dp.accounting",
    "event_to_plain": "trainer.dp.accounting",
    "gather": "trainer.dp.sampling",
    "gaussian_epsilon": "trainer.dp.accounting",
    "make_plan": "trainer.dp.plan",
    "masked_mean_loss": "trainer.dp.step",
    "max_steps_within": "trainer.dp.accounting",
    "os_random_key": "trainer.dp.aggregate",
    "poisson_indices": "trainer.dp.sampling",
    "realised_sampling_prob": "trainer.dp.sampling",
    "sample_chunks": "trainer.dp.sampling",
    "split_into_chunks": "trainer.dp.sampling",
    "vmap_clipper": "trainer.dp.clipping",
    "zero_taps": "trainer.dp.dense",
}

__all__ = (
    "AccountedMechanism",
    "BudgetTracker",
    "Chunk",
    "ClippedSum",
    "DPExecutionPlan",
    "DpSgdStep",
    "PhaseAccountant",
    "PlainStep",
    "PoissonBatches",
    "ShuffledBatches",
    "add_gaussian_noise",
    "batch_capacity",
    "batch_mesh",
    "budget_tracker",
    "calibrate_noise_multiplier",
    "clipped_grad_sum",
    "dense_clipped_grad_sum",
    "dense_clipper",
    "dp_accounting_version",
    "dp_aggregate",
    "dpsgd_event",
    "epsilon",
    "event_epsilon",
    "event_from_plain",
    "event_to_plain",
    "gather",
    "gaussian_epsilon",
    "make_plan",
    "masked_mean_loss",
    "max_steps_within",
    "os_random_key",
    "poisson_indices",
    "realised_sampling_prob",
    "sample_chunks",
    "split_into_chunks",
    "vmap_clipper",
    "zero_taps",
)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trainer.dp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
