"""The sampling scheme ``hzg-blocks`` version 1: how a seed becomes rows.

The bundle format says what a generator is; this module says which rows a
seed produces from it. Anything that follows it (another process, another
machine, a Dask worker) makes the same rows from the same bundle and seed,
so the scheme has a name and a version, recorded in every output's
provenance, and a golden test pins its first rows on a shipped vector.

Blocks of known size. Output row ``r`` is row ``r % R`` of block ``r // R``
(``R`` = :func:`block_rows`). A block holds exactly ``R`` rows even under
conditions, so any range of rows, and the sequence numbers of its
identifiers, are known without making the blocks before it.

Rounds. Block ``b`` is made in rounds ``j = 0, 1, ...``: round ``j`` draws
candidates from the source with randomness taken only from ``(seed, b, j)``
and keeps those that meet the conditions, in candidate order; the block is
the first ``R`` rows kept over its rounds. Round 0 draws ``R`` candidates,
so without conditions a block is one round. A later round draws the
candidates still needed at the acceptance rate measured so far in this
block, times 1.1, plus 16 (``R`` while nothing was kept), and never more
than ``R``. Round sizes depend on the block's own earlier rounds only, so
stopping early (fewer rows wanted from a block) keeps the same first rows.

Randomness. PCG64 seeded by ``SeedSequence`` over six 32-bit words: seed
low, seed high, block low, block high, round, stream. Fixed width matters:
``SeedSequence`` ignores trailing zero words and splits big integers into
several words, so variable-length keys can collide. Streams: 0 the model's
tokens, 1 values drawn inside numeric/datetime bins and the fillers of
text columns' rare rows (columns in schema order), 2 fresh identifiers,
3 a mixture's choice of source for each candidate. A mixture gives its
source ``k`` the seed :func:`child_seed` ``(seed, k)`` (the first 63 bits
of the words seed low, seed high, k low, k high, 0, 0xFFFFFFFF) with the
same block and round, and gives each candidate the first source ``k`` with
``u < cumsum(w)[k]`` for ``u`` uniform from stream 3 (``w`` normalised).

Identifiers. A ``sequence`` id column numbers output rows: row ``r`` holds
``r + 1``. Other ids (patterns, UUIDs) come from stream 2 of their round.

Block size. ``R`` is 8,192 rows unless a source's working memory per
candidate row (``MadeConfig.sampling_bytes_per_row`` for the model, plus
decoding and the decoded row in up to three blocks: ``Generator``) times
8,192 exceeds :data:`BLOCK_BYTES`, or its arithmetic per row
(``MadeConfig.sampling_flops_per_row``) times 8,192 exceeds
:data:`BLOCK_FLOPS`; then it is the largest multiple of 64 rows that fits
both (at least 1). Every bundle the trainer makes with its defaults keeps
8,192; a hostile bundle with a huge vocabulary or model gets small blocks
instead of an unbounded allocation or minutes of arithmetic for one row. A
mixture's ``R`` is the smallest of its sources'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from provisioner.errors import SamplingError
from provisioner.schema import Column
from provisioner.table import Table

NAME = "hzg-blocks"
VERSION = 1
DEFAULT_BLOCK_ROWS = 8192
BLOCK_BYTES = 256 * 1024 * 1024
# Floating-point operations one block may take (a few seconds on one core):
# bounds what sampling one row from a bundle at the format's limits costs.
BLOCK_FLOPS = 2**34
STREAM_TOKENS = 0
STREAM_VALUES = 1
STREAM_IDS = 2
STREAM_MIX = 3
# A block that has kept nothing after this many candidates reports its
# conditions as practically impossible instead of searching forever.
MAX_EMPTY_CANDIDATES = 32 * DEFAULT_BLOCK_ROWS
_WORD = 0xFFFFFFFF


class DrawKey(NamedTuple):
    """Where the randomness of one round comes from."""

    seed: int
    block: int
    round: int


class Drawn(NamedTuple):
    """One round's kept candidates, and their indices among the candidates."""

    table: Table
    kept: np.ndarray


class RowSource(Protocol):
    """What the scheme samples from: a generator, or a mixture of them.

    ``columns`` are the output columns; ``block_rows`` is ``R`` for this
    source; ``conditions`` turns ``(column, values)`` pairs into whatever the
    source needs (raising :class:`~provisioner.errors.SamplingError`);
    ``draw`` makes one round: ``n`` candidates with the randomness of
    ``key``, returning those that meet ``conditions`` in candidate order.
    Sequence id columns may hold anything: :func:`make_block` numbers them.
    """

    @property
    def columns(self) -> tuple[Column, ...]: ...

    @property
    def block_rows(self) -> int: ...

    def conditions(self, pairs: Sequence[tuple[str, tuple[Any, ...]]]) -> Any: ...

    def draw(self, key: DrawKey, n: int, conditions: Any) -> Drawn: ...


class Meter(Protocol):
    """Receives progress while rows are made (called from any thread)."""

    def drew(self, candidates: int, kept: int) -> None: ...

    def emitted(self, rows: int) -> None: ...


def describe() -> dict[str, Any]:
    """The scheme's identity, as recorded in provenance."""
    return {"name": NAME, "version": VERSION, "prng": "PCG64",
            "key": "SeedSequence(uint32[seed_lo, seed_hi, block_lo, block_hi, round, stream])",
            "streams": {"tokens": STREAM_TOKENS, "values": STREAM_VALUES,
                        "ids": STREAM_IDS, "mixture": STREAM_MIX}}


def rng(key: DrawKey, stream: int) -> np.random.Generator:
    """The generator of one stream of one round."""
    seed, block, round_ = key
    words = np.array([seed & _WORD, seed >> 32, block & _WORD, block >> 32, round_, stream],
                     dtype=np.uint32)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def child_seed(seed: int, index: int) -> int:
    """The seed a mixture gives its source ``index`` (63 bits)."""
    # stream word 0xFFFFFFFF: a key no round ever uses
    words = np.array([seed & _WORD, seed >> 32, index & _WORD, index >> 32, 0, _WORD],
                     dtype=np.uint32)
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int(state[0]) | (int(state[1]) & 0x7FFFFFFF) << 32


def block_rows(bytes_per_row: int, flops_per_row: int = 0) -> int:
    """``R`` for a source needing ``bytes_per_row`` and ``flops_per_row`` per
    candidate row."""
    fits = BLOCK_BYTES // max(int(bytes_per_row), 1)
    if flops_per_row > 0:
        fits = min(fits, BLOCK_FLOPS // int(flops_per_row))
    if fits >= DEFAULT_BLOCK_ROWS:
        return DEFAULT_BLOCK_ROWS
    return max(1, fits // 64 * 64 or fits)


def round_size(rows: int, kept: int, drawn: int) -> int:
    """Candidates for the next round of a block of ``rows`` rows."""
    if kept == 0:
        return rows
    wanted = (rows - kept) * drawn / kept
    return min(rows, math.ceil(wanted * 1.1) + 16)


def make_block(source: RowSource, seed: int, block: int, conditions: Any, need: int,
               meter: Meter | None = None, describe_conditions: str = "") -> Table:
    """The first ``need`` rows (at most ``R``) of block ``block``."""
    rows = source.block_rows
    need = min(need, rows)
    parts: list[Table] = []
    kept = drawn = 0
    round_ = 0
    while kept < need:
        size = round_size(rows, kept, drawn)
        result = source.draw(DrawKey(seed, block, round_), size, conditions)
        drawn += size
        kept += result.table.num_rows
        if result.table.num_rows:
            parts.append(result.table)
        if meter is not None:
            meter.drew(size, result.table.num_rows)
        if kept == 0 and drawn >= MAX_EMPTY_CANDIDATES:
            raise SamplingError(
                f"the condition on {describe_conditions or 'these columns'} is practically "
                f"impossible for this generator: no match among {drawn:,} candidate rows"
            )
        round_ += 1
    table = parts[0] if len(parts) == 1 else Table.concat(parts)
    if table.num_rows > need:
        table = table.slice(0, need)
    return number_sequences(table, block * rows)


def number_sequences(table: Table, first_row: int) -> Table:
    """Give ``sequence`` id columns the output row numbers (1-based)."""
    sequences = [c for c in table.columns if c.kind == "id" and c.style == "sequence"]
    if not sequences:
        return table
    values = dict(table.items())
    numbers = np.arange(first_row + 1, first_row + table.num_rows + 1, dtype=np.int64)
    for column in sequences:
        current = values[column.name]
        if current.dtype.kind == "f":  # null where the row's source has no such column
            values[column.name] = np.where(np.isnan(current), np.nan, numbers)
        else:
            values[column.name] = numbers
    return Table(table.columns, values, codes=table.codes)


def partition_rows(n: int, rows: int, partition: int, partitions: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of partition ``partition`` of ``partitions``.

    The ``ceil(n / rows)`` blocks are split as evenly as whole blocks allow;
    partitions beyond the number of blocks are empty.
    """
    blocks = -(-n // rows)
    first = partition * blocks // partitions
    last = (partition + 1) * blocks // partitions
    return min(first * rows, n), min(last * rows, n)


__all__ = (
    "BLOCK_BYTES",
    "BLOCK_FLOPS",
    "DEFAULT_BLOCK_ROWS",
    "DrawKey",
    "Drawn",
    "MAX_EMPTY_CANDIDATES",
    "Meter",
    "NAME",
    "RowSource",
    "VERSION",
    "block_rows",
    "child_seed",
    "describe",
    "make_block",
    "number_sequences",
    "partition_rows",
    "rng",
    "round_size",
)
