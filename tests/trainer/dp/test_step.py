"""The full DP step: equivalences, overflow, noise-only steps, devices, plans."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from provisioner.errors import ConfigError
from tests.conftest import ROOT
from tests.trainer.dp import multidevice_worker
from tests.trainer.dp.conftest import BATCH, MASKS, make_batch
from trainer.dp.accounting import epsilon
from trainer.dp.aggregate import os_random_key
from trainer.dp.clipping import vmap_clipper
from trainer.dp.dense import dense_clipper
from trainer.dp.plan import DPExecutionPlan, PoissonBatches, budget_tracker, make_plan
from trainer.dp.sampling import gather, sample_chunks, split_into_chunks
from trainer.dp.step import DpSgdStep, PlainStep, batch_mesh, masked_mean_loss

ONE_DEVICE = batch_mesh(jax.local_devices()[:1])


def flat(tree) -> np.ndarray:
    return np.concatenate(
        [np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)]
    )


@pytest.fixture(scope="module")
def dense_clip(mlp):
    return dense_clipper(mlp[0], MASKS)


def test_no_noise_huge_clip_is_plain_sgd(mlp, params):
    _, example_loss = mlp
    batch = make_batch(30, spread=False)
    mask = np.ones(BATCH, bool)
    lr = 0.1
    dp = DpSgdStep(
        vmap_clipper(example_loss),
        optax.sgd(lr),
        l2_clip=1e30,
        noise_multiplier=0.0,
        expected_batch_size=float(BATCH),
        mesh=ONE_DEVICE,
    )
    got, _ = dp(params, dp.init(params), [(batch, mask)], os_random_key())
    plain = PlainStep(masked_mean_loss(example_loss), optax.sgd(lr), mesh=ONE_DEVICE)
    want, _ = plain(params, plain.init(params), batch, mask, os_random_key())
    np.testing.assert_allclose(flat(got), flat(want), rtol=1e-5, atol=1e-6)
    # And by hand: p − lr · Σ g_i / E with E the *expected* batch size.
    grads = jax.grad(
        lambda p: jnp.sum(
            jax.vmap(example_loss, (None, 0, None))(p, batch, jax.random.key(0))
        )
    )(params)
    by_hand = jax.tree.map(lambda p, g: p - lr * g / BATCH, params, grads)
    np.testing.assert_allclose(flat(got), flat(by_hand), rtol=1e-5, atol=1e-6)


def test_divides_by_expected_not_physical_batch(dense_clip, params):
    batch = make_batch(31)
    mask = np.arange(BATCH) < 5  # 5 real rows in a chunk of 16
    outs = []
    for expected in (4.0, 8.0):
        dp = DpSgdStep(
            dense_clip,
            optax.sgd(1.0),
            l2_clip=1.0,
            noise_multiplier=0.0,
            expected_batch_size=expected,
            mesh=ONE_DEVICE,
        )
        new, _ = dp(params, dp.init(params), [(batch, mask)], os_random_key())
        outs.append(flat(new) - flat(params))
    np.testing.assert_allclose(outs[0], 2.0 * outs[1], rtol=1e-5, atol=1e-7)


def test_overflow_chunks_equal_one_big_chunk(dense_clip, params):
    data = make_batch(32, size=40)
    rng = np.random.default_rng(5)
    small = sample_chunks(40, 0.6, capacity=4, rng=rng)  # ~24 rows -> ~6 chunks
    assert len(small) >= 3
    indices = np.concatenate([c.indices[c.mask] for c in small])
    (big,) = split_into_chunks(indices, capacity=40)
    step = DpSgdStep(
        dense_clip,
        optax.sgd(1.0),
        l2_clip=0.7,
        noise_multiplier=1.0,
        expected_batch_size=24.0,
        mesh=ONE_DEVICE,
    )
    key = jax.random.key(9)  # fixed so both paths see the same noise
    parts = [
        step.clipped_sum(params, gather(data, c), c.mask, key).grad_sum for c in small
    ]
    total = jax.tree.map(lambda *xs: sum(xs), *parts)
    whole = step.clipped_sum(params, gather(data, big), big.mask, key).grad_sum
    np.testing.assert_allclose(flat(total), flat(whole), rtol=1e-5, atol=1e-6)
    # The chunked step adds ONE noise draw: it equals the single-chunk step.
    opt_state = step.init(params)
    a, _ = step(params, opt_state, [(gather(data, c), c.mask) for c in small], key)
    b, _ = step(params, opt_state, [(gather(data, big), big.mask)], key)
    np.testing.assert_allclose(flat(a), flat(b), rtol=1e-5, atol=1e-6)


def test_empty_draw_is_a_noise_only_step(dense_clip, params):
    # Zero gradient in, so params move by exactly −lr·noise/E; over 40 steps
    # (fresh OS keys) that is 40·|params| draws of N(0, (σC/E)²).
    sigma, clip, expected, lr = 1.2, 0.5, 10.0, 1.0
    step = DpSgdStep(
        dense_clip,
        optax.sgd(lr),
        l2_clip=clip,
        noise_multiplier=sigma,
        expected_batch_size=expected,
        mesh=ONE_DEVICE,
    )
    (chunk,) = split_into_chunks(np.array([], dtype=np.int64), capacity=BATCH)
    batch = make_batch(33)
    opt_state = step.init(params)
    deltas = []
    for _ in range(40):
        new, _ = step(params, opt_state, [(batch, chunk.mask)], os_random_key())
        deltas.append(flat(new) - flat(params))
    deltas = np.stack(deltas)
    std = lr * sigma * clip / expected
    n = deltas.size
    stat = float(np.sum((deltas / std) ** 2))
    # Chi-square check, two-sided false-failure rate 1e-6 (OS keys: not seeded).
    assert stats.chi2.ppf(5e-7, n) < stat < stats.chi2.isf(5e-7, n)
    # Steps draw independent noise (distinct keys): no two steps coincide.
    assert np.linalg.matrix_rank(deltas) == len(deltas)


def test_compiles_once_for_many_draws(dense_clip, params):
    data = make_batch(34, size=200)
    step = DpSgdStep(
        dense_clip,
        optax.adam(1e-2),
        l2_clip=1.0,
        noise_multiplier=1.0,
        expected_batch_size=8.0,
        mesh=ONE_DEVICE,
    )
    opt_state = step.init(params)
    p = params
    for _ in range(4):
        (chunk,) = sample_chunks(
            200, 0.04, capacity=BATCH, rng=np.random.default_rng(0)
        )
        p, opt_state = step(
            p, opt_state, [(gather(data, chunk), chunk.mask)], os_random_key()
        )
    assert step._main._jitted._cache_size() == 1
    seconds = step.compile(p, opt_state, gather(data, chunk), chunk.mask)
    assert seconds > 0 and step.executable is not None
    step(p, opt_state, [(gather(data, chunk), chunk.mask)], os_random_key())


def test_step_input_errors(dense_clip, params):
    step = DpSgdStep(
        dense_clip,
        optax.sgd(1.0),
        l2_clip=1.0,
        noise_multiplier=1.0,
        expected_batch_size=8.0,
        mesh=ONE_DEVICE,
    )
    with pytest.raises(ConfigError, match="at least one chunk"):
        step(params, step.init(params), [], os_random_key())
    batch = make_batch(0)
    with pytest.raises(ConfigError, match="leading axis"):
        step(
            params,
            step.init(params),
            [(batch, np.ones(BATCH - 1, bool))],
            os_random_key(),
        )


def test_one_and_four_devices_agree(tmp_path):
    out = tmp_path / "four.npz"
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.trainer.dp.multidevice_worker", str(out), "4"],
        cwd=ROOT,
        env=env,
    )
    try:
        one = multidevice_worker.run(1)  # meanwhile, here, on one device
        assert worker.wait(timeout=300) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    four = dict(np.load(out))
    assert set(one) == set(four)
    assert four["norm_shards"] == 4 and one["norm_shards"] == 1  # really sharded
    for name in one:
        if not name.endswith("norm_shards"):
            np.testing.assert_allclose(
                four[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name
            )


# --- plans and the budget tracker ---------------------------------------------


def test_make_plan_calibrates_and_binds_everything():
    plan = make_plan(
        32561,
        256,
        l2_clip=1.0,
        epochs=10,
        target_epsilon=1.0,
        delta=1e-5,
        num_devices=4,
    )
    assert plan.steps == 1271
    assert plan.noise_multiplier == pytest.approx(1.292, rel=0.01)
    assert plan.epsilon(1e-5) <= 1.0
    assert plan.expected_batch_size == pytest.approx(256.0)
    assert plan.capacity % 4 == 0 and plan.capacity >= 256 + 5 * 15
    assert plan.to_plain()["sampler"] == "poisson"
    tracker = budget_tracker(plan, 1.0, 1e-5)
    assert tracker.max_steps == plan.steps  # calibrated for exactly the plan


def test_budget_tracker_stops_at_the_last_step_within_target():
    plan = DPExecutionPlan(
        PoissonBatches(num_examples=32561, sampling_prob=256 / 32561, capacity=336),
        noise_multiplier=2.0,
        l2_clip=1.0,
        steps=6359,
    )
    tracker = budget_tracker(plan, 1.0, 1e-5)
    n = tracker.max_steps
    assert 0 < n < plan.steps
    assert plan.epsilon(1e-5, steps=n) <= 1.0 < plan.epsilon(1e-5, steps=n + 1)
    assert tracker.allows_step(n - 1) and not tracker.allows_step(n)
    assert tracker.would_exceed(n)
    taken = 0
    while tracker.allows_step(taken):
        taken += 1
    assert taken == n
    assert epsilon(2.0, plan.sampling_prob, taken, 1e-5) <= 1.0


def test_plan_validation():
    with pytest.raises(ConfigError):
        make_plan(100, 200, l2_clip=1.0, steps=10, noise_multiplier=1.0)
    with pytest.raises(ConfigError):
        make_plan(100, 10, l2_clip=1.0, noise_multiplier=1.0)  # no steps/epochs
    with pytest.raises(ConfigError):
        make_plan(100, 10, l2_clip=1.0, steps=10)  # neither σ nor target
    with pytest.raises(ConfigError):
        make_plan(100, 10, l2_clip=1.0, steps=10, target_epsilon=1.0)  # no δ
    with pytest.raises(ConfigError):
        PoissonBatches(
            num_examples=100,
            sampling_prob=0.1,
            capacity=10,
            num_devices=4,
        )
