"""Rows from any :class:`~provisioner.scheme.RowSource`: batches, partitions, threads.

Written once for a single generator and for a mixture of them::

    for batch in gen.iter_batches(10_000_000, batch_size=100_000, seed=7):
        ...
    part = gen.sample(1_000_000, seed=7, partition=2, partitions=4)

The rows for a seed are fixed by :mod:`provisioner.scheme`, whatever the
batch size, the number of threads or the partitioning: the ``k`` partitions
of ``n`` rows, made anywhere in any order, concatenate to exactly the rows
``sample(n, seed=S)`` gives, generated identifiers included.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from provisioner import scheme
from provisioner._blas import single_threaded_blas
from provisioner.errors import ConfigError, SamplingError
from provisioner.scheme import Meter, RowSource
from provisioner.table import Table

Where = Mapping[str, Any] | Iterable[str] | None
Pairs = tuple[tuple[str, tuple[Any, ...]], ...]


def where_pairs(where: Where) -> Pairs:
    """``(column, values)`` pairs from ``{"col": value}`` or ``"col=value"`` strings.

    Several values for one column mean "any of them"; an empty CLI value or
    ``None`` means null.
    """
    if where is None:
        return ()
    pairs: list[tuple[str, Any]] = []
    if isinstance(where, Mapping):
        for name, value in where.items():
            values = value if isinstance(value, (list, tuple, set)) else [value]
            pairs.extend((str(name), v) for v in values)
    else:
        if isinstance(where, str):
            where = [where]
        for text in where:
            name, sep, value = str(text).partition("=")
            if not sep:
                raise SamplingError(f"condition {text!r} must look like COLUMN=VALUE")
            pairs.append((name.strip(), value if value != "" else None))
    grouped: dict[str, list[Any]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return tuple((name, tuple(values)) for name, values in grouped.items())


def available_cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Request:
    """A checked sampling request: which rows, from which seed, under what."""

    def __init__(self, source: RowSource, n: int, *, seed: int | None, where: Where,
                 partition: int | None = None, partitions: int | None = None) -> None:
        check_count(n=n)
        if (partition is None) != (partitions is None):
            raise ConfigError("give both partition and partitions, or neither")
        if partitions is not None:
            check_count(partitions=partitions)
            if isinstance(partition, bool) or not isinstance(partition, (int, np.integer)) \
                    or not 0 <= partition < partitions:
                raise ConfigError(
                    f"Expected partition={partition!r} to be an integer in [0, {partitions}).")
            if seed is None:
                raise ConfigError("partitions need a seed: each one must make its own "
                                  "part of the same rows")
        self.source = source
        self.n = int(n)
        self.seed = secrets.randbits(63) if seed is None else check_seed(seed)
        self.pairs = where_pairs(where)
        self.conditions = source.conditions(self.pairs)
        self.partition = 0 if partition is None else int(partition)
        self.partitions = 1 if partitions is None else int(partitions)
        self.start, self.stop = scheme.partition_rows(self.n, source.block_rows,
                                                      self.partition, self.partitions)

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def describe_conditions(self) -> str:
        return " and ".join(name for name, _ in self.pairs)


def iter_batches(
    source: RowSource,
    n: int,
    *,
    batch_size: int = 65536,
    seed: int | None = None,
    where: Where = None,
    partition: int | None = None,
    partitions: int | None = None,
    threads: int | None = None,
    meter: Meter | None = None,
) -> Iterator[Table]:
    """Yield the rows in tables of ``batch_size`` rows (the last may be shorter).

    Args:
      n: rows in the whole output.
      batch_size: rows per yielded table (memory, not output).
      seed: fixes the rows; default: a random one.
      where: conditions (see :func:`where_pairs`).
      partition, partitions: yield only partition ``partition`` (0-based) of
        ``partitions``; needs a seed.
      threads: blocks made at once; default: every core this process may
        use. With one thread nothing else is started and process-wide BLAS
        settings are left alone (what a Dask worker wants); with more, BLAS
        is held to one thread while they run.
      meter: receives progress.

    Memory stays flat in ``n``: a few blocks are held at a time. Arguments
    and conditions are checked here, before the first batch.
    """
    check_count(batch_size=batch_size)
    request = Request(source, n, seed=seed, where=where, partition=partition,
                      partitions=partitions)
    threads = available_cores() if threads is None else check_count(threads=threads)
    return batches(request, batch_size, threads, meter)


def sample(source: RowSource, n: int, *, seed: int | None = None, where: Where = None,
           partition: int | None = None, partitions: int | None = None,
           threads: int | None = None) -> Table:
    """The rows as one table (only partition ``partition`` when given)."""
    request = Request(source, n, seed=seed, where=where, partition=partition,
                      partitions=partitions)
    threads = available_cores() if threads is None else check_count(threads=threads)
    parts = list(batches(request, max(request.rows, 1), threads, None))
    if not parts:
        return Table.empty(source.columns)
    return parts[0]


def batches(request: Request, batch_size: int, threads: int,
            meter: Meter | None) -> Iterator[Table]:
    """The request's rows, re-cut into tables of ``batch_size`` rows."""
    pending: list[Table] = []
    pending_rows = produced = 0
    total = request.rows
    for table in blocks(request, threads, meter):
        pending.append(table)
        pending_rows += table.num_rows
        while pending_rows >= batch_size or (
                pending_rows and produced + pending_rows >= total):
            merged = Table.concat(pending) if len(pending) > 1 else pending[0]
            take = min(batch_size, total - produced)
            out = merged.slice(0, take) if take < merged.num_rows else merged
            produced += take
            if meter is not None:
                meter.emitted(take)
            yield out
            rest = merged.slice(take, merged.num_rows)
            pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
            if produced >= total:
                return


def blocks(request: Request, threads: int, meter: Meter | None) -> Iterator[Table]:
    """The request's rows, block by block, in order."""
    source = request.source
    rows = source.block_rows
    first, last = request.start // rows, -(-request.stop // rows)
    what = request.describe_conditions()

    def make(block: int) -> Table:
        begin = max(request.start - block * rows, 0)
        need = min(request.stop - block * rows, rows)
        table = scheme.make_block(source, request.seed, block, request.conditions, need,
                                  meter, what)
        return table.slice(begin, table.num_rows) if begin else table

    if threads == 1 or last - first <= 1:
        # One block asked with threads to spare (hzg sample -n 20) still holds
        # BLAS to one thread: OpenBLAS splitting these thin products over busy
        # cores made a 1,024-column bundle's block 30x slower. threads=1 (a
        # Dask worker's task) leaves process-wide settings alone.
        hold = single_threaded_blas() if threads > 1 else contextlib.nullcontext()
        with hold:
            for block in range(first, last):
                yield make(block)
        return
    with single_threaded_blas(), concurrent.futures.ThreadPoolExecutor(threads) as pool:
        # numpy releases the GIL in its kernels, so blocks run on all cores;
        # a bounded window of futures keeps memory flat and the order fixed.
        upcoming = iter(range(first, last))
        window = [pool.submit(make, b) for b in _take(upcoming, 2 * threads)]
        try:
            while window:
                table = window.pop(0).result()
                window.extend(pool.submit(make, b) for b in _take(upcoming, 1))
                yield table
        finally:
            for future in window:
                future.cancel()


def _take(iterator: Iterator[int], count: int) -> list[int]:
    return [b for _, b in zip(range(count), iterator)]


class Sampling:
    """``sample`` and ``iter_batches`` for a class that is a RowSource."""

    def iter_batches(self, n: int, *, batch_size: int = 65536, seed: int | None = None,
                     where: Where = None, partition: int | None = None,
                     partitions: int | None = None, threads: int | None = None,
                     meter: Meter | None = None) -> Iterator[Table]:
        """See :func:`provisioner.sampling.iter_batches`."""
        return iter_batches(self, n, batch_size=batch_size, seed=seed, where=where,
                            partition=partition, partitions=partitions, threads=threads,
                            meter=meter)

    def sample(self, n: int, *, seed: int | None = None, where: Where = None,
               partition: int | None = None, partitions: int | None = None,
               threads: int | None = None) -> Table:
        """``n`` synthetic rows as one :class:`Table` (or partition ``partition``
        of ``partitions`` of them)."""
        return sample(self, n, seed=seed, where=where, partition=partition,
                      partitions=partitions, threads=threads)


def check_count(**values: int) -> int:
    """Check that each value is an integer >= 1; return the last one."""
    value = 0
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"Expected {name}={value!r} to be an integer >= 1.")
    return int(value)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2**63:
        raise ConfigError(f"Expected seed={seed!r} to be an integer in [0, 2**63).")
    return int(seed)


__all__ = (
    "Request",
    "Sampling",
    "available_cores",
    "check_count",
    "check_seed",
    "iter_batches",
    "sample",
    "where_pairs",
)
