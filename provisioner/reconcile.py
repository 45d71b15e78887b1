"""One set of output columns for the tables of several generators.

Columns are matched by name. ``union`` keeps every column (a column a
source lacks is null in that source's rows); ``intersect`` keeps the columns
every source has. A matched column becomes one column:

* categorical: the categories are united in first-seen order and each
  source's tokens are remapped to the united ones (never reused by
  position). A value one owner folded into its rare token stays rare in
  that owner's rows: the owner's rows show its rare label, never a category
  only another owner released. Text columns (categorical with a filler) are
  categorical here: the frequent values are united the same way, and each
  owner's rare rows keep what that owner's generator made of them (its
  fillers, or its rare label).
* numeric: float if any source holds floats, with the most decimals any
  source has; the range spans every source's range. A categorical integer
  column (a few distinct values) meets a numeric one as numeric.
* datetime: the finest unit any source has; the format when all agree,
  else ISO text; the time zone when all agree, else UTC (instants are UTC
  at every owner; wall-clock times meet instants only as an error).
* id: fresh identifiers of the same value type; sequence numbers count the
  rows of the whole output.
* nullable if it is nullable anywhere, or absent from some source.

Anything else (a categorical at one owner and numeric at another, say) is
an error naming the column and both kinds. A kind this reader does not
know reconciles only when every source describes the column identically.
The union's ranges and categories are those the owners already released:
reconciling reads nothing but their schemas and costs no privacy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from provisioner.decode import category_labels, null_values, value_dtype
from provisioner.errors import AggregationError
from provisioner.schema import Column, Grid
from provisioner.table import Table

MODES = ("union", "intersect")
_UNITS = ("D", "s", "ms", "us")
_WEAKEST_ORIGIN = ("exact", "dp", "public")  # what a united column claims


@dataclasses.dataclass(frozen=True)
class Reconciled:
    """The united columns and, per source, how its tables become united ones."""

    columns: tuple[Column, ...]
    mappings: tuple[TableMapping, ...]


@dataclasses.dataclass(frozen=True)
class ColumnMapping:
    """How one source's column (or its absence) becomes a united column."""

    target: Column
    source: Column | None
    code_map: np.ndarray | None = None  # categorical string: source token -> united token

    def values(self, table: Table, rows: int) -> np.ndarray:
        if self.source is None:
            if self.target.kind == "id" and self.target.style == "sequence":
                return np.full(rows, np.nan)
            return null_values(self.target, rows)
        values = table[self.source.name]
        if self.source is self.target or self.source == self.target:
            return values
        return _convert(values, self.source, self.target)

    def codes(self, table: Table, rows: int) -> np.ndarray | None:
        if self.target.kind != "categorical" or self.target.value_type != "string" \
                or self.target.filler is not None:  # fillers have no code
            return None
        if self.source is None:
            return np.full(rows, self.target.null_token, dtype=np.int32)
        codes = table.codes.get(self.source.name)
        if codes is None:  # a table without codes: look the labels up
            index = _label_index(self.target)
            return np.fromiter((index[(type(v), v)] for v in table[self.source.name].tolist()),
                               dtype=np.int32, count=rows)
        if self.code_map is None:
            return codes
        return self.code_map[codes]


@dataclasses.dataclass(frozen=True)
class TableMapping:
    """How one source's tables become tables of the united columns."""

    columns: tuple[ColumnMapping, ...]

    def apply(self, table: Table) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        rows = table.num_rows
        values, codes = {}, {}
        for mapping in self.columns:
            name = mapping.target.name
            values[name] = mapping.values(table, rows)
            code = mapping.codes(table, rows)
            if code is not None:
                codes[name] = code
        return values, codes

    def table(self, table: Table) -> Table:
        values, codes = self.apply(table)
        return Table(tuple(m.target for m in self.columns), values, codes=codes)


def reconcile(sources: Sequence[tuple[str, Sequence[Column]]], mode: str = "union"
              ) -> Reconciled:
    """Unite the columns of ``sources`` (each a label and its columns).

    Raises:
      AggregationError: a column whose kinds cannot be reconciled, an
        unknown mode, or no column common to all sources.
    """
    if mode not in MODES:
        raise AggregationError(f"--columns must be one of {', '.join(MODES)}, not {mode!r}")
    if not sources:
        raise AggregationError("nothing to aggregate: give at least one generator")
    by_source = [{c.name: c for c in columns} for _, columns in sources]
    names: list[str] = []
    for _, columns in sources:
        names.extend(c.name for c in columns if c.name not in names)
    if mode == "intersect":
        names = [n for n in names if all(n in s for s in by_source)]
        if not names:
            raise AggregationError("the generators have no column in common; "
                                   "use --columns union")
    united = []
    for name in names:
        present = [(label, s.get(name)) for (label, _), s in zip(sources, by_source)]
        united.append(unite(name, present))
    mappings = []
    for s in by_source:
        mappings.append(TableMapping(tuple(
            _mapping(target, s.get(target.name)) for target in united)))
    return Reconciled(tuple(united), tuple(mappings))


def unite(name: str, present: Sequence[tuple[str, Column | None]]) -> Column:
    """One column from the versions of ``name`` (None where a source lacks it)."""
    columns = [(label, c) for label, c in present if c is not None]
    absent = len(columns) < len(present)
    first = columns[0][1]
    nullable = absent or any(c.nullable for _, c in columns)
    origin = next(o for o in _WEAKEST_ORIGIN + (first.metadata,)
                  if any(c.metadata == o for _, c in columns))
    if all(c == first for _, c in columns):
        return dataclasses.replace(first, nullable=nullable or first.nullable,
                                   metadata=origin) if nullable != first.nullable else first
    kinds = {_kind(c) for _, c in columns}
    if kinds <= {"categorical string"} or kinds <= {"categorical boolean"} \
            or kinds <= {"categorical integer"}:
        return _unite_categorical(name, [c for _, c in columns], nullable, origin)
    if kinds <= {"numeric integer", "numeric float", "categorical integer"}:
        return _unite_numeric(name, [c for _, c in columns], nullable, origin)
    if kinds == {"datetime"}:
        return _unite_datetime(name, [c for _, c in columns], nullable, origin)
    if kinds <= {"id integer"} or kinds <= {"id string"}:
        style = first.style if all(c.style == first.style for _, c in columns) else "pattern"
        pattern = first.pattern if style == "pattern" else None
        if style == "pattern" and pattern is None:
            pattern = next(c.pattern for _, c in columns if c.pattern is not None)
        return dataclasses.replace(first, nullable=absent, metadata=origin, style=style,
                                   pattern=pattern)
    (label_a, a), (label_b, b) = _first_disagreement(columns)
    if _kind(a) == _kind(b):
        raise AggregationError(
            f"column {name!r} is {_kind(a)} at {label_a} and at {label_b}, but described "
            "differently in ways this reader cannot reconcile; upgrade hzg or ask the "
            "owners to agree on it")
    raise AggregationError(
        f"column {name!r} is {_kind(a)} at {label_a} but {_kind(b)} at {label_b}; "
        "ask the owners to agree on its kind")


def _kind(column: Column) -> str:
    if column.kind == "datetime":
        return "datetime"
    return f"{column.kind} {column.value_type}"


def _first_disagreement(columns: list[tuple[str, Column]]
                        ) -> tuple[tuple[str, Column], tuple[str, Column]]:
    base = columns[0]
    for other in columns[1:]:
        if _kind(other[1]) != _kind(base[1]):
            return base, other
    return base, next(o for o in columns[1:] if o[1] != base[1])


def _unite_categorical(name: str, columns: list[Column], nullable: bool,
                       origin: str) -> Column:
    rare_labels = [c.rare_label for c in columns if c.rare_label is not None]
    rare = rare_labels[0] if rare_labels else None
    categories: list = []
    seen: set = set()
    for column in columns:
        for value in (*column.categories, *(r for r in [column.rare_label] if r != rare)):
            key = (type(value), value)  # 1 and True are different values here
            if value is not None and value != rare and key not in seen:
                seen.add(key)
                categories.append(value)
    first = columns[0]
    # a text column anywhere makes the united column text: its rows may hold
    # fillers (the first owner's template stands for them in the schema)
    filler = next((c.filler for c in columns if c.filler is not None), None)
    return Column(name, "categorical", first.value_type, nullable, origin,
                  categories=tuple(categories), rare_label=rare, filler=filler)


def _unite_numeric(name: str, columns: list[Column], nullable: bool, origin: str) -> Column:
    floats = any(c.kind == "numeric" and c.value_type == "float" for c in columns)
    lows, highs, decimals = [], [], []
    for column in columns:
        if column.kind == "categorical":
            lows.append(float(min(column.categories, default=0)))
            highs.append(float(max(column.categories, default=0)) + 1)
            decimals.append(0)
        else:
            lows.append(column.grid.cell_edges[0])
            highs.append(column.grid.cell_edges[-1])
            decimals.append(column.decimals)
    lo, hi = min(lows), max(highs)
    grid = Grid((lo, hi if hi > lo else lo + 1), (1.0,), (0,))
    return Column(name, "numeric", "float" if floats else "integer", nullable, origin,
                  decimals=max(decimals) if floats else min(max(decimals), 0), grid=grid)


def _unite_datetime(name: str, columns: list[Column], nullable: bool, origin: str) -> Column:
    unit = max((c.unit for c in columns), key=_UNITS.index)
    formats = {c.format for c in columns}
    fmt = formats.pop() if len(formats) == 1 else None
    zones = {c.timezone for c in columns}
    if None in zones and len(zones) > 1:
        raise AggregationError(
            f"column {name!r} holds instants with a time zone at one owner and wall-clock "
            "times without one at another; retrain one of them so that both agree")
    # instants are UTC ticks at every owner: shown in their zone when all agree
    zone = zones.pop() if len(zones) == 1 else "UTC"

    def in_unit(column: Column, edge: float) -> float:
        stamp = np.int64(edge).astype(f"datetime64[{column.unit}]")
        return float(stamp.astype(f"datetime64[{unit}]").astype(np.int64))

    lo = min(in_unit(c, c.grid.cell_edges[0]) for c in columns)
    hi = max(in_unit(c, c.grid.cell_edges[-1]) for c in columns)
    grid = Grid((lo, hi if hi > lo else lo + 1), (1.0,), (0,))
    return Column(name, "datetime", "datetime", nullable, origin, grid=grid, unit=unit,
                  format=fmt, timezone=zone)


def _label_index(column: Column) -> dict[tuple[type, object], int]:
    """(type, label) -> token of a categorical column; the type keeps True and 1
    apart."""
    index: dict[tuple[type, object], int] = {}
    for token, label in enumerate(category_labels(column)):
        index.setdefault((type(label), label), token)
    return index


def _mapping(target: Column, source: Column | None) -> ColumnMapping:
    if source is None or target.kind != "categorical" or source.kind != "categorical":
        return ColumnMapping(target, source)
    if source.categories == target.categories and source.rare_label == target.rare_label \
            and source.nullable == target.nullable:
        return ColumnMapping(target, source)
    index = _label_index(target)
    labels = category_labels(source)
    code_map = np.array([index[(type(label), label)] for label in labels], dtype=np.int32)
    return ColumnMapping(target, source, code_map)


def _convert(values: np.ndarray, source: Column, target: Column) -> np.ndarray:
    """A source column's values in the united column's representation."""
    dtype = value_dtype(target)
    if target.kind == "categorical" and source.kind == "categorical":
        if values.dtype == dtype:
            return values
        out = np.empty(len(values), dtype=object)
        out[:] = values.tolist()
        return out
    if dtype.kind == "M":
        return values.astype(dtype)
    if dtype.kind in "fi":
        if values.dtype.kind == "O":  # nullable categorical integers: None marks null
            out = np.array([np.nan if v is None else v for v in values.tolist()],
                           dtype=np.float64)
            return out if dtype.kind == "f" else out.astype(dtype)
        return values.astype(dtype)
    return values


__all__ = ("MODES", "ColumnMapping", "Reconciled", "TableMapping", "reconcile", "unite")
