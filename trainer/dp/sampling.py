"""Poisson subsampling into fixed-shape, masked chunks.

DP-SGD's amplification-by-subsampling guarantee (the ``PoissonSampledDpEvent``
the accountant composes) holds only if every step's batch *is* a Poisson
sample: each row is included independently with probability q, so the batch
size itself is random. A jitted step wants one fixed shape, so the logical
batch is carried in padded chunks of a fixed ``capacity`` with a boolean mask
(padding rows contribute exactly zero).

Example::

    >>> capacity = batch_capacity(32561, 256 / 32561)
    >>> idx = poisson_indices(32561, 256 / 32561)       # OS randomness
    >>> chunks = split_into_chunks(idx, capacity)       # usually one chunk
    >>> sum(int(c.mask.sum()) for c in chunks) == len(idx)
    True

Overflow: a draw larger than ``capacity`` is *not* truncated. It is split
into several chunks of the same fixed shape; their clipped gradient sums are
added before the single noise draw of the step. The released quantity is
then exactly the clipped sum over the Poisson sample plus N(0, σ²C²) noise,
so the accounting is unchanged (no truncation to account for and nothing
added to δ); the only cost is an extra pass, taken with probability about
3e-7 per step at the default 5 standard deviations of headroom.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from provisioner._checks import positive, positive_int
from provisioner.errors import ConfigError

__all__ = (
    "Chunk",
    "batch_capacity",
    "gather",
    "inclusion_threshold",
    "poisson_indices",
    "realised_sampling_prob",
    "sample_chunks",
    "split_into_chunks",
)

_TWO_32 = 2**32
# Rows drawn per os.urandom call: bounds the temporary memory (4 bytes a row)
# for very large tables.
_BLOCK = 1 << 22


class Chunk(NamedTuple):
    """One fixed-shape piece of a logical batch.

    Attributes:
        indices: int32 ``(capacity,)`` row indices; padding slots hold 0.
        mask: bool ``(capacity,)``; True for real rows of the sample.
    """

    indices: np.ndarray
    mask: np.ndarray


def _check_q(sampling_prob: float) -> None:
    positive(sampling_prob=sampling_prob)
    if sampling_prob > 1:
        raise ConfigError(f"Expected 0 < sampling_prob={sampling_prob} <= 1.")


def inclusion_threshold(sampling_prob: float) -> int:
    """The integer t with "include iff u < t" for u uniform on [0, 2³²).

    ``t = floor(q · 2³²)``, so the realised inclusion probability is
    ``t / 2³² ≤ q``: rounding only ever lowers it, and since ε of the
    Poisson-subsampled Gaussian grows with q, accounting at the nominal q is
    conservative. q = 1 includes every row.
    """
    _check_q(sampling_prob)
    threshold = min(math.floor(sampling_prob * _TWO_32), _TWO_32)
    if threshold == 0:
        raise ConfigError(
            f"sampling_prob={sampling_prob} is below 2**-32, the sampler's resolution."
        )
    return threshold


def realised_sampling_prob(sampling_prob: float) -> float:
    """The inclusion probability the sampler actually uses (≤ q)."""
    return inclusion_threshold(sampling_prob) / _TWO_32


def poisson_indices(
    num_examples: int,
    sampling_prob: float,
    *,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Indices of one Poisson sample: each row kept independently w.p. ≈ q.

    Args:
        num_examples: number of rows N.
        sampling_prob: q.
        rng: leave None for DP training: the draws then come from
            ``os.urandom`` (the OS CSPRNG), are never stored, and cannot be
            replayed. A ``numpy.random.Generator`` makes the draw
            reproducible; use it ONLY for tests and non-private runs.

    Returns:
        Sorted int64 row indices (possibly empty).

    Privacy:
        With ``rng=None`` this is the Poisson sampler the accountant assumes,
        at realised rate ``floor(q·2³²)/2³² ≤ q``. A seeded generator voids
        the amplification claim (anyone with the seed knows the batches).
    """
    positive_int(num_examples=num_examples)
    threshold = inclusion_threshold(sampling_prob)
    if threshold >= _TWO_32:
        return np.arange(num_examples, dtype=np.int64)
    parts = []
    for start in range(0, num_examples, _BLOCK):
        n = min(_BLOCK, num_examples - start)
        if rng is None:
            u = np.frombuffer(os.urandom(4 * n), dtype="<u4")
        else:
            u = rng.integers(0, _TWO_32, size=n, dtype=np.uint32)
        parts.append(np.flatnonzero(u < threshold) + start)
    return np.concatenate(parts).astype(np.int64, copy=False)


def batch_capacity(
    num_examples: int,
    sampling_prob: float,
    *,
    num_devices: int = 1,
    num_std: float = 5.0,
) -> int:
    """Fixed physical batch size for Poisson batches.

    ``ceil(Nq + num_std·sqrt(Nq(1−q)))``, rounded up to a multiple of
    ``num_devices`` so the batch axis shards evenly, and never above N
    (rounded likewise). Larger draws are split, not dropped (see the module
    docstring), so the capacity only trades padding waste against the rare
    extra pass.
    """
    positive_int(num_examples=num_examples, num_devices=num_devices)
    _check_q(sampling_prob)
    positive(num_std=num_std)
    mean = num_examples * sampling_prob
    std = math.sqrt(num_examples * sampling_prob * (1.0 - sampling_prob))
    capacity = min(max(1, math.ceil(mean + num_std * std)), num_examples)
    return -(-capacity // num_devices) * num_devices


def split_into_chunks(indices: np.ndarray, capacity: int) -> tuple[Chunk, ...]:
    """Split a logical batch into fixed-shape masked chunks.

    Every index appears in exactly one chunk, exactly once. An empty batch
    gives one all-padding chunk, so the step still runs and releases pure
    noise (resampling an empty draw would bias the sampler and break the
    accounting).

    Args:
        indices: 1-D row indices of the Poisson sample.
        capacity: rows per chunk.

    Returns:
        ``ceil(len(indices) / capacity)`` chunks (at least one).
    """
    positive_int(capacity=capacity)
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise ConfigError(f"Expected 1-D indices, got shape {indices.shape}.")
    count = max(1, -(-len(indices) // capacity))
    chunks = []
    for k in range(count):
        part = indices[k * capacity : (k + 1) * capacity]
        idx = np.zeros(capacity, dtype=np.int32)
        idx[: len(part)] = part
        mask = np.zeros(capacity, dtype=bool)
        mask[: len(part)] = True
        chunks.append(Chunk(idx, mask))
    return tuple(chunks)


def sample_chunks(
    num_examples: int,
    sampling_prob: float,
    capacity: int,
    *,
    rng: np.random.Generator | None = None,
) -> tuple[Chunk, ...]:
    """One step's Poisson sample as fixed-shape chunks (see the pieces above).

    Privacy:
        As :func:`poisson_indices`; leave ``rng=None`` in DP training.
    """
    return split_into_chunks(
        poisson_indices(num_examples, sampling_prob, rng=rng), capacity
    )


def gather(data: Any, chunk: Chunk) -> Any:
    """Rows ``chunk.indices`` of every leaf of a pytree of arrays (on the host).

    Padding slots repeat row 0; they are masked out downstream, so their
    values never reach the released sum.
    """
    return jax.tree.map(lambda x: np.asarray(x)[chunk.indices], data)
