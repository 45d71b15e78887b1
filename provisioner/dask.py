"""Sample on Dask: the same rows as one process, one partition per task.

    from provisioner.dask import sample_dataframe, to_parquet

    frame = sample_dataframe(gen, 100_000_000, npartitions=100, seed=7)
    frame.to_parquet("synthetic/")                 # or:
    to_parquet(mix, 100_000_000, "synthetic/", seed=7)

Needs ``pip install 'hzg[dask]'``. Partition ``i`` of ``k`` holds the rows
``source.sample(n, seed=seed, partition=i, partitions=k)`` gives, so the
frame equals ``source.sample(n, seed=seed).to_pandas()`` row for row (its
index is the row number). Partitions are made of whole blocks of the
sampling scheme, so there are at most as many partitions as blocks.

What workers get: the source once, as one graph key holding its pickle, i.e.
each bundle's signed bytes and the public key that verified it; each worker
process verifies each bundle once, however many partitions it makes
(:class:`provisioner.Generator` pickles that way). A task samples on one
thread and leaves process-wide BLAS settings alone: the worker's threads
are Dask's to schedule, and its nanny already holds BLAS to one thread.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from provisioner import provenance, scheme
from provisioner.bundle import write_atomic
from provisioner.errors import MissingDependency
from provisioner.sampling import Request, Where, check_count, check_seed, sample
from provisioner.scheme import RowSource
from provisioner.table import Table

ROWS_PER_PARTITION = 1_000_000


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise MissingDependency(
            "the Dask adapter needs dask: pip install 'hzg[dask]'") from None
    return dask, dd


def sample_dataframe(source: RowSource, n: int, npartitions: int | None = None,
                     seed: int | None = None, *, where: Where = None,
                     rows_per_partition: int = ROWS_PER_PARTITION) -> Any:
    """``n`` rows of ``source`` as a lazy ``dask.dataframe.DataFrame``.

    Args:
      source: a Generator or a Mixture (anything that pickles to a RowSource).
      n: rows in the whole frame.
      npartitions: partitions (default: one per ``rows_per_partition`` rows);
        at most the number of blocks.
      seed: fixes the rows (default: a random one; give it to make the same
        rows again, or use :func:`to_parquet`, which records it).
      where: conditions, as for ``sample``.

    The request (conditions included) is checked here, before any task runs.
    """
    dask, dd = _dask()
    import pandas as pd

    seed = secrets.randbits(63) if seed is None else check_seed(seed)
    request = Request(source, n, seed=seed, where=where)
    blocks = -(-request.n // source.block_rows)
    wanted = -(-request.n // check_count(rows_per_partition=rows_per_partition)) \
        if npartitions is None else check_count(npartitions=npartitions)
    k = max(1, min(wanted, blocks))
    starts = [scheme.partition_rows(request.n, source.block_rows, i, k)[0] for i in range(k)]
    shared = dask.delayed(source, traverse=False)
    parts = [dask.delayed(_partition, pure=True)(shared, request.n, i, k, seed, where)
             for i in range(k)]
    meta = Table.empty(source.columns).to_pandas()
    meta.index = pd.RangeIndex(0, 0)
    return dd.from_delayed(parts, meta=meta, divisions=(*starts, request.n - 1),
                           verify_meta=False)


def _partition(source: RowSource, n: int, partition: int, partitions: int, seed: int,
               where: Where) -> Any:
    import pandas as pd

    start, stop = scheme.partition_rows(n, source.block_rows, partition, partitions)
    table = sample(source, n, seed=seed, where=where, partition=partition,
                   partitions=partitions, threads=1)
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(start, stop)
    return frame


def to_parquet(source: RowSource, n: int, path: str | os.PathLike[str], *,
               seed: int | None = None, where: Where = None,
               npartitions: int | None = None,
               rows_per_partition: int = ROWS_PER_PARTITION, **options: Any) -> str:
    """Write ``n`` rows to the folder ``path`` through Dask, with provenance.

    The part files are Dask's (``part.0.parquet``, ...); the provenance goes
    to ``PATH.provenance.json`` once every part is written. ``options`` go
    to ``DataFrame.to_parquet``. Returns the provenance file's path.
    """
    seed = secrets.randbits(63) if seed is None else check_seed(seed)
    frame = sample_dataframe(source, n, npartitions, seed, where=where,
                             rows_per_partition=rows_per_partition)
    frame.to_parquet(os.fspath(path), write_index=False, **options)
    request = Request(source, n, seed=seed, where=where)
    target = provenance.provenance_path(os.fspath(path).rstrip("/"))
    record = provenance.record(source, request, output=os.fspath(path),
                               output_format="parquet (dask)", rows=n)
    record["output"]["partitions"] = frame.npartitions
    write_atomic(target, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return target


__all__ = ("ROWS_PER_PARTITION", "sample_dataframe", "to_parquet")
