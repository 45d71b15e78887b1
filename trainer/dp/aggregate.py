"""Gaussian noise on the clipped sum, as an optax transformation.

``dp_aggregate`` turns the *clipped gradient sum* of a step into the noisy
average gradient that any optax optimizer can consume::

    tx = optax.chain(
        dp_aggregate(l2_clip=1.0, noise_multiplier=1.1, expected_batch_size=256.0),
        optax.adam(schedule),
    )
    updates, state = tx.update(clipped_sum, state, params, noise_key=key)

It must come first in the chain: it adds N(0, σ²C²) to the raw sum (nothing
may rescale the sum before the noise, or the noise would no longer match the
sensitivity C) and then divides by the *expected* batch size q·N, never by
the number of rows in the padded batch (that count is private under Poisson
sampling, and dividing by it would break the sensitivity analysis).

Keys: the noise key is an explicit argument of every ``update`` (keyword
``noise_key``); there is no default and the state holds no key, so nothing
that checkpoints optimizer state can capture noise randomness. In DP training
each step's key comes from :func:`os_random_key` (64 bits of OS randomness),
is used once, and is never logged or stored.

.. warning::
    Residual risk (floating-point attacks on DP noise): the noise is float32
    Gaussian noise from JAX's Threefry generator keyed by OS randomness; it is
    not hardened against floating-point ("porous output") attacks (no
    snapping, no Holohan–Braghin summation). Those attacks were shown on
    direct releases of noised values; a bundle releases only final weights
    after many nonlinear optimizer steps, which makes them much harder, but
    this is an argument, not a proof.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from provisioner._checks import non_negative, positive
from provisioner.errors import ConfigError

__all__ = (
    "add_gaussian_noise",
    "dp_aggregate",
    "os_random_key",
)


def os_random_key() -> jax.Array:
    """A fresh JAX PRNG key from 64 bits of OS randomness (``os.urandom``).

    Privacy:
        Call once per step for the DP noise; never derive it from a seed,
        never log or store it. Anyone holding it could subtract the noise.
    """
    data = np.frombuffer(os.urandom(8), dtype=np.uint32)
    return jax.random.wrap_key_data(data, impl="threefry2x32")


def add_gaussian_noise(tree: Any, key: jax.Array, stddev: float) -> Any:
    """``tree + N(0, stddev²)`` per coordinate, in float32.

    One draw of ``size(tree)`` standard normals, cut into the leaves (a
    single generator kernel compiles much faster than one per leaf). The
    noise depends only on ``key`` and the leaf shapes, not on how the
    computation is sharded: drawn once for the global sum, identical on
    every device.
    """
    leaves, treedef = jax.tree.flatten(tree)
    sizes = [int(np.prod(jnp.shape(leaf), dtype=np.int64)) for leaf in leaves]
    normal = jax.random.normal(key, (sum(sizes),), jnp.float32)
    noised = []
    offset = 0
    for leaf, size in zip(leaves, sizes):
        z = normal[offset : offset + size].reshape(jnp.shape(leaf))
        noised.append(leaf.astype(jnp.float32) + stddev * z)
        offset += size
    return jax.tree.unflatten(treedef, noised)


def dp_aggregate(
    l2_clip: float,
    noise_multiplier: float,
    *,
    expected_batch_size: float,
) -> optax.GradientTransformationExtraArgs:
    """Noise the clipped sum once and average it by the expected batch size.

    Args:
        l2_clip: C, the per-example clip norm used to form the sum.
        noise_multiplier: σ; the noise std is σ·C per coordinate. 0 turns
            the noise off (non-private; for tests and comparisons).
        expected_batch_size: q·N, the divisor (a float is fine).

    Returns:
        An optax transformation whose ``update(clipped_sum, state, params,
        *, noise_key)`` returns ``(sum + N(0, σ²C²)) / expected_batch_size``
        in float32. ``noise_key`` is required.

    Privacy:
        Gaussian mechanism on a sum of L2 sensitivity C (add/remove-one),
        i.e. noise multiplier σ per step; the division by a public constant
        and all later optimizer steps are post-processing.
    """
    positive(l2_clip=l2_clip, expected_batch_size=expected_batch_size)
    non_negative(noise_multiplier=noise_multiplier)
    stddev = float(noise_multiplier) * float(l2_clip)
    scale = 1.0 / float(expected_batch_size)

    def init_fn(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update_fn(
        updates: Any,
        state: optax.EmptyState,
        params: Any = None,
        *,
        noise_key: jax.Array | None = None,
        **extra_args: Any,
    ) -> tuple[Any, optax.EmptyState]:
        del params, extra_args
        if noise_key is None:
            raise ConfigError(
                "dp_aggregate needs noise_key=... on every update (a fresh "
                "os_random_key() per step); there is no default key."
            )
        if stddev > 0:
            noised = add_gaussian_noise(updates, noise_key, stddev)
        else:
            noised = jax.tree.map(lambda g: g.astype(jnp.float32), updates)
        return jax.tree.map(lambda g: g * scale, noised), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
