"""Read a table and type its columns (the first step of training).

Input is a CSV file (optionally gzip-compressed), a Parquet file (with
pyarrow) or a pandas DataFrame. CSV cells are read as text and typed here,
so integer-ness, decimal places and leading zeros are seen as written; only
an empty cell is null unless ``null_values`` says otherwise.

Column kinds (categorical, numeric, datetime, id) describe the table's
*domain*, like a database schema. HZG infers them from the table as a
convenience, prints them, and treats them as public; declare them in a
schema file to make them independent of the data. Values, bounds and
category lists are never treated as public unless declared: they go through
DP mechanisms (trainer.metadata).

Every problem found is reported at once, one line each, in a single
:class:`~provisioner.errors.InputDataError`.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from provisioner.errors import InputDataError, MissingDependency

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_BOOL = {"true": True, "false": False}
DATETIME_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
)
MIN_ID_ROWS = 20
MAX_DECIMALS = 9


@dataclasses.dataclass
class TypedColumn:
    """One column with its kind and values in a kind-specific array.

    Attributes:
      name: column name.
      kind: categorical, numeric, datetime or id.
      value_type: string/boolean/integer, integer/float, datetime, or
        integer/string for ids.
      values: categorical and id: object array (None for null); numeric:
        float64 (NaN for null); datetime: int64 ticks of ``unit``.
      null: boolean mask of nulls.
      decimals: numeric floats: decimal places of each value as written
        (-1 for null); None otherwise.
      unit, format: datetime only: tick unit and the text format seen.
    """

    name: str
    kind: str
    value_type: str
    values: np.ndarray
    null: np.ndarray
    decimals: np.ndarray | None = None
    unit: str | None = None
    format: str | None = None

    def __len__(self) -> int:
        return len(self.null)


@dataclasses.dataclass
class TypedTable:
    columns: list[TypedColumn]
    source: str

    @property
    def num_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> TypedColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


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
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = _from_frame(_read_parquet(path))
        else:
            header, columns = read_csv(path, encoding=encoding, null_values=null_values)
            raw = dict(zip(header, columns))
    problems: list[str] = []
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


# --- typing ------------------------------------------------------------------


def type_column(name: str, raw: Any, declared: str | None = None) -> TypedColumn:
    """Type one column from text cells (list) or a typed pandas Series."""
    if not isinstance(raw, list):
        return _type_series(name, raw, declared)
    cells = np.array(raw, dtype=object)
    null = np.array([c is None for c in raw], dtype=bool)
    present = [c for c in raw if c is not None]
    if not present:
        raise InputDataError(
            f"column {name!r} is empty (every cell is null): drop it or declare its kind"
        )
    stripped = [c.strip() for c in present]
    kind = declared or _infer_kind(name, stripped, null)
    if kind == "numeric":
        return _numeric_from_text(name, cells, null, stripped)
    if kind == "datetime":
        return _datetime_from_text(name, cells, null, stripped)
    if kind == "categorical":
        lowered = {s.lower() for s in stripped}
        if declared and all(_INT.match(s) for s in stripped) and not any(
                _leading_zero(s) for s in stripped):
            values = np.array([None if c is None else int(c) for c in raw], dtype=object)
            return TypedColumn(name, "categorical", "integer", values, null)
        if lowered <= set(_BOOL):
            values = np.array([None if c is None else _BOOL[c.strip().lower()] for c in raw],
                              dtype=object)
            return TypedColumn(name, "categorical", "boolean", values, null)
        return TypedColumn(name, "categorical", "string", cells, null)
    if kind == "id":
        if null.any():
            raise InputDataError(f"column {name!r} is declared an id but has nulls")
        if all(_INT.match(s) for s in stripped) and not any(_leading_zero(s) for s in stripped):
            return TypedColumn(name, "id", "integer", cells, null)
        return TypedColumn(name, "id", "string", cells, null)
    raise InputDataError(f"column {name!r}: unknown kind {kind!r}")


def _leading_zero(text: str) -> bool:
    digits = text.lstrip("+-")
    return len(digits) > 1 and digits[0] == "0" and digits[1] != "."


def _infer_kind(name: str, cells: list[str], null: np.ndarray) -> str:
    n = len(cells)
    ints = sum(1 for c in cells if _INT.match(c))
    numbers = sum(1 for c in cells if _FLOAT.match(c))
    unique = len(set(cells)) == n and not null.any() and n >= MIN_ID_ROWS
    if numbers == n and not any(_leading_zero(c) for c in cells):
        if ints == n and unique:
            values = [int(c) for c in cells]
            if max(values) - min(values) + 1 <= 2 * n:
                return "id"  # a near-contiguous unique integer: a row number
        return "numeric"
    if numbers and numbers >= n / 2 and numbers < n:
        example = next(c for c in cells if not _FLOAT.match(c))
        raise InputDataError(
            f"column {name!r} mixes numbers and text ({n - numbers} of {n} values are not "
            f"numbers, e.g. {example!r}): clean it, or declare it categorical in the schema"
        )
    if _datetime_format(cells) is not None:
        return "datetime"
    if unique:
        return "id"
    return "categorical"


def _numeric_from_text(name: str, cells: np.ndarray, null: np.ndarray,
                       present: list[str]) -> TypedColumn:
    bad = [c for c in present if not _FLOAT.match(c)]
    if bad:
        raise InputDataError(
            f"column {name!r} is numeric but {len(bad)} value(s) are not numbers, "
            f"e.g. {bad[0]!r}"
        )
    values = np.full(len(cells), np.nan)
    values[~null] = np.array(present, dtype=np.float64)
    if not np.all(np.isfinite(values[~null])):
        raise InputDataError(f"column {name!r} holds values too large for 64-bit floats")
    decimals = np.full(len(cells), -1, dtype=np.int64)
    decimals[~null] = [_decimals_of_text(c) for c in present]
    is_int = bool(np.all(decimals[~null] == 0))
    return TypedColumn(name, "numeric", "integer" if is_int else "float", values, null,
                       decimals=None if is_int else decimals)


def _decimals_of_text(text: str) -> int:
    mantissa, _, exponent = text.lower().partition("e")
    digits = len(mantissa.partition(".")[2])
    places = digits - (int(exponent) if exponent else 0)
    return int(min(max(places, 0), MAX_DECIMALS))


def decimals_of_floats(values: np.ndarray) -> np.ndarray:
    """Fewest decimal places (up to 9) that represent each float; -1 for NaN."""
    out = np.full(len(values), MAX_DECIMALS, dtype=np.int64)
    finite = np.isfinite(values)
    scale = np.maximum(1.0, np.abs(values))
    for places in range(MAX_DECIMALS, -1, -1):
        exact = np.abs(np.round(values, places) - values) <= 1e-9 * scale
        out[finite & exact] = places
    out[~finite] = -1
    return out


def _datetime_format(cells: list[str]) -> str | None:
    sample = cells[:200]
    for fmt in DATETIME_FORMATS:
        if all(_parses(c, fmt) for c in sample):
            return fmt
    return None


def _parses(text: str, fmt: str) -> bool:
    import datetime as dt

    try:
        dt.datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


def _datetime_from_text(name: str, cells: np.ndarray, null: np.ndarray,
                        present: list[str]) -> TypedColumn:
    import pandas as pd

    fmt = _datetime_format(present)
    if fmt is None:
        raise InputDataError(f"column {name!r} is declared datetime but its values do not "
                             "parse with one common format")
    parsed = pd.to_datetime(pd.Series(present), format=fmt, errors="coerce")
    if parsed.isna().any():
        bad = present[int(np.argmax(parsed.isna().to_numpy()))]
        raise InputDataError(f"column {name!r}: {bad!r} does not match the format {fmt}")
    unit = "D" if "%H" not in fmt else ("us" if "%f" in fmt else "s")
    ticks = np.zeros(len(cells), dtype=np.int64)
    ticks[~null] = parsed.to_numpy().astype(f"datetime64[{unit}]").astype(np.int64)
    return TypedColumn(name, "datetime", "datetime", ticks, null, unit=unit, format=fmt)


def _type_series(name: str, series: Any, declared: str | None) -> TypedColumn:
    import pandas as pd

    null = series.isna().to_numpy()
    if null.all():
        raise InputDataError(
            f"column {name!r} is empty (every cell is null): drop it or declare its kind"
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        values = np.array([None if m else bool(v) for v, m in zip(series.tolist(), null)],
                          dtype=object)
        return TypedColumn(name, "categorical", "boolean", values, null)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy().astype("datetime64[s]")
        has_time = bool(np.any(stamps[~null].astype("datetime64[D]") != stamps[~null]))
        unit = "s" if has_time else "D"
        ticks = np.zeros(len(series), dtype=np.int64)
        ticks[~null] = stamps[~null].astype(f"datetime64[{unit}]").astype(np.int64)
        fmt = "%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d"
        return TypedColumn(name, "datetime", "datetime", ticks, null, unit=unit, format=fmt)
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(values[~null])):
        raise InputDataError(f"column {name!r} holds infinite values")
    decimals = decimals_of_floats(values)
    integral = bool(np.all(decimals[~null] == 0))
    if declared == "id" or (declared is None and integral and not null.any()
                            and len(values) >= MIN_ID_ROWS
                            and len(np.unique(values)) == len(values)
                            and values.max() - values.min() + 1 <= 2 * len(values)):
        cells = np.array([str(int(v)) for v in values], dtype=object)
        return TypedColumn(name, "id", "integer", cells, null)
    if declared == "categorical":
        cells = np.array([None if m else (str(int(v)) if integral else str(v))
                          for v, m in zip(values, null)], dtype=object)
        return TypedColumn(name, "categorical", "string", cells, null)
    return TypedColumn(name, "numeric", "integer" if integral else "float", values, null,
                       decimals=None if integral else decimals)


