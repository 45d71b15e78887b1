"""The JAX and numpy halves of MADE give the same probabilities."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from provisioner.models.made import MadeConfig, MadeSampler, masks
from trainer.models import made

CONFIGS = [MadeConfig((3, 5, 2, 4), (16, 8), True), MadeConfig((2, 7, 3), (32,), False),
           MadeConfig((4,), (8, 8), True), MadeConfig((3, 3), (), True)]


def trained_like(config: MadeConfig, seed: int):
    """Initial parameters moved at random, as training would (numpy noise: no
    per-shape JAX compilations). Masks are re-applied by to_tensors and the model."""
    params = made.init_params(config, jax.random.key(seed))
    rng = np.random.default_rng(seed + 100)
    return {layer: {name: jnp.asarray(np.asarray(value) + 0.3 * rng.normal(size=value.shape),
                                      jnp.float32)
                    for name, value in values.items()} for layer, values in params.items()}


def random_tokens(config: MadeConfig, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in config.token_counts], axis=1)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_jax_and_numpy_probabilities_match(config):
    params = trained_like(config, 0)
    sampler = MadeSampler(config, made.to_tensors(config, params))
    tokens = random_tokens(config, 200, 1)
    ours = sampler.log_probs(tokens)
    theirs = made.log_probs(config, params, jnp.asarray(tokens))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.exp(a), np.exp(np.asarray(b)), atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_column_only_sees_earlier_columns(config):
    """Changing column j's token never changes the distribution of columns <= j."""
    params = trained_like(config, 2)
    tokens = random_tokens(config, 50, 3)
    base = made.log_probs(config, params, jnp.asarray(tokens))
    for j in range(config.num_columns):
        changed = tokens.copy()
        changed[:, j] = (changed[:, j] + 1) % config.token_counts[j]
        after = made.log_probs(config, params, jnp.asarray(changed))
        for c in range(j + 1):
            np.testing.assert_allclose(np.asarray(base[c]), np.asarray(after[c]), atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_incremental_sampler_follows_the_full_forward_pass(config):
    """Replaying the sampler's uniforms through the full forward pass gives its tokens."""
    sampler = MadeSampler(config, made.to_tensors(config, trained_like(config, 4)))
    n = 3000
    tokens = sampler.sample(n, np.random.default_rng(5))
    replay = np.random.default_rng(5)
    uniforms = [replay.random(n, dtype=np.float32) for _ in range(config.num_columns)]
    probs = [np.exp(lp) for lp in sampler.log_probs(tokens)]
    for c, (p, u) in enumerate(zip(probs, uniforms)):
        expected = np.minimum((np.cumsum(p, axis=1) < u[:, None]).sum(axis=1), p.shape[1] - 1)
        # float32 rounding may move a handful of rows sitting on a boundary
        assert np.mean(expected == tokens[:, c]) > 0.998


def test_trainer_masks_are_the_provisioners():
    config = CONFIGS[0]
    by_layer = made.layer_masks(config)
    by_tensor = masks(config)
    assert np.array_equal(by_layer["hidden_0"], by_tensor["hidden.0.w"])
    assert np.array_equal(by_layer["direct"], by_tensor["direct.w"])


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_independent_initialisation_draws_each_column_from_its_bias(config):
    """With ``independent``, a column's distribution is the softmax of its
    output bias for every row; the default initialisation's is not."""
    rng = np.random.default_rng(7)
    bias = rng.normal(size=config.vocab_size)
    tokens = jnp.asarray(random_tokens(config, 40, 8))
    offsets = config.offsets
    spread = []
    for independent in (True, False):
        params = made.with_output_bias(
            config, made.init_params(config, jax.random.key(9), independent=independent), bias)
        for c, logp in enumerate(made.log_probs(config, params, tokens)):
            expected = jax.nn.log_softmax(jnp.asarray(bias[offsets[c]:offsets[c + 1]]))
            gap = float(jnp.max(jnp.abs(logp - expected[None, :])))
            if independent:
                assert gap < 1e-5, (c, gap)
            elif c > 0:
                spread.append(gap)
    # the default's random weights do make later columns depend on earlier ones
    assert config.num_columns == 1 or max(spread) > 1e-2
