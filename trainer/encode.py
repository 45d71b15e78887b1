"""Table rows to model tokens (inverse: ``provisioner/decode.py``).

Each row is encoded using only that row and the released schema, never
statistics of other rows: that keeps one row's influence on the training
input to its own tokens, which the DP-SGD sensitivity analysis relies on.
"""

from __future__ import annotations

import numpy as np

from provisioner.schema import Column, Grid, Schema
from trainer.column_types import TypedColumn, TypedTable


def encode_categorical(column: Column, typed: TypedColumn, fallback: int | None) -> np.ndarray:
    index = {value: i for i, value in enumerate(column.categories)}
    rare = column.rare_token
    null = column.null_token
    if null is None:
        null = fallback if fallback is not None else 0
    tokens = np.empty(len(typed), dtype=np.int32)
    for i, (value, is_null) in enumerate(zip(typed.values.tolist(), typed.null.tolist())):
        if is_null:
            tokens[i] = null
        elif value in index:
            tokens[i] = index[value]
        elif rare is not None:
            tokens[i] = rare
        else:
            # parsing reads values outside a closed category list as null
            raise AssertionError(f"internal: column {column.name!r} holds a value outside "
                                 "its categories")
    return tokens


def grid_tokens(grid: Grid, values: np.ndarray) -> np.ndarray:
    """Bin token of each value; values outside the grid are clipped into its end cells."""
    edges = np.asarray(grid.cell_edges)
    cells = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right") - 1
    cells = np.clip(cells, 0, len(edges) - 2)
    return np.searchsorted(np.asarray(grid.bin_starts), cells, side="right") - 1


def encode_grid(column: Column, typed: TypedColumn, fallback: int | None) -> np.ndarray:
    """Values to bin tokens (:func:`grid_tokens`), nulls to the null token."""
    tokens = grid_tokens(column.grid, typed.values)
    null = column.null_token
    if null is None:
        null = fallback if fallback is not None else 0
    return np.where(typed.null, null, tokens).astype(np.int32)


def encode_table(table: TypedTable, schema: Schema,
                 null_fallback: dict[str, int] | None = None) -> np.ndarray:
    """(rows, modelled columns) int32 tokens in schema order."""
    fallback = null_fallback or {}
    out = []
    for column in schema.modelled:
        typed = table.column(column.name)
        if column.kind == "categorical":
            out.append(encode_categorical(column, typed, fallback.get(column.name)))
        else:
            out.append(encode_grid(column, typed, fallback.get(column.name)))
    return np.stack(out, axis=1)
