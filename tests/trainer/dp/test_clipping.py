"""Per-example clipping bounds each example's influence by C (both paths)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.trainer.dp.conftest import BATCH, MASKS, make_batch
from trainer.dp.clipping import clip_factors, vmap_clipper
from trainer.dp.dense import dense_clipper

C = 1.0
KEY = jax.random.key(11)  # the model's own randomness (unused); not DP noise


def tree_norm(tree) -> float:
    return float(
        np.sqrt(
            sum(
                np.sum(np.square(np.asarray(x, np.float64)))
                for x in jax.tree.leaves(tree)
            )
        )
    )


def tree_sub(a, b):
    return jax.tree.map(
        lambda x, y: np.asarray(x, np.float64) - np.asarray(y, np.float64), a, b
    )


@pytest.fixture(scope="module")
def clippers(mlp):
    loss_with_taps, example_loss = mlp
    return {
        "vmap": jax.jit(vmap_clipper(example_loss)),
        "bookkeeping": jax.jit(dense_clipper(loss_with_taps, MASKS)),
    }


@pytest.fixture(scope="module")
def huge_batch():
    batch = make_batch(seed=3)
    batch["x"][5] *= 1e6  # one example with an enormous gradient
    batch["y"][5] *= 1e6
    return batch


@pytest.mark.parametrize("path", ["vmap", "bookkeeping"])
def test_huge_example_moves_the_sum_by_at_most_c(clippers, params, huge_batch, path):
    clip = clippers[path]
    with_it = np.ones(BATCH, bool)
    without = with_it.copy()
    without[5] = False
    a = clip(params, huge_batch, with_it, KEY, C)
    b = clip(params, huge_batch, without, KEY, C)
    assert float(a.norms[5]) > 1e6 * C  # it really is huge
    assert tree_norm(tree_sub(a.grad_sum, b.grad_sum)) <= C * (1 + 1e-6)


@pytest.mark.parametrize("path", ["vmap", "bookkeeping"])
def test_each_clipped_example_has_norm_at_most_c(clippers, params, huge_batch, path):
    clip = clippers[path]
    norms = np.asarray(clip(params, huge_batch, np.ones(BATCH, bool), KEY, C).norms)
    assert norms.max() > 100 * C and norms.min() < C / 2  # far above and below C
    for i in range(BATCH):
        only_i = np.zeros(BATCH, bool)
        only_i[i] = True
        got = tree_norm(clip(params, huge_batch, only_i, KEY, C).grad_sum)
        assert got <= C * (1 + 1e-6)
        # Small gradients are left alone, large ones land on C.
        assert got == pytest.approx(min(norms[i], C), rel=1e-5)


@pytest.mark.parametrize("path", ["vmap", "bookkeeping"])
def test_padding_contributes_nothing(clippers, params, path):
    clip = clippers[path]
    batch = make_batch(seed=4)
    mask = np.arange(BATCH) < 10
    garbage = jax.tree.map(np.copy, batch)
    garbage["x"][10:] = 1e9  # whatever sits in padding slots must not matter
    a = clip(params, batch, mask, KEY, C)
    b = clip(params, garbage, mask, KEY, C)
    assert tree_norm(tree_sub(a.grad_sum, b.grad_sum)) == 0.0


@pytest.mark.parametrize("path", ["vmap", "bookkeeping"])
def test_non_finite_example_contributes_nothing(clippers, params, path):
    clip = clippers[path]
    batch = make_batch(seed=5)
    poisoned = jax.tree.map(np.copy, batch)
    poisoned["x"][2] = np.nan
    mask = np.ones(BATCH, bool)
    without = mask.copy()
    without[2] = False
    a = clip(params, poisoned, mask, KEY, C)
    b = clip(params, batch, without, KEY, C)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(a.grad_sum))
    assert tree_norm(tree_sub(a.grad_sum, b.grad_sum)) <= 1e-6 * tree_norm(b.grad_sum)


def test_huge_clip_norm_gives_the_plain_gradient_sum(clippers, params, mlp):
    _, example_loss = mlp
    batch = make_batch(seed=6)
    mask = np.arange(BATCH) % 3 != 0
    got = clippers["vmap"](params, batch, mask, KEY, 1e30).grad_sum

    def summed(p):
        losses = jax.vmap(example_loss, in_axes=(None, 0, None))(p, batch, KEY)
        return jnp.sum(jnp.where(mask, losses, 0.0))

    want = jax.grad(summed)(params)
    assert tree_norm(tree_sub(got, want)) <= 1e-5 * tree_norm(want)


def test_clip_factors():
    norms = jnp.array([0.0, 0.5, 1.0, 4.0, jnp.inf, jnp.nan, 2.0])
    mask = jnp.array([True, True, True, True, True, True, False])
    f = np.asarray(clip_factors(norms, mask, 1.0))
    np.testing.assert_allclose(f, [1.0, 1.0, 1.0, 0.25, 0.0, 0.0, 0.0])
    f_inf = np.asarray(clip_factors(norms, mask, float("inf")))
    np.testing.assert_allclose(f_inf, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


def test_clipping_is_jointly_over_all_leaves(params, clippers):
    # Per-leaf clipping would let each leaf reach C: the joint norm is what is
    # bounded. A batch of one large example must come out with norm C, and
    # every leaf scaled by the same factor.
    batch = make_batch(seed=8)
    only = np.zeros(BATCH, bool)
    only[0] = True
    batch["x"][0] *= 1e3
    batch["y"][0] *= 1e3
    big = clippers["vmap"](params, batch, only, KEY, 1e30).grad_sum
    small = clippers["vmap"](params, batch, only, KEY, C).grad_sum
    ratios = np.concatenate(
        [
            np.asarray(s)[np.asarray(b) != 0] / np.asarray(b)[np.asarray(b) != 0]
            for s, b in zip(jax.tree.leaves(small), jax.tree.leaves(big))
        ]
    )
    assert ratios.size > 50
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-4)
    assert ratios[0] < 1e-2  # it was clipped hard
    assert tree_norm(small) == pytest.approx(C, rel=1e-5)
