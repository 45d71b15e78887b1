"""A batch of synthetic rows as named numpy columns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from provisioner.decode import category_labels, value_dtype
from provisioner.errors import MissingDependency
from provisioner.schema import Column


class Table(Mapping[str, np.ndarray]):
    """Columns of equal length, in schema order.

    ``table["age"]`` is a numpy array; ``to_pandas()`` and ``to_arrow()``
    convert when pandas or pyarrow are installed (nullable integer columns
    become pandas ``Int64``, boolean ones ``bool`` or ``boolean``).

    ``codes`` optionally holds, for string categorical columns, each row's
    index into ``category_labels(column)``: the same values in a form that
    Arrow turns into strings without touching a Python object per row.
    """

    def __init__(self, columns: Sequence[Column], values: Mapping[str, np.ndarray], *,
                 codes: Mapping[str, np.ndarray] | None = None) -> None:
        self._columns = tuple(columns)
        self._values = {c.name: values[c.name] for c in self._columns}
        self._codes = {name: array for name, array in (codes or {}).items()
                       if name in self._values}
        lengths = {len(v) for v in (*self._values.values(), *self._codes.values())}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths {sorted(lengths)}")
        self.num_rows = lengths.pop() if lengths else 0

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def codes(self) -> Mapping[str, np.ndarray]:
        return dict(self._codes)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Table({self.num_rows} rows: {', '.join(self._values)})"

    def slice(self, start: int, stop: int) -> Table:
        return Table(self._columns, {k: v[start:stop] for k, v in self._values.items()},
                     codes={k: v[start:stop] for k, v in self._codes.items()})

    def take(self, indices: np.ndarray) -> Table:
        """The rows at ``indices``, in that order."""
        return Table(self._columns, {k: v[indices] for k, v in self._values.items()},
                     codes={k: v[indices] for k, v in self._codes.items()})

    @classmethod
    def empty(cls, columns: Sequence[Column]) -> Table:
        """No rows, with the dtypes sampled columns have."""
        values = {c.name: np.empty(0, dtype=value_dtype(c)) for c in columns}
        codes = {c.name: np.empty(0, dtype=np.int32) for c in columns
                 if c.kind == "categorical" and c.value_type == "string"}
        return cls(columns, values, codes=codes)

    @staticmethod
    def concat(tables: Sequence[Table]) -> Table:
        """Rows of ``tables`` one after the other, columns matched by name.

        Tables whose columns differ (say, two generators' category lists)
        are first brought to one set of columns by
        :func:`provisioner.reconcile.reconcile` (union): categorical codes
        are remapped, never reused by position.
        """
        if not tables:
            raise ValueError("nothing to concatenate")
        columns = tables[0].columns
        if any(t.columns != columns for t in tables[1:]):
            from provisioner.reconcile import reconcile

            united = reconcile([(f"table {i}", t.columns) for i, t in enumerate(tables)])
            tables = [m.table(t) for m, t in zip(united.mappings, tables)]
            columns = united.columns
        coded = set.intersection(*(set(t._codes) for t in tables))
        return Table(columns, {c.name: np.concatenate([t[c.name] for t in tables])
                               for c in columns},
                     codes={name: np.concatenate([t._codes[name] for t in tables])
                            for name in coded})

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependency("to_pandas() needs pandas: pip install pandas") from None
        data = {}
        string_dtype = _arrow_string_dtype(pd) if self._codes else None
        for column in self._columns:
            values = self._values[column.name]
            if _is_nullable_integer(column):
                if values.dtype.kind == "f":  # NaN marks null
                    data[column.name] = pd.Series(values).astype("Int64").array
                else:
                    data[column.name] = pd.array(values.tolist(), dtype="Int64")
            elif column.kind == "categorical" and column.value_type == "boolean":
                # bool, not object: Dask would turn object columns into strings
                data[column.name] = (pd.array(values.tolist(), dtype="boolean")
                                     if column.nullable else values.astype(bool))
            elif column.name in self._codes and string_dtype is not None:
                data[column.name] = pd.array(self._arrow_strings(column, large=True),
                                             dtype=string_dtype)
            elif column.kind == "datetime" and column.timezone is not None:
                from provisioner.timezones import tzinfo

                # instants counted from UTC, shown in the column's zone
                utc = pd.Series(values).dt.tz_localize("UTC")
                data[column.name] = utc.dt.tz_convert(tzinfo(column.timezone)).array
            else:
                data[column.name] = values
        # copy=False: no second copy of the numeric columns (the frame shares
        # their memory with this table)
        return pd.DataFrame(data, columns=[c.name for c in self._columns], copy=False)

    def to_arrow(self) -> Any:
        try:
            import pyarrow as pa
        except ImportError:
            raise MissingDependency("to_arrow() needs pyarrow: pip install 'hzg[parquet]'") \
                from None
        arrays = {}
        for column in self._columns:
            values = self._values[column.name]
            if _is_nullable_integer(column):
                if values.dtype.kind == "f":  # NaN marks null
                    mask = np.isnan(values)
                else:
                    mask = np.array([v is None for v in values.tolist()], dtype=bool)
                filled = np.where(mask, 0, values).astype(np.int64)
                arrays[column.name] = pa.array(filled, mask=mask, type=pa.int64())
            elif column.name in self._codes:
                arrays[column.name] = self._arrow_strings(column)
            elif column.kind == "datetime" and column.timezone is not None:
                # Arrow stores UTC instants; the zone is the type's label
                arrays[column.name] = pa.array(values, from_pandas=True).cast(
                    pa.timestamp(column.unit, tz=_arrow_zone(column.timezone)))
            else:  # from_pandas: NaN and NaT become nulls
                arrays[column.name] = pa.array(values, from_pandas=True)
        return pa.table(arrays)

    def _arrow_strings(self, column: Column, *, large: bool = False) -> Any:
        """A string column as an Arrow array, decoded from its codes.

        Decoding a dictionary array is 4x faster here than ``take`` on labels
        holding a null. ``large``: large_string, what pandas' Arrow-backed str
        dtype holds (no cast there); else string, as ``pa.array`` would type it.
        """
        import pyarrow as pa

        kind = pa.large_string() if large else pa.string()
        labels = pa.array(category_labels(column), type=kind)
        coded = pa.DictionaryArray.from_arrays(pa.array(self._codes[column.name]), labels)
        return coded.cast(kind)


def _arrow_zone(name: str) -> str:
    from provisioner.timezones import fixed_offset, zone_info

    if name == "UTC" or fixed_offset(name) is not None or zone_info(name) is not None:
        return name
    return "UTC"


def _arrow_string_dtype(pd: Any) -> Any:
    """pandas' default string dtype when it is Arrow-backed (pandas >= 3 with
    pyarrow), else None. Building it from codes avoids pandas checking a
    million Python strings one by one (0.1 s per column per million rows)."""
    dtype = pd.Series(["x"]).dtype
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return None
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    return dtype


def _is_nullable_integer(column: Column) -> bool:
    if not column.nullable:
        return False
    return column.value_type == "integer" and column.kind in ("numeric", "categorical", "id")
