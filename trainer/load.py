"""Read a table: the first step of training.

Input is a CSV file (optionally gzip-compressed), a Parquet file (with
pyarrow) or a pandas DataFrame. CSV cells are read as text and typed by
``trainer.column_types``, so integer-ness, decimal places and leading zeros
are seen as written; only an empty cell is null unless ``null_values`` says
otherwise.

Every problem found is reported at once, one line each, in a single
:class:`~provisioner.errors.InputDataError`.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioner.errors import InputDataError, MissingDependency
from provisioner.schema import name_problem
from trainer.column_types import TypedColumn, TypedTable, type_column

__all__ = ("read_csv", "read_table")


# --- reading -----------------------------------------------------------------


def read_csv(path: Path, *, encoding: str = "utf-8",
             null_values: Sequence[str] = ("",)) -> tuple[list[str], list[list[str | None]]]:
    """Header and text columns of a CSV file; raggedness and encoding are errors."""
    opener = gzip.open if path.suffix == ".gz" else open
    nulls = set(null_values)
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
                if len(row) != width:
                    if not row:
                        continue  # blank line
                    ragged.append(f"line {reader.line_num} has {len(row)} fields, not {width}")
                    if len(ragged) >= 5:
                        break
                    continue
                for cell, column in zip(row, columns):
                    column.append(None if cell in nulls else cell)
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"{path} is not valid {encoding} (byte {exc.object[exc.start:exc.start + 1]!r} "
            f"at offset {exc.start} of a read chunk); convert it or pass --encoding"
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
               kinds: Mapping[str, str] | None = None,
               drop: Sequence[str] = ()) -> TypedTable:
    """Read and type a table from a path (CSV, CSV.gz, Parquet) or a DataFrame.

    Args:
      source: file path or pandas DataFrame.
      encoding: text encoding of CSV files.
      null_values: CSV cells read as null.
      kinds: declared kinds by column name (``"categorical"``, ``"numeric"``,
        ``"datetime"``, ``"id"``); others are inferred.
      drop: columns to leave out entirely.
    """
    kinds = dict(kinds or {})
    raw: dict[str, Any]
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
            raw = dict(zip(header, columns))
    # names a bundle cannot hold are refused now, not after training
    problems: list[str] = [p for p in map(name_problem, raw) if p is not None]
    unknown = sorted(set(drop) - set(raw))
    if unknown:
        problems.append(f"cannot drop {unknown}: no such column(s) in {label}")
    names = [name for name in raw if name not in set(drop)]
    rows = len(next(iter(raw.values()))) if raw else 0
    if rows == 0:
        raise InputDataError(f"{label} has a header but no rows")
    if not names:
        raise InputDataError(f"{label}: every column was dropped")
    typed: list[TypedColumn] = []
    for name in names:
        try:
            typed.append(type_column(name, raw[name], kinds.get(name)))
        except InputDataError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputDataError(problems)
    return TypedTable(typed, label)


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


def _from_frame(frame: Any) -> dict[str, Any]:
    import pandas as pd

    if len(set(map(str, frame.columns))) != len(frame.columns):
        raise InputDataError("the DataFrame has duplicate column names")
    out: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(
                series.dtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
            out[str(name)] = series
        else:
            out[str(name)] = [None if v is None or (isinstance(v, float) and v != v)
                              or v is pd.NA else str(v) for v in series.tolist()]
    return out


