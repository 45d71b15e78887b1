"""Fast exact clipping for models built from (optionally masked) dense layers.

The reference path (:mod:`trainer.dp.clipping`) writes one full gradient per
example; on a CPU those writes cost 36–81× a plain step. For a dense layer
``z = a @ (w ⊙ M) + b`` an example's weight gradient is the outer product
``(a_i δ_iᵀ) ⊙ M`` (a = the layer's input, δ = dL_i/dz_i), so its squared
norm needs no materialised gradient::

    ‖g_w,i‖² = Σ_jk a_ij² δ_ik² M_jk² = rowsum(((a ⊙ a) @ (M ⊙ M)) ⊙ (δ ⊙ δ))_i
             = ‖a_i‖² ‖δ_i‖²                      (no mask)
    ‖g_b,i‖² = ‖δ_i‖²

and, with clip factors c_i, the clipped sums are ``(aᵀ (c ⊙ δ)) ⊙ M`` and
``Σ_i c_i δ_i``. Every δ_i comes from ONE vjp of the summed loss with respect
to zero "taps" added to each layer's output (rows do not interact, so the
cotangent of row i is example i's own δ).

Model protocol (``loss_with_taps(params, batch, taps)``):

* ``params`` is ``{layer: {"w": (in, out), "b": (out,)}}``; ``"b"`` optional;
  every parameter of the model belongs to such a layer;
* each layer computes ``a @ (w * mask) + b + taps[layer]`` exactly once per
  example, with ``a`` of shape ``(B, in)`` (no weight sharing across
  positions: a layer applied at several positions per example would need
  the Gram-matrix form of ghost clipping, which this module does not do);
* it returns ``(per_example_loss (B,), activations)`` with
  ``activations[layer] = a``;
* ``masks`` maps layer names to the same (in, out) array the model
  multiplies ``w`` by, or None (missing names mean None).

Two variants compute the same :class:`~trainer.dp.clipping.ClippedSum`:

* ``"bookkeeping"`` (default): one forward, one backward to the taps, then
  the clipped sums straight from the stored ``a`` and ``δ``; no second pass.
* ``"ghost"``: norms from the first pass, then a second backward of
  ``Σ_i c_i L_i`` with respect to the parameters. Assumes finite losses
  (a NaN row with c_i = 0 still poisons the second backward); bookkeeping
  zeroes such rows and is what we use.

A test holds both equal to ``vmap(grad)`` (sums and norms to 1e-5 relative).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp

from provisioner.errors import ConfigError
from trainer.dp.clipping import ClippedSum, ClippedSumFn, clip_factors

__all__ = (
    "DENSE_METHODS",
    "dense_clipped_grad_sum",
    "dense_clipper",
    "zero_taps",
)

Params = dict[str, dict[str, jax.Array]]
Batch = Any
TapsLoss = Callable[
    [Params, Batch, dict[str, jax.Array]], tuple[jax.Array, dict[str, jax.Array]]
]
Masks = Mapping[str, Any]
Method = Literal["bookkeeping", "ghost"]
DENSE_METHODS: tuple[str, ...] = ("bookkeeping", "ghost")


def zero_taps(params: Params, batch_size: int) -> dict[str, jax.Array]:
    """Zeros of shape ``(batch_size, out)`` for every layer: the vjp points."""
    taps = {}
    for name, layer in params.items():
        w = layer["w"]
        taps[name] = jnp.zeros((batch_size, w.shape[1]), jnp.float32)
    return taps


def _check_params(params: Params) -> None:
    for name, layer in params.items():
        if (
            not isinstance(layer, Mapping)
            or "w" not in layer
            or set(layer) - {"w", "b"}
        ):
            raise ConfigError(
                f"dense fast path: layer {name!r} must be "
                "{'w': (in, out), 'b': (out,)} (b optional), got "
                f"{sorted(layer) if isinstance(layer, Mapping) else layer!r}."
            )
        if jnp.ndim(layer["w"]) != 2:
            raise ConfigError(
                f"dense fast path: {name}.w must be 2-D, got {jnp.shape(layer['w'])}."
            )


def _layer_square_norms(
    a: jax.Array, delta: jax.Array, mask2: jax.Array | None, has_bias: bool
) -> jax.Array:
    dd = delta * delta
    if mask2 is None:
        sq = jnp.sum(a * a, axis=1) * jnp.sum(dd, axis=1)
    else:
        sq = jnp.sum(((a * a) @ mask2) * dd, axis=1)
    if has_bias:
        sq = sq + jnp.sum(dd, axis=1)
    return sq


def dense_clipped_grad_sum(
    loss_with_taps: TapsLoss,
    masks: Masks | None,
    params: Params,
    batch: Batch,
    mask: jax.Array,
    key: jax.Array | None,
    l2_clip: float,
    *,
    method: Method = "bookkeeping",
) -> ClippedSum:
    """The clipped gradient sum of a dense-layer model, without per-example grads.

    Args:
        loss_with_taps: the model, following the protocol in the module doc.
        masks: ``{layer: (in, out) mask or None}``; None means no masks.
        params: ``{layer: {"w", "b"}}``.
        batch: pytree with leading axis B.
        mask: ``(B,)`` bool; padding rows contribute 0.
        key: unused (the protocol has no model randomness); accepted so that
            this matches :data:`~trainer.dp.clipping.ClippedSumFn`.
        l2_clip: C.
        method: ``"bookkeeping"`` (single pass, default) or ``"ghost"``.

    Returns:
        The same :class:`ClippedSum` as the ``vmap(grad)`` path (float32).

    Privacy:
        Exact per-example clipping of the whole gradient (all layers
        together) to C: each example moves the sum by at most C, as in
        :func:`trainer.dp.clipping.clipped_grad_sum`.
    """
    del key
    if method not in DENSE_METHODS:
        raise ConfigError(
            f"Unknown method={method!r}; use one of {', '.join(DENSE_METHODS)}."
        )
    _check_params(params)
    masks = dict(masks or {})
    unknown = set(masks) - set(params)
    if unknown:
        raise ConfigError(
            f"dense fast path: masks for unknown layers {sorted(unknown)}."
        )
    size = mask.shape[0]
    taps = zero_taps(params, size)

    def run(t: dict[str, jax.Array]) -> tuple[jax.Array, dict[str, jax.Array]]:
        losses, acts = loss_with_taps(params, batch, t)
        return losses, acts

    losses, vjp_fn, acts = jax.vjp(run, taps, has_aux=True)
    if jnp.shape(losses) != (size,):
        raise ConfigError(
            f"dense fast path: loss_with_taps must return per-example losses of shape "
            f"({size},), got {jnp.shape(losses)}."
        )
    (deltas,) = vjp_fn(jnp.ones_like(losses))

    sq_norms = jnp.zeros((size,), jnp.float32)
    layers = {}
    for name, layer in params.items():
        if name not in acts:
            raise ConfigError(
                f"dense fast path: no activation recorded for layer {name!r}."
            )
        a = acts[name].astype(jnp.float32)
        delta = deltas[name].astype(jnp.float32)
        n_in, n_out = layer["w"].shape
        if a.shape != (size, n_in):
            raise ConfigError(
                f"dense fast path: activation of {name!r} has shape {a.shape}, "
                f"expected {(size, n_in)} (one (B, in) input per layer)."
            )
        m = masks.get(name)
        m = None if m is None else jnp.asarray(m, jnp.float32)
        if m is not None and m.shape != (n_in, n_out):
            raise ConfigError(
                f"dense fast path: mask of {name!r} has shape {m.shape}, "
                f"expected {(n_in, n_out)}."
            )
        sq_norms = sq_norms + _layer_square_norms(
            a, delta, None if m is None else m * m, "b" in layer
        )
        layers[name] = (a, delta, m)

    norms = jnp.sqrt(sq_norms)
    factors = clip_factors(norms, mask, l2_clip)
    keep = (factors > 0)[:, None]

    if method == "ghost":
        c = jax.lax.stop_gradient(factors)

        def weighted(p: Params) -> jax.Array:
            per_example, _ = loss_with_taps(p, batch, taps)
            return jnp.sum(c * per_example)

        grads = jax.grad(weighted)(params)
        grad_sum = jax.tree.map(lambda g: g.astype(jnp.float32), grads)
        return ClippedSum(grad_sum, norms)

    grad_sum: dict[str, dict[str, jax.Array]] = {}
    for name, layer in params.items():
        a, delta, m = layers[name]
        # Zero whole rows (not just scale them): a row with NaN/inf in a or δ
        # has factor 0, and 0 * NaN would otherwise leak into the matmul.
        cd = jnp.where(keep, delta * factors[:, None], 0.0)
        a = jnp.where(keep, a, 0.0)
        gw = a.T @ cd
        if m is not None:
            gw = gw * m
        out = {"w": gw}
        if "b" in layer:
            out["b"] = jnp.sum(cd, axis=0)
        grad_sum[name] = out
    return ClippedSum(grad_sum, norms)


def dense_clipper(
    loss_with_taps: TapsLoss,
    masks: Masks | None = None,
    *,
    method: Method = "bookkeeping",
) -> ClippedSumFn:
    """Bind a dense-layer model into a :data:`ClippedSumFn` (the fast path)."""
    if method not in DENSE_METHODS:
        raise ConfigError(
            f"Unknown method={method!r}; use one of {', '.join(DENSE_METHODS)}."
        )
    return functools.partial(
        dense_clipped_grad_sum, loss_with_taps, masks, method=method
    )
