"""Tokens back to column values (inverse of ``trainer/encode.py``).

Decoding is post-processing of the generator: it reads only the schema and
the randomness it is given, never data.

Values come back as numpy arrays:

    categorical string   object array of str, None for null (a text column's
                         rare token: a fresh filler string per row)
    categorical boolean  object array of bool, None for null
    categorical integer  int64, or object with None when nullable
    numeric integer      int64, or float64 with NaN when nullable
    numeric float        float64 with NaN for null
    datetime             datetime64[unit] with NaT for null
    id                   int64 (sequence) or object array of str
"""

from __future__ import annotations

import functools

import numpy as np

from provisioner.schema import Column, Grid, pattern_units

_HEX = np.array(list("0123456789abcdef"))
_DIGITS = np.array(list("0123456789"))
_UPPER = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_LOWER = np.array(list("abcdefghijklmnopqrstuvwxyz"))
_PATTERN_CLASSES = {"9": _DIGITS, "A": _UPPER, "a": _LOWER, "x": _HEX}


def decode_column(
    column: Column, tokens: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Values of a modelled column from its tokens."""
    tokens = np.asarray(tokens, dtype=np.int64)
    if column.kind == "categorical":
        values = decode_categorical(column, tokens)
        if column.filler is not None:
            fill_rare(column, tokens, values, rng)
        return values
    if column.kind == "numeric":
        return decode_numeric(column, tokens, rng)
    if column.kind == "datetime":
        return decode_datetime(column, tokens, rng)
    raise ValueError(f"column {column.name!r} of kind {column.kind} has no tokens")


def category_labels(column: Column) -> list:
    """The value of each token of a categorical column (None for null)."""
    labels = list(column.categories)
    if column.rare_label is not None:
        labels.append(column.rare_label)
    if column.nullable:
        labels.append(None)
    return labels


def decode_categorical(column: Column, tokens: np.ndarray) -> np.ndarray:
    labels = category_labels(column)
    if column.value_type == "integer" and not column.nullable:
        return np.asarray(labels, dtype=np.int64)[tokens]
    table = np.empty(len(labels), dtype=object)
    table[:] = labels
    return table[tokens]


def fill_rare(column: Column, tokens: np.ndarray, values: np.ndarray,
              rng: np.random.Generator) -> None:
    """A text column: each row holding the rare token gets a fresh filler string.

    The strings come from ``rng`` (the values stream of the round), drawn
    for the rare rows in order, so a seed gives the same fillers however the
    work is split.
    """
    rare = np.flatnonzero(tokens == column.rare_token)
    if len(rare):
        values[rare] = pattern_strings(column.filler, len(rare), rng)


def _grid_ticks(grid: Grid, bins: np.ndarray, rng: np.random.Generator,
                scale: float) -> np.ndarray:
    """For each bin token: a cell by weight, then a uniform multiple of 1/scale in it.

    Returns integers counting units of 1/scale (scale = 10^decimals for floats,
    1 for integer and datetime columns).
    """
    keys, starts, ends, first, count = _grid_tables(grid, scale)
    u = rng.random(len(bins))
    cell = np.searchsorted(keys, bins + u, side="right")
    cell = np.clip(cell, starts[bins], ends[bins] - 1)
    # floor(u * count) by truncation: u * count >= 0
    return first[cell] + (rng.random(len(bins)) * count[cell]).astype(np.int64)


@functools.lru_cache(maxsize=256)
def _grid_tables(grid: Grid, scale: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Search keys, bin start/end cells, and each cell's ticks (computed once).

    The keys are each bin's cumulative weights (restarting at every bin; an
    all-zero bin is uniform) plus the bin index, so one sorted array serves
    a search inside any bin: bin b's cells hold keys in (b, b + 1].

    Cell i holds the ticks (multiples of 1/scale) ceil(lo) .. ceil(hi) - 1 of
    its edges [lo, hi) scaled: ``first[i]`` and ``count[i]`` of them. A cell
    narrower than one tick yields round(lo).
    """
    edges = np.asarray(grid.cell_edges, dtype=np.float64)
    weights = np.asarray(grid.cell_weights, dtype=np.float64)
    starts = np.asarray(grid.bin_starts, dtype=np.int64)
    ends = np.append(starts[1:], len(weights))
    cum = np.empty_like(weights)
    for a, b in zip(starts, ends):
        w = weights[a:b]
        w = w if w.sum() > 0 else np.ones_like(w)
        cum[a:b] = np.cumsum(w) / w.sum()
    keys = cum + np.repeat(np.arange(len(starts)), ends - starts)
    lo, hi = edges[:-1] * scale, edges[1:] * scale
    first = np.ceil(lo - 1e-9)
    count = np.ceil(hi - 1e-9) - first
    empty = count < 1
    first = np.where(empty, np.round(lo), first).astype(np.int64)
    count = np.where(empty, 1.0, count)
    for array in (keys, starts, ends, first, count):
        array.setflags(write=False)
    return keys, starts, ends, first, count


def decode_numeric(column: Column, tokens: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    grid = column.grid
    null = tokens == column.null_token if column.nullable else np.zeros(len(tokens), bool)
    bins = np.where(null, 0, tokens)
    if column.value_type == "integer":
        values = _grid_ticks(grid, bins, rng, 1.0)
        if column.decimals < 0:
            step = 10 ** (-column.decimals)
            values = (np.round(values / step) * step).astype(np.int64)
        if column.nullable:
            values = values.astype(np.float64)
            values[null] = np.nan
        return values
    scale = 10.0 ** column.decimals
    values = np.round(_grid_ticks(grid, bins, rng, scale) / scale, max(column.decimals, 0))
    values[null] = np.nan
    return values


def decode_datetime(column: Column, tokens: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    null = tokens == column.null_token if column.nullable else np.zeros(len(tokens), bool)
    bins = np.where(null, 0, tokens)
    ticks = _grid_ticks(column.grid, bins, rng, 1.0)
    values = ticks.astype(f"datetime64[{column.unit}]")
    values[null] = np.datetime64("NaT")
    return values


def value_dtype(column: Column) -> np.dtype:
    """The numpy dtype this module gives the values of ``column`` (table above)."""
    if column.kind == "datetime":
        return np.dtype(f"datetime64[{column.unit}]")
    if column.kind == "numeric":
        if column.value_type == "integer" and not column.nullable:
            return np.dtype(np.int64)
        return np.dtype(np.float64)
    if column.kind == "id" and column.style == "sequence":
        return np.dtype(np.float64 if column.nullable else np.int64)
    if column.kind == "categorical" and column.value_type == "integer" \
            and not column.nullable:
        return np.dtype(np.int64)
    return np.dtype(object)


def null_values(column: Column, count: int) -> np.ndarray:
    """``count`` nulls in the representation of ``column`` (it must be nullable
    or allow NaN)."""
    dtype = value_dtype(column)
    if dtype.kind == "M":
        return np.full(count, np.datetime64("NaT"), dtype=dtype)
    if dtype.kind == "f":
        return np.full(count, np.nan)
    if dtype.kind == "O":
        return np.full(count, None, dtype=object)
    raise ValueError(f"column {column.name!r} cannot hold nulls")


def table_bytes_per_row(columns: tuple[Column, ...] | list[Column]) -> int:
    """Bytes one decoded row holds in a :class:`~provisioner.table.Table`.

    Eight bytes per value (an int64, float64, datetime64 or object
    reference), four more for a string column's codes, and the string
    objects of fresh identifiers, which no other row shares.
    """
    total = 0
    for column in columns:
        total += 8
        if column.kind == "categorical" and column.value_type == "string":
            total += 4
        if column.kind == "id" and column.style != "sequence":
            total += 64 + 4 * _id_length(column)
        if column.filler is not None:  # every row may hold a filler of its own
            total += 64 + 4 * pattern_units(column.filler)
    return total


def decoding_bytes_per_row(columns: tuple[Column, ...] | list[Column]) -> int:
    """An upper bound on the temporary memory decoding one row needs.

    Columns are decoded one at a time: the largest one counts. A grid draw
    holds about ten int64/float64 arrays; an identifier holds one entry per
    character while it is assembled.
    """
    largest = 96
    for column in columns:
        if column.kind == "id" and column.style != "sequence":
            largest = max(largest, 32 * _id_length(column) + 128)
        if column.filler is not None:
            largest = max(largest, 32 * pattern_units(column.filler) + 128)
    return largest


def _id_length(column: Column) -> int:
    if column.style == "uuid":
        return 32
    return len(column.pattern or "")


def make_ids(column: Column, first_row: int, count: int,
             rng: np.random.Generator) -> np.ndarray:
    """Fresh identifiers for rows ``first_row .. first_row + count - 1``."""
    if column.style == "sequence":
        return np.arange(first_row + 1, first_row + count + 1, dtype=np.int64)
    if column.style == "uuid":
        return _join_bytes([_HEX_BYTES[rng.integers(0, 16, size=(count, 32))]])
    return pattern_strings(column.pattern, count, rng)


def pattern_strings(pattern: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` fresh strings of an id pattern or filler template (HZG.md 6.5)."""
    pieces = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            literal, i = pattern[i + 1], i + 2
        else:
            literal, i = ch, i + 1
            alphabet = _PATTERN_BYTES.get(ch)
            if alphabet is not None:
                pieces.append(alphabet[rng.integers(0, len(alphabet), size=count)][:, None])
                continue
        encoded = np.frombuffer(literal.encode("utf-8"), np.uint8)
        pieces.append(np.broadcast_to(encoded, (count, len(encoded))))
    if not pieces:
        return np.full(count, "", object)
    return _join_bytes(pieces)


_HEX_BYTES = np.frombuffer(b"0123456789abcdef", np.uint8)
_PATTERN_BYTES = {key: np.frombuffer("".join(chars.tolist()).encode(), np.uint8)
                  for key, chars in _PATTERN_CLASSES.items()}


def _join_bytes(pieces: list[np.ndarray]) -> np.ndarray:
    """Rows of UTF-8 bytes (count x width pieces) -> an object array of str.

    One C-level pass builds every row's bytes; only the final decode is per
    row, so a 128-character pattern costs one call per row, not 128.
    """
    matrix = np.ascontiguousarray(np.concatenate(pieces, axis=1), dtype=np.uint8)
    count, width = matrix.shape
    out = np.empty(count, dtype=object)
    if width == 0:
        out[:] = ""
        return out
    rows = matrix.view(f"S{width}").ravel().tolist()
    out[:] = [row.decode("utf-8") for row in rows]
    return out
