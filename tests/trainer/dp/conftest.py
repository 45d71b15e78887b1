"""Shared tiny models for the DP engine tests.

One small masked MLP written in the dense-layer "taps" protocol, with its
per-example loss for the reference ``vmap`` path. Kept tiny so that every
test compiles in well under a second; shapes are fixed so jitted functions
are shared across tests.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

IN, HIDDEN, OUT = 6, 8, 5
BATCH = 16

# l1 masked, l2 unmasked and without bias, l3 masked with bias.
LAYERS = (
    ("l1", IN, HIDDEN, True),
    ("l2", HIDDEN, HIDDEN, False),
    ("l3", HIDDEN, OUT, True),
)


def make_masks(seed: int = 7) -> dict[str, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    return {
        "l1": (rng.random((IN, HIDDEN)) < 0.6).astype(np.float32),
        "l2": None,
        "l3": (rng.random((HIDDEN, OUT)) < 0.7).astype(np.float32),
    }


MASKS = make_masks()


def init_params(seed: int = 0, layers=LAYERS) -> dict[str, dict[str, jax.Array]]:
    rng = np.random.default_rng(seed)
    params = {}
    for name, n_in, n_out, bias in layers:
        layer = {
            "w": jnp.asarray(
                rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)), jnp.float32
            )
        }
        if bias:
            layer["b"] = jnp.asarray(rng.normal(0, 0.1, (n_out,)), jnp.float32)
        params[name] = layer
    return params


def make_mlp(masks: dict[str, Any] | None, layer_names=("l1", "l2", "l3")):
    """A ReLU MLP with squared-error loss, in the taps protocol.

    ReLU and squared error keep gradients homogeneous in the input scale, so
    scaling a row by 1e3 or 1e-3 gives norms far above or below C.
    """
    masks = masks or {}

    def loss_with_taps(params, batch, taps):
        h = batch["x"]
        acts = {}
        for i, name in enumerate(layer_names):
            acts[name] = h
            layer = params[name]
            w = layer["w"]
            if masks.get(name) is not None:
                w = w * masks[name]
            z = h @ w + taps[name]
            if "b" in layer:
                z = z + layer["b"]
            h = jax.nn.relu(z) if i < len(layer_names) - 1 else z
        loss = 0.5 * jnp.sum((h - batch["y"]) ** 2, axis=1)
        return loss, acts

    def example_loss(params, example, rng):
        del rng
        batch = jax.tree.map(lambda v: v[None], example)
        taps = {
            name: jnp.zeros((1, params[name]["w"].shape[1])) for name in layer_names
        }
        return loss_with_taps(params, batch, taps)[0][0]

    return loss_with_taps, example_loss


def make_batch(
    seed: int, size: int = BATCH, n_in: int = IN, n_out: int = OUT, spread: bool = True
) -> dict[str, np.ndarray]:
    """Random rows; with ``spread`` the row scales span 1e-3 .. 1e3."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(size, n_in)).astype(np.float32)
    y = rng.normal(size=(size, n_out)).astype(np.float32)
    if spread:
        scale = np.logspace(-3, 3, size).astype(np.float32)
        rng.shuffle(scale)
        x *= scale[:, None]
        y *= scale[:, None]
    return {"x": x, "y": y}


@pytest.fixture(scope="session")
def mlp():
    return make_mlp(MASKS)


@pytest.fixture(scope="session")
def params():
    return init_params()
