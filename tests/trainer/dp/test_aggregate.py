"""dp_aggregate: noise N(0, σ²C²) once on the raw sum, then / expected batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from provisioner.errors import ConfigError
from trainer.dp.aggregate import dp_aggregate, os_random_key

# Two-sided false-failure rate of each statistical check in this file.
ALPHA = 1e-6


def chi2_std_ok(samples: np.ndarray, std: float) -> bool:
    """Sample variance of zero-mean normals consistent with ``std``² (chi-square)."""
    n = samples.size
    stat = float(np.sum((samples.astype(np.float64) / std) ** 2))
    return stats.chi2.ppf(ALPHA / 2, n) < stat < stats.chi2.isf(ALPHA / 2, n)


def zeros_tree():
    return {
        "a": jnp.zeros((400, 250)),
        "b": {"c": jnp.zeros((30,)), "d": jnp.zeros((7, 7, 7))},
    }


@pytest.mark.parametrize("sigma,clip", [(1.0, 1.0), (0.7, 3.0)])
def test_noise_std_is_sigma_times_clip(sigma, clip):
    expected = 64.0
    tx = dp_aggregate(clip, sigma, expected_batch_size=expected)
    out, _ = tx.update(zeros_tree(), tx.init(None), noise_key=jax.random.key(42))
    noise = np.concatenate([np.ravel(x) for x in jax.tree.leaves(out)]) * expected
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(out))
    assert chi2_std_ok(noise, sigma * clip)
    # Negative controls: the same check rejects a noise std off by 5%.
    assert not chi2_std_ok(noise, 1.05 * sigma * clip)
    assert not chi2_std_ok(noise, 0.95 * sigma * clip)
    # Mean zero: |mean| < z·σC/√n.
    z = stats.norm.isf(ALPHA / 2)
    assert abs(noise.mean()) < z * sigma * clip / np.sqrt(noise.size)
    # Leaves get distinct noise (not one draw broadcast over leaves).
    assert not np.allclose(np.ravel(out["b"]["c"]), np.ravel(out["a"])[:30])


def test_nothing_rescales_the_sum_before_noise():
    # With σ = 0 the output is exactly sum / expected; with σ > 0 the
    # difference (out·E − sum) is N(0, σ²C²) whatever the sum's scale, i.e.
    # the noise is added to the raw sum and the division comes after.
    rng = np.random.default_rng(0)
    grad_sum = {"w": jnp.asarray(rng.normal(size=(200, 100)) * 1e3, jnp.float32)}
    expected = 37.5
    quiet = dp_aggregate(2.0, 0.0, expected_batch_size=expected)
    out, _ = quiet.update(grad_sum, quiet.init(None), noise_key=jax.random.key(1))
    np.testing.assert_allclose(
        out["w"], np.asarray(grad_sum["w"]) / expected, rtol=1e-6
    )
    noisy = dp_aggregate(2.0, 1.5, expected_batch_size=expected)
    out, _ = noisy.update(grad_sum, noisy.init(None), noise_key=jax.random.key(2))
    noise = np.asarray(out["w"], np.float64) * expected - np.asarray(
        grad_sum["w"], np.float64
    )
    assert chi2_std_ok(noise, 3.0)


def test_composes_with_optax_optimizers():
    params = {"w": jnp.ones((4,))}
    grad_sum = {"w": jnp.full((4,), 8.0)}
    tx = optax.chain(dp_aggregate(1.0, 0.0, expected_batch_size=4.0), optax.sgd(0.5))
    updates, _ = tx.update(grad_sum, tx.init(params), params, noise_key=os_random_key())
    np.testing.assert_allclose(updates["w"], -0.5 * 2.0)
    adam = optax.chain(
        dp_aggregate(1.0, 1.0, expected_batch_size=4.0),
        optax.adam(optax.linear_schedule(1e-2, 1e-3, 10)),
    )
    state = adam.init(params)
    for _ in range(3):
        updates, state = adam.update(grad_sum, state, params, noise_key=os_random_key())
        params = optax.apply_updates(params, updates)
    assert np.isfinite(params["w"]).all()


def test_same_key_same_noise_new_key_new_noise():
    tx = dp_aggregate(1.0, 1.0, expected_batch_size=1.0)
    a, _ = tx.update(zeros_tree(), tx.init(None), noise_key=jax.random.key(3))
    b, _ = tx.update(zeros_tree(), tx.init(None), noise_key=jax.random.key(3))
    c, _ = tx.update(zeros_tree(), tx.init(None), noise_key=os_random_key())
    np.testing.assert_array_equal(a["a"], b["a"])
    assert not np.allclose(a["a"], c["a"])


def test_no_default_key():
    tx = dp_aggregate(1.0, 1.0, expected_batch_size=10.0)
    with pytest.raises(ConfigError, match="noise_key"):
        tx.update(zeros_tree(), tx.init(None))


def test_os_random_keys_differ():
    keys = {
        tuple(np.asarray(jax.random.key_data(os_random_key())).tolist())
        for _ in range(20)
    }
    assert len(keys) == 20  # 64-bit keys: a repeat has probability ~1e-17


@pytest.mark.parametrize(
    "kwargs",
    [
        {"l2_clip": 0.0, "noise_multiplier": 1.0, "expected_batch_size": 1.0},
        {"l2_clip": float("inf"), "noise_multiplier": 1.0, "expected_batch_size": 1.0},
        {"l2_clip": 1.0, "noise_multiplier": -1.0, "expected_batch_size": 1.0},
        {"l2_clip": 1.0, "noise_multiplier": 1.0, "expected_batch_size": 0.0},
    ],
)
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError):
        dp_aggregate(**kwargs)
