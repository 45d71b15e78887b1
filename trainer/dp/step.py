"""The DP-SGD step: clip, sum, noise once, optimizer update; one compilation.

A step takes the logical Poisson batch as one or more fixed-shape chunks
(see :mod:`trainer.dp.sampling`) and a fresh key::

    step = DpSgdStep(dense_clipper(model, masks), optax.adam(1e-3),
                     l2_clip=1.0, noise_multiplier=1.1, expected_batch_size=256.0)
    opt_state = step.init(params)
    print("compiled in", step.compile(params, opt_state, batch, mask), "s")
    for _ in range(plan.steps):
        chunks = sample_chunks(n, q, capacity)            # OS randomness
        params, opt_state = step(params, opt_state,
                                 [(gather(data, c), c.mask) for c in chunks],
                                 os_random_key())

Devices: the batch axis is sharded over a 1-D mesh of all local devices
(``NamedSharding(mesh, P("batch"))``), parameters and optimizer state are
replicated. Per-example work runs where the rows are; the clipped sum is a
global sum (XLA inserts the all-reduce), and the noise is a function of the
step key and the parameter shapes only, so it is one draw for the global sum
(computed redundantly, bit-identical, on each device), never one per device.

Overflow: one chunk (the usual case) runs as a single fused, jitted program.
Several chunks (a draw above capacity) run the same-shape clipping program on
each chunk, add the sums, and then run the noise + update program once, so
the release is still one noise draw on the clipped sum of the whole Poisson
sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from provisioner.errors import ConfigError
from trainer.dp.aggregate import dp_aggregate, os_random_key
from trainer.dp.clipping import ClippedSum, ClippedSumFn

__all__ = (
    "BATCH_AXIS",
    "DpSgdStep",
    "PlainStep",
    "batch_mesh",
    "batch_sharding",
    "masked_mean_loss",
    "replicated_sharding",
)

BATCH_AXIS = "batch"
Params = Any
OptState = Any
Batch = Any
BatchLoss = Callable[[Params, Batch, jax.Array, jax.Array], jax.Array]


# --- devices ----------------------------------------------------------------


def batch_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named ``"batch"`` over ``devices`` (default: all local ones)."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ConfigError("No devices to build a mesh on.")
    return Mesh(np.array(devices), (BATCH_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split across the mesh."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def _check_divisible(batch: Batch, mask: Any, mesh: Mesh) -> None:
    n = mesh.size
    size = int(np.shape(mask)[0])
    if size % n:
        raise ConfigError(
            f"batch of {size} rows does not split over {n} devices; use "
            f"batch_capacity(..., num_devices={n})."
        )
    for leaf in jax.tree.leaves(batch):
        if np.shape(leaf)[:1] != (size,):
            raise ConfigError(
                f"every batch leaf needs leading axis {size} (the mask's), got "
                f"shape {np.shape(leaf)}."
            )


def _replicated(tree: Any, sharding: NamedSharding) -> Any:
    """``tree`` replicated on the mesh, without a device_put when it already is.

    Parameters and optimizer state come back from the previous step already
    replicated; putting them again costs ~1 ms of host work per step, and
    passing a first, unplaced tree as is would make jit compile the step a
    second time (placement is part of its cache key). Checking the first
    leaf is enough for trees produced by this module.
    """
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return tree
    first = leaves[0]
    if isinstance(first, jax.Array) and first.committed and first.sharding == sharding:
        return tree
    return jax.device_put(tree, sharding)


class _Compiled:
    """A jitted function plus, once :meth:`compile` ran, its AOT executable."""

    def __init__(self, fn: Callable[..., Any], **jit_kwargs: Any) -> None:
        self._jitted = jax.jit(fn, **jit_kwargs)
        self.executable: Any = None

    def compile(self, *args: Any) -> float:
        start = time.perf_counter()
        self.executable = self._jitted.lower(*args).compile()
        return time.perf_counter() - start

    def __call__(self, *args: Any) -> Any:
        if self.executable is not None:
            return self.executable(*args)
        return self._jitted(*args)


class _MeshStep:
    """What both steps share: the mesh, placement, optimizer state, and the
    ahead-of-time compilation of their main program (``self._main``)."""

    tx: optax.GradientTransformation
    _main: _Compiled

    def _setup_mesh(self, mesh: Mesh | None) -> None:
        self.mesh = batch_mesh() if mesh is None else mesh
        self._rep = replicated_sharding(self.mesh)
        self._shard = batch_sharding(self.mesh)

    def _step_program(self, fn: Callable[..., Any]) -> _Compiled:
        """``fn(params, opt_state, batch, mask, key)`` jitted with the step shardings."""
        rep, shard = self._rep, self._shard
        return _Compiled(fn, in_shardings=(rep, rep, shard, shard, rep),
                         out_shardings=(rep, rep))

    def init(self, params: Params) -> OptState:
        """Optimizer state for ``params``, replicated on the mesh."""
        params = jax.device_put(params, self._rep)
        return jax.device_put(self.tx.init(params), self._rep)

    def _place(
        self,
        params: Params,
        opt_state: OptState,
        batch: Batch,
        mask: Any,
        key: jax.Array,
    ) -> tuple[Any, ...]:
        _check_divisible(batch, mask, self.mesh)
        return (
            _replicated(params, self._rep),
            _replicated(opt_state, self._rep),
            batch,
            np.asarray(mask, dtype=bool),
            key,
        )

    def compile(
        self,
        params: Params,
        opt_state: OptState,
        batch: Batch,
        mask: Any,
        key: jax.Array | None = None,
    ) -> float:
        """Compile the step for this shape ahead of time; returns seconds.

        ``key`` only provides the key's type and shape (lowering runs
        nothing); when omitted a throw-away OS-random key stands in.
        """
        if key is None:
            key = os_random_key()
        return self._main.compile(*self._place(params, opt_state, batch, mask, key))

    @property
    def executable(self) -> Any:
        """The AOT-compiled step (after :meth:`compile`), e.g. for
        ``.memory_analysis()``; None before."""
        return self._main.executable


# --- the DP step --------------------------------------------------------------


class DpSgdStep(_MeshStep):
    """A DP-SGD step for one fixed chunk shape, compiled once, sharded over a mesh.

    Args:
        clipper: a :data:`~trainer.dp.clipping.ClippedSumFn`, e.g.
            ``vmap_clipper(loss)`` (any model) or ``dense_clipper(...)``.
        optimizer: any optax transformation (Adam, SGD, schedules...). It is
            chained *after* :func:`~trainer.dp.aggregate.dp_aggregate`.
        l2_clip: C.
        noise_multiplier: σ (0 only for non-private comparisons).
        expected_batch_size: q·N, the divisor of the noised sum.
        mesh: device mesh; default all local devices on axis ``"batch"``.

    Privacy:
        Each call releases (through the update) one Gaussian mechanism on the
        clipped sum over the whole logical batch: sensitivity C, noise σC,
        i.e. one ``PoissonSampled(q, Gaussian(σ))`` step when the chunks
        carry a Poisson sample and ``key`` is fresh OS randomness.
    """

    def __init__(
        self,
        clipper: ClippedSumFn,
        optimizer: optax.GradientTransformation,
        *,
        l2_clip: float,
        noise_multiplier: float,
        expected_batch_size: float,
        mesh: Mesh | None = None,
    ) -> None:
        self.clipper = clipper
        self.l2_clip = float(l2_clip)
        self.noise_multiplier = float(noise_multiplier)
        self.expected_batch_size = float(expected_batch_size)
        self.tx = optax.chain(
            dp_aggregate(
                self.l2_clip,
                self.noise_multiplier,
                expected_batch_size=self.expected_batch_size,
            ),
            optimizer,
        )
        self._setup_mesh(mesh)
        rep, shard = self._rep, self._shard
        self._main = self._step_program(self._fused_step)
        self._clip = _Compiled(
            self._clip_chunk,
            in_shardings=(rep, shard, shard, rep),
            out_shardings=ClippedSum(rep, shard),
        )
        self._apply = _Compiled(
            self._apply_update,
            in_shardings=(rep, rep, rep, rep),
            out_shardings=(rep, rep),
        )

    # pure pieces (traced) ----------------------------------------------------

    def _clip_chunk(
        self, params: Params, batch: Batch, mask: jax.Array, key: jax.Array
    ) -> ClippedSum:
        return self.clipper(params, batch, mask, key, self.l2_clip)

    def _apply_update(
        self,
        params: Params,
        opt_state: OptState,
        grad_sum: Params,
        noise_key: jax.Array,
    ) -> tuple[Params, OptState]:
        updates, opt_state = self.tx.update(
            grad_sum, opt_state, params, noise_key=noise_key
        )
        return optax.apply_updates(params, updates), opt_state

    def _fused_step(
        self,
        params: Params,
        opt_state: OptState,
        batch: Batch,
        mask: jax.Array,
        key: jax.Array,
    ) -> tuple[Params, OptState]:
        noise_key, data_key = jax.random.split(key)
        clipped = self._clip_chunk(params, batch, mask, jax.random.fold_in(data_key, 0))
        return self._apply_update(params, opt_state, clipped.grad_sum, noise_key)

    # host-side API -------------------------------------------------------------

    def clipped_sum(
        self, params: Params, batch: Batch, mask: Any, key: jax.Array
    ) -> ClippedSum:
        """The clipped sum of one chunk (jitted, same sharding as the step)."""
        params, _, batch, mask, key = self._place(params, (), batch, mask, key)
        return self._clip(params, batch, mask, key)

    def __call__(
        self,
        params: Params,
        opt_state: OptState,
        chunks: Sequence[tuple[Batch, Any]],
        key: jax.Array,
    ) -> tuple[Params, OptState]:
        """One DP-SGD step over the logical batch carried by ``chunks``.

        Args:
            params: current parameters.
            opt_state: from :meth:`init` or the previous step.
            chunks: ``(batch, mask)`` pairs of the same fixed shape; together
                they hold the step's Poisson sample (at least one chunk; an
                all-padding chunk gives a noise-only step).
            key: fresh :func:`~trainer.dp.aggregate.os_random_key` in DP
                training; split into the noise key and the model's key.

        Returns:
            ``(new_params, new_opt_state)``.
        """
        if not chunks:
            raise ConfigError(
                "a step needs at least one chunk (an empty draw is one "
                "all-padding chunk, not none)."
            )
        if len(chunks) == 1:
            batch, mask = chunks[0]
            return self._main(*self._place(params, opt_state, batch, mask, key))
        noise_key, data_key = jax.random.split(key)
        total = None
        for index, (batch, mask) in enumerate(chunks):
            placed = self._place(
                params, opt_state, batch, mask, jax.random.fold_in(data_key, index)
            )
            part = self._clip(placed[0], placed[2], placed[3], placed[4]).grad_sum
            total = part if total is None else jax.tree.map(jnp.add, total, part)
        return self._apply(
            _replicated(params, self._rep),
            _replicated(opt_state, self._rep),
            total,
            noise_key,
        )


# --- the non-private step, for comparison -----------------------------------


def masked_mean_loss(
    example_loss: Callable[[Params, Any, jax.Array], jax.Array],
) -> BatchLoss:
    """Batch loss = mean of ``example_loss`` over the real (mask) rows."""

    def batch_loss(
        params: Params, batch: Batch, mask: jax.Array, key: jax.Array
    ) -> jax.Array:
        keys = jax.random.split(key, mask.shape[0])
        losses = jax.vmap(example_loss, in_axes=(None, 0, 0))(params, batch, keys)
        weights = mask.astype(jnp.float32)
        return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)

    return batch_loss


class PlainStep(_MeshStep):
    """The same training step without DP: mean gradient, no clipping, no noise.

    For comparisons and benchmarks (and non-private runs). ``batch_loss(params,
    batch, mask, key) -> scalar``, e.g. :func:`masked_mean_loss`. Same
    sharding and compile interface as :class:`DpSgdStep`, one chunk per call.
    """

    def __init__(
        self,
        batch_loss: BatchLoss,
        optimizer: optax.GradientTransformation,
        *,
        mesh: Mesh | None = None,
    ) -> None:
        self.batch_loss = batch_loss
        self.tx = optimizer
        self._setup_mesh(mesh)
        self._main = self._step_program(self._plain_step)

    def _plain_step(
        self,
        params: Params,
        opt_state: OptState,
        batch: Batch,
        mask: jax.Array,
        key: jax.Array,
    ) -> tuple[Params, OptState]:
        grads = jax.grad(self.batch_loss)(params, batch, mask, key)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def __call__(
        self,
        params: Params,
        opt_state: OptState,
        batch: Batch,
        mask: Any,
        key: jax.Array,
    ) -> tuple[Params, OptState]:
        return self._main(*self._place(params, opt_state, batch, mask, key))
