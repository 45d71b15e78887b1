"""MADE over column tokens, JAX half (twin of ``provisioner/models/made.py``).

The architecture, degrees and masks are the provisioner's (imported from
there, so the two halves cannot drift); this module adds what training
needs: initialisation, the per-example loss, and the "taps" form of the
forward pass that the fast DP clipping path (``trainer.dp.dense``) uses.

Every parameter belongs to a dense layer ``a @ (w * mask) + b``:

    hidden_i  one-hot input (or the previous hidden layer) -> hidden[i], ReLU
    out       last hidden layer (or the input) -> V logits, with bias
    direct    one-hot input -> V logits, no bias (only when config.direct)

The loss of a row is the sum over columns of the cross-entropy of that
column's token under the softmax of its slice of the logits.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from provisioner.models.made import MadeConfig, masks as provisioner_masks

Params = dict[str, dict[str, jax.Array]]


def layer_names(config: MadeConfig) -> list[str]:
    names = [f"hidden_{i}" for i in range(len(config.hidden))] + ["out"]
    return names + (["direct"] if config.direct else [])


def tensor_name(layer: str, parameter: str) -> str:
    if layer.startswith("hidden_"):
        return f"hidden.{layer.split('_')[1]}.{parameter}"
    return f"{layer}.{parameter}"


def layer_masks(config: MadeConfig) -> dict[str, np.ndarray]:
    """The provisioner's masks, keyed by JAX layer name."""
    by_tensor = provisioner_masks(config)
    return {layer: by_tensor[tensor_name(layer, "w")] for layer in layer_names(config)}


def init_params(config: MadeConfig, key: jax.Array, *, independent: bool = False) -> Params:
    """He-style initialisation, masked; output biases start at zero (uniform).

    ``independent``: the layers into the logits (``out``, ``direct``) start at
    zero, so every column's distribution is its output bias whatever the
    earlier columns hold: the initial model draws the columns independently,
    and whatever dependence the trained model shows came from the gradients.
    (Random output weights are a random function of the earlier columns, a
    dependence that the few hundred noisy DP-SGD steps must first undo.)
    """
    masks = layer_masks(config)
    params: Params = {}
    # one draw for all layers: a single small compilation instead of one per shape
    total = sum(mask.size for mask in masks.values())
    normal = np.asarray(jax.random.normal(key, (total,), jnp.float32))
    start = 0
    for layer, mask in masks.items():
        rows, cols = mask.shape
        # scale by the number of inputs a unit actually sees under its mask
        seen = np.maximum(mask.sum(axis=0), 1.0)
        scale = np.sqrt(2.0 / seen) if layer.startswith("hidden") else np.sqrt(1.0 / seen)
        w = normal[start:start + mask.size].reshape(rows, cols) * scale * mask
        if independent and not layer.startswith("hidden"):
            w = np.zeros_like(w)
        start += mask.size
        params[layer] = {"w": jnp.asarray(w, jnp.float32)}
        if layer != "direct":
            params[layer]["b"] = jnp.zeros((cols,), jnp.float32)
    return params


def with_output_bias(config: MadeConfig, params: Params, bias: np.ndarray) -> Params:
    """``params`` with the output bias replaced (e.g. by log-marginals)."""
    out = dict(params)
    out["out"] = dict(params["out"], b=jnp.asarray(bias, jnp.float32).reshape(config.vocab_size))
    return out


def one_hot(config: MadeConfig, tokens: jax.Array) -> jax.Array:
    """(B, C) tokens -> (B, V) float32 one-hot rows."""
    parts = [jax.nn.one_hot(tokens[:, c], n, dtype=jnp.float32)
             for c, n in enumerate(config.token_counts)]
    return jnp.concatenate(parts, axis=1)


def _column_nll(config: MadeConfig, logits: jax.Array, tokens: jax.Array) -> jax.Array:
    offsets = config.offsets
    total = jnp.zeros(logits.shape[0], jnp.float32)
    for c in range(config.num_columns):
        part = logits[:, offsets[c]:offsets[c + 1]]
        logp = jax.nn.log_softmax(part, axis=1)
        total = total - jnp.take_along_axis(logp, tokens[:, c:c + 1], axis=1)[:, 0]
    return total


def make_loss_with_taps(config: MadeConfig):
    """``loss_with_taps(params, tokens, taps) -> (losses (B,), activations)``."""
    masks = {k: jnp.asarray(v) for k, v in layer_masks(config).items()}
    hidden = len(config.hidden)

    def dense(params: Params, layer: str, a: jax.Array, taps: Mapping[str, jax.Array]):
        z = a @ (params[layer]["w"] * masks[layer]) + taps[layer]
        return z + params[layer]["b"] if "b" in params[layer] else z

    def loss_with_taps(params: Params, tokens: jax.Array, taps: Mapping[str, jax.Array]):
        x = one_hot(config, tokens)
        activations = {}
        h = x
        for i in range(hidden):
            activations[f"hidden_{i}"] = h
            h = jax.nn.relu(dense(params, f"hidden_{i}", h, taps))
        activations["out"] = h
        logits = dense(params, "out", h, taps)
        if config.direct:
            activations["direct"] = x
            logits = logits + dense(params, "direct", x, taps)
        return _column_nll(config, logits, tokens), activations

    return loss_with_taps


def make_example_loss(config: MadeConfig):
    """``loss(params, example_tokens (C,), rng) -> scalar`` for the vmap path."""
    loss_with_taps = make_loss_with_taps(config)

    def example_loss(params: Params, tokens: jax.Array, rng: jax.Array) -> jax.Array:
        del rng  # the model is deterministic
        taps = {layer: jnp.zeros((1, p["w"].shape[1]), jnp.float32)
                for layer, p in params.items()}
        losses, _ = loss_with_taps(params, tokens[None, :], taps)
        return losses[0]

    return example_loss


def log_probs(config: MadeConfig, params: Params, tokens: jax.Array) -> list[jax.Array]:
    """Per-column log-probabilities given full rows (for the parity test)."""
    return _log_probs_jit(config)(params, tokens)


@functools.cache
def _log_probs_jit(config: MadeConfig):
    return jax.jit(functools.partial(_log_probs, config))


def _log_probs(config: MadeConfig, params: Params, tokens: jax.Array) -> list[jax.Array]:
    masks = {k: jnp.asarray(v) for k, v in layer_masks(config).items()}
    x = one_hot(config, tokens)
    h = x
    for i in range(len(config.hidden)):
        layer = params[f"hidden_{i}"]
        h = jax.nn.relu(h @ (layer["w"] * masks[f"hidden_{i}"]) + layer["b"])
    logits = h @ (params["out"]["w"] * masks["out"]) + params["out"]["b"]
    if config.direct:
        logits = logits + x @ (params["direct"]["w"] * masks["direct"])
    offsets = config.offsets
    return [jax.nn.log_softmax(logits[:, offsets[c]:offsets[c + 1]], axis=1)
            for c in range(config.num_columns)]


def to_tensors(config: MadeConfig, params: Params) -> dict[str, np.ndarray]:
    """Masked float32 weights under the bundle's tensor names."""
    masks = layer_masks(config)
    tensors = {}
    for layer, values in params.items():
        for parameter, array in values.items():
            array = np.asarray(array, dtype=np.float32)
            if parameter == "w":
                array = array * masks[layer]
            tensors[tensor_name(layer, parameter)] = array.astype(np.float32)
    return tensors

