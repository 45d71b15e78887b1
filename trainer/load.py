"""Read a table's cells: the first step of training (no typing here).

Input is a CSV file (optionally gzip-compressed), a Parquet file (with
pyarrow) or a pandas DataFrame. CSV cells are kept as text, exactly as
written: which type a column has is decided later, from the owner's
declarations or under DP (``trainer.column_types``). A DataFrame's or
Parquet file's dtype is a declared *storage type* (boolean, integer, float,
datetime, categorical, string): strings stored as strings stay strings, even
when they hold digits.

Reading looks at the file's structure only (header, field counts, text
encoding); a file that cannot be read stops with an error that names the
line, never a cell's value. Every problem found is reported at once, one
line each, in a single :class:`~provisioner.errors.InputDataError`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from provisioner.errors import InputDataError, MissingDependency
from provisioner.schema import name_problem

__all__ = ("STORAGE_TYPES", "NamedColumns", "RawColumn", "RawTable", "read_csv",
           "read_table")

STORAGE_TYPES = ("text", "string", "category", "boolean", "integer", "float", "datetime")
_DATETIME_STORAGE_UNITS = {"s": "s", "ms": "ms", "us": "us", "ns": "us"}


@dataclasses.dataclass
class RawColumn:
    """One column as read: its storage type and its cells, not yet typed.

    Attributes:
      name: column name.
      storage: ``text`` (CSV cells: any type may be read from them),
        ``string`` (a DataFrame's object or string column: strings),
        ``category`` (a pandas categorical: text cells, kind declared
        categorical), ``boolean``, ``integer``, ``float`` or ``datetime``.
      cells: text and category: object array of str (None for null);
        boolean: object array of bool; integer: int64; float: float64;
        datetime: int64 ticks of ``unit`` since the epoch, in UTC.
      null: boolean mask of null cells.
      unit: datetime storage only: tick unit (s, ms or us).
      timezone: datetime storage only: the dtype's time zone, or None.
    """

    name: str
    storage: str
    cells: np.ndarray
    null: np.ndarray
    unit: str | None = None
    timezone: str | None = None

    def __len__(self) -> int:
        return len(self.null)


class NamedColumns:
    """Lookups shared by tables that hold ``columns`` with a ``name`` each."""

    columns: list[Any]

    @property
    def num_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Any:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclasses.dataclass
class RawTable(NamedColumns):
    columns: list[RawColumn]
    source: str

    @classmethod
    def from_text(cls, columns: dict[str, Sequence[str | None]],
                  source: str = "table") -> RawTable:
        """A table of text cells (None for null), as if read from a CSV file."""
        return cls([_text_column(name, list(cells)) for name, cells in columns.items()],
                   source)


def read_csv(path: Path, *, encoding: str = "utf-8",
             null_values: Sequence[str] = ("",)) -> tuple[list[str], list[list[str | None]]]:
    """Header and text columns of a CSV file; raggedness and encoding are errors.

    A UTF-8 byte-order mark is not part of the first column's name.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    nulls = set(null_values)
    try:
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"  # reads files with and without a BOM alike
    except LookupError:
        raise InputDataError(f"unknown text encoding {encoding!r}; pass e.g. "
                             "--encoding latin-1") from None
    line = 0
    try:
        with opener(path, "rt", encoding=encoding, newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                raise InputDataError(f"{path} is empty: no header and no rows") from None
            if len(set(header)) != len(header):
                dup = sorted({h for h in header if header.count(h) > 1})
                raise InputDataError(f"{path}: column name(s) {dup} appear more than once")
            width = len(header)
            columns: list[list[str | None]] = [[] for _ in header]
            ragged: list[str] = []
            for row in reader:
                line = reader.line_num
                if len(row) != width:
                    if not row:
                        continue  # blank line
                    ragged.append(f"line {reader.line_num} has {len(row)} fields, not {width}")
                    if len(ragged) >= 5:
                        break
                    continue
                for cell, column in zip(row, columns):
                    column.append(None if cell in nulls else cell)
    except UnicodeDecodeError:
        shown = encoding.replace("-sig", "")
        raise InputDataError(
            f"{path} is not valid {shown} (near line {line + 1}); pass its encoding, "
            "e.g. --encoding latin-1"
        ) from None
    except (OSError, EOFError, csv.Error) as exc:
        raise InputDataError(f"cannot read {path}: {exc}") from None
    if ragged:
        raise InputDataError([f"{path} is ragged: {r}" for r in ragged])
    if not header or header == [""]:
        raise InputDataError(f"{path} has no columns")
    return header, columns


def read_table(source: str | os.PathLike[str] | Any, *, encoding: str = "utf-8",
               null_values: Sequence[str] = ("",),
               drop: Sequence[str] = ()) -> RawTable:
    """Read the cells of a table from a path (CSV, CSV.gz, Parquet) or a DataFrame.

    Args:
      source: file path or pandas DataFrame.
      encoding: text encoding of CSV files.
      null_values: CSV cells read as null.
      drop: columns to leave out entirely.
    """
    raw: dict[str, RawColumn]
    if hasattr(source, "columns") and hasattr(source, "dtypes"):
        label = "DataFrame"
        raw = _from_frame(source)
    else:
        path = Path(source)
        label = str(path)
        if not path.exists():
            raise InputDataError(f"{path} does not exist")
        if not path.is_file():  # a folder, a FIFO or a device would hang or fail late
            raise InputDataError(f"{path} is not a regular file; give a CSV or Parquet file")
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = _from_frame(_read_parquet(path))
        else:
            header, columns = read_csv(path, encoding=encoding, null_values=null_values)
            raw = {name: _text_column(name, cells) for name, cells in zip(header, columns)}
    # names a bundle cannot hold are refused now, not after training
    problems: list[str] = [p for p in map(name_problem, raw) if p is not None]
    unknown = sorted(set(drop) - set(raw))
    if unknown:
        problems.append(f"cannot drop {unknown}: no such column(s) in {label}")
    if problems:
        raise InputDataError(problems)
    kept = [column for name, column in raw.items() if name not in set(drop)]
    if not kept:
        raise InputDataError(f"{label}: every column was dropped")
    return RawTable(kept, label)


def _text_column(name: str, cells: Sequence[str | None], storage: str = "text") -> RawColumn:
    array = np.empty(len(cells), dtype=object)
    array[:] = list(cells)
    null = np.fromiter((c is None for c in cells), dtype=bool, count=len(cells))
    return RawColumn(name, storage, array, null)


def _read_parquet(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency("reading Parquet needs pyarrow: pip install 'hzg[parquet]'") \
            from None
    try:
        return pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises many types; one line for the user
        raise InputDataError(f"cannot read {path} as Parquet: {exc}") from None


def _from_frame(frame: Any) -> dict[str, RawColumn]:
    import pandas as pd

    if len(set(map(str, frame.columns))) != len(frame.columns):
        raise InputDataError("the DataFrame has duplicate column names")
    out: dict[str, RawColumn] = {}
    for key in frame.columns:
        name = str(key)
        series = frame[key]
        dtype = series.dtype
        null = series.isna().to_numpy(dtype=bool)
        if pd.api.types.is_bool_dtype(dtype):
            cells = np.empty(len(series), dtype=object)
            cells[:] = [None if m else bool(v) for v, m in zip(series.tolist(), null)]
            out[name] = RawColumn(name, "boolean", cells, null)
        elif pd.api.types.is_integer_dtype(dtype):
            cells = series.to_numpy(dtype=np.int64, na_value=0)
            out[name] = RawColumn(name, "integer", cells, null)
        elif pd.api.types.is_float_dtype(dtype):
            cells = series.to_numpy(dtype=np.float64, na_value=np.nan)
            out[name] = RawColumn(name, "float", cells, null)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[name] = _datetime_storage(name, series, null)
        else:
            storage = "category" if isinstance(dtype, pd.CategoricalDtype) else "string"
            cells = [None if m else str(v) for v, m in zip(series.tolist(), null)]
            out[name] = _text_column(name, cells, storage)
    return out


def _datetime_storage(name: str, series: Any, null: np.ndarray) -> RawColumn:
    tz = getattr(series.dt, "tz", None)
    if tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    unit = _DATETIME_STORAGE_UNITS.get(np.datetime_data(series.dtype)[0], "us")
    ticks = series.to_numpy().astype(f"datetime64[{unit}]").astype(np.int64)
    ticks = np.where(null, 0, ticks)
    return RawColumn(name, "datetime", ticks, null, unit=unit,
                     timezone=None if tz is None else str(tz))
