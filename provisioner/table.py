"""A batch of synthetic rows as named numpy columns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from provisioner.errors import MissingDependency
from provisioner.schema import Column


class Table(Mapping[str, np.ndarray]):
    """Columns of equal length, in schema order.

    ``table["age"]`` is a numpy array; ``to_pandas()`` and ``to_arrow()``
    convert when pandas or pyarrow are installed (nullable integer columns
    become pandas ``Int64``).
    """

    def __init__(self, columns: Sequence[Column], values: Mapping[str, np.ndarray]) -> None:
        self._columns = tuple(columns)
        self._values = {c.name: values[c.name] for c in self._columns}
        lengths = {len(v) for v in self._values.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths {sorted(lengths)}")
        self.num_rows = lengths.pop() if lengths else 0

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Table({self.num_rows} rows: {', '.join(self._values)})"

    def slice(self, start: int, stop: int) -> Table:
        return Table(self._columns, {k: v[start:stop] for k, v in self._values.items()})

    @staticmethod
    def concat(tables: Sequence[Table]) -> Table:
        if not tables:
            raise ValueError("nothing to concatenate")
        columns = tables[0].columns
        return Table(columns, {c.name: np.concatenate([t[c.name] for t in tables])
                               for c in columns})

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependency("to_pandas() needs pandas: pip install pandas") from None
        data = {}
        for column in self._columns:
            values = self._values[column.name]
            if _is_nullable_integer(column):
                if values.dtype.kind == "f":  # NaN marks null
                    data[column.name] = pd.Series(values).astype("Int64").array
                else:
                    data[column.name] = pd.array(values.tolist(), dtype="Int64")
            elif column.kind == "categorical" and column.value_type == "boolean" \
                    and column.nullable:
                data[column.name] = pd.array(values.tolist(), dtype="boolean")
            else:
                data[column.name] = values
        return pd.DataFrame(data, columns=[c.name for c in self._columns])

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
            else:  # from_pandas: NaN and NaT become nulls
                arrays[column.name] = pa.array(values, from_pandas=True)
        return pa.table(arrays)


def _is_nullable_integer(column: Column) -> bool:
    if not column.nullable:
        return False
    return column.value_type == "integer" and column.kind in ("numeric", "categorical")
