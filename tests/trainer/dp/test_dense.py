"""The dense fast path computes the same clipped sum as vmap(grad)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from provisioner.errors import ConfigError
from tests.trainer.dp.conftest import BATCH, MASKS, init_params, make_batch, make_mlp
from trainer.dp.clipping import vmap_clipper
from trainer.dp.dense import dense_clipped_grad_sum, dense_clipper

KEY = jax.random.key(0)  # model randomness only (unused by these models)


def rel_err(got, want) -> float:
    num = sum(
        np.sum((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want))
    )
    den = sum(np.sum(np.asarray(b, np.float64) ** 2) for b in jax.tree.leaves(want))
    return float(np.sqrt(num / den))


def compare(loss_with_taps, example_loss, masks, params, batch, mask, l2_clip):
    ref = jax.jit(vmap_clipper(example_loss), static_argnums=4)(
        params, batch, mask, KEY, l2_clip
    )
    for method in ("bookkeeping", "ghost"):
        fast = jax.jit(
            dense_clipper(loss_with_taps, masks, method=method), static_argnums=4
        )(params, batch, mask, KEY, l2_clip)
        assert jax.tree.structure(fast.grad_sum) == jax.tree.structure(ref.grad_sum)
        assert rel_err(fast.grad_sum, ref.grad_sum) < 1e-5, method
        np.testing.assert_allclose(fast.norms, ref.norms, rtol=1e-5)
    return ref


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_equals_vmap_on_masked_mlp(seed):
    masks = MASKS
    loss_with_taps, example_loss = make_mlp(masks)
    params = init_params(seed)
    batch = make_batch(seed + 10)  # row scales 1e-3 .. 1e3
    mask = np.ones(BATCH, bool)
    mask[seed::5] = False
    ref = jax.jit(vmap_clipper(example_loss), static_argnums=4)(
        params, batch, mask, KEY, 1.0
    )
    norms = np.asarray(ref.norms)[mask]
    l2_clip = float(np.median(norms))
    assert norms.max() > 100 * l2_clip and norms.min() < l2_clip / 5  # both regimes
    compare(loss_with_taps, example_loss, masks, params, batch, mask, l2_clip)


def test_fast_path_equals_vmap_without_masks():
    loss_with_taps, example_loss = make_mlp(None)
    params = init_params(3)
    batch = make_batch(13)
    compare(
        loss_with_taps, example_loss, None, params, batch, np.ones(BATCH, bool), 2.0
    )


def reference_mlp():
    """The benchmark's reference MLP: 120 -> 256 -> 256 -> 120, softmax CE."""
    sizes = [("h1", 120, 256), ("h2", 256, 256), ("out", 256, 120)]
    rng = np.random.default_rng(0)
    params = {
        n: {
            "w": jnp.asarray(rng.normal(0, 1 / np.sqrt(i), (i, o)), jnp.float32),
            "b": jnp.zeros((o,), jnp.float32),
        }
        for n, i, o in sizes
    }

    def loss_with_taps(p, batch, taps):
        h, acts = batch["x"], {}
        for k, (name, _, _) in enumerate(sizes):
            acts[name] = h
            z = h @ p[name]["w"] + p[name]["b"] + taps[name]
            h = jax.nn.relu(z) if k < 2 else z
        logp = jax.nn.log_softmax(h)
        return -jnp.take_along_axis(logp, batch["y"][:, None], axis=1)[:, 0], acts

    def example_loss(p, example, rng):
        del rng
        b = jax.tree.map(lambda v: v[None], example)
        taps = {n: jnp.zeros((1, o)) for n, _, o in sizes}
        return loss_with_taps(p, b, taps)[0][0]

    return params, loss_with_taps, example_loss


def test_fast_path_equals_vmap_on_reference_mlp():
    params, loss_with_taps, example_loss = reference_mlp()
    rng = np.random.default_rng(1)
    size = 8
    x = rng.normal(size=(size, 120)).astype(np.float32)
    x *= np.logspace(-2, 2, size, dtype=np.float32)[:, None]
    batch = {"x": x, "y": rng.integers(0, 120, size).astype(np.int32)}
    mask = np.ones(size, bool)
    mask[3] = False
    l2_clip = 20.0
    ref = compare(loss_with_taps, example_loss, None, params, batch, mask, l2_clip)
    norms = np.asarray(ref.norms)
    assert norms.max() > 50 * l2_clip and norms.min() < l2_clip / 10


def test_protocol_errors(params):
    loss_with_taps, _ = make_mlp(MASKS)
    batch = make_batch(0)
    mask = np.ones(BATCH, bool)
    bad = dict(params, extra={"w": params["l1"]["w"], "scale": jnp.ones(())})
    with pytest.raises(ConfigError, match="extra"):
        dense_clipped_grad_sum(loss_with_taps, MASKS, bad, batch, mask, KEY, 1.0)
    with pytest.raises(ConfigError, match="unknown layers"):
        dense_clipped_grad_sum(
            loss_with_taps, {"nope": None}, params, batch, mask, KEY, 1.0
        )
    wrong = {"l1": np.ones((3, 3), np.float32)}
    with pytest.raises(ConfigError, match="mask of 'l1'"):
        dense_clipped_grad_sum(loss_with_taps, wrong, params, batch, mask, KEY, 1.0)
    with pytest.raises(ConfigError, match="method"):
        dense_clipped_grad_sum(
            loss_with_taps, MASKS, params, batch, mask, KEY, 1.0, method="fast"
        )  # type: ignore[arg-type]
