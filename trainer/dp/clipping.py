"""Per-example clipping: the general reference path (``vmap(grad)``).

For any per-example loss ``loss(params, example, rng) -> scalar`` this computes
every example's gradient with ``jax.vmap(jax.grad(loss))``, clips each one as
a whole (all parameter leaves together) to L2 norm C, masks out padding and
sums. It works for any model, and it is the yardstick the fast paths (e.g.
:mod:`trainer.dp.dense`) are tested against; it is slow on CPU because it
writes B full copies of the gradient.

Example::

    def loss(params, example, rng):
        del rng  # this model has no randomness
        return 0.5 * jnp.sum((example["x"] @ params["w"] - example["y"]) ** 2)

    out = clipped_grad_sum(loss, params, batch, mask, key, l2_clip=1.0)
    out.grad_sum  # pytree like params, float32; out.norms has shape (B,)

Every function that clips shares the signature of :data:`ClippedSumFn`
``(params, batch, mask, key, l2_clip) -> ClippedSum``, so the step builder
takes either path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

__all__ = (
    "ClippedSum",
    "ClippedSumFn",
    "clip_factors",
    "clipped_grad_sum",
    "vmap_clipper",
)

Params = Any
Batch = Any
ExampleLoss = Callable[[Params, Any, jax.Array], jax.Array]


class ClippedSum(NamedTuple):
    """Result of a clipping pass.

    Attributes:
        grad_sum: pytree like ``params`` (float32): Σ over real examples of
            each example's gradient scaled by ``min(1, C / norm)``.
        norms: ``(B,)`` float32 unclipped per-example gradient norms.

    .. warning::
        ``norms`` are per-example functions of private rows, not DP. Use them
        in tests only; never log, print or store them.
    """

    grad_sum: Params
    norms: jax.Array


class ClippedSumFn(Protocol):
    """``(params, batch, mask, key, l2_clip) -> ClippedSum``."""

    def __call__(
        self,
        params: Params,
        batch: Batch,
        mask: jax.Array,
        key: jax.Array,
        l2_clip: float,
    ) -> ClippedSum: ...


def clip_factors(norms: jax.Array, mask: jax.Array, l2_clip: float) -> jax.Array:
    """Per-example scale ``min(1, C / norm)``; 0 for padding and non-finite norms.

    The form ``where(norm > C, C / norm, 1)`` is safe at norm 0 and at
    C = ∞. An example whose gradient is NaN or infinite gets factor 0: left
    in, it would turn the whole noised sum into NaN, which both breaks
    training and tells an observer that such a row was sampled.

    Privacy:
        Guarantees ``factor · norm ≤ C`` (up to float rounding, well within
        C·(1 + 1e-6)), the sensitivity bound the Gaussian noise is scaled to.
    """
    norms = norms.astype(jnp.float32)
    keep = jnp.logical_and(mask, jnp.isfinite(norms))
    scale = jnp.where(norms > l2_clip, l2_clip / norms, 1.0)
    return jnp.where(keep, scale, 0.0).astype(jnp.float32)


def _scaled_sum(per_example: jax.Array, factors: jax.Array) -> jax.Array:
    # where() rather than a product alone: 0 * NaN would still be NaN.
    shape = (-1,) + (1,) * (per_example.ndim - 1)
    f = factors.reshape(shape)
    scaled = jnp.where(f > 0, per_example.astype(jnp.float32) * f, 0.0)
    return jnp.sum(scaled, axis=0)


def clipped_grad_sum(
    loss: ExampleLoss,
    params: Params,
    batch: Batch,
    mask: jax.Array,
    key: jax.Array,
    l2_clip: float,
) -> ClippedSum:
    """Sum of per-example gradients, each clipped as a whole to norm ``l2_clip``.

    Args:
        loss: ``loss(params, example, rng) -> scalar``; ``example`` is one row
            of ``batch`` (leading axis removed), ``rng`` a key of its own.
        params: the parameter pytree.
        batch: pytree of arrays with a leading batch axis B.
        mask: ``(B,)`` bool; False rows (padding) contribute exactly 0.
        key: split into one key per example (the model's own randomness,
            e.g. dropout; unrelated to the DP noise).
        l2_clip: C.

    Returns:
        :class:`ClippedSum` with the float32 clipped sum and the norms.

    Privacy:
        Adding or removing one example changes ``grad_sum`` by a vector of
        norm ≤ C (the global norm over all leaves is clipped, not each leaf),
        so N(0, σ²C²) noise on the sum gives the Gaussian mechanism with
        noise multiplier σ under add/remove-one.
    """
    size = mask.shape[0]
    keys = jax.random.split(key, size)
    grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, batch, keys)
    squares = [
        jnp.sum(jnp.square(g.astype(jnp.float32)).reshape(size, -1), axis=1)
        for g in jax.tree.leaves(grads)
    ]
    norms = jnp.sqrt(functools.reduce(jnp.add, squares))
    factors = clip_factors(norms, mask, l2_clip)
    grad_sum = jax.tree.map(lambda g: _scaled_sum(g, factors), grads)
    return ClippedSum(grad_sum, norms)


def vmap_clipper(loss: ExampleLoss) -> ClippedSumFn:
    """Bind ``loss`` into a :data:`ClippedSumFn` using the reference path."""
    return functools.partial(clipped_grad_sum, loss)
