"""Run a few DP-SGD steps on as many devices as JAX sees; save the results.

Used by ``test_step.py::test_one_and_four_devices_agree``: run once in the
test process with one device and once in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``. Same fixed key, same
batch, so the updates must agree to float tolerance (a per-device noise draw
or a per-device normalisation would not).

Usage: ``python -m tests.trainer.dp.multidevice_worker OUT.npz NUM_DEVICES``
"""

from __future__ import annotations

import sys

import jax
import numpy as np
import optax

from tests.trainer.dp.conftest import MASKS, init_params, make_batch, make_mlp
from trainer.dp.clipping import vmap_clipper
from trainer.dp.dense import dense_clipper
from trainer.dp.step import DpSgdStep, batch_mesh

SIZE = 16  # divisible by 4


def run(num_devices: int) -> dict[str, np.ndarray]:
    devices = jax.local_devices()
    assert len(devices) >= num_devices, devices
    mesh = batch_mesh(devices[:num_devices])
    loss_with_taps, example_loss = make_mlp(MASKS)
    batch = make_batch(21, size=SIZE)
    mask = np.arange(SIZE) % 4 != 3
    results: dict[str, np.ndarray] = {}
    # The full step (fast path): two fused steps, then one overflowing step
    # (two chunks, summed before the single noise draw).
    step = DpSgdStep(
        dense_clipper(loss_with_taps, MASKS),
        optax.adam(0.05),
        l2_clip=0.5,
        noise_multiplier=1.3,
        expected_batch_size=12.0,
        mesh=mesh,
    )
    params = init_params(0)
    opt_state = step.init(params)
    for i in range(2):  # fixed test keys: the point is reproducibility
        params, opt_state = step(
            params, opt_state, [(batch, mask)], jax.random.key(100 + i)
        )
    params, opt_state = step(
        params, opt_state, [(batch, mask), (batch, ~mask)], jax.random.key(7)
    )
    for layer, leaves in params.items():
        for leaf, value in leaves.items():
            results[f"step/{layer}/{leaf}"] = np.asarray(value)
    norms = step.clipped_sum(params, batch, mask, jax.random.key(0)).norms
    results["norm_shards"] = np.array(len(norms.sharding.device_set))
    # The reference path's clipped sum, sharded the same way.
    reference = DpSgdStep(
        vmap_clipper(example_loss),
        optax.sgd(1.0),
        l2_clip=0.5,
        noise_multiplier=1.3,
        expected_batch_size=12.0,
        mesh=mesh,
    )
    clipped = reference.clipped_sum(params, batch, mask, jax.random.key(1))
    for layer, leaves in clipped.grad_sum.items():
        for leaf, value in leaves.items():
            results[f"vmap_sum/{layer}/{leaf}"] = np.asarray(value)
    return results


if __name__ == "__main__":
    out, count = sys.argv[1], int(sys.argv[2])
    np.savez(out, **run(count))
